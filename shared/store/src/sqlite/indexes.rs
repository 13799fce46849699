//! Table 15, `indexes`: one row per index uid, keyed (and listed) by the uid in byte order (the
//! `BINARY` collation compares the UTF-8 bytes).
//!
//! Every write reads the stored version and writes in one `BEGIN IMMEDIATE` transaction, so of
//! racing writers with the same expectation exactly one finds it and the others `Conflict`.

use async_trait::async_trait;
use rusqlite::{Connection, Row};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, query_all, query_optional, saturating_i64, u64_to_sql};
use crate::copy::CopyRow;
use crate::error::{StoreError, StoreResult};
use crate::indexes::{IndexRecord, IndexStore, next_version, validate_index_record};

macro_rules! index_columns {
    () => {
        "uid, primary_key, physical_uid, shards, settings_version, state, version, created_at, \
         updated_at"
    };
}

fn decode_index(row: &Row<'_>) -> StoreResult<IndexRecord> {
    let columns = Columns::new("indexes", row);
    Ok(IndexRecord {
        uid: columns.string(0)?,
        primary_key: columns.opt_string(1)?,
        physical_uid: columns.string(2)?,
        shards: columns.u32(3)?,
        settings_version: columns.u64(4)?,
        state: columns.parse(5)?,
        version: columns.u64(6)?,
        created_at: columns.timestamp(7)?,
        updated_at: columns.timestamp(8)?,
    })
}

fn get_index(connection: &Connection, uid: &str) -> StoreResult<Option<IndexRecord>> {
    let mut statement = connection.prepare_cached(concat!(
        "SELECT ",
        index_columns!(),
        " FROM indexes WHERE uid = ?1"
    ))?;
    query_optional(&mut statement, [uid], decode_index)
}

/// Writes `record` exactly as given, replacing the row of its uid (the write of `put_index`
/// after its check, and a copy's import).
pub(super) fn write_index(connection: &Connection, record: &IndexRecord) -> StoreResult<()> {
    connection
        .prepare_cached(concat!(
            "INSERT INTO indexes (",
            index_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (uid) DO UPDATE SET \
             primary_key = excluded.primary_key, physical_uid = excluded.physical_uid, \
             shards = excluded.shards, settings_version = excluded.settings_version, \
             state = excluded.state, version = excluded.version, \
             created_at = excluded.created_at, updated_at = excluded.updated_at"
        ))?
        .execute(rusqlite::params![
            record.uid,
            record.primary_key,
            record.physical_uid,
            record.shards,
            u64_to_sql(record.settings_version),
            record.state.as_str(),
            u64_to_sql(record.version),
            record.created_at.as_millis(),
            record.updated_at.as_millis(),
        ])?;
    Ok(())
}

/// `Conflict` unless the stored version (0 when absent) is `expected_version`.
fn check_version(
    uid: &str,
    stored: Option<&IndexRecord>,
    expected_version: u64,
) -> StoreResult<()> {
    let stored_version = stored.map_or(0, |stored| stored.version);
    if stored_version != expected_version {
        return Err(StoreError::conflict(format!(
            "index `{uid}` is at version {stored_version}, not {expected_version}"
        )));
    }
    Ok(())
}

#[async_trait]
impl IndexStore for SqliteStore {
    async fn get_index(&self, uid: &str) -> StoreResult<Option<IndexRecord>> {
        let uid = uid.to_owned();
        self.read(move |connection| get_index(connection, &uid))
            .await
    }

    /// Read, compare and write in one `BEGIN IMMEDIATE` transaction (versions are compared in
    /// Rust: they use the whole `u64` range).
    async fn put_index(
        &self,
        mut record: IndexRecord,
        expected_version: u64,
    ) -> StoreResult<IndexRecord> {
        validate_index_record(&record)?;
        record.version = next_version(&record.uid, expected_version)?;
        self.write_transaction(move |transaction| {
            let stored = get_index(transaction, &record.uid)?;
            check_version(&record.uid, stored.as_ref(), expected_version)?;
            if let Some(stored) = stored {
                record.created_at = stored.created_at;
            }
            write_index(transaction, &record)?;
            Ok(record)
        })
        .await
    }

    /// Read, compare and delete in one `BEGIN IMMEDIATE` transaction.
    async fn delete_index(&self, uid: &str, expected_version: u64) -> StoreResult<bool> {
        let uid = uid.to_owned();
        self.write_transaction(move |transaction| {
            let Some(stored) = get_index(transaction, &uid)? else {
                return Ok(false);
            };
            check_version(&uid, Some(&stored), expected_version)?;
            transaction
                .prepare_cached("DELETE FROM indexes WHERE uid = ?1")?
                .execute([&uid])?;
            Ok(true)
        })
        .await
    }

    /// One range seek on the primary key.
    async fn list_indexes(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IndexRecord>> {
        let after = after.map(str::to_owned);
        let limit = saturating_i64(limit);
        self.read(move |connection| match after {
            None => {
                let mut statement = connection.prepare_cached(concat!(
                    "SELECT ",
                    index_columns!(),
                    " FROM indexes ORDER BY uid LIMIT ?1"
                ))?;
                query_all(&mut statement, [limit], decode_index)
            }
            Some(after) => {
                let mut statement = connection.prepare_cached(concat!(
                    "SELECT ",
                    index_columns!(),
                    " FROM indexes WHERE uid > ?1 ORDER BY uid LIMIT ?2"
                ))?;
                query_all(
                    &mut statement,
                    rusqlite::params![after, limit],
                    decode_index,
                )
            }
        })
        .await
    }
}

/// The `miroir-migrate copy` export of `indexes`, by uid (imported by [`write_index`]).
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "indexes",
        columns: index_columns!(),
        key: &[("uid", KeyKind::Text)],
        expires: false,
        decode: |row, _| Ok(CopyRow::Index(decode_index(row)?)),
    }
}
