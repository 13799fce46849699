//! Housekeeping: nothing to do on Redis, which expires keys by itself.

use async_trait::async_trait;

use super::RedisStore;
use crate::error::StoreResult;
use crate::maintenance::{MaintenanceStore, PruneReport};

#[async_trait]
impl MaintenanceStore for RedisStore {
    async fn prune_expired(&self, _batch: u32) -> StoreResult<PruneReport> {
        Ok(PruneReport::default())
    }
}
