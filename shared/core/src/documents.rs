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
