//! Table 16, API keys: a hash per key and a sorted set of the uids scored by `created_at`, all
//! under the `{api_keys}` hash tag, so each write is one script in one slot (also on a Redis
//! Cluster).
//!
//! The set read in reverse rank order (`ZRANGE … REV`) is newest first, and Redis orders members
//! of equal score by their bytes, so equal `created_at`s come by uid descending: the order
//! SQLite's `ORDER BY created_at DESC, uid DESC` gives. Scores are doubles, exact for every
//! `created_at` within ±2^53 ms of the epoch (±285 000 years).
//!
//! A key's `expires_at` is a field like the others, never a `PEXPIREAT`: an expired key stays.

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::{self, Fields, Row};
use super::copy::{bad_cursor, checked_score};
use crate::api_keys::{ApiKeyPage, ApiKeyRecord, ApiKeyStore, DEFAULT_API_KEYS};
use crate::copy::{CopyPage, CopyRow, CopyTable};
use crate::error::StoreResult;

const TABLE: &str = "api_keys";

lua_script!(CREATE = "api_key_create.lua");
lua_script!(PUT = "api_key_put.lua");
lua_script!(DELETE = "api_key_delete.lua");
lua_script!(LIST = "api_key_list.lua");
lua_script!(CREATE_DEFAULTS = "schema_api_keys.lua");
lua_script!(EXPORT_PAGE = "copy_api_key_page.lua");

fn decode(row: &Row) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        uid: row.text("uid")?,
        name: row.opt_text("name")?,
        description: row.opt_text("description")?,
        actions: row.json("actions")?,
        indexes: row.json("indexes")?,
        expires_at: row.opt_timestamp("expires_at")?,
        created_at: row.timestamp("created_at")?,
        updated_at: row.timestamp("updated_at")?,
    })
}

/// Every field of `key` as stored (an absent name, description or expiry is an absent field).
fn fields(key: &ApiKeyRecord) -> StoreResult<Fields> {
    Ok(Fields::new()
        .text("uid", key.uid.as_str())
        .optional("name", key.name.as_deref(), Fields::text)
        .optional("description", key.description.as_deref(), Fields::text)
        .json("actions", &key.actions)?
        .json("indexes", &key.indexes)?
        .optional("expires_at", key.expires_at, Fields::timestamp)
        .timestamp("created_at", key.created_at)
        .timestamp("updated_at", key.updated_at))
}

/// The ranks `first..=last` of a page from the newest key, as `ZRANGE` takes them (saturating:
/// a rank past `i64::MAX` is past every key). `limit` is at least 1.
fn ranks(offset: u64, limit: u64) -> (i64, i64) {
    let first = i64::try_from(offset).unwrap_or(i64::MAX);
    let last = offset
        .saturating_add(limit - 1)
        .try_into()
        .unwrap_or(i64::MAX);
    (first, last)
}

impl RedisStore {
    /// Runs the create or put script (they take the same keys and arguments).
    async fn write_api_key(
        &self,
        script: &redis::Script,
        key: ApiKeyRecord,
    ) -> StoreResult<ApiKeyRecord> {
        let keys = self.keys();
        let mut invocation = script.key(keys.api_key(&key.uid));
        invocation
            .key(keys.api_key_uids())
            .arg(key.uid.as_str())
            .arg(key.created_at.as_millis())
            .arg(fields(&key)?.script_args());
        let _written: i64 = self.eval(&invocation).await?;
        Ok(key)
    }

