//! Table 3, `aliases`: the target is split over `kind`, `current_uid` (single) and `target_uids`
//! (multi, JSON); the history is one JSON array.

use async_trait::async_trait;
use rusqlite::{Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, query_all, query_optional, to_json, u64_to_sql};
use crate::aliases::{Alias, AliasHistoryEntry, AliasStore, AliasTarget};
use crate::copy::CopyRow;
use crate::error::{StoreError, StoreResult};
use crate::time::Timestamp;

macro_rules! alias_columns {
    () => {
        "name, kind, current_uid, target_uids, version, created_at, history"
    };
}

fn decode_alias(row: &Row<'_>) -> StoreResult<Alias> {
    let columns = Columns::new("aliases", row);
    let kind = columns.string(1)?;
    let target = match (kind.as_str(), columns.opt_string(2)?, columns.opt_json(3)?) {
        ("single", Some(uid), None) => AliasTarget::Single { uid },
        ("multi", None, Some(uids)) => AliasTarget::Multi { uids },
        _ => {
            return Err(StoreError::corrupt(
                "aliases",
                format!("kind `{kind}` does not match its target columns"),
            ));
        }
    };
    Ok(Alias {
        name: columns.string(0)?,
        target,
        version: columns.u64(4)?,
        created_at: columns.timestamp(5)?,
        history: columns.json(6)?,
    })
}

fn get_alias(connection: &rusqlite::Connection, name: &str) -> StoreResult<Option<Alias>> {
    let mut statement = connection.prepare_cached(concat!(
        "SELECT ",
        alias_columns!(),
        " FROM aliases WHERE name = ?1"
    ))?;
    query_optional(&mut statement, [name], decode_alias)
}

/// The `current_uid` and `target_uids` columns of a target.
fn target_columns(target: &AliasTarget) -> StoreResult<(Option<&str>, Option<String>)> {
    Ok(match target {
        AliasTarget::Single { uid } => (Some(uid.as_str()), None),
        AliasTarget::Multi { uids } => (None, Some(to_json("alias targets", uids)?)),
    })
}

#[async_trait]
impl AliasStore for SqliteStore {
    async fn create_alias(
        &self,
        name: &str,
        target: AliasTarget,
        now: Timestamp,
    ) -> StoreResult<Alias> {
        crate::aliases::validate_alias(name, &target)?;
        let name = name.to_owned();
        self.write(move |connection| {
            let (current_uid, target_uids) = target_columns(&target)?;
            let inserted = connection
                .prepare_cached(
                    "INSERT INTO aliases (name, kind, current_uid, target_uids, version, created_at, history) \
                     VALUES (?1, ?2, ?3, ?4, 1, ?5, '[]') ON CONFLICT (name) DO NOTHING",
                )?
                .execute(rusqlite::params![name, target.kind_name(), current_uid, target_uids, now.as_millis()])?;
            if inserted == 0 {
                return Err(StoreError::conflict(format!("alias `{name}` already exists")));
            }
            Ok(Alias {
                name,
                target,
                version: 1,
                created_at: now,
                history: Vec::new(),
            })
        })
        .await
    }

    async fn get_alias(&self, name: &str) -> StoreResult<Option<Alias>> {
        let name = name.to_owned();
        self.read(move |connection| get_alias(connection, &name))
            .await
    }

    async fn list_aliases(&self) -> StoreResult<Vec<Alias>> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                alias_columns!(),
                " FROM aliases ORDER BY name"
            ))?;
            query_all(&mut statement, [], decode_alias)
        })
        .await
    }

    /// Read, check and write in one `BEGIN IMMEDIATE` transaction.
    async fn flip_alias(
        &self,
        name: &str,
        expected_version: u64,
        target: AliasTarget,
        history_retention: usize,
        now: Timestamp,
    ) -> StoreResult<Alias> {
        crate::aliases::validate_alias(name, &target)?;
        let name = name.to_owned();
        self.write_transaction(move |transaction| {
            let mut alias =
                get_alias(transaction, &name)?.ok_or_else(|| StoreError::not_found(format!("alias `{name}`")))?;
            if alias.version != expected_version {
                return Err(StoreError::conflict(format!(
                    "alias `{name}` is at version {}, not {expected_version}",
                    alias.version
                )));
            }
            if alias.target.kind_name() != target.kind_name() {
                return Err(StoreError::invalid(format!(
                    "alias `{name}` is a {} alias and cannot become a {} alias",
                    alias.target.kind_name(),
                    target.kind_name()
                )));
            }
            let previous = std::mem::replace(&mut alias.target, target);
            alias.history.push(AliasHistoryEntry {
                target: previous,
                version: alias.version,
                replaced_at: now,
            });
            let excess = alias.history.len().saturating_sub(history_retention);
            alias.history.drain(..excess);
            alias.version += 1;

            let (current_uid, target_uids) = target_columns(&alias.target)?;
            transaction
                .prepare_cached(
                    "UPDATE aliases SET current_uid = ?2, target_uids = ?3, version = ?4, history = ?5 \
                     WHERE name = ?1",
                )?
                .execute(rusqlite::params![
                    name,
                    current_uid,
                    target_uids,
                    u64_to_sql(alias.version),
                    to_json("alias history", &alias.history)?,
                ])?;
            Ok(alias)
        })
        .await
    }

    async fn delete_alias(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("DELETE FROM aliases WHERE name = ?1")?
                .execute([name])?;
            Ok(deleted > 0)
        })
        .await
    }
}

/// The `miroir-migrate copy` export of `aliases`, by name.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "aliases",
        columns: alias_columns!(),
        key: &[("name", KeyKind::Text)],
        expires: false,
        decode: |row, _| Ok(CopyRow::Alias(decode_alias(row)?)),
    }
}

/// Writes one copied alias with its version and history, replacing the alias of the same name.
pub(super) fn import(transaction: &Transaction<'_>, alias: &Alias) -> StoreResult<()> {
    let (current_uid, target_uids) = target_columns(&alias.target)?;
    transaction
        .prepare_cached(concat!(
            "INSERT INTO aliases (",
            alias_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (name) DO UPDATE SET \
             kind = excluded.kind, current_uid = excluded.current_uid, \
             target_uids = excluded.target_uids, version = excluded.version, \
             created_at = excluded.created_at, history = excluded.history"
        ))?
        .execute(rusqlite::params![
            alias.name,
            alias.target.kind_name(),
            current_uid,
            target_uids,
            u64_to_sql(alias.version),
            alias.created_at.as_millis(),
            to_json("alias history", &alias.history)?,
        ])?;
    Ok(())
}
