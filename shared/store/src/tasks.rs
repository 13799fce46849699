//! Table 1, `tasks`: the Miroir task registry. A row is a Meilisearch task object whose status is
//! the aggregate of the node tasks it fanned out to.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::leases::Fence;
use crate::time::Timestamp;

/// A task uid: allocated by the store, unique across replicas, never reused.
pub type TaskUid = u64;

/// Meilisearch task status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TaskStatus {
    /// Accepted, no node has started it.
    Enqueued,
    /// At least one node is working on it.
    Processing,
    /// Every node succeeded.
    Succeeded,
    /// A node failed it.
    Failed,
    /// Canceled before completion.
    Canceled,
}

/// Meilisearch task type (`type` in the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TaskKind {
    /// Documents added or updated.
    DocumentAdditionOrUpdate,
    /// Documents edited by function.
    DocumentEdition,
    /// Documents deleted (by id, batch, filter or all).
    DocumentDeletion,
    /// Index settings changed.
    SettingsUpdate,
    /// Index created.
    IndexCreation,
    /// Index deleted.
    IndexDeletion,
    /// Index primary key or uid changed.
    IndexUpdate,
    /// Indexes swapped.
    IndexSwap,
    /// Tasks canceled.
    TaskCancelation,
    /// Tasks deleted.
    TaskDeletion,
    /// Dump created.
    DumpCreation,
    /// Snapshot created.
    SnapshotCreation,
    /// Export to another instance.
    Export,
    /// Database upgraded.
    UpgradeDatabase,
    /// Index compacted.
    IndexCompaction,
    /// Network topology changed (Meilisearch's sharding; accepted in filters, never created).
    NetworkTopologyChange,
    /// Dynamic search rules updated (accepted in filters, never created).
    DsrUpdate,
    /// Dynamic search rules cleared (accepted in filters, never created).
    DsrClear,
}

string_enum!(TaskStatus, "task status", {
    Enqueued => "enqueued",
    Processing => "processing",
    Succeeded => "succeeded",
    Failed => "failed",
    Canceled => "canceled",
});

string_enum!(TaskKind, "task type", {
    DocumentAdditionOrUpdate => "documentAdditionOrUpdate",
    DocumentEdition => "documentEdition",
    DocumentDeletion => "documentDeletion",
    SettingsUpdate => "settingsUpdate",
    IndexCreation => "indexCreation",
    IndexDeletion => "indexDeletion",
    IndexUpdate => "indexUpdate",
    IndexSwap => "indexSwap",
    TaskCancelation => "taskCancelation",
    TaskDeletion => "taskDeletion",
    DumpCreation => "dumpCreation",
    SnapshotCreation => "snapshotCreation",
    Export => "export",
    UpgradeDatabase => "upgradeDatabase",
    IndexCompaction => "indexCompaction",
    NetworkTopologyChange => "networkTopologyChange",
    DsrUpdate => "dsrUpdate",
    DsrClear => "dsrClear",
});

impl TaskStatus {
    /// Succeeded, failed and canceled tasks never change again.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

/// A Meilisearch error object as carried by a failed task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// Human-readable message.
    pub message: String,
    /// Snake-case error code.
    pub code: String,
    /// `invalid_request`, `internal`, `auth` or `system`.
    #[serde(rename = "type")]
    pub error_type: String,
    /// Documentation link.
    pub link: String,
}

/// Per-node Meilisearch task uids: `{node_id: node_task_uid}`.
pub type NodeTaskMap = BTreeMap<String, u64>;

/// A task as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Store-allocated uid.
    pub uid: TaskUid,
    /// Index the task acts on (`None` for global tasks such as swaps or dumps).
    pub index_uid: Option<String>,
    /// Meilisearch task type.
    pub kind: TaskKind,
    /// Aggregate status.
    pub status: TaskStatus,
    /// The node tasks this task fanned out to.
    pub node_tasks: NodeTaskMap,
    /// Type-specific details (`receivedDocuments`, `primaryKey`, …).
    pub details: Option<serde_json::Value>,
    /// Error of a failed task.
    pub error: Option<TaskError>,
    /// Uid of the cancelation task that canceled this one.
    pub canceled_by: Option<TaskUid>,
    /// When Miroir accepted the task.
    pub enqueued_at: Timestamp,
    /// When the first node started it.
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal status.
    pub finished_at: Option<Timestamp>,
}

