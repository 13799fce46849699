//! Table 2, `node_settings_version`: the last cluster-wide settings version each (index, node)
//! pair verified.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::time::Timestamp;

/// Settings freshness of one index on one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSettingsVersion {
    /// Index uid.
    pub index_uid: String,
    /// Node id from the config.
    pub node_id: String,
    /// Last settings version verified on that node.
    pub version: u64,
    /// When it was recorded.
    pub updated_at: Timestamp,
}

/// Per-(index, node) settings versions.
#[async_trait]
pub trait NodeSettingsStore {
    /// Stores `row` for the pair unless a strictly higher version is already stored (versions
    /// never go back; recording the same version again refreshes `updated_at`). Returns the row
    /// as stored afterwards.
    async fn record_node_settings_version(
        &self,
        row: NodeSettingsVersion,
    ) -> StoreResult<NodeSettingsVersion>;

    /// The version recorded for one pair.
    async fn get_node_settings_version(
        &self,
        index_uid: &str,
        node_id: &str,
    ) -> StoreResult<Option<NodeSettingsVersion>>;

    /// Every node's version for one index, ordered by node id.
    async fn list_node_settings_versions(
        &self,
        index_uid: &str,
    ) -> StoreResult<Vec<NodeSettingsVersion>>;

    /// Forgets every pair of an index (index deleted). Returns how many rows went.
    async fn delete_node_settings_versions(&self, index_uid: &str) -> StoreResult<u64>;
}
