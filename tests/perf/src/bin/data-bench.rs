//! `data-bench`: the data path of a real `miroir` process in front of three nodes, against ONE
//! node answering the same requests directly, measured in the same run on the same machine.
//!
//! Setup: four nodes. With `--meilisearch-bin PATH`, real Meilisearch servers (each its own
//! process and data directory, `--experimental-enable-metrics` so their request counters give the
//! searches they received); without it, Meilisearch-compatible test nodes
//! (`miroir_test_support::meilisearch::TestNode`) in this process, on their own tokio runtime,
//! with `task_delay: Duration::ZERO` (the smallest allowed: a task is applied as soon as the
//! node's processor picks it up, so the simulated processing time is not what is measured).
//! Three of them are `miroir`'s fleet (`MIROIR_SHARDS=8`,
//! `MIROIR_REPLICATION_FACTOR=1`, one replica group, SQLite task store migrated by
//! `miroir-migrate up` in a temporary directory); the fourth is the baseline, talked to directly.
//! Both sides get index `bench` (`primaryKey: id`, `filterableAttributes: [genre, price]`,
//! `sortableAttributes: [price]`, `searchableAttributes: [title]`) before anything is timed.
//!
//! 1. Ingest: `--documents` documents `{id, title: "doc <id> <word>", genre, price}` in batches
//!    of `--batch`, posted in order with `--concurrency` batches in flight
//!    (`POST /indexes/bench/documents`), then every task polled with `GET /tasks/{uid}` until it
//!    is `succeeded`. Timed from the first POST to the last `succeeded`: documents/s. Each POST is
//!    also timed to its 202: document write requests/s (until the last 202) and p50/p99. The
//!    request bodies are the same bytes for both sides, encoded before the clock starts.
//! 2. Search: `--concurrency` clients each send a fixed, deterministic mix of
//!    `POST /indexes/bench/search` (one keyword, two keywords, an empty query with a facet on
//!    `genre` and the filter `price < 50`, offset paging, sorted by `price` with and without a
//!    keyword) back to back for `--duration-secs`,
//!    after a warm-up: requests/s and p50/p99 latency. Before that, every query of the mix is
//!    run once on both sides, which must return the same number of hits and the same facet
//!    counts.
//!
//!    The same run is then repeated while one writer adds new documents (`--batch` per request,
//!    each request waited for until its task succeeded before the next): search latency under a
//!    sustained ingest, and how many documents were written meanwhile.
//!
//!    The table also gives the searches the nodes received per search sent (counted by the
//!    nodes): 1 for the direct node; for `miroir`, 3 (one per fleet node) plus every time it
//!    asks a node again with a larger window (a node whose index lacks Miroir's shard ranking
//!    rule, or a `distinct` search short of hits: see `miroir-handler-search`'s scatter).
//!
//! Any failed request or task stops the program (exit 1): a benchmark of failures measures
//! nothing. Prints a Markdown table (miroir, direct, ratio miroir/direct) and nproc.
//!
//! Caveats (test nodes): the test node is a fixture, not Meilisearch. Each search scans every document of the
//! index under one lock, so its cost grows with the documents a node holds (`miroir` spreads them
//! over three nodes, the baseline keeps them all on one); each document addition copies the whole
//! index, so at 100,000 documents ingest time is mostly the nodes' and grows faster than the
//! document count on both sides. The client, the four nodes and `miroir` share the machine.
//!
//! Run from the workspace root:
//!
//! ```sh
//! cargo build --release -p miroir-edge -p miroir-migrate -p miroir-perf
//! target/release/data-bench
//! ```
//!
//! Options: `--documents` (100000), `--batch` (1000), `--concurrency` (4), `--duration-secs` (10),
//! `--meilisearch-bin PATH` (none: test nodes), `--miroir PATH` (`target/release/miroir`),
//! `--migrate PATH` (`target/release/miroir-migrate`).

