//! Rate-limit counters and the admin-login backoff (`miroir:ratelimit:*`). Counters expire.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::time::Timestamp;

/// Which limiter a counter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitBucket {
    /// `POST /_miroir/admin/login` per source IP.
    AdminLogin,
    /// Search-UI requests per source IP.
    SearchUi,
}

string_enum!(RateLimitBucket, "rate limit bucket", {
    AdminLogin => "adminlogin",
    SearchUi => "searchui",
});

/// The state of a fixed-window counter after a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitHit {
    /// Hits in the current window, this one included.
    pub count: u64,
    /// When the window (and the counter) ends.
    pub resets_at: Timestamp,
}

/// Consecutive failed admin logins of one source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginBackoff {
    /// Consecutive failures since the last success.
    pub failed_count: u32,
    /// Logins are refused before this instant (`None`: no backoff yet).
    pub next_allowed_at: Option<Timestamp>,
}

/// Exponential backoff: from the `threshold`-th consecutive failure on, wait
/// `base * 2^(failures - threshold)`, at most `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Failures tolerated before backing off.
    pub threshold: u32,
    /// First backoff.
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
}

impl Default for BackoffPolicy {
    /// Plan §4: after 5 failures, 10m, 20m, 40m … capped at 24h.
    fn default() -> Self {
        Self {
            threshold: 5,
            base: Duration::from_secs(600),
            cap: Duration::from_secs(86_400),
        }
    }
}

impl BackoffPolicy {
    /// The wait after the `failed_count`-th consecutive failure (`None` below the threshold).
    pub fn backoff_after(&self, failed_count: u32) -> Option<Duration> {
        let excess = failed_count.checked_sub(self.threshold)?;
        let factor = 1u64.checked_shl(excess.min(63)).unwrap_or(u64::MAX);
        let millis = u64::try_from(self.base.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(factor);
        Some(Duration::from_millis(millis).min(self.cap))
    }
}

/// Rate limits and login backoff.
#[async_trait]
pub trait RateLimitStore {
    /// Counts one hit of `key` (an IP) in a fixed window of length `window` starting at the first
    /// hit. Atomic across replicas.
    async fn hit_rate_limit(
        &self,
        bucket: RateLimitBucket,
        key: &str,
        window: Duration,
    ) -> StoreResult<RateLimitHit>;

    /// The backoff state of a source, `None` if it has no recorded failure.
    async fn get_login_backoff(&self, source: &str) -> StoreResult<Option<LoginBackoff>>;

    /// Counts a failed login and, per `policy`, sets `next_allowed_at`. Atomic. The record is
    /// forgotten `policy.cap` after the last failure.
    async fn record_login_failure(
        &self,
        source: &str,
        policy: BackoffPolicy,
    ) -> StoreResult<LoginBackoff>;

    /// A successful login: forgets the source's failures and its login rate-limit counter.
    async fn record_login_success(&self, source: &str) -> StoreResult<()>;
}
