//! Tables 8 and 9, `canaries` and `canary_runs`: synthetic queries with golden assertions and
//! their bounded run history.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::time::Timestamp;

/// A canary definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    /// Canary id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Index (or alias) queried.
    pub index_uid: String,
    /// Seconds between runs.
    pub interval_s: u32,
    /// The search body.
    pub query: serde_json::Value,
    /// Assertion specs (a JSON array).
    pub assertions: serde_json::Value,
    /// Whether the runner schedules it.
    pub enabled: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Outcome of one canary run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryRunStatus {
    /// Every assertion held.
    Pass,
    /// An assertion failed.
    Fail,
    /// The query itself failed.
    Error,
}

string_enum!(CanaryRunStatus, "canary run status", {
    Pass => "pass",
    Fail => "fail",
    Error => "error",
});

/// One run of a canary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanaryRun {
    /// The canary.
    pub canary_id: String,
    /// When it ran (unique per canary).
    pub ran_at: Timestamp,
    /// Outcome.
    pub status: CanaryRunStatus,
    /// Query latency.
    pub latency_ms: u64,
    /// Failed assertions with observed values (`None` on pass).
    pub failed_assertions: Option<serde_json::Value>,
}

/// Canary definitions and runs.
#[async_trait]
pub trait CanaryStore {
    /// Creates or replaces a canary.
    async fn upsert_canary(&self, canary: Canary) -> StoreResult<()>;

    /// The canary, or `None`.
    async fn get_canary(&self, id: &str) -> StoreResult<Option<Canary>>;

    /// Every canary, ordered by id.
    async fn list_canaries(&self) -> StoreResult<Vec<Canary>>;

    /// Deletes a canary and its runs; `false` if it did not exist.
    async fn delete_canary(&self, id: &str) -> StoreResult<bool>;

    /// Appends a run (replacing one with the same `ran_at`) and, in the same atomic step, drops
    /// the oldest runs beyond `keep`.
    async fn record_canary_run(&self, run: CanaryRun, keep: usize) -> StoreResult<()>;

    /// The newest `limit` runs of a canary, newest first.
    async fn list_canary_runs(&self, canary_id: &str, limit: usize) -> StoreResult<Vec<CanaryRun>>;
}
