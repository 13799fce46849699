//! `miroir-handler-tasks`: `GET /tasks/{uid}` and `GET /tasks`, the Meilisearch task API over
//! the store's task registry.
//!
//! Task objects have Meilisearch's exact shape (reference/meilisearch-api.md) plus one extension
//! field, `miroir: {nodeTasks}`, the per-node task uids the task fanned out to.

mod query;
mod view;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use miroir_core::{ApiError, Code};
use miroir_http::{AppState, HttpResult, QueryParams};

use crate::view::{TaskList, TaskView};

/// The task routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/tasks", get(list_tasks))
        .route("/tasks/{uid}", get(get_task))
        .with_state(state)
}

/// `GET /tasks/{uid}`.
async fn get_task(
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> HttpResult<Json<TaskView>> {
    let parsed = uid.parse::<u64>().map_err(|_| {
        ApiError::new(
            Code::InvalidTaskUids,
            format!("Task uid `{uid}` is invalid. It should only contain numeric characters."),
        )
    })?;
    match state.store.get_task(parsed).await? {
        Some(task) => Ok(Json(TaskView::from(task))),
        None => {
            Err(ApiError::new(Code::TaskNotFound, format!("Task `{parsed}` not found.")).into())
        }
    }
}

/// `GET /tasks`.
async fn list_tasks(
    State(state): State<AppState>,
    params: QueryParams,
) -> HttpResult<Json<TaskList>> {
    let query = query::parse(&params)?;
    let page = state.store.list_tasks(&query).await?;
    Ok(Json(TaskList::new(page, query.limit)))
}