/// What a caller supplies to create a task; the store allocates the uid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// Index the task acts on.
    pub index_uid: Option<String>,
    /// Meilisearch task type.
    pub kind: TaskKind,
    /// Initial status (normally `Enqueued`).
    pub status: TaskStatus,
    /// The node tasks already created.
    pub node_tasks: NodeTaskMap,
    /// Type-specific details.
    pub details: Option<serde_json::Value>,
    /// Acceptance time.
    pub enqueued_at: Timestamp,
}

/// The mutable part of a task, written as a whole by [`TaskStore::update_task`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskUpdate {
    /// New aggregate status.
    pub status: TaskStatus,
    /// New node task map.
    pub node_tasks: NodeTaskMap,
    /// New details.
    pub details: Option<serde_json::Value>,
    /// New error.
    pub error: Option<TaskError>,
    /// Cancelation task uid.
    pub canceled_by: Option<TaskUid>,
    /// Start time.
    pub started_at: Option<Timestamp>,
    /// Finish time.
    pub finished_at: Option<Timestamp>,
}

impl NewTask {
    /// The task as stored right after creation under `uid`.
    pub fn into_task(self, uid: TaskUid) -> Task {
        Task {
            uid,
            index_uid: self.index_uid,
            kind: self.kind,
            status: self.status,
            node_tasks: self.node_tasks,
            details: self.details,
            error: None,
            canceled_by: None,
            enqueued_at: self.enqueued_at,
            started_at: None,
            finished_at: None,
        }
    }
}

impl Task {
    /// The mutable part of this task, to modify and pass to [`TaskStore::update_task`].
    pub fn to_update(&self) -> TaskUpdate {
        TaskUpdate {
            status: self.status,
            node_tasks: self.node_tasks.clone(),
            details: self.details.clone(),
            error: self.error.clone(),
            canceled_by: self.canceled_by,
            started_at: self.started_at,
            finished_at: self.finished_at,
        }
    }
}

/// An optional time window; both bounds are exclusive, as Meilisearch's `afterX`/`beforeX`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Only rows strictly after this instant.
    pub after: Option<Timestamp>,
    /// Only rows strictly before this instant.
    pub before: Option<Timestamp>,
}

impl TimeRange {
    /// True when neither bound is set.
    pub fn is_unbounded(&self) -> bool {
        self.after.is_none() && self.before.is_none()
    }

    /// True when `value` lies inside the window (a missing value matches only an unbounded window).
    pub fn contains(&self, value: Option<Timestamp>) -> bool {
        if self.is_unbounded() {
            return true;
        }
        let Some(value) = value else { return false };
        self.after.is_none_or(|after| value > after)
            && self.before.is_none_or(|before| value < before)
    }
}

/// The filters and paging of `GET /tasks`. `None` filters match everything; an empty list
/// matches nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskQuery {
    /// Only these uids.
    pub uids: Option<Vec<TaskUid>>,
    /// Only these statuses.
    pub statuses: Option<Vec<TaskStatus>>,
    /// Only these types.
    pub kinds: Option<Vec<TaskKind>>,
    /// Only these indexes.
    pub index_uids: Option<Vec<String>>,
    /// Window on `enqueued_at`.
    pub enqueued: TimeRange,
    /// Window on `started_at` (tasks never started do not match a bounded window).
    pub started: TimeRange,
    /// Window on `finished_at` (unfinished tasks do not match a bounded window).
    pub finished: TimeRange,
    /// Cursor: the first uid of the page (inclusive). Newest-first pages go down from it,
    /// `reverse` pages go up from it.
    pub from: Option<TaskUid>,
    /// Page size (at least 1 is meaningful; 0 returns only `total`).
    pub limit: u32,
    /// Oldest first instead of newest first.
    pub reverse: bool,
}

