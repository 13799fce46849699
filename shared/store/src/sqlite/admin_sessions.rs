//! Table 14, `admin_sessions`, and the revocation broadcast of this process.
//!
//! SQLite serves one replica, so revocations are published on an in-process
//! `tokio::sync::broadcast` channel shared by the clones of a [`SqliteStore`]. A subscriber that
//! falls more than the channel's capacity behind gets one `Resync` instead of the lost ids.

use async_trait::async_trait;
use futures::StreamExt;
use rusqlite::{Row, Transaction};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, query_optional, require_future};
use crate::admin_sessions::{AdminSession, AdminSessionStore, RevocationEvent, RevocationStream};
use crate::copy::CopyRow;
use crate::error::{StoreError, StoreResult};
use crate::time::Timestamp;

#[async_trait]
impl AdminSessionStore for SqliteStore {
    /// One insert that may only overwrite an expired row with the same id.
    async fn create_admin_session(&self, session: AdminSession) -> StoreResult<()> {
        self.write(move |connection| {
            let now = Timestamp::now();
            require_future("admin session", session.expires_at, now)?;
            let inserted = connection
                .prepare_cached(
                    "INSERT INTO admin_sessions (session_id, csrf_token, admin_key_hash, created_at, \
                     expires_at, revoked, user_agent, source_ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (session_id) DO UPDATE SET csrf_token = excluded.csrf_token, \
                     admin_key_hash = excluded.admin_key_hash, created_at = excluded.created_at, \
                     expires_at = excluded.expires_at, revoked = excluded.revoked, \
                     user_agent = excluded.user_agent, source_ip = excluded.source_ip \
                     WHERE admin_sessions.expires_at <= ?9",
                )?
                .execute(rusqlite::params![
                    session.session_id,
                    session.csrf_token,
                    session.admin_key_hash,
                    session.created_at.as_millis(),
                    session.expires_at.as_millis(),
                    session.revoked,
                    session.user_agent,
                    session.source_ip,
                    now.as_millis(),
                ])?;
            if inserted == 0 {
                return Err(StoreError::conflict(format!(
                    "admin session `{}` already exists",
                    session.session_id
                )));
            }
            Ok(())
        })
        .await
    }

    async fn get_admin_session(&self, session_id: &str) -> StoreResult<Option<AdminSession>> {
        let session_id = session_id.to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT session_id, csrf_token, admin_key_hash, created_at, expires_at, revoked, user_agent, \
                 source_ip FROM admin_sessions WHERE session_id = ?1 AND expires_at > ?2",
            )?;
            query_optional(
                &mut statement,
                rusqlite::params![session_id, Timestamp::now().as_millis()],
                |row| {
                    let columns = Columns::new("admin_sessions", row);
                    Ok(AdminSession {
                        session_id: columns.string(0)?,
                        csrf_token: columns.string(1)?,
                        admin_key_hash: columns.hash(2)?,
                        created_at: columns.timestamp(3)?,
                        expires_at: columns.timestamp(4)?,
                        revoked: columns.bool(5)?,
                        user_agent: columns.opt_string(6)?,
                        source_ip: columns.opt_string(7)?,
                    })
                },
            )
        })
        .await
    }

    /// Publishes after the commit, and only when a live session was marked.
    async fn revoke_admin_session(&self, session_id: &str) -> StoreResult<bool> {
        let id = session_id.to_owned();
        let revoked = self
            .write(move |connection| {
                let changed = connection
                    .prepare_cached("UPDATE admin_sessions SET revoked = 1 WHERE session_id = ?1 AND expires_at > ?2")?
                    .execute(rusqlite::params![id, Timestamp::now().as_millis()])?;
                Ok(changed > 0)
            })
            .await?;
        if revoked {
            // No subscriber is not an error.
            let _ = self.inner.revocations.send(session_id.to_owned());
        }
        Ok(revoked)
    }

    async fn subscribe_admin_session_revocations(&self) -> StoreResult<RevocationStream> {
        let receiver = self.inner.revocations.subscribe();
        Ok(BroadcastStream::new(receiver)
            .map(|received| match received {
                Ok(session_id) => RevocationEvent::Revoked(session_id),
                Err(BroadcastStreamRecvError::Lagged(_)) => RevocationEvent::Resync,
            })
            .boxed())
    }
}

/// The columns of `admin_sessions` a copy export reads, in order.
const ADMIN_SESSION_COLUMNS: &str = "session_id, csrf_token, admin_key_hash, created_at, expires_at, \
                                     revoked, user_agent, source_ip";

