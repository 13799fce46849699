//! Canaries: a hash per canary plus a set of ids; runs in a sorted set per canary scored by
//! `ran_at`, members are the runs as JSON.

use async_trait::async_trait;
use futures::future::BoxFuture;
use redis::Value;
use serde::{Deserialize, Serialize};

use super::RedisStore;
use super::codec::{self, Fields, Row};
use super::copy::{Scan, ScanRows, checked_score};
use super::keys::Keys;
use super::rows::Expiry;
use crate::canaries::{Canary, CanaryRun, CanaryRunStatus, CanaryStore};
use crate::copy::{CopyPage, CopyRow, CopyTable};
use crate::error::StoreResult;
use crate::time::Timestamp;

const TABLE: &str = "canaries";
const RUNS_TABLE: &str = "canary_runs";

lua_script!(RECORD_RUN = "canary_record_run.lua");

/// A run as stored in the runs sorted set. `failed_assertions` is wrapped in a one-element array
/// so that `Some(null)` and `None` stay distinct in JSON.
#[derive(Serialize, Deserialize)]
struct StoredRun {
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

fn decode(row: &Row) -> StoreResult<Canary> {
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

impl RedisStore {
    /// One page of the `miroir-migrate copy` export of canaries: the id set, read whole, by id;
    /// the cursor is the last id.
    pub(super) async fn export_canaries(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let keys = self.keys();
        let (ids, next) = self.set_page(&keys.canary_index(), cursor, limit).await?;
        let hashes: Vec<String> = ids.iter().map(|id| keys.canary(id)).collect();
        let rows = self
            .copy_rows(CopyTable::Canaries, &hashes, |row| {
                decode(row).map(CopyRow::Canary)
            })
            .await?;
        Ok(CopyPage { rows, next })
    }

    /// Writes one copied canary run in one `MULTI`, replacing the run of the same canary at the
    /// same time.
    pub(super) async fn import_canary_run(&self, run: &CanaryRun) -> StoreResult<()> {
        let key = self.keys().canary_runs(&run.canary_id);
        let ran_at = run.ran_at.as_millis();
        let stored = codec::to_json(&StoredRun::from(run.clone()))?;
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg(ran_at)
            .arg(ran_at)
            .ignore()
            .cmd("ZADD")
            .arg(&key)
            .arg(ran_at)
            .arg(stored)
            .ignore();
        self.query_pipeline(&pipeline).await
    }
}

/// The `miroir-migrate copy` export of canary runs: `SCAN` of the per-canary sorted sets in their
/// slot (a run's canary need not exist), each set's runs by `ran_at`.
pub(super) fn run_copy_scan(keys: &Keys) -> Scan {
    Scan::tagged(
        keys.canary_runs_prefix(),
        ScanRows::SeveralPerKey(run_copy_rows),
    )
}

/// Up to `budget` runs of the sorted set `key` after `ran_at` `after`, and the last `ran_at`
/// returned when more are left.
fn run_copy_rows<'a>(
    store: &'a RedisStore,
    key: &'a str,
    after: Option<&'a str>,
    budget: usize,
) -> BoxFuture<'a, StoreResult<(Vec<CopyRow>, Option<String>)>> {
    Box::pin(async move {
        let table = CopyTable::CanaryRuns;
        let name = table.name();
        let mut rows = Vec::new();
        let min = match after {
            None => "-inf".to_owned(),
            Some(after) => format!("({}", checked_score(table, after, after)?),
        };
        let reply: Value = store
            .query(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(key)
                    .arg(min)
                    .arg("+inf")
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(budget + 1),
            )
            .await?;
        let mut items = codec::array(name, reply)?.into_iter();
        let mut last = None;
        let mut more = false;
        while let (Some(run), Some(score)) = (items.next(), items.next()) {
            if rows.len() == budget {
                more = true;
                break;
            }
            let run: StoredRun = codec::json(name, run)?;
            rows.push(CopyRow::CanaryRun(CanaryRun::from(run)));
            last = Some(codec::text(name, score)?);
        }
        Ok((rows, last.filter(|_| more)))
    })
}
