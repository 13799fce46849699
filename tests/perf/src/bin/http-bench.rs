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

use miroir_perf::{ChildGuard, Error, Result, migrate_store};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use clap::{Parser, Subcommand};
use miroir_store::{NewTask, NodeTaskMap, TaskKind, TaskStatus, Timestamp};

/// How long each server gets to answer its first 200.
const START_TIMEOUT: Duration = Duration::from_secs(10);
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
    /// The `miroir` binary.
    #[arg(long, value_name = "PATH", default_value = "target/release/miroir")]
    miroir: PathBuf,
    /// The `miroir-migrate` binary.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "target/release/miroir-migrate"
    )]
    migrate: PathBuf,
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

/// A loopback address with a port that was free a moment ago.
fn free_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?)
}

/// Polls `GET path` about every millisecond until it answers 200.
fn wait_for_200(child: &mut ChildGuard, addr: SocketAddr, path: &str) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match http_get(addr, path) {
            Ok((200, _)) => return Ok(()),
            Ok((status, _)) => last = format!("status {status}"),
            Err(error) => last = error.to_string(),
        }
        child.check_alive()?;
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(format!(
        "{} did not answer 200 on GET {path} within {START_TIMEOUT:?} (last: {last})",
        child.name()
    )
    .into())
}

/// One raw HTTP/1.1 `GET` with `Connection: close`: the status and the body.
fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_nodelay(true)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("truncated HTTP response")?;
    let head = std::str::from_utf8(&response[..split])?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("bad HTTP status line: {head:?}"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err("chunked responses are not supported".into());
    }
    Ok((status, response[split + 4..].to_vec()))
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

/// What one `wrk` run measured.
#[derive(Clone, Copy, Debug)]
struct Load {
    /// Requests per second.
    requests_per_sec: f64,
    /// Median latency, ms.
    p50_ms: f64,
    /// 99th percentile latency, ms.
    p99_ms: f64,
}

/// `wrk` settings shared by every run.
#[derive(Clone, Copy, Debug)]
struct Wrk {
    /// `-t`.
    threads: u32,
    /// `-c`.
    connections: u32,
}

impl Wrk {
    /// Runs `wrk` for `duration` against `url` and parses its report. Any non-2xx answer or
    /// socket error is an error: a benchmark of failures measures nothing.
    fn run(self, url: &str, duration: Duration) -> Result<Load> {
        let output = Command::new("wrk")
            .args([
                "-t",
                &self.threads.to_string(),
                "-c",
                &self.connections.to_string(),
                "-d",
                &format!("{}s", duration.as_secs()),
                "--latency",
                url,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| {
                if error.kind() == std::io::ErrorKind::NotFound {
                    Error::from("wrk is not installed: apt-get install wrk")
                } else {
                    format!("cannot run wrk: {error}").into()
                }
            })?;
        let report = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "wrk failed ({}): {}{}",
                output.status,
                report.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            )
            .into());
        }
        parse_wrk(&report).map_err(|error| format!("{error}; wrk said:\n{report}").into())
    }
}

/// Requests/s and the 50 % / 99 % latency lines of a `wrk --latency` report.
fn parse_wrk(report: &str) -> Result<Load> {
    let mut requests_per_sec = None;
    let mut p50_ms = None;
    let mut p99_ms = None;
    for line in report.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(value)) => requests_per_sec = Some(value.parse()?),
            (Some("50%"), Some(value)) => p50_ms = Some(parse_duration_ms(value)?),
            (Some("99%"), Some(value)) => p99_ms = Some(parse_duration_ms(value)?),
            (Some("Non-2xx"), _) | (Some("Socket"), Some("errors:")) => {
                return Err(format!("failed requests: {}", line.trim()).into());
            }
            _ => {}
        }
    }
    match (requests_per_sec, p50_ms, p99_ms) {
        (Some(requests_per_sec), Some(p50_ms), Some(p99_ms)) => Ok(Load {
            requests_per_sec,
            p50_ms,
            p99_ms,
        }),
        _ => Err("cannot find Requests/sec and the 50%/99% latency lines".into()),
    }
}

/// A `wrk` duration (`812.00us`, `1.25ms`, `2.00s`, `1.00m`) in milliseconds.
fn parse_duration_ms(value: &str) -> Result<f64> {
    let units = [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)];
    for (suffix, factor) in units {
        if let Some(number) = value.strip_suffix(suffix) {
            return Ok(number.parse::<f64>()? * factor);
        }
    }
    Err(format!("unknown latency unit in {value:?}").into())
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
    for (binary, package) in [
        (&args.miroir, "miroir-edge"),
        (&args.migrate, "miroir-migrate"),
    ] {
        if !binary.is_file() {
            return Err(format!(
                "{} not found: build it with `cargo build --release -p {package}` or pass its path",
                binary.display()
            )
            .into());
        }
    }
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
    let (url, uid) = prepare_store(dir.path(), &args.migrate)?;
    let path = format!("/tasks/{uid}");
    let miroir = Server::Miroir {
        binary: &args.miroir,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_wrk_report() -> Result<()> {
        let report = "Running 10s test @ http://127.0.0.1:1/tasks/1
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   310.12us  120.00us   5.00ms   90.00%
    Req/Sec    50.00k     2.00k   55.00k    70.00%
  Latency Distribution
     50%  290.00us
     75%  350.00us
     90%  420.00us
     99%    1.25ms
  1000000 requests in 10.00s, 500.00MB read
Requests/sec: 100000.50
Transfer/sec:     50.00MB
";
        let load = parse_wrk(report)?;
        assert!((load.requests_per_sec - 100_000.5).abs() < 1e-9);
        assert!((load.p50_ms - 0.29).abs() < 1e-9);
        assert!((load.p99_ms - 1.25).abs() < 1e-9);
        assert!(parse_wrk(&format!("{report}  Non-2xx or 3xx responses: 3\n")).is_err());
        Ok(())
    }
}
