//! Tenant mappings: one hash per API key hash (hex in the key name), and per tenant id a string
//! holding its one key hash (hex), kept in step by the scripts.
//!
//! The two keys of a tenant are in different slots (the per-request lookup is by key hash, the
//! operator API's by tenant id), so the re-keying and deleting scripts, like the task scripts,
//! need a single Redis node.

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::{Fields, Row};
use super::copy::{Scan, ScanRows};
use super::keys::Keys;
use crate::copy::CopyRow;
use crate::error::StoreResult;
use crate::tenants::{TenantMapping, TenantStore};

const TABLE: &str = "tenant_map";

lua_script!(PUT = "tenant_put.lua");
lua_script!(GET_BY_ID = "tenant_get_by_id.lua");
lua_script!(DELETE = "tenant_delete.lua");
lua_script!(DELETE_BY_ID = "tenant_delete_by_id.lua");
lua_script!(COPY = "copy_tenant.lua");

fn decode(row: &Row) -> StoreResult<TenantMapping> {
    Ok(TenantMapping {
        api_key_hash: row.hex32("api_key_hash")?,
        tenant_id: row.text("tenant_id")?,
        group_id: row.opt_parse("group_id")?,
    })
}

fn decode_optional(value: Value) -> StoreResult<Option<TenantMapping>> {
    Row::decode(TABLE, value)?.as_ref().map(decode).transpose()
}

#[async_trait]
impl TenantStore for RedisStore {
    async fn put_tenant(&self, mapping: TenantMapping) -> StoreResult<Option<TenantMapping>> {
        let keys = self.keys();
        let fields = Fields::new()
            .hex("api_key_hash", &mapping.api_key_hash)
            .text("tenant_id", mapping.tenant_id.as_str())
            .optional("group_id", mapping.group_id, Fields::display);
        let mut invocation = PUT.key(keys.tenant(&mapping.api_key_hash));
        invocation
            .key(keys.tenant_by_id(&mapping.tenant_id))
            .arg(keys.tenant_prefix())
            .arg(hex::encode(mapping.api_key_hash))
            .arg(mapping.tenant_id.as_str())
            .arg(fields.script_args());
        let previous: Value = self.eval(&invocation).await?;
        decode_optional(previous)
    }

    async fn get_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<Option<TenantMapping>> {
        let row = self.row(TABLE, &self.keys().tenant(api_key_hash)).await?;
        row.as_ref().map(decode).transpose()
    }

    async fn get_tenant_by_id(&self, tenant_id: &str) -> StoreResult<Option<TenantMapping>> {
        let keys = self.keys();
        let mut invocation = GET_BY_ID.key(keys.tenant_by_id(tenant_id));
        invocation.arg(keys.tenant_prefix()).arg(tenant_id);
        let row: Value = self.eval(&invocation).await?;
        decode_optional(row)
    }

    async fn delete_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<bool> {
        let keys = self.keys();
        let mut invocation = DELETE.key(keys.tenant(api_key_hash));
        invocation
            .arg(keys.tenant_by_id_prefix())
            .arg(hex::encode(api_key_hash));
        let deleted: i64 = self.eval(&invocation).await?;
        Ok(deleted == 1)
    }

    async fn delete_tenant_by_id(&self, tenant_id: &str) -> StoreResult<bool> {
        let keys = self.keys();
        let mut invocation = DELETE_BY_ID.key(keys.tenant_by_id(tenant_id));
        invocation.arg(keys.tenant_prefix()).arg(tenant_id);
        let deleted: i64 = self.eval(&invocation).await?;
        Ok(deleted == 1)
    }
}

impl RedisStore {
    /// Writes one copied tenant mapping (`copy_tenant.lua`): replaces the mapping of its key hash
    /// and makes it its tenant's one key, unmapping what either held before.
    pub(super) async fn import_tenant(&self, mapping: &TenantMapping) -> StoreResult<()> {
        let keys = self.keys();
        let fields = Fields::new()
            .hex("api_key_hash", &mapping.api_key_hash)
            .text("tenant_id", mapping.tenant_id.as_str())
            .optional("group_id", mapping.group_id, Fields::display);
        let mut invocation = COPY.key(keys.tenant(&mapping.api_key_hash));
        invocation
            .key(keys.tenant_by_id(&mapping.tenant_id))
            .arg(keys.tenant_prefix())
            .arg(keys.tenant_by_id_prefix())
            .arg(hex::encode(mapping.api_key_hash))
            .arg(&mapping.tenant_id)
            .arg(fields.script_args());
        let _: i64 = self.eval(&invocation).await?;
        Ok(())
    }
}

/// The `miroir-migrate copy` export of tenant mappings: `SCAN` of the mapping hashes, tagged
/// `{tenants}` on a cluster (one server anyway on a standalone one).
pub(super) fn copy_scan(keys: &Keys) -> Scan {
    Scan::tagged(
        keys.tenant_prefix(),
        ScanRows::Hashes(|row| decode(row).map(CopyRow::Tenant)),
    )
}
