//! Document reads.
//!
//! - One document: read from a replica of its shard (the read group's first, then the others,
//!   then other groups) until one answers.
//! - A list: a covering set of one group is asked how many documents match on each node (with a
//!   `_miroir_shard` filter where a node is asked for only some of its shards), then each node
//!   for its slice of the window. The order is the covering set's node order, then each node's
//!   own order; the set is always built from sequence 0 of group 0 (of the session's pinned
//!   group, see `miroir_http::session`), or of the next group that answers, so consecutive
//!   pages come from the same layout and never overlap or skip.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use miroir_core::ApiError;
use miroir_core::Code;
use miroir_core::IndexUid;
use miroir_core::cluster::{Cluster, NodeCall};
use miroir_core::merge::clean_document;
use miroir_core::node::{Method, NodeError};
use miroir_core::routing::{NodeIndex, Shard, held_shards, with_shard_filter};
use miroir_http::object::Object;
use miroir_http::{AppState, HttpResult, IndexPath, JsonBody, QueryParams, alias, session};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::documents_path;
use miroir_core::documents::{id_string, invalid_id};

/// Get one document.
#[utoipa::path(
    get,
    path = "/indexes/{uid}/documents/{id}",
    tag = "documents",
    params(
        ("uid" = String, Path, description = "The index uid."),
        ("id" = String, Path, description = "The document id."),
        ("fields" = Option<String>, Query, description = "Fields to return, comma-separated."),
    ),
    responses(
        (status = 200, description = "The document."),
        (status = 404, description = "`document_not_found` or `index_not_found`."),
    )
)]
pub(crate) async fn get_document(
    State(state): State<AppState>,
    IndexPath((uid, id)): IndexPath<(IndexUid, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> HttpResult<Json<Value>> {
    let cluster = &state.cluster;
    cluster.require_nodes()?;
    let uid = alias::read_target(&state, uid.as_str()).await?;
    let id = id_string(&Value::String(id.clone())).ok_or_else(|| invalid_id(&Value::String(id)))?;
    let topology = cluster.topology();
    let shard = topology.shard_of(&id);
    let seq = cluster.next_read();
    let first = session::read_group(&state, &headers)
        .await?
        .unwrap_or_else(|| topology.read_group(seq));
    let mut path = documents_path(&uid, &[&id]);
    if let Some(query) = query {
        path = format!("{path}?{query}");
    }
    let mut last = None;
    for step in 0..topology.groups() {
        let group = (first + step) % topology.groups();
        let replicas = topology.placement(group, shard);
        for turn in 0..replicas.len() {
            let node = topology.node(replicas[(seq as usize + turn) % replicas.len()]);
            match cluster.client().get::<Value>(node, &path).await {
                Ok(mut document) => {
                    clean_document(&mut document);
                    return Ok(Json(document));
                }
                Err(error @ NodeError::Api(_)) => return Err(error.to_api_error(node).into()),
                Err(error) => last = Some(error.to_api_error(node)),
            }
        }
    }
    Err(last
        .unwrap_or_else(|| ApiError::new(Code::MiroirShardUnavailable, "no replica answered"))
        .into())
}

/// The largest page a document list answers: a greater `limit` is served as this many documents
/// (and the answer's `limit` says so), so no request makes Miroir hold more than this many
/// documents, whatever the client asks. Meilisearch itself accepts any `usize`.
pub const MAX_LIMIT: u64 = 1_000;

/// The page size when the client gives none (Meilisearch's).
const DEFAULT_LIMIT: u64 = 20;

/// What a document list asks for (query parameters of `GET`, body of `POST …/fetch`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Fetch {
    /// As sent (`Some(Null)` for `null`): checked by [`Fetch::window`].
    #[serde(default, deserialize_with = "present")]
    offset: Option<Value>,
    /// As sent (`Some(Null)` for `null`): checked by [`Fetch::window`].
    #[serde(default, deserialize_with = "present")]
    limit: Option<Value>,
    fields: Option<Value>,
    filter: Option<Value>,
    ids: Option<Vec<Value>>,
    retrieve_vectors: Option<bool>,
}

/// A field that is present, `null` included (serde reads a `null` `Option` as absent).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// The window of a document list, checked: `limit` at most [`MAX_LIMIT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    /// Documents skipped, as the client sent it (any `u64`).
    offset: u64,
    /// Documents returned at most.
    limit: u64,
}

