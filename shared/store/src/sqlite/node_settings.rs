//! Table 2, `node_settings_version`.

use async_trait::async_trait;
use rusqlite::{Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, query_all, query_optional, u64_to_sql};
use crate::copy::CopyRow;
use crate::error::StoreResult;
use crate::node_settings::{NodeSettingsStore, NodeSettingsVersion};

macro_rules! node_settings_columns {
    () => {
        "index_uid, node_id, version, updated_at"
    };
}

fn decode_node_settings(row: &Row<'_>) -> StoreResult<NodeSettingsVersion> {
    let columns = Columns::new("node_settings_version", row);
    Ok(NodeSettingsVersion {
        index_uid: columns.string(0)?,
        node_id: columns.string(1)?,
        version: columns.u64(2)?,
        updated_at: columns.timestamp(3)?,
    })
}

fn get_node_settings(
    connection: &rusqlite::Connection,
    index_uid: &str,
    node_id: &str,
) -> StoreResult<Option<NodeSettingsVersion>> {
    let mut statement = connection.prepare_cached(concat!(
        "SELECT ",
        node_settings_columns!(),
        " FROM node_settings_version WHERE index_uid = ?1 AND node_id = ?2"
    ))?;
    query_optional(&mut statement, [index_uid, node_id], decode_node_settings)
}

#[async_trait]
impl NodeSettingsStore for SqliteStore {
    /// Read, compare and write in one `BEGIN IMMEDIATE` transaction (versions are compared in
    /// Rust: they use the whole `u64` range). An equal version refreshes `updated_at`.
    async fn record_node_settings_version(
        &self,
        row: NodeSettingsVersion,
    ) -> StoreResult<NodeSettingsVersion> {
        self.write_transaction(move |transaction| {
            let stored = get_node_settings(transaction, &row.index_uid, &row.node_id)?;
            if let Some(stored) = stored.filter(|stored| stored.version > row.version) {
                return Ok(stored);
            }
            transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO node_settings_version (index_uid, node_id, version, updated_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(rusqlite::params![
                    row.index_uid,
                    row.node_id,
                    u64_to_sql(row.version),
                    row.updated_at.as_millis()
                ])?;
            Ok(row)
        })
        .await
    }

    async fn get_node_settings_version(
        &self,
        index_uid: &str,
        node_id: &str,
    ) -> StoreResult<Option<NodeSettingsVersion>> {
        let (index_uid, node_id) = (index_uid.to_owned(), node_id.to_owned());
        self.read(move |connection| get_node_settings(connection, &index_uid, &node_id))
            .await
    }

    async fn list_node_settings_versions(
        &self,
        index_uid: &str,
    ) -> StoreResult<Vec<NodeSettingsVersion>> {
        let index_uid = index_uid.to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                node_settings_columns!(),
                " FROM node_settings_version WHERE index_uid = ?1 ORDER BY node_id"
            ))?;
            query_all(&mut statement, [index_uid], decode_node_settings)
        })
        .await
    }

    async fn delete_node_settings_versions(&self, index_uid: &str) -> StoreResult<u64> {
        let index_uid = index_uid.to_owned();
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("DELETE FROM node_settings_version WHERE index_uid = ?1")?
                .execute([index_uid])?;
            Ok(deleted as u64)
        })
        .await
    }
}

/// The `miroir-migrate copy` export of `node_settings_version`, by index then node.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "node_settings_version",
        columns: node_settings_columns!(),
        key: &[("index_uid", KeyKind::Text), ("node_id", KeyKind::Text)],
        expires: false,
        decode: |row, _| Ok(CopyRow::NodeSettings(decode_node_settings(row)?)),
    }
}

/// Writes one copied settings version, replacing the row of the same index and node.
pub(super) fn import(transaction: &Transaction<'_>, row: &NodeSettingsVersion) -> StoreResult<()> {
    transaction
        .prepare_cached(concat!(
            "INSERT INTO node_settings_version (",
            node_settings_columns!(),
            ") VALUES (?1, ?2, ?3, ?4) ON CONFLICT (index_uid, node_id) DO UPDATE SET \
             version = excluded.version, updated_at = excluded.updated_at"
        ))?
        .execute(rusqlite::params![
            row.index_uid,
            row.node_id,
            u64_to_sql(row.version),
            row.updated_at.as_millis(),
        ])?;
    Ok(())
}
