//! What a job's code sees of the job it runs ([`Claim`], [`JobEnv`]) and how an attempt stops
//! ([`JobError`]): shared by the worker that claims jobs ([`crate::worker`]) and the job types it
//! runs ([`crate::reindex`]), so neither depends on the other's internals.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use miroir_core::Config;
use miroir_core::cluster::Cluster;
use miroir_store::{DynStore, Job, JobClaim, StoreError};
use serde_json::Value;

/// Why a job attempt stopped before completing.
#[derive(Debug)]
pub enum JobError {
    /// The claim was lost (it expired and the job was claimed again, by another worker or under
    /// the same worker name; the store refused the claim's token): stop at once.
    Lost,
    /// The worker's time is up (the scheduled function's budget): the progress is saved and the
    /// job resumes from it once its claim expires.
    OutOfTime,
    /// The attempt failed; the job is retried after a backoff.
    Failed(String),
}

impl From<StoreError> for JobError {
    /// `Conflict` (the store refused the claim) is `Lost`; any other error fails the attempt.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(_) => Self::Lost,
            other => Self::Failed(format!("task store: {other}")),
        }
    }
}

/// A claimed job, as its runner sees it: where to save progress. Every write it makes carries the
/// claim's token and is refused once the claim is gone.
#[derive(Debug)]
pub struct Claim {
    pub(crate) store: DynStore,
    pub(crate) job: Job,
    pub(crate) claim: JobClaim,
    pub(crate) lease: Duration,
    /// Set by the worker's heartbeat when the store refused the claim.
    pub(crate) lost: Arc<AtomicBool>,
    pub(crate) deadline: Option<Instant>,
}

impl Claim {
    /// The job as claimed (its `progress` is where the previous attempt stopped).
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The claim (worker and token) the job is held under.
    pub fn claim(&self) -> &JobClaim {
        &self.claim
    }

    /// Persists `progress` and extends the claim, in one store call that is refused (nothing
    /// saved) unless the job is still in progress under this claim. `Lost` if the claim is gone
    /// (another claim owns the job now, whatever its worker name), `OutOfTime` (after saving)
    /// once the deadline passed.
    pub async fn checkpoint(&self, progress: Value) -> Result<(), JobError> {
        self.store
            .heartbeat_job(&self.claim, self.lease, Some(progress))
            .await?;
        self.check()
    }

    /// `Lost` if the heartbeat found the claim gone, `OutOfTime` past the deadline.
    pub fn check(&self) -> Result<(), JobError> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(JobError::Lost);
        }
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return Err(JobError::OutOfTime);
        }
        Ok(())
    }
}

/// Everything a job runner may use.
#[derive(Clone, Copy, Debug)]
pub struct JobEnv<'a> {
    /// The store.
    pub store: &'a DynStore,
    /// The fleet.
    pub cluster: &'a Cluster,
    /// The configuration.
    pub config: &'a Config,
}
