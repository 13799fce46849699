//! The job worker (plan §14.5 Mode C): claims the oldest queued job, keeps its claim alive with a
//! heartbeat every third of `background.job_lease_ms` while it runs, and completes it, or fails
//! the attempt with a backoff (the store fails the job for good after `max_attempts`). A worker
//! that dies stops heartbeating; the pruner returns its job to the queue once the claim expired,
//! and the next worker resumes from the progress the job persisted ([`Claim::checkpoint`]).
//!
//! Every store call made for the job carries the claim's token ([`JobClaim`]), so the store
//! refuses it once the claim is gone, even when the job was claimed again under the same worker
//! name (two processes configured with one pod id, or this process after its claim expired): the
//! attempt then stops as [`JobError::Lost`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use miroir_http::metrics::BackgroundMetrics;
use miroir_store::{DynStore, Job, JobClaim, JobKind, StoreError, StoreResult};

use crate::job::{Claim, JobEnv, JobError};
use crate::reindex;

/// The worker name in metrics.
pub const WORKER: &str = "job_worker";

/// Longest backoff between two attempts of a failing job.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(300);

/// Claims the next job and runs it to its end, or until `deadline`. The job run, or `None`
/// when nothing was claimable. Heartbeat, completion and failure carry the claim's token: a
/// claim lost meanwhile (expired and taken over, by any worker name) is counted `lost` and the
/// job is left to its new claim.
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
    let Some(job_claim) = job.claim() else {
        return Err(StoreError::corrupt(
            "jobs",
            format_args!("job `{}` was claimed without a claim token", job.id),
        ));
    };
    tracing::info!(
        job = %job.id,
        kind = %job.kind,
        attempt = job.attempts,
        claim_token = job_claim.token,
        "claimed a job"
    );
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(heartbeat(
        env.store.clone(),
        job_claim.clone(),
        lease,
        lost.clone(),
    ));
    let claim = Claim {
        store: env.store.clone(),
        job: job.clone(),
        claim: job_claim.clone(),
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
        Ok(progress) => match env.store.complete_job(&job_claim, Some(progress)).await {
            Ok(_) => {
                tracing::info!(job = %job.id, "job completed");
                metrics.job(kind, "completed");
            }
            Err(StoreError::Conflict(_)) => metrics.job(kind, "lost"),
            Err(error) => return Err(error),
        },
        Err(JobError::Lost) => {
            tracing::warn!(
                job = %job.id,
                claim_token = job_claim.token,
                "job claim lost to another claim; stopped"
            );
            metrics.job(kind, "lost");
        }
        Err(JobError::OutOfTime) => {
            tracing::info!(job = %job.id, "out of time; the job resumes from its progress later");
            metrics.job(kind, "paused");
        }
        Err(JobError::Failed(error)) => {
            let backoff = retry_backoff(job.attempts);
            tracing::warn!(job = %job.id, %error, retry_in_s = backoff.as_secs(), "job attempt failed");
            match env.store.fail_job(&job_claim, &error, backoff).await {
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

/// Extends `claim` every third of `lease` until aborted; flags `lost` when the store says the
/// claim is gone.
async fn heartbeat(store: DynStore, claim: JobClaim, lease: Duration, lost: Arc<AtomicBool>) {
    let mut interval = tokio::time::interval(lease / 3);
    interval.tick().await;
    loop {
        interval.tick().await;
        match store.heartbeat_job(&claim, lease, None).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => {
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(error) => {
                tracing::warn!(job = %claim.job_id, %error, "job heartbeat failed; retrying");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use miroir_store::NewJob;
    use serde_json::json;

    use super::*;

    /// The runner's view of `job`'s claim.
    fn runner_claim(store: &DynStore, job: &Job, lease: Duration) -> Claim {
        Claim {
            store: store.clone(),
            job: job.clone(),
            claim: job.claim().expect("a claimed job"),
            lease,
            lost: Arc::new(AtomicBool::new(false)),
            deadline: None,
        }
    }

    /// Two processes configured with the same pod id: the first one's claim expires and the job
    /// is claimed again under the same name. The first runner's checkpoint is refused as `Lost`
    /// (saving nothing) and the second one's goes through.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_runner_whose_claim_was_taken_under_the_same_name_is_lost() {
        let store = miroir_store::open("sqlite::memory:").await.expect("open");
        store.migrate().await.expect("migrate");
        let job = store
            .enqueue_job(NewJob {
                kind: JobKind::Reindex,
                params: json!({}),
                max_attempts: 3,
            })
            .await
            .expect("enqueue");
        let short = Duration::from_millis(50);
        let first = store
            .claim_next_job("pod-a", short)
            .await
            .expect("claim")
            .expect("a job");
        let first = runner_claim(&store, &first, short);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            store.reclaim_expired_jobs(10).await.expect("reclaim"),
            vec![job.id.clone()]
        );
        let second = store
            .claim_next_job("pod-a", Duration::from_secs(60))
            .await
            .expect("claim")
            .expect("the job again");
        let second = runner_claim(&store, &second, Duration::from_secs(60));
        assert_eq!(first.claim().worker, second.claim().worker);
        assert!(second.claim().token > first.claim().token);

        assert!(matches!(
            first.checkpoint(json!({"from": "first"})).await,
            Err(JobError::Lost)
        ));
        second
            .checkpoint(json!({"from": "second"}))
            .await
            .expect("the current claim saves");
        let saved = store.get_job(&job.id).await.expect("get").expect("the job");
        assert_eq!(saved.progress, json!({"from": "second"}));
    }

    #[test]
    fn retry_backoff_doubles_up_to_five_minutes() {
        assert_eq!(retry_backoff(1), Duration::from_secs(2));
        assert_eq!(retry_backoff(3), Duration::from_secs(8));
        assert_eq!(retry_backoff(40), MAX_RETRY_BACKOFF);
    }
}
