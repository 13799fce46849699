//! Table 7, `leader_lease`: one row per scope, holding the current holder (NULL once released)
//! and the last fencing token issued, which survives releases and expiry.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, expiry, query_all, query_optional, u64_to_sql};
use crate::copy::{CopyRow, HeldLease, LeaseRecord};
use crate::error::{StoreError, StoreResult};
use crate::leases::{Fence, Lease, LeaseStore};
use crate::time::Timestamp;

/// A `leader_lease` row.
struct LeaseRow {
    holder: Option<String>,
    token: u64,
    expires_at: Option<Timestamp>,
}

fn decode_lease_row(row: &Row<'_>) -> StoreResult<LeaseRow> {
    let columns = Columns::new("leader_lease", row);
    Ok(LeaseRow {
        holder: columns.opt_string(0)?,
        token: columns.u64(1)?,
        expires_at: columns.opt_timestamp(2)?,
    })
}

/// `Fenced` if a token newer than `fence`'s was issued for its scope. Run inside the transaction
/// of the write it guards, so the check and the write are one atomic step.
pub(super) fn check_fence(connection: &rusqlite::Connection, fence: &Fence) -> StoreResult<()> {
    match get_lease_row(connection, &fence.scope)? {
        Some(row) if row.token > fence.token => Err(StoreError::Fenced {
            scope: fence.scope.clone(),
            token: fence.token,
            current: row.token,
        }),
        _ => Ok(()),
    }
}

fn get_lease_row(connection: &rusqlite::Connection, scope: &str) -> StoreResult<Option<LeaseRow>> {
    let mut statement = connection
        .prepare_cached("SELECT holder, token, expires_at FROM leader_lease WHERE scope = ?1")?;
    query_optional(&mut statement, [scope], decode_lease_row)
}

impl LeaseRow {
    /// The lease this row describes if it is held at `now`.
    fn live(self, scope: String, now: Timestamp) -> Option<Lease> {
        match (self.holder, self.expires_at) {
            (Some(holder), Some(expires_at)) if expires_at > now => Some(Lease {
                scope,
                holder,
                token: self.token,
                expires_at,
            }),
            _ => None,
        }
    }
}

fn not_held(scope: &str, holder: &str, token: u64) -> StoreError {
    StoreError::conflict(format!(
        "lease `{scope}` is not held by `{holder}` with token {token}"
    ))
}

#[async_trait]
impl LeaseStore for SqliteStore {
    /// Read and write in one `BEGIN IMMEDIATE` transaction: a free, released or expired lease gets
    /// token last + 1; the live holder keeps its token; anyone else gets `None`.
    async fn acquire_lease(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let (scope, holder) = (scope.to_owned(), holder.to_owned());
        self.write_transaction(move |transaction| {
            let now = Timestamp::now();
            let expires_at = expiry(now, ttl);
            let token = match get_lease_row(transaction, &scope)? {
                None => 1,
                Some(row) => {
                    let last_token = row.token;
                    match row.live(scope.clone(), now) {
                        Some(lease) if lease.holder == holder => lease.token,
                        Some(_) => return Ok(None),
                        None => last_token + 1,
                    }
                }
            };
            transaction
                .prepare_cached(
                    "INSERT INTO leader_lease (scope, holder, token, expires_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (scope) DO UPDATE SET holder = excluded.holder, token = excluded.token, \
                     expires_at = excluded.expires_at",
                )?
                .execute(rusqlite::params![scope, holder, u64_to_sql(token), expires_at.as_millis()])?;
            Ok(Some(Lease {
                scope,
                holder,
                token,
                expires_at,
            }))
        })
        .await
    }

    async fn renew_lease(
        &self,
        scope: &str,
        holder: &str,
        token: u64,
        ttl: Duration,
    ) -> StoreResult<Lease> {
        let (scope, holder) = (scope.to_owned(), holder.to_owned());
        self.write(move |connection| {
            let now = Timestamp::now();
            let expires_at = expiry(now, ttl);
            let renewed = connection
                .prepare_cached(
                    "UPDATE leader_lease SET expires_at = ?4 \
                     WHERE scope = ?1 AND holder = ?2 AND token = ?3 AND expires_at > ?5",
                )?
                .execute(rusqlite::params![
                    scope,
                    holder,
                    u64_to_sql(token),
                    expires_at.as_millis(),
                    now.as_millis()
                ])?;
            if renewed == 0 {
                return Err(not_held(&scope, &holder, token));
            }
            Ok(Lease {
                scope,
                holder,
                token,
                expires_at,
            })
        })
        .await
    }

    /// Only a live lease can be released; the token stays so the next holder gets a larger one.
    async fn release_lease(&self, scope: &str, holder: &str, token: u64) -> StoreResult<bool> {
        let (scope, holder) = (scope.to_owned(), holder.to_owned());
        self.write(move |connection| {
            let released = connection
                .prepare_cached(
                    "UPDATE leader_lease SET holder = NULL, expires_at = NULL \
                     WHERE scope = ?1 AND holder = ?2 AND token = ?3 AND expires_at > ?4",
                )?
                .execute(rusqlite::params![
                    scope,
                    holder,
                    u64_to_sql(token),
                    Timestamp::now().as_millis()
                ])?;
            Ok(released > 0)
        })
        .await
    }