impl Window {
    /// The window of `offset` and `limit` (defaults 0 and 20), `limit` clamped to [`MAX_LIMIT`].
    fn new(offset: Option<u64>, limit: Option<u64>) -> Self {
        Self {
            offset: offset.unwrap_or(0),
            limit: limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
        }
    }

    /// The position just past the window (saturating: an `offset` near `u64::MAX` only means
    /// "past every document").
    fn end(self) -> u64 {
        self.offset.saturating_add(self.limit)
    }
}

impl Fetch {
    /// The window of a `POST …/fetch` body: `offset` and `limit` must be non-negative integers
    /// that fit a `u64` (Meilisearch's `usize`), refused otherwise with Meilisearch's
    /// `invalid_document_offset` / `invalid_document_limit` and wording.
    fn window(&self) -> Result<Window, ApiError> {
        let number = |value: &Option<Value>, name: &str, code: Code| {
            value
                .as_ref()
                .map(|value| {
                    value.as_u64().ok_or_else(|| {
                        ApiError::new(
                            code,
                            format!(
                                "Invalid value type at `.{name}`: expected a positive integer, \
                                 but found {}",
                                miroir_http::describe(value)
                            ),
                        )
                    })
                })
                .transpose()
        };
        Ok(Window::new(
            number(&self.offset, "offset", Code::InvalidDocumentOffset)?,
            number(&self.limit, "limit", Code::InvalidDocumentLimit)?,
        ))
    }
}

/// A non-negative integer query parameter `name` that fits a `u64` (Meilisearch's `usize`), if
/// present; refused otherwise with `code` and Meilisearch's wording.
fn query_number(params: &QueryParams, name: &str, code: Code) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|value| {
            value.parse().map_err(|_| {
                ApiError::new(
                    code,
                    format!(
                        "Invalid value in parameter `{name}`: could not parse `{value}` as a \
                         positive integer"
                    ),
                )
            })
        })
        .transpose()
}

/// List documents.
#[utoipa::path(
    get,
    path = "/indexes/{uid}/documents",
    tag = "documents",
    params(
        ("uid" = String, Path, description = "The index uid."),
        ("offset" = Option<u64>, Query, description = "Documents to skip (default 0; any integer from 0 to 18446744073709551615, echoed as sent)."),
        ("limit" = Option<u64>, Query, description = "Page size (default 20). At most 1000: a greater value (up to 18446744073709551615) is served as 1000 documents and the answer's `limit` is 1000."),
        ("fields" = Option<String>, Query, description = "Fields to return, comma-separated."),
        ("filter" = Option<String>, Query, description = "A filter expression."),
    ),
    responses(
        (status = 200, description = "`{results, offset, limit, total}`; `limit` is the page size applied (at most 1000)."),
        (status = 400, description = "An unknown parameter (`bad_request`); an `offset` / `limit` that is not an integer from 0 to 18446744073709551615 (`invalid_document_offset`, `invalid_document_limit`, as in Meilisearch); or a value the nodes refuse, their errors relayed unchanged (`invalid_index_uid`, `invalid_document_filter`, …)."),
    )
)]
pub(crate) async fn list_documents(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
    params: QueryParams,
) -> HttpResult<Json<Value>> {
    params.reject_unknown(&[
        "offset",
        "limit",
        "fields",
        "filter",
        "ids",
        "retrieveVectors",
    ])?;
    let window = Window::new(
        query_number(&params, "offset", Code::InvalidDocumentOffset)?,
        query_number(&params, "limit", Code::InvalidDocumentLimit)?,
    );
    let list = |name: &str| {
        params.get(name).map(|value| {
            Value::Array(
                value
                    .split(',')
                    .map(|item| Value::from(item.trim()))
                    .collect(),
            )
        })
    };
    let fetch = Fetch {
        offset: None,
        limit: None,
        fields: list("fields"),
        filter: params.get("filter").map(Value::from),
        ids: list("ids").and_then(|ids| ids.as_array().cloned()),
        retrieve_vectors: params.get("retrieveVectors").map(|value| value == "true"),
    };
    let uid = alias::read_target(&state, uid.as_str()).await?;
    let first = session::read_group(&state, &headers).await?.unwrap_or(0);
    Ok(Json(
        fetch_documents(&state.cluster, &uid, &fetch, window, first).await?,
    ))
}

