//! `job-claimer`: a worker of a store's job queue, for the reliability suite's contention case,
//! which runs several of them against one queue and kills one with `SIGKILL`.
//!
//! It claims the oldest claimable job (`claim_next_job`), completes it at once (`complete_job`,
//! carrying the claim's token) and starts again. Every event is one line on stdout, flushed
//! before the next store call, so the lines the test read are what this worker did:
//!
//! - `claim <job id> <attempts> <claim token>`: the store gave this worker the job, as its claim
//!   number `attempts` (two claims of one job with the same number would be a double claim)
//!   under a claim token (two claims with the same token would be a token handed out twice);
//! - `done <job id>`: the store accepted the completion;
//! - `lost <job id>`: the store refused the completion with `Conflict`: the claim had been taken
//!   away (its lease ran out and the job was reclaimed), whatever the worker name of the claim
//!   that holds the job now;
//! - `reclaim <job id>`: this worker's `reclaim_expired_jobs` returned the job to the queue (or
//!   failed it for good when out of attempts);
//! - `abandoned`: with `--abandon-after N`, this worker claimed N jobs without completing any and
//!   now sleeps forever holding the claims (the test kills it, leaving orphans).
//!
//! When nothing is claimable it reclaims expired claims, and once the queue holds no queued and
//! no in-progress job for `--idle-exit-ms` it exits 0. A failed store call (other than a lost
//! claim) is reported on stderr and retried after `--poll-ms`.
//!
//! Several processes may be given the same `--worker` name (as two replicas configured with one
//! pod id would be): the store tells their claims apart by token.
//!
//! ```sh
//! job-claimer --store sqlite:///tmp/jobs.db --worker claimer-1 --lease-ms 1000
//! ```

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Parser;
use miroir_store::{DynStore, Job, JobClaim, JobQuery, JobState, StoreError};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "job-claimer",
    about = "Claims and completes jobs from a store's queue until it is empty"
)]
struct Args {
    /// Store URL (`sqlite://…`, `redis://…`).
    #[arg(long)]
    store: String,
    /// Worker name the claims are made under.
    #[arg(long)]
    worker: String,
    /// Lease of each claim, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    lease_ms: u64,
    /// Exit 0 once the queue has held no queued and no in-progress job for this long.
    #[arg(long, default_value_t = 500)]
    idle_exit_ms: u64,
    /// Most expired claims one `reclaim_expired_jobs` call returns to the queue.
    #[arg(long, default_value_t = 100)]
    reclaim_batch: u32,
    /// Pause when nothing is claimable, and before retrying a failed store call.
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Claim this many jobs without completing them, write `abandoned` and sleep forever.
    #[arg(long)]
    abandon_after: Option<u64>,
}

/// Where the event lines go: stdout, flushed after each line.
struct Events(std::io::StdoutLock<'static>);

impl Events {
    /// Writes `line` and a newline, flushed. An error means the reader is gone.
    fn line(&mut self, line: &str) -> std::io::Result<()> {
        self.0.write_all(format!("{line}\n").as_bytes())?;
        self.0.flush()
    }
}

/// How a completion ended.
enum Completion {
    /// The store marked the job completed for this worker.
    Done,
    /// The claim had been taken away.
    Lost,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let store = match miroir_store::open(&args.store).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("job-claimer: cannot open {}: {error}", args.store);
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut events = Events(std::io::stdout().lock());
    match run(&store, &args, &mut events).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader is gone: nobody can learn what this worker does any more.
        Err(_) => std::process::ExitCode::FAILURE,
    }
}

