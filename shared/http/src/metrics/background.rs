//! [`BackgroundMetrics`]: what the background work of plan §14.5 reports (task poller, pruner,
//! job worker, canary runner, leadership and peers). Part of the process's [`super::Metrics`]
//! registry, so `GET /_miroir/metrics` serves them beside the request metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label naming a background worker or lease scope (fixed strings of the code).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    worker: &'static str,
}

/// A label naming a lease scope.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: &'static str,
}

/// Labels of the job outcome counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job_type: &'static str,
    outcome: &'static str,
}

/// Labels of a canary's runs.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CanaryLabels {
    canary: String,
    result: &'static str,
}

/// Labels of a canary's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CanaryNameLabels {
    canary: String,
}

/// Labels of a failed canary assertion.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AssertionLabels {
    canary: String,
    assertion_type: String,
}

/// Canary latency buckets, milliseconds: 1 ms to about 16 s, doubling.
fn canary_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 15))
}

/// The background work's metrics. Canary labels are canary names, bounded by the canaries
/// defined.
#[derive(Debug)]
pub struct BackgroundMetrics {
    leader: Family<ScopeLabels, Gauge>,
    fenced: Family<ScopeLabels, Counter>,
    peers: Gauge,
    owned: Family<WorkerLabels, Gauge>,
    worked: Family<WorkerLabels, Counter>,
    registry_size: Gauge,
    pruned: Counter,
    jobs: Family<JobLabels, Counter>,
    canary_runs: Family<CanaryLabels, Counter>,
    canary_latency: Family<CanaryNameLabels, Histogram, fn() -> Histogram>,
    canary_failures: Family<AssertionLabels, Counter>,
}

impl BackgroundMetrics {
    /// Registers every background metric in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            leader: Family::default(),
            fenced: Family::default(),
            peers: Gauge::default(),
            owned: Family::default(),
            worked: Family::default(),
            registry_size: Gauge::default(),
            pruned: Counter::default(),
            jobs: Family::default(),
            canary_runs: Family::default(),
            canary_latency: Family::new_with_constructor(canary_histogram),
            canary_failures: Family::default(),
        };
        registry.register(
            "miroir_leader",
            "1 while this process holds the leader lease of the scope, else 0",
            metrics.leader.clone(),
        );
        registry.register(
            "miroir_fenced_writes",
            "Writes of this process refused by the store because a newer lease token exists (it then steps down)",
            metrics.fenced.clone(),
        );
        registry.register(
            "miroir_peer_pod_count",
            "Live replicas in the peer set (this one included) at the last background pass",
            metrics.peers.clone(),
        );
        registry.register(
            "miroir_owned_items_count",
            "Items this process owned at its last pass, by worker (rendezvous over live peers)",
            metrics.owned.clone(),
        );
        registry.register(
            "miroir_background_items",
            "Background items worked by this process, by worker",
            metrics.worked.clone(),
        );
        registry.register(
            "miroir_task_registry_size",
            "Tasks in the task registry (global), as last read by the pruner",
            metrics.registry_size.clone(),
        );
        registry.register(
            "miroir_tasks_pruned",
            "Tasks this process pruned (past task_registry.ttl_seconds or beyond max_tasks)",
            metrics.pruned.clone(),
        );
        registry.register(
            "miroir_jobs",
            "Job attempts this process finished, by job type and outcome",
            metrics.jobs.clone(),
        );
        registry.register(
            "miroir_canary_runs",
            "Canary runs by this process, by canary and result (pass, fail, error)",
            metrics.canary_runs.clone(),
        );
        registry.register(
            "miroir_canary_latency_ms",
            "Search latency of canary runs, milliseconds",
            metrics.canary_latency.clone(),
        );
        registry.register(
            "miroir_canary_assertion_failures",
            "Failed canary assertions, by canary and assertion type",
            metrics.canary_failures.clone(),
        );
        metrics
    }

    /// Sets `miroir_leader{scope}`.
    pub fn set_leader(&self, scope: &'static str, leader: bool) {
        self.leader
            .get_or_create(&ScopeLabels { scope })
            .set(i64::from(leader));
    }

    /// Counts a write refused with a stale fencing token.
    pub fn fenced_write(&self, scope: &'static str) {
        self.fenced.get_or_create(&ScopeLabels { scope }).inc();
    }

    /// Sets `miroir_peer_pod_count`.
    pub fn set_peers(&self, count: usize) {
        self.peers.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Sets the items `worker` owned at its last pass.
    pub fn set_owned(&self, worker: &'static str, count: usize) {
        self.owned
            .get_or_create(&WorkerLabels { worker })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts `count` items worked by `worker`.
    pub fn worked(&self, worker: &'static str, count: u64) {
        self.worked
            .get_or_create(&WorkerLabels { worker })
            .inc_by(count);
    }

    /// Sets `miroir_task_registry_size`.
    pub fn set_registry_size(&self, tasks: u64) {
        self.registry_size
            .set(i64::try_from(tasks).unwrap_or(i64::MAX));
    }

    /// Counts pruned tasks.
    pub fn pruned(&self, tasks: u64) {
        self.pruned.inc_by(tasks);
    }

    /// Counts a finished job attempt (`completed`, `retried`, `failed`, `lost`).
    pub fn job(&self, job_type: &'static str, outcome: &'static str) {
        self.jobs
            .get_or_create(&JobLabels { job_type, outcome })
            .inc();
    }

    /// Records one canary run: its result, latency and the types of its failed assertions.
    pub fn canary_run<'a>(
        &self,
        canary: &str,
        result: &'static str,
        latency_ms: u64,
        failed_assertion_types: impl IntoIterator<Item = &'a str>,
    ) {
        self.canary_runs
            .get_or_create(&CanaryLabels {
                canary: canary.to_owned(),
                result,
            })
            .inc();
        self.canary_latency
            .get_or_create(&CanaryNameLabels {
                canary: canary.to_owned(),
            })
            .observe(latency_ms as f64);
        for assertion_type in failed_assertion_types {
            self.canary_failures
                .get_or_create(&AssertionLabels {
                    canary: canary.to_owned(),
                    assertion_type: assertion_type.to_owned(),
                })
                .inc();
        }
    }
}
