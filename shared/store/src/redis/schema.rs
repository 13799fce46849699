//! The schema version (`P:{meta}:schema_version`) and migrations: each step is applied by a
//! compare-and-set script, so racing migrators apply it exactly once between them.

use async_trait::async_trait;

use super::RedisStore;
use crate::error::{StoreError, StoreResult};
use crate::schema::{MigrationReport, SCHEMA_VERSION, SchemaStore, pending_steps};

const TABLE: &str = "schema";

lua_script!(STEP = "schema_step.lua");

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
        // No step transforms Redis data so far; a step that must would do it in its CAS script.
        for step in pending_steps(from)? {
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
