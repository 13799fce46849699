//! Leases: per scope an expiring hash (`holder token expires_at`, `PEXPIRE` ttl) and a persistent
//! token counter, plus a set of the scopes that may hold a lease (for listing), all in the
//! `{lease}` slot. Expiry is judged by the Redis server clock.

use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use redis::Value;

use super::RedisStore;
use super::codec::{self, Row};
use super::copy::{Scan, ScanRows};
use super::keys::Keys;
use crate::copy::{CopyRow, CopyTable, HeldLease, LeaseRecord};
use crate::error::{StoreError, StoreResult};
use crate::leases::{Lease, LeaseStore};
use crate::time::{Timestamp, ttl_millis};

const TABLE: &str = "leader_lease";

lua_script!(ACQUIRE = "lease_acquire.lua");
lua_script!(RENEW = "lease_renew.lua");
lua_script!(RELEASE = "lease_release.lua");
lua_script!(LIST = "lease_list.lua");
lua_script!(COPY = "copy_lease.lua");

fn decode(scope: &str, row: &Row) -> StoreResult<Lease> {
    Ok(Lease {
        scope: scope.to_owned(),
        holder: row.text("holder")?,
        token: row.parse("token")?,
        expires_at: row.timestamp("expires_at")?,
    })
}

#[async_trait]
impl LeaseStore for RedisStore {
    async fn acquire_lease(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let keys = self.keys();
        let mut invocation = ACQUIRE.key(keys.lease(scope));
        invocation
            .key(keys.lease_token(scope))
            .key(keys.lease_index())
            .arg(holder)
            .arg(ttl_millis(ttl))
            .arg(scope);
        let held: Value = self.eval(&invocation).await?;
        Row::decode(TABLE, held)?
            .map(|row| decode(scope, &row))
            .transpose()
    }

    async fn renew_lease(
        &self,
        scope: &str,
        holder: &str,
        token: u64,
        ttl: Duration,
    ) -> StoreResult<Lease> {
        let mut invocation = RENEW.key(self.keys().lease(scope));
        invocation
            .arg(holder)
            .arg(token)
            .arg(ttl_millis(ttl))
            .arg(scope);
        let expires_at: i64 = self.eval(&invocation).await?;
        Ok(Lease {
            scope: scope.to_owned(),
            holder: holder.to_owned(),
            token,
            expires_at: Timestamp::from_millis(expires_at),
        })
    }

    async fn release_lease(&self, scope: &str, holder: &str, token: u64) -> StoreResult<bool> {
        let keys = self.keys();
        let mut invocation = RELEASE.key(keys.lease(scope));
        invocation
            .key(keys.lease_index())
            .arg(holder)
            .arg(token)
            .arg(scope);
        let released: i64 = self.eval(&invocation).await?;
        Ok(released == 1)
    }

    async fn get_lease(&self, scope: &str) -> StoreResult<Option<Lease>> {
        let row = self.row(TABLE, &self.keys().lease(scope)).await?;
        row.map(|row| decode(scope, &row)).transpose()
    }

    async fn list_leases(&self) -> StoreResult<Vec<Lease>> {
        let keys = self.keys();
        let mut invocation = LIST.key(keys.lease_index());
        invocation.arg(keys.lease_prefix());
        let pairs: Vec<Value> = self.eval(&invocation).await?;
        let mut leases = Vec::with_capacity(pairs.len() / 2);
        let mut pairs = pairs.into_iter();
        while let (Some(scope), Some(held)) = (pairs.next(), pairs.next()) {
            let scope = codec::text(TABLE, scope)?;
            let row = Row::decode_present(TABLE, held)?;
            leases.push(decode(&scope, &row)?);
        }
        leases.sort_by(|left, right| left.scope.cmp(&right.scope));
        Ok(leases)
    }

    async fn check_fencing_token(&self, scope: &str, token: u64) -> StoreResult<()> {
        let current: Option<u64> = self
            .query(redis::cmd("GET").arg(self.keys().lease_token(scope)))
            .await?;
        match current {
            Some(current) if current > token => Err(StoreError::Fenced {
                scope: scope.to_owned(),
                token,
                current,
            }),
            _ => Ok(()),
        }
    }
}

impl RedisStore {
    /// Writes one copied lease (`copy_lease.lua`): raises the scope's fencing token to at least
    /// the copied one (tokens never go back) and replaces the held lease, or frees it.
    pub(super) async fn import_lease(&self, record: &LeaseRecord) -> StoreResult<()> {
        let keys = self.keys();
        let mut invocation = COPY.key(keys.lease(&record.scope));
        invocation
            .key(keys.lease_token(&record.scope))
            .key(keys.lease_index())
            .arg(&record.scope)
            .arg(record.token);
        match &record.held {
            Some(held) => invocation
                .arg(&held.holder)
                .arg(held.expires_at.as_millis()),
            None => invocation.arg("").arg(0),
        };
        let _: i64 = self.eval(&invocation).await?;
        Ok(())
    }
}

/// The `miroir-migrate copy` export of leases: `SCAN` of the token counters in the `{lease}`
/// slot, one row per token key with its held hash.
pub(super) fn copy_scan(keys: &Keys) -> Scan {
    Scan::tagged(keys.lease_token_prefix(), ScanRows::PerKey(copy_rows))
}

/// Leases from their token keys (all in the `{lease}` slot), each with its held hash, in one
/// pipeline; a token gone meanwhile gives no row.
fn copy_rows<'a>(
    store: &'a RedisStore,
    token_keys: &'a [String],
) -> BoxFuture<'a, StoreResult<Vec<CopyRow>>> {
    Box::pin(async move {
        let keys = store.keys();
        let name = CopyTable::Leases.name();
        let prefix = keys.lease_token_prefix();
        let scopes: Vec<&str> = token_keys
            .iter()
            .filter_map(|key| key.strip_prefix(prefix.as_str()))
            .collect();
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipeline = redis::pipe();
        for scope in &scopes {
            pipeline
                .cmd("GET")
                .arg(keys.lease_token(scope))
                .cmd("HGETALL")
                .arg(keys.lease(scope));
        }
        let replies: Vec<Value> = store.query_pipeline(&pipeline).await?;
        let mut replies = replies.into_iter();
        let mut rows = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let (Some(token), Some(held)) = (replies.next(), replies.next()) else {
                return Err(StoreError::corrupt(name, "short lease reply"));
            };
            if token == Value::Nil {
                continue;
            }
            let held = Row::decode(name, held)?
                .map(|row| -> StoreResult<HeldLease> {
                    Ok(HeldLease {
                        holder: row.text("holder")?,
                        expires_at: row.timestamp("expires_at")?,
                    })
                })
                .transpose()?;
            rows.push(CopyRow::Lease(LeaseRecord {
                scope: scope.to_owned(),
                token: codec::integer(name, token)?,
                held,
            }));
        }
        Ok(rows)
    })
}
