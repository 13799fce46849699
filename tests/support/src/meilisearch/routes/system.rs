//! `/health`, `/version`, `/stats` and `/tasks`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde_json::json;

use super::{Answer, Shared, ok, params};
use crate::meilisearch::error::ApiError;
use crate::meilisearch::tasks;

/// `GET /health`.
pub(crate) async fn health() -> Answer {
    ok(json!({"status": "available"}))
}

/// `GET /version`.
pub(crate) async fn version() -> Answer {
    ok(json!({
        "commitSha": "test-node",
        "commitDate": "2024-12-23T00:00:00Z",
        "pkgVersion": "1.12.0",
    }))
}

/// `GET /stats`.
pub(crate) async fn stats(State(node): State<Shared>) -> Answer {
    ok(node.lock().global_stats())
}

/// `GET /tasks`.
pub(crate) async fn list_tasks(
    State(node): State<Shared>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let params = params(query)?;
    ok(tasks::list(&node.lock(), &params)?)
}

/// `GET /tasks/{uid}`.
pub(crate) async fn get_task(State(node): State<Shared>, Path(uid): Path<String>) -> Answer {
    let parsed: u64 = uid.parse().map_err(|_| {
        ApiError::new(
            "invalid_task_uids",
            format!("Task uid `{uid}` is invalid. It should only contain numeric characters."),
        )
    })?;
    let state = node.lock();
    let task = state
        .tasks
        .get(&parsed)
        .ok_or_else(|| ApiError::new("task_not_found", format!("Task `{parsed}` not found.")))?;
    ok(task.to_json())
}
