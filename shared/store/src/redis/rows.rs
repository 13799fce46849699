//! Row-level helpers shared by the table modules: read a hash, replace a hash (optionally with
//! an expiry), and keep "list all" tables (a hash per row plus a set of row names).

use redis::Value;

use super::RedisStore;
use super::codec::{Fields, Row};
use crate::error::{StoreError, StoreResult};
use crate::time::Timestamp;

/// `InvalidInput` unless `expires_at` is in the future (of this process's clock), checked before
/// anything is written.
pub(super) fn require_future(what: &str, expires_at: Timestamp) -> StoreResult<()> {
    if expires_at <= Timestamp::now() {
        return Err(StoreError::invalid(format_args!(
            "{what} expires_at must be in the future"
        )));
    }
    Ok(())
}

/// How a replaced row expires.
#[derive(Clone, Copy, Debug)]
pub(super) enum Expiry {
    /// Never.
    Never,
    /// At this instant (`PEXPIREAT`).
    At(Timestamp),
    /// After this many milliseconds (`PEXPIRE`).
    AfterMillis(i64),
}

impl RedisStore {
    /// The hash at `key`, `None` if it does not exist (or expired).
    pub(super) async fn row(&self, table: &'static str, key: &str) -> StoreResult<Option<Row>> {
        let value: Value = self.query(redis::cmd("HGETALL").arg(key)).await?;
        Row::decode(table, value)
    }

    /// The hashes at `keys` in that order (one round trip per node), skipping missing ones.
    pub(super) async fn rows(&self, table: &'static str, keys: &[String]) -> StoreResult<Vec<Row>> {
        let commands: Vec<redis::Cmd> = keys
            .iter()
            .map(|key| redis::cmd("HGETALL").arg(key).clone())
            .collect();
        let values: Vec<Value> = self.query_each(&commands).await?;
        let mut rows = Vec::with_capacity(keys.len());
        for value in values {
            rows.extend(Row::decode(table, value)?);
        }
        Ok(rows)
    }

    /// Replaces the hash at `key` by `fields` (and its expiry) in one transaction; when
    /// `index_key` is given, `member` is added to that set in the same transaction.
    pub(super) async fn put_row(
        &self,
        key: &str,
        fields: &Fields,
        expiry: Expiry,
        index: Option<(&str, &str)>,
    ) -> StoreResult<()> {
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("DEL")
            .arg(key)
            .ignore()
            .add_command(fields.hset(key))
            .ignore();
        match expiry {
            Expiry::Never => {}
            Expiry::At(instant) => {
                pipeline
                    .cmd("PEXPIREAT")
                    .arg(key)
                    .arg(instant.as_millis())
                    .ignore();
            }
            Expiry::AfterMillis(millis) => {
                pipeline.cmd("PEXPIRE").arg(key).arg(millis).ignore();
            }
        }
        if let Some((index_key, member)) = index {
            pipeline.cmd("SADD").arg(index_key).arg(member).ignore();
        }
        self.query_pipeline(&pipeline).await
    }

    /// Deletes `keys` and removes `member` from the set `index_key` in one transaction; true if
    /// the first key existed.
    pub(super) async fn delete_indexed_row(
        &self,
        keys: &[String],
        index_key: &str,
        member: &str,
    ) -> StoreResult<bool> {
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        for (position, key) in keys.iter().enumerate() {
            pipeline.cmd("DEL").arg(key);
            if position > 0 {
                pipeline.ignore();
            }
        }
        pipeline.cmd("SREM").arg(index_key).arg(member).ignore();
        let (deleted,): (u64,) = self.query_pipeline(&pipeline).await?;
        Ok(deleted > 0)
    }

    /// Every row of an indexed table, ordered by member name (`key_of` builds a row's key).
    pub(super) async fn indexed_rows(
        &self,
        table: &'static str,
        index_key: &str,
        key_of: impl Fn(&str) -> String,
    ) -> StoreResult<Vec<Row>> {
        let mut members: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(index_key)).await?;
        members.sort();
        let keys: Vec<String> = members.iter().map(|member| key_of(member)).collect();
        self.rows(table, &keys).await
    }

    /// Deletes one key; true if it existed.
    pub(super) async fn delete_key(&self, key: &str) -> StoreResult<bool> {
        let deleted: u64 = self.query(redis::cmd("DEL").arg(key)).await?;
        Ok(deleted > 0)
    }
}
