//! Table 6, `jobs`: the work queue of background jobs (plan §14.5 Mode C).
//!
//! Life cycle: `enqueue` → queued → `claim_next` (exactly one worker) → in progress, kept alive by
//! `heartbeat` → `complete` or `fail` (back to queued after a backoff until `max_attempts`, then
//! failed). A claim whose lease runs out (crashed worker) is returned to the queue by
//! `reclaim_expired`, keeping its persisted `progress` so the next worker resumes from it.
//!
//! **Claim tokens.** Every successful claim gets a claim token (a fencing number) from one
//! counter of the store: a token is strictly greater than every token handed out before by that
//! store, to any job, whatever happened since (completion, failure, reclaim, `retry_job`,
//! `clear_all_rows`), and a copy carries the counter over ([`crate::CopyStore`]), so a token is
//! never handed out twice. Heartbeat, completion and failure carry the claim ([`JobClaim`]: job,
//! worker and token) and are refused unless the job is still in progress under exactly that
//! claim: two processes configured with the same worker name are told apart by their tokens, and
//! a worker whose claim expired and was taken over can no longer touch the job. A refused claim
//! is `Conflict`, as for a lease renewed by a stale holder (`Fenced` is what writes to other
//! tables made under a lease answer, and names the lease's scope). Because tokens grow across
//! jobs, later work can also fence a resource that successive jobs write (refuse a write carrying
//! a token older than the newest one the resource saw).

use std::collections::BTreeMap;
use std::fmt;
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
    /// Token of the current claim (in progress only): strictly greater than every claim token the
    /// store handed out before. `None` in every other state, and for a claim made by a binary of
    /// schema version 1 after the store was migrated to version 2 (such a claim can only be
    /// completed by that binary or run out).
    pub claim_token: Option<u64>,
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

impl Job {
    /// The claim the job is in progress under, to pass to [`JobStore::heartbeat_job`],
    /// [`JobStore::complete_job`] and [`JobStore::fail_job`]; `None` unless the job is in
    /// progress with a worker and a claim token.
    pub fn claim(&self) -> Option<JobClaim> {
        match (self.state, &self.claimed_by, self.claim_token) {
            (JobState::InProgress, Some(worker), Some(token)) => Some(JobClaim {
                job_id: self.id.clone(),
                worker: worker.clone(),
                token,
            }),
            _ => None,
        }
    }
}

/// The proof of holding a job's claim: what heartbeat, completion and failure carry. A store
/// operation taking a `JobClaim` changes nothing and answers `Conflict` unless the job is in
/// progress under exactly this worker and token, checked in the same atomic step as the write.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JobClaim {
    /// The claimed job.
    pub job_id: String,
    /// The worker the claim was made under (the name a process is configured with; two
    /// processes may share it).
    pub worker: String,
    /// The claim token the store handed out with the claim ([`Job::claim_token`]).
    pub token: u64,
}

impl fmt::Display for JobClaim {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "claim {} of `{}` on job `{}`",
            self.token, self.worker, self.job_id
        )
    }
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
    /// `worker` until now + `lease` under a new claim token (greater than every token the store
    /// handed out before), attempts + 1. Among racing callers each job goes to exactly one.
    /// `None` when nothing is claimable (no token is used up then).
    async fn claim_next_job(&self, worker: &str, lease: Duration) -> StoreResult<Option<Job>>;

    /// Extends the claim to now + `lease` and optionally replaces `progress`. `NotFound` if the
    /// job does not exist; `Conflict`, changing nothing, unless the job is in progress under
    /// exactly `claim` (worker and token): a worker whose claim expired and was reclaimed, or a
    /// second process configured with the same worker name, must stop.
    async fn heartbeat_job(
        &self,
        claim: &JobClaim,
        lease: Duration,
        progress: Option<serde_json::Value>,
    ) -> StoreResult<Job>;

    /// Marks the job completed (optionally with final progress) and ends the claim. `NotFound`
    /// or `Conflict` as [`JobStore::heartbeat_job`]: only the holder of the current claim
    /// completes a job, so a job is completed at most once per claim.
    async fn complete_job(
        &self,
        claim: &JobClaim,
        progress: Option<serde_json::Value>,
    ) -> StoreResult<Job>;

    /// Records a failed attempt and ends the claim: back to queued, claimable after
    /// `retry_after`, or failed for good once `attempts` reached `max_attempts`. `NotFound` or
    /// `Conflict` as [`JobStore::heartbeat_job`].
    async fn fail_job(
        &self,
        claim: &JobClaim,
        error: &str,
        retry_after: Duration,
    ) -> StoreResult<Job>;

    /// Returns in-progress jobs whose claim expired to the queue (or fails them when out of
    /// attempts), at most `batch` of them, ending their claims (their tokens are refused from
    /// then on). Progress is kept. Returns the ids handled.
    async fn reclaim_expired_jobs(&self, batch: u32) -> StoreResult<Vec<String>>;

    /// Puts a failed job back in the queue with its attempts reset (claim tokens are not: the
    /// next claim still gets a token greater than every earlier one). `Conflict` unless failed.
    async fn retry_job(&self, id: &str) -> StoreResult<Job>;

    /// Queued jobs per kind (kinds with none are absent). Read at every metrics scrape: Redis
    /// reads one counter hash kept by the job scripts (O(types)); SQLite counts the queued rows
    /// through the partial index of queued jobs (O(queued jobs), never the whole table).
    async fn job_queue_depth(&self) -> StoreResult<BTreeMap<JobKind, u64>>;
}
