//! Rate limits: a counter per (bucket, source) expiring with its window, and a backoff hash per
//! admin-login source expiring `cap` after the last failure. Windows use the Redis server clock.

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::Row;
use crate::error::StoreResult;
use crate::rate_limits::{
    BackoffPolicy, LoginBackoff, RateLimitBucket, RateLimitHit, RateLimitStore,
};
use crate::time::{Timestamp, ttl_millis};

const TABLE: &str = "rate_limits";

lua_script!(HIT = "rate_limit_hit.lua");
lua_script!(LOGIN_FAILURE = "login_failure.lua");

pub(super) fn decode_backoff(row: &Row) -> StoreResult<LoginBackoff> {
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
