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

/// What a document list asks for (query parameters of `GET`, body of `POST …/fetch`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Fetch {
    offset: Option<usize>,
    limit: Option<usize>,
    fields: Option<Value>,
    filter: Option<Value>,
    ids: Option<Vec<Value>>,
    retrieve_vectors: Option<bool>,
}

/// List documents.
#[utoipa::path(
    get,
    path = "/indexes/{uid}/documents",
    tag = "documents",
    params(
        ("uid" = String, Path, description = "The index uid."),
        ("offset" = Option<u32>, Query, description = "Documents to skip."),
        ("limit" = Option<u32>, Query, description = "Page size (default 20)."),
        ("fields" = Option<String>, Query, description = "Fields to return, comma-separated."),
        ("filter" = Option<String>, Query, description = "A filter expression."),
    ),
    responses((status = 200, description = "`{results, offset, limit, total}`."))
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
    let number = |name: &str| -> Result<Option<usize>, ApiError> {
        params
            .get(name)
            .map(|value| {
                value.parse().map_err(|_| {
                    ApiError::new(
                        Code::BadRequest,
                        format!("Invalid value in parameter `{name}`: could not parse `{value}` as a positive integer"),
                    )
                })
            })
            .transpose()
    };
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
        offset: number("offset")?,
        limit: number("limit")?,
        fields: list("fields"),
        filter: params.get("filter").map(Value::from),
        ids: list("ids").and_then(|ids| ids.as_array().cloned()),
        retrieve_vectors: params.get("retrieveVectors").map(|value| value == "true"),
    };
    let uid = alias::read_target(&state, uid.as_str()).await?;
    let first = session::read_group(&state, &headers).await?.unwrap_or(0);
    Ok(Json(
        fetch_documents(&state.cluster, &uid, fetch, first).await?,
    ))
}

/// Fetch documents.
#[utoipa::path(
    post,
    path = "/indexes/{uid}/documents/fetch",
    tag = "documents",
    params(("uid" = String, Path, description = "The index uid.")),
    request_body(content = Object, description = "`{offset, limit, fields, filter, ids}`"),
    responses((status = 200, description = "`{results, offset, limit, total}`."))
)]
pub(crate) async fn fetch(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
    JsonBody(Object(fetch)): JsonBody<Object<Fetch>>,
) -> HttpResult<Json<Value>> {
    let uid = alias::read_target(&state, uid.as_str()).await?;
    let first = session::read_group(&state, &headers).await?.unwrap_or(0);
    Ok(Json(
        fetch_documents(&state.cluster, &uid, fetch, first).await?,
    ))
}

/// One node's part of a list: which node, and its filter.
struct Part {
    node: NodeIndex,
    filter: Option<Value>,
}

/// The window of `fetch`, from the covering set of `first_group` (the next groups if a node of
/// it does not answer).
async fn fetch_documents(
    cluster: &Cluster,
    uid: &str,
    fetch: Fetch,
    first_group: u32,
) -> Result<Value, ApiError> {
    cluster.require_nodes()?;
    let offset = fetch.offset.unwrap_or(0);
    let limit = fetch.limit.unwrap_or(20);
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
        let body = |part: &Part, offset: usize, limit: usize| {
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
                .map(|answer| answer.get("total").and_then(Value::as_u64).unwrap_or(0) as usize)
                .collect::<Vec<_>>(),
            Err(Retry::Fatal(error)) => return Err(error),
            Err(Retry::OtherGroup(error)) => {
                last = Some(error);
                continue;
            }
        };
        // Phase 2: each part's slice of the window.
        let mut calls = Vec::new();
        let mut start = 0;
        for (part, &total) in parts.iter().zip(&totals) {
            let from = offset.max(start);
            let to = (offset + limit).min(start + total);
            if from < to {
                calls.push(NodeCall {
                    node: part.node,
                    method: Method::POST,
                    path: path.clone(),
                    body: Some(body(part, from - start, to - from)),
                });
            }
            start += total;
        }
        let slices = match answers(cluster, uid, calls).await {
            Ok(slices) => slices,
            Err(Retry::Fatal(error)) => return Err(error),
            Err(Retry::OtherGroup(error)) => {
                last = Some(error);
                continue;
            }
        };
        let results: Vec<Value> = slices
            .into_iter()
            .flat_map(|slice| match slice.get("results") {
                Some(Value::Array(results)) => results.clone(),
                _ => Vec::new(),
            })
            .map(|mut document| {
                clean_document(&mut document);
                document
            })
            .collect();
        return Ok(json!({
            "results": results,
            "offset": offset,
            "limit": limit,
            "total": totals.iter().sum::<usize>(),
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
                cluster.repair_shard_field(index, uid).await;
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
