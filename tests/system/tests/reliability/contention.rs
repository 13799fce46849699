//! Contention: four `job-claimer` processes race over one job queue, on SQLite and on Redis. One
//! of them claims a few jobs, never completes them and is killed with `SIGKILL`; the others claim
//! and complete everything, reclaiming the dead worker's claims once their lease ran out. Three
//! of the four (the killed one and two live ones) are configured with the same worker name, as
//! replicas given one pod id would be: the store tells their claims apart by claim token only.
//!
//! Afterwards, from the workers' output lines and the store:
//! - no double claim: the claims of one job carry distinct attempt numbers, as many as the store
//!   counted (`attempts`), and the one completion came from the process of the last claim;
//! - no claim token handed out twice, over all jobs, and a job's later claims have larger tokens;
//! - no lost job: every job enqueued is `completed`, exactly once (one `done` line), and no
//!   completion was refused (`lost`);
//! - orphans reclaimed: each job the killed worker held was returned to the queue, claimed again
//!   with a higher attempt number and completed by another worker.
//!
//! The killed worker's claims have a 1 s lease; the live workers' claims have a 10 s lease, far
//! longer than any claim-to-completion gap, so a reclaim can only take a dead worker's claim and
//! a `lost` line would mean the store took a live claim away.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use miroir_store::{Job, JobKind, JobQuery, JobState, NewJob};
use miroir_test_support::{shared_redis, unique_prefix};

use crate::{report, sized};

/// Worker processes, the first of which abandons its claims and is killed.
const PROCESSES: usize = 4;

/// The `--worker` name of each process: the killed one and two live ones share a name.
const WORKER_NAMES: [&str; PROCESSES] =
    ["claimer-twin", "claimer-twin", "claimer-twin", "claimer-3"];

/// Jobs the killed worker claims and never completes.
const ABANDONED: usize = 5;

/// Lease of the killed worker's claims: how long its orphans wait before they can be reclaimed.
const ORPHAN_LEASE: Duration = Duration::from_millis(1000);

/// Lease of the live workers' claims.
const WORKER_LEASE: Duration = Duration::from_secs(10);

/// How long a live worker waits on an empty queue before it exits.
const IDLE_EXIT: Duration = Duration::from_millis(500);

#[test]
fn sqlite_claims_each_job_once_and_reclaims_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let outcome = contend(&url);
    outcome.report("sqlite (WAL, synchronous=NORMAL)");
    outcome.assert_sound();
}

#[test]
fn redis_claims_each_job_once_and_reclaims_orphans() {
    let url = shared_redis().store_url(&unique_prefix("contention"), Duration::from_secs(2));
    let outcome = contend(&url);
    outcome.report("redis");
    outcome.assert_sound();
}

/// A `job-claimer` process, killed (and reaped) when dropped.
struct Claimer {
    child: Child,
    stderr: Option<JoinHandle<Vec<String>>>,
}

impl Drop for Claimer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line a worker wrote, or the end of its stdout.
enum Event {
    Line(usize, String),
    Closed(usize),
}

