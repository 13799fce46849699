//! Table 3, `aliases`: names that resolve to one index (single) or several (multi, ILM-managed),
//! flipped atomically with a bounded history.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};
use crate::time::Timestamp;

/// What an alias resolves to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AliasTarget {
    /// One concrete index: reads and writes go there.
    Single {
        /// The index uid.
        uid: String,
    },
    /// Several indexes: reads fan out, writes are refused.
    Multi {
        /// The index uids.
        uids: Vec<String>,
    },
}

impl AliasTarget {
    /// `single` or `multi`, as in the `kind` column.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Single { .. } => "single",
            Self::Multi { .. } => "multi",
        }
    }
}

/// Checks what both backends refuse before writing: an empty alias name, or a target with an
/// empty uid or no uid at all (`InvalidInput`).
pub fn validate_alias(name: &str, target: &AliasTarget) -> StoreResult<()> {
    if name.is_empty() {
        return Err(StoreError::invalid("alias name is empty"));
    }
    let uids: &[String] = match target {
        AliasTarget::Single { uid } => std::slice::from_ref(uid),
        AliasTarget::Multi { uids } => uids,
    };
    if uids.is_empty() || uids.iter().any(String::is_empty) {
        return Err(StoreError::invalid(format_args!(
            "alias `{name}` has an empty target"
        )));
    }
    Ok(())
}

/// A prior state of an alias, kept in its history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasHistoryEntry {
    /// The target before the flip.
    pub target: AliasTarget,
    /// The version before the flip.
    pub version: u64,
    /// When the flip replaced it.
    pub replaced_at: Timestamp,
}

/// An alias as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// Alias name.
    pub name: String,
    /// Current target.
    pub target: AliasTarget,
    /// Flip counter: 1 at creation, +1 per flip.
    pub version: u64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Prior states, oldest first, at most the retention given to the last flip.
    pub history: Vec<AliasHistoryEntry>,
}

/// Alias definitions.
#[async_trait]
pub trait AliasStore {
    /// Creates the alias at version 1 with an empty history. `Conflict` if the name exists
    /// (exactly one of racing creators wins). `InvalidInput` for an empty name or target.
    async fn create_alias(
        &self,
        name: &str,
        target: AliasTarget,
        now: Timestamp,
    ) -> StoreResult<Alias>;

    /// The alias, or `None`.
    async fn get_alias(&self, name: &str) -> StoreResult<Option<Alias>>;

    /// Every alias, ordered by name.
    async fn list_aliases(&self) -> StoreResult<Vec<Alias>>;

    /// Compare-and-set flip: succeeds only if the stored version equals `expected_version`; then
    /// the previous state is appended to the history (trimmed to the newest `history_retention`
    /// entries in the same atomic step), the target replaced and the version incremented.
    /// `NotFound` if absent, `Conflict` on a stale version, `InvalidInput` if the kind would
    /// change (single ↔ multi) or the target is empty.
    async fn flip_alias(
        &self,
        name: &str,
        expected_version: u64,
        target: AliasTarget,
        history_retention: usize,
        now: Timestamp,
    ) -> StoreResult<Alias>;

    /// Deletes the alias; `false` if it did not exist.
    async fn delete_alias(&self, name: &str) -> StoreResult<bool>;
}
