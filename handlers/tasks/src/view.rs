//! The JSON shapes of the task routes.

use miroir_http::timefmt::{format_rfc3339, iso8601_duration};
use miroir_store::{NodeTaskMap, Task, TaskError, TaskPage, TaskUid};
use serde::Serialize;

/// A Meilisearch task object, fields in Meilisearch's order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskView {
    uid: TaskUid,
    /// Miroir has no batches of its own.
    batch_uid: Option<u64>,
    index_uid: Option<String>,
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    canceled_by: Option<TaskUid>,
    /// Absent when the task has none, as in Meilisearch.
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<serde_json::Value>,
    error: Option<TaskError>,
    duration: Option<String>,
    enqueued_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    miroir: MiroirExtension,
}

/// The `miroir` extension field of a task object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MiroirExtension {
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
            batch_uid: None,
            index_uid: task.index_uid,
            status: task.status.as_str(),
            kind: task.kind.as_str(),
            canceled_by: task.canceled_by,
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
#[derive(Debug, Serialize)]
pub(crate) struct TaskList {
    results: Vec<TaskView>,
    total: u64,
    limit: u32,
    from: Option<TaskUid>,
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
