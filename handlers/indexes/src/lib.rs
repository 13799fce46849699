//! `miroir-handler-indexes`: the index routes (plan §3 "Index lifecycle", §5 "Routing by
//! operation type").
//!
//! Every write keeps the index's state record ([`miroir_core::catalog`]) in step with the nodes:
//!
//! - `POST /indexes {uid, primaryKey}`: `primaryKey` is required (Miroir routes documents by
//!   it); the record is claimed, then every node creates the index by a settings update that
//!   makes `_miroir_shard` filterable (shard-scoped reads and rebalancing need it, so no node
//!   ever holds the index without it), followed by the primary key
//!   ([`miroir_core::cluster::Cluster::create_index`]). An index that already exists gives a task that fails with
//!   `index_already_exists`, as in Meilisearch, without touching the nodes.
//! - `PATCH /indexes/{uid}`: broadcast; the record takes the new primary key first (and gets
//!   the old one back if the nodes refuse). A new primary key for an index that holds documents
//!   gives a task that fails with `index_primary_key_already_exists`, as in Meilisearch.
//! - `DELETE /indexes/{uid}`: the record is marked `deleting`, writes still being sent to the
//!   index are waited for, the deletion is broadcast, and the record is left `deleted`.
//! - `GET /indexes`, `GET /indexes/{uid}`: answered by one node (every node holds every index).
//! - `GET /indexes/{uid}/stats`, `GET /stats`: every node, counts summed and divided by the
//!   copies each document has, so they count distinct documents.

mod stats;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Json, Router};
use miroir_core::catalog::Catalog;
use miroir_core::node::{Method, node_path};
use miroir_core::{ApiError, Code, IndexUid};
use miroir_http::api_keys::{ClientAuth, refused};
use miroir_http::object::Object;
use miroir_http::write::{Write, accept_write, fingerprint, refused_task};
use miroir_http::{AppState, HttpResult, IndexPath, JsonBody, alias};
use miroir_store::TaskKind;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The index routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_index, list_indexes))
        .routes(routes!(get_index, update_index, delete_index))
        .routes(routes!(stats::index_stats))
        .routes(routes!(stats::global_stats))
}

/// The index routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// The body of `POST /indexes`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateIndex {
    uid: Option<Value>,
    primary_key: Option<Value>,
}

/// The body of `PATCH /indexes/{uid}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateIndex {
    primary_key: Option<Value>,
}

fn primary_key_required(index: &str) -> ApiError {
    ApiError::new(
        Code::MiroirPrimaryKeyRequired,
        format!(
            "Index `{index}` needs an explicit `primaryKey`: Miroir routes every document to \
             its shard by primary key."
        ),
    )
}

/// Create an index.
///
/// Broadcast to every node. Without `primaryKey`, the first documents written give it (inferred
/// as Meilisearch infers it).
#[utoipa::path(
    post,
    path = "/indexes",
    tag = "indexes",
    request_body(content = Object, description = "`{uid, primaryKey}`"),
    responses(
        (status = 202, description = "The summarized `indexCreation` task."),
        (status = 400, description = "Missing or invalid uid (`missing_index_uid`, `invalid_index_uid`), a `primaryKey` that is not a string (`invalid_index_primary_key`) or is empty (`miroir_primary_key_required`)."),
        (status = 503, description = "No node answered (`miroir_no_quorum`)."),
    )
)]
async fn create_index(
    State(state): State<AppState>,
    auth: ClientAuth,
    headers: HeaderMap,
    JsonBody(Object(body)): JsonBody<Object<CreateIndex>>,
) -> HttpResult<Response> {
    state.cluster.require_nodes()?;
    let uid = match body.uid {
        None => {
            return Err(
                ApiError::new(Code::MissingIndexUid, "Missing field `uid` inside `.`").into(),
            );
        }
        Some(Value::String(uid)) => uid,
        Some(other) => {
            return Err(ApiError::new(
                Code::InvalidIndexUid,
                format!("Invalid value type at `.uid`: expected a string, but found `{other}`"),
            )
            .into());
        }
    };
    let uid = IndexUid::parse_at(&uid, "at `.uid`")?.into_string();
    if !auth.allows_index(&uid) {
        return Err(refused().into());
    }
    // Without one, the key is inferred from the first documents, as in Meilisearch.
    let primary_key = match body.primary_key {
        Some(Value::String(key)) if !key.is_empty() => Some(key),
        None | Some(Value::Null) => None,
        Some(Value::String(_)) => return Err(primary_key_required(&uid).into()),
        Some(other) => {
            return Err(ApiError::new(
                Code::InvalidIndexPrimaryKey,
                format!(
                    "Invalid value type at `.primaryKey`: expected a string, but found {}",
                    miroir_http::describe(&other)
                ),
            )
            .into());
        }
    };
    let request = json!({"uid": uid, "primaryKey": primary_key});
    let write = Write {
        index_uid: Some(uid.clone()),
        kind: TaskKind::IndexCreation,
        details: json!({"primaryKey": primary_key}),
        fingerprint: fingerprint("POST", "/indexes", request.to_string().as_bytes()),
    };
    let catalog = Catalog::new(state.store.as_ref(), &state.cluster);
    if catalog
        .settled(&uid)
        .await?
        .is_some_and(|record| record.is_active())
    {
        return refused_task(&state, write, &already_exists(&uid)).await;
    }
    let (store, cluster) = (state.store.clone(), state.cluster.clone());
    // The index routes record no marker (see `miroir_core::marker`): nothing to mark.
    accept_write(&state, &headers, write, move |_fan_out| async move {
        let catalog = Catalog::new(store.as_ref(), &cluster);
        match catalog.claim_creation(&uid, primary_key).await? {
            Some(claim) => Ok(catalog.create(claim).await),
            None => Err(already_exists(&uid)),
        }
    })
    .await
}

