//! Documents of one index: external ids, primary key inference, and additions applied all or
//! nothing (one bad document fails the whole task, as in Meilisearch).
//!
//! Documents are kept by an internal id allocated at first insertion; replacing or updating a
//! document keeps its internal id, so listings ordered by internal id are stable.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::error::ApiError;

/// How an addition treats a document whose id already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMethod {
    /// `POST …/documents`: the new document replaces the old one.
    Replace,
    /// `PUT …/documents`: the new fields are merged (shallowly) into the old document.
    Update,
}

/// The documents of an index.
#[derive(Clone, Debug, Default)]
pub(crate) struct DocumentStore {
    by_internal_id: BTreeMap<u64, Map<String, Value>>,
    internal_ids: HashMap<String, u64>,
    next_internal_id: u64,
}

impl DocumentStore {
    /// How many documents there are.
    pub(crate) fn len(&self) -> usize {
        self.by_internal_id.len()
    }

    /// Whether there is no document.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_internal_id.is_empty()
    }

    /// Every document with its internal id, in internal id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Map<String, Value>)> {
        self.by_internal_id
            .iter()
            .map(|(internal_id, document)| (*internal_id, document))
    }

    /// The document with external id `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&Map<String, Value>> {
        self.internal_ids
            .get(id)
            .and_then(|internal_id| self.by_internal_id.get(internal_id))
    }

    /// Removes the document with external id `id`; whether it existed.
    pub(crate) fn remove(&mut self, id: &str) -> bool {
        match self.internal_ids.remove(id) {
            Some(internal_id) => self.by_internal_id.remove(&internal_id).is_some(),
            None => false,
        }
    }

    /// Removes every document; how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        let count = self.len();
        self.by_internal_id.clear();
        self.internal_ids.clear();
        count
    }

    /// Adds `documents` keyed by `primary_key`: all of them, or none if one has no valid id.
    pub(crate) fn add(
        &mut self,
        documents: &[Map<String, Value>],
        primary_key: &str,
        method: WriteMethod,
    ) -> Result<(), ApiError> {
        let mut ids = Vec::with_capacity(documents.len());
        for document in documents {
            ids.push(document_id(document, primary_key)?);
        }
        for (id, document) in ids.into_iter().zip(documents) {
            match self.internal_ids.get(&id).copied() {
                Some(internal_id) => {
                    let stored = self.by_internal_id.entry(internal_id).or_default();
                    match method {
                        WriteMethod::Replace => *stored = document.clone(),
                        WriteMethod::Update => {
                            for (key, value) in document {
                                stored.insert(key.clone(), value.clone());
                            }
                        }
                    }
                }
                None => {
                    let internal_id = self.next_internal_id;
                    self.next_internal_id += 1;
                    self.internal_ids.insert(id, internal_id);
                    self.by_internal_id.insert(internal_id, document.clone());
                }
            }
        }
        Ok(())
    }
}

/// The external id of `document`: its `primary_key` field, an integer or a string of
/// `[A-Za-z0-9_-]{1,511}`, as a string (`1` and `"1"` are the same document).
pub(crate) fn document_id(
    document: &Map<String, Value>,
    primary_key: &str,
) -> Result<String, ApiError> {
    let Some(value) = document.get(primary_key) else {
        return Err(ApiError::new(
            "missing_document_id",
            format!(
                "Document doesn't have a `{primary_key}` attribute: `{}`.",
                Value::Object(document.clone())
            ),
        ));
    };
    normalize_id(value).ok_or_else(|| {
        ApiError::new(
            "invalid_document_id",
            format!(
                "Document identifier `{value}` is invalid. A document identifier can be of type \
                 integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), \
                 hyphens (-) and underscores (_), and can not be more than 511 bytes."
            ),
        )
    })
}

/// An id value as its string form, or `None` if it is not a valid document id.
pub(crate) fn normalize_id(value: &Value) -> Option<String> {
    match value {
        Value::Number(number) if number.is_i64() || number.is_u64() => Some(number.to_string()),
        Value::String(text) if is_valid_id(text) => Some(text.clone()),
        _ => None,
    }
}

fn is_valid_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 511
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// The primary key Meilisearch infers from a document: the one field whose name ends with `id`
/// (case-insensitive).
pub(crate) fn infer_primary_key(document: &Map<String, Value>) -> Result<String, ApiError> {
    let candidates: Vec<&String> = document
        .keys()
        .filter(|key| key.to_lowercase().ends_with("id"))
        .collect();
    match candidates.as_slice() {
        [only] => Ok((*only).clone()),
        [] => Err(ApiError::new(
            "index_primary_key_no_candidate_found",
            "The primary key inference failed as the engine did not find any field ending with \
             `id` in its name. Please specify the primary key manually using the `primaryKey` \
             query parameter.",
        )),
        several => {
            let names: Vec<String> = several.iter().map(|name| format!("'{name}'")).collect();
            Err(ApiError::new(
                "index_primary_key_multiple_candidates_found",
                format!(
                    "The primary key inference failed as the engine found {} fields ending with \
                     `id` in their names: {}. Please specify the primary key manually using the \
                     `primaryKey` query parameter.",
                    several.len(),
                    names.join(" and ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn ids_are_integers_or_safe_strings() {
        assert_eq!(normalize_id(&json!(1)), Some("1".to_owned()));
        assert_eq!(normalize_id(&json!("a-b_C9")), Some("a-b_C9".to_owned()));
        assert_eq!(normalize_id(&json!("a b")), None);
        assert_eq!(normalize_id(&json!(1.5)), None);
        assert_eq!(normalize_id(&json!("x".repeat(512))), None);
    }

    #[test]
    fn additions_are_all_or_nothing_and_keep_internal_ids() {
        let mut store = DocumentStore::default();
        let first = [object(json!({"id": 1, "a": 1})), object(json!({"id": "2"}))];
        assert_eq!(store.add(&first, "id", WriteMethod::Replace), Ok(()));
        let bad = [object(json!({"id": 3})), object(json!({"title": "x"}))];
        let error = store.add(&bad, "id", WriteMethod::Replace);
        assert_eq!(
            error.map_err(|error| error.code().to_owned()),
            Err("missing_document_id".to_owned())
        );
        assert_eq!(store.len(), 2);
        let update = [object(json!({"id": "1", "b": 2}))];
        assert_eq!(store.add(&update, "id", WriteMethod::Update), Ok(()));
        assert_eq!(
            store.iter().next().map(|(id, doc)| (id, doc.clone())),
            Some((0, object(json!({"id": "1", "a": 1, "b": 2}))))
        );
    }

    #[test]
    fn inference_needs_exactly_one_candidate() {
        assert_eq!(
            infer_primary_key(&object(json!({"movieId": 1, "title": "x"}))),
            Ok("movieId".to_owned())
        );
        assert!(infer_primary_key(&object(json!({"title": "x"}))).is_err());
        assert!(infer_primary_key(&object(json!({"id": 1, "author_id": 2}))).is_err());
    }
}
