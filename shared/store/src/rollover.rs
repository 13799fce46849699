//! Table 12, `rollover_policies`: index lifecycle (ILM) rollover policies.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;

/// An ILM rollover policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloverPolicy {
    /// Policy name.
    pub name: String,
    /// Single-target alias new writes go to.
    pub write_alias: String,
    /// Multi-target alias reads fan out over.
    pub read_alias: String,
    /// Index name pattern, e.g. `logs-{YYYY-MM-DD}`.
    pub pattern: String,
    /// `{max_docs, max_age, max_size_gb}`.
    pub triggers: serde_json::Value,
    /// `{keep_indexes}`.
    pub retention: serde_json::Value,
    /// `{primary_key, settings_ref}`.
    pub template: serde_json::Value,
    /// Whether the ILM leader evaluates it.
    pub enabled: bool,
}

/// Rollover policies.
#[async_trait]
pub trait RolloverStore {
    /// Creates or replaces a policy.
    async fn upsert_rollover_policy(&self, policy: RolloverPolicy) -> StoreResult<()>;

    /// The policy, or `None`.
    async fn get_rollover_policy(&self, name: &str) -> StoreResult<Option<RolloverPolicy>>;

    /// Every policy, ordered by name.
    async fn list_rollover_policies(&self) -> StoreResult<Vec<RolloverPolicy>>;

    /// Deletes a policy; `false` if absent.
    async fn delete_rollover_policy(&self, name: &str) -> StoreResult<bool>;
}
