//! Rollover policies: one hash per policy plus a set of names.

use async_trait::async_trait;

use super::RedisStore;
use super::codec::{Fields, Row};
use super::rows::Expiry;
use crate::copy::{CopyPage, CopyRow, CopyTable};
use crate::error::StoreResult;
use crate::rollover::{RolloverPolicy, RolloverStore};

const TABLE: &str = "rollover_policies";

fn decode(row: &Row) -> StoreResult<RolloverPolicy> {
    Ok(RolloverPolicy {
        name: row.text("name")?,
        write_alias: row.text("write_alias")?,
        read_alias: row.text("read_alias")?,
        pattern: row.text("pattern")?,
        triggers: row.json("triggers")?,
        retention: row.json("retention")?,
        template: row.json("template")?,
        enabled: row.flag("enabled")?,
    })
}

#[async_trait]
impl RolloverStore for RedisStore {
    async fn upsert_rollover_policy(&self, policy: RolloverPolicy) -> StoreResult<()> {
        let fields = Fields::new()
            .text("name", policy.name.as_str())
            .text("write_alias", policy.write_alias.as_str())
            .text("read_alias", policy.read_alias.as_str())
            .text("pattern", policy.pattern.as_str())
            .json("triggers", &policy.triggers)?
            .json("retention", &policy.retention)?
            .json("template", &policy.template)?
            .flag("enabled", policy.enabled);
        let keys = self.keys();
        let index_key = keys.rollover_index();
        let key = keys.rollover_policy(&policy.name);
        self.put_row(
            &key,
            &fields,
            Expiry::Never,
            Some((&index_key, &policy.name)),
        )
        .await
    }

    async fn get_rollover_policy(&self, name: &str) -> StoreResult<Option<RolloverPolicy>> {
        let row = self.row(TABLE, &self.keys().rollover_policy(name)).await?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_rollover_policies(&self) -> StoreResult<Vec<RolloverPolicy>> {
        let keys = self.keys();
        let rows = self
            .indexed_rows(TABLE, &keys.rollover_index(), |name| {
                keys.rollover_policy(name)
            })
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn delete_rollover_policy(&self, name: &str) -> StoreResult<bool> {
        let keys = self.keys();
        self.delete_indexed_row(&[keys.rollover_policy(name)], &keys.rollover_index(), name)
            .await
    }
}

impl RedisStore {
    /// One page of the `miroir-migrate copy` export of rollover policies: the name set, read
    /// whole, by name; the cursor is the last name.
    pub(super) async fn export_rollover_policies(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let keys = self.keys();
        let (names, next) = self.set_page(&keys.rollover_index(), cursor, limit).await?;
        let hashes: Vec<String> = names
            .iter()
            .map(|name| keys.rollover_policy(name))
            .collect();
        let rows = self
            .copy_rows(CopyTable::RolloverPolicies, &hashes, |row| {
                decode(row).map(CopyRow::RolloverPolicy)
            })
            .await?;
        Ok(CopyPage { rows, next })
    }
}