/// The `miroir-migrate copy` export of `admin_sessions`: the unexpired ones, by id.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "admin_sessions",
        columns: ADMIN_SESSION_COLUMNS,
        key: &[("session_id", KeyKind::Text)],
        expires: true,
        decode: decode_copy_row,
    }
}

/// Decodes one exported admin session, revoked or not.
fn decode_copy_row(row: &Row<'_>, _: Timestamp) -> StoreResult<CopyRow> {
    let columns = Columns::new("admin_sessions", row);
    Ok(CopyRow::AdminSession(AdminSession {
        session_id: columns.string(0)?,
        csrf_token: columns.string(1)?,
        admin_key_hash: columns.hash(2)?,
        created_at: columns.timestamp(3)?,
        expires_at: columns.timestamp(4)?,
        revoked: columns.bool(5)?,
        user_agent: columns.opt_string(6)?,
        source_ip: columns.opt_string(7)?,
    }))
}

/// Writes one copied admin session, revocation included, replacing the session with the same id.
pub(super) fn import(transaction: &Transaction<'_>, session: &AdminSession) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO admin_sessions (session_id, csrf_token, admin_key_hash, created_at, \
             expires_at, revoked, user_agent, source_ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (session_id) DO UPDATE SET csrf_token = excluded.csrf_token, \
             admin_key_hash = excluded.admin_key_hash, created_at = excluded.created_at, \
             expires_at = excluded.expires_at, revoked = excluded.revoked, \
             user_agent = excluded.user_agent, source_ip = excluded.source_ip",
        )?
        .execute(rusqlite::params![
            session.session_id,
            session.csrf_token,
            session.admin_key_hash,
            session.created_at.as_millis(),
            session.expires_at.as_millis(),
            session.revoked,
            session.user_agent,
            session.source_ip,
        ])?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::sqlite::{REVOCATION_BUFFER, testing};
    use crate::time::Timestamp;

    fn session(id: &str) -> AdminSession {
        AdminSession {
            session_id: id.to_owned(),
            csrf_token: "csrf".to_owned(),
            admin_key_hash: [7; 32],
            created_at: Timestamp::now(),
            expires_at: Timestamp::now().plus(std::time::Duration::from_secs(60)),
            revoked: false,
            user_agent: None,
            source_ip: Some("10.0.0.1".to_owned()),
        }
    }

    #[tokio::test]
    async fn clones_share_revocations_and_a_lagging_subscriber_resyncs() {
        let store = testing::memory().await;
        let mut prompt = store.subscribe_admin_session_revocations().await.unwrap();
        let mut lagging = store
            .clone()
            .subscribe_admin_session_revocations()
            .await
            .unwrap();
        store.create_admin_session(session("s")).await.unwrap();
        assert!(store.clone().revoke_admin_session("s").await.unwrap());
        assert!(!store.revoke_admin_session("missing").await.unwrap());
        assert_eq!(
            prompt.next().await,
            Some(RevocationEvent::Revoked("s".to_owned()))
        );
        for _ in 0..REVOCATION_BUFFER {
            store.revoke_admin_session("s").await.unwrap();
        }
        assert_eq!(lagging.next().await, Some(RevocationEvent::Resync));
        assert_eq!(
            lagging.next().await,
            Some(RevocationEvent::Revoked("s".to_owned()))
        );
        assert!(store.get_admin_session("s").await.unwrap().unwrap().revoked);
    }

    #[tokio::test]
    async fn an_expired_session_id_can_be_reused_but_a_live_one_cannot() {
        let store = testing::memory().await;
        let short = AdminSession {
            expires_at: Timestamp::now().plus(std::time::Duration::from_millis(500)),
            ..session("s")
        };
        store.create_admin_session(short).await.unwrap();
        assert!(matches!(
            store.create_admin_session(session("s")).await,
            Err(StoreError::Conflict(_))
        ));
        tokio::time::sleep(std::time::Duration::from_millis(550)).await;
        assert_eq!(store.get_admin_session("s").await.unwrap(), None);
        store.create_admin_session(session("s")).await.unwrap();
        let expired = AdminSession {
            expires_at: Timestamp::now(),
            ..session("t")
        };
        assert!(matches!(
            store.create_admin_session(expired).await,
            Err(StoreError::InvalidInput(_))
        ));
    }
}
