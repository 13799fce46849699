//! Documents on their way to the nodes: checked ids and the per-node batches of a write (plan §3
//! "Document lifecycle"). Shared by the documents route and by background jobs that write
//! documents (reindex), so both route a document the same way.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::cluster::NodeCall;
use crate::errors::{ApiError, Code};
use crate::merge::SHARD_FIELD;
use crate::node::Method;
use crate::routing::{NodeIndex, Shard, Topology};

/// The routing string of a document id value: integers and valid strings (Meilisearch's rule:
/// 1 to 511 of `[A-Za-z0-9_-]`), so `1` and `"1"` are the same document.
pub fn id_string(value: &Value) -> Option<String> {
    match value {
        Value::Number(number) if number.is_u64() || number.is_i64() => Some(number.to_string()),
        Value::String(text)
            if (1..=511).contains(&text.len())
                && text
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_') =>
        {
            Some(text.clone())
        }
        _ => None,
    }
}

/// The primary key Meilisearch infers for an index that has none from the first document of a
/// write: its one field whose name ends with `id` (any case). `Ok(None)` without documents (the
/// write then adds nothing and the index stays without a key); `index_primary_key_no_candidate_found`
/// or `index_primary_key_multiple_candidates_found` (Meilisearch's messages) otherwise.
pub fn infer_primary_key(first: Option<&Map<String, Value>>) -> Result<Option<String>, ApiError> {
    let Some(first) = first else {
        return Ok(None);
    };
    let mut candidates: Vec<&str> = first
        .keys()
        .map(String::as_str)
        .filter(|field| field.to_lowercase().ends_with("id"))
        .collect();
    candidates.sort_unstable();
    match candidates.as_slice() {
        [key] => Ok(Some((*key).to_owned())),
        [] => Err(ApiError::new(
            Code::IndexPrimaryKeyNoCandidateFound,
            "The primary key inference failed as the engine did not find any field ending with \
             `id` in its name. Please specify the primary key manually using the `primaryKey` \
             query parameter.",
        )),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(|field| format!("'{field}'")).collect();
            Err(ApiError::new(
                Code::IndexPrimaryKeyMultipleCandidatesFound,
                format!(
                    "The primary key inference failed as the engine found {} fields ending with \
                     `id` in their names: {} and '{last}'. Please specify the primary key \
                     manually using the `primaryKey` query parameter.",
                    candidates.len(),
                    rest.join(", ")
                ),
            ))
        }
    }
}

/// The id of `document` under `primary_key`, checked.
pub fn document_id(document: &Map<String, Value>, primary_key: &str) -> Result<String, ApiError> {
    if document.contains_key(SHARD_FIELD) {
        return Err(ApiError::new(
            Code::MiroirReservedField,
            format!("`{SHARD_FIELD}` is a reserved field: documents must not contain it."),
        ));
    }
    match document.get(primary_key) {
        None => Err(ApiError::new(
            Code::MissingDocumentId,
            format!(
                "Document doesn't have a `{primary_key}` attribute: `{}`.",
                Value::Object(document.clone())
            ),
        )),
        Some(value) => id_string(value).ok_or_else(|| invalid_id(value)),
    }
}

/// `invalid_document_id` for `value`.
pub fn invalid_id(value: &Value) -> ApiError {
    ApiError::new(
        Code::InvalidDocumentId,
        format!(
            "Document identifier `{value}` is invalid. A document identifier can be of type \
             integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens \
             (-) and underscores (_), and can not be more than 511 bytes."
        ),
    )
}

/// The node calls of one document write: every document, tagged with its `_miroir_shard`, in
/// one JSON array per node holding its shard (in every group), sent with `method` to `path`;
/// and the shards written. The first document without a valid id or with a reserved field
/// refuses the whole batch.
pub fn route_documents<'a>(
    topology: &Topology,
    documents: impl IntoIterator<Item = &'a Map<String, Value>>,
    primary_key: &str,
    method: &Method,
    path: &str,
) -> Result<(Vec<NodeCall>, BTreeSet<Shard>), ApiError> {
    let mut batches: BTreeMap<NodeIndex, Vec<u8>> = BTreeMap::new();
    let mut shards = BTreeSet::new();
    for document in documents {
        let shard = topology.shard_of(&document_id(document, primary_key)?);
        shards.insert(shard);
        let mut document = document.clone();
        document.insert(SHARD_FIELD.to_owned(), Value::from(shard));
        let bytes = serde_json::to_vec(&document).unwrap_or_default();
        for node in topology.write_targets(shard) {
            let batch = batches.entry(node).or_insert_with(|| vec![b'[']);
            if batch.len() > 1 {
                batch.push(b',');
            }
            batch.extend_from_slice(&bytes);
        }
    }
    let calls = batches
        .into_iter()
        .map(|(node, mut batch)| {
            batch.push(b']');
            NodeCall {
                node,
                method: method.clone(),
                path: path.to_owned(),
                body: Some(batch),
            }
        })
        .collect();
    Ok((calls, shards))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn first(document: Value) -> Map<String, Value> {
        document.as_object().unwrap().clone()
    }

    /// The cases and messages of a real Meilisearch 1.50.
    #[test]
    fn infers_the_one_field_ending_with_id() {
        let inferred = |document| infer_primary_key(Some(&first(document)));
        assert_eq!(
            inferred(json!({"ID": "a", "title": "x"})).unwrap(),
            Some("ID".into())
        );
        assert_eq!(
            inferred(json!({"title": "x", "productId": 1})).unwrap(),
            Some("productId".into())
        );
        assert_eq!(infer_primary_key(None).unwrap(), None);
        let none = inferred(json!({"title": "x", "name": "y"})).unwrap_err();
        assert_eq!(none.code, Code::IndexPrimaryKeyNoCandidateFound);
        assert_eq!(
            none.message,
            "The primary key inference failed as the engine did not find any field ending with \
             `id` in its name. Please specify the primary key manually using the `primaryKey` \
             query parameter."
        );
        let two = inferred(json!({"uid": 1, "kid": 2})).unwrap_err();
        assert_eq!(two.code, Code::IndexPrimaryKeyMultipleCandidatesFound);
        assert_eq!(
            two.message,
            "The primary key inference failed as the engine found 2 fields ending with `id` in \
             their names: 'kid' and 'uid'. Please specify the primary key manually using the \
             `primaryKey` query parameter."
        );
        let three = inferred(json!({"c_id": 1, "a_id": 2, "bid": 3})).unwrap_err();
        assert!(
            three
                .message
                .contains("3 fields ending with `id` in their names: 'a_id', 'bid' and 'c_id'."),
            "{}",
            three.message
        );
    }
}