/// Meilisearch's refusal of a creation whose index exists.
fn already_exists(uid: &str) -> ApiError {
    ApiError::new(
        Code::IndexAlreadyExists,
        format!("Index `{uid}` already exists."),
    )
}

/// List indexes.
///
/// `{results: [{uid, primaryKey, createdAt, updatedAt}], offset, limit, total}`, from one node.
#[utoipa::path(
    get,
    path = "/indexes",
    tag = "indexes",
    params(
        ("offset" = Option<u32>, Query, description = "Indexes to skip."),
        ("limit" = Option<u32>, Query, description = "Page size (default 20)."),
    ),
    responses((status = 200, description = "One page of indexes."))
)]
async fn list_indexes(
    State(state): State<AppState>,
    auth: ClientAuth,
    RawQuery(query): RawQuery,
) -> HttpResult<Json<Value>> {
    let path = match query {
        Some(query) => format!("/indexes?{query}"),
        None => "/indexes".to_owned(),
    };
    let mut page: Value = state.cluster.read_any(&path).await?;
    if !auth.sees_every_index()
        && let Some(results) = page["results"].as_array_mut()
    {
        // An API key sees only its indexes (the page may then hold fewer than `limit`).
        results.retain(|index| {
            index["uid"]
                .as_str()
                .is_some_and(|uid| auth.allows_index(uid))
        });
    }
    Ok(Json(page))
}

/// Get one index.
#[utoipa::path(
    get,
    path = "/indexes/{uid}",
    tag = "indexes",
    params(("uid" = String, Path, description = "The index uid.")),
    responses(
        (status = 200, description = "`{uid, primaryKey, createdAt, updatedAt}`."),
        (status = 404, description = "`index_not_found`."),
    )
)]
async fn get_index(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
) -> HttpResult<Json<Value>> {
    let uid = alias::read_target(&state, uid.as_str()).await?;
    Ok(Json(state.cluster.read_any(&index_path(&uid)).await?))
}