/// Fetch documents.
#[utoipa::path(
    post,
    path = "/indexes/{uid}/documents/fetch",
    tag = "documents",
    params(("uid" = String, Path, description = "The index uid.")),
    request_body(content = Object, description = "`{offset, limit, fields, filter, ids}`. `offset` (default 0) and `limit` (default 20) are integers from 0 to 18446744073709551615; `limit` is at most 1000: a greater value is served as 1000 documents and the answer's `limit` is 1000."),
    responses(
        (status = 200, description = "`{results, offset, limit, total}`; `limit` is the page size applied (at most 1000)."),
        (status = 400, description = "The body is not JSON (`malformed_payload`) or not of the expected shape (`bad_request`); an `offset` / `limit` that is not an integer from 0 to 18446744073709551615 (`invalid_document_offset`, `invalid_document_limit`, as in Meilisearch); or a value the nodes refuse, their errors relayed unchanged (`invalid_index_uid`, `invalid_document_filter`, …)."),
    )
)]
pub(crate) async fn fetch(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
    JsonBody(Object(fetch)): JsonBody<Object<Fetch>>,
) -> HttpResult<Json<Value>> {
    let window = fetch.window()?;
    let uid = alias::read_target(&state, uid.as_str()).await?;
    let first = session::read_group(&state, &headers).await?.unwrap_or(0);
    Ok(Json(
        fetch_documents(&state.cluster, &uid, &fetch, window, first).await?,
    ))
}

/// One node's part of a list: which node, and its filter.
struct Part {
    node: NodeIndex,
    filter: Option<Value>,
}