/// The claim loop; returns once the queue stayed empty for `--idle-exit-ms`.
async fn run(store: &DynStore, args: &Args, events: &mut Events) -> std::io::Result<()> {
    let lease = Duration::from_millis(args.lease_ms);
    let poll = Duration::from_millis(args.poll_ms);
    let idle_exit = Duration::from_millis(args.idle_exit_ms);
    let mut claims = 0_u64;
    let mut idle_since: Option<Instant> = None;
    loop {
        if args.abandon_after == Some(claims) {
            events.line("abandoned")?;
            let never: std::convert::Infallible = std::future::pending().await;
            match never {}
        }
        let job = match store.claim_next_job(&args.worker, lease).await {
            Ok(job) => job,
            Err(error) => {
                eprintln!("job-claimer {}: claim failed: {error}", args.worker);
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        let Some(job) = job else {
            if reclaim(store, args, events).await? {
                idle_since = None;
                continue;
            }
            match queue_is_empty(store).await {
                Ok(true) => {
                    if idle_since.get_or_insert_with(Instant::now).elapsed() >= idle_exit {
                        return Ok(());
                    }
                }
                Ok(false) => idle_since = None,
                Err(error) => {
                    eprintln!("job-claimer {}: queue not read: {error}", args.worker);
                }
            }
            tokio::time::sleep(poll).await;
            continue;
        };
        idle_since = None;
        claims += 1;
        let Some(claim) = job.claim() else {
            eprintln!(
                "job-claimer {}: job {} was claimed without a claim token",
                args.worker, job.id
            );
            continue;
        };
        events.line(&format!(
            "claim {} {} {}",
            job.id, job.attempts, claim.token
        ))?;
        if args.abandon_after.is_some() {
            // Held, never completed.
            continue;
        }
        match complete(store, &job, &claim, poll).await {
            Completion::Done => events.line(&format!("done {}", job.id))?,
            Completion::Lost => events.line(&format!("lost {}", job.id))?,
        }
    }
}

/// Returns expired claims to the queue and writes one `reclaim` line per job; true when there
/// was any.
async fn reclaim(store: &DynStore, args: &Args, events: &mut Events) -> std::io::Result<bool> {
    match store.reclaim_expired_jobs(args.reclaim_batch).await {
        Ok(ids) => {
            for id in &ids {
                events.line(&format!("reclaim {id}"))?;
            }
            Ok(!ids.is_empty())
        }
        Err(error) => {
            eprintln!("job-claimer {}: reclaim failed: {error}", args.worker);
            Ok(false)
        }
    }
}

/// True when no job is queued (whatever its `run_after`) and none is in progress.
async fn queue_is_empty(store: &DynStore) -> Result<bool, StoreError> {
    if store
        .job_queue_depth()
        .await?
        .values()
        .any(|&depth| depth > 0)
    {
        return Ok(false);
    }
    let in_progress = store
        .list_jobs(&JobQuery {
            state: Some(JobState::InProgress),
            limit: 1,
            ..JobQuery::default()
        })
        .await?;
    Ok(in_progress.jobs.is_empty())
}

/// Completes `job` under `claim`, retrying failed calls. After a failed call the completion may
/// have been applied without its answer arriving: a `Conflict` then only means a lost claim if
/// the job is not completed, or was claimed again since (its attempts moved on).
async fn complete(store: &DynStore, job: &Job, claim: &JobClaim, poll: Duration) -> Completion {
    let worker = &claim.worker;
    let mut uncertain = false;
    loop {
        match store.complete_job(claim, None).await {
            Ok(_) => return Completion::Done,
            Err(StoreError::Conflict(_)) if !uncertain => return Completion::Lost,
            Err(StoreError::Conflict(_)) => match store.get_job(&job.id).await {
                Ok(Some(current))
                    if current.state == JobState::Completed && current.attempts == job.attempts =>
                {
                    return Completion::Done;
                }
                Ok(_) => return Completion::Lost,
                Err(error) => {
                    eprintln!("job-claimer {worker}: job {} not read: {error}", job.id);
                }
            },
            Err(error) => {
                eprintln!(
                    "job-claimer {worker}: job {} not completed: {error}",
                    job.id
                );
                uncertain = true;
            }
        }
        tokio::time::sleep(poll).await;
    }
}