// A benchmark program: printing its results on stdout is its purpose.
#![allow(clippy::print_stdout)]

use miroir_perf::{Binaries, ChildGuard, Error, Result, migrate_store};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use miroir_test_support::meilisearch::{TestNode, TestNodeOptions};
use miroir_test_support::process::http;
use miroir_test_support::real_meilisearch::RealMeilisearch;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The index both sides are measured on.
const INDEX: &str = "bench";
/// How long `miroir` gets to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one task may take to become terminal once waited for.
const TASK_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between two polls of a task that is not terminal yet.
const TASK_POLL: Duration = Duration::from_millis(5);
/// Search load before each measured search run.
const WARM_UP: Duration = Duration::from_secs(1);
/// Fleet size behind `miroir`.
const FLEET: usize = 3;
/// Words of the titles: one per document, in turn.
const WORDS: [&str; 16] = [
    "amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "juniper",
    "kestrel", "lumen", "maple", "nectar", "onyx", "prairie",
];
/// Genres, in turn (7 is prime to 16: every word meets every genre).
const GENRES: [&str; 7] = [
    "drama",
    "comedy",
    "horror",
    "action",
    "documentary",
    "western",
    "romance",
];

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "data-bench",
    about = "Ingest docs/s, write and search req/s + latency: miroir over 3 test nodes vs one node direct"
)]
struct Args {
    /// Documents ingested on each side.
    #[arg(long, default_value_t = 100_000)]
    documents: usize,
    /// Documents per `POST …/documents`.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Batches in flight while ingesting, and search clients.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds of each measured search run.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Real Meilisearch nodes: the path of a `meilisearch` binary (e.g. the output of
    /// `../shared/tools/meilisearch/meilisearch --print-path`). Without it, test nodes.
    #[arg(long)]
    meilisearch_bin: Option<PathBuf>,
    /// `--miroir` and `--migrate`.
    #[command(flatten)]
    binaries: Binaries,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("data-bench: {error}");
            ExitCode::from(1)
        }
    }
}

/// The nodes of a run: in-process test nodes, or real Meilisearch servers (`--meilisearch-bin`).
enum Nodes {
    /// Test nodes and the runtime serving them (its own threads, so that a node busy searching
    /// never delays the benchmark's client). Fields drop in order: the nodes before their
    /// runtime.
    Test {
        /// `miroir`'s fleet: `meili-0`, `meili-1`, `meili-2`.
        fleet: Vec<TestNode>,
        /// The baseline node.
        direct: TestNode,
        /// Serves every node.
        _runtime: tokio::runtime::Runtime,
    },
    /// Real Meilisearch processes with `--experimental-enable-metrics` (their request counter
    /// gives the searches they received), each with its own data directory.
    Real {
        /// `miroir`'s fleet, then the baseline node, last.
        nodes: Vec<RealMeilisearch>,
        /// The nodes' data directories.
        _data: tempfile::TempDir,
    },
}

