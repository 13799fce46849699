//! `http-bench`: `GET /tasks/{uid}` throughput and latency, and start-up time, of a real `miroir`
//! process against a bare axum baseline, measured in the same run on the same machine.
//!
//! 1. Throughput: `wrk -t T -c C -d Ns --latency` on `GET /tasks/1`, first against the baseline
//!    (this program re-executed as `http-bench serve-constant`: a bare axum server answering the
//!    exact body `miroir` returns for that task), then against `miroir` over a migrated SQLite
//!    store holding one task. Never both at once; each run follows a 2 s warm-up.
//! 2. Start-up: process spawn to the first 200 on `GET /health`, polled about every millisecond
//!    with a raw HTTP/1.1 request on loopback, `--start-runs` times for each server.
//!
//! Prints a Markdown table (requests/s, p50/p99 latency, start-up median/max, ratio
//! miroir/baseline, nproc). Needs `wrk` (`apt-get install wrk`).
//!
//! Run from the workspace root:
//!
//! ```sh
//! cargo build --release -p miroir-edge -p miroir-migrate && cargo run --release -p miroir-perf --bin http-bench
//! ```
//!
//! Options: `--duration-secs` (10), `--connections` (32), `--threads` (2), `--start-runs` (10),
//! `--miroir PATH` (`target/release/miroir`), `--migrate PATH` (`target/release/miroir-migrate`).

// A benchmark program: printing its results on stdout is its purpose.
#![allow(clippy::print_stdout)]

use miroir_perf::net::{free_addr, http_get, wait_for_200};
use miroir_perf::wrk::{Load, Wrk};
use miroir_perf::{Binaries, ChildGuard, Error, Result, migrate_store};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use clap::{Parser, Subcommand};
use miroir_store::{NewTask, NodeTaskMap, TaskKind, TaskStatus, Timestamp};

/// The warm-up before each measured `wrk` run.
const WARM_UP: Duration = Duration::from_secs(2);

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "http-bench",
    about = "GET /tasks/{uid} req/s, latency and start-up time: miroir vs a bare axum server"
)]
struct Args {
    /// Seconds of each measured wrk run.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Open connections (wrk -c).
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// wrk threads (wrk -t).
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Process starts timed per server.
    #[arg(long, default_value_t = 10)]
    start_runs: usize,
    /// `--miroir` and `--migrate`.
    #[command(flatten)]
    binaries: Binaries,
    /// Internal: the baseline server.
    #[command(subcommand)]
    command: Option<Internal>,
}

