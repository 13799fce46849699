//! Table 16, `api_keys`: one row per key, keyed by its uid and listed newest first through the
//! index `api_keys_newest_first (created_at, uid)`, walked backwards.
//!
//! Create, put and delete are one statement each (`INSERT … ON CONFLICT DO NOTHING`, `UPDATE`,
//! `DELETE`), atomic by themselves; the number of rows changed tells a conflict or an absent key.
//! A page and its total are read in one read transaction, so they agree.

use async_trait::async_trait;
use rusqlite::{Connection, Row};

use super::SqliteStore;
use super::connection::in_read_transaction;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, query_all, query_optional, saturating_i64, to_json};
use crate::api_keys::{ApiKeyPage, ApiKeyRecord, ApiKeyStore};
use crate::copy::CopyRow;
use crate::error::{StoreError, StoreResult};

macro_rules! api_key_columns {
    () => {
        "uid, name, description, actions, indexes, expires_at, created_at, updated_at"
    };
}

fn decode_api_key(row: &Row<'_>) -> StoreResult<ApiKeyRecord> {
    let columns = Columns::new("api_keys", row);
    Ok(ApiKeyRecord {
        uid: columns.string(0)?,
        name: columns.opt_string(1)?,
        description: columns.opt_string(2)?,
        actions: columns.json(3)?,
        indexes: columns.json(4)?,
        expires_at: columns.opt_timestamp(5)?,
        created_at: columns.timestamp(6)?,
        updated_at: columns.timestamp(7)?,
    })
}

/// The columns of `key` in [`api_key_columns`] order, JSON encoded where they are JSON.
fn params(key: &ApiKeyRecord) -> StoreResult<[rusqlite::types::Value; 8]> {
    use rusqlite::types::Value;
    Ok([
        Value::Text(key.uid.clone()),
        key.name.clone().map_or(Value::Null, Value::Text),
        key.description.clone().map_or(Value::Null, Value::Text),
        Value::Text(to_json("api key actions", &key.actions)?),
        Value::Text(to_json("api key indexes", &key.indexes)?),
        key.expires_at
            .map_or(Value::Null, |at| Value::Integer(at.as_millis())),
        Value::Integer(key.created_at.as_millis()),
        Value::Integer(key.updated_at.as_millis()),
    ])
}

/// Writes `key` as given, replacing the row of its uid (a copy's import).
pub(super) fn import(connection: &Connection, key: &ApiKeyRecord) -> StoreResult<()> {
    connection
        .prepare_cached(concat!(
            "INSERT INTO api_keys (",
            api_key_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (uid) DO UPDATE SET \
             name = excluded.name, description = excluded.description, \
             actions = excluded.actions, indexes = excluded.indexes, \
             expires_at = excluded.expires_at, created_at = excluded.created_at, \
             updated_at = excluded.updated_at"
        ))?
        .execute(rusqlite::params_from_iter(params(key)?))?;
    Ok(())
}

/// The page of `list_api_keys`: `ORDER BY created_at DESC, uid DESC` is the index walked
/// backwards (no sort).
const LIST_SQL: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM api_keys ORDER BY created_at DESC, uid DESC LIMIT ?1 OFFSET ?2"
);

#[async_trait]
impl ApiKeyStore for SqliteStore {
    /// One `INSERT … ON CONFLICT (uid) DO NOTHING`: no row inserted means the uid exists.
    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord> {
        let values = params(&key)?;
        self.write(move |connection| {
            let inserted = connection
                .prepare_cached(concat!(
                    "INSERT INTO api_keys (",
                    api_key_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (uid) DO NOTHING"
                ))?
                .execute(rusqlite::params_from_iter(values))?;
            if inserted == 0 {
                return Err(StoreError::conflict(format!(
                    "api key `{}` already exists",
                    key.uid
                )));
            }
            Ok(key)
        })
        .await
    }

