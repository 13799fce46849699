//! `GET /batches` and `GET /batches/{uid}`: Meilisearch's batches over Miroir's tasks.
//!
//! Miroir does not group tasks: each task is its own batch, with the task's uid, from the moment
//! it leaves `enqueued` (as a Meilisearch task gets its batch when processing starts). A batch
//! reports its task's details, status, type and index in Meilisearch's `stats` shape.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use miroir_core::{ApiError, Code};
use miroir_http::api_keys::ClientAuth;
use miroir_http::timefmt::{format_rfc3339, iso8601_duration};
use miroir_http::{AppState, HttpResult, QueryParams};
use miroir_store::{Task, TaskPage, TaskStatus, TaskUid};
use serde::Serialize;
use utoipa::ToSchema;

use crate::query;

/// What every Miroir batch says of how it was formed.
const STRATEGY: &str = "Miroir makes one batch of each task: its uid is the task's.";

/// A Meilisearch batch object.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Batch)]
pub(crate) struct BatchView {
    #[schema(value_type = u64)]
    uid: TaskUid,
    /// Always null: Miroir reports progress on the task.
    #[schema(value_type = Option<Object>)]
    progress: Option<()>,
    /// The task's details.
    #[schema(value_type = Object)]
    details: serde_json::Value,
    stats: BatchStats,
    /// ISO 8601 duration between start and finish.
    duration: Option<String>,
    /// RFC 3339 date.
    started_at: String,
    /// RFC 3339 date.
    finished_at: Option<String>,
    batch_strategy: &'static str,
}

/// The `stats` of a batch: counts of its one task by status, type and index.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BatchStats {
    total_nb_tasks: u32,
    #[schema(value_type = BTreeMap<String, u32>)]
    status: BTreeMap<&'static str, u32>,
    #[schema(value_type = BTreeMap<String, u32>)]
    types: BTreeMap<&'static str, u32>,
    index_uids: BTreeMap<String, u32>,
    #[schema(value_type = Object)]
    progress_trace: BTreeMap<String, String>,
}

impl BatchView {
    /// The batch of `task`, `None` while the task is enqueued (it has no batch yet).
    fn of(task: Task) -> Option<Self> {
        let started = task.started_at?;
        let duration = task
            .finished_at
            .and_then(|finished| iso8601_duration(started, finished));
        Some(Self {
            uid: task.uid,
            progress: None,
            details: task
                .details
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            stats: BatchStats {
                total_nb_tasks: 1,
                status: [(task.status.as_str(), 1)].into(),
                types: [(task.kind.as_str(), 1)].into(),
                index_uids: task.index_uid.into_iter().map(|uid| (uid, 1)).collect(),
                progress_trace: BTreeMap::new(),
            },
            duration,
            started_at: format_rfc3339(started),
            finished_at: task.finished_at.map(format_rfc3339),
            batch_strategy: STRATEGY,
        })
    }
}

/// The body of `GET /batches`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchList {
    results: Vec<BatchView>,
    total: u64,
    /// The page size applied: the requested `limit` (default 20), at most 1000.
    limit: u32,
    #[schema(value_type = Option<u64>)]
    from: Option<TaskUid>,
    #[schema(value_type = Option<u64>)]
    next: Option<TaskUid>,
}

/// List batches.
///
/// The batches of the tasks matching every filter (the filters of `GET /tasks`), newest first;
/// a task still `enqueued` has no batch yet. Each Miroir batch holds one task and has its uid.
#[utoipa::path(
    get,
    path = "/batches",
    tag = "tasks",
    params(query::TaskListParameters),
    responses(
        (status = 200, description = "One page of batches.", body = BatchList),
        (status = 400, description = "An unknown parameter or a bad value (`bad_request`, `invalid_task_*`)."),
    )
)]
pub(crate) async fn list_batches(
    State(state): State<AppState>,
    auth: ClientAuth,
    params: QueryParams,
) -> HttpResult<Json<BatchList>> {
    let mut query = query::parse(&params)?;
    // An enqueued task has no batch yet.
    query::only_statuses(
        &mut query,
        &[
            TaskStatus::Processing,
            TaskStatus::Succeeded,
            TaskStatus::Failed,
            TaskStatus::Canceled,
        ],
    );
    let TaskPage {
        results,
        total,
        next,
    } = state.store.list_tasks(&query).await?;
    Ok(Json(BatchList {
        from: results.first().map(|task| task.uid),
        results: results
            .into_iter()
            .filter(|task| crate::visible(&auth, task))
            .filter_map(BatchView::of)
            .collect(),
        total,
        limit: query.limit,
        next,
    }))
}

/// Get one batch.
#[utoipa::path(
    get,
    path = "/batches/{uid}",
    tag = "tasks",
    params(("uid" = u64, Path, description = "The batch uid (its task's uid).")),
    responses(
        (status = 200, description = "The batch.", body = BatchView),
        (status = 400, description = "The uid is not an integer (`invalid_batch_uids`)."),
        (status = 404, description = "No batch has this uid (`batch_not_found`)."),
    )
)]
pub(crate) async fn get_batch(
    State(state): State<AppState>,
    auth: ClientAuth,
    Path(uid): Path<String>,
) -> HttpResult<Json<BatchView>> {
    let parsed = uid.parse::<u64>().map_err(|_| {
        ApiError::new(
            Code::InvalidBatchUids,
            format!("Batch uid `{uid}` is invalid. It should only contain numeric characters."),
        )
    })?;
    state
        .store
        .get_task(parsed)
        .await?
        .filter(|task| crate::visible(&auth, task))
        .and_then(BatchView::of)
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(Code::BatchNotFound, format!("Batch `{parsed}` not found.")).into()
        })
}
