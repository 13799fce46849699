//! Table 11, `tenant_map`, keyed by the 32-byte API key hash.

use async_trait::async_trait;

use super::SqliteStore;
use super::rows::{Columns, query_optional};
use crate::error::StoreResult;
use crate::tenants::{TenantMapping, TenantStore};

#[async_trait]
impl TenantStore for SqliteStore {
    async fn put_tenant(&self, mapping: TenantMapping) -> StoreResult<()> {
        self.write(move |connection| {
            connection
                .prepare_cached("INSERT OR REPLACE INTO tenant_map (api_key_hash, tenant_id, group_id) VALUES (?1, ?2, ?3)")?
                .execute(rusqlite::params![mapping.api_key_hash, mapping.tenant_id, mapping.group_id])?;
            Ok(())
        })
        .await
    }

    async fn get_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<Option<TenantMapping>> {
        let api_key_hash = *api_key_hash;
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT api_key_hash, tenant_id, group_id FROM tenant_map WHERE api_key_hash = ?1",
            )?;
            query_optional(&mut statement, [api_key_hash], |row| {
                let columns = Columns::new("tenant_map", row);
                Ok(TenantMapping {
                    api_key_hash: columns.hash(0)?,
                    tenant_id: columns.string(1)?,
                    group_id: columns.opt_u32(2)?,
                })
            })
        })
        .await
    }

    async fn delete_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<bool> {
        let api_key_hash = *api_key_hash;
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("DELETE FROM tenant_map WHERE api_key_hash = ?1")?
                .execute([api_key_hash])?;
            Ok(deleted > 0)
        })
        .await
    }
}