    /// One `UPDATE` of every column: no row updated means there is no such key.
    async fn put_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord> {
        let values = params(&key)?;
        self.write(move |connection| {
            let updated = connection
                .prepare_cached(
                    "UPDATE api_keys SET name = ?2, description = ?3, actions = ?4, \
                     indexes = ?5, expires_at = ?6, created_at = ?7, updated_at = ?8 \
                     WHERE uid = ?1",
                )?
                .execute(rusqlite::params_from_iter(values))?;
            if updated == 0 {
                return Err(StoreError::not_found(format!("api key `{}`", key.uid)));
            }
            Ok(key)
        })
        .await
    }

    async fn get_api_key(&self, uid: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let uid = uid.to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM api_keys WHERE uid = ?1"
            ))?;
            query_optional(&mut statement, [uid], decode_api_key)
        })
        .await
    }

    /// The page and the count in one read transaction.
    async fn list_api_keys(&self, offset: u64, limit: u64) -> StoreResult<ApiKeyPage> {
        let offset = saturating_i64(offset);
        let limit = saturating_i64(limit);
        self.read(move |connection| {
            in_read_transaction(connection, |transaction| {
                let total: i64 = transaction
                    .prepare_cached("SELECT COUNT(*) FROM api_keys")?
                    .query_row([], |row| row.get(0))?;
                let results = if limit == 0 {
                    Vec::new()
                } else {
                    let mut statement = transaction.prepare_cached(LIST_SQL)?;
                    query_all(&mut statement, [limit, offset], decode_api_key)?
                };
                Ok(ApiKeyPage {
                    results,
                    total: u64::try_from(total).unwrap_or_default(),
                })
            })
        })
        .await
    }

    async fn delete_api_key(&self, uid: &str) -> StoreResult<bool> {
        let uid = uid.to_owned();
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("DELETE FROM api_keys WHERE uid = ?1")?
                .execute([uid])?;
            Ok(deleted == 1)
        })
        .await
    }
}

/// The `miroir-migrate copy` export of `api_keys`, by uid (imported by [`import`]). Expired keys
/// are rows like any other (`expires_at` is data here), so every key is exported.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "api_keys",
        columns: api_key_columns!(),
        key: &[("uid", KeyKind::Text)],
        expires: false,
        decode: |row, _| Ok(CopyRow::ApiKey(decode_api_key(row)?)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! What only this backend shows: the listing's query plan and the default keys' SQL. What
    //! every backend does is in the conformance suite (`tests/conformance/api_keys.rs`).

    use super::*;
    use crate::sqlite::testing;

    /// A page is the index walked backwards from its start: no sort, whatever the offset.
    #[tokio::test]
    async fn the_listing_walks_the_index_without_sorting() {
        let store = testing::memory().await;
        let steps = store
            .read(|connection| {
                let mut plan = connection.prepare(&format!("EXPLAIN QUERY PLAN {LIST_SQL}"))?;
                query_all(&mut plan, [10, 5], |row| {
                    Columns::new("plan", row).string(3)
                })
            })
            .await
            .unwrap();
        assert!(
            steps
                .iter()
                .any(|step| step.contains("USING INDEX api_keys_newest_first")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|step| step.contains("TEMP B-TREE")),
            "{steps:?}"
        );
    }

    /// The step's SQL makes a fresh, valid UUID v4 for every key, every time it runs.
    #[tokio::test]
    async fn every_migration_gives_the_default_keys_fresh_v4_uids() {
        let mut uids = std::collections::BTreeSet::new();
        for _ in 0..25 {
            let store = testing::memory().await;
            let page = store.list_api_keys(0, 10).await.unwrap();
            assert_eq!(page.total, 4);
            for key in page.results {
                let parsed = uuid::Uuid::parse_str(&key.uid).unwrap();
                assert_eq!(parsed.get_version_num(), 4, "{}", key.uid);
                assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{}", key.uid);
                assert_eq!(parsed.hyphenated().to_string(), key.uid);
                assert!(uids.insert(key.uid));
            }
        }
        assert_eq!(uids.len(), 100);
    }
}
