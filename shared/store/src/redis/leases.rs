//! Leases: per scope an expiring hash (`holder token expires_at`, `PEXPIRE` ttl) and a persistent
//! token counter, plus a set of the scopes that may hold a lease (for listing), all in the
//! `{lease}` slot. Expiry is judged by the Redis server clock.

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::{self, Row};
use crate::error::{StoreError, StoreResult};
use crate::leases::{Lease, LeaseStore};
use crate::time::{Timestamp, ttl_millis};

const TABLE: &str = "leader_lease";

lua_script!(ACQUIRE = "lease_acquire.lua");
lua_script!(RENEW = "lease_renew.lua");
lua_script!(RELEASE = "lease_release.lua");
lua_script!(LIST = "lease_list.lua");

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
