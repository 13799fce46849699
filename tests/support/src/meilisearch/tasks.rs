//! The task queue: every write is enqueued as a task with the node's own uid (0, 1, 2, …) and a
//! background processor runs them one at a time in uid order: `enqueued` → `processing`
//! (`startedAt`) → after the task delay, the change is applied → `succeeded` or `failed`
//! (`finishedAt`, `duration`). A failed task changes nothing.
//!
//! The processor only works while the node is up: a stopped node keeps its queue and resumes it
//! after a restart.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::apply::apply;
use super::clock::{iso8601_duration, now, rfc3339};
use super::documents::WriteMethod;
use super::error::ApiError;
use super::state::{Node, State};

/// A task's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskStatus {
    Enqueued,
    Processing,
    Succeeded,
    Failed,
}

impl TaskStatus {
    const ALL: [(&'static str, TaskStatus); 4] = [
        ("enqueued", TaskStatus::Enqueued),
        ("processing", TaskStatus::Processing),
        ("succeeded", TaskStatus::Succeeded),
        ("failed", TaskStatus::Failed),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, status)| *status == self)
            .map_or("enqueued", |(name, _)| name)
    }
}

/// The change a task makes when processed.
#[derive(Clone, Debug)]
pub(crate) enum Operation {
    /// `POST /indexes`.
    IndexCreation { primary_key: Option<String> },
    /// `PATCH /indexes/{uid}`.
    IndexUpdate { primary_key: Option<String> },
    /// `DELETE /indexes/{uid}`.
    IndexDeletion,
    /// `POST|PUT /indexes/{uid}/documents`.
    DocumentAddition {
        documents: Vec<Map<String, Value>>,
        primary_key: Option<String>,
        method: WriteMethod,
    },
    /// `DELETE …/documents/{id}` and `POST …/documents/delete-batch`.
    DocumentDeletionByIds { ids: Vec<String> },
    /// `POST …/documents/delete`.
    DocumentDeletionByFilter { filter: Value },
    /// `DELETE …/documents`.
    DocumentClear,
    /// `PATCH|DELETE …/settings` and the settings sub-routes.
    SettingsUpdate { update: Map<String, Value> },
}

/// The task types the node produces (and the others Meilisearch knows, accepted in filters).
const TASK_TYPES: &[&str] = &[
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "export",
    "upgradeDatabase",
    "indexCompaction",
];

impl Operation {
    fn task_type(&self) -> &'static str {
        match self {
            Self::IndexCreation { .. } => "indexCreation",
            Self::IndexUpdate { .. } => "indexUpdate",
            Self::IndexDeletion => "indexDeletion",
            Self::DocumentAddition { .. } => "documentAdditionOrUpdate",
            Self::DocumentDeletionByIds { .. }
            | Self::DocumentDeletionByFilter { .. }
            | Self::DocumentClear => "documentDeletion",
            Self::SettingsUpdate { .. } => "settingsUpdate",
        }
    }

    /// The details of the task while it is not finished.
    fn enqueued_details(&self) -> Value {
        match self {
            Self::IndexCreation { primary_key } | Self::IndexUpdate { primary_key } => {
                json!({"primaryKey": primary_key})
            }
            Self::IndexDeletion => json!({"deletedDocuments": null}),
            Self::DocumentAddition { documents, .. } => {
                json!({"receivedDocuments": documents.len(), "indexedDocuments": null})
            }
            Self::DocumentDeletionByIds { ids } => {
                json!({"providedIds": ids.len(), "deletedDocuments": null, "originalFilter": null})
            }
            Self::DocumentDeletionByFilter { filter } => json!({
                "providedIds": 0, "deletedDocuments": null, "originalFilter": filter.to_string()
            }),
            Self::DocumentClear => {
                json!({"providedIds": 0, "deletedDocuments": null, "originalFilter": null})
            }
            Self::SettingsUpdate { update } => Value::Object(update.clone()),
        }
    }
}

