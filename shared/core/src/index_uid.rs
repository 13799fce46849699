//! [`IndexUid`]: an index uid checked against Meilisearch's rule where it enters Miroir (a path
//! parameter, a body field), so code past that point cannot hold an invalid one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::errors::{ApiError, Code};

/// An index uid that follows Meilisearch's rule: 1 to [`IndexUid::MAX_BYTES`] bytes, each an
/// ASCII letter, an ASCII digit, `-` or `_`. Alias names follow the same rule.
///
/// A value of this type is always valid: the only ways to get one check the text
/// ([`FromStr`], [`TryFrom<String>`], [`Deserialize`]), and a refusal is Meilisearch's own 400
/// `invalid_index_uid` with its exact message. So an `IndexUid` is never empty and never holds
/// `/`, `%`, `.`, `?`, `#`, whitespace or non-ASCII: it can never be a dot segment (`.`, `..`),
/// a URL parser never changes it, and it is one path segment of a node URL as it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IndexUid(String);

impl IndexUid {
    /// The longest index uid, in bytes (Meilisearch's bound; its error message says 512, see
    /// [`IndexUid::invalid`]).
    pub const MAX_BYTES: usize = 400;

    /// Whether `uid` follows the rule (what every constructor checks).
    pub fn is_valid(uid: &str) -> bool {
        (1..=Self::MAX_BYTES).contains(&uid.len())
            && uid
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    }

    /// The 400 `invalid_index_uid` Meilisearch (1.50) answers for `uid`, message included. Its
    /// message says "512 bytes" although the bound it applies is 400 (a 401-byte uid is
    /// refused with this very message); Miroir answers the same words.
    pub fn invalid(uid: &str) -> ApiError {
        ApiError::new(
            Code::InvalidIndexUid,
            format!("`{uid}` is not a valid index uid. {}", Self::RULE),
        )
    }

    /// Meilisearch's sentence stating the rule, as its `invalid_index_uid` messages end.
    pub const RULE: &'static str = "Index uid can be an integer or a string containing only \
        alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 \
        bytes.";

    /// `uid` if it follows the rule, else the 400 `invalid_index_uid` Meilisearch answers for a
    /// value it read from a body or a query, which names where: `location` is e.g.
    /// ``at `.uid` `` or ``in parameter `indexUids` ``.
    pub fn parse_at(uid: &str, location: &str) -> Result<Self, ApiError> {
        uid.parse().map_err(|_| {
            ApiError::new(
                Code::InvalidIndexUid,
                format!(
                    "Invalid value {location}: `{uid}` is not a valid index uid. {}",
                    Self::RULE
                ),
            )
        })
    }

    /// The uid as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uid as an owned `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for IndexUid {
    type Err = ApiError;

    /// `uid` if it follows the rule, else [`IndexUid::invalid`].
    fn from_str(uid: &str) -> Result<Self, ApiError> {
        if Self::is_valid(uid) {
            Ok(Self(uid.to_owned()))
        } else {
            Err(Self::invalid(uid))
        }
    }
}

impl TryFrom<String> for IndexUid {
    type Error = ApiError;

    /// `uid` if it follows the rule (without copying it), else [`IndexUid::invalid`].
    fn try_from(uid: String) -> Result<Self, ApiError> {
        if Self::is_valid(&uid) {
            Ok(Self(uid))
        } else {
            Err(Self::invalid(&uid))
        }
    }
}

impl<'de> Deserialize<'de> for IndexUid {
    /// A string that follows the rule; any other value is refused, with
    /// [`IndexUid::invalid`]'s message for a string. The check runs inside the string visitor,
    /// so deserializers that report the refused value with the error (axum's path parameters)
    /// do.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(UidVisitor)
    }
}

/// Visits a string and checks it.
struct UidVisitor;

impl serde::de::Visitor<'_> for UidVisitor {
    type Value = IndexUid;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an index uid")
    }

    fn visit_str<E: serde::de::Error>(self, uid: &str) -> Result<IndexUid, E> {
        uid.parse()
            .map_err(|error: ApiError| E::custom(error.message))
    }

    fn visit_string<E: serde::de::Error>(self, uid: String) -> Result<IndexUid, E> {
        IndexUid::try_from(uid).map_err(|error| E::custom(error.message))
    }
}

