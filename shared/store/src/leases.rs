//! Table 7, `leader_lease`: singleton leases with fencing tokens (plan §14.5 Mode B).
//!
//! A lease alone does not stop a paused holder from writing after its TTL; every write made on
//! behalf of leased work carries the lease's token and is checked with
//! [`LeaseStore::check_fencing_token`], which refuses tokens older than the newest one issued.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::time::Timestamp;

/// A held lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// What the lease guards, e.g. `reshard:movies`.
    pub scope: String,
    /// Holder id (pod id).
    pub holder: String,
    /// Fencing token: strictly greater than every token issued before for this scope.
    pub token: u64,
    /// The lease is free from this instant on unless renewed.
    pub expires_at: Timestamp,
}

/// The proof of holding a lease that a fenced write carries: the scope and the token the holder
/// was issued. A store operation taking a `Fence` refuses with `Fenced`, changing nothing, once a
/// newer token has been issued for the scope, checked in the same atomic step as the write.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fence {
    /// The lease scope.
    pub scope: String,
    /// The token the holder was issued when it acquired the lease.
    pub token: u64,
}

impl From<&Lease> for Fence {
    fn from(lease: &Lease) -> Self {
        Self {
            scope: lease.scope.clone(),
            token: lease.token,
        }
    }
}

/// Leases.
#[async_trait]
pub trait LeaseStore {
    /// Takes the lease for `ttl` if it is free or expired, issuing a new, larger token. If
    /// `holder` already holds it, extends it and keeps the token. `None` if someone else holds
    /// it. Among racing acquirers exactly one wins.
    async fn acquire_lease(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>>;

    /// Extends a lease still held by `holder` with `token` to now + `ttl`. `Conflict` if it
    /// expired, was released or was taken by someone else.
    async fn renew_lease(
        &self,
        scope: &str,
        holder: &str,
        token: u64,
        ttl: Duration,
    ) -> StoreResult<Lease>;

    /// Frees the lease if held by `holder` with `token`; `false` otherwise. Tokens keep
    /// increasing after a release.
    async fn release_lease(&self, scope: &str, holder: &str, token: u64) -> StoreResult<bool>;

    /// The current unexpired lease of `scope`.
    async fn get_lease(&self, scope: &str) -> StoreResult<Option<Lease>>;

    /// Every lease held now, ordered by scope: released and expired leases are never listed,
    /// whether or not anything has cleaned them up yet.
    async fn list_leases(&self) -> StoreResult<Vec<Lease>>;

    /// `Fenced` if a token newer than `token` has been issued for `scope`; `Ok` otherwise.
    async fn check_fencing_token(&self, scope: &str, token: u64) -> StoreResult<()>;
}
