//! Document writes: each document goes to the nodes that hold its shard in every group
//! (plan §3 "Document lifecycle"); deletions by filter and of everything are broadcast.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use miroir_core::catalog::Catalog;
use miroir_core::cluster::NodeCall;
use miroir_core::node::{Method, encode_path_segment};
use miroir_core::routing::{NodeIndex, Shard};
use miroir_core::{ApiError, Code, IndexUid};
use miroir_http::object::Object;
use miroir_http::write::{Write, accept_calls, accept_write, fingerprint, refused_task};
use miroir_http::{AppState, HttpResult, IndexPath, JsonBody, QueryParams, alias};
use miroir_store::{IndexRecord, TaskKind};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::payload::{PayloadFormat, parse_documents};
use crate::{documents_path, index_primary_key};
use miroir_core::documents::{id_string, infer_primary_key, invalid_id, route_documents};

/// Add or replace documents.
///
/// Each document goes to its shard's nodes in every group. An unknown index is created first
/// when `primaryKey` is given.
#[utoipa::path(
    post,
    path = "/indexes/{uid}/documents",
    tag = "documents",
    params(
        ("uid" = String, Path, description = "The index uid."),
        ("primaryKey" = Option<String>, Query, description = "The primary key, for a new index."),
        ("csvDelimiter" = Option<String>, Query, description = "The field delimiter of a `text/csv` body: one ASCII character, `,` by default (`invalid_document_csv_delimiter` otherwise). Refused with another content type (415 `invalid_content_type`)."),
    ),
    request_body(
        description = "The documents, by `Content-Type` (415 `missing_content_type` / `invalid_content_type` for any other): `application/json`, an array of objects (or one object); `application/x-ndjson`, one object per line; `text/csv`, a header row of field names, each optionally typed `name:number`, `name:boolean` or `name:string` (untyped: string), then one document per row, an empty cell being `null`, read as Meilisearch reads it. An empty body is 400 `missing_payload`.",
        content(
            (Vec<Object> = "application/json"),
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        )
    ),
    responses(
        (status = 202, description = "The summarized `documentAdditionOrUpdate` task."),
        (status = 400, description = "A body that cannot be read (`malformed_payload`: not JSON, a CSV row of another length than the header, a CSV cell not of its column's type) or is empty (`missing_payload`); a `csvDelimiter` that is not one ASCII character (`invalid_document_csv_delimiter`); a document without a valid primary key value or with a reserved field; no primary key for a new index."),
        (status = 415, description = "No `Content-Type` (`missing_content_type`), one that is not `application/json`, `application/x-ndjson` or `text/csv`, or a `csvDelimiter` with a JSON or NDJSON body (`invalid_content_type`)."),
        (status = 503, description = "No group reached its write quorum (`miroir_no_quorum`)."),
    )
)]
pub(crate) async fn replace_documents(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResult<Response> {
    add_documents(state, uid, query, headers, body, Method::POST).await
}

/// Add or update documents.
///
/// Like `POST`, but fields of existing documents not in the new version are kept.
#[utoipa::path(
    put,
    path = "/indexes/{uid}/documents",
    tag = "documents",
    params(
        ("uid" = String, Path, description = "The index uid."),
        ("primaryKey" = Option<String>, Query, description = "The primary key, for a new index."),
        ("csvDelimiter" = Option<String>, Query, description = "The field delimiter of a `text/csv` body: one ASCII character, `,` by default (`invalid_document_csv_delimiter` otherwise). Refused with another content type (415 `invalid_content_type`)."),
    ),
    request_body(
        description = "The documents, by `Content-Type` (415 `missing_content_type` / `invalid_content_type` for any other): `application/json`, an array of objects (or one object); `application/x-ndjson`, one object per line; `text/csv`, a header row of field names, each optionally typed `name:number`, `name:boolean` or `name:string` (untyped: string), then one document per row, an empty cell being `null`, read as Meilisearch reads it. An empty body is 400 `missing_payload`.",
        content(
            (Vec<Object> = "application/json"),
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        )
    ),
    responses(
        (status = 202, description = "The summarized `documentAdditionOrUpdate` task."),
        (status = 400, description = "A body that cannot be read (`malformed_payload`: not JSON, a CSV row of another length than the header, a CSV cell not of its column's type) or is empty (`missing_payload`); a `csvDelimiter` that is not one ASCII character (`invalid_document_csv_delimiter`); a document without a valid primary key value or with a reserved field; no primary key for a new index."),
        (status = 415, description = "No `Content-Type` (`missing_content_type`), one that is not `application/json`, `application/x-ndjson` or `text/csv`, or a `csvDelimiter` with a JSON or NDJSON body (`invalid_content_type`)."),
    )
)]
pub(crate) async fn update_documents(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResult<Response> {
    add_documents(state, uid, query, headers, body, Method::PUT).await
}

async fn add_documents(
    state: AppState,
    uid: IndexUid,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    method: Method,
) -> HttpResult<Response> {
    state.cluster.require_nodes()?;
    let uid = alias::write_target(&state, uid.as_str()).await?;
    let params = QueryParams::parse(query.as_deref().unwrap_or_default());
    params.reject_unknown(&["primaryKey", "csvDelimiter", "customMetadata"])?;
    let format = PayloadFormat::of_request(&headers, params.get("csvDelimiter"))?;
    let documents = parse_documents(format, &body)?;
    let indexed = if documents.is_empty() {
        json!(0)
    } else {
        Value::Null
    };
    let received = json!({"receivedDocuments": documents.len(), "indexedDocuments": indexed});
    let primary_key = match index_primary_key(&state, &uid, params.get("primaryKey")).await? {
        Some(key) => Some(key),
        // Inferred from the first document as Meilisearch infers it, and stored with the
        // index's record by the write, so every replica routes by the same key.
        None => match infer_primary_key(documents.first()) {
            Ok(inferred) => inferred,
            Err(error) => {
                // Meilisearch refuses it when the task runs: a failed task.
                let path = documents_path(&uid, &[]);
                let write = Write {
                    index_uid: Some(uid),
                    kind: TaskKind::DocumentAdditionOrUpdate,
                    details: json!({"receivedDocuments": documents.len(), "indexedDocuments": 0}),
                    fingerprint: fingerprint(
                        method.as_str(),
                        &format.request_identity(&path),
                        &body,
                    ),
                };
                return refused_task(&state, write, &error).await;
            }
        },
    };
    let path = match &primary_key {
        Some(key) => format!(
            "{}?primaryKey={}",
            documents_path(&uid, &[]),
            encode_path_segment(key)
        ),
        None => documents_path(&uid, &[]),
    };
    let (calls, shards) = match &primary_key {
        Some(key) => route_documents(state.cluster.topology(), &documents, key, &method, &path)?,
        // No document and no key: nothing to send.
        None => Default::default(),
    };
    let write = Write {
        index_uid: Some(uid.clone()),
        kind: TaskKind::DocumentAdditionOrUpdate,
        details: received,
        fingerprint: fingerprint(method.as_str(), &format.request_identity(&path), &body),
    };
    let (store, cluster) = (state.store.clone(), state.cluster.clone());
    accept_write(&state, &headers, write, move |fan_out| async move {
        let catalog = Catalog::new(store.as_ref(), &cluster);
        let claim = match &primary_key {
            Some(key) => catalog.prepare_documents(&uid, key, fan_out.record).await?,
            // An empty write to a missing index creates it without a key, as in Meilisearch.
            None if fan_out.record.as_ref().is_some_and(IndexRecord::is_active) => None,
            None => catalog.claim_creation(&uid, None).await?,
        };
        if let Some(claim) = claim {
            let created = catalog.create(claim).await;
            if !created.succeeded() {
                return Err(created.failure());
            }
            if calls.is_empty() {
                // An empty write that created the index ends with the creation.
                return Ok(created);
            }
        }
        Ok(cluster
            .write(fan_out.marker.mark(calls), Some(shards))
            .await)
    })
    .await
}

/// Delete one document.
#[utoipa::path(
    delete,
    path = "/indexes/{uid}/documents/{id}",
    tag = "documents",
    params(
        ("uid" = String, Path, description = "The index uid."),
        ("id" = String, Path, description = "The document id."),
    ),
    responses((status = 202, description = "The summarized `documentDeletion` task."))
)]
pub(crate) async fn delete_document(
    State(state): State<AppState>,
    IndexPath((uid, id)): IndexPath<(IndexUid, String)>,
    headers: HeaderMap,
) -> HttpResult<Response> {
    state.cluster.require_nodes()?;
    let uid = alias::write_target(&state, uid.as_str()).await?;
    let id = id_string(&Value::String(id.clone())).ok_or_else(|| invalid_id(&Value::String(id)))?;
    let shard = state.cluster.topology().shard_of(&id);
    let path = documents_path(&uid, &[&id]);
    let calls = state
        .cluster
        .topology()
        .write_targets(shard)
        .map(|node| NodeCall {
            node,
            method: Method::DELETE,
            path: path.clone(),
            body: None,
        })
        .collect();
    let write = Write {
        index_uid: Some(uid),
        kind: TaskKind::DocumentDeletion,
        details: json!({"providedIds": 1, "deletedDocuments": null, "originalFilter": null}),
        fingerprint: fingerprint("DELETE", &path, b""),
    };
    accept_calls(&state, &headers, write, calls, Some([shard].into())).await
}