impl AsRef<str> for IndexUid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IndexUid {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl From<IndexUid> for String {
    fn from(uid: IndexUid) -> Self {
        uid.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// What real Meilisearch 1.50 answers for `GET /indexes/a.b`.
    const MEILISEARCH_A_DOT_B: &str = "`a.b` is not a valid index uid. Index uid can be an \
        integer or a string containing only alphanumeric characters, hyphens (-) and \
        underscores (_), and can not be more than 512 bytes.";

    #[test]
    fn valid_uids_are_kept_as_they_are() {
        for uid in [
            "movies",
            "a",
            "1234",
            "Movies_2024-v2",
            "-",
            "_",
            &"a".repeat(400),
        ] {
            let parsed: IndexUid = uid.parse().unwrap();
            assert_eq!(parsed.as_str(), uid);
            assert_eq!(parsed.to_string(), uid);
            assert_eq!(IndexUid::try_from(uid.to_owned()).unwrap(), parsed);
            assert_eq!(String::from(parsed.clone()), uid);
            assert_eq!(parsed.into_string(), uid);
        }
    }

    #[test]
    fn dot_segments_and_everything_outside_the_rule_are_refused() {
        let long = "a".repeat(401);
        for uid in [
            ".",
            "..",
            "...",
            "%2E",
            "%2E%2E",
            ".%2e",
            "",
            "a.b",
            "a b",
            "a/b",
            "a\\b",
            "a?b",
            "a#b",
            "a%20b",
            "é",
            "movies\u{301}",
            "ｍovies",
            " movies",
            "movies\n",
            "\0",
            long.as_str(),
        ] {
            let error = uid.parse::<IndexUid>().unwrap_err();
            assert_eq!(error.code_name(), "invalid_index_uid", "{uid:?}");
            assert_eq!(error.status(), 400, "{uid:?}");
            assert!(error.message.starts_with(&format!("`{uid}` ")), "{uid:?}");
            assert_eq!(
                IndexUid::try_from(uid.to_owned()).unwrap_err(),
                error,
                "{uid:?}"
            );
        }
    }

    #[test]
    fn the_refusal_is_meilisearchs_word_for_word() {
        let error = "a.b".parse::<IndexUid>().unwrap_err();
        assert_eq!(error.message, MEILISEARCH_A_DOT_B);
        assert_eq!(
            error.to_json(),
            serde_json::json!({
                "message": MEILISEARCH_A_DOT_B,
                "code": "invalid_index_uid",
                "type": "invalid_request",
                "link": "https://docs.meilisearch.com/errors#invalid_index_uid",
            })
        );
    }

    #[test]
    fn the_bound_is_400_bytes_not_characters() {
        assert!(IndexUid::is_valid(&"a".repeat(IndexUid::MAX_BYTES)));
        assert!(!IndexUid::is_valid(&"a".repeat(IndexUid::MAX_BYTES + 1)));
        // 200 two-byte characters: 400 bytes, but not ASCII.
        assert!(!IndexUid::is_valid(&"é".repeat(200)));
    }

    #[test]
    fn serde_checks_on_the_way_in_and_writes_a_plain_string() {
        let uid: IndexUid = serde_json::from_str(r#""movies""#).unwrap();
        assert_eq!(serde_json::to_string(&uid).unwrap(), r#""movies""#);
        let error = serde_json::from_str::<IndexUid>(r#"".""#).unwrap_err();
        assert!(
            error.to_string().contains("`.` is not a valid index uid"),
            "{error}"
        );
        assert!(serde_json::from_str::<IndexUid>(r#""a.b""#).is_err());
        assert!(serde_json::from_str::<IndexUid>("12").is_err());
        assert!(serde_json::from_str::<IndexUid>("null").is_err());
        #[derive(Debug, Deserialize)]
        struct Body {
            #[allow(dead_code)]
            uid: IndexUid,
        }
        assert!(serde_json::from_str::<Body>(r#"{"uid": ".."}"#).is_err());
    }
}
