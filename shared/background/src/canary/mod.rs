//! The canary runner (plan §13.18; Mode A, partitioned by canary id): each enabled canary this
//! replica owns runs when `interval_s` has passed since its last recorded run (by any replica),
//! through the search path itself (the app's `POST /indexes/{uid}/search`, with the master key,
//! so auth, aliases and the scatter-gather merge are exercised as a client would). The run's
//! assertions are evaluated ([`assertions`]), the run is recorded (history bounded by
//! `canary_runner.run_history_per_canary`) and counted in the canary metrics.

pub mod assertions;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use futures::stream;
use miroir_core::Config;
use miroir_core::catalog::Catalog;
use miroir_core::cluster::Cluster;
use miroir_core::node::node_path;
use miroir_http::metrics::BackgroundMetrics;
use miroir_store::{
    AliasTarget, Canary, CanaryRun, CanaryRunStatus, DynStore, StoreResult, Timestamp,
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::peers::PeerView;
use assertions::{Observation, evaluate};

/// The worker name in metrics.
pub const WORKER: &str = "canary_runner";

/// Runs read back for `max_p95_ms` (this run plus the 19 before it).
const P95_WINDOW: usize = 20;

/// Largest search response body read.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// What the runner needs.
#[derive(Clone, Copy, Debug)]
pub struct CanaryEnv<'a> {
    /// The store.
    pub store: &'a DynStore,
    /// The fleet (primary keys, node count).
    pub cluster: &'a Cluster,
    /// The configuration (master key, history bound, concurrency).
    pub config: &'a Config,
    /// The metrics.
    pub metrics: &'a BackgroundMetrics,
    /// The app the searches go through.
    pub search: &'a Router,
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CanaryRound {
    /// Enabled canaries this replica owns.
    pub owned: usize,
    /// Canaries run this round.
    pub ran: u64,
}

/// The runner's memory between rounds: the last run seen of each canary.
#[derive(Debug, Default)]
pub struct CanaryRunner {
    last_run: HashMap<String, Timestamp>,
}

impl CanaryRunner {
    /// One round over the canaries owned in `view`.
    pub async fn round(&mut self, env: CanaryEnv<'_>, view: &PeerView) -> StoreResult<CanaryRound> {
        let canaries: Vec<Canary> = env
            .store
            .list_canaries()
            .await?
            .into_iter()
            .filter(|canary| canary.enabled && view.owns(&canary.id))
            .collect();
        self.last_run
            .retain(|id, _| canaries.iter().any(|canary| &canary.id == id));
        let mut round = CanaryRound {
            owned: canaries.len(),
            ..CanaryRound::default()
        };
        let now = Timestamp::now();
        let mut due = Vec::new();
        for canary in canaries {
            let interval = Duration::from_secs(u64::from(canary.interval_s));
            if self
                .last_run
                .get(&canary.id)
                .is_some_and(|last| last.plus(interval) > now)
            {
                continue;
            }
            // Another replica may have run it since (before the peer set changed).
            let history = env
                .store
                .list_canary_runs(&canary.id, history_window(&canary))
                .await?;
            if let Some(last) = history.first() {
                self.last_run.insert(canary.id.clone(), last.ran_at);
                if last.ran_at.plus(interval) > now {
                    continue;
                }
            }
            due.push((canary, history));
        }
        let concurrency = usize::try_from(env.config.canary_runner.max_concurrent_canaries)
            .unwrap_or(1)
            .max(1);
        let runs: Vec<StoreResult<CanaryRun>> = stream::iter(due)
            .map(|(canary, history)| run_canary(env, canary, history))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for run in runs {
            let run = run?;
            self.last_run.insert(run.canary_id.clone(), run.ran_at);
            round.ran += 1;
        }
        Ok(round)
    }
}

/// How many past runs a canary's evaluation needs.
fn history_window(canary: &Canary) -> usize {
    let wants_p95 = canary
        .assertions
        .as_array()
        .is_some_and(|all| all.iter().any(|a| a["type"] == "max_p95_ms"));
    if wants_p95 { P95_WINDOW - 1 } else { 1 }
}

/// Runs one canary, records and counts the run.
async fn run_canary(
    env: CanaryEnv<'_>,
    canary: Canary,
    history: Vec<CanaryRun>,
) -> StoreResult<CanaryRun> {
    let ran_at = Timestamp::now();
    let started = Instant::now();
    let answer = search(env, &canary).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (status, failures) = match answer {
        Err(observed) => (
            CanaryRunStatus::Error,
            json!([{"type": "query", "observed": observed}]),
        ),
        Ok(response) => {
            let uid = resolve(env.store, &canary.index_uid).await?;
            let primary_key = Catalog::new(env.store.as_ref(), env.cluster)
                .primary_key(&uid)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| "id".to_owned());
            let mut latencies: Vec<u64> = history.iter().map(|run| run.latency_ms).collect();
            latencies.push(latency_ms);
            let settings_version = settings_version(env, &uid).await?;
            let failures = evaluate(
                &canary.assertions,
                &Observation {
                    response: &response,
                    primary_key: &primary_key,
                    latencies_ms: &latencies,
                    settings_version,
                },
            );
            if failures.is_empty() {
                (CanaryRunStatus::Pass, Value::Null)
            } else {
                (
                    CanaryRunStatus::Fail,
                    serde_json::to_value(&failures).unwrap_or(Value::Null),
                )
            }
        }
    };
    let failed_types: Vec<String> = failures
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|failure| failure["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    env.metrics.canary_run(
        &canary.name,
        status.as_str(),
        latency_ms,
        failed_types.iter().map(String::as_str),
    );
    let run = CanaryRun {
        canary_id: canary.id.clone(),
        ran_at,
        status,
        latency_ms,
        failed_assertions: (!failures.is_null()).then_some(failures),
    };
    let keep = usize::try_from(env.config.canary_runner.run_history_per_canary).unwrap_or(100);
    env.store.record_canary_run(run.clone(), keep).await?;
    tracing::debug!(canary = %canary.name, status = %run.status, latency_ms, "canary ran");
    Ok(run)
}