/// Delete documents by id.
#[utoipa::path(
    post,
    path = "/indexes/{uid}/documents/delete-batch",
    tag = "documents",
    params(("uid" = String, Path, description = "The index uid.")),
    request_body(content = Vec<String>, description = "Document ids."),
    responses((status = 202, description = "The summarized `documentDeletion` task."))
)]
pub(crate) async fn delete_batch(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
    JsonBody(ids): JsonBody<Vec<Value>>,
) -> HttpResult<Response> {
    state.cluster.require_nodes()?;
    let uid = alias::write_target(&state, uid.as_str()).await?;
    let topology = state.cluster.topology();
    let mut per_node: BTreeMap<NodeIndex, Vec<Value>> = BTreeMap::new();
    let mut shards: BTreeSet<Shard> = BTreeSet::new();
    for value in &ids {
        let id = id_string(value).ok_or_else(|| invalid_id(value))?;
        let shard = topology.shard_of(&id);
        shards.insert(shard);
        for node in topology.write_targets(shard) {
            per_node.entry(node).or_default().push(value.clone());
        }
    }
    let path = documents_path(&uid, &["delete-batch"]);
    let calls = per_node
        .into_iter()
        .map(|(node, ids)| NodeCall {
            node,
            method: Method::POST,
            path: path.clone(),
            body: Some(serde_json::to_vec(&ids).unwrap_or_default()),
        })
        .collect();
    let write = Write {
        index_uid: Some(uid),
        kind: TaskKind::DocumentDeletion,
        details: json!({"providedIds": ids.len(), "deletedDocuments": null, "originalFilter": null}),
        fingerprint: fingerprint(
            "POST",
            &path,
            serde_json::to_vec(&ids).unwrap_or_default().as_slice(),
        ),
    };
    accept_calls(&state, &headers, write, calls, Some(shards)).await
}

