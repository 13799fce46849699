//! Table 6, `jobs`: the work queue of background jobs (plan §14.5 Mode C).
//!
//! Life cycle: `enqueue` → queued → `claim_next` (exactly one worker) → in progress, kept alive by
//! `heartbeat` → `complete` or `fail` (back to queued after a backoff until `max_attempts`, then
//! failed). A claim whose lease runs out (crashed worker) is returned to the queue by
//! `reclaim_expired`, keeping its persisted `progress` so the next worker resumes from it.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::time::Timestamp;

/// Job state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker (possibly not before `run_after`).
    Queued,
    /// Claimed by a worker whose lease ends at `claim_expires_at`.
    InProgress,
    /// Done.
    Completed,
    /// Gave up after `max_attempts`.
    Failed,
}

string_enum!(JobState, "job state", {
    Queued => "queued",
    InProgress => "in_progress",
    Completed => "completed",
    Failed => "failed",
});

/// Job type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Streaming dump import chunk.
    DumpImport,
    /// Reshard backfill chunk.
    ReshardBackfill,
    /// Copy an index into a new one, then flip an alias.
    Reindex,
}

string_enum!(JobKind, "job type", {
    DumpImport => "dump_import",
    ReshardBackfill => "reshard_backfill",
    Reindex => "reindex",
});

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Store-generated id (UUID v4).
    pub id: String,
    /// Job type.
    pub kind: JobKind,
    /// Type-specific parameters.
    pub params: serde_json::Value,
    /// Current state.
    pub state: JobState,
    /// Worker holding the claim (in progress only).
    pub claimed_by: Option<String>,
    /// End of the claim lease (in progress only).
    pub claim_expires_at: Option<Timestamp>,
    /// Progress cursor persisted by the worker.
    pub progress: serde_json::Value,
    /// Times the job has been claimed.
    pub attempts: u32,
    /// Claims allowed before the job fails for good.
    pub max_attempts: u32,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Not claimable before this instant (backoff).
    pub run_after: Timestamp,
    /// Enqueue time.
    pub created_at: Timestamp,
    /// Last state change or heartbeat.
    pub updated_at: Timestamp,
}

/// What a caller supplies to enqueue a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// Job type.
    pub kind: JobKind,
    /// Type-specific parameters.
    pub params: serde_json::Value,
    /// Claims allowed before failing for good (at least 1).
    pub max_attempts: u32,
}

/// Jobs [`JobStore::list_jobs`] examines in one call when it filters by type (or `limit`, when
/// larger): the bound on one call's work, whatever the size of the table.
pub const JOB_LIST_SCAN: u64 = 1000;

/// Filter and paging of [`JobStore::list_jobs`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this type.
    pub kind: Option<JobKind>,
    /// Start at this job (included), in enqueue order, whatever its state or type: the `next`
    /// of the previous page. `None` starts at the oldest job.
    pub from: Option<String>,
    /// Most jobs returned.
    pub limit: u64,
}

impl JobQuery {
    /// How many jobs of the index (the state's, or every job) one call examines: `limit`, or
    /// at least [`JOB_LIST_SCAN`] with a type filter (never more than `u32::MAX`).
    pub(crate) fn examined(&self) -> u64 {
        let limit = self.limit.min(u64::from(u32::MAX));
        match self.kind {
            Some(_) => limit.max(JOB_LIST_SCAN),
            None => limit,
        }
    }

    /// Builds a page from the jobs of the index starting at `from`, in order (at most
    /// [`JobQuery::examined`] + 1 of them): the first `limit` that match, and the id of the
    /// first job not examined as `next`. The Redis script `job_list.lua` does the same.
    #[cfg(feature = "sqlite")]
    pub(crate) fn page(&self, candidates: Vec<Job>) -> JobPage {
        let examined = usize::try_from(self.examined()).unwrap_or(usize::MAX);
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let mut page = JobPage::default();
        for (position, job) in candidates.into_iter().enumerate() {
            if page.jobs.len() == limit || position == examined {
                page.next = Some(job.id);
                break;
            }
            if self.kind.is_none_or(|kind| kind == job.kind) {
                page.jobs.push(job);
            }
        }
        page
    }
}

/// One page of [`JobStore::list_jobs`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobPage {
    /// The matching jobs, in enqueue order.
    pub jobs: Vec<Job>,
    /// Where the next page starts (pass it as [`JobQuery::from`]); `None` once every job of the
    /// index has been examined.
    pub next: Option<String>,
}

/// The job queue.
#[async_trait]
pub trait JobStore {
    /// Stores a queued job claimable immediately. `InvalidInput` if `max_attempts` is 0.
    async fn enqueue_job(&self, job: NewJob) -> StoreResult<Job>;

    /// The job, or `None`.
    async fn get_job(&self, id: &str) -> StoreResult<Option<Job>>;

    /// Jobs in enqueue order, of `query.state` and `query.kind` when given, from the job
    /// `query.from` on (`NotFound` if it does not exist). One call examines at most
    /// `query.limit` jobs of the state's index (of every job without a state), or
    /// `max(limit, JOB_LIST_SCAN)` with a type filter, so its cost does not grow with the table;
    /// a page filtered by type can therefore hold fewer than `limit` jobs while `next` is set.
    /// Paging by `next` visits every matching job once, in order (jobs enqueued meanwhile
    /// come last).
    async fn list_jobs(&self, query: &JobQuery) -> StoreResult<JobPage>;

    /// Claims the oldest queued job whose `run_after` has passed: state in progress, claimed by
    /// `worker` until now + `lease`, attempts + 1. Among racing callers each job goes to exactly
    /// one. `None` when nothing is claimable.
    async fn claim_next_job(&self, worker: &str, lease: Duration) -> StoreResult<Option<Job>>;

    /// Extends the claim to now + `lease` and optionally replaces `progress`. `Conflict` unless
    /// the job is in progress and claimed by `worker` (a reclaimed job's old worker must stop).
    async fn heartbeat_job(
        &self,
        id: &str,
        worker: &str,
        lease: Duration,
        progress: Option<serde_json::Value>,
    ) -> StoreResult<Job>;

    /// Marks the job completed (optionally with final progress). `Conflict` unless claimed by
    /// `worker`.
    async fn complete_job(
        &self,
        id: &str,
        worker: &str,
        progress: Option<serde_json::Value>,
    ) -> StoreResult<Job>;

    /// Records a failed attempt: back to queued, claimable after `retry_after`, or failed for
    /// good once `attempts` reached `max_attempts`. `Conflict` unless claimed by `worker`.
    async fn fail_job(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_after: Duration,
    ) -> StoreResult<Job>;

    /// Returns in-progress jobs whose claim expired to the queue (or fails them when out of
    /// attempts), at most `batch` of them. Progress is kept. Returns the ids handled.
    async fn reclaim_expired_jobs(&self, batch: u32) -> StoreResult<Vec<String>>;

    /// Puts a failed job back in the queue with its attempts reset. `Conflict` unless failed.
    async fn retry_job(&self, id: &str) -> StoreResult<Job>;

    /// Queued jobs per kind (kinds with none are absent). Read at every metrics scrape: Redis
    /// reads one counter hash kept by the job scripts (O(types)); SQLite counts the queued rows
    /// through the partial index of queued jobs (O(queued jobs), never the whole table).
    async fn job_queue_depth(&self) -> StoreResult<BTreeMap<JobKind, u64>>;
}