impl Nodes {
    /// Starts [`FLEET`] + 1 test nodes without task delay.
    fn start_test() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("test-node")
            .build()?;
        let options = TestNodeOptions {
            master_key: None,
            task_delay: Duration::ZERO,
        };
        let (fleet, direct) = runtime.block_on(async {
            let mut fleet = Vec::with_capacity(FLEET);
            for _ in 0..FLEET {
                fleet.push(TestNode::start(options.clone()).await?);
            }
            let direct = TestNode::start(options).await?;
            Ok::<_, std::io::Error>((fleet, direct))
        })?;
        Ok(Self::Test {
            fleet,
            direct,
            _runtime: runtime,
        })
    }

    /// Starts [`FLEET`] + 1 real Meilisearch nodes of `binary`, answering `/health`.
    fn start_real(binary: &Path) -> Result<Self> {
        let data = tempfile::tempdir()?;
        let nodes = (0..=FLEET)
            .map(|index| {
                let dir = data.path().join(format!("node-{index}"));
                RealMeilisearch::start(binary, &dir, &["--experimental-enable-metrics"])
                    .map_err(|error| Error::from(error.message().to_owned()))
            })
            .collect::<Result<_>>()?;
        Ok(Self::Real { nodes, _data: data })
    }

    /// The fleet's base URLs.
    fn fleet_urls(&self) -> Vec<String> {
        match self {
            Self::Test { fleet, .. } => fleet.iter().map(TestNode::url).collect(),
            Self::Real { nodes, .. } => nodes[..FLEET].iter().map(RealMeilisearch::url).collect(),
        }
    }

    /// The baseline node's base URL.
    fn direct_url(&self) -> String {
        match self {
            Self::Test { direct, .. } => direct.url(),
            Self::Real { nodes, .. } => nodes[FLEET].url(),
        }
    }

    /// Searches the fleet received so far.
    fn fleet_searches(&self) -> usize {
        match self {
            Self::Test { fleet, .. } => fleet.iter().map(search_count).sum(),
            Self::Real { nodes, .. } => nodes[..FLEET]
                .iter()
                .map(|node| real_search_count(node.port()))
                .sum(),
        }
    }

    /// Searches the baseline node received so far.
    fn direct_searches(&self) -> usize {
        match self {
            Self::Test { direct, .. } => search_count(direct),
            Self::Real { nodes, .. } => real_search_count(nodes[FLEET].port()),
        }
    }

    /// `MIROIR_NODES` for the fleet, all in replica group 0.
    fn nodes_yaml(&self) -> String {
        let entries: Vec<String> = self
            .fleet_urls()
            .iter()
            .enumerate()
            .map(|(index, url)| {
                format!("{{id: meili-{index}, address: \"{url}\", replica_group: 0}}")
            })
            .collect();
        format!("[{}]", entries.join(", "))
    }
}

/// Searches `node` received so far on the benchmark's index.
fn search_count(node: &TestNode) -> usize {
    node.request_count("POST", &format!("/indexes/{INDEX}/search"))
}

