//! A Miroir task's status from the node tasks it fanned out to (plan §3 "Task ID
//! reconciliation").
//!
//! - While any node task is unknown or not terminal: `processing` once any node started (or the
//!   task was already seen processing: a status never goes back), `enqueued` before.
//! - Once every node task is terminal: `failed` if any failed (the error of the first failed
//!   node, by node id, prefixed with that id), else `canceled` if every one was canceled, else
//!   `failed` with `miroir_task_partly_canceled` if some were canceled and others applied, else
//!   `succeeded`.
//! - `startedAt` is the earliest node start, `finishedAt` the latest node finish.
//! - Counts in `details` that Miroir did not know at acceptance (left `null` then) (`indexedDocuments`,
//!   `deletedDocuments`, …) are the node counts summed and divided by the number of copies each
//!   document has (`replication_factor × replica_groups`), so they count distinct documents.

use std::collections::BTreeMap;

use miroir_store::{Task, TaskError, TaskStatus, TaskUpdate, Timestamp};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::node::NodeTask;

/// What polling one node task produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Observed {
    /// The node answered with its task.
    Task(NodeTask),
    /// The node no longer knows the task (e.g. its data was reset): counted as failed.
    Lost,
    /// The node did not answer; its task is still unknown.
    Unknown,
}

/// The task after observing its node tasks. `copies` is how many nodes hold each document.
pub fn aggregate(task: &Task, observed: &BTreeMap<String, Observed>, copies: u64) -> TaskUpdate {
    let mut update = task.to_update();
    // A task without node tasks is still being fanned out: nothing to observe yet.
    if task.status.is_terminal() || task.node_tasks.is_empty() {
        return update;
    }
    let statuses: Vec<Option<TaskStatus>> = task
        .node_tasks
        .keys()
        .map(|node| match observed.get(node) {
            Some(Observed::Task(node_task)) => node_status(&node_task.status),
            Some(Observed::Lost) => Some(TaskStatus::Failed),
            Some(Observed::Unknown) | None => None,
        })
        .collect();
    let all_terminal = statuses
        .iter()
        .all(|status| status.is_some_and(TaskStatus::is_terminal));
    // A status never goes back: a task seen processing stays at least processing.
    let started = task.status == TaskStatus::Processing
        || statuses
            .iter()
            .any(|status| status.is_some_and(|status| status != TaskStatus::Enqueued));
    let node_tasks = || {
        observed
            .iter()
            .filter_map(|(node, observed)| match observed {
                Observed::Task(task) => Some((node, task)),
                _ => None,
            })
    };
    update.started_at = node_tasks()
        .filter_map(|(_, task)| task.started_at.as_deref().and_then(parse))
        .min()
        .or(update.started_at);
    update.status = if !all_terminal {
        if started {
            TaskStatus::Processing
        } else {
            TaskStatus::Enqueued
        }
    } else if statuses.contains(&Some(TaskStatus::Failed)) {
        TaskStatus::Failed
    } else if statuses
        .iter()
        .all(|status| *status == Some(TaskStatus::Canceled))
    {
        TaskStatus::Canceled
    } else if statuses.contains(&Some(TaskStatus::Canceled)) {
        // Canceled on some nodes after others had applied it: the write holds on some nodes
        // only, which is neither `succeeded` nor `canceled`.
        TaskStatus::Failed
    } else {
        TaskStatus::Succeeded
    };
    if update.status.is_terminal() {
        update.finished_at = node_tasks()
            .filter_map(|(_, task)| task.finished_at.as_deref().and_then(parse))
            .max()
            .or(Some(Timestamp::now()));
        update.started_at = update.started_at.or(update.finished_at);
        update.error = first_error(task, observed).or_else(|| partly_canceled(task, &statuses));
        update.details = summed_details(task.details.as_ref(), node_tasks(), copies);
    }
    update
}

