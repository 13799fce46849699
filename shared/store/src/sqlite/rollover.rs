//! Table 12, `rollover_policies`.

use async_trait::async_trait;
use rusqlite::{Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, query_all, query_optional, to_json};
use crate::copy::CopyRow;
use crate::error::StoreResult;
use crate::rollover::{RolloverPolicy, RolloverStore};

macro_rules! policy_columns {
    () => {
        "name, write_alias, read_alias, pattern, triggers_json, retention_json, template_json, enabled"
    };
}

fn decode_policy(row: &Row<'_>) -> StoreResult<RolloverPolicy> {
    let columns = Columns::new("rollover_policies", row);
    Ok(RolloverPolicy {
        name: columns.string(0)?,
        write_alias: columns.string(1)?,
        read_alias: columns.string(2)?,
        pattern: columns.string(3)?,
        triggers: columns.json(4)?,
        retention: columns.json(5)?,
        template: columns.json(6)?,
        enabled: columns.bool(7)?,
    })
}

#[async_trait]
impl RolloverStore for SqliteStore {
    async fn upsert_rollover_policy(&self, policy: RolloverPolicy) -> StoreResult<()> {
        let triggers = to_json("rollover triggers", &policy.triggers)?;
        let retention = to_json("rollover retention", &policy.retention)?;
        let template = to_json("rollover template", &policy.template)?;
        self.write(move |connection| {
            connection
                .prepare_cached(concat!(
                    "INSERT OR REPLACE INTO rollover_policies (",
                    policy_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ))?
                .execute(rusqlite::params![
                    policy.name,
                    policy.write_alias,
                    policy.read_alias,
                    policy.pattern,
                    triggers,
                    retention,
                    template,
                    policy.enabled,
                ])?;
            Ok(())
        })
        .await
    }

    async fn get_rollover_policy(&self, name: &str) -> StoreResult<Option<RolloverPolicy>> {
        let name = name.to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                policy_columns!(),
                " FROM rollover_policies WHERE name = ?1"
            ))?;
            query_optional(&mut statement, [name], decode_policy)
        })
        .await
    }

    async fn list_rollover_policies(&self) -> StoreResult<Vec<RolloverPolicy>> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                policy_columns!(),
                " FROM rollover_policies ORDER BY name"
            ))?;
            query_all(&mut statement, [], decode_policy)
        })
        .await
    }

    async fn delete_rollover_policy(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("DELETE FROM rollover_policies WHERE name = ?1")?
                .execute([name])?;
            Ok(deleted > 0)
        })
        .await
    }
}

/// The `miroir-migrate copy` export of `rollover_policies`, by name.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "rollover_policies",
        columns: policy_columns!(),
        key: &[("name", KeyKind::Text)],
        expires: false,
        decode: |row, _| Ok(CopyRow::RolloverPolicy(decode_policy(row)?)),
    }
}

/// Writes one copied rollover policy, replacing the policy of the same name.
pub(super) fn import(transaction: &Transaction<'_>, policy: &RolloverPolicy) -> StoreResult<()> {
    transaction
        .prepare_cached(concat!(
            "INSERT INTO rollover_policies (",
            policy_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (name) DO UPDATE SET \
             write_alias = excluded.write_alias, read_alias = excluded.read_alias, \
             pattern = excluded.pattern, triggers_json = excluded.triggers_json, \
             retention_json = excluded.retention_json, \
             template_json = excluded.template_json, enabled = excluded.enabled"
        ))?
        .execute(rusqlite::params![
            policy.name,
            policy.write_alias,
            policy.read_alias,
            policy.pattern,
            to_json("rollover triggers", &policy.triggers)?,
            to_json("rollover retention", &policy.retention)?,
            to_json("rollover template", &policy.template)?,
            policy.enabled,
        ])?;
    Ok(())
}
