//! Rate limits: a counter per (bucket, source) expiring with its window, and a backoff hash per
//! admin-login source expiring `cap` after the last failure. Windows use the Redis server clock.

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::{self, Fields, Row};
use super::copy::{Expiring, Scan, ScanRows, Stored};
use super::keys::Keys;
use super::rows::Expiry;
use crate::copy::{CopyRow, CopyTable, LoginBackoffRecord, RateLimitCounter};
use crate::error::StoreResult;
use crate::rate_limits::{
    BackoffPolicy, LoginBackoff, RateLimitBucket, RateLimitHit, RateLimitStore,
};
use crate::time::{Timestamp, ttl_millis};

const TABLE: &str = "rate_limits";

lua_script!(HIT = "rate_limit_hit.lua");
lua_script!(LOGIN_FAILURE = "login_failure.lua");

fn decode_backoff(row: &Row) -> StoreResult<LoginBackoff> {
    Ok(LoginBackoff {
        failed_count: row.parse("failed_count")?,
        next_allowed_at: row.opt_timestamp("next_allowed_at")?,
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn hit_rate_limit(
        &self,
        bucket: RateLimitBucket,
        key: &str,
        window: Duration,
    ) -> StoreResult<RateLimitHit> {
        let mut invocation = HIT.key(self.keys().rate_limit(bucket, key));
        invocation.arg(ttl_millis(window));
        let (count, resets_at): (u64, i64) = self.eval(&invocation).await?;
        Ok(RateLimitHit {
            count,
            resets_at: Timestamp::from_millis(resets_at),
        })
    }

    async fn get_login_backoff(&self, source: &str) -> StoreResult<Option<LoginBackoff>> {
        let row = self.row(TABLE, &self.keys().login_backoff(source)).await?;
        row.as_ref().map(decode_backoff).transpose()
    }

    async fn record_login_failure(
        &self,
        source: &str,
        policy: BackoffPolicy,
    ) -> StoreResult<LoginBackoff> {
        let mut invocation = LOGIN_FAILURE.key(self.keys().login_backoff(source));
        invocation
            .arg(policy.threshold)
            .arg(millis(policy.base))
            .arg(millis(policy.cap))
            .arg(ttl_millis(policy.cap));
        let hash: Value = self.eval(&invocation).await?;
        decode_backoff(&Row::decode_present(TABLE, hash)?)
    }

    async fn record_login_success(&self, source: &str) -> StoreResult<()> {
        let keys = self.keys();
        // Two slots: each DEL atomic on its own.
        let _: Vec<u64> = self
            .query_each(&[
                redis::cmd("DEL").arg(keys.login_backoff(source)).clone(),
                redis::cmd("DEL")
                    .arg(keys.rate_limit(RateLimitBucket::AdminLogin, source))
                    .clone(),
            ])
            .await?;
        Ok(())
    }
}

impl RedisStore {
    /// Writes one copied rate-limit counter expiring at its `expires_at` in one `MULTI`,
    /// replacing the counter of the same bucket and source.
    pub(super) async fn import_rate_limit(&self, counter: &RateLimitCounter) -> StoreResult<()> {
        let key = self.keys().rate_limit(counter.bucket, &counter.source);
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(counter.count)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(counter.expires_at.as_millis())
            .ignore();
        self.query_pipeline(&pipeline).await
    }

    /// Writes one copied login backoff expiring at its `expires_at`, replacing the backoff of the
    /// same source.
    pub(super) async fn import_login_backoff(
        &self,
        record: &LoginBackoffRecord,
    ) -> StoreResult<()> {
        let fields = Fields::new()
            .display("failed_count", record.failed_count)
            .optional("next_allowed_at", record.next_allowed_at, Fields::timestamp);
        let key = self.keys().login_backoff(&record.source);
        self.put_row(&key, &fields, Expiry::At(record.expires_at), None)
            .await
    }
}

/// The `miroir-migrate copy` export of rate-limit counters: `SCAN` of their strings on every
/// master (the pattern also matches the login backoffs, which are left out), each with the
/// expiry of its key.
pub(super) fn copy_scan(keys: &Keys) -> Scan {
    Scan::spread(
        keys.rate_limit_prefix(),
        ScanRows::Expiring(Stored::String, decode_counter_copy_row),
    )
    .only(|keys, key| keys.rate_limit_of(key).is_some())
}

/// The `miroir-migrate copy` export of login backoffs: `SCAN` of their hashes on every master,
/// each with the expiry of its key.
pub(super) fn backoff_copy_scan(keys: &Keys) -> Scan {
    Scan::spread(
        keys.login_backoff_prefix(),
        ScanRows::Expiring(Stored::Hash, decode_backoff_copy_row),
    )
}

/// An exported counter from its key, value and expiry; `None` when the key is gone or never
/// expires.
fn decode_counter_copy_row(keys: &Keys, read: Expiring) -> StoreResult<Option<CopyRow>> {
    let (Some((bucket, source)), Some(expires_at)) =
        (keys.rate_limit_of(&read.key), read.expires_at)
    else {
        return Ok(None);
    };
    if read.value == Value::Nil {
        return Ok(None);
    }
    Ok(Some(CopyRow::RateLimit(RateLimitCounter {
        bucket,
        source,
        count: codec::integer(CopyTable::RateLimits.name(), read.value)?,
        expires_at,
    })))
}

/// An exported login backoff from its key, hash and expiry; `None` when the key is gone or never
/// expires.
fn decode_backoff_copy_row(keys: &Keys, read: Expiring) -> StoreResult<Option<CopyRow>> {
    let (Some(source), Some(expires_at)) =
        (keys.login_backoff_source_of(&read.key), read.expires_at)
    else {
        return Ok(None);
    };
    let Some(row) = Row::decode(CopyTable::LoginBackoffs.name(), read.value)? else {
        return Ok(None);
    };
    let backoff = decode_backoff(&row)?;
    Ok(Some(CopyRow::LoginBackoff(LoginBackoffRecord {
        source,
        failed_count: backoff.failed_count,
        next_allowed_at: backoff.next_allowed_at,
        expires_at,
    })))
}