/// The error of a task canceled on some nodes and applied on others (`statuses` in node order).
fn partly_canceled(task: &Task, statuses: &[Option<TaskStatus>]) -> Option<TaskError> {
    let nodes_with = |wanted: TaskStatus| {
        task.node_tasks
            .keys()
            .zip(statuses)
            .filter(|(_, status)| **status == Some(wanted))
            .map(|(node, _)| format!("`{node}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let canceled = nodes_with(TaskStatus::Canceled);
    let applied = nodes_with(TaskStatus::Succeeded);
    (!canceled.is_empty() && !applied.is_empty()).then(|| TaskError {
        message: format!(
            "The task was canceled on node(s) {canceled} but had already been applied on \
             node(s) {applied}: it holds on some nodes only. Send it again (or its reverse) to \
             make every node agree."
        ),
        code: "miroir_task_partly_canceled".to_owned(),
        error_type: "system".to_owned(),
        link: "https://docs.meilisearch.com/errors#miroir_task_partly_canceled".to_owned(),
    })
}

fn node_status(status: &str) -> Option<TaskStatus> {
    status.parse().ok()
}

fn parse(text: &str) -> Option<Timestamp> {
    let date = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(date.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .map(Timestamp::from_millis)
}

fn first_error(task: &Task, observed: &BTreeMap<String, Observed>) -> Option<TaskError> {
    task.node_tasks
        .keys()
        .find_map(|node| match observed.get(node)? {
            Observed::Task(node_task) if node_task.status == "failed" => {
                let error = node_task.error.as_ref();
                let text = |key: &str| {
                    error
                        .and_then(|error| error.get(key))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                let code = text("code").unwrap_or_else(|| "internal".to_owned());
                // Never the reserved `_miroir_shard` (e.g. in a refused deletion filter's list of
                // filterable attributes).
                let message = text("message").map_or_else(
                    || "the task failed".to_owned(),
                    |message| {
                        crate::node::relayed_message(&code, &message).unwrap_or_else(|| {
                            "the node refused Miroir's shard-scoped access to this index".to_owned()
                        })
                    },
                );
                Some(TaskError {
                    message: format!("node `{node}`: {message}"),
                    link: text("link")
                        .unwrap_or_else(|| format!("https://docs.meilisearch.com/errors#{code}")),
                    error_type: text("type").unwrap_or_else(|| "internal".to_owned()),
                    code,
                })
            }
            Observed::Lost => Some(TaskError {
                message: format!("node `{node}`: the node no longer knows this task"),
                code: "miroir_node_task_lost".to_owned(),
                error_type: "system".to_owned(),
                link: "https://docs.meilisearch.com/errors#miroir_node_task_lost".to_owned(),
            }),
            _ => None,
        })
}

fn summed_details<'a>(
    accepted: Option<&Value>,
    node_tasks: impl Iterator<Item = (&'a String, &'a NodeTask)>,
    copies: u64,
) -> Option<Value> {
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    for (_, task) in node_tasks {
        for (key, value) in task
            .details
            .as_ref()
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(count) = value.as_u64() {
                *sums.entry(key.clone()).or_default() += count;
            }
        }
    }
    let mut details = accepted.cloned()?;
    let object = details.as_object_mut()?;
    for (key, sum) in sums {
        // Only counts the accepted details left open (`null`): a node's own counts of other
        // things (e.g. the node tasks a node cancelation matched) are not Miroir's.
        if let Some(value @ Value::Null) = object.get_mut(&key) {
            *value = Value::from(sum / copies.max(1));
        }
    }
    Some(details)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use miroir_store::{NewTask, TaskKind};
    use serde_json::json;

    use super::*;

    fn task() -> Task {
        NewTask {
            index_uid: Some("movies".into()),
            kind: TaskKind::DocumentAdditionOrUpdate,
            status: TaskStatus::Enqueued,
            node_tasks: [("a".to_owned(), 1), ("b".to_owned(), 7)].into(),
            details: Some(json!({"receivedDocuments": 4, "indexedDocuments": null})),
            enqueued_at: Timestamp::from_millis(1_000),
        }
        .into_task(5)
    }

    fn node(status: &str, indexed: u64, started: &str, finished: Option<&str>) -> Observed {
        Observed::Task(NodeTask {
            uid: 1,
            status: status.into(),
            details: Some(json!({"receivedDocuments": indexed, "indexedDocuments": indexed})),
            error: (status == "failed").then(
                || json!({"message": "boom", "code": "internal", "type": "internal", "link": "l"}),
            ),
            started_at: Some(started.into()),
            finished_at: finished.map(str::to_owned),
        })
    }

    #[test]
    fn processing_until_every_node_is_terminal() {
        let observed = [
            (
                "a".to_owned(),
                node(
                    "succeeded",
                    4,
                    "1970-01-01T00:00:02Z",
                    Some("1970-01-01T00:00:03Z"),
                ),
            ),
            (
                "b".to_owned(),
                node("processing", 0, "1970-01-01T00:00:01Z", None),
            ),
        ]
        .into();
        let update = aggregate(&task(), &observed, 2);
        assert_eq!(update.status, TaskStatus::Processing);
        assert_eq!(update.started_at, Some(Timestamp::from_millis(1_000)));
        assert_eq!(update.finished_at, None);
        let unknown = [("a".to_owned(), Observed::Unknown)].into();
        assert_eq!(aggregate(&task(), &unknown, 2).status, TaskStatus::Enqueued);
    }

    #[test]
    fn succeeded_sums_counts_per_distinct_document() {
        let observed = [
            (
                "a".to_owned(),
                node(
                    "succeeded",
                    4,
                    "1970-01-01T00:00:02Z",
                    Some("1970-01-01T00:00:03Z"),
                ),
            ),
            (
                "b".to_owned(),
                node(
                    "succeeded",
                    4,
                    "1970-01-01T00:00:01Z",
                    Some("1970-01-01T00:00:04Z"),
                ),
            ),
        ]
        .into();
        let update = aggregate(&task(), &observed, 2);
        assert_eq!(update.status, TaskStatus::Succeeded);
        assert_eq!(
            update.details,
            Some(json!({"receivedDocuments": 4, "indexedDocuments": 4}))
        );
        assert_eq!(update.started_at, Some(Timestamp::from_millis(1_000)));
        assert_eq!(update.finished_at, Some(Timestamp::from_millis(4_000)));
        assert_eq!(update.error, None);
    }

    #[test]
    fn a_failed_node_fails_the_task_and_is_named() {
        let observed = [
            (
                "a".to_owned(),
                node(
                    "succeeded",
                    4,
                    "1970-01-01T00:00:02Z",
                    Some("1970-01-01T00:00:03Z"),
                ),
            ),
            (
                "b".to_owned(),
                node(
                    "failed",
                    0,
                    "1970-01-01T00:00:01Z",
                    Some("1970-01-01T00:00:04Z"),
                ),
            ),
        ]
        .into();
        let update = aggregate(&task(), &observed, 2);
        assert_eq!(update.status, TaskStatus::Failed);
        let error = update.error.unwrap();
        assert_eq!(error.message, "node `b`: boom");
        assert_eq!(error.code, "internal");
        let lost = [
            (
                "a".to_owned(),
                node(
                    "succeeded",
                    4,
                    "1970-01-01T00:00:02Z",
                    Some("1970-01-01T00:00:03Z"),
                ),
            ),
            ("b".to_owned(), Observed::Lost),
        ]
        .into();
        assert_eq!(aggregate(&task(), &lost, 2).status, TaskStatus::Failed);
    }

    #[test]
    fn canceled_only_when_every_node_canceled() {
        let done = Some("1970-01-01T00:00:03Z");
        let canceled = |node: &str| (node.to_owned(), node_status_only("canceled", done));
        let all: BTreeMap<_, _> = [canceled("a"), canceled("b")].into();
        let update = aggregate(&task(), &all, 1);
        assert_eq!(update.status, TaskStatus::Canceled);
        assert_eq!(update.error, None);
        // Counts the nodes never reported stay unknown.
        assert_eq!(
            update.details,
            Some(json!({"receivedDocuments": 4, "indexedDocuments": null}))
        );

        let applied = (
            "b".to_owned(),
            node("succeeded", 4, "1970-01-01T00:00:01Z", done),
        );
        let partly: BTreeMap<_, _> = [canceled("a"), applied].into();
        let update = aggregate(&task(), &partly, 1);
        assert_eq!(update.status, TaskStatus::Failed);
        let error = update.error.unwrap();
        assert_eq!(error.code, "miroir_task_partly_canceled");
        assert!(error.message.contains("node(s) `a`"), "{}", error.message);
        assert!(error.message.contains("node(s) `b`"), "{}", error.message);
    }

    #[test]
    fn only_open_counts_are_filled() {
        let mut task = task();
        task.details = Some(json!({"matchedTasks": 3, "canceledTasks": null}));
        let mut reported = node_status_only("succeeded", Some("1970-01-01T00:00:03Z"));
        if let Observed::Task(node_task) = &mut reported {
            node_task.details = Some(json!({"matchedTasks": 9, "canceledTasks": 6, "other": 1}));
        }
        let observed = [
            ("a".to_owned(), reported.clone()),
            ("b".to_owned(), reported),
        ]
        .into();
        let update = aggregate(&task, &observed, 2);
        assert_eq!(
            update.details,
            Some(json!({"matchedTasks": 3, "canceledTasks": 6}))
        );
    }

    fn node_status_only(status: &str, finished: Option<&str>) -> Observed {
        Observed::Task(NodeTask {
            uid: 1,
            status: status.into(),
            details: None,
            error: None,
            started_at: Some("1970-01-01T00:00:02Z".into()),
            finished_at: finished.map(str::to_owned),
        })
    }
}