/// Enqueues the jobs, runs the workers to the end and collects what they said and what the store
/// holds.
fn contend(url: &str) -> Outcome {
    let jobs = PROCESSES * sized(500, 10_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(miroir_store::open(url)).unwrap();
    // What `miroir-migrate up` does, without building that binary in the test's profile.
    runtime.block_on(store.migrate()).unwrap();
    let enqueue_started = Instant::now();
    let enqueued: BTreeSet<String> = runtime.block_on(async {
        let mut ids = BTreeSet::new();
        for n in 0..jobs {
            let job = store
                .enqueue_job(NewJob {
                    kind: JobKind::Reindex,
                    params: serde_json::json!({ "n": n }),
                    max_attempts: 5,
                })
                .await
                .unwrap();
            ids.insert(job.id);
        }
        ids
    });
    assert_eq!(enqueued.len(), jobs, "enqueue returned duplicate ids");
    let enqueue_elapsed = enqueue_started.elapsed();

    let (sender, events) = mpsc::channel();
    let started = Instant::now();
    let mut claimers: Vec<Claimer> = (0..PROCESSES)
        .map(|index| spawn_claimer(url, index, &sender))
        .collect();
    drop(sender);

    let deadline = started + sized(Duration::from_secs(120), Duration::from_secs(900));
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); PROCESSES];
    let mut running = [true; PROCESSES];
    let mut killed = false;
    let mut last_done = started;
    while running.contains(&true) {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Line(index, line)) => {
                if index == 0 && line == "abandoned" {
                    claimers[0].child.kill().unwrap();
                    killed = true;
                }
                if line.starts_with("done ") {
                    last_done = Instant::now();
                }
                lines[index].push(line);
            }
            Ok(Event::Closed(index)) => running[index] = false,
            Err(_) => {
                let done: usize = lines
                    .iter()
                    .flatten()
                    .filter(|line| line.starts_with("done "))
                    .count();
                panic!(
                    "the workers did not finish within {:?}: {done} of {jobs} jobs done, still \
                     running (by index, 0 abandons): {running:?}, worker 0 abandoned and was \
                     killed: {killed}",
                    deadline - started
                );
            }
        }
    }
    let elapsed = last_done - started;

    let mut exits = Vec::new();
    let mut errors = Vec::new();
    for (index, claimer) in claimers.iter_mut().enumerate() {
        let status = claimer.child.wait().unwrap();
        if index > 0 {
            exits.push(status.success());
        }
        if let Some(stderr) = claimer.stderr.take() {
            errors.extend(stderr.join().unwrap());
        }
    }

    let stored = runtime.block_on(async {
        let mut stored = BTreeMap::new();
        let mut query = JobQuery {
            limit: 1000,
            ..JobQuery::default()
        };
        loop {
            let page = store.list_jobs(&query).await.unwrap();
            stored.extend(page.jobs.into_iter().map(|job| (job.id.clone(), job)));
            match page.next {
                Some(next) => query.from = Some(next),
                None => break stored,
            }
        }
    });

    Outcome::new(
        enqueued,
        stored,
        &lines,
        Run {
            killed,
            exits,
            errors,
            elapsed,
            enqueue_elapsed,
        },
    )
}

/// Starts worker `index` (0 abandons its claims) with threads forwarding its stdout lines to
/// `events` and collecting its stderr.
fn spawn_claimer(url: &str, index: usize, events: &mpsc::Sender<Event>) -> Claimer {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_job-claimer"));
    command
        .args(["--store", url, "--worker", WORKER_NAMES[index]])
        .args(["--idle-exit-ms", &IDLE_EXIT.as_millis().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if index == 0 {
        command
            .args(["--lease-ms", &ORPHAN_LEASE.as_millis().to_string()])
            .args(["--abandon-after", &ABANDONED.to_string()]);
    } else {
        command.args(["--lease-ms", &WORKER_LEASE.as_millis().to_string()]);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let events = events.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if events.send(Event::Line(index, line)).is_err() {
                return;
            }
        }
        let _ = events.send(Event::Closed(index));
    });
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text.lines().map(str::to_owned).collect()
    });
    Claimer {
        child,
        stderr: Some(stderr),
    }
}

/// How the run went, apart from the lines.
struct Run {
    /// The first worker wrote `abandoned` and was killed.
    killed: bool,
    /// Whether each live worker exited 0.
    exits: Vec<bool>,
    /// The workers' stderr lines (store calls that failed and were retried).
    errors: Vec<String>,
    /// From the start of the workers to the last `done` line.
    elapsed: Duration,
    /// Time taken to enqueue the jobs.
    enqueue_elapsed: Duration,
}

/// What the workers said and the store holds, checked.
struct Outcome {
    run: Run,
    jobs: usize,
    claims: usize,
    reclaims: usize,
    double_claims: usize,
    double_tokens: usize,
    lost: usize,
    orphans: usize,
    orphans_reclaimed: usize,
    /// `done` lines per worker.
    done_by: Vec<usize>,
    failures: Vec<String>,
}