/// Searches the real node on `port` answered so far (any index, any status), from its
/// Prometheus counter `meilisearch_http_requests_total`. A blocking call, made only before and
/// after a measured run.
fn real_search_count(port: u16) -> usize {
    let Some(reply) = http(port, "GET", "/metrics", &[], "") else {
        return 0;
    };
    reply
        .body
        .lines()
        .filter(|line| {
            line.starts_with("meilisearch_http_requests_total{")
                && line.contains(r#"method="POST""#)
                && line.contains(r#"path="/indexes/{index_uid}/search""#)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as usize
}

/// A free loopback port (free a moment ago).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Spawns `miroir` on `port` over `store_url` in front of `nodes` (every other `MIROIR_*`
/// variable of this environment removed). Not ready yet when this returns.
fn spawn_miroir(binary: &Path, store_url: &str, port: u16, nodes: &Nodes) -> Result<ChildGuard> {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MIROIR_") {
            command.env_remove(name);
        }
    }
    ChildGuard::spawn(
        binary.display().to_string(),
        command
            .env("MIROIR_TASK_STORE_URL", store_url)
            .env("MIROIR_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("MIROIR_NODES", nodes.nodes_yaml())
            .env("MIROIR_SHARDS", "8")
            .env("MIROIR_REPLICATION_FACTOR", "1")
            .env("MIROIR_LOG", "warn"),
    )
}

/// One Meilisearch API over HTTP: `miroir` or the direct node, driven the same way.
#[derive(Clone, Debug)]
struct Api {
    /// The pooled client (shared by every clone).
    client: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    base: String,
}

impl Api {
    /// A request; the status and the body, whatever the status.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await?;
        let status = response.status();
        Ok((status, response.bytes().await?))
    }

    /// A request that must answer `expected`; its body as JSON.
    async fn expect(
        &self,
        expected: StatusCode,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Value> {
        let described = format!("{method} {}{path}", self.base);
        let (status, answer) = self.send(method, path, body).await?;
        if status != expected {
            return Err(format!(
                "{described} answered {status}, not {expected}: {}",
                String::from_utf8_lossy(&answer)
            )
            .into());
        }
        serde_json::from_slice(&answer).map_err(|error| format!("{described}: {error}").into())
    }

    /// A write that must be accepted (202); its `taskUid`.
    async fn enqueue(&self, method: Method, path: &str, body: Bytes) -> Result<u64> {
        let summary = self
            .expect(StatusCode::ACCEPTED, method, path, Some(body))
            .await?;
        summary["taskUid"]
            .as_u64()
            .ok_or_else(|| format!("no taskUid in {summary}").into())
    }

    /// Polls `GET /tasks/{uid}` until the task is terminal; an error unless it `succeeded`.
    async fn wait_task(&self, uid: u64) -> Result<()> {
        let deadline = Instant::now() + TASK_TIMEOUT;
        let path = format!("/tasks/{uid}");
        loop {
            let task = self
                .expect(StatusCode::OK, Method::GET, &path, None)
                .await?;
            match task["status"].as_str() {
                Some("succeeded") => return Ok(()),
                Some("failed" | "canceled") => {
                    return Err(
                        format!("task {uid} on {} did not succeed: {task}", self.base).into(),
                    );
                }
                _ if Instant::now() >= deadline => {
                    return Err(format!(
                        "task {uid} on {} still not done after {TASK_TIMEOUT:?}: {task}",
                        self.base
                    )
                    .into());
                }
                _ => tokio::time::sleep(TASK_POLL).await,
            }
        }
    }

    /// A write, waited for until it succeeded.
    async fn write(&self, method: Method, path: &str, body: &Value) -> Result<()> {
        let uid = self
            .enqueue(method, path, Bytes::from(body.to_string()))
            .await?;
        self.wait_task(uid).await
    }

    /// Polls `GET /_miroir/ready` until it answers 200 (while `miroir` is alive).
    async fn wait_ready(&self, miroir: &mut ChildGuard) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            match self.send(Method::GET, "/_miroir/ready", None).await {
                Ok((StatusCode::OK, _)) => return Ok(()),
                Ok((status, _)) => last = format!("status {status}"),
                Err(error) => last = error.to_string(),
            }
            miroir.check_alive()?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(format!("miroir not ready within {START_TIMEOUT:?} (last: {last})").into())
    }
}

/// Creates the index with its settings and waits for both tasks (not timed).
async fn create_index(api: &Api) -> Result<()> {
    api.write(
        Method::POST,
        "/indexes",
        &json!({"uid": INDEX, "primaryKey": "id"}),
    )
    .await?;
    api.write(
        Method::PATCH,
        &format!("/indexes/{INDEX}/settings"),
        &json!({
            "filterableAttributes": ["genre", "price"],
            "sortableAttributes": ["price"],
            "searchableAttributes": ["title"],
        }),
    )
    .await
}

/// Document `id`.
fn document(id: usize) -> Value {
    json!({
        "id": id,
        "title": format!("doc {id} {}", WORDS[id % WORDS.len()]),
        "genre": GENRES[id % GENRES.len()],
        "price": (id * 37) % 100,
    })
}

/// The request bodies of `documents` documents in batches of `batch`.
fn document_batches(documents: usize, batch: usize) -> Result<Vec<Bytes>> {
    document_batches_from(0, documents, batch)
}

/// The request bodies of documents `first..first + documents` in batches of `batch`.
fn document_batches_from(first: usize, documents: usize, batch: usize) -> Result<Vec<Bytes>> {
    let ids: Vec<usize> = (first..first + documents).collect();
    ids.chunks(batch.max(1))
        .map(|chunk| {
            let batch: Vec<Value> = chunk.iter().map(|id| document(*id)).collect();
            Ok(Bytes::from(serde_json::to_vec(&batch)?))
        })
        .collect()
}

/// Posts every batch in order, `concurrency` in flight, then waits for every task to succeed;
/// the time from the first POST to the last success.
async fn ingest(api: &Api, batches: &[Bytes], concurrency: usize) -> Result<Ingest> {
    let path = format!("/indexes/{INDEX}/documents");
    let started = Instant::now();
    let accepted: Vec<(u64, Duration)> = futures::stream::iter(batches)
        .map(|batch| async {
            let sent = Instant::now();
            let uid = api.enqueue(Method::POST, &path, batch.clone()).await?;
            Ok::<_, Error>((uid, sent.elapsed()))
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let writing = started.elapsed();
    for (uid, _) in &accepted {
        api.wait_task(*uid).await?;
    }
    let mut writes: Vec<Duration> = accepted.iter().map(|(_, latency)| *latency).collect();
    writes.sort();
    Ok(Ingest {
        elapsed: started.elapsed(),
        writes_per_sec: writes.len() as f64 / writing.as_secs_f64(),
        write_p50: percentile(&writes, 0.50),
        write_p99: percentile(&writes, 0.99),
    })
}

/// What one ingest measured.
#[derive(Clone, Copy, Debug)]
struct Ingest {
    /// First `POST` to every task `succeeded`.
    elapsed: Duration,
    /// Write requests (`POST` → 202) per second until the last 202.
    writes_per_sec: f64,
    /// Median `POST` → 202 latency.
    write_p50: Duration,
    /// 99th percentile `POST` → 202 latency.
    write_p99: Duration,
}

/// The search mix, as request bodies: each kind twice, with other words (sorted searches too).
fn search_mix() -> Vec<Bytes> {
    [
        json!({"q": "harbor"}),
        json!({"q": "amber cedar"}),
        json!({"q": "", "facets": ["genre"], "filter": "price < 50"}),
        json!({"q": "maple", "offset": 100, "limit": 20}),
        json!({"q": "kestrel"}),
        json!({"q": "onyx fjord"}),
        json!({"q": "", "facets": ["genre"], "filter": "price < 50 AND genre = drama"}),
        json!({"q": "iris", "offset": 40, "limit": 20}),
        json!({"q": "", "filter": "genre = western", "sort": ["price:desc"]}),
        json!({"q": "lumen", "sort": ["price:asc"], "limit": 10}),
    ]
    .iter()
    .map(|query| Bytes::from(query.to_string()))
    .collect()
}

/// Runs every query of `mix` once on both sides: same number of hits, same facet counts, and
/// at least one hit.
async fn check_same_answers(miroir: &Api, direct: &Api, mix: &[Bytes]) -> Result<()> {
    let path = format!("/indexes/{INDEX}/search");
    for query in mix {
        let ours = miroir
            .expect(StatusCode::OK, Method::POST, &path, Some(query.clone()))
            .await?;
        let theirs = direct
            .expect(StatusCode::OK, Method::POST, &path, Some(query.clone()))
            .await?;
        let hits = |answer: &Value| answer["hits"].as_array().map_or(0, Vec::len);
        if hits(&ours) == 0
            || hits(&ours) != hits(&theirs)
            || ours["facetDistribution"] != theirs["facetDistribution"]
        {
            return Err(format!(
                "miroir and the direct node disagree on {}: {} hits {} vs {} hits {}",
                String::from_utf8_lossy(query),
                hits(&ours),
                ours["facetDistribution"],
                hits(&theirs),
                theirs["facetDistribution"]
            )
            .into());
        }
    }
    Ok(())
}

/// `numberOfDocuments` of the index must be `expected`.
async fn check_count(api: &Api, expected: usize) -> Result<()> {
    let stats = api
        .expect(
            StatusCode::OK,
            Method::GET,
            &format!("/indexes/{INDEX}/stats"),
            None,
        )
        .await?;
    match stats["numberOfDocuments"].as_u64() {
        Some(count) if usize::try_from(count).ok() == Some(expected) => Ok(()),
        _ => Err(format!(
            "{} holds {} documents, not {expected}",
            api.base, stats["numberOfDocuments"]
        )
        .into()),
    }
}

/// What one search run measured.
#[derive(Clone, Copy, Debug)]
struct Load {
    /// Completed searches per second.
    requests_per_sec: f64,
    /// Median latency.
    p50: Duration,
    /// 99th percentile latency.
    p99: Duration,
    /// Searches the nodes received per search sent (1 for the direct node; more when `miroir`
    /// asks truncated nodes again with a larger window).
    node_searches_per_search: f64,
}

/// The `fraction` percentile (nearest rank) of sorted latencies.
fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One client: the mix in turn, starting at query `first`, back to back until `deadline`; the
/// latency of each search.
async fn search_client(
    api: &Api,
    mix: &[Bytes],
    first: usize,
    deadline: Instant,
) -> Result<Vec<Duration>> {
    let path = format!("/indexes/{INDEX}/search");
    let mut latencies = Vec::new();
    let mut next = first;
    while Instant::now() < deadline {
        let query = mix[next % mix.len()].clone();
        let sent = Instant::now();
        let (status, answer) = api.send(Method::POST, &path, Some(query)).await?;
        if status != StatusCode::OK {
            return Err(format!(
                "search on {} answered {status}: {}",
                api.base,
                String::from_utf8_lossy(&answer)
            )
            .into());
        }
        latencies.push(sent.elapsed());
        next += 1;
    }
    Ok(latencies)
}

/// `clients` clients searching for `duration`: throughput and latency percentiles, and how many
/// searches `node_searches` (a counter of the searches the nodes received) moved by per search.
async fn search_load(
    api: &Api,
    mix: &[Bytes],
    clients: usize,
    duration: Duration,
    node_searches: &dyn Fn() -> usize,
) -> Result<Load> {
    let searched_before = node_searches();
    let started = Instant::now();
    let deadline = started + duration;
    let runs = (0..clients.max(1)).map(|client| search_client(api, mix, client, deadline));
    let per_client = futures::future::try_join_all(runs).await?;
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = per_client.into_iter().flatten().collect();
    latencies.sort();
    let node_searches = node_searches().saturating_sub(searched_before);
    Ok(Load {
        node_searches_per_search: node_searches as f64 / latencies.len().max(1) as f64,
        requests_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    })
}

/// One writer posting `batches` in turn (again from the first when all were sent), each waited
/// for until it succeeded before the next, until `deadline`: the nodes index without pause.
/// Returns how many documents batches were written.
async fn sustained_ingest(api: &Api, batches: &[Bytes], deadline: Instant) -> Result<usize> {
    let path = format!("/indexes/{INDEX}/documents");
    let mut written = 0;
    for batch in batches.iter().cycle() {
        if Instant::now() >= deadline {
            break;
        }
        let uid = api.enqueue(Method::POST, &path, batch.clone()).await?;
        api.wait_task(uid).await?;
        written += 1;
    }
    Ok(written)
}

/// The search run of [`measure_search`] while [`sustained_ingest`] writes `batches`; the load
/// and the batches written.
async fn search_while_ingesting(
    api: &Api,
    mix: &[Bytes],
    clients: usize,
    duration: Duration,
    batches: &[Bytes],
) -> Result<(Load, usize)> {
    let deadline = Instant::now() + duration;
    let (load, written) = tokio::join!(
        search_load(api, mix, clients, duration, &|| 0),
        sustained_ingest(api, batches, deadline)
    );
    Ok((load?, written?))
}

/// Warm-up, then the measured search run.
async fn measure_search(
    api: &Api,
    mix: &[Bytes],
    clients: usize,
    duration: Duration,
    node_searches: &dyn Fn() -> usize,
) -> Result<Load> {
    search_load(api, mix, clients, WARM_UP, node_searches).await?;
    search_load(api, mix, clients, duration, node_searches).await
}

/// The HTTP client of both sides: pooled, no proxy, `TCP_NODELAY`.
fn http_client() -> Result<reqwest::Client> {
    // reqwest is built without a crypto provider; plain http needs none, but building a client
    // does. Only the first provider installed counts.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// What the whole run measured.
struct Report {
    /// Ingest through `miroir`.
    miroir_ingest: Ingest,
    /// Ingest on the direct node.
    direct_ingest: Ingest,
    /// Search through `miroir`.
    miroir_search: Load,
    /// Search on the direct node.
    direct_search: Load,
    /// Search through `miroir` while documents are written.
    miroir_busy: Load,
    /// Search on the direct node while documents are written.
    direct_busy: Load,
    /// Batches written through `miroir` during its busy search run.
    miroir_written: usize,
    /// Batches written to the direct node during its busy search run.
    direct_written: usize,
}

/// The whole benchmark.
fn bench(args: &Args) -> Result<()> {
    args.binaries.check()?;
    let concurrency = args.concurrency.max(1);
    let duration = Duration::from_secs(args.duration_secs.max(1));

    let nodes = match &args.meilisearch_bin {
        Some(binary) => Nodes::start_real(binary)?,
        None => Nodes::start_test()?,
    };
    let dir = tempfile::tempdir()?;
    let store_url = migrate_store(dir.path(), &args.binaries.migrate)?;
    let port = free_port()?;
    let mut miroir_process = spawn_miroir(&args.binaries.miroir, &store_url, port, &nodes)?;

    let client = http_client()?;
    let miroir = Api {
        client: client.clone(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let direct = Api {
        client,
        base: nodes.direct_url(),
    };
    let batches = document_batches(args.documents, args.batch)?;
    // Written during the last search run: new documents, after the first `documents`.
    let extra = document_batches_from(args.documents, args.documents, args.batch)?;
    let mix = search_mix();

    // The client runs on this thread only; the nodes have their own runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        miroir.wait_ready(&mut miroir_process).await?;
        create_index(&direct).await?;
        create_index(&miroir).await?;

        eprintln!(
            "data-bench: ingest, direct node ({} documents)…",
            args.documents
        );
        let direct_ingest = ingest(&direct, &batches, concurrency).await?;
        eprintln!("data-bench: ingest, miroir…");
        let miroir_ingest = ingest(&miroir, &batches, concurrency).await?;
        check_count(&direct, args.documents).await?;
        check_count(&miroir, args.documents).await?;
        check_same_answers(&miroir, &direct, &mix).await?;

        eprintln!("data-bench: search, direct node, {duration:?}…");
        let direct_searches = || nodes.direct_searches();
        let direct_search =
            measure_search(&direct, &mix, concurrency, duration, &direct_searches).await?;
        eprintln!("data-bench: search, miroir, {duration:?}…");
        let fleet_searches = || nodes.fleet_searches();
        let miroir_search =
            measure_search(&miroir, &mix, concurrency, duration, &fleet_searches).await?;
        eprintln!("data-bench: search during ingest, direct node, {duration:?}…");
        let (direct_busy, direct_written) =
            search_while_ingesting(&direct, &mix, concurrency, duration, &extra).await?;
        eprintln!("data-bench: search during ingest, miroir, {duration:?}…");
        let (miroir_busy, miroir_written) =
            search_while_ingesting(&miroir, &mix, concurrency, duration, &extra).await?;
        miroir_process.check_alive()?;
        Ok::<_, Error>(Report {
            miroir_ingest,
            direct_ingest,
            miroir_search,
            direct_search,
            miroir_busy,
            direct_busy,
            miroir_written,
            direct_written,
        })
    })?;
    print_report(args, concurrency, duration, mix.len(), &report);
    Ok(())
}

/// The Markdown table and the conditions of the run.
fn print_report(
    args: &Args,
    concurrency: usize,
    duration: Duration,
    queries: usize,
    report: &Report,
) {
    let nproc = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "{} documents in batches of {}, {concurrency} batches in flight, ingest = first POST to \
         every task `succeeded`; search = {concurrency} clients looping over {queries} queries \
         for {}s after a {}s warm-up; {}; miroir: {FLEET} nodes, 8 shards, RF 1, SQLite; nproc \
         {nproc} (client, nodes and miroir share the machine).",
        args.documents,
        args.batch.max(1),
        duration.as_secs(),
        WARM_UP.as_secs(),
        match &args.meilisearch_bin {
            Some(binary) => format!("real Meilisearch nodes ({})", binary.display()),
            None => "test nodes in-process with task_delay 0".to_owned(),
        },
    );
    println!();
    println!("| Measure | miroir ({FLEET} nodes) | one node direct | miroir / direct |");
    println!("|---|---:|---:|---:|");
    let docs_per_sec = |elapsed: Duration| args.documents as f64 / elapsed.as_secs_f64();
    let ms = |latency: Duration| latency.as_secs_f64() * 1000.0;
    let (ours, theirs) = (&report.miroir_search, &report.direct_search);
    let rows = [
        (
            "ingest documents/s",
            docs_per_sec(report.miroir_ingest.elapsed),
            docs_per_sec(report.direct_ingest.elapsed),
            0,
            "",
        ),
        (
            "ingest time",
            report.miroir_ingest.elapsed.as_secs_f64(),
            report.direct_ingest.elapsed.as_secs_f64(),
            2,
            " s",
        ),
        (
            "document write requests/s (`POST` → 202)",
            report.miroir_ingest.writes_per_sec,
            report.direct_ingest.writes_per_sec,
            1,
            "",
        ),
        (
            "document write latency p50",
            ms(report.miroir_ingest.write_p50),
            ms(report.direct_ingest.write_p50),
            2,
            " ms",
        ),
        (
            "document write latency p99",
            ms(report.miroir_ingest.write_p99),
            ms(report.direct_ingest.write_p99),
            2,
            " ms",
        ),
        (
            "search requests/s",
            ours.requests_per_sec,
            theirs.requests_per_sec,
            1,
            "",
        ),
        ("search latency p50", ms(ours.p50), ms(theirs.p50), 2, " ms"),
        ("search latency p99", ms(ours.p99), ms(theirs.p99), 2, " ms"),
        (
            "node searches per search",
            ours.node_searches_per_search,
            theirs.node_searches_per_search,
            2,
            "",
        ),
        (
            "search requests/s during ingest",
            report.miroir_busy.requests_per_sec,
            report.direct_busy.requests_per_sec,
            1,
            "",
        ),
        (
            "search latency p50 during ingest",
            ms(report.miroir_busy.p50),
            ms(report.direct_busy.p50),
            2,
            " ms",
        ),
        (
            "search latency p99 during ingest",
            ms(report.miroir_busy.p99),
            ms(report.direct_busy.p99),
            2,
            " ms",
        ),
        (
            "documents written during that run",
            (report.miroir_written * args.batch.max(1)) as f64,
            (report.direct_written * args.batch.max(1)) as f64,
            0,
            "",
        ),
    ];
    for (measure, miroir, direct, decimals, unit) in rows {
        println!(
            "| {measure} | {miroir:.decimals$}{unit} | {direct:.decimals$}{unit} | {:.2} |",
            miroir / direct
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&sorted[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn batches_hold_every_document_once() -> Result<()> {
        let batches = document_batches(2500, 1000)?;
        let sizes: Vec<usize> = batches
            .iter()
            .map(|batch| {
                serde_json::from_slice::<Vec<Value>>(batch).map(|documents| documents.len())
            })
            .collect::<std::result::Result<_, _>>()?;
        assert_eq!(sizes, vec![1000, 1000, 500]);
        Ok(())
    }
}
