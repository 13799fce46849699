//! Table 13, `search_ui_config`, and the search-UI scoped-key rotation state
//! (`miroir:search_ui_scoped_key:<index>` and `…_observed:<pod>:<index>`).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::time::Timestamp;

/// Per-index search-UI configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchUiConfig {
    /// Index uid.
    pub index_uid: String,
    /// The `search_ui:` entry.
    pub config: serde_json::Value,
    /// Last write.
    pub updated_at: Timestamp,
}

/// Which scoped Meilisearch key the search UI of an index uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopedKeyState {
    /// Index uid.
    pub index_uid: String,
    /// Key uid in use.
    pub primary_uid: String,
    /// Key uid replaced by the last rotation, still accepted until every peer observed the new one.
    pub previous_uid: Option<String>,
    /// Last rotation time.
    pub rotated_at: Timestamp,
    /// Rotation counter: 1 after the first rotation.
    pub generation: u64,
}

/// That a pod has used a generation of an index's scoped key. Expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopedKeyObservation {
    /// Pod id.
    pub pod_id: String,
    /// Index uid.
    pub index_uid: String,
    /// Generation the pod used.
    pub generation: u64,
    /// When.
    pub observed_at: Timestamp,
}

/// Search-UI configuration and key rotation.
#[async_trait]
pub trait SearchUiStore {
    /// Creates or replaces the config of an index.
    async fn put_search_ui_config(&self, config: SearchUiConfig) -> StoreResult<()>;

    /// The config of an index.
    async fn get_search_ui_config(&self, index_uid: &str) -> StoreResult<Option<SearchUiConfig>>;

    /// Every config, ordered by index uid.
    async fn list_search_ui_configs(&self) -> StoreResult<Vec<SearchUiConfig>>;

    /// Deletes the config; `false` if absent.
    async fn delete_search_ui_config(&self, index_uid: &str) -> StoreResult<bool>;

    /// The rotation state of an index's scoped key.
    async fn get_scoped_key(&self, index_uid: &str) -> StoreResult<Option<ScopedKeyState>>;

    /// Compare-and-set rotation: if the stored generation is `expected_generation` (0 = never
    /// rotated), the current primary becomes `previous_uid`, `new_primary_uid` the primary and the
    /// generation increments. `Conflict` if another rotation got there first.
    async fn rotate_scoped_key(
        &self,
        index_uid: &str,
        expected_generation: u64,
        new_primary_uid: &str,
        now: Timestamp,
    ) -> StoreResult<ScopedKeyState>;

    /// Records that `pod_id` used `generation`; the record expires after `ttl`.
    async fn record_scoped_key_observation(
        &self,
        observation: ScopedKeyObservation,
        ttl: Duration,
    ) -> StoreResult<()>;

    /// The live observation of (pod, index).
    async fn get_scoped_key_observation(
        &self,
        pod_id: &str,
        index_uid: &str,
    ) -> StoreResult<Option<ScopedKeyObservation>>;
}
