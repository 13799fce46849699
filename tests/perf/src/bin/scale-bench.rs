//! `scale-bench`: the task registry at scale, through a real `miroir` process, next to raw store
//! calls measured in the same run on the same machine.
//!
//! For each backend (`--backend sqlite`, `redis` or `both`):
//!
//! 1. A fresh store (SQLite file in a temporary directory; a `redis-server` started on loopback
//!    without persistence), migrated by `miroir-migrate up`, seeded with `--small` finished tasks
//!    through the copy API (`CopyStore::import_rows`, the path `miroir-migrate copy` uses).
//! 2. `miroir` (release, background work off so nothing changes the registry) is started; its
//!    idle RSS is read from `/proc/<pid>/status` one second later.
//! 3. `GET /tasks?limit=20` and `GET /tasks/{uid}` through `miroir` with `wrk`, and the same
//!    reads as raw store calls (`list_tasks` with limit 20, `get_task`) from `--connections`
//!    concurrent tokio tasks in this process: requests/s, p50, p99.
//! 4. The store is grown to `--large` tasks and step 3 is repeated: the p99 of
//!    `GET /tasks?limit=20` at `--large` over the one at `--small` is the scale ratio (goal ≤ 1.5).
//!    Redis: `used_memory` per task at both sizes, next to the task's JSON size.
//! 5. Prune: `miroir` restarts with background work on and `task_registry.ttl_seconds` of one
//!    day (every seeded task finished 30 days ago), otherwise Miroir's defaults (`--prune-batch`
//!    1000 per store call, at most 10 calls per 1 s tick), and `GET /tasks?limit=20` is measured
//!    with `wrk` for `--duration-secs` while it prunes: p99 during the prune next to the idle p99
//!    of step 4, and the tasks pruned per second in that window (a window longer than the prune
//!    would mix in idle time: the table says how many were pruned).
//!
//! Prints a Markdown table per backend and nproc. Needs `wrk` and, for Redis, `redis-server`.
//!
//! Run from the workspace root:
//!
//! ```sh
//! cargo build --release -p miroir-edge -p miroir-migrate && cargo run --release -p miroir-perf --bin scale-bench
//! ```

// A benchmark program: printing its results on stdout is its purpose.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use miroir_perf::net::{free_addr, wait_for_200};
use miroir_perf::wrk::{Load, Wrk};
use miroir_perf::{Binaries, ChildGuard, Result, migrate};
use miroir_store::{
    CopyRow, DynStore, NodeTaskMap, Task, TaskKind, TaskQuery, TaskStatus, Timestamp,
};
use miroir_test_support::{RedisServer, Reply};

/// Tasks imported per `import_rows` call.
const SEED_CHUNK: u64 = 10_000;
/// The warm-up before each measured `wrk` run.
const WARM_UP: Duration = Duration::from_secs(2);
/// How long ago the seeded tasks finished (past the prune step's one-day TTL).
const SEEDED_AGE: Duration = Duration::from_secs(30 * 86_400);

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "scale-bench",
    about = "GET /tasks at 10k and 1M stored tasks, pruning under load, RSS and Redis bytes per task"
)]
struct Args {
    /// Which store(s).
    #[arg(long, value_enum, default_value_t = Backends::Both)]
    backend: Backends,
    /// Tasks stored for the first measurement.
    #[arg(long, default_value_t = 10_000)]
    small: u64,
    /// Tasks stored for the second measurement (and pruned in the last).
    #[arg(long, default_value_t = 1_000_000)]
    large: u64,
    /// Seconds of each measured run.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Open connections (wrk -c) and concurrent raw store callers.
    #[arg(long, default_value_t = 16)]
    connections: u32,
    /// wrk threads (wrk -t).
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// `task_registry.prune_batch` of the prune step (Miroir's default: 1000 tasks per store
    /// call, at most 10 calls per background tick of 1 s).
    #[arg(long, default_value_t = 1000)]
    prune_batch: u32,
    /// `--miroir` and `--migrate`.
    #[command(flatten)]
    binaries: Binaries,
}

