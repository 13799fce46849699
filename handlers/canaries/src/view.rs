//! The JSON shapes of the canary routes: snake_case, like the `canaries:` schema of plan §13.18
//! they echo.

use miroir_http::timefmt::format_rfc3339;
use miroir_store::{Canary, CanaryRun, CanaryRunStatus};
use serde::Serialize;
use utoipa::ToSchema;

/// A canary definition as stored.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Canary)]
pub(crate) struct CanaryView {
    /// The canary's name, its identifier.
    name: String,
    /// The index (or alias) it queries.
    index: String,
    /// Seconds between runs.
    interval_s: u32,
    /// Whether the runner schedules it.
    enabled: bool,
    /// The search body.
    #[schema(value_type = Object)]
    query: serde_json::Value,
    /// The assertion specs.
    #[schema(value_type = Vec<Object>)]
    assertions: serde_json::Value,
    /// RFC 3339 creation time (kept when the canary is modified).
    created_at: String,
}

impl From<Canary> for CanaryView {
    fn from(canary: Canary) -> Self {
        Self {
            name: canary.id,
            index: canary.index_uid,
            interval_s: canary.interval_s,
            enabled: canary.enabled,
            query: canary.query,
            assertions: canary.assertions,
            created_at: format_rfc3339(canary.created_at),
        }
    }
}

/// One run of a canary.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CanaryRun)]
pub(crate) struct RunView {
    /// RFC 3339 time of the run.
    ran_at: String,
    /// `pass`, `fail` (an assertion failed) or `error` (the query failed).
    #[schema(value_type = String)]
    status: &'static str,
    /// Query latency in milliseconds.
    latency_ms: u64,
    /// The failed assertions with the observed values; null on a pass.
    #[schema(value_type = Option<Vec<Object>>)]
    failed_assertions: Option<serde_json::Value>,
}

impl From<CanaryRun> for RunView {
    fn from(run: CanaryRun) -> Self {
        Self {
            ran_at: format_rfc3339(run.ran_at),
            status: run.status.as_str(),
            latency_ms: run.latency_ms,
            failed_assertions: run.failed_assertions,
        }
    }
}

/// A canary with its recent runs.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CanaryStatus)]
pub(crate) struct CanaryStatusView {
    #[serde(flatten)]
    canary: CanaryView,
    /// Runs shown (at most `run_history_per_canary`).
    run_count: usize,
    /// Runs that passed, among those shown.
    passed: usize,
    /// Runs with a failed assertion, among those shown.
    failed: usize,
    /// Runs whose query failed, among those shown.
    errored: usize,
    /// The newest run that did not pass (`fail` or `error`), if any.
    last_failure: Option<RunView>,
    /// The runs, newest first.
    runs: Vec<RunView>,
}

impl CanaryStatusView {
    /// `canary` with `runs` (newest first).
    pub(crate) fn new(canary: Canary, runs: Vec<CanaryRun>) -> Self {
        let count = |status| runs.iter().filter(|run| run.status == status).count();
        let (passed, failed, errored) = (
            count(CanaryRunStatus::Pass),
            count(CanaryRunStatus::Fail),
            count(CanaryRunStatus::Error),
        );
        let last_failure = runs
            .iter()
            .find(|run| run.status != CanaryRunStatus::Pass)
            .cloned()
            .map(RunView::from);
        Self {
            canary: CanaryView::from(canary),
            run_count: runs.len(),
            passed,
            failed,
            errored,
            last_failure,
            runs: runs.into_iter().map(RunView::from).collect(),
        }
    }
}

/// The body of `GET /_miroir/canaries/status`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CanaryStatusList {
    /// Runs kept and shown per canary (`canary_runner.run_history_per_canary`).
    run_history_per_canary: u32,
    /// Every canary, by name.
    canaries: Vec<CanaryStatusView>,
}

impl CanaryStatusList {
    pub(crate) fn new(run_history_per_canary: u32, canaries: Vec<CanaryStatusView>) -> Self {
        Self {
            run_history_per_canary,
            canaries,
        }
    }
}
