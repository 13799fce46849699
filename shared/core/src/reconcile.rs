//! Finding, on the nodes, the node tasks of a Miroir task whose writer recorded none: the
//! writer may have died after the nodes accepted the write (between the fan-out and the
//! recording), so "no node task recorded" does not mean "nothing was written".
//!
//! Every document write carries its task's [`TaskMarker`] (`customMetadata=miroir-<uid>`).
//! `GET /tasks` cannot filter by it, so each node of the topology is asked for its tasks of the
//! task's index and type enqueued in a bounded window around the task's `enqueued_at`
//! ([`window`]), oldest first, at most [`MAX_PAGES`] pages of [`PAGE`], each call bounded by the
//! node timeout; the node task whose `customMetadata` is the marker is the write's.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use futures::stream;
use miroir_store::{Task, Timestamp};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cluster::Cluster;
use crate::marker::{TaskMarker, kind_takes_marker};
use crate::node::encode_path_segment;
use crate::routing::Node;

/// How far a node's clock may be from this process's: the window starts this long before the
/// task's `enqueued_at` and ends this long after its latest possible fan-out.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Node tasks asked for per page.
pub const PAGE: u32 = 500;

/// Pages read per node at most; a window holding more is inconclusive for that node.
pub const MAX_PAGES: u32 = 8;

/// Nodes asked at the same time.
const CONCURRENCY: usize = 16;

/// What the nodes hold of a task's write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Node id → uid of the node task carrying the task's marker.
    pub found: BTreeMap<String, u64>,
    /// Nodes that could not say (no answer, an error, or a window larger than
    /// [`MAX_PAGES`] × [`PAGE`]): they may hold the write.
    pub unanswered: Vec<String>,
}

impl Reconciliation {
    /// True when every node answered: `found` is then everything the nodes hold of the write.
    pub fn is_conclusive(&self) -> bool {
        self.unanswered.is_empty()
    }
}

/// The enqueue-time window a write of `task` can have reached the nodes in: from
/// [`CLOCK_SKEW`] before the task was created to `fan_out_within` + [`CLOCK_SKEW`] after (the
/// writer fans out right after creating the task; the poller treats a task as orphaned only
/// `fan_out_within` after its creation).
pub fn window(task: &Task, fan_out_within: Duration) -> (Timestamp, Timestamp) {
    (
        task.enqueued_at.minus(CLOCK_SKEW),
        task.enqueued_at.plus(fan_out_within).plus(CLOCK_SKEW),
    )
}

/// Asks every node of the topology for the node task carrying `task`'s marker (see the module
/// docs). `None` when writes of this task's kind carry no marker (or it has no index): the
/// nodes cannot be asked.
pub async fn find_marked_node_tasks(
    cluster: &Cluster,
    task: &Task,
    fan_out_within: Duration,
) -> Option<Reconciliation> {
    if !kind_takes_marker(task.kind) {
        return None;
    }
    let index_uid = task.index_uid.as_deref()?;
    let marker = TaskMarker::for_task(task.uid);
    let (after, before) = window(task, fan_out_within);
    let query = format!(
        "/tasks?indexUids={}&types={}&afterEnqueuedAt={}&beforeEnqueuedAt={}&reverse=true&limit={PAGE}",
        encode_path_segment(index_uid),
        task.kind.as_str(),
        rfc3339(after),
        rfc3339(before),
    );
    let marker = &marker;
    let query = &query;
    // By node index, not `&Node`: a stream over borrowed items makes the future not `Send`
    // for every lifetime, which a spawned background loop needs.
    let answers: Vec<(String, Result<Option<u64>, String>)> =
        stream::iter(0..cluster.topology().nodes().len())
            .map(|index| async move {
                let node = cluster.topology().node(index);
                (
                    node.id.clone(),
                    search_node(cluster, node, query, marker).await,
                )
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
    let mut reconciliation = Reconciliation::default();
    for (node, answer) in answers {
        match answer {
            Ok(Some(uid)) => {
                reconciliation.found.insert(node, uid);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%node, task = task.uid, %error, "a node could not be searched for a write's marker");
                reconciliation.unanswered.push(node);
            }
        }
    }
    reconciliation.unanswered.sort();
    Some(reconciliation)
}

/// One page of a node's `GET /tasks`, the fields the search needs.
#[derive(Debug, Deserialize)]
struct TaskPage {
    results: Vec<MarkedTask>,
    next: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MarkedTask {
    uid: u64,
    #[serde(default)]
    custom_metadata: Option<String>,
}

/// The uid of `node`'s task carrying `marker` in the window of `query`: `Ok(None)` when the
/// node answered every page and none has it, `Err` when it did not answer or the window is
/// longer than [`MAX_PAGES`].
async fn search_node(
    cluster: &Cluster,
    node: &Node,
    query: &str,
    marker: &TaskMarker,
) -> Result<Option<u64>, String> {
    let mut from: Option<u64> = None;
    for _ in 0..MAX_PAGES {
        let path = match from {
            Some(from) => format!("{query}&from={from}"),
            None => query.to_owned(),
        };
        let page: TaskPage = cluster
            .client()
            .get(node, &path)
            .await
            .map_err(|error| error.to_string())?;
        if let Some(task) = page
            .results
            .iter()
            .find(|task| task.custom_metadata.as_deref() == Some(marker.as_str()))
        {
            return Ok(Some(task.uid));
        }
        match page.next {
            Some(next) => from = Some(next),
            None => return Ok(None),
        }
    }
    Err(format!(
        "more than {} tasks in the window",
        u64::from(MAX_PAGES) * u64::from(PAGE)
    ))
}

/// `moment` as RFC 3339 in UTC with milliseconds, as `afterEnqueuedAt` takes it.
fn rfc3339(moment: Timestamp) -> String {
    let nanos = i128::from(moment.as_millis()) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|date| date.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_bounds_are_rfc3339_utc() {
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_796_000_000_123)),
            "2026-11-30T00:53:20.123Z"
        );
    }
}
