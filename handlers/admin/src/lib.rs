//! `miroir-handler-admin`: the service routes — `GET /health` (always open), `GET /version`, the
//! instance routes `/experimental-features` and `/network`, and the operator routes
//! `GET /_miroir/ready`, `GET /_miroir/metrics` and `GET /_miroir/openapi.json`.

mod instance;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Json, Router};
use miroir_http::{AppState, HttpResult, metrics};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The commit this binary was built from (`MIROIR_COMMIT_SHA` at build time), else `unknown`.
const COMMIT_SHA: &str = match option_env!("MIROIR_COMMIT_SHA") {
    Some(sha) => sha,
    None => "unknown",
};

/// The date of that commit (`MIROIR_COMMIT_DATE` at build time), else `unknown`.
const COMMIT_DATE: &str = match option_env!("MIROIR_COMMIT_DATE") {
    Some(date) => date,
    None => "unknown",
};

/// The OpenAPI document of the whole API (every handler crate), generated from the route
/// definitions by `miroir-edge` and kept equal to them by its `openapi_document` test. Served
/// from this file so that every deployment, including this crate's own Lambda function, serves
/// the complete document.
pub const OPENAPI_DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// The service routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(version))
        .routes(routes!(instance::get_features, instance::patch_features))
        .routes(routes!(instance::get_network, instance::patch_network))
        .routes(routes!(ready))
        .routes(routes!(prometheus_metrics))
        .routes(routes!(openapi_document))
}

/// The service routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// The body of `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// Always `available`.
    status: &'static str,
}

/// The body of `GET /version`, in Meilisearch's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Version {
    commit_sha: &'static str,
    commit_date: &'static str,
    pkg_version: &'static str,
}

/// The body of `GET /_miroir/ready` when ready.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Ready {
    /// Always `ready`.
    status: &'static str,
    /// The store's (and this binary's) schema version.
    schema_version: u32,
}

/// Liveness.
///
/// The process answers. Says nothing about the store (see `/_miroir/ready`); needs no key.
#[utoipa::path(
    get,
    path = "/health",
    tag = "service",
    responses((status = 200, description = "The process is up.", body = Health))
)]
async fn health() -> Json<Health> {
    Json(Health {
        status: "available",
    })
}

/// Version of this Miroir.
#[utoipa::path(
    get,
    path = "/version",
    tag = "service",
    responses((status = 200, description = "Build information.", body = Version))
)]
async fn version() -> Json<Version> {
    Json(Version {
        commit_sha: COMMIT_SHA,
        commit_date: COMMIT_DATE,
        pkg_version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness.
///
/// 200 once the task store is at this binary's schema version, else the gate's 503.
#[utoipa::path(
    get,
    path = "/_miroir/ready",
    tag = "operator",
    responses((status = 200, description = "Serving.", body = Ready))
)]
async fn ready(State(state): State<AppState>) -> HttpResult<Json<Ready>> {
    let schema_version = state.readiness.status()?;
    Ok(Json(Ready {
        status: "ready",
        schema_version,
    }))
}

/// Prometheus metrics.
///
/// Request counts and latencies by route and status, task store operation latencies and the
/// background job queue depth per job type (read from the store now; left out, with a logged
/// warning, when the store fails), in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/_miroir/metrics",
    tag = "operator",
    responses((status = 200, description = "The metrics.", body = String, content_type = "text/plain"))
)]
async fn prometheus_metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.refresh_queue_depth(&state.store).await;
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/_miroir/openapi.json",
    tag = "operator",
    responses((status = 200, description = "The OpenAPI document of every route.", body = Object))
)]
async fn openapi_document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI_DOCUMENT,
    )
}
