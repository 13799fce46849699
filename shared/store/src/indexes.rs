//! Table 15, `indexes`: the per-index state record every replica and Lambda function reads.
//!
//! One record per index uid a client has used: the primary key documents are routed by, the
//! name the index has on the nodes, the shard count, the settings version, and a lifecycle
//! state. Every change is a compare-and-set on the record's `version`, which only grows, also
//! across a deletion and a re-creation of the same uid (a deleted index keeps a `deleted`
//! record, its tombstone), so a cached copy is validated by comparing versions.
//!
//! Later work adds to the same record: primary-key inference (a record without a primary key),
//! index swaps and fleet moves (`physical_uid` differing from `uid`), versioned settings
//! (`settings_version`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};
use crate::time::Timestamp;

/// Where an index is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexState {
    /// The index exists: reads and writes go to the nodes.
    Active,
    /// A deletion is being sent to the nodes: new writes are refused or wait, a creation waits.
    Deleting,
    /// The deletion reached the nodes; the record is the tombstone that keeps `version` growing.
    Deleted,
}

string_enum!(IndexState, "index state", {
    Active => "active",
    Deleting => "deleting",
    Deleted => "deleted",
});

/// The state record of one index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRecord {
    /// The index uid clients use.
    pub uid: String,
    /// The primary key documents are routed by (`None`: not known yet).
    pub primary_key: Option<String>,
    /// The uid of the index on the nodes (today always `uid`).
    pub physical_uid: String,
    /// How many shards the index's documents are spread over.
    pub shards: u32,
    /// The cluster-wide settings version of the index (0: never changed through Miroir).
    pub settings_version: u64,
    /// Lifecycle state.
    pub state: IndexState,
    /// Compare-and-set version: 1 when first written, +1 per change, never reused for a uid.
    pub version: u64,
    /// When the record was first written (kept across re-creations).
    pub created_at: Timestamp,
    /// When the record last changed.
    pub updated_at: Timestamp,
}

impl IndexRecord {
    /// True while the index exists for clients.
    pub fn is_active(&self) -> bool {
        self.state == IndexState::Active
    }
}

/// Checks what both backends refuse before writing: an empty `uid` or `physical_uid`, or zero
/// shards (`InvalidInput`).
pub fn validate_index_record(record: &IndexRecord) -> StoreResult<()> {
    if record.uid.is_empty() || record.physical_uid.is_empty() {
        return Err(StoreError::invalid("index record has an empty uid"));
    }
    if record.shards == 0 {
        return Err(StoreError::invalid(format_args!(
            "index record `{}` has zero shards",
            record.uid
        )));
    }
    Ok(())
}

/// The version [`IndexStore::put_index`] stores for a write expecting `expected_version`;
/// `InvalidInput` when `expected_version` is `u64::MAX` (no version follows it). Both backends
/// check it before writing.
#[cfg(any(feature = "sqlite", feature = "redis"))]
pub(crate) fn next_version(uid: &str, expected_version: u64) -> StoreResult<u64> {
    expected_version.checked_add(1).ok_or_else(|| {
        StoreError::invalid(format_args!(
            "index `{uid}` is at the last version {expected_version}"
        ))
    })
}

/// Per-index state records.
#[async_trait]
pub trait IndexStore {
    /// The record of `uid` in any state, or `None` if the uid was never recorded.
    async fn get_index(&self, uid: &str) -> StoreResult<Option<IndexRecord>>;

    /// Compare-and-set write: stores `record` only if the stored version is `expected_version`
    /// (0: no record yet). The stored record gets version `expected_version + 1` (whatever
    /// `record.version` says) and keeps the first `created_at` of the uid when one was stored;
    /// the record as stored is returned. `Conflict`, changing nothing, when the stored version
    /// differs (exactly one of racing writers with the same expectation wins); `InvalidInput`,
    /// changing nothing, per [`validate_index_record`] or when `expected_version` is `u64::MAX`
    /// (no version follows it).
    async fn put_index(
        &self,
        record: IndexRecord,
        expected_version: u64,
    ) -> StoreResult<IndexRecord>;

    /// Compare-and-set removal of the record (no tombstone left): `false` if absent,
    /// `Conflict`, changing nothing, when the stored version is not `expected_version`.
    async fn delete_index(&self, uid: &str, expected_version: u64) -> StoreResult<bool>;

    /// Records in every state, ordered by uid (byte order), starting after `after`, at most
    /// `limit`.
    async fn list_indexes(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IndexRecord>>;
}
