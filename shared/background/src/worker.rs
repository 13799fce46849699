//! The job worker (plan §14.5 Mode C): claims the oldest queued job, keeps its claim alive with a
//! heartbeat every third of `background.job_lease_ms` while it runs, and completes it, or fails
//! the attempt with a backoff (the store fails the job for good after `max_attempts`). A worker
//! that dies stops heartbeating; the pruner returns its job to the queue once the claim expired,
//! and the next worker resumes from the progress the job persisted ([`Claim::checkpoint`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use miroir_core::Config;
use miroir_core::cluster::Cluster;
use miroir_http::metrics::BackgroundMetrics;
use miroir_store::{DynStore, Job, JobKind, StoreError, StoreResult};
use serde_json::Value;

use crate::reindex;

/// The worker name in metrics.
pub const WORKER: &str = "job_worker";

/// Longest backoff between two attempts of a failing job.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(300);

/// Why a job attempt stopped before completing.
#[derive(Debug)]
pub enum JobError {
    /// The claim was lost (it expired and another worker took the job): stop at once.
    Lost,
    /// The worker's time is up (the scheduled function's budget): the progress is saved and the
    /// job resumes from it once its claim expires.
    OutOfTime,
    /// The attempt failed; the job is retried after a backoff.
    Failed(String),
}

impl From<StoreError> for JobError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(_) => Self::Lost,
            other => Self::Failed(format!("task store: {other}")),
        }
    }
}

/// A claimed job, as its runner sees it: where to save progress.
#[derive(Debug)]
pub struct Claim {
    store: DynStore,
    job: Job,
    worker: String,
    lease: Duration,
    lost: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl Claim {
    /// The job as claimed (its `progress` is where the previous attempt stopped).
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// Persists `progress` and extends the claim. `Lost` if another worker owns the job now,
    /// `OutOfTime` (after saving) once the deadline passed.
    pub async fn checkpoint(&self, progress: Value) -> Result<(), JobError> {
        self.store
            .heartbeat_job(&self.job.id, &self.worker, self.lease, Some(progress))
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

/// Claims the next job and runs it to its end, or until `deadline`. The job run, or `None`
/// when nothing was claimable.
pub async fn run_next(
    env: JobEnv<'_>,
    worker: &str,
    metrics: &BackgroundMetrics,
    deadline: Option<Instant>,
) -> StoreResult<Option<Job>> {
    let lease = Duration::from_millis(env.config.background.job_lease_ms);
    let Some(job) = env.store.claim_next_job(worker, lease).await? else {
        return Ok(None);
    };
    tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempts, "claimed a job");
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(heartbeat(
        env.store.clone(),
        job.id.clone(),
        worker.to_owned(),
        lease,
        lost.clone(),
    ));
    let claim = Claim {
        store: env.store.clone(),
        job: job.clone(),
        worker: worker.to_owned(),
        lease,
        lost,
        deadline,
    };
    let result = match job.kind {
        JobKind::Reindex => reindex::run(env, &claim).await,
        other => Err(JobError::Failed(format!(
            "no worker runs `{other}` jobs in this version"
        ))),
    };
    heartbeat.abort();
    let kind = job.kind.as_str();
    match result {
        Ok(progress) => {
            match env
                .store
                .complete_job(&job.id, worker, Some(progress))
                .await
            {
                Ok(_) => {
                    tracing::info!(job = %job.id, "job completed");
                    metrics.job(kind, "completed");
                }
                Err(StoreError::Conflict(_)) => metrics.job(kind, "lost"),
                Err(error) => return Err(error),
            }
        }
        Err(JobError::Lost) => {
            tracing::warn!(job = %job.id, "job claim lost to another worker; stopped");
            metrics.job(kind, "lost");
        }
        Err(JobError::OutOfTime) => {
            tracing::info!(job = %job.id, "out of time; the job resumes from its progress later");
            metrics.job(kind, "paused");
        }
        Err(JobError::Failed(error)) => {
            let backoff = retry_backoff(job.attempts);
            tracing::warn!(job = %job.id, %error, retry_in_s = backoff.as_secs(), "job attempt failed");
            match env.store.fail_job(&job.id, worker, &error, backoff).await {
                Ok(_) => metrics.job(kind, "failed_attempt"),
                Err(StoreError::Conflict(_)) => metrics.job(kind, "lost"),
                Err(error) => return Err(error),
            }
        }
    }
    env.store.get_job(&job.id).await
}

/// 2^attempts seconds, at most [`MAX_RETRY_BACKOFF`].
fn retry_backoff(attempts: u32) -> Duration {
    Duration::from_secs(1_u64 << attempts.min(16)).min(MAX_RETRY_BACKOFF)
}

/// Extends the claim every third of `lease` until aborted; flags `lost` when the store says the
/// claim is gone.
async fn heartbeat(
    store: DynStore,
    id: String,
    worker: String,
    lease: Duration,
    lost: Arc<AtomicBool>,
) {
    let mut interval = tokio::time::interval(lease / 3);
    interval.tick().await;
    loop {
        interval.tick().await;
        match store.heartbeat_job(&id, &worker, lease, None).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => {
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(error) => tracing::warn!(job = %id, %error, "job heartbeat failed; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_backoff_doubles_up_to_five_minutes() {
        assert_eq!(retry_backoff(1), Duration::from_secs(2));
        assert_eq!(retry_backoff(3), Duration::from_secs(8));
        assert_eq!(retry_backoff(40), MAX_RETRY_BACKOFF);
    }
}
