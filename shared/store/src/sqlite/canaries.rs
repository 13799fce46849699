//! Tables 8 and 9, `canaries` and `canary_runs`.

use async_trait::async_trait;
use rusqlite::{Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, query_all, query_optional, saturating_i64, to_json, u64_to_sql};
use crate::canaries::{Canary, CanaryRun, CanaryStore};
use crate::copy::CopyRow;
use crate::error::StoreResult;

macro_rules! canary_columns {
    () => {
        "id, name, index_uid, interval_s, query_json, assertions_json, enabled, created_at"
    };
}

fn decode_canary(row: &Row<'_>) -> StoreResult<Canary> {
    let columns = Columns::new("canaries", row);
    Ok(Canary {
        id: columns.string(0)?,
        name: columns.string(1)?,
        index_uid: columns.string(2)?,
        interval_s: columns.u32(3)?,
        query: columns.json(4)?,
        assertions: columns.json(5)?,
        enabled: columns.bool(6)?,
        created_at: columns.timestamp(7)?,
    })
}

fn decode_run(row: &Row<'_>) -> StoreResult<CanaryRun> {
    let columns = Columns::new("canary_runs", row);
    Ok(CanaryRun {
        canary_id: columns.string(0)?,
        ran_at: columns.timestamp(1)?,
        status: columns.parse(2)?,
        latency_ms: columns.u64(3)?,
        failed_assertions: columns.opt_json(4)?,
    })
}

#[async_trait]
impl CanaryStore for SqliteStore {
    /// Updates in place (an `INSERT OR REPLACE` would be a delete plus an insert).
    async fn upsert_canary(&self, canary: Canary) -> StoreResult<()> {
        let query = to_json("canary query", &canary.query)?;
        let assertions = to_json("canary assertions", &canary.assertions)?;
        self.write(move |connection| {
            connection
                .prepare_cached(concat!(
                    "INSERT INTO canaries (",
                    canary_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET \
                     name = excluded.name, index_uid = excluded.index_uid, interval_s = excluded.interval_s, \
                     query_json = excluded.query_json, assertions_json = excluded.assertions_json, \
                     enabled = excluded.enabled, created_at = excluded.created_at"
                ))?
                .execute(rusqlite::params![
                    canary.id,
                    canary.name,
                    canary.index_uid,
                    canary.interval_s,
                    query,
                    assertions,
                    canary.enabled,
                    canary.created_at.as_millis(),
                ])?;
            Ok(())
        })
        .await
    }

    async fn get_canary(&self, id: &str) -> StoreResult<Option<Canary>> {
        let id = id.to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                canary_columns!(),
                " FROM canaries WHERE id = ?1"
            ))?;
            query_optional(&mut statement, [id], decode_canary)
        })
        .await
    }

    async fn list_canaries(&self) -> StoreResult<Vec<Canary>> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                canary_columns!(),
                " FROM canaries ORDER BY id"
            ))?;
            query_all(&mut statement, [], decode_canary)
        })
        .await
    }

    /// The canary and its runs go in one transaction.
    async fn delete_canary(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write_transaction(move |transaction| {
            transaction
                .prepare_cached("DELETE FROM canary_runs WHERE canary_id = ?1")?
                .execute([&id])?;
            let deleted = transaction
                .prepare_cached("DELETE FROM canaries WHERE id = ?1")?
                .execute([&id])?;
            Ok(deleted > 0)
        })
        .await
    }

    /// The insert and the trim run in one transaction; the trim deletes every run at or before
    /// the `keep + 1`-th newest.
    async fn record_canary_run(&self, run: CanaryRun, keep: usize) -> StoreResult<()> {
        let latency_ms = u64_to_sql(run.latency_ms);
        let failed_assertions = run
            .failed_assertions
            .as_ref()
            .map(|failed| to_json("failed assertions", failed))
            .transpose()?;
        self.write_transaction(move |transaction| {
            transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO canary_runs \
                     (canary_id, ran_at, status, latency_ms, failed_assertions_json) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(rusqlite::params![
                    run.canary_id,
                    run.ran_at.as_millis(),
                    run.status.as_str(),
                    latency_ms,
                    failed_assertions,
                ])?;
            transaction
                .prepare_cached(
                    "DELETE FROM canary_runs WHERE canary_id = ?1 AND ran_at <= (SELECT ran_at FROM canary_runs \
                     WHERE canary_id = ?1 ORDER BY ran_at DESC LIMIT 1 OFFSET ?2)",
                )?
                .execute(rusqlite::params![run.canary_id, saturating_i64(keep)])?;
            Ok(())
        })
        .await
    }

    async fn list_canary_runs(&self, canary_id: &str, limit: usize) -> StoreResult<Vec<CanaryRun>> {
        let canary_id = canary_id.to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT canary_id, ran_at, status, latency_ms, failed_assertions_json FROM canary_runs \
                 WHERE canary_id = ?1 ORDER BY ran_at DESC LIMIT ?2",
            )?;
            query_all(&mut statement, rusqlite::params![canary_id, saturating_i64(limit)], decode_run)
        })
        .await
    }
}

