//! Deletion of expired rows: SQLite hides them on read, this removes them.

use async_trait::async_trait;
use rusqlite::Transaction;

use super::SqliteStore;
use crate::error::StoreResult;
use crate::maintenance::{MaintenanceStore, PruneReport};
use crate::time::Timestamp;

/// Deletes up to `batch` rows expired at `now` with one of the fixed statements below (each
/// walks its table's `expires_at` index).
fn prune(transaction: &Transaction<'_>, sql: &str, now: Timestamp, batch: u32) -> StoreResult<u64> {
    let deleted = transaction
        .prepare_cached(sql)?
        .execute(rusqlite::params![now.as_millis(), batch])?;
    Ok(deleted as u64)
}

#[async_trait]
impl MaintenanceStore for SqliteStore {
    /// One transaction, up to `batch` rows per table; `rate_limits` in the report counts rate
    /// limits, login backoffs and scoped-key observations.
    async fn prune_expired(&self, batch: u32) -> StoreResult<PruneReport> {
        self.write_transaction(move |transaction| {
            let now = Timestamp::now();
            let prune = |sql| prune(transaction, sql, now, batch);
            Ok(PruneReport {
                sessions: prune(
                    "DELETE FROM sessions WHERE rowid IN \
                     (SELECT rowid FROM sessions WHERE expires_at <= ?1 LIMIT ?2)",
                )?,
                idempotency: prune(
                    "DELETE FROM idempotency_cache WHERE rowid IN \
                     (SELECT rowid FROM idempotency_cache WHERE expires_at <= ?1 LIMIT ?2)",
                )?,
                admin_sessions: prune(
                    "DELETE FROM admin_sessions WHERE rowid IN \
                     (SELECT rowid FROM admin_sessions WHERE expires_at <= ?1 LIMIT ?2)",
                )?,
                rate_limits: prune(
                    "DELETE FROM rate_limits WHERE rowid IN \
                     (SELECT rowid FROM rate_limits WHERE expires_at <= ?1 LIMIT ?2)",
                )? + prune(
                    "DELETE FROM login_backoff WHERE rowid IN \
                     (SELECT rowid FROM login_backoff WHERE expires_at <= ?1 LIMIT ?2)",
                )? + prune(
                    "DELETE FROM search_ui_scoped_key_observations WHERE rowid IN \
                     (SELECT rowid FROM search_ui_scoped_key_observations WHERE expires_at <= ?1 LIMIT ?2)",
                )?,
            })
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rate_limits::{BackoffPolicy, RateLimitBucket, RateLimitStore};
    use crate::sessions::{Session, SessionStore};
    use crate::sqlite::testing;

    #[tokio::test]
    async fn prunes_expired_rows_in_batches() {
        // Long enough that a loaded machine still checks "nothing expired yet" in time.
        const TTL: Duration = Duration::from_millis(500);
        let store = testing::memory().await;
        for id in ["a", "b", "c"] {
            let session = Session {
                session_id: id.to_owned(),
                last_write_task_uid: None,
                last_write_at: None,
                pinned_group: None,
                min_settings_version: 0,
                expires_at: Timestamp::now().plus(TTL),
            };
            store.put_session(session).await.unwrap();
        }
        store
            .hit_rate_limit(RateLimitBucket::SearchUi, "ip", TTL)
            .await
            .unwrap();
        let policy = BackoffPolicy {
            cap: TTL,
            ..BackoffPolicy::default()
        };
        store.record_login_failure("ip", policy).await.unwrap();
        assert_eq!(
            store.prune_expired(10).await.unwrap(),
            PruneReport::default(),
            "nothing expired yet"
        );
        tokio::time::sleep(TTL + Duration::from_millis(50)).await;
        let first = store.prune_expired(2).await.unwrap();
        assert_eq!((first.sessions, first.rate_limits), (2, 2));
        assert_eq!(store.prune_expired(2).await.unwrap().total(), 1);
        assert_eq!(store.prune_expired(2).await.unwrap().total(), 0);
    }
}
