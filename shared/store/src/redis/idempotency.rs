//! Idempotency records: one hash per `Idempotency-Key`, expiring at `expires_at`; inserted only
//! if absent, atomically.

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::{Fields, Row};
use super::copy::{Scan, ScanRows};
use super::keys::Keys;
use super::rows::{Expiry, require_future};
use crate::copy::CopyRow;
use crate::error::StoreResult;
use crate::idempotency::{IdempotencyInsert, IdempotencyRecord, IdempotencyStore};
use crate::time::Timestamp;

const TABLE: &str = "idempotency_cache";

lua_script!(CREATE_EXPIRING = "hash_create_expiring.lua");

fn decode(row: &Row) -> StoreResult<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        key: row.text("key")?,
        body_sha256: row.hex32("body_sha256")?,
        task_uid: row.parse("task_uid")?,
        expires_at: row.timestamp("expires_at")?,
    })
}

impl RedisStore {
    /// Creates the expiring hash `key` from `fields` unless it exists; returns the stored hash
    /// when it does (nothing written).
    pub(super) async fn create_expiring_row(
        &self,
        table: &'static str,
        key: &str,
        fields: &Fields,
        expires_at: Timestamp,
    ) -> StoreResult<Option<Row>> {
        let mut invocation = CREATE_EXPIRING.key(key);
        invocation
            .arg(expires_at.as_millis())
            .arg(fields.script_args());
        let stored: Value = self.eval(&invocation).await?;
        Row::decode(table, stored)
    }
}

#[async_trait]
impl IdempotencyStore for RedisStore {
    async fn insert_idempotency_if_absent(
        &self,
        record: IdempotencyRecord,
    ) -> StoreResult<IdempotencyInsert> {
        require_future("idempotency record", record.expires_at)?;
        let fields = Fields::new()
            .text("key", record.key.as_str())
            .hex("body_sha256", &record.body_sha256)
            .display("task_uid", record.task_uid)
            .timestamp("expires_at", record.expires_at);
        let key = self.keys().idempotency(&record.key);
        match self
            .create_expiring_row(TABLE, &key, &fields, record.expires_at)
            .await?
        {
            None => Ok(IdempotencyInsert::Inserted),
            Some(stored) => Ok(IdempotencyInsert::Existing(decode(&stored)?)),
        }
    }

    async fn get_idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let row = self.row(TABLE, &self.keys().idempotency(key)).await?;
        row.as_ref().map(decode).transpose()
    }
}

impl RedisStore {
    /// Writes one copied idempotency record expiring at its `expires_at`, replacing the record of
    /// the same key.
    pub(super) async fn import_idempotency(&self, record: &IdempotencyRecord) -> StoreResult<()> {
        let fields = Fields::new()
            .text("key", record.key.as_str())
            .hex("body_sha256", &record.body_sha256)
            .display("task_uid", record.task_uid)
            .timestamp("expires_at", record.expires_at);
        let key = self.keys().idempotency(&record.key);
        self.put_row(&key, &fields, Expiry::At(record.expires_at), None)
            .await
    }
}

/// The `miroir-migrate copy` export of idempotency records: `SCAN` of their hashes on every
/// master.
pub(super) fn copy_scan(keys: &Keys) -> Scan {
    Scan::spread(
        keys.idempotency_prefix(),
        ScanRows::Hashes(|row| decode(row).map(CopyRow::Idempotency)),
    )
}
