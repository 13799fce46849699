//! The schema version (`P:{meta}:schema_version`) and migrations: each step is recorded by a
//! compare-and-set script, so racing migrators apply it exactly once between them.
//!
//! A step that changes Redis data does it first, in scripts on the slots of that data
//! ([`RedisStore::transform`]): on a Redis Cluster the version key (`{meta}`) and the data are in
//! different slots, so no one script can do both. Such a script must be idempotent, since every
//! racing migrator may run it before one of them records the version:
//!
//! 1. `initial`: no data to change (keys are created by the operations).
//! 2. `job_claim_tokens`: every in-progress job without a claim token gets the next token of
//!    `P:{jobs}:claim_seq`, in enqueue order (`schema_job_claim_tokens.lua`, one script in the
//!    `{jobs}` slot), as the SQLite step does. A version-1 binary that claims a job between this
//!    script and the version change leaves a claim without a token: [`crate::Job::claim_token`]
//!    is `None`, no claim can be presented for it, and it ends when that binary completes it or
//!    its lease runs out.
//! 3. `index_records`: no data to change (the `{indexes}` keys of table 15 are created by the
//!    operations).
//! 4. `api_keys`: Meilisearch's four default keys ([`crate::DEFAULT_API_KEYS`]), each with a
//!    fresh UUID v4 uid, `created_at` from the server clock 1 ms apart, as the SQLite step
//!    (`schema_api_keys.lua`, one script in the `{api_keys}` slot). The script also sets
//!    `P:{api_keys}:defaults` and does nothing when it is set, so a racing migrator running it
//!    again creates no second set of keys.

use async_trait::async_trait;

use super::RedisStore;
use crate::error::{StoreError, StoreResult};
use crate::schema::{MigrationReport, SCHEMA_VERSION, SchemaStore, pending_steps};

const TABLE: &str = "schema";

lua_script!(STEP = "schema_step.lua");
lua_script!(
    JOB_CLAIM_TOKENS = "jobs_common.lua",
    "schema_job_claim_tokens.lua"
);

impl RedisStore {
    /// Changes the data as step `version` requires, before the step is recorded (see the module
    /// docs). Idempotent.
    async fn transform(&self, version: u32) -> StoreResult<()> {
        match version {
            1 | 3 => Ok(()),
            2 => {
                let invocation = self.job_invocation(&JOB_CLAIM_TOKENS, None);
                let _given: u64 = self.eval(&invocation).await?;
                Ok(())
            }
            4 => self.create_default_api_keys().await,
            other => Err(StoreError::Backend(format!(
                "redis: no data change is defined for schema step {other}"
            ))),
        }
    }
}

#[async_trait]
impl SchemaStore for RedisStore {
    async fn schema_version(&self) -> StoreResult<u32> {
        let stored: Option<String> = self
            .query(redis::cmd("GET").arg(self.keys().schema_version()))
            .await?;
        stored.map_or(Ok(0), |text| {
            text.parse().map_err(|_| {
                StoreError::corrupt(
                    TABLE,
                    format_args!("schema version `{text}` is not a number"),
                )
            })
        })
    }

    async fn migrate(&self) -> StoreResult<MigrationReport> {
        let from = self.schema_version().await?;
        let mut applied = Vec::new();
        for step in pending_steps(from)? {
            self.transform(step.version).await?;
            let mut invocation = STEP.key(self.keys().schema_version());
            invocation.arg(step.version - 1).arg(step.version);
            let (applied_here, stored): (u8, u32) = self.eval(&invocation).await?;
            if applied_here == 1 {
                applied.push(step.version);
            } else if stored > SCHEMA_VERSION {
                return Err(StoreError::SchemaAhead {
                    store: stored,
                    binary: SCHEMA_VERSION,
                });
            } else if stored < step.version {
                return Err(StoreError::Backend(format!(
                    "schema version is {stored} while applying step {}",
                    step.version
                )));
            }
        }
        Ok(MigrationReport {
            from,
            to: SCHEMA_VERSION,
            applied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::test_support;
    use crate::schema::MIGRATIONS;

    /// Every step this binary knows has its Redis data change defined (a new step without one
    /// fails here, not in a migration), and each is idempotent on an empty store.
    #[tokio::test(flavor = "multi_thread")]
    async fn every_step_has_a_redis_data_change() {
        let store = test_support::store("schema_steps").await;
        for step in MIGRATIONS {
            store.transform(step.version).await.expect("transform");
            store
                .transform(step.version)
                .await
                .expect("transform again");
        }
        assert!(store.transform(SCHEMA_VERSION + 1).await.is_err());
    }

    /// Step 4 run by racing migrators (and again later) creates one set of default keys, listed
    /// newest first in Meilisearch's order.
    #[tokio::test(flavor = "multi_thread")]
    async fn racing_runs_of_step_4_create_the_default_keys_once() {
        use crate::api_keys::{ApiKeyStore, DEFAULT_API_KEYS};

        let store = test_support::store("schema_api_keys").await;
        futures::future::try_join_all((0..4).map(|_| store.transform(4)))
            .await
            .expect("transform");
        store.transform(4).await.expect("transform again");
        let page = store.list_api_keys(0, 10).await.expect("list");
        assert_eq!(page.total, 4);
        let names: Vec<Option<&str>> = page.results.iter().map(|key| key.name.as_deref()).collect();
        let expected: Vec<Option<&str>> = DEFAULT_API_KEYS
            .iter()
            .map(|default| Some(default.name))
            .collect();
        assert_eq!(names, expected);
        assert!(page.results.iter().all(|key| key.is_untouched_default()));
    }
}
