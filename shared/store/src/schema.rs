//! Schema versions and the numbered migration steps shared by both backends.
//!
//! The store records one integer, its schema version (SQLite: `PRAGMA user_version`; Redis: the
//! key `miroir:{meta}:schema_version`). Step N brings a store from N-1 to N on either backend.
//! Steps are append-only: a released step is never edited, a change is a new step.

use async_trait::async_trait;

use crate::error::{StoreError, StoreResult};

/// One migration step.
#[derive(Debug)]
pub struct MigrationStep {
    /// The version the store has after the step.
    pub version: u32,
    /// Short name, as in the file name.
    pub name: &'static str,
    /// SQL applied in one transaction on SQLite.
    pub sqlite_sql: &'static str,
}

/// Every step this binary knows, in order. The SQL lives in this crate's `migrations/sqlite/`; what
/// a step changes in Redis data is done by the Redis backend's migration (`src/redis/schema.rs`).
///
/// 1. `initial`: every table.
/// 2. `job_claim_tokens`: a claim token per job claim ([`crate::JobClaim`]) and the store's token
///    counter; jobs a version-1 binary had in progress get tokens 1..n in enqueue order.
/// 3. `index_records`: table 15, `indexes`, the per-index state records ([`crate::IndexStore`]),
///    empty.
/// 4. `api_keys`: table 16, `api_keys` ([`crate::ApiKeyStore`]), holding Meilisearch's four
///    default keys ([`crate::DEFAULT_API_KEYS`]), each with a fresh random UUID v4 uid.
pub const MIGRATIONS: &[MigrationStep] = &[
    MigrationStep {
        version: 1,
        name: "initial",
        sqlite_sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    MigrationStep {
        version: 2,
        name: "job_claim_tokens",
        sqlite_sql: include_str!("../migrations/sqlite/0002_job_claim_tokens.sql"),
    },
    MigrationStep {
        version: 3,
        name: "index_records",
        sqlite_sql: include_str!("../migrations/sqlite/0003_index_records.sql"),
    },
    MigrationStep {
        version: 4,
        name: "api_keys",
        sqlite_sql: include_str!("../migrations/sqlite/0004_api_keys.sql"),
    },
];

/// The schema version this binary serves: the last step's version.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// `SQLite`'s `PRAGMA application_id` of a Miroir store ("MIRR").
pub const SQLITE_APPLICATION_ID: i32 = 0x4D49_5252;

/// What [`SchemaStore::migrate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    /// Version before.
    pub from: u32,
    /// Version after (always [`SCHEMA_VERSION`] on success).
    pub to: u32,
    /// Versions of the steps this call applied (empty if another process applied them).
    pub applied: Vec<u32>,
}

/// `Ok` when `store_version` is exactly this binary's version; `SchemaAhead` or `SchemaBehind`
/// naming both versions otherwise.
pub fn check_schema_version(store_version: u32) -> StoreResult<()> {
    use std::cmp::Ordering;
    match store_version.cmp(&SCHEMA_VERSION) {
        Ordering::Equal => Ok(()),
        Ordering::Greater => Err(StoreError::SchemaAhead {
            store: store_version,
            binary: SCHEMA_VERSION,
        }),
        Ordering::Less => Err(StoreError::SchemaBehind {
            store: store_version,
            binary: SCHEMA_VERSION,
        }),
    }
}

/// The steps still to apply to a store at `store_version`; `SchemaAhead` if it is newer.
pub fn pending_steps(store_version: u32) -> StoreResult<&'static [MigrationStep]> {
    if store_version > SCHEMA_VERSION {
        return Err(StoreError::SchemaAhead {
            store: store_version,
            binary: SCHEMA_VERSION,
        });
    }
    let applied = MIGRATIONS
        .iter()
        .take_while(|step| step.version <= store_version)
        .count();
    Ok(&MIGRATIONS[applied..])
}

/// Reading and advancing the schema version.
#[async_trait]
pub trait SchemaStore {
    /// The version recorded in the store (0 for an empty store). Reads one value.
    async fn schema_version(&self) -> StoreResult<u32>;

    /// Applies every missing step. Idempotent; when several processes race, each ends with the
    /// store at [`SCHEMA_VERSION`], no error, and every step applied exactly once.
    /// `SchemaAhead` (and no change) if the store is newer than this binary.
    async fn migrate(&self) -> StoreResult<MigrationReport>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_one_by_one_from_one() {
        for (index, step) in MIGRATIONS.iter().enumerate() {
            assert_eq!(step.version as usize, index + 1, "step {}", step.name);
        }
    }

    #[test]
    fn versions_compare_both_ways() {
        assert!(check_schema_version(SCHEMA_VERSION).is_ok());
        assert_eq!(
            check_schema_version(SCHEMA_VERSION + 1),
            Err(StoreError::SchemaAhead {
                store: SCHEMA_VERSION + 1,
                binary: SCHEMA_VERSION
            })
        );
        assert!(matches!(
            check_schema_version(0),
            Err(StoreError::SchemaBehind { .. })
        ));
        assert_eq!(
            pending_steps(0).map(<[_]>::len).ok(),
            Some(MIGRATIONS.len())
        );
        assert!(pending_steps(SCHEMA_VERSION).is_ok_and(<[_]>::is_empty));
    }
}
