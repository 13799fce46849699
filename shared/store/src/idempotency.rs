//! Table 5, `idempotency_cache`: `Idempotency-Key` → (body hash, task). Rows expire.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::tasks::TaskUid;
use crate::time::Timestamp;

/// A remembered write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The client's `Idempotency-Key`.
    pub key: String,
    /// sha256 of the request body.
    pub body_sha256: [u8; 32],
    /// The task the first request created.
    pub task_uid: TaskUid,
    /// The row is invisible from this instant on.
    pub expires_at: Timestamp,
}

/// Outcome of [`IdempotencyStore::insert_idempotency_if_absent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyInsert {
    /// The key was free (or expired) and is now recorded.
    Inserted,
    /// The key is live; this is what it holds (nothing was written).
    Existing(IdempotencyRecord),
}

/// Write deduplication keys.
#[async_trait]
pub trait IdempotencyStore {
    /// Records the key unless a live record exists. Exactly one of racing callers gets
    /// `Inserted`. `InvalidInput` if `expires_at` is not in the future.
    async fn insert_idempotency_if_absent(
        &self,
        record: IdempotencyRecord,
    ) -> StoreResult<IdempotencyInsert>;

    /// The live record for `key`.
    async fn get_idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>>;
}
