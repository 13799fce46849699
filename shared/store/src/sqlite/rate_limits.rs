//! Fixed-window counters `rate_limits` and the admin-login backoff `login_backoff`, both
//! expiring.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, expiry, query_optional, u64_to_sql};
use crate::copy::{CopyRow, LoginBackoffRecord, RateLimitCounter};
use crate::error::{StoreError, StoreResult};
use crate::rate_limits::{
    BackoffPolicy, LoginBackoff, RateLimitBucket, RateLimitHit, RateLimitStore,
};
use crate::time::Timestamp;

fn decode_backoff(row: &rusqlite::Row<'_>) -> StoreResult<LoginBackoff> {
    let columns = Columns::new("login_backoff", row);
    Ok(LoginBackoff {
        failed_count: columns.u32(0)?,
        next_allowed_at: columns.opt_timestamp(1)?,
    })
}

#[async_trait]
impl RateLimitStore for SqliteStore {
    /// One upsert: a missing or ended window restarts at 1 for `window`, a live one counts up.
    async fn hit_rate_limit(
        &self,
        bucket: RateLimitBucket,
        key: &str,
        window: Duration,
    ) -> StoreResult<RateLimitHit> {
        let key = key.to_owned();
        self.write(move |connection| {
            let now = Timestamp::now();
            let mut statement = connection.prepare_cached(
                "INSERT INTO rate_limits (bucket, key, count, expires_at) VALUES (?1, ?2, 1, ?3) \
                 ON CONFLICT (bucket, key) DO UPDATE SET \
                 count = CASE WHEN rate_limits.expires_at <= ?4 THEN 1 ELSE rate_limits.count + 1 END, \
                 expires_at = CASE WHEN rate_limits.expires_at <= ?4 THEN excluded.expires_at \
                 ELSE rate_limits.expires_at END \
                 RETURNING count, expires_at",
            )?;
            query_optional(
                &mut statement,
                rusqlite::params![bucket.as_str(), key, expiry(now, window).as_millis(), now.as_millis()],
                |row| {
                    let columns = Columns::new("rate_limits", row);
                    Ok(RateLimitHit {
                        count: columns.u64(0)?,
                        resets_at: columns.timestamp(1)?,
                    })
                },
            )?
            .ok_or_else(|| StoreError::Backend("rate limit upsert returned no row".to_owned()))
        })
        .await
    }

    async fn get_login_backoff(&self, source: &str) -> StoreResult<Option<LoginBackoff>> {
        let source = source.to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT failed_count, next_allowed_at FROM login_backoff WHERE source = ?1 AND expires_at > ?2",
            )?;
            query_optional(
                &mut statement,
                rusqlite::params![source, Timestamp::now().as_millis()],
                decode_backoff,
            )
        })
        .await
    }

    /// Counts up (from 0 when the record expired) and sets the backoff in one transaction.
    async fn record_login_failure(
        &self,
        source: &str,
        policy: BackoffPolicy,
    ) -> StoreResult<LoginBackoff> {
        let source = source.to_owned();
        self.write_transaction(move |transaction| {
            let now = Timestamp::now();
            let mut statement = transaction.prepare_cached(
                "SELECT failed_count, next_allowed_at FROM login_backoff WHERE source = ?1 AND expires_at > ?2",
            )?;
            let previous =
                query_optional(&mut statement, rusqlite::params![source, now.as_millis()], decode_backoff)?;
            let failed_count = previous.map_or(0, |backoff| backoff.failed_count).saturating_add(1);
            let backoff = LoginBackoff {
                failed_count,
                next_allowed_at: policy.backoff_after(failed_count).map(|wait| now.plus(wait)),
            };
            transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO login_backoff (source, failed_count, next_allowed_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(rusqlite::params![
                    source,
                    backoff.failed_count,
                    backoff.next_allowed_at.map(Timestamp::as_millis),
                    expiry(now, policy.cap).as_millis(),
                ])?;
            Ok(backoff)
        })
        .await
    }

    async fn record_login_success(&self, source: &str) -> StoreResult<()> {
        let source = source.to_owned();
        self.write_transaction(move |transaction| {
            transaction
                .prepare_cached("DELETE FROM login_backoff WHERE source = ?1")?
                .execute([&source])?;
            transaction
                .prepare_cached("DELETE FROM rate_limits WHERE bucket = ?1 AND key = ?2")?
                .execute([RateLimitBucket::AdminLogin.as_str(), source.as_str()])?;
            Ok(())
        })
        .await
    }
}

/// The columns of `rate_limits` a copy export reads, in order.
const RATE_LIMIT_COLUMNS: &str = "bucket, key, count, expires_at";
/// The columns of `login_backoff` a copy export reads, in order.
const BACKOFF_COLUMNS: &str = "source, failed_count, next_allowed_at, expires_at";

