//! The JSON shapes of the task routes.

use miroir_http::timefmt::{format_rfc3339, iso8601_duration};
use miroir_store::{NodeTaskMap, Task, TaskError, TaskPage, TaskStatus, TaskUid};
use serde::Serialize;
use utoipa::ToSchema;

/// A Meilisearch task object, fields in Meilisearch's order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Task)]
pub(crate) struct TaskView {
    #[schema(value_type = u64)]
    uid: TaskUid,
    /// Miroir's batch of a task is the task alone: its uid, once the task left `enqueued`.
    batch_uid: Option<u64>,
    index_uid: Option<String>,
    /// `enqueued`, `processing`, `succeeded`, `failed` or `canceled`.
    #[schema(value_type = String)]
    status: &'static str,
    /// The Meilisearch task type, such as `documentAdditionOrUpdate`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: &'static str,
    #[schema(value_type = Option<u64>)]
    canceled_by: Option<TaskUid>,
    /// Absent when the task has none, as in Meilisearch.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
    /// `{message, code, type, link}` when the task failed.
    #[schema(value_type = Option<Object>)]
    error: Option<TaskError>,
    /// ISO 8601 duration between start and finish.
    duration: Option<String>,
    /// RFC 3339 date.
    enqueued_at: String,
    /// RFC 3339 date.
    started_at: Option<String>,
    /// RFC 3339 date.
    finished_at: Option<String>,
    miroir: MiroirExtension,
}

/// The `miroir` extension field of a task object.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct MiroirExtension {
    /// Node id → the task uid on that node.
    #[schema(value_type = std::collections::BTreeMap<String, u64>, inline)]
    node_tasks: NodeTaskMap,
}

impl From<Task> for TaskView {
    fn from(task: Task) -> Self {
        let duration = match (task.started_at, task.finished_at) {
            (Some(started), Some(finished)) => iso8601_duration(started, finished),
            _ => None,
        };
        Self {
            uid: task.uid,
            batch_uid: (task.status != TaskStatus::Enqueued).then_some(task.uid),
            index_uid: task.index_uid,
            status: task.status.as_str(),
            kind: task.kind.as_str(),
            // Recorded when a cancelation is sent, shown once the task was canceled.
            canceled_by: task
                .canceled_by
                .filter(|_| task.status == TaskStatus::Canceled),
            details: task.details,
            error: task.error,
            duration,
            enqueued_at: format_rfc3339(task.enqueued_at),
            started_at: task.started_at.map(format_rfc3339),
            finished_at: task.finished_at.map(format_rfc3339),
            miroir: MiroirExtension {
                node_tasks: task.node_tasks,
            },
        }
    }
}

/// The body of `GET /tasks`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskList {
    results: Vec<TaskView>,
    total: u64,
    /// The page size applied: the requested `limit` (default 20), at most 1000.
    limit: u32,
    #[schema(value_type = Option<u64>)]
    from: Option<TaskUid>,
    #[schema(value_type = Option<u64>)]
    next: Option<TaskUid>,
}

impl TaskList {
    pub(crate) fn new(page: TaskPage, limit: u32) -> Self {
        Self {
            from: page.results.first().map(|task| task.uid),
            results: page.results.into_iter().map(TaskView::from).collect(),
            total: page.total,
            limit,
            next: page.next,
        }
    }
}