impl Outcome {
    fn new(
        enqueued: BTreeSet<String>,
        stored: BTreeMap<String, Job>,
        lines: &[Vec<String>],
        run: Run,
    ) -> Self {
        let mut failures = Vec::new();
        // Per job: (worker, attempts) of each claim, worker of each `done`, `reclaim` lines;
        // per claim token: the (worker, job, attempts) it was handed out with.
        let mut claims: BTreeMap<&str, Vec<(usize, u32)>> = BTreeMap::new();
        let mut tokens: BTreeMap<u64, Vec<(usize, &str, u32)>> = BTreeMap::new();
        let mut dones: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut reclaimed: BTreeMap<&str, usize> = BTreeMap::new();
        let mut lost = 0;
        for (worker, worker_lines) in lines.iter().enumerate() {
            for line in worker_lines {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["claim", id, attempts, token] => {
                        let (Ok(attempts), Ok(token)) = (attempts.parse(), token.parse()) else {
                            failures.push(format!("worker {worker}: bad line `{line}`"));
                            continue;
                        };
                        claims.entry(id).or_default().push((worker, attempts));
                        tokens
                            .entry(token)
                            .or_default()
                            .push((worker, *id, attempts));
                    }
                    ["done", id] => dones.entry(id).or_default().push(worker),
                    ["reclaim", id] => *reclaimed.entry(id).or_default() += 1,
                    ["lost", id] => {
                        lost += 1;
                        failures.push(format!("worker {worker} lost its claim of job {id}"));
                    }
                    ["abandoned"] if worker == 0 => {}
                    _ => failures.push(format!("worker {worker}: unexpected line `{line}`")),
                }
            }
        }
        if !run.killed {
            failures.push("worker 0 never abandoned its claims (so was never killed)".to_owned());
        }
        if !run.exits.iter().all(|&success| success) {
            failures.push(format!(
                "a live worker did not exit 0 (exits: {:?})",
                run.exits
            ));
        }
        let stored_ids: BTreeSet<String> = stored.keys().cloned().collect();
        if stored_ids != enqueued {
            failures.push(format!(
                "the store holds {} jobs, {} enqueued ({} missing)",
                stored_ids.len(),
                enqueued.len(),
                enqueued.difference(&stored_ids).count()
            ));
        }
        for id in claims.keys().chain(dones.keys()).chain(reclaimed.keys()) {
            if !enqueued.contains(*id) {
                failures.push(format!("a worker named job {id}, which was never enqueued"));
            }
        }

