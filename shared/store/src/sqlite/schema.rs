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

    /// A store made by step 1 alone (the file a version-1 binary left), holding jobs in every
    /// state, migrated through steps 2 to 4: step 2 gives the two jobs in progress tokens 1 and 2
    /// in enqueue order and starts the sequence after them; a version-1 binary completing its claim afterwards (its SQL
    /// clears `claimed_by` but not the token) leaves a job that reads without a token.
    #[tokio::test]
    async fn step_2_upgrades_a_store_made_by_step_1() {
        use crate::copy::CopyStore;
        use crate::jobs::{JobState, JobStore};
        use crate::schema::MIGRATIONS;

        let store = testing::open(SqliteLocation::Memory).await;
        store
            .write_transaction(|transaction| {
                transaction.execute_batch(MIGRATIONS[0].sqlite_sql)?;
                transaction.pragma_update(None, "user_version", 1)?;
                transaction.execute_batch(
                    "INSERT INTO jobs (id, type, params, state, claimed_by, claim_expires_at, \
                     progress, attempts, max_attempts, last_error, run_after, created_at, updated_at) \
                     VALUES \
                     ('queued', 'reindex', '{}', 'queued', NULL, NULL, 'null', 0, 3, NULL, 1, 1, 1), \
                     ('running-b', 'reindex', '{}', 'in_progress', 'pod-b', 9999999999999, \
                      '{\"cursor\": 1}', 1, 3, NULL, 1, 1, 1), \
                     ('done', 'dump_import', '{}', 'completed', NULL, NULL, '7', 1, 3, NULL, 1, 1, 1), \
                     ('running-a', 'reindex', '{}', 'in_progress', 'pod-a', 9999999999999, 'null', \
                      2, 3, 'claim expired', 1, 1, 1), \
                     ('failed', 'reindex', '{}', 'failed', NULL, NULL, 'null', 3, 3, 'boom', 1, 1, 1);",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let report = store.migrate().await.unwrap();
        assert_eq!(
            (report.from, report.to, report.applied),
            (1, 4, vec![2, 3, 4])
        );
        let token = |id: &'static str| {
            let store = store.clone();
            async move { store.get_job(id).await.unwrap().unwrap().claim_token }
        };
        assert_eq!(token("running-b").await, Some(1));
        assert_eq!(token("running-a").await, Some(2));
        for id in ["queued", "done", "failed"] {
            assert_eq!(token(id).await, None, "{id}");
        }
        assert_eq!(store.job_claim_sequence().await.unwrap(), 2);
        let running = store.get_job("running-a").await.unwrap().unwrap();
        assert_eq!(
            (running.claimed_by.as_deref(), running.attempts),
            (Some("pod-a"), 2)
        );
        let claimed = store
            .claim_next_job("pod-c", std::time::Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (claimed.id.as_str(), claimed.claim_token),
            ("queued", Some(3))
        );

        // The version-1 holder of `running-b` completes it with its own SQL.
        store
            .write(|connection| {
                Ok(connection.execute(
                    "UPDATE jobs SET state = 'completed', claimed_by = NULL, \
                     claim_expires_at = NULL, updated_at = 2 \
                     WHERE id = 'running-b' AND state = 'in_progress' AND claimed_by = 'pod-b'",
                    [],
                )?)
            })
            .await
            .unwrap();
        let done = store.get_job("running-b").await.unwrap().unwrap();
        assert_eq!((done.state, done.claim_token), (JobState::Completed, None));
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