    /// Schema step 4: Meilisearch's default keys with fresh UUID v4 uids, created by one script
    /// in the `{api_keys}` slot unless an earlier run (a racing migrator) did (see
    /// `schema_api_keys.lua`). Idempotent.
    pub(super) async fn create_default_api_keys(&self) -> StoreResult<()> {
        let keys = self.keys();
        let mut invocation = CREATE_DEFAULTS.key(keys.api_key_defaults());
        invocation.key(keys.api_key_uids());
        for default in &DEFAULT_API_KEYS {
            let uid = uuid::Uuid::new_v4().to_string();
            invocation
                .key(keys.api_key(&uid))
                .arg(uid)
                .arg(default.name)
                .arg(default.description)
                .arg(codec::to_json(&default.actions)?)
                .arg(codec::to_json(&default.indexes)?);
        }
        let _created: i64 = self.eval(&invocation).await?;
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for RedisStore {
    /// One script (`api_key_create.lua`): refuses an existing uid, writes the hash and the uid.
    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord> {
        self.write_api_key(&CREATE, key).await
    }

    /// One script (`api_key_put.lua`): refuses an absent uid, replaces the hash and rescores
    /// the uid.
    async fn put_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord> {
        self.write_api_key(&PUT, key).await
    }

    async fn get_api_key(&self, uid: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = self.row(TABLE, &self.keys().api_key(uid)).await?;
        row.as_ref().map(decode).transpose()
    }

    /// One script (`api_key_list.lua`): the count, the page of uids and their hashes in one
    /// snapshot; `ZCARD` alone for a limit of 0.
    async fn list_api_keys(&self, offset: u64, limit: u64) -> StoreResult<ApiKeyPage> {
        let keys = self.keys();
        if limit == 0 {
            let total: u64 = self
                .query(redis::cmd("ZCARD").arg(keys.api_key_uids()))
                .await?;
            return Ok(ApiKeyPage {
                results: Vec::new(),
                total,
            });
        }
        let (first, last) = ranks(offset, limit);
        let mut invocation = LIST.key(keys.api_key_uids());
        invocation.arg(keys.api_key_prefix()).arg(first).arg(last);
        let reply: Value = self.eval(&invocation).await?;
        let mut items = codec::array(TABLE, reply)?.into_iter();
        let total = match items.next() {
            Some(total) => codec::integer(TABLE, total)?,
            None => return Err(crate::StoreError::corrupt(TABLE, "empty list reply")),
        };
        let mut results = Vec::new();
        for hash in items {
            if let Some(row) = Row::decode(TABLE, hash)? {
                results.push(decode(&row)?);
            }
        }
        Ok(ApiKeyPage { results, total })
    }

    /// One script (`api_key_delete.lua`): removes the hash and the uid.
    async fn delete_api_key(&self, uid: &str) -> StoreResult<bool> {
        let keys = self.keys();
        let mut invocation = DELETE.key(keys.api_key(uid));
        invocation.key(keys.api_key_uids()).arg(uid);
        let deleted: i64 = self.eval(&invocation).await?;
        Ok(deleted == 1)
    }
}

impl RedisStore {
    /// One page of the `miroir-migrate copy` export of API keys, newest first, by one script
    /// (`copy_api_key_page.lua`) after the key the cursor names: `<score>:<uid>` of the last key
    /// returned (the score as Redis printed it, so it names exactly that score). One key more is
    /// read to tell whether another page follows.
    pub(super) async fn export_api_keys(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let table = CopyTable::ApiKeys;
        let (score, uid) = match cursor {
            None => (String::new(), ""),
            Some(cursor) => {
                let (score, uid) = cursor
                    .split_once(':')
                    .filter(|(score, _)| !score.is_empty())
                    .ok_or_else(|| bad_cursor(table, cursor))?;
                (checked_score(table, cursor, score)?, uid)
            }
        };
        let keys = self.keys();
        let mut invocation = EXPORT_PAGE.key(keys.api_key_uids());
        invocation
            .arg(keys.api_key_prefix())
            .arg(score)
            .arg(uid)
            .arg(limit.saturating_add(1));
        let reply: Value = self.eval(&invocation).await?;
        let mut items = codec::array(table.name(), reply)?.into_iter();
        let mut rows = Vec::new();
        let mut members = 0;
        let mut next = None;
        let mut last = None;
        while let (Some(uid), Some(score), Some(hash)) = (items.next(), items.next(), items.next())
        {
            if members == limit {
                // A key past the page: the next page starts after the last key returned.
                next = last;
                break;
            }
            members += 1;
            let uid = codec::text(table.name(), uid)?;
            let score = codec::text(table.name(), score)?;
            last = Some(format!("{score}:{uid}"));
            if let Some(row) = Row::decode(table.name(), hash)? {
                rows.push(CopyRow::ApiKey(decode(&row)?));
            }
        }
        Ok(CopyPage { rows, next })
    }

    /// Writes one copied API key as it is: replaces its hash and (re)scores its uid in one
    /// `MULTI` (both in the `{api_keys}` slot).
    pub(super) async fn import_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let keys = self.keys();
        let hash = keys.api_key(&key.uid);
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("DEL")
            .arg(&hash)
            .ignore()
            .add_command(fields(key)?.hset(&hash))
            .ignore()
            .cmd("ZADD")
            .arg(keys.api_key_uids())
            .arg(key.created_at.as_millis())
            .arg(&key.uid)
            .ignore();
        self.query_pipeline(&pipeline).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_saturate_past_i64_max() {
        assert_eq!(ranks(0, 1), (0, 0));
        assert_eq!(ranks(5, 10), (5, 14));
        assert_eq!(ranks(u64::MAX, u64::MAX), (i64::MAX, i64::MAX));
        assert_eq!(ranks(1, u64::MAX), (1, i64::MAX));
    }
}
