//! `miroir-handler-indexes`: the index routes (plan §3 "Index lifecycle", §5 "Routing by
//! operation type").
//!
//! - `POST /indexes {uid, primaryKey}`: `primaryKey` is required (Miroir routes documents by
//!   it); broadcast to every node, followed on each node by a settings update that makes
//!   `_miroir_shard` filterable (shard-scoped reads and rebalancing need it). An index that
//!   already exists gives a task that fails with `index_already_exists`, as in Meilisearch,
//!   without touching the nodes.
//! - `PATCH /indexes/{uid}` and `DELETE /indexes/{uid}`: broadcast.
//! - `GET /indexes`, `GET /indexes/{uid}`: answered by one node (every node holds every index).
//! - `GET /indexes/{uid}/stats`, `GET /stats`: every node, counts summed and divided by the
//!   copies each document has, so they count distinct documents.

mod stats;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Json, Router};
use miroir_core::jobs::valid_index_uid;
use miroir_core::node::{Method, node_path};
use miroir_core::{ApiError, Code};
use miroir_http::object::Object;
use miroir_http::write::{Write, accept_calls, accept_write, accepted, fingerprint};
use miroir_http::{AppState, HttpResult, IndexPath, JsonBody, alias};
use miroir_store::{NewTask, TaskError, TaskKind, TaskStatus, Timestamp};
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
/// Broadcast to every node; `primaryKey` is required.
#[utoipa::path(
    post,
    path = "/indexes",
    tag = "indexes",
    request_body(content = Object, description = "`{uid, primaryKey}`"),
    responses(
        (status = 202, description = "The summarized `indexCreation` task."),
        (status = 400, description = "Missing or invalid uid, missing `primaryKey` (`miroir_primary_key_required`)."),
        (status = 503, description = "No node answered (`miroir_no_quorum`)."),
    )
)]
async fn create_index(
    State(state): State<AppState>,
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
    valid_index_uid(&uid)?;
    let primary_key = match body.primary_key {
        Some(Value::String(key)) if !key.is_empty() => key,
        _ => return Err(primary_key_required(&uid).into()),
    };
    let request = json!({"uid": uid, "primaryKey": primary_key});
    let write = Write {
        index_uid: Some(uid.clone()),
        kind: TaskKind::IndexCreation,
        details: json!({"primaryKey": primary_key}),
        fingerprint: fingerprint("POST", "/indexes", request.to_string().as_bytes()),
    };
    if state.cluster.primary_key(&uid).await?.is_some() {
        return already_exists(&state, write, &uid).await;
    }
    let cluster = state.cluster.clone();
    // The index routes record no marker (see `miroir_core::marker`): nothing to mark.
    accept_write(&state, &headers, write, move |_marker| async move {
        Ok(cluster.create_index(&uid, &primary_key).await)
    })
    .await
}

/// Meilisearch answers a duplicate creation with a task that fails; so does Miroir, without a
/// node call.
async fn already_exists(state: &AppState, write: Write, uid: &str) -> HttpResult<Response> {
    let now = Timestamp::now();
    let task = state
        .store
        .create_task(NewTask {
            index_uid: write.index_uid,
            kind: write.kind,
            status: TaskStatus::Enqueued,
            node_tasks: Default::default(),
            details: Some(write.details),
            enqueued_at: now,
        })
        .await?;
    let mut update = task.to_update();
    update.status = TaskStatus::Failed;
    update.started_at = Some(now);
    update.finished_at = Some(now);
    update.error = Some(TaskError {
        message: format!("Index `{uid}` already exists."),
        code: "index_already_exists".to_owned(),
        error_type: "invalid_request".to_owned(),
        link: "https://docs.meilisearch.com/errors#index_already_exists".to_owned(),
    });
    let task = state.store.update_task(task.uid, update).await?;
    Ok(accepted(&task))
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
    RawQuery(query): RawQuery,
) -> HttpResult<Json<Value>> {
    let path = match query {
        Some(query) => format!("/indexes?{query}"),
        None => "/indexes".to_owned(),
    };
    Ok(Json(state.cluster.read_any(&path).await?))
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
    state.cluster.forget_index(&uid);
    let calls = state
        .cluster
        .broadcast(&Method::PATCH, &path, Some(request.as_bytes()));
    accept_calls(&state, &headers, write, calls, None).await
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
    state.cluster.forget_index(&uid);
    let calls = state.cluster.broadcast(&Method::DELETE, &path, None);
    let response = accept_calls(&state, &headers, write, calls, None).await?;
    if let Err(error) = state.store.delete_node_settings_versions(&uid).await {
        tracing::warn!(%error, index = %uid, "settings versions of a deleted index kept");
    }
    Ok(response)
}

/// The node path `/indexes/{uid}`.
fn index_path(uid: &str) -> String {
    node_path(["indexes", uid])
}