/// The body of `POST /indexes/{uid}/documents/delete`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteByFilter {
    filter: Option<Value>,
}

/// Delete documents matching a filter.
///
/// Broadcast to every node (a filter cannot be routed to shards).
#[utoipa::path(
    post,
    path = "/indexes/{uid}/documents/delete",
    tag = "documents",
    params(("uid" = String, Path, description = "The index uid.")),
    request_body(content = Object, description = "`{filter}`"),
    responses((status = 202, description = "The summarized `documentDeletion` task."))
)]
pub(crate) async fn delete_by_filter(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
    JsonBody(Object(body)): JsonBody<Object<DeleteByFilter>>,
) -> HttpResult<Response> {
    state.cluster.require_nodes()?;
    let uid = alias::write_target(&state, uid.as_str()).await?;
    let Some(filter) = body.filter.filter(|filter| !filter.is_null()) else {
        return Err(ApiError::new(
            Code::BadRequest,
            "Missing field `filter` inside `.`: deleting by filter needs a filter.",
        )
        .into());
    };
    let path = documents_path(&uid, &["delete"]);
    let request = json!({"filter": filter}).to_string();
    let calls = state
        .cluster
        .broadcast(&Method::POST, &path, Some(request.as_bytes()));
    let write = Write {
        index_uid: Some(uid),
        kind: TaskKind::DocumentDeletion,
        details: json!({"providedIds": 0, "deletedDocuments": null, "originalFilter": filter.to_string()}),
        fingerprint: fingerprint("POST", &path, request.as_bytes()),
    };
    accept_calls(&state, &headers, write, calls, None).await
}

/// Delete every document.
///
/// Broadcast to every node.
#[utoipa::path(
    delete,
    path = "/indexes/{uid}/documents",
    tag = "documents",
    params(("uid" = String, Path, description = "The index uid.")),
    responses((status = 202, description = "The summarized `documentDeletion` task."))
)]
pub(crate) async fn delete_all(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
) -> HttpResult<Response> {
    state.cluster.require_nodes()?;
    let uid = alias::write_target(&state, uid.as_str()).await?;
    let path = documents_path(&uid, &[]);
    let calls = state.cluster.broadcast(&Method::DELETE, &path, None);
    let write = Write {
        index_uid: Some(uid),
        kind: TaskKind::DocumentDeletion,
        details: json!({"deletedDocuments": null}),
        fingerprint: fingerprint("DELETE", &path, b""),
    };
    accept_calls(&state, &headers, write, calls, None).await
}
