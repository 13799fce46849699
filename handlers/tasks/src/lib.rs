//! `miroir-handler-tasks`: `GET /tasks/{uid}`, `GET /tasks`, `DELETE /tasks`,
//! `POST /tasks/cancel`, `GET /batches` and `GET /batches/{uid}`: the Meilisearch task and batch
//! API over the store's task registry.
//!
//! Task objects have Meilisearch's exact shape (reference/meilisearch-api.md) plus one extension
//! field, `miroir: {nodeTasks}`, the per-node task uids the task fanned out to.

mod actions;
mod batches;
mod query;
mod view;

use axum::extract::{Path, State};
use axum::{Json, Router};
use miroir_core::refresh::refresh_task;
use miroir_core::{ApiError, Code};
use miroir_http::api_keys::ClientAuth;
use miroir_http::{AppState, HttpResult, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::query::MAX_LIMIT;
use crate::view::{TaskList, TaskView};

/// The task routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks, actions::delete_tasks))
        .routes(routes!(actions::cancel_tasks))
        .routes(routes!(batches::list_batches))
        .routes(routes!(batches::get_batch))
        .routes(routes!(get_task))
}

/// The task routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// Get one task.
///
/// The task with this uid, in Meilisearch's shape plus `miroir.nodeTasks`. A task that is not
/// terminal is first brought up to date by polling its node tasks.
#[utoipa::path(
    get,
    path = "/tasks/{uid}",
    tag = "tasks",
    params(("uid" = u64, Path, description = "The task uid.")),
    responses(
        (status = 200, description = "The task.", body = TaskView),
        (status = 400, description = "The uid is not an integer (`invalid_task_uids`)."),
        (status = 404, description = "No task has this uid (`task_not_found`)."),
    )
)]
async fn get_task(
    State(state): State<AppState>,
    auth: ClientAuth,
    Path(uid): Path<String>,
) -> HttpResult<Json<TaskView>> {
    let parsed = uid.parse::<u64>().map_err(|_| {
        ApiError::new(
            Code::InvalidTaskUids,
            format!("Task uid `{uid}` is invalid. It should only contain numeric characters."),
        )
    })?;
    match state
        .store
        .get_task(parsed)
        .await?
        .filter(|task| visible(&auth, task))
    {
        Some(task) => {
            let task = refresh_task(&state.store, &state.cluster, task).await?;
            Ok(Json(TaskView::from(task)))
        }
        None => {
            Err(ApiError::new(Code::TaskNotFound, format!("Task `{parsed}` not found.")).into())
        }
    }
}

/// List tasks.
///
/// Tasks matching every given filter, newest first (oldest first with `reverse=true`), paged by
/// uid: pass the answer's `next` as `from` for the next page. List filters are comma-separated;
/// `*` matches everything. A page holds at most 1000 tasks: a greater `limit` is served as 1000
/// and the answer's `limit` is 1000.
#[utoipa::path(
    get,
    path = "/tasks",
    tag = "tasks",
    params(query::TaskListParameters),
    responses(
        (status = 200, description = "One page of tasks.", body = TaskList),
        (status = 400, description = "An unknown parameter or a bad value (`bad_request`, `invalid_task_*`)."),
    )
)]
async fn list_tasks(
    State(state): State<AppState>,
    auth: ClientAuth,
    params: QueryParams,
) -> HttpResult<Json<TaskList>> {
    let query = query::parse(&params)?;
    let mut page = state.store.list_tasks(&query).await?;
    // An API key sees only its indexes' tasks (the page may then hold fewer than `limit`).
    page.results.retain(|task| visible(&auth, task));
    Ok(Json(TaskList::new(page, query.limit)))
}

/// True when a request with `auth` may see `task`: one on an index its key allows, or any task
/// for a credential that sees every index.
pub(crate) fn visible(auth: &ClientAuth, task: &miroir_store::Task) -> bool {
    auth.sees_every_index()
        || task
            .index_uid
            .as_deref()
            .is_some_and(|uid| auth.allows_index(uid))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_limit_is_the_applied_one() {
        let document = serde_json::to_value(routes().into_openapi()).unwrap();
        let list = &document["paths"]["/tasks"]["get"];
        let limit = list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|parameter| parameter["name"] == "limit")
            .unwrap();
        let cap = format!("At most {MAX_LIMIT}:");
        assert!(
            limit["description"].as_str().unwrap().contains(&cap),
            "{limit}"
        );
        let description = list["description"].as_str().unwrap();
        assert!(
            description.contains(&format!("at most {MAX_LIMIT} tasks")),
            "{description}"
        );
    }
}
