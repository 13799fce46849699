//! Read-your-writes sessions: one hash per session, expiring at `expires_at`.

use async_trait::async_trait;

use super::RedisStore;
use super::codec::{Fields, Row};
use super::copy::{Scan, ScanRows};
use super::keys::Keys;
use super::rows::{Expiry, require_future};
use crate::copy::CopyRow;
use crate::error::StoreResult;
use crate::sessions::{Session, SessionStore};

const TABLE: &str = "sessions";

fn decode(row: &Row) -> StoreResult<Session> {
    Ok(Session {
        session_id: row.text("session_id")?,
        last_write_task_uid: row.opt_parse("last_write_task_uid")?,
        last_write_at: row.opt_timestamp("last_write_at")?,
        pinned_group: row.opt_parse("pinned_group")?,
        min_settings_version: row.parse("min_settings_version")?,
        expires_at: row.timestamp("expires_at")?,
    })
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn put_session(&self, session: Session) -> StoreResult<()> {
        require_future("session", session.expires_at)?;
        let fields = Fields::new()
            .text("session_id", session.session_id.as_str())
            .optional(
                "last_write_task_uid",
                session.last_write_task_uid,
                Fields::display,
            )
            .optional("last_write_at", session.last_write_at, Fields::timestamp)
            .optional("pinned_group", session.pinned_group, Fields::display)
            .display("min_settings_version", session.min_settings_version)
            .timestamp("expires_at", session.expires_at);
        let key = self.keys().session(&session.session_id);
        self.put_row(&key, &fields, Expiry::At(session.expires_at), None)
            .await
    }

    async fn get_session(&self, session_id: &str) -> StoreResult<Option<Session>> {
        let row = self.row(TABLE, &self.keys().session(session_id)).await?;
        row.as_ref().map(decode).transpose()
    }

    async fn delete_session(&self, session_id: &str) -> StoreResult<bool> {
        self.delete_key(&self.keys().session(session_id)).await
    }
}

impl RedisStore {
    /// Writes one copied session expiring at its `expires_at`, replacing the session of the same
    /// id.
    pub(super) async fn import_session(&self, session: &Session) -> StoreResult<()> {
        let fields = Fields::new()
            .text("session_id", session.session_id.as_str())
            .optional(
                "last_write_task_uid",
                session.last_write_task_uid,
                Fields::display,
            )
            .optional("last_write_at", session.last_write_at, Fields::timestamp)
            .optional("pinned_group", session.pinned_group, Fields::display)
            .display("min_settings_version", session.min_settings_version)
            .timestamp("expires_at", session.expires_at);
        let key = self.keys().session(&session.session_id);
        self.put_row(&key, &fields, Expiry::At(session.expires_at), None)
            .await
    }
}

/// The `miroir-migrate copy` export of sessions: `SCAN` of their hashes on every master.
pub(super) fn copy_scan(keys: &Keys) -> Scan {
    Scan::spread(
        keys.session_prefix(),
        ScanRows::Hashes(|row| decode(row).map(CopyRow::Session)),
    )
}
