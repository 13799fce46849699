//! Aliases: a hash per alias, its history as a list of JSON entries (oldest first), and a set of
//! names for listing.

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::{self, Fields, Row};
use crate::aliases::{Alias, AliasHistoryEntry, AliasStore, AliasTarget, validate_alias};
use crate::copy::{CopyPage, CopyRow};
use crate::error::{StoreError, StoreResult};
use crate::time::Timestamp;

const TABLE: &str = "aliases";

lua_script!(CREATE = "alias_create.lua");
lua_script!(FLIP = "alias_flip.lua");

/// An alias from its hash and history list replies (`None` if the hash is missing).
fn decode(hash: Value, history: Value) -> StoreResult<Option<Alias>> {
    let Some(row) = Row::decode(TABLE, hash)? else {
        return Ok(None);
    };
    let history = codec::array(TABLE, history)?
        .into_iter()
        .map(|entry| codec::json::<AliasHistoryEntry>(TABLE, entry))
        .collect::<StoreResult<_>>()?;
    Ok(Some(Alias {
        name: row.text("name")?,
        target: row.json("target")?,
        version: row.parse("version")?,
        created_at: row.timestamp("created_at")?,
        history,
    }))
}

impl RedisStore {
    /// The aliases of `names` read in one transaction, skipping missing ones.
    async fn aliases_named(&self, names: &[String]) -> StoreResult<Vec<Alias>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        for name in names {
            pipeline
                .cmd("HGETALL")
                .arg(self.keys().alias(name))
                .cmd("LRANGE")
                .arg(self.keys().alias_history(name))
                .arg(0)
                .arg(-1);
        }
        let replies: Vec<Value> = self.query_pipeline(&pipeline).await?;
        let mut replies = replies.into_iter();
        let mut aliases = Vec::with_capacity(names.len());
        while let (Some(hash), Some(history)) = (replies.next(), replies.next()) {
            aliases.extend(decode(hash, history)?);
        }
        Ok(aliases)
    }
}

#[async_trait]
impl AliasStore for RedisStore {
    async fn create_alias(
        &self,
        name: &str,
        target: AliasTarget,
        now: Timestamp,
    ) -> StoreResult<Alias> {
        validate_alias(name, &target)?;
        let keys = self.keys();
        let fields = Fields::new()
            .text("name", name)
            .text("kind", target.kind_name())
            .json("target", &target)?
            .display("version", 1)
            .timestamp("created_at", now);
        let mut invocation = CREATE.prepare_invoke();
        invocation
            .key(keys.alias(name))
            .key(keys.alias_history(name))
            .key(keys.alias_index())
            .arg(name)
            .arg(fields.script_args());
        let _: i64 = self.eval(&invocation).await?;
        Ok(Alias {
            name: name.to_owned(),
            target,
            version: 1,
            created_at: now,
            history: Vec::new(),
        })
    }

    async fn get_alias(&self, name: &str) -> StoreResult<Option<Alias>> {
        Ok(self.aliases_named(&[name.to_owned()]).await?.pop())
    }

    async fn list_aliases(&self) -> StoreResult<Vec<Alias>> {
        let mut names: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(self.keys().alias_index()))
            .await?;
        names.sort();
        self.aliases_named(&names).await
    }

    async fn flip_alias(
        &self,
        name: &str,
        expected_version: u64,
        target: AliasTarget,
        history_retention: usize,
        now: Timestamp,
    ) -> StoreResult<Alias> {
        validate_alias(name, &target)?;
        let retention = i64::try_from(history_retention).unwrap_or(i64::MAX);
        let mut invocation = FLIP.prepare_invoke();
        invocation
            .key(self.keys().alias(name))
            .key(self.keys().alias_history(name))
            .arg(name)
            .arg(expected_version)
            .arg(target.kind_name())
            .arg(codec::to_json(&target)?)
            .arg(retention)
            .arg(now.as_millis());
        let (hash, history): (Value, Value) = self.eval(&invocation).await?;
        decode(hash, history)?.ok_or_else(|| StoreError::corrupt(TABLE, "flipped alias vanished"))
    }

    async fn delete_alias(&self, name: &str) -> StoreResult<bool> {
        let keys = self.keys();
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("DEL")
            .arg(keys.alias(name))
            .cmd("DEL")
            .arg(keys.alias_history(name))
            .ignore()
            .cmd("SREM")
            .arg(keys.alias_index())
            .arg(name)
            .ignore();
        let (deleted,): (u64,) = self.query_pipeline(&pipeline).await?;
        Ok(deleted > 0)
    }
}

impl RedisStore {
    /// One page of the `miroir-migrate copy` export of aliases (history included): the name set,
    /// read whole, by name; the cursor is the last name.
    pub(super) async fn export_aliases(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let (names, next) = self
            .set_page(&self.keys().alias_index(), cursor, limit)
            .await?;
        let aliases = self.aliases_named(&names).await?;
        Ok(CopyPage {
            rows: aliases.into_iter().map(CopyRow::Alias).collect(),
            next,
        })
    }

    /// Writes one copied alias with its version and history in one `MULTI`, replacing the alias
    /// of the same name.
    pub(super) async fn import_alias(&self, alias: &Alias) -> StoreResult<()> {
        let keys = self.keys();
        let fields = Fields::new()
            .text("name", alias.name.as_str())
            .text("kind", alias.target.kind_name())
            .json("target", &alias.target)?
            .display("version", alias.version)
            .timestamp("created_at", alias.created_at);
        let hash = keys.alias(&alias.name);
        let history = keys.alias_history(&alias.name);
        let entries = alias
            .history
            .iter()
            .map(codec::to_json)
            .collect::<StoreResult<Vec<String>>>()?;
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("DEL")
            .arg(&hash)
            .arg(&history)
            .ignore()
            .add_command(fields.hset(&hash))
            .ignore();
        if !entries.is_empty() {
            pipeline.cmd("RPUSH").arg(&history).arg(entries).ignore();
        }
        pipeline
            .cmd("SADD")
            .arg(keys.alias_index())
            .arg(&alias.name)
            .ignore();
        self.query_pipeline(&pipeline).await
    }
}
