//! Table 11, `tenant_map`: API key (sha256) → tenant and optional replica group.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;

/// A tenant mapping. The API key itself is never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantMapping {
    /// sha256 of the tenant's API key.
    pub api_key_hash: [u8; 32],
    /// Tenant id.
    pub tenant_id: String,
    /// Pinned replica group; `None` falls through to hash(tenant) % groups.
    pub group_id: Option<u32>,
}

/// Tenant mappings.
#[async_trait]
pub trait TenantStore {
    /// Creates or replaces the mapping of a key hash.
    async fn put_tenant(&self, mapping: TenantMapping) -> StoreResult<()>;

    /// The mapping of a key hash.
    async fn get_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<Option<TenantMapping>>;

    /// Deletes the mapping; `false` if absent.
    async fn delete_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<bool>;
}