        let mut double_claims = 0;
        let mut double_tokens = 0;
        for (token, holders) in &tokens {
            if holders.len() > 1 {
                double_tokens += 1;
                failures.push(format!("claim token {token} handed out twice: {holders:?}"));
            }
        }
        let mut job_tokens: BTreeMap<&str, Vec<(u32, u64)>> = BTreeMap::new();
        for (token, holders) in &tokens {
            for &(_, id, attempts) in holders {
                job_tokens.entry(id).or_default().push((attempts, *token));
            }
        }
        for (id, mut by_attempt) in job_tokens {
            by_attempt.sort_unstable();
            if !by_attempt.windows(2).all(|pair| pair[0].1 < pair[1].1) {
                failures.push(format!(
                    "job {id}: a later claim got a smaller token: (attempts, token) {by_attempt:?}"
                ));
            }
        }
        let mut orphans = 0;
        let mut orphans_reclaimed = 0;
        let empty = Vec::new();
        for id in &enqueued {
            let id = id.as_str();
            let job_claims = claims.get(id).unwrap_or(&empty);
            let job_dones = dones.get(id).map_or(&[][..], Vec::as_slice);
            let attempts: BTreeSet<u32> =
                job_claims.iter().map(|&(_, attempts)| attempts).collect();
            if attempts.len() != job_claims.len() {
                double_claims += 1;
                failures.push(format!(
                    "job {id} double claimed: (worker, attempts) {job_claims:?}"
                ));
            }
            match stored.get(id) {
                Some(job) => {
                    if job.state != JobState::Completed {
                        failures.push(format!("job {id} ended {:?}: {job:?}", job.state));
                    }
                    if usize::try_from(job.attempts).ok() != Some(job_claims.len()) {
                        failures.push(format!(
                            "job {id}: the store counted {} claims, the workers wrote {job_claims:?}",
                            job.attempts
                        ));
                    }
                }
                None => failures.push(format!("job {id} is missing from the store")),
            }
            if job_dones.len() != 1 {
                failures.push(format!(
                    "job {id} completed {} times (workers {job_dones:?})",
                    job_dones.len()
                ));
            }
            let last_claim = job_claims.iter().max_by_key(|&&(_, attempts)| attempts);
            if let (Some(&(claimer, _)), [completer]) = (last_claim, job_dones) {
                if claimer != *completer {
                    failures.push(format!(
                        "job {id} was completed by worker {completer}, its last claim was worker \
                     {claimer}'s: {job_claims:?}"
                    ));
                }
            }
            let Some(&(_, orphaned_at)) = job_claims.iter().find(|&&(worker, _)| worker == 0)
            else {
                continue;
            };
            orphans += 1;
            let claimed_again = job_claims
                .iter()
                .any(|&(worker, attempts)| worker != 0 && attempts > orphaned_at);
            let completed_elsewhere = matches!(job_dones, [worker] if *worker != 0);
            let returned = reclaimed.get(id).copied().unwrap_or(0) >= 1;
            if claimed_again && completed_elsewhere && returned {
                orphans_reclaimed += 1;
            } else {
                failures.push(format!(
                    "orphan {id} not recovered: reclaim lines {}, claims {job_claims:?}, done by \
                     {job_dones:?}",
                    reclaimed.get(id).copied().unwrap_or(0)
                ));
            }
        }
        if orphans != ABANDONED {
            failures.push(format!(
                "{orphans} jobs were claimed by the killed worker, not {ABANDONED}"
            ));
        }

        Self {
            run,
            jobs: enqueued.len(),
            claims: claims.values().map(Vec::len).sum(),
            reclaims: reclaimed.values().sum(),
            double_claims,
            double_tokens,
            lost,
            orphans,
            orphans_reclaimed,
            done_by: (0..lines.len())
                .map(|worker| dones.values().flatten().filter(|&&by| by == worker).count())
                .collect(),
            failures,
        }
    }

    fn report(&self, backend: &str) {
        let seconds = self.run.elapsed.as_secs_f64();
        report(&format!(
            "contention {backend}: {} jobs (enqueued in {:.1} s), {PROCESSES} processes (1 \
             SIGKILLed holding {ABANDONED} claims; worker names {WORKER_NAMES:?}), {seconds:.1} s \
             to the last completion, {:.0} jobs/s, {} claims (completions per worker {:?}), {} \
             double claims, {} claim tokens handed out twice, {} lost, {}/{} orphans reclaimed ({} \
             reclaims), {} store errors retried",
            self.jobs,
            self.run.enqueue_elapsed.as_secs_f64(),
            self.jobs as f64 / seconds.max(0.001),
            self.claims,
            self.done_by,
            self.double_claims,
            self.double_tokens,
            self.lost,
            self.orphans_reclaimed,
            self.orphans,
            self.reclaims,
            self.run.errors.len()
        ));
    }

    fn assert_sound(&self) {
        let shown: Vec<&String> = self.failures.iter().take(20).collect();
        let errors: Vec<&String> = self.run.errors.iter().take(10).collect();
        assert!(
            self.failures.is_empty(),
            "{} contention failures, first ones: {shown:#?}\nworker stderr, first lines: {errors:#?}",
            self.failures.len()
        );
    }
}
