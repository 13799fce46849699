//! Table 15, index records: a hash per record and a sorted set of the recorded uids, all under
//! the `{indexes}` hash tag, so each write is one script in one slot (also on a Redis Cluster).
//!
//! Every uid has score 0 in the set, so `ZRANGEBYLEX` lists them in byte order, the order SQLite
//! lists them in. Versions are compared as decimal strings in the scripts and the next version
//! is computed here (a Lua number cannot hold every `u64`).

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::{self, Fields, Row};
use crate::copy::{CopyPage, CopyRow};
use crate::error::StoreResult;
use crate::indexes::{IndexRecord, IndexStore, next_version, validate_index_record};

const TABLE: &str = "indexes";

lua_script!(PUT = "index_put.lua");
lua_script!(DELETE = "index_delete.lua");
lua_script!(LIST = "index_list.lua");

fn decode(row: &Row) -> StoreResult<IndexRecord> {
    Ok(IndexRecord {
        uid: row.text("uid")?,
        primary_key: row.opt_text("primary_key")?,
        physical_uid: row.text("physical_uid")?,
        shards: row.parse("shards")?,
        settings_version: row.parse("settings_version")?,
        state: row.parse("state")?,
        version: row.parse("version")?,
        created_at: row.timestamp("created_at")?,
        updated_at: row.timestamp("updated_at")?,
    })
}

/// Every field of `record` as stored (an absent primary key is an absent field).
fn fields(record: &IndexRecord) -> Fields {
    Fields::new()
        .text("uid", record.uid.as_str())
        .optional("primary_key", record.primary_key.as_deref(), Fields::text)
        .text("physical_uid", record.physical_uid.as_str())
        .display("shards", record.shards)
        .display("settings_version", record.settings_version)
        .display("state", record.state)
        .display("version", record.version)
        .timestamp("created_at", record.created_at)
        .timestamp("updated_at", record.updated_at)
}

#[async_trait]
impl IndexStore for RedisStore {
    async fn get_index(&self, uid: &str) -> StoreResult<Option<IndexRecord>> {
        let row = self.row(TABLE, &self.keys().index_record(uid)).await?;
        row.as_ref().map(decode).transpose()
    }

    /// One script (`index_put.lua`) compares the stored version and writes the hash and the uid
    /// set.
    async fn put_index(
        &self,
        mut record: IndexRecord,
        expected_version: u64,
    ) -> StoreResult<IndexRecord> {
        validate_index_record(&record)?;
        record.version = next_version(&record.uid, expected_version)?;
        let keys = self.keys();
        let mut invocation = PUT.key(keys.index_record(&record.uid));
        invocation
            .key(keys.index_record_uids())
            .arg(record.uid.as_str())
            .arg(expected_version)
            .arg(fields(&record).script_args());
        let stored: Value = self.eval(&invocation).await?;
        decode(&Row::decode_present(TABLE, stored)?)
    }

    /// One script (`index_delete.lua`) compares the stored version and removes the hash and the
    /// uid.
    async fn delete_index(&self, uid: &str, expected_version: u64) -> StoreResult<bool> {
        let keys = self.keys();
        let mut invocation = DELETE.key(keys.index_record(uid));
        invocation
            .key(keys.index_record_uids())
            .arg(uid)
            .arg(expected_version);
        let deleted: i64 = self.eval(&invocation).await?;
        Ok(deleted == 1)
    }

    /// One script (`index_list.lua`): the page of uids and their hashes in one snapshot.
    async fn list_indexes(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IndexRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self.keys();
        let mut invocation = LIST.key(keys.index_record_uids());
        invocation
            .arg(keys.index_record_prefix())
            .arg(after.unwrap_or(""))
            .arg(i64::try_from(limit).unwrap_or(i64::MAX));
        let reply: Value = self.eval(&invocation).await?;
        let mut records = Vec::new();
        for hash in codec::array(TABLE, reply)? {
            if let Some(row) = Row::decode(TABLE, hash)? {
                records.push(decode(&row)?);
            }
        }
        Ok(records)
    }
}

impl RedisStore {
    /// One page of the `miroir-migrate copy` export of index records: a page of `list_indexes`
    /// after the last uid of the previous page (the cursor), read one record further to tell
    /// whether another page follows.
    pub(super) async fn export_indexes(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let mut records = self.list_indexes(cursor, limit.saturating_add(1)).await?;
        let more = records.len() > limit;
        records.truncate(limit);
        let next = if more {
            records.last().map(|record| record.uid.clone())
        } else {
            None
        };
        Ok(CopyPage {
            rows: records.into_iter().map(CopyRow::Index).collect(),
            next,
        })
    }

    /// Writes one copied index record as it is (version and timestamps included): replaces its
    /// hash and adds its uid to the uid set in one `MULTI` (both in the `{indexes}` slot).
    pub(super) async fn import_index(&self, record: &IndexRecord) -> StoreResult<()> {
        let keys = self.keys();
        let hash = keys.index_record(&record.uid);
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("DEL")
            .arg(&hash)
            .ignore()
            .add_command(fields(record).hset(&hash))
            .ignore()
            .cmd("ZADD")
            .arg(keys.index_record_uids())
            .arg(0)
            .arg(&record.uid)
            .ignore();
        self.query_pipeline(&pipeline).await
    }
}