/// Update an index's primary key.
///
/// Broadcast to every node.
#[utoipa::path(
    patch,
    path = "/indexes/{uid}",
    tag = "indexes",
    params(("uid" = String, Path, description = "The index uid.")),
    request_body(content = Object, description = "`{primaryKey}`"),
    responses((status = 202, description = "The summarized `indexUpdate` task."))
)]
async fn update_index(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
    JsonBody(Object(body)): JsonBody<Object<UpdateIndex>>,
) -> HttpResult<Response> {
    state.cluster.require_nodes()?;
    let uid = uid.into_string();
    let Some(Value::String(primary_key)) = body.primary_key else {
        return Err(primary_key_required(&uid).into());
    };
    let request = json!({"primaryKey": primary_key}).to_string();
    let path = index_path(&uid);
    let write = Write {
        index_uid: Some(uid.clone()),
        kind: TaskKind::IndexUpdate,
        details: json!({"primaryKey": primary_key}),
        fingerprint: fingerprint("PATCH", &path, request.as_bytes()),
    };
    let catalog = Catalog::new(state.store.as_ref(), &state.cluster);
    if let Some(record) = catalog.settled(&uid).await?
        && let Some(key) = record.primary_key.filter(|key| *key != primary_key)
        && catalog.has_documents(&uid).await
    {
        let error = ApiError::new(
            Code::IndexPrimaryKeyAlreadyExists,
            format!("Index `{uid}`: Index already has a primary key: `{key}`."),
        );
        return refused_task(&state, write, &error).await;
    }
    let (store, cluster) = (state.store.clone(), state.cluster.clone());
    let calls = cluster.broadcast(&Method::PATCH, &path, Some(request.as_bytes()));
    accept_write(&state, &headers, write, move |fan_out| async move {
        let catalog = Catalog::new(store.as_ref(), &cluster);
        let before = catalog
            .set_primary_key(&uid, &primary_key, fan_out.record)
            .await?;
        let outcome = cluster.write(calls, None).await;
        if let Some(before) = before.filter(|_| !outcome.succeeded()) {
            catalog.restore(before).await;
        }
        Ok(outcome)
    })
    .await
}

/// Delete an index.
///
/// Broadcast to every node.
#[utoipa::path(
    delete,
    path = "/indexes/{uid}",
    tag = "indexes",
    params(("uid" = String, Path, description = "The index uid.")),
    responses((status = 202, description = "The summarized `indexDeletion` task."))
)]
async fn delete_index(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
) -> HttpResult<Response> {
    state.cluster.require_nodes()?;
    let uid = uid.into_string();
    let path = index_path(&uid);
    let write = Write {
        index_uid: Some(uid.clone()),
        kind: TaskKind::IndexDeletion,
        details: json!({"deletedDocuments": null}),
        fingerprint: fingerprint("DELETE", &path, b""),
    };
    // The mark comes before the task (see `miroir_core::catalog`) and must always be ended:
    // marking, accepting and ending run on a task of their own, which a dropped request does
    // not stop.
    let deletion = tokio::spawn(delete_marked(state.clone(), headers, write, uid.clone()));
    let response = deletion.await.map_err(|error| {
        tracing::error!(index = %uid, %error, "an index deletion panicked");
        ApiError::new(Code::Internal, "internal error")
    })??;
    if let Err(error) = state.store.delete_node_settings_versions(&uid).await {
        tracing::warn!(%error, index = %uid, "settings versions of a deleted index kept");
    }
    Ok(response)
}

/// Marks index `uid` `deleting`, accepts `write` (waiting for older writes still being sent,
/// then broadcasting the deletion) and ends the mark: `deleted` when the nodes took it, `active`
/// when nothing was sent (an idempotent replay, a store error) or the nodes refused it.
async fn delete_marked(
    state: AppState,
    headers: HeaderMap,
    write: Write,
    uid: String,
) -> HttpResult<Response> {
    let (store, cluster) = (state.store.clone(), state.cluster.clone());
    let catalog = Catalog::new(store.as_ref(), &cluster);
    let marked = catalog.begin_deletion(&uid).await?;
    let sent = Arc::new(AtomicBool::new(false));
    let calls = cluster.broadcast(&Method::DELETE, &index_path(&uid), None);
    let (fan_out_store, fan_out_cluster) = (store.clone(), cluster.clone());
    let (index, mark, was_sent) = (uid.clone(), marked.clone(), sent.clone());
    let response = accept_write(&state, &headers, write, move |fan_out| async move {
        was_sent.store(true, Ordering::SeqCst);
        let catalog = Catalog::new(fan_out_store.as_ref(), &fan_out_cluster);
        if mark.is_some() {
            catalog.wait_for_writes(&index, fan_out.task_uid).await?;
        }
        let outcome = fan_out_cluster.write(calls, None).await;
        if let Some(mark) = mark {
            catalog.finish_deletion(mark, outcome.succeeded()).await;
        }
        Ok(outcome)
    })
    .await;
    if let Some(marked) = marked.filter(|_| !sent.load(Ordering::SeqCst)) {
        catalog.finish_deletion(marked, false).await;
    }
    response
}

/// The node path `/indexes/{uid}`.
fn index_path(uid: &str) -> String {
    node_path(["indexes", uid])
}
