//! Table 11, `tenant_map`, keyed by the 32-byte API key hash.
//!
//! Reads by tenant id (`get_tenant_by_id`, `delete_tenant_by_id`, and the re-keying step of
//! `put_tenant`) scan the table: they serve the operator API only, while the per-request lookup
//! by key hash uses the primary key.

use async_trait::async_trait;
use rusqlite::{Connection, Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, query_optional};
use crate::copy::CopyRow;
use crate::error::{StoreError, StoreResult};
use crate::tenants::{TenantMapping, TenantStore};

fn decode(row: &Row<'_>) -> StoreResult<TenantMapping> {
    let columns = Columns::new("tenant_map", row);
    Ok(TenantMapping {
        api_key_hash: columns.hash(0)?,
        tenant_id: columns.string(1)?,
        group_id: columns.opt_u32(2)?,
    })
}

fn by_hash(connection: &Connection, api_key_hash: [u8; 32]) -> StoreResult<Option<TenantMapping>> {
    let mut statement = connection.prepare_cached(
        "SELECT api_key_hash, tenant_id, group_id FROM tenant_map WHERE api_key_hash = ?1",
    )?;
    query_optional(&mut statement, [api_key_hash], decode)
}

fn by_id(connection: &Connection, tenant_id: &str) -> StoreResult<Option<TenantMapping>> {
    let mut statement = connection.prepare_cached(
        "SELECT api_key_hash, tenant_id, group_id FROM tenant_map WHERE tenant_id = ?1 LIMIT 1",
    )?;
    query_optional(&mut statement, [tenant_id], decode)
}

#[async_trait]
impl TenantStore for SqliteStore {
    /// Check, unmap the tenant's other key and write in one `BEGIN IMMEDIATE` transaction.
    async fn put_tenant(&self, mapping: TenantMapping) -> StoreResult<Option<TenantMapping>> {
        self.write_transaction(move |transaction| {
            if let Some(owner) = by_hash(transaction, mapping.api_key_hash)? {
                if owner.tenant_id != mapping.tenant_id {
                    return Err(StoreError::conflict(format!(
                        "the API key is mapped to tenant `{}`",
                        owner.tenant_id
                    )));
                }
            }
            let previous = by_id(transaction, &mapping.tenant_id)?;
            transaction
                .prepare_cached("DELETE FROM tenant_map WHERE tenant_id = ?1 AND api_key_hash != ?2")?
                .execute(rusqlite::params![mapping.tenant_id, mapping.api_key_hash])?;
            transaction
                .prepare_cached("INSERT OR REPLACE INTO tenant_map (api_key_hash, tenant_id, group_id) VALUES (?1, ?2, ?3)")?
                .execute(rusqlite::params![mapping.api_key_hash, mapping.tenant_id, mapping.group_id])?;
            Ok(previous)
        })
        .await
    }

    async fn get_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<Option<TenantMapping>> {
        let api_key_hash = *api_key_hash;
        self.read(move |connection| by_hash(connection, api_key_hash))
            .await
    }

    async fn get_tenant_by_id(&self, tenant_id: &str) -> StoreResult<Option<TenantMapping>> {
        let tenant_id = tenant_id.to_owned();
        self.read(move |connection| by_id(connection, &tenant_id))
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

    async fn delete_tenant_by_id(&self, tenant_id: &str) -> StoreResult<bool> {
        let tenant_id = tenant_id.to_owned();
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("DELETE FROM tenant_map WHERE tenant_id = ?1")?
                .execute([tenant_id])?;
            Ok(deleted > 0)
        })
        .await
    }
}

/// The columns of `tenant_map` a copy export reads, in order.
const TENANT_COLUMNS: &str = "api_key_hash, tenant_id, group_id";

/// The `miroir-migrate copy` export of `tenant_map`, by API key hash.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "tenant_map",
        columns: TENANT_COLUMNS,
        key: &[("api_key_hash", KeyKind::Blob)],
        expires: false,
        decode: |row, _| Ok(CopyRow::Tenant(decode(row)?)),
    }
}

/// Writes one copied tenant mapping, replacing the mapping of the same API key hash.
pub(super) fn import(transaction: &Transaction<'_>, mapping: &TenantMapping) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO tenant_map (api_key_hash, tenant_id, group_id) VALUES (?1, ?2, ?3) \
             ON CONFLICT (api_key_hash) DO UPDATE SET tenant_id = excluded.tenant_id, \
             group_id = excluded.group_id",
        )?
        .execute(rusqlite::params![
            mapping.api_key_hash,
            mapping.tenant_id,
            mapping.group_id,
        ])?;
    Ok(())
}