/// One task.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub(crate) uid: u64,
    pub(crate) index_uid: Option<String>,
    pub(crate) status: TaskStatus,
    task_type: &'static str,
    details: Value,
    error: Option<Value>,
    enqueued_at: OffsetDateTime,
    started_at: Option<OffsetDateTime>,
    pub(crate) finished_at: Option<OffsetDateTime>,
    /// The write's `customMetadata` query parameter (document routes only, as Meilisearch).
    custom_metadata: Option<String>,
    /// The change to make; taken when the task is processed.
    operation: Option<Operation>,
}

impl Task {
    /// The summarized task of an enqueue response.
    pub(crate) fn summary(&self) -> Value {
        let mut summary = json!({
            "taskUid": self.uid,
            "indexUid": self.index_uid,
            "status": self.status.name(),
            "type": self.task_type,
            "enqueuedAt": rfc3339(self.enqueued_at),
        });
        self.add_custom_metadata(&mut summary);
        summary
    }

    /// `"customMetadata"` last, and only when the write carried one (as Meilisearch shows it).
    fn add_custom_metadata(&self, object: &mut Value) {
        if let (Some(metadata), Value::Object(object)) = (&self.custom_metadata, object) {
            object.insert("customMetadata".to_owned(), Value::from(metadata.clone()));
        }
    }

    /// The task object of `GET /tasks/{uid}`.
    pub(crate) fn to_json(&self) -> Value {
        let duration = self
            .started_at
            .zip(self.finished_at)
            .map(|(started, finished)| iso8601_duration(started, finished));
        let mut task = json!({
            "uid": self.uid,
            "batchUid": self.started_at.map(|_| self.uid),
            "indexUid": self.index_uid,
            "status": self.status.name(),
            "type": self.task_type,
            "canceledBy": null,
            "details": self.details,
            "error": self.error,
            "duration": duration,
            "enqueuedAt": rfc3339(self.enqueued_at),
            "startedAt": self.started_at.map(rfc3339),
            "finishedAt": self.finished_at.map(rfc3339),
        });
        self.add_custom_metadata(&mut task);
        task
    }
}

impl State {
    /// Enqueues `operation` on index `index_uid` (with the write's `customMetadata`, if any) and
    /// returns the new task's summary. The caller wakes the processor.
    pub(crate) fn enqueue(
        &mut self,
        index_uid: &str,
        operation: Operation,
        custom_metadata: Option<String>,
    ) -> Value {
        let uid = self.next_task_uid;
        self.next_task_uid += 1;
        let task = Task {
            uid,
            index_uid: Some(index_uid.to_owned()),
            status: TaskStatus::Enqueued,
            task_type: operation.task_type(),
            details: operation.enqueued_details(),
            error: None,
            enqueued_at: now(),
            started_at: None,
            finished_at: None,
            custom_metadata,
            operation: Some(operation),
        };
        let summary = task.summary();
        self.tasks.insert(uid, task);
        summary
    }

    /// Marks the oldest enqueued task `processing`; its uid.
    fn start_next(&mut self) -> Option<u64> {
        let task = self
            .tasks
            .values_mut()
            .find(|task| task.status == TaskStatus::Enqueued)?;
        task.status = TaskStatus::Processing;
        task.started_at = Some(now());
        Some(task.uid)
    }

