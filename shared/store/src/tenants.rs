//! Table 11, `tenant_map`: API key (sha256) → tenant and optional replica group.
//!
//! A tenant has at most one API key: [`TenantStore::put_tenant`] maps a tenant to exactly one key
//! hash (removing the key it had before, in the same atomic step) and refuses a key hash that
//! already belongs to another tenant, so the map is one-to-one both ways.

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
    /// Makes `mapping.api_key_hash` the one key of `mapping.tenant_id` (with its group), in one
    /// atomic step: the tenant's previous key hash, if different, stops resolving. Returns the
    /// tenant's previous mapping (`None` for a new tenant). `Conflict`, changing nothing, if the
    /// key hash belongs to another tenant.
    async fn put_tenant(&self, mapping: TenantMapping) -> StoreResult<Option<TenantMapping>>;

    /// The mapping of a key hash.
    async fn get_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<Option<TenantMapping>>;

    /// The mapping of a tenant id (its one key hash).
    async fn get_tenant_by_id(&self, tenant_id: &str) -> StoreResult<Option<TenantMapping>>;

    /// Deletes the mapping of a key hash; `false` if absent.
    async fn delete_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<bool>;

    /// Deletes the mapping of a tenant id, so its key stops resolving; `false` if absent.
    async fn delete_tenant_by_id(&self, tenant_id: &str) -> StoreResult<bool>;
}
