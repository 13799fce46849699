//! Table 4, `sessions`: read-your-writes session pins. Rows expire at `expires_at`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::tasks::TaskUid;
use crate::time::Timestamp;

/// A read-your-writes session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Client-chosen session id.
    pub session_id: String,
    /// Last write task of the session.
    pub last_write_task_uid: Option<TaskUid>,
    /// When that write was accepted.
    pub last_write_at: Option<Timestamp>,
    /// Replica group the session is pinned to.
    pub pinned_group: Option<u32>,
    /// Settings version reads of this session require.
    pub min_settings_version: u64,
    /// The row is invisible from this instant on.
    pub expires_at: Timestamp,
}

/// Session pins.
#[async_trait]
pub trait SessionStore {
    /// Creates or replaces the session (sliding expiry: the caller passes `now + ttl`).
    /// `InvalidInput` if `expires_at` is not in the future.
    async fn put_session(&self, session: Session) -> StoreResult<()>;

    /// The session, or `None` if absent or expired.
    async fn get_session(&self, session_id: &str) -> StoreResult<Option<Session>>;

    /// Deletes the session; `false` if it did not exist.
    async fn delete_session(&self, session_id: &str) -> StoreResult<bool>;
}