    async fn get_lease(&self, scope: &str) -> StoreResult<Option<Lease>> {
        let scope = scope.to_owned();
        self.read(move |connection| {
            Ok(
                get_lease_row(connection, &scope)?
                    .and_then(|row| row.live(scope, Timestamp::now())),
            )
        })
        .await
    }

    /// Released rows have a NULL holder; expired ones are filtered by `expires_at`.
    async fn list_leases(&self) -> StoreResult<Vec<Lease>> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT scope, holder, token, expires_at FROM leader_lease \
                 WHERE holder IS NOT NULL AND expires_at > ?1 ORDER BY scope",
            )?;
            query_all(&mut statement, [Timestamp::now().as_millis()], |row| {
                let columns = Columns::new("leader_lease", row);
                Ok(Lease {
                    scope: columns.string(0)?,
                    holder: columns.string(1)?,
                    token: columns.u64(2)?,
                    expires_at: columns.timestamp(3)?,
                })
            })
        })
        .await
    }

    async fn check_fencing_token(&self, scope: &str, token: u64) -> StoreResult<()> {
        let scope = scope.to_owned();
        self.read(move |connection| check_fence(connection, &Fence { scope, token }))
            .await
    }
}

/// The columns of `leader_lease` a copy export reads, in order.
const LEASE_COLUMNS: &str = "scope, holder, token, expires_at";

/// The `miroir-migrate copy` export of `leader_lease`, by scope.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "leader_lease",
        columns: LEASE_COLUMNS,
        key: &[("scope", KeyKind::Text)],
        expires: false,
        decode: decode_copy_row,
    }
}

/// Decodes one exported lease: its scope and token always, its holder only while the lease is
/// held at `now`.
fn decode_copy_row(row: &Row<'_>, now: Timestamp) -> StoreResult<CopyRow> {
    let columns = Columns::new("leader_lease", row);
    let held = match (columns.opt_string(1)?, columns.opt_timestamp(3)?) {
        (Some(holder), Some(expires_at)) if expires_at > now => {
            Some(HeldLease { holder, expires_at })
        }
        _ => None,
    };
    Ok(CopyRow::Lease(LeaseRecord {
        scope: columns.string(0)?,
        token: columns.u64(2)?,
        held,
    }))
}

/// Writes one copied lease (released when not held), replacing the lease of the same scope.
pub(super) fn import(transaction: &Transaction<'_>, record: &LeaseRecord) -> StoreResult<()> {
    let (holder, expires_at) = match &record.held {
        Some(held) => (
            Some(held.holder.as_str()),
            Some(held.expires_at.as_millis()),
        ),
        None => (None, None),
    };
    transaction
        .prepare_cached(
            "INSERT INTO leader_lease (scope, holder, token, expires_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (scope) DO UPDATE SET holder = excluded.holder, \
             token = excluded.token, expires_at = excluded.expires_at",
        )?
        .execute(rusqlite::params![
            record.scope,
            holder,
            u64_to_sql(record.token),
            expires_at,
        ])?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sqlite::testing;

    #[tokio::test]
    async fn tokens_increase_across_acquisitions_releases_and_expiry() {
        let store = testing::memory().await;
        let ttl = Duration::from_secs(60);
        let first = store.acquire_lease("s", "a", ttl).await.unwrap().unwrap();
        assert_eq!(
            store
                .acquire_lease("s", "a", ttl)
                .await
                .unwrap()
                .unwrap()
                .token,
            first.token,
            "extension keeps the token"
        );
        assert!(store.acquire_lease("s", "b", ttl).await.unwrap().is_none());
        assert!(store.release_lease("s", "a", first.token).await.unwrap());
        assert!(!store.release_lease("s", "a", first.token).await.unwrap());
        assert!(store.get_lease("s").await.unwrap().is_none());

        let second = store
            .acquire_lease("s", "b", Duration::from_millis(1))
            .await
            .unwrap()
            .unwrap();
        assert!(second.token > first.token);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(matches!(
            store.renew_lease("s", "b", second.token, ttl).await,
            Err(StoreError::Conflict(_))
        ));
        let third = store.acquire_lease("s", "b", ttl).await.unwrap().unwrap();
        assert!(
            third.token > second.token,
            "an expired lease is a new acquisition even for its holder"
        );
        assert_eq!(
            store.check_fencing_token("s", second.token).await,
            Err(StoreError::Fenced {
                scope: "s".to_owned(),
                token: second.token,
                current: third.token
            })
        );
        assert!(store.check_fencing_token("s", third.token).await.is_ok());
        assert!(store.check_fencing_token("other", 0).await.is_ok());
        assert_eq!(
            store
                .renew_lease("s", "b", third.token, ttl)
                .await
                .unwrap()
                .token,
            third.token
        );
    }
}