impl Default for TaskQuery {
    fn default() -> Self {
        Self {
            uids: None,
            statuses: None,
            kinds: None,
            index_uids: None,
            enqueued: TimeRange::default(),
            started: TimeRange::default(),
            finished: TimeRange::default(),
            from: None,
            limit: 20,
            reverse: false,
        }
    }
}

impl TaskQuery {
    /// True when `task` passes every filter (paging ignored). The backends use indexes; this is
    /// the reference the conformance suite compares them with.
    pub fn matches(&self, task: &Task) -> bool {
        self.uids
            .as_ref()
            .is_none_or(|uids| uids.contains(&task.uid))
            && self
                .statuses
                .as_ref()
                .is_none_or(|statuses| statuses.contains(&task.status))
            && self
                .kinds
                .as_ref()
                .is_none_or(|kinds| kinds.contains(&task.kind))
            && self.index_uids.as_ref().is_none_or(|indexes| {
                task.index_uid
                    .as_ref()
                    .is_some_and(|index| indexes.contains(index))
            })
            && self.enqueued.contains(Some(task.enqueued_at))
            && self.started.contains(task.started_at)
            && self.finished.contains(task.finished_at)
    }
}

/// One page of [`TaskStore::list_tasks`].
#[derive(Clone, Debug, PartialEq)]
pub struct TaskPage {
    /// Matching tasks in page order.
    pub results: Vec<Task>,
    /// How many tasks match the filters, regardless of `from` and `limit`.
    pub total: u64,
    /// The `from` of the next page, `None` at the end.
    pub next: Option<TaskUid>,
}

/// The task registry.
#[async_trait]
pub trait TaskStore {
    /// Allocates a fresh uid (greater than every uid this store ever handed out, including pruned
    /// ones) and stores the task. Concurrent calls from any number of replicas get distinct uids.
    async fn create_task(&self, task: NewTask) -> StoreResult<Task>;

    /// The task, or `None` if it does not exist (or was pruned).
    async fn get_task(&self, uid: TaskUid) -> StoreResult<Option<Task>>;

    /// Replaces the mutable fields of a task atomically.
    ///
    /// `NotFound` if the task does not exist; `Conflict` if it is already terminal and `update`
    /// would change it (terminal tasks are final). Writing an identical terminal state is a no-op.
    async fn update_task(&self, uid: TaskUid, update: TaskUpdate) -> StoreResult<Task>;

    /// [`TaskStore::update_task`] as a compare-and-set: applied only if the task's status and
    /// node tasks are still those of `seen` (the task as the caller read it), in the same atomic
    /// step; else `Conflict`, and nothing changes. For writers working from a read that may be
    /// stale (the poller), so node tasks recorded meanwhile are never overwritten.
    async fn update_task_if(
        &self,
        uid: TaskUid,
        seen: &Task,
        update: TaskUpdate,
    ) -> StoreResult<Task>;

    /// A page of tasks matching `query`, newest first (or oldest first with `reverse`), served
    /// from indexes without scanning the table.
    async fn list_tasks(&self, query: &TaskQuery) -> StoreResult<TaskPage>;

    /// Deletes one task whatever its status, from every index; `false` if it did not exist. Its
    /// uid is never handed out again. Used to withdraw a task nobody was told about (a lost
    /// idempotency race).
    async fn delete_task(&self, uid: TaskUid) -> StoreResult<bool>;

    /// Number of stored tasks (O(1)).
    async fn count_tasks(&self) -> StoreResult<u64>;

    /// Deletes up to `batch` terminal tasks enqueued before `enqueued_before`, oldest enqueued
    /// first (the order of tasks enqueued in the same millisecond is unspecified). Never deletes
    /// an enqueued or processing task. Walks a time index: a batch costs what it deletes plus the
    /// old unfinished tasks it steps over, not the size of the registry. Returns how many were
    /// deleted.
    ///
    /// With a `fence`, the delete happens only if no token newer than the fence's has been issued
    /// for its scope, checked atomically with the delete: otherwise `Fenced` and nothing is
    /// deleted (a paused former leader cannot prune on a stale view).
    async fn prune_tasks(
        &self,
        enqueued_before: Timestamp,
        batch: u32,
        fence: Option<&Fence>,
    ) -> StoreResult<u64>;
}