/// The `miroir-migrate copy` export of `rate_limits`: the unexpired counters, by bucket then key.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "rate_limits",
        columns: RATE_LIMIT_COLUMNS,
        key: &[("bucket", KeyKind::Text), ("key", KeyKind::Text)],
        expires: true,
        decode: decode_counter_copy_row,
    }
}

/// The `miroir-migrate copy` export of `login_backoff`: the unexpired backoffs, by source.
pub(super) fn backoff_copy_spec() -> TableSpec {
    TableSpec {
        table: "login_backoff",
        columns: BACKOFF_COLUMNS,
        key: &[("source", KeyKind::Text)],
        expires: true,
        decode: decode_backoff_copy_row,
    }
}

/// Decodes one exported rate-limit counter.
fn decode_counter_copy_row(row: &Row<'_>, _: Timestamp) -> StoreResult<CopyRow> {
    let columns = Columns::new("rate_limits", row);
    Ok(CopyRow::RateLimit(RateLimitCounter {
        bucket: columns.parse(0)?,
        source: columns.string(1)?,
        count: columns.u64(2)?,
        expires_at: columns.timestamp(3)?,
    }))
}

/// Decodes one exported login backoff with its expiry.
fn decode_backoff_copy_row(row: &Row<'_>, _: Timestamp) -> StoreResult<CopyRow> {
    let columns = Columns::new("login_backoff", row);
    Ok(CopyRow::LoginBackoff(LoginBackoffRecord {
        source: columns.string(0)?,
        failed_count: columns.u32(1)?,
        next_allowed_at: columns.opt_timestamp(2)?,
        expires_at: columns.timestamp(3)?,
    }))
}

/// Writes one copied rate-limit counter, replacing the counter of the same bucket and key.
pub(super) fn import(transaction: &Transaction<'_>, counter: &RateLimitCounter) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO rate_limits (bucket, key, count, expires_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (bucket, key) DO UPDATE SET count = excluded.count, \
             expires_at = excluded.expires_at",
        )?
        .execute(rusqlite::params![
            counter.bucket.as_str(),
            counter.source,
            u64_to_sql(counter.count),
            counter.expires_at.as_millis(),
        ])?;
    Ok(())
}

/// Writes one copied login backoff, replacing the backoff of the same source.
pub(super) fn import_backoff(
    transaction: &Transaction<'_>,
    record: &LoginBackoffRecord,
) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO login_backoff (source, failed_count, next_allowed_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (source) DO UPDATE SET \
             failed_count = excluded.failed_count, \
             next_allowed_at = excluded.next_allowed_at, expires_at = excluded.expires_at",
        )?
        .execute(rusqlite::params![
            record.source,
            record.failed_count,
            record.next_allowed_at.map(Timestamp::as_millis),
            record.expires_at.as_millis(),
        ])?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sqlite::testing;

    #[tokio::test]
    async fn windows_restart_after_they_end_and_success_clears_the_login_counter() {
        let store = testing::memory().await;
        // Long enough that both hits land in one window on a loaded machine.
        let window = Duration::from_millis(500);
        let first = store
            .hit_rate_limit(RateLimitBucket::AdminLogin, "ip", window)
            .await
            .unwrap();
        let second = store
            .hit_rate_limit(RateLimitBucket::AdminLogin, "ip", window)
            .await
            .unwrap();
        assert_eq!(
            (first.count, second.count, second.resets_at),
            (1, 2, first.resets_at)
        );
        assert_eq!(
            store
                .hit_rate_limit(RateLimitBucket::SearchUi, "ip", Duration::from_secs(60))
                .await
                .unwrap()
                .count,
            1
        );
        tokio::time::sleep(window + Duration::from_millis(50)).await;
        let restarted = store
            .hit_rate_limit(RateLimitBucket::AdminLogin, "ip", window)
            .await
            .unwrap();
        assert!(restarted.count == 1 && restarted.resets_at > first.resets_at);

        let policy = BackoffPolicy {
            threshold: 2,
            base: Duration::from_secs(10),
            cap: Duration::from_secs(60),
        };
        assert_eq!(
            store
                .record_login_failure("ip", policy)
                .await
                .unwrap()
                .next_allowed_at,
            None
        );
        let backoff = store.record_login_failure("ip", policy).await.unwrap();
        assert_eq!(backoff.failed_count, 2);
        assert!(backoff.next_allowed_at.is_some());
        assert_eq!(store.get_login_backoff("ip").await.unwrap(), Some(backoff));
        store.record_login_success("ip").await.unwrap();
        assert_eq!(store.get_login_backoff("ip").await.unwrap(), None);
        assert_eq!(
            store
                .hit_rate_limit(RateLimitBucket::AdminLogin, "ip", window)
                .await
                .unwrap()
                .count,
            1
        );
        assert_eq!(
            store
                .hit_rate_limit(RateLimitBucket::SearchUi, "ip", Duration::from_secs(60))
                .await
                .unwrap()
                .count,
            2
        );
    }
}
