//! Tenant mappings: one hash per API key hash (hex in the key name).

use async_trait::async_trait;

use super::RedisStore;
use super::codec::{Fields, Row};
use super::rows::Expiry;
use crate::error::StoreResult;
use crate::tenants::{TenantMapping, TenantStore};

const TABLE: &str = "tenant_map";

fn decode(row: &Row) -> StoreResult<TenantMapping> {
    Ok(TenantMapping {
        api_key_hash: row.hex32("api_key_hash")?,
        tenant_id: row.text("tenant_id")?,
        group_id: row.opt_parse("group_id")?,
    })
}

#[async_trait]
impl TenantStore for RedisStore {
    async fn put_tenant(&self, mapping: TenantMapping) -> StoreResult<()> {
        let fields = Fields::new()
            .hex("api_key_hash", &mapping.api_key_hash)
            .text("tenant_id", mapping.tenant_id.as_str())
            .optional("group_id", mapping.group_id, Fields::display);
        let key = self.keys().tenant(&mapping.api_key_hash);
        self.put_row(&key, &fields, Expiry::Never, None).await
    }

    async fn get_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<Option<TenantMapping>> {
        let row = self.row(TABLE, &self.keys().tenant(api_key_hash)).await?;
        row.as_ref().map(decode).transpose()
    }

    async fn delete_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<bool> {
        self.delete_key(&self.keys().tenant(api_key_hash)).await
    }
}