    /// Applies processing task `uid` (or fails it if `fail` or if its change is refused).
    fn finish(&mut self, uid: u64, fail: bool) {
        let Some(task) = self.tasks.get_mut(&uid) else {
            return;
        };
        let operation = task.operation.take();
        let index_uid = task.index_uid.clone().unwrap_or_default();
        let outcome = match operation {
            _ if fail => Err(ApiError::internal(
                "simulated internal error: the node fails its tasks (fail_tasks fault)",
            )),
            Some(operation) => apply(self, &index_uid, operation),
            None => Err(ApiError::internal("the task has no operation to apply")),
        };
        let finished_at = now();
        if outcome.is_ok() {
            if let Some(index) = self.indexes.get_mut(&index_uid) {
                index.updated_at = finished_at;
            }
        }
        let Some(task) = self.tasks.get_mut(&uid) else {
            return;
        };
        task.finished_at = Some(finished_at);
        match outcome {
            Ok(details) => {
                task.status = TaskStatus::Succeeded;
                if let Some(details) = details {
                    task.details = details;
                }
            }
            Err(error) => {
                task.status = TaskStatus::Failed;
                task.error = Some(error.to_json());
                zero_unfinished_counts(&mut task.details);
            }
        }
    }
}

/// A failed task reports 0 for the counts it never reached (`indexedDocuments`,
/// `deletedDocuments`), as Meilisearch does.
fn zero_unfinished_counts(details: &mut Value) {
    if let Value::Object(details) = details {
        for key in ["indexedDocuments", "deletedDocuments"] {
            if details.get(key).is_some_and(Value::is_null) {
                details.insert(key.to_owned(), json!(0));
            }
        }
    }
}

/// The processor: runs forever (until aborted), one task at a time.
pub(crate) async fn process(node: Arc<Node>) {
    loop {
        let next = if node.is_serving() {
            node.lock().start_next()
        } else {
            None
        };
        let Some(uid) = next else {
            node.wake.notified().await;
            continue;
        };
        tokio::time::sleep(node.faults.task_delay()).await;
        let fail = node.faults.fail_tasks();
        node.lock().finish(uid, fail);
        tracing::debug!(task_uid = uid, "task finished");
    }
}

/// `GET /tasks`: filters `uids`, `statuses`, `types`, `indexUids` (comma lists, `*` = any),
/// `afterEnqueuedAt` and `beforeEnqueuedAt` (RFC 3339, exclusive, as Meilisearch), `limit`
/// (default 20), `from`, `reverse`; newest first.
pub(crate) fn list(state: &State, params: &[(String, String)]) -> Result<Value, ApiError> {
    let mut uids: Option<Vec<u64>> = None;
    let mut statuses: Option<Vec<TaskStatus>> = None;
    let mut types: Option<Vec<String>> = None;
    let mut index_uids: Option<Vec<String>> = None;
    let mut limit = 20_usize;
    let mut from: Option<u64> = None;
    let mut reverse = false;
    let mut enqueued_after: Option<OffsetDateTime> = None;
    let mut enqueued_before: Option<OffsetDateTime> = None;
    for (name, value) in params {
        let items = || -> Option<Vec<&str>> {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            (!items.contains(&"*")).then_some(items)
        };
        match name.as_str() {
            "uids" => uids = items().map(|items| parse_uids(&items)).transpose()?,
            "statuses" => statuses = items().map(|items| parse_statuses(&items)).transpose()?,
            "types" => types = items().map(|items| parse_types(&items)).transpose()?,
            "indexUids" => {
                index_uids = items().map(|items| items.into_iter().map(str::to_owned).collect());
            }
            "limit" => limit = parse_number(value, "invalid_task_limit", "limit")?,
            "from" => from = Some(parse_number(value, "invalid_task_from", "from")?),
            "reverse" => reverse = value == "true",
            "afterEnqueuedAt" => enqueued_after = Some(parse_date(value, "afterEnqueuedAt")?),
            "beforeEnqueuedAt" => {
                enqueued_before = Some(parse_date(value, "beforeEnqueuedAt")?);
            }
            _ => {}
        }
    }
    let matching: Vec<&Task> = state
        .tasks
        .values()
        .filter(|task| uids.as_ref().is_none_or(|uids| uids.contains(&task.uid)))
        .filter(|task| {
            statuses
                .as_ref()
                .is_none_or(|statuses| statuses.contains(&task.status))
        })
        .filter(|task| {
            types
                .as_ref()
                .is_none_or(|types| types.iter().any(|wanted| wanted == task.task_type))
        })
        .filter(|task| enqueued_after.is_none_or(|after| task.enqueued_at > after))
        .filter(|task| enqueued_before.is_none_or(|before| task.enqueued_at < before))
        .filter(|task| {
            index_uids.as_ref().is_none_or(|index_uids| {
                task.index_uid
                    .as_ref()
                    .is_some_and(|uid| index_uids.contains(uid))
            })
        })
        .collect();
    let total = matching.len();
    let ordered: Vec<&Task> = if reverse {
        matching
            .into_iter()
            .filter(|task| from.is_none_or(|from| task.uid >= from))
            .collect()
    } else {
        matching
            .into_iter()
            .rev()
            .filter(|task| from.is_none_or(|from| task.uid <= from))
            .collect()
    };
    let page: Vec<Value> = ordered
        .iter()
        .take(limit)
        .map(|task| task.to_json())
        .collect();
    Ok(json!({
        "results": page,
        "total": total,
        "limit": limit,
        "from": ordered.first().map(|task| task.uid),
        "next": ordered.get(limit).map(|task| task.uid),
    }))
}

