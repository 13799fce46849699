//! Table 5, `idempotency_cache`: expiring `Idempotency-Key` records.

use async_trait::async_trait;
use rusqlite::{Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, query_optional, require_future, u64_to_sql};
use crate::copy::CopyRow;
use crate::error::{StoreError, StoreResult};
use crate::idempotency::{IdempotencyInsert, IdempotencyRecord, IdempotencyStore};
use crate::time::Timestamp;

const SELECT_LIVE: &str = "SELECT key, body_sha256, task_uid, expires_at FROM idempotency_cache \
                           WHERE key = ?1 AND expires_at > ?2";

fn decode_record(row: &Row<'_>) -> StoreResult<IdempotencyRecord> {
    let columns = Columns::new("idempotency_cache", row);
    Ok(IdempotencyRecord {
        key: columns.string(0)?,
        body_sha256: columns.hash(1)?,
        task_uid: columns.u64(2)?,
        expires_at: columns.timestamp(3)?,
    })
}

fn get_live(
    connection: &rusqlite::Connection,
    key: &str,
    now: Timestamp,
) -> StoreResult<Option<IdempotencyRecord>> {
    let mut statement = connection.prepare_cached(SELECT_LIVE)?;
    query_optional(
        &mut statement,
        rusqlite::params![key, now.as_millis()],
        decode_record,
    )
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    /// One upsert that overwrites only an expired row; when it changed nothing the live row is
    /// read back in the same transaction.
    async fn insert_idempotency_if_absent(
        &self,
        record: IdempotencyRecord,
    ) -> StoreResult<IdempotencyInsert> {
        let task_uid = u64_to_sql(record.task_uid);
        self.write_transaction(move |transaction| {
            let now = Timestamp::now();
            require_future("idempotency record", record.expires_at, now)?;
            let inserted = transaction
                .prepare_cached(
                    "INSERT INTO idempotency_cache (key, body_sha256, task_uid, expires_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO UPDATE \
                     SET body_sha256 = excluded.body_sha256, task_uid = excluded.task_uid, \
                     expires_at = excluded.expires_at WHERE idempotency_cache.expires_at <= ?5",
                )?
                .execute(rusqlite::params![
                    record.key,
                    record.body_sha256,
                    task_uid,
                    record.expires_at.as_millis(),
                    now.as_millis(),
                ])?;
            if inserted > 0 {
                return Ok(IdempotencyInsert::Inserted);
            }
            get_live(transaction, &record.key, now)?
                .map(IdempotencyInsert::Existing)
                .ok_or_else(|| {
                    StoreError::Backend(
                        "idempotency record vanished inside its transaction".to_owned(),
                    )
                })
        })
        .await
    }

    async fn get_idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let key = key.to_owned();
        self.read(move |connection| get_live(connection, &key, Timestamp::now()))
            .await
    }
}

/// The columns of `idempotency_cache` a copy export reads, in order.
const IDEMPOTENCY_COLUMNS: &str = "key, body_sha256, task_uid, expires_at";

/// The `miroir-migrate copy` export of `idempotency_cache`: the unexpired records, by key.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "idempotency_cache",
        columns: IDEMPOTENCY_COLUMNS,
        key: &[("key", KeyKind::Text)],
        expires: true,
        decode: |row, _| Ok(CopyRow::Idempotency(decode_record(row)?)),
    }
}

/// Writes one copied idempotency record, replacing the record with the same key.
pub(super) fn import(transaction: &Transaction<'_>, record: &IdempotencyRecord) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO idempotency_cache (key, body_sha256, task_uid, expires_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO UPDATE SET \
             body_sha256 = excluded.body_sha256, task_uid = excluded.task_uid, \
             expires_at = excluded.expires_at",
        )?
        .execute(rusqlite::params![
            record.key,
            record.body_sha256,
            u64_to_sql(record.task_uid),
            record.expires_at.as_millis(),
        ])?;
    Ok(())
}
