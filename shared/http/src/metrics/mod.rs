//! [`Metrics`]: the process's Prometheus metrics, served as text by `GET /_miroir/metrics`.
//!
//! - `miroir_http_requests_total{method,route,status}` and
//!   `miroir_http_request_duration_seconds{method,route,status}`: every request, labelled by the
//!   route *template* (`/tasks/{uid}`, never the raw path, so cardinality stays bounded;
//!   `unmatched` for unknown paths);
//! - `miroir_store_operation_duration_seconds{operation,outcome}`: every store call, by the Store
//!   API method name and `ok` or the error kind (via [`miroir_store::ObservedStore`]);
//! - `miroir_background_queue_depth{job_type}`: queued background jobs per type (plan §14.4: the
//!   HPA's external metric), read from the store at scrape time by
//!   [`Metrics::refresh_queue_depth`]. The store is shared, so every replica reports the same
//!   global value.
//!
//! - the background work's metrics ([`BackgroundMetrics`]): leadership, peers, owned items,
//!   pruning, jobs and canaries.
//!
//! One registry per process (per Lambda execution environment on AWS); no global recorder.

mod background;

use std::collections::{BTreeMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use miroir_store::{DynStore, JobKind, Outcome, StoreError, StoreObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use background::BackgroundMetrics;

/// The `Content-Type` of [`Metrics::render`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Labels of the request metrics: all `'static`, so recording a request allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

/// Labels of the store operation metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    operation: &'static str,
    outcome: &'static str,
}

/// Labels of the queue depth gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    job_type: &'static str,
}

/// Histogram buckets from 0.1 ms to about 6.5 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 17))
}

/// The metrics of one process. Cheap to update from any thread.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Route templates seen so far, leaked once each to serve as `'static` labels. Bounded by
    /// the number of routes the process serves (templates, never raw paths).
    routes: RwLock<HashSet<&'static str>>,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
    store_duration: Family<StoreLabels, Histogram, fn() -> Histogram>,
    queue_depth: Family<QueueLabels, Gauge>,
    background: BackgroundMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every Miroir metric registered and no samples.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration =
            Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let store_duration =
            Family::<StoreLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "miroir_http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "miroir_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status",
            request_duration.clone(),
        );
        registry.register(
            "miroir_store_operation_duration_seconds",
            "Time of a task store operation, by operation and outcome (ok or the error kind)",
            store_duration.clone(),
        );
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "miroir_background_queue_depth",
            "Queued background jobs, by job type (global: read from the shared task store)",
            queue_depth.clone(),
        );
        let background = BackgroundMetrics::register(&mut registry);
        Self {
            registry,
            routes: RwLock::new(HashSet::new()),
            requests,
            request_duration,
            store_duration,
            queue_depth,
            background,
        }
    }

    /// The background work's metrics.
    pub fn background(&self) -> &BackgroundMetrics {
        &self.background
    }

    /// Sets `miroir_background_queue_depth` to `depths`: one sample per job type, 0 for the types
    /// absent from `depths`.
    pub fn set_queue_depth(&self, depths: &BTreeMap<JobKind, u64>) {
        for kind in JobKind::ALL {
            let depth = depths.get(kind).copied().unwrap_or(0);
            self.queue_depth
                .get_or_create(&QueueLabels {
                    job_type: kind.as_str(),
                })
                .set(i64::try_from(depth).unwrap_or(i64::MAX));
        }
    }

    /// Reads the queue depth per job type from `store` (one `job_queue_depth` call) and sets
    /// `miroir_background_queue_depth`. When the store fails, logs a warning and drops the
    /// gauge's samples, so a scrape never shows a stale depth; the rest of the metrics are
    /// unaffected.
    pub async fn refresh_queue_depth(&self, store: &DynStore) {
        match store.job_queue_depth().await {
            Ok(depths) => self.set_queue_depth(&depths),
            Err(error) => {
                self.queue_depth.clear();
                tracing::warn!(%error, "miroir_background_queue_depth not refreshed: the task store failed");
            }
        }
    }

    /// Records one answered request. `route` must be a route template (or `unmatched`), never a
    /// raw path: each distinct value is kept for the life of the process.
    pub fn record_request(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let labels = RequestLabels {
            method: method_label(method),
            route: self.intern(route),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.request_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// `route` as a `'static` str, leaked the first time it is seen.
    fn intern(&self, route: &str) -> &'static str {
        let known = self
            .routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(route)
            .copied();
        known.unwrap_or_else(|| {
            let mut routes = self
                .routes
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match routes.get(route) {
                Some(interned) => interned,
                None => {
                    let interned: &'static str = Box::leak(route.to_owned().into_boxed_str());
                    routes.insert(interned);
                    interned
                }
            }
        })
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _infallible = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl StoreObserver for Metrics {
    fn observe(&self, operation: &'static str, elapsed: Duration, outcome: Outcome) {
        self.store_duration
            .get_or_create(&StoreLabels {
                operation,
                outcome: outcome.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Logs a failed store operation with its name (inside the request's span, so with its
    /// request id). Outages and faults are errors; refusals that are a normal answer (not
    /// found, conflict, a fenced or invalid call, a schema mismatch the readiness gate
    /// reports) are only debug lines. The text of a `StoreError` never holds a secret.
    fn failed(&self, operation: &'static str, error: &StoreError) {
        match error {
            StoreError::Unavailable(_)
            | StoreError::Backend(_)
            | StoreError::Corrupt { .. }
            | StoreError::NotAMiroirStore(_)
            | StoreError::InvalidUrl { .. } => {
                tracing::error!(operation, error = %error, "store operation failed");
            }
            _ => tracing::debug!(operation, error = %error, "store operation refused"),
        }
    }
}

/// Middleware recording every request's route template, status and duration in the state's
/// [`Metrics`] (applied outermost by [`crate::apply_layers`], so refusals count too).
pub(crate) async fn record(
    State(metrics): State<std::sync::Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    metrics.record_request(
        &method,
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The label of a method: the standard ones by name, any extension method as `other` (so a
/// client cannot create label values).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
