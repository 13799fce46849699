//! The migration runner: the schema version is `PRAGMA user_version`.

use async_trait::async_trait;
use rusqlite::Connection;

use super::SqliteStore;
use crate::error::{StoreError, StoreResult};
use crate::schema::{MigrationReport, SchemaStore, pending_steps};

fn user_version(connection: &Connection) -> StoreResult<u32> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    u32::try_from(version).map_err(|_| {
        StoreError::NotAMiroirStore(format!(
            "sqlite user_version {version} is not a miroir schema version"
        ))
    })
}

#[async_trait]
impl SchemaStore for SqliteStore {
    async fn schema_version(&self) -> StoreResult<u32> {
        self.read(|connection| user_version(connection)).await
    }

    /// Applies the missing steps and the new `user_version` in one `BEGIN IMMEDIATE`
    /// transaction, so a racing migrator waits for the lock and then finds nothing to do.
    async fn migrate(&self) -> StoreResult<MigrationReport> {
        self.write_transaction(|transaction| {
            let from = user_version(transaction)?;
            let steps = pending_steps(from)?;
            let mut report = MigrationReport {
                from,
                to: from,
                applied: Vec::with_capacity(steps.len()),
            };
            for step in steps {
                transaction
                    .execute_batch(step.sqlite_sql)
                    .map_err(|error| {
                        StoreError::Backend(format!(
                            "migration step {} ({}) failed: {error}",
                            step.version, step.name
                        ))
                    })?;
                report.applied.push(step.version);
                report.to = step.version;
            }
            if !report.applied.is_empty() {
                transaction.pragma_update(None, "user_version", report.to)?;
            }
            Ok(report)
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::StoreError;
    use crate::schema::{SCHEMA_VERSION, SQLITE_APPLICATION_ID};
    use crate::sqlite::testing;
    use crate::store_url::SqliteLocation;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_migrations_from_two_handles_apply_each_step_once() {
        let dir = tempfile::tempdir().unwrap();
        let location = SqliteLocation::File(dir.path().join("new/dir/store.db"));
        let first = testing::open(location.clone()).await;
        let second = testing::open(location).await;
        let (left, right) = tokio::join!(first.migrate(), second.migrate());
        let mut reports = [left.unwrap(), right.unwrap()];
        reports.sort_by_key(|report| report.applied.len());
        assert!(reports[0].applied.is_empty());
        assert_eq!(reports[1].applied.len(), SCHEMA_VERSION as usize);
        assert!(reports.iter().all(|report| report.to == SCHEMA_VERSION));
        assert_eq!(second.schema_version().await.unwrap(), SCHEMA_VERSION);
        let application_id: i32 = first
            .read(|connection| {
                Ok(connection.query_row("PRAGMA application_id", [], |row| row.get(0))?)
            })
            .await
            .unwrap();
        assert_eq!(application_id, SQLITE_APPLICATION_ID);
    }

    #[tokio::test]
    async fn a_store_ahead_of_the_binary_is_left_alone() {
        let store = testing::memory().await;
        store
            .write(|connection| {
                Ok(connection.pragma_update(None, "user_version", SCHEMA_VERSION + 1)?)
            })
            .await
            .unwrap();
        assert!(matches!(
            store.migrate().await,
            Err(StoreError::SchemaAhead { .. })
        ));
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION + 1);
    }
}