/// Hidden subcommands this program runs itself with.
#[derive(Debug, Subcommand)]
enum Internal {
    /// The baseline: a bare axum server answering a constant JSON body on `GET /tasks/{uid}`.
    #[command(hide = true)]
    ServeConstant {
        /// Where to listen.
        #[arg(long)]
        addr: SocketAddr,
        /// The body of `GET /tasks/{uid}`.
        #[arg(long)]
        body: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match args.command {
        Some(Internal::ServeConstant { addr, body }) => serve_constant(addr, body),
        None => bench(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("http-bench: {error}");
            ExitCode::from(1)
        }
    }
}

/// The baseline server: the same runtime flavour as `miroir` (multi-threaded tokio, all cores),
/// axum with no layers, a constant body.
fn serve_constant(addr: SocketAddr, body: String) -> Result<()> {
    let body = Bytes::from(body);
    let app = Router::new()
        .route(
            "/tasks/{uid}",
            get(move || {
                let body = body.clone();
                async move { ([(CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .route(
            "/health",
            get(|| async {
                (
                    [(CONTENT_TYPE, "application/json")],
                    r#"{"status":"available"}"#,
                )
            }),
        );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// One server under test: how to start it on a given address.
#[derive(Clone, Copy)]
enum Server<'a> {
    /// `miroir` over the store at `url`.
    Miroir {
        /// The binary.
        binary: &'a Path,
        /// `MIROIR_TASK_STORE_URL`.
        url: &'a str,
    },
    /// This program's `serve-constant`.
    Baseline {
        /// This program.
        binary: &'a Path,
        /// The constant body.
        body: &'a str,
    },
}

impl Server<'_> {
    /// Starts the server on `addr`, without waiting for it.
    fn spawn(self, addr: SocketAddr) -> Result<ChildGuard> {
        match self {
            Server::Miroir { binary, url } => ChildGuard::spawn(
                "miroir",
                Command::new(binary)
                    .env("MIROIR_TASK_STORE_URL", url)
                    .env("MIROIR_HTTP_ADDR", addr.to_string())
                    .env("MIROIR_LOG", "warn")
                    .env_remove("MIROIR_CONFIG")
                    .env_remove("MIROIR_MASTER_KEY")
                    .env_remove("MIROIR_ADMIN_API_KEY"),
            ),
            Server::Baseline { binary, body } => ChildGuard::spawn(
                "the baseline server",
                Command::new(binary).args([
                    "serve-constant",
                    "--addr",
                    &addr.to_string(),
                    "--body",
                    body,
                ]),
            ),
        }
    }

    /// Starts the server on a free port and waits until `ready_path` answers 200.
    fn start(self, ready_path: &str) -> Result<(ChildGuard, SocketAddr)> {
        let addr = free_addr()?;
        let mut child = self.spawn(addr)?;
        wait_for_200(&mut child, addr, ready_path)?;
        Ok((child, addr))
    }

    /// Milliseconds from spawn to the first 200 on `GET /health`.
    fn time_start(self) -> Result<f64> {
        let addr = free_addr()?;
        let started = Instant::now();
        let mut child = self.spawn(addr)?;
        wait_for_200(&mut child, addr, "/health")?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        drop(child);
        Ok(elapsed)
    }
}

/// Creates a migrated SQLite store under `dir` holding one task; returns its URL and the uid.
fn prepare_store(dir: &Path, migrate: &Path) -> Result<(String, u64)> {
    let url = migrate_store(dir, migrate)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let uid = runtime.block_on(async {
        let store = miroir_store::open(&url).await?;
        let task = store
            .create_task(NewTask {
                index_uid: Some("movies".to_owned()),
                kind: TaskKind::DocumentAdditionOrUpdate,
                status: TaskStatus::Enqueued,
                node_tasks: NodeTaskMap::from([
                    ("meili-0".to_owned(), 41),
                    ("meili-1".to_owned(), 17),
                ]),
                details: Some(serde_json::json!({"receivedDocuments": 1000})),
                enqueued_at: Timestamp::now(),
            })
            .await?;
        Ok::<_, Error>(task.uid)
    })?;
    Ok((url, uid))
}

/// Starts `server`, waits for 200 on `ready_path`, warms it up, then measures `GET path` with
/// `wrk`; the server is stopped on return.
fn load(
    server: Server<'_>,
    ready_path: &str,
    wrk: Wrk,
    path: &str,
    duration: Duration,
) -> Result<Load> {
    let (mut child, addr) = server.start(ready_path)?;
    let url = format!("http://{addr}{path}");
    wrk.run(&url, WARM_UP)?;
    let load = wrk.run(&url, duration)?;
    child.check_alive()?;
    Ok(load)
}

/// Median and maximum start-up time over `runs` starts, ms.
fn start_times(server: Server<'_>, runs: usize) -> Result<(f64, f64)> {
    let mut times = (0..runs.max(1))
        .map(|_| server.time_start())
        .collect::<Result<Vec<f64>>>()?;
    times.sort_by(f64::total_cmp);
    let middle = times.len() / 2;
    let median = if times.len() % 2 == 0 {
        (times[middle - 1] + times[middle]) / 2.0
    } else {
        times[middle]
    };
    Ok((median, times[times.len() - 1]))
}

/// The whole benchmark.
fn bench(args: &Args) -> Result<()> {
    args.binaries.check()?;
    if Command::new("wrk").arg("--version").output().is_err() {
        return Err("wrk is not installed: apt-get install wrk".into());
    }
    let duration = Duration::from_secs(args.duration_secs.max(1));
    let wrk = Wrk {
        threads: args.threads.max(1),
        connections: args.connections.max(args.threads.max(1)),
    };
    let this = std::env::current_exe()?;

    let dir = tempfile::tempdir()?;
    let (url, uid) = prepare_store(dir.path(), &args.binaries.migrate)?;
    let path = format!("/tasks/{uid}");
    let miroir = Server::Miroir {
        binary: &args.binaries.miroir,
        url: &url,
    };

    // The baseline answers exactly what miroir answers for this task.
    let body = {
        let (child, addr) = miroir.start("/_miroir/ready")?;
        let (status, body) = http_get(addr, &path)?;
        drop(child);
        if status != 200 {
            return Err(format!("miroir answered {status} to GET {path}").into());
        }
        String::from_utf8(body)?
    };
    let baseline = Server::Baseline {
        binary: &this,
        body: &body,
    };

    eprintln!("http-bench: baseline, wrk {duration:?} on GET {path}…");
    let baseline_load = load(baseline, "/health", wrk, &path, duration)?;
    eprintln!("http-bench: miroir, wrk {duration:?} on GET {path}…");
    let miroir_load = load(miroir, "/_miroir/ready", wrk, &path, duration)?;
    eprintln!("http-bench: start-up, {} runs each…", args.start_runs);
    let baseline_start = start_times(baseline, args.start_runs)?;
    let miroir_start = start_times(miroir, args.start_runs)?;

    let nproc = std::thread::available_parallelism().map_or(1, usize::from);
    let runs = args.start_runs.max(1);
    println!(
        "`GET {path}` ({} B JSON body), `wrk -t{} -c{} -d{}s --latency` after a {}s warm-up; \
         start-up = spawn to first 200 on `GET /health`, {runs} runs; nproc {nproc} \
         (wrk and the server share the machine).",
        body.len(),
        wrk.threads,
        wrk.connections,
        duration.as_secs(),
        WARM_UP.as_secs(),
    );
    println!();
    println!("| Measure | miroir | baseline (bare axum) | miroir / baseline |");
    println!("|---|---:|---:|---:|");
    let rows = [
        (
            "`GET /tasks/{uid}` requests/s",
            miroir_load.requests_per_sec,
            baseline_load.requests_per_sec,
            0,
            "",
        ),
        (
            "latency p50",
            miroir_load.p50_ms,
            baseline_load.p50_ms,
            3,
            " ms",
        ),
        (
            "latency p99",
            miroir_load.p99_ms,
            baseline_load.p99_ms,
            3,
            " ms",
        ),
        (
            "start-up, median",
            miroir_start.0,
            baseline_start.0,
            1,
            " ms",
        ),
        ("start-up, max", miroir_start.1, baseline_start.1, 1, " ms"),
    ];
    for (measure, miroir, baseline, decimals, unit) in rows {
        println!(
            "| {measure} | {miroir:.decimals$}{unit} | {baseline:.decimals$}{unit} | {:.2} |",
            miroir / baseline
        );
    }
    Ok(())
}