/// `window` of the documents `fetch` selects, from the covering set of `first_group` (the next
/// groups if a node of it does not answer). Positions are `u64` and every sum saturates, so no
/// `offset`, `limit` or node `total` can overflow.
async fn fetch_documents(
    cluster: &Cluster,
    uid: &str,
    fetch: &Fetch,
    window: Window,
    first_group: u32,
) -> Result<Value, ApiError> {
    cluster.require_nodes()?;
    let path = documents_path(uid, &["fetch"]);
    let mut fields = fetch.fields.clone();
    if let Some(Value::Array(list)) = &mut fields {
        list.push(Value::from(miroir_core::merge::SHARD_FIELD));
    }
    let mut last = None;
    let groups = cluster.topology().groups();
    for step in 0..groups {
        let group = (first_group + step) % groups;
        let parts = layout(cluster, group, fetch.filter.as_ref());
        let body = |part: &Part, offset: u64, limit: u64| {
            let mut body = Map::new();
            body.insert("offset".into(), Value::from(offset));
            body.insert("limit".into(), Value::from(limit));
            if let Some(filter) = &part.filter {
                body.insert("filter".into(), filter.clone());
            }
            if let Some(fields) = &fields {
                body.insert("fields".into(), fields.clone());
            }
            if let Some(ids) = &fetch.ids {
                body.insert("ids".into(), Value::Array(ids.clone()));
            }
            if let Some(vectors) = fetch.retrieve_vectors {
                body.insert("retrieveVectors".into(), Value::from(vectors));
            }
            serde_json::to_vec(&body).unwrap_or_default()
        };
        // Phase 1: how many documents each part holds.
        let calls = parts
            .iter()
            .map(|part| NodeCall {
                node: part.node,
                method: Method::POST,
                path: path.clone(),
                body: Some(body(part, 0, 0)),
            })
            .collect();
        let totals = match answers(cluster, uid, calls).await {
            Ok(answers) => answers
                .iter()
                .map(|answer| answer.get("total").and_then(Value::as_u64).unwrap_or(0))
                .collect::<Vec<_>>(),
            Err(Retry::Fatal(error)) => return Err(error),
            Err(Retry::OtherGroup(error)) => {
                last = Some(error);
                continue;
            }
        };
        // Phase 2: each part's slice of the window.
        let mut calls = Vec::new();
        let mut start: u64 = 0;
        for (part, &total) in parts.iter().zip(&totals) {
            let past = start.saturating_add(total);
            let from = window.offset.max(start);
            let to = window.end().min(past);
            if from < to {
                calls.push(NodeCall {
                    node: part.node,
                    method: Method::POST,
                    path: path.clone(),
                    body: Some(body(part, from - start, to - from)),
                });
            }
            start = past;
        }
        let slices = match answers(cluster, uid, calls).await {
            Ok(slices) => slices,
            Err(Retry::Fatal(error)) => return Err(error),
            Err(Retry::OtherGroup(error)) => {
                last = Some(error);
                continue;
            }
        };
        // A node answering more than its slice cannot make the page longer than the window.
        let results: Vec<Value> = slices
            .into_iter()
            .flat_map(
                |mut slice| match slice.get_mut("results").map(Value::take) {
                    Some(Value::Array(results)) => results,
                    _ => Vec::new(),
                },
            )
            .take(usize::try_from(window.limit).unwrap_or(usize::MAX))
            .map(|mut document| {
                clean_document(&mut document);
                document
            })
            .collect();
        return Ok(json!({
            "results": results,
            "offset": window.offset,
            "limit": window.limit,
            "total": totals.iter().fold(0_u64, |sum, &total| sum.saturating_add(total)),
        }));
    }
    Err(last.unwrap_or_else(|| ApiError::new(Code::MiroirShardUnavailable, "no group answered")))
}

/// The covering set of sequence 0 in `group`, with a shard filter where a node holds more
/// shards than it is asked for.
fn layout(cluster: &Cluster, group: u32, filter: Option<&Value>) -> Vec<Part> {
    let topology = cluster.topology();
    let (set, _) = topology.covering_set(group, 0, |_| true);
    set.nodes
        .into_iter()
        .map(|(node, shards): (NodeIndex, Vec<Shard>)| {
            let filter = if held_shards(topology, group, node) == shards {
                filter.cloned()
            } else {
                Some(with_shard_filter(filter, &shards))
            };
            Part { node, filter }
        })
        .collect()
}

enum Retry {
    /// A node refused the request: that is the answer.
    Fatal(ApiError),
    /// A node did not answer: another group may.
    OtherGroup(ApiError),
}

