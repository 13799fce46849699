//! Removal of expired rows. Redis expires keys by itself (`EXPIRE`); SQLite hides expired rows on
//! read and deletes them here.

use async_trait::async_trait;

use crate::error::StoreResult;

/// Rows deleted by one [`MaintenanceStore::prune_expired`] pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Read-your-writes sessions.
    pub sessions: u64,
    /// Idempotency records.
    pub idempotency: u64,
    /// Admin sessions.
    pub admin_sessions: u64,
    /// Rate-limit counters, login backoffs and scoped-key observations.
    pub rate_limits: u64,
}

impl PruneReport {
    /// Total rows deleted.
    pub fn total(&self) -> u64 {
        self.sessions + self.idempotency + self.admin_sessions + self.rate_limits
    }
}

/// Housekeeping.
#[async_trait]
pub trait MaintenanceStore {
    /// Deletes up to `batch` expired rows of each TTL'd table. A no-op on Redis, where keys
    /// expire on their own.
    async fn prune_expired(&self, batch: u32) -> StoreResult<PruneReport>;
}
