//! Canaries: a hash per canary plus a set of ids; runs in a sorted set per canary scored by
//! `ran_at`, members are the runs as JSON.

use async_trait::async_trait;
use redis::Value;
use serde::{Deserialize, Serialize};

use super::RedisStore;
use super::codec::{self, Fields, Row};
use super::rows::Expiry;
use crate::canaries::{Canary, CanaryRun, CanaryRunStatus, CanaryStore};
use crate::error::StoreResult;
use crate::time::Timestamp;

const TABLE: &str = "canaries";
const RUNS_TABLE: &str = "canary_runs";

lua_script!(RECORD_RUN = "canary_record_run.lua");

/// A run as stored in the runs sorted set. `failed_assertions` is wrapped in a one-element array
/// so that `Some(null)` and `None` stay distinct in JSON.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredRun {
    canary_id: String,
    ran_at: Timestamp,
    status: CanaryRunStatus,
    latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed_assertions: Option<[serde_json::Value; 1]>,
}

impl From<CanaryRun> for StoredRun {
    fn from(run: CanaryRun) -> Self {
        Self {
            canary_id: run.canary_id,
            ran_at: run.ran_at,
            status: run.status,
            latency_ms: run.latency_ms,
            failed_assertions: run.failed_assertions.map(|failed| [failed]),
        }
    }
}

impl From<StoredRun> for CanaryRun {
    fn from(run: StoredRun) -> Self {
        Self {
            canary_id: run.canary_id,
            ran_at: run.ran_at,
            status: run.status,
            latency_ms: run.latency_ms,
            failed_assertions: run.failed_assertions.map(|[failed]| failed),
        }
    }
}

pub(super) fn decode(row: &Row) -> StoreResult<Canary> {
    Ok(Canary {
        id: row.text("id")?,
        name: row.text("name")?,
        index_uid: row.text("index_uid")?,
        interval_s: row.parse("interval_s")?,
        query: row.json("query")?,
        assertions: row.json("assertions")?,
        enabled: row.flag("enabled")?,
        created_at: row.timestamp("created_at")?,
    })
}

#[async_trait]
impl CanaryStore for RedisStore {
    async fn upsert_canary(&self, canary: Canary) -> StoreResult<()> {
        let fields = Fields::new()
            .text("id", canary.id.as_str())
            .text("name", canary.name.as_str())
            .text("index_uid", canary.index_uid.as_str())
            .display("interval_s", canary.interval_s)
            .json("query", &canary.query)?
            .json("assertions", &canary.assertions)?
            .flag("enabled", canary.enabled)
            .timestamp("created_at", canary.created_at);
        let keys = self.keys();
        let index_key = keys.canary_index();
        let key = keys.canary(&canary.id);
        self.put_row(&key, &fields, Expiry::Never, Some((&index_key, &canary.id)))
            .await
    }

    async fn get_canary(&self, id: &str) -> StoreResult<Option<Canary>> {
        let row = self.row(TABLE, &self.keys().canary(id)).await?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_canaries(&self) -> StoreResult<Vec<Canary>> {
        let keys = self.keys();
        let rows = self
            .indexed_rows(TABLE, &keys.canary_index(), |id| keys.canary(id))
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn delete_canary(&self, id: &str) -> StoreResult<bool> {
        let keys = self.keys();
        self.delete_indexed_row(
            &[keys.canary(id), keys.canary_runs(id)],
            &keys.canary_index(),
            id,
        )
        .await
    }

    async fn record_canary_run(&self, run: CanaryRun, keep: usize) -> StoreResult<()> {
        let last_dropped_rank = i64::try_from(keep)
            .unwrap_or(i64::MAX - 1)
            .saturating_add(1);
        let mut invocation = RECORD_RUN.key(self.keys().canary_runs(&run.canary_id));
        invocation
            .arg(run.ran_at.as_millis())
            .arg(codec::to_json(&StoredRun::from(run))?)
            .arg(-last_dropped_rank);
        let _: i64 = self.eval(&invocation).await?;
        Ok(())
    }

    async fn list_canary_runs(&self, canary_id: &str, limit: usize) -> StoreResult<Vec<CanaryRun>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let last = i64::try_from(limit).unwrap_or(i64::MAX) - 1;
        let runs: Value = self
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.keys().canary_runs(canary_id))
                    .arg(0)
                    .arg(last)
                    .arg("REV"),
            )
            .await?;
        codec::array(RUNS_TABLE, runs)?
            .into_iter()
            .map(|run| codec::json::<StoredRun>(RUNS_TABLE, run).map(CanaryRun::from))
            .collect()
    }
}
