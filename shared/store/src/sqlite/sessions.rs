//! Table 4, `sessions`: expiring read-your-writes pins.

use async_trait::async_trait;
use rusqlite::{Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, query_optional, require_future, u64_to_sql};
use crate::copy::CopyRow;
use crate::error::StoreResult;
use crate::sessions::{Session, SessionStore};
use crate::time::Timestamp;

fn decode_session(row: &Row<'_>) -> StoreResult<Session> {
    let columns = Columns::new("sessions", row);
    Ok(Session {
        session_id: columns.string(0)?,
        last_write_task_uid: columns.opt_u64(1)?,
        last_write_at: columns.opt_timestamp(2)?,
        pinned_group: columns.opt_u32(3)?,
        min_settings_version: columns.u64(4)?,
        expires_at: columns.timestamp(5)?,
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn put_session(&self, session: Session) -> StoreResult<()> {
        let last_write_task_uid = session.last_write_task_uid.map(u64_to_sql);
        let min_settings_version = u64_to_sql(session.min_settings_version);
        self.write(move |connection| {
            require_future("session", session.expires_at, Timestamp::now())?;
            connection
                .prepare_cached(
                    "INSERT OR REPLACE INTO sessions (session_id, last_write_task_uid, last_write_at, \
                     pinned_group, min_settings_version, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(rusqlite::params![
                    session.session_id,
                    last_write_task_uid,
                    session.last_write_at.map(Timestamp::as_millis),
                    session.pinned_group,
                    min_settings_version,
                    session.expires_at.as_millis(),
                ])?;
            Ok(())
        })
        .await
    }

    async fn get_session(&self, session_id: &str) -> StoreResult<Option<Session>> {
        let session_id = session_id.to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT session_id, last_write_task_uid, last_write_at, pinned_group, \
                 min_settings_version, expires_at FROM sessions WHERE session_id = ?1 AND expires_at > ?2",
            )?;
            query_optional(
                &mut statement,
                rusqlite::params![session_id, Timestamp::now().as_millis()],
                decode_session,
            )
        })
        .await
    }

    /// Deletes the row, expired or not; `true` only if it was live (an expired session no longer
    /// exists for the caller).
    async fn delete_session(&self, session_id: &str) -> StoreResult<bool> {
        let session_id = session_id.to_owned();
        self.write(move |connection| {
            let mut statement = connection.prepare_cached(
                "DELETE FROM sessions WHERE session_id = ?1 RETURNING expires_at",
            )?;
            let expires_at = query_optional(&mut statement, [session_id], |row| {
                Columns::new("sessions", row).timestamp(0)
            })?;
            Ok(expires_at.is_some_and(|expires_at| expires_at > Timestamp::now()))
        })
        .await
    }
}

/// The columns of `sessions` a copy export reads, in order.
const SESSION_COLUMNS: &str = "session_id, last_write_task_uid, last_write_at, pinned_group, \
                               min_settings_version, expires_at";

/// The `miroir-migrate copy` export of `sessions`: the unexpired ones, by id.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "sessions",
        columns: SESSION_COLUMNS,
        key: &[("session_id", KeyKind::Text)],
        expires: true,
        decode: |row, _| Ok(CopyRow::Session(decode_session(row)?)),
    }
}

/// Writes one copied session, replacing the session with the same id.
pub(super) fn import(transaction: &Transaction<'_>, session: &Session) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO sessions (session_id, last_write_task_uid, last_write_at, \
             pinned_group, min_settings_version, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (session_id) DO UPDATE SET \
             last_write_task_uid = excluded.last_write_task_uid, \
             last_write_at = excluded.last_write_at, pinned_group = excluded.pinned_group, \
             min_settings_version = excluded.min_settings_version, \
             expires_at = excluded.expires_at",
        )?
        .execute(rusqlite::params![
            session.session_id,
            session.last_write_task_uid.map(u64_to_sql),
            session.last_write_at.map(Timestamp::as_millis),
            session.pinned_group,
            u64_to_sql(session.min_settings_version),
            session.expires_at.as_millis(),
        ])?;
    Ok(())
}
