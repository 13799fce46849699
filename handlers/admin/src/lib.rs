//! `miroir-handler-admin`: the service routes — `GET /health` (always open), `GET /version` and
//! the operator probe `GET /_miroir/ready`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use miroir_http::{AppState, HttpResult};
use serde_json::{Value, json};

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

/// The service routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/_miroir/ready", get(ready))
        .with_state(state)
}

/// `GET /health`: the process answers. Says nothing about the store (see `/_miroir/ready`).
async fn health() -> Json<Value> {
    Json(json!({ "status": "available" }))
}

/// `GET /version`, in Meilisearch's shape.
async fn version() -> Json<Value> {
    Json(json!({
        "commitSha": COMMIT_SHA,
        "commitDate": COMMIT_DATE,
        "pkgVersion": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /_miroir/ready`: 200 once the store is at this binary's schema version, else the gate's
/// 503.
async fn ready(State(state): State<AppState>) -> HttpResult<Json<Value>> {
    let version = state.readiness.status()?;
    Ok(Json(json!({ "status": "ready", "schemaVersion": version })))
}