/// The canary's search through the app: the response body, or what went wrong (status and
/// body) as the observed value of an `error` run.
async fn search(env: CanaryEnv<'_>, canary: &Canary) -> Result<Value, Value> {
    let mut request = Request::builder()
        .method("POST")
        .uri(node_path(["indexes", canary.index_uid.as_str(), "search"]))
        .header(CONTENT_TYPE, "application/json");
    let key = env.config.master_key.expose();
    if !key.is_empty() {
        request = request.header(AUTHORIZATION, format!("Bearer {key}"));
    }
    let request = request
        .body(Body::from(canary.query.to_string()))
        .map_err(|error| json!({"error": error.to_string()}))?;
    let response = env
        .search
        .clone()
        .oneshot(request)
        .await
        .map_err(|error| json!({"error": error.to_string()}))?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_RESPONSE_BYTES)
        .await
        .map_err(|error| json!({"status": status.as_u16(), "error": error.to_string()}))?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status == StatusCode::OK {
        Ok(body)
    } else {
        Err(json!({"status": status.as_u16(), "body": body}))
    }
}

/// The concrete index a canary's index (or single-target alias) names.
async fn resolve(store: &DynStore, index: &str) -> StoreResult<String> {
    Ok(match store.get_alias(index).await? {
        Some(alias) => match alias.target {
            AliasTarget::Single { uid } => uid,
            AliasTarget::Multi { .. } => index.to_owned(),
        },
        None => index.to_owned(),
    })
}

/// The lowest settings version recorded for `uid` over every configured node; `None` when some
/// node has none recorded.
async fn settings_version(env: CanaryEnv<'_>, uid: &str) -> StoreResult<Option<u64>> {
    let rows = env.store.list_node_settings_versions(uid).await?;
    let topology = env.cluster.topology();
    let mut lowest: Option<u64> = None;
    for node in topology.nodes() {
        let version = rows
            .iter()
            .find(|row| row.node_id == node.id)
            .map(|row| row.version);
        match version {
            None => return Ok(None),
            Some(version) => lowest = Some(lowest.map_or(version, |low| low.min(version))),
        }
    }
    Ok(lowest)
}