fn parse_number<T: std::str::FromStr>(value: &str, code: &str, name: &str) -> Result<T, ApiError> {
    value.trim().parse().map_err(|_| {
        ApiError::new(
            code,
            format!("Invalid value in parameter `{name}`: could not parse `{value}` as a positive integer"),
        )
    })
}

/// An RFC 3339 date of a date filter, or Meilisearch's `invalid_task_<name>` error.
fn parse_date(value: &str, name: &str) -> Result<OffsetDateTime, ApiError> {
    use time::format_description::well_known::Rfc3339;
    OffsetDateTime::parse(value.trim(), &Rfc3339).map_err(|_| {
        let snake: String = name
            .chars()
            .flat_map(|character| {
                let lower = character.to_ascii_lowercase();
                let underscore = character.is_ascii_uppercase().then_some('_');
                underscore.into_iter().chain([lower])
            })
            .collect();
        ApiError::new(
            format!("invalid_task_{snake}"),
            format!(
                "`{value}` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 \
                 date-time format."
            ),
        )
    })
}

fn parse_uids(items: &[&str]) -> Result<Vec<u64>, ApiError> {
    items
        .iter()
        .map(|item| {
            item.parse().map_err(|_| {
                ApiError::new(
                    "invalid_task_uids",
                    format!(
                        "Invalid value in parameter `uids`: could not parse `{item}` as a \
                         positive integer"
                    ),
                )
            })
        })
        .collect()
}

fn parse_statuses(items: &[&str]) -> Result<Vec<TaskStatus>, ApiError> {
    let mut statuses = Vec::new();
    for item in items {
        if *item == "canceled" {
            continue;
        }
        let Some((_, status)) = TaskStatus::ALL.iter().find(|(name, _)| name == item) else {
            return Err(ApiError::new(
                "invalid_task_statuses",
                format!(
                    "Invalid value in parameter `statuses`: `{item}` is not a valid task status. \
                     Available statuses are `enqueued`, `processing`, `succeeded`, `failed`, \
                     `canceled`."
                ),
            ));
        };
        statuses.push(*status);
    }
    Ok(statuses)
}

fn parse_types(items: &[&str]) -> Result<Vec<String>, ApiError> {
    for item in items {
        if !TASK_TYPES.contains(item) {
            let available: Vec<String> =
                TASK_TYPES.iter().map(|name| format!("`{name}`")).collect();
            return Err(ApiError::new(
                "invalid_task_types",
                format!(
                    "Invalid value in parameter `types`: `{item}` is not a valid task type. \
                     Available types are {}.",
                    available.join(", ")
                ),
            ));
        }
    }
    Ok(items.iter().map(|item| (*item).to_owned()).collect())
}
