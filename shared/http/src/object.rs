//! Structs from JSON objects only. serde's derived structs also accept a JSON array of the field
//! values in order (`[…]` for `{…}`), which Meilisearch refuses; request bodies are read as
//! [`JsonBody<Object<T>>`](crate::JsonBody), and struct-typed fields with
//! `#[serde(deserialize_with = "object")]` or [`optional_objects`].

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// A `T` read from a JSON object, never from an array (anything else is a deserialization error,
/// which [`crate::JsonBody`] answers with 400 `bad_request`).
#[derive(Clone, Debug)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

/// `deserialize_with` for a struct-typed field: from a JSON object only.
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    Object::<T>::deserialize(deserializer).map(|Object(value)| value)
}

/// `deserialize_with` for an optional list of structs: `null` or an array of JSON objects.
pub fn optional_objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Vec<T>>, D::Error> {
    let objects = Option::<Vec<Object<T>>>::deserialize(deserializer)?;
    Ok(objects.map(|objects| objects.into_iter().map(|Object(value)| value).collect()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Cursor {
        cursor: u64,
    }

    #[test]
    fn objects_are_read_and_arrays_refused() {
        let Object(cursor) = serde_json::from_str::<Object<Cursor>>(r#"{"cursor": 3}"#).unwrap();
        assert_eq!(cursor, Cursor { cursor: 3 });
        let error = serde_json::from_str::<Object<Cursor>>("[3]").unwrap_err();
        assert!(error.to_string().contains("a JSON object"), "{error}");
    }
}