/// The `--backend` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backends {
    /// Embedded SQLite.
    Sqlite,
    /// One Redis server.
    Redis,
    /// Both, one after the other.
    Both,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("scale-bench: {error}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<()> {
    args.binaries.check()?;
    if args.small == 0 || args.large <= args.small {
        return Err("--large must be larger than --small, both above 0".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let nproc = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "{} then {} finished tasks; `wrk -t{} -c{} -d{}s --latency` after a {}s warm-up; raw \
         store calls from {} concurrent tokio tasks in the bench process; nproc {nproc} (client, \
         miroir and store share the machine).",
        args.small,
        args.large,
        args.threads,
        args.connections,
        args.duration_secs,
        WARM_UP.as_secs(),
        args.connections
    );
    if matches!(args.backend, Backends::Sqlite | Backends::Both) {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
        bench_backend(args, &runtime, "SQLite", &url, None)?;
    }
    if matches!(args.backend, Backends::Redis | Backends::Both) {
        let server = RedisServer::start()?;
        let url = server.store_url("scale", Duration::from_secs(2));
        bench_backend(args, &runtime, "Redis", &url, Some(&server))?;
    }
    Ok(())
}

/// What one size measured.
struct AtSize {
    tasks: u64,
    list: Load,
    raw_list: Load,
    get: Load,
    raw_get: Load,
    redis_bytes_per_task: Option<f64>,
}

fn bench_backend(
    args: &Args,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    url: &str,
    redis: Option<&RedisServer>,
) -> Result<()> {
    migrate(&args.binaries.migrate, url)?;
    let store = runtime.block_on(miroir_store::open(url))?;
    let base_memory = redis.map(used_memory).transpose()?;
    let wrk = Wrk {
        threads: args.threads.max(1),
        connections: args.connections.max(args.threads.max(1)),
    };
    let duration = Duration::from_secs(args.duration_secs.max(1));
    let now = Timestamp::now();
    let read_only = [("MIROIR_BACKGROUND__ENABLED", "false")];

    let mut sizes = Vec::new();
    let mut idle_rss = 0;
    let mut seeded = 0;
    for target in [args.small, args.large] {
        eprintln!("scale-bench: {name}: seeding to {target} tasks…");
        runtime.block_on(seed(&store, seeded, target, now))?;
        seeded = target;
        let bytes = match (redis, base_memory) {
            (Some(server), Some(base)) => {
                Some((used_memory(server)? - base) as f64 / target as f64)
            }
            _ => None,
        };
        let (mut miroir, addr) = start_miroir(&args.binaries.miroir, url, &read_only)?;
        if target == args.small {
            std::thread::sleep(Duration::from_secs(1));
            idle_rss = rss_kib(&miroir)?;
        }
        let middle = target / 2;
        eprintln!("scale-bench: {name}: {target} tasks, wrk and raw calls…");
        let list = measure(wrk, addr, "/tasks?limit=20", duration)?;
        let get = measure(wrk, addr, &format!("/tasks/{middle}"), duration)?;
        miroir.check_alive()?;
        drop(miroir);
        let query = TaskQuery {
            limit: 20,
            ..TaskQuery::default()
        };
        let raw_list = runtime.block_on(raw_load(&store, args.connections, duration, {
            move |store: DynStore| {
                let query = query.clone();
                async move { store.list_tasks(&query).await.map(|_| ()) }
            }
        }))?;
        let raw_get = runtime.block_on(raw_load(
            &store,
            args.connections,
            duration,
            move |store: DynStore| async move { store.get_task(middle).await.map(|_| ()) },
        ))?;
        sizes.push(AtSize {
            tasks: target,
            list,
            raw_list,
            get,
            raw_get,
            redis_bytes_per_task: bytes,
        });
    }

    eprintln!(
        "scale-bench: {name}: pruning {} tasks under load…",
        args.large
    );
    let (prune_load, pruned) = {
        let batch = args.prune_batch.to_string();
        let prune = [
            ("MIROIR_TASK_REGISTRY__TTL_SECONDS", "86400"),
            ("MIROIR_TASK_REGISTRY__PRUNE_BATCH", batch.as_str()),
        ];
        let before = runtime.block_on(store.count_tasks())?;
        let (mut miroir, addr) = start_miroir(&args.binaries.miroir, url, &prune)?;
        let load = Wrk::run(wrk, &format!("http://{addr}/tasks?limit=20"), duration)?;
        miroir.check_alive()?;
        drop(miroir);
        let after = runtime.block_on(store.count_tasks())?;
        (load, before.saturating_sub(after))
    };

    let [small, large] = &sizes[..] else {
        unreachable!("two sizes measured")
    };
    println!();
    println!("**{name}**");
    println!();
    println!("| Measure | miroir | raw store call | miroir / raw |");
    println!("|---|---:|---:|---:|");
    for size in &sizes {
        row(
            &format!("`GET /tasks?limit=20`, {} tasks", size.tasks),
            size.list,
            size.raw_list,
        );
        row(
            &format!("`GET /tasks/{{uid}}`, {} tasks", size.tasks),
            size.get,
            size.raw_get,
        );
    }
    println!();
    println!("| Measure | value | baseline | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| `GET /tasks?limit=20` p99, {} vs {} tasks | {:.3} ms | {:.3} ms | {:.2} (goal ≤ 1.5) |",
        large.tasks,
        small.tasks,
        large.list.p99_ms,
        small.list.p99_ms,
        large.list.p99_ms / small.list.p99_ms
    );
    println!(
        "| `GET /tasks?limit=20` p99 while pruning (batch {}: {pruned} pruned in {}s, {:.0}/s) vs \
         idle | {:.3} ms | {:.3} ms | {:.2} |",
        args.prune_batch,
        duration.as_secs(),
        pruned as f64 / duration.as_secs_f64(),
        prune_load.p99_ms,
        large.list.p99_ms,
        prune_load.p99_ms / large.list.p99_ms
    );
    println!(
        "| `GET /tasks?limit=20` requests/s while pruning vs idle | {:.0} | {:.0} | {:.2} |",
        prune_load.requests_per_sec,
        large.list.requests_per_sec,
        prune_load.requests_per_sec / large.list.requests_per_sec
    );
    println!("| `miroir` idle RSS after start | {} KiB | | |", idle_rss);
    let task_json = serde_json::to_vec(&seeded_task(1, now))?.len();
    for size in &sizes {
        if let Some(bytes) = size.redis_bytes_per_task {
            println!(
                "| Redis `used_memory` per task, {} tasks | {bytes:.0} B | {task_json} B (task JSON) | {:.2} |",
                size.tasks,
                bytes / task_json as f64
            );
        }
    }
    Ok(())
}

fn row(measure: &str, miroir: Load, raw: Load) {
    println!(
        "| {measure} requests/s | {:.0} | {:.0} | {:.2} |",
        miroir.requests_per_sec,
        raw.requests_per_sec,
        miroir.requests_per_sec / raw.requests_per_sec
    );
    println!(
        "| {measure} p50 / p99 | {:.3} / {:.3} ms | {:.3} / {:.3} ms | {:.2} / {:.2} |",
        miroir.p50_ms,
        miroir.p99_ms,
        raw.p50_ms,
        raw.p99_ms,
        miroir.p50_ms / raw.p50_ms,
        miroir.p99_ms / raw.p99_ms
    );
}

/// The task stored under `uid`: finished [`SEEDED_AGE`] ago, like a real documents task.
fn seeded_task(uid: u64, now: Timestamp) -> Task {
    let enqueued = now.minus(SEEDED_AGE).plus(Duration::from_millis(uid));
    Task {
        uid,
        index_uid: Some(format!("index-{}", uid % 16)),
        kind: TaskKind::DocumentAdditionOrUpdate,
        status: TaskStatus::Succeeded,
        node_tasks: NodeTaskMap::from([
            ("meili-0".to_owned(), uid),
            ("meili-1".to_owned(), uid),
            ("meili-2".to_owned(), uid),
        ]),
        details: Some(serde_json::json!({"receivedDocuments": 100, "indexedDocuments": 100})),
        error: None,
        canceled_by: None,
        enqueued_at: enqueued,
        started_at: Some(enqueued.plus(Duration::from_millis(5))),
        finished_at: Some(enqueued.plus(Duration::from_millis(40))),
    }
}

/// Imports tasks `from + 1 ..= to` and raises the uid sequence past them.
async fn seed(store: &DynStore, from: u64, to: u64, now: Timestamp) -> Result<()> {
    let mut next = from + 1;
    while next <= to {
        let end = (next + SEED_CHUNK - 1).min(to);
        let rows: Vec<CopyRow> = (next..=end)
            .map(|uid| CopyRow::Task(seeded_task(uid, now)))
            .collect();
        store.import_rows(&rows).await?;
        next = end + 1;
    }
    store.raise_task_sequence(to).await?;
    Ok(())
}

/// `miroir` over `url` with `env`, ready on a free port.
fn start_miroir(
    binary: &Path,
    url: &str,
    env: &[(&str, &str)],
) -> Result<(ChildGuard, std::net::SocketAddr)> {
    let addr = free_addr()?;
    let mut child = ChildGuard::spawn(
        "miroir",
        Command::new(binary)
            .env("MIROIR_TASK_STORE_URL", url)
            .env("MIROIR_HTTP_ADDR", addr.to_string())
            .env("MIROIR_LOG", "warn")
            .env_remove("MIROIR_CONFIG")
            .env_remove("MIROIR_MASTER_KEY")
            .env_remove("MIROIR_ADMIN_API_KEY")
            .envs(env.iter().copied()),
    )?;
    wait_for_200(&mut child, addr, "/_miroir/ready")?;
    Ok((child, addr))
}

/// A warm-up, then one measured `wrk` run on `path`.
fn measure(wrk: Wrk, addr: std::net::SocketAddr, path: &str, duration: Duration) -> Result<Load> {
    let url = format!("http://{addr}{path}");
    wrk.run(&url, WARM_UP)?;
    wrk.run(&url, duration)
}

/// `callers` tokio tasks calling `call` back to back for `duration` (after a warm-up of the
/// same length as `wrk`'s): calls/s, p50 and p99 over every call.
async fn raw_load<F, Fut>(
    store: &DynStore,
    callers: u32,
    duration: Duration,
    call: F,
) -> Result<Load>
where
    F: Fn(DynStore) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = miroir_store::StoreResult<()>> + Send,
{
    let run = |length: Duration| {
        let call = call.clone();
        async move {
            let workers: Vec<_> = (0..callers.max(1))
                .map(|_| {
                    let (store, call) = (Arc::clone(store), call.clone());
                    tokio::spawn(async move {
                        let mut latencies = Vec::new();
                        let end = Instant::now() + length;
                        while Instant::now() < end {
                            let start = Instant::now();
                            call(store.clone()).await?;
                            latencies.push(start.elapsed());
                        }
                        Ok::<_, miroir_store::StoreError>(latencies)
                    })
                })
                .collect();
            let mut all = Vec::new();
            for worker in workers {
                all.extend(worker.await??);
            }
            Ok::<_, miroir_perf::Error>(all)
        }
    };
    run(WARM_UP).await?;
    let mut latencies = run(duration).await?;
    latencies.sort();
    let at = |quantile: f64| {
        let index = ((latencies.len() as f64 * quantile) as usize).min(latencies.len() - 1);
        latencies[index].as_secs_f64() * 1000.0
    };
    Ok(Load {
        requests_per_sec: latencies.len() as f64 / duration.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

/// `INFO memory` `used_memory` of `server`, bytes.
fn used_memory(server: &RedisServer) -> Result<u64> {
    let Reply::Bulk(Some(info)) = server.command(&["INFO", "memory"])? else {
        return Err("INFO memory unanswered".into());
    };
    String::from_utf8(info)?
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .ok_or("no used_memory in INFO memory")?
        .trim()
        .parse()
        .map_err(Into::into)
}

/// Resident set size of `child`, KiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_kib(child: &ChildGuard) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/<pid>/status".into())
}
