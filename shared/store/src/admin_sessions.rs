//! Table 14, `admin_sessions`: admin UI sessions, and the revocation broadcast.
//!
//! The stored `revoked` flag is the truth; the revocation stream is only a fast path for
//! per-replica caches. It is at-most-once (Redis pub/sub), so after any reconnect the stream
//! yields [`RevocationEvent::Resync`] and subscribers must drop everything they cached.

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::time::Timestamp;

/// An admin session. `session_id` is whatever the caller stores as key — Miroir stores the
/// sha256 of the cookie value, never the cookie itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSession {
    /// Session key (hashed cookie value).
    pub session_id: String,
    /// CSRF token mutations must echo.
    pub csrf_token: String,
    /// sha256 of the admin key used at login.
    pub admin_key_hash: [u8; 32],
    /// Login time.
    pub created_at: Timestamp,
    /// The row is invisible from this instant on.
    pub expires_at: Timestamp,
    /// Logged out.
    pub revoked: bool,
    /// Browser user agent at login.
    pub user_agent: Option<String>,
    /// Source IP at login.
    pub source_ip: Option<String>,
}

/// An event of the revocation stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevocationEvent {
    /// This session was revoked.
    Revoked(String),
    /// Messages may have been missed (the subscription was re-established): drop every cached
    /// session.
    Resync,
}

/// A stream of revocation events that lives until dropped, resubscribing by itself.
pub type RevocationStream = BoxStream<'static, RevocationEvent>;

/// Admin sessions.
#[async_trait]
pub trait AdminSessionStore {
    /// Stores a new session. `Conflict` if the id exists; `InvalidInput` if already expired.
    async fn create_admin_session(&self, session: AdminSession) -> StoreResult<()>;

    /// The session (revoked ones included, with `revoked: true`), or `None` if absent or expired.
    async fn get_admin_session(&self, session_id: &str) -> StoreResult<Option<AdminSession>>;

    /// Marks the session revoked (kept until it expires) and publishes its id on the revocation
    /// channel. `false` if it did not exist.
    async fn revoke_admin_session(&self, session_id: &str) -> StoreResult<bool>;

    /// Subscribes to revocations published by any replica from now on.
    async fn subscribe_admin_session_revocations(&self) -> StoreResult<RevocationStream>;
}