async fn answers(cluster: &Cluster, uid: &str, calls: Vec<NodeCall>) -> Result<Vec<Value>, Retry> {
    let mut values = Vec::with_capacity(calls.len());
    for (index, result) in cluster.call_all(calls).await {
        let node = cluster.topology().node(index);
        match result.and_then(|response| response.json::<Value>()) {
            Ok(value) => values.push(value),
            // The node lost `_miroir_shard` for this index: repaired, and like a node down.
            Err(error) if error.refuses_shard_filter() => {
                cluster.repair_reserved(index, uid).await;
                return Err(Retry::OtherGroup(ApiError::new(
                    Code::MiroirShardUnavailable,
                    format!(
                        "Node `{}` cannot answer for its shards of this index until a repair \
                         of its settings completes; retry shortly.",
                        node.id
                    ),
                )));
            }
            Err(error @ NodeError::Api(_)) => return Err(Retry::Fatal(error.to_api_error(node))),
            Err(error) => return Err(Retry::OtherGroup(error.to_api_error(node))),
        }
    }
    Ok(values)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn window(body: &str) -> Result<Window, ApiError> {
        serde_json::from_str::<Fetch>(body).unwrap().window()
    }

    #[test]
    fn the_window_is_clamped_and_never_overflows() {
        assert_eq!(
            window("{}").unwrap(),
            Window {
                offset: 0,
                limit: 20
            }
        );
        let huge =
            window(r#"{"offset": 18446744073709551615, "limit": 18446744073709551615}"#).unwrap();
        assert_eq!(
            huge,
            Window {
                offset: u64::MAX,
                limit: MAX_LIMIT
            }
        );
        assert_eq!(huge.end(), u64::MAX);
        assert_eq!(window(r#"{"limit": 1001}"#).unwrap().limit, 1000);
        assert_eq!(window(r#"{"limit": 1000}"#).unwrap().limit, 1000);
        assert_eq!(window(r#"{"limit": 0}"#).unwrap().limit, 0);
    }

    /// Every message as Meilisearch 1.50 words it (probed on the real server).
    #[test]
    fn bad_numbers_are_refused_as_meilisearch_refuses_them() {
        let cases = [
            (
                r#"{"limit": 1e30}"#,
                Code::InvalidDocumentLimit,
                "Invalid value type at `.limit`: expected a positive integer, but found a number: `1e+30`",
            ),
            (
                r#"{"limit": 18446744073709551616}"#,
                Code::InvalidDocumentLimit,
                "Invalid value type at `.limit`: expected a positive integer, but found a number: `1.8446744073709552e+19`",
            ),
            (
                r#"{"limit": 99999999999999999999}"#,
                Code::InvalidDocumentLimit,
                "Invalid value type at `.limit`: expected a positive integer, but found a number: `1e+20`",
            ),
            (
                r#"{"limit": -1}"#,
                Code::InvalidDocumentLimit,
                "Invalid value type at `.limit`: expected a positive integer, but found a negative integer: `-1`",
            ),
            (
                r#"{"limit": 1.0}"#,
                Code::InvalidDocumentLimit,
                "Invalid value type at `.limit`: expected a positive integer, but found a number: `1.0`",
            ),
            (
                r#"{"limit": 1E2}"#,
                Code::InvalidDocumentLimit,
                "Invalid value type at `.limit`: expected a positive integer, but found a number: `100.0`",
            ),
            (
                r#"{"limit": "5"}"#,
                Code::InvalidDocumentLimit,
                "Invalid value type at `.limit`: expected a positive integer, but found a string: `\"5\"`",
            ),
            (
                r#"{"limit": null}"#,
                Code::InvalidDocumentLimit,
                "Invalid value type at `.limit`: expected a positive integer, but found null",
            ),
            (
                r#"{"offset": 2.5}"#,
                Code::InvalidDocumentOffset,
                "Invalid value type at `.offset`: expected a positive integer, but found a number: `2.5`",
            ),
            (
                r#"{"offset": -18446744073709551616}"#,
                Code::InvalidDocumentOffset,
                "Invalid value type at `.offset`: expected a positive integer, but found a number: `-1.8446744073709552e+19`",
            ),
            (
                r#"{"offset": true}"#,
                Code::InvalidDocumentOffset,
                "Invalid value type at `.offset`: expected a positive integer, but found a boolean: `true`",
            ),
            (
                r#"{"offset": {"a": 1}}"#,
                Code::InvalidDocumentOffset,
                "Invalid value type at `.offset`: expected a positive integer, but found an object: `{\"a\":1}`",
            ),
            (
                r#"{"offset": [1]}"#,
                Code::InvalidDocumentOffset,
                "Invalid value type at `.offset`: expected a positive integer, but found an array: `[1]`",
            ),
        ];
        for (body, code, message) in cases {
            let error = window(body).unwrap_err();
            assert_eq!(
                (error.code, error.message.as_str()),
                (code, message),
                "{body}"
            );
        }
        assert_eq!(
            miroir_http::describe(&json!(-0.0)),
            "a number: `-0.0`",
            "Meilisearch prints `-0` as `-0.0`"
        );
    }
}