/// The columns of `canary_runs` a copy export reads, in order.
const RUN_COLUMNS: &str = "canary_id, ran_at, status, latency_ms, failed_assertions_json";

/// The `miroir-migrate copy` export of `canaries`, by id.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "canaries",
        columns: canary_columns!(),
        key: &[("id", KeyKind::Text)],
        expires: false,
        decode: |row, _| Ok(CopyRow::Canary(decode_canary(row)?)),
    }
}

/// The `miroir-migrate copy` export of `canary_runs`, by canary then run time.
pub(super) fn run_copy_spec() -> TableSpec {
    TableSpec {
        table: "canary_runs",
        columns: RUN_COLUMNS,
        key: &[("canary_id", KeyKind::Text), ("ran_at", KeyKind::Integer)],
        expires: false,
        decode: |row, _| Ok(CopyRow::CanaryRun(decode_run(row)?)),
    }
}

/// Writes one copied canary, replacing the canary with the same id.
pub(super) fn import(transaction: &Transaction<'_>, canary: &Canary) -> StoreResult<()> {
    transaction
        .prepare_cached(concat!(
            "INSERT INTO canaries (",
            canary_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET \
             name = excluded.name, index_uid = excluded.index_uid, \
             interval_s = excluded.interval_s, query_json = excluded.query_json, \
             assertions_json = excluded.assertions_json, enabled = excluded.enabled, \
             created_at = excluded.created_at"
        ))?
        .execute(rusqlite::params![
            canary.id,
            canary.name,
            canary.index_uid,
            canary.interval_s,
            to_json("canary query", &canary.query)?,
            to_json("canary assertions", &canary.assertions)?,
            canary.enabled,
            canary.created_at.as_millis(),
        ])?;
    Ok(())
}

/// Writes one copied canary run, replacing the run of the same canary at the same time.
pub(super) fn import_run(transaction: &Transaction<'_>, run: &CanaryRun) -> StoreResult<()> {
    let failed_assertions = run
        .failed_assertions
        .as_ref()
        .map(|failed| to_json("failed assertions", failed))
        .transpose()?;
    transaction
        .prepare_cached(
            "INSERT INTO canary_runs (canary_id, ran_at, status, latency_ms, \
             failed_assertions_json) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (canary_id, ran_at) DO UPDATE SET status = excluded.status, \
             latency_ms = excluded.latency_ms, \
             failed_assertions_json = excluded.failed_assertions_json",
        )?
        .execute(rusqlite::params![
            run.canary_id,
            run.ran_at.as_millis(),
            run.status.as_str(),
            u64_to_sql(run.latency_ms),
            failed_assertions,
        ])?;
    Ok(())
}
