//! The peer set (plan §14.5 "Peer discovery"): every replica holds a membership lease
//! `peer:<pod id>` in the shared store, renewed every tick; the live peers are the holders of
//! unexpired membership leases. Works the same on SQLite (one replica: itself) and on Redis (any
//! number, and Lambda workers).
//!
//! Partitioned work (Mode A) goes to the [`owner`] of each item: the rendezvous winner of the
//! item's key over the live peers, so a peer joining or leaving moves only its share of items.

use std::time::Duration;

use miroir_store::{DynStore, Lease, StoreResult};
use twox_hash::XxHash64;

/// Scope prefix of membership leases.
pub const PEER_SCOPE_PREFIX: &str = "peer:";

/// This replica's membership in the peer set.
#[derive(Debug)]
pub struct Membership {
    pod_id: String,
    scope: String,
}

impl Membership {
    /// The membership of `pod_id` (not registered until the first [`Membership::heartbeat`]).
    pub fn new(pod_id: &str) -> Self {
        Self {
            pod_id: pod_id.to_owned(),
            scope: format!("{PEER_SCOPE_PREFIX}{pod_id}"),
        }
    }

    /// This replica's id.
    pub fn pod_id(&self) -> &str {
        &self.pod_id
    }

    /// Registers or renews this replica for `ttl`. `None` when another process holds the same
    /// pod id (a misconfiguration: two replicas must not share `background.pod_id`).
    pub async fn heartbeat(&self, store: &DynStore, ttl: Duration) -> StoreResult<Option<Lease>> {
        let lease = store.acquire_lease(&self.scope, &self.pod_id, ttl).await?;
        if lease.is_none() {
            tracing::error!(pod = %self.pod_id, "another replica uses this pod id; background.pod_id must be unique");
        }
        Ok(lease)
    }

    /// Leaves the peer set at once (clean shutdown), so peers take over without waiting for
    /// the membership to expire.
    pub async fn leave(&self, store: &DynStore, lease: &Lease) {
        if let Err(error) = store
            .release_lease(&self.scope, &self.pod_id, lease.token)
            .await
        {
            tracing::warn!(%error, "membership not released; it expires on its own");
        }
    }
}

/// The pod ids of the live peers, sorted.
pub async fn live_peers(store: &DynStore) -> StoreResult<Vec<String>> {
    let mut peers: Vec<String> = store
        .list_leases()
        .await?
        .into_iter()
        .filter(|lease| lease.scope.starts_with(PEER_SCOPE_PREFIX))
        .map(|lease| lease.holder)
        .collect();
    peers.sort();
    peers.dedup();
    Ok(peers)
}

/// The rendezvous score of `peer` for `item`: higher wins.
fn score(item: &str, peer: &str) -> u64 {
    let mut bytes = Vec::with_capacity(item.len() + 1 + peer.len());
    bytes.extend_from_slice(item.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(peer.as_bytes());
    XxHash64::oneshot(0, &bytes)
}

/// The peer that works `item` (highest rendezvous score; ties broken by pod id); `None` with
/// no peers.
pub fn owner<'a>(item: &str, peers: &'a [String]) -> Option<&'a str> {
    peers
        .iter()
        .max_by(|left, right| {
            score(item, left)
                .cmp(&score(item, right))
                .then_with(|| right.cmp(left))
        })
        .map(String::as_str)
}

/// The peers as seen by one pass, and this replica's place among them.
#[derive(Clone, Debug)]
pub struct PeerView {
    /// This replica.
    pub pod_id: String,
    /// The live peers, sorted (this replica included).
    pub peers: Vec<String>,
}

impl PeerView {
    /// True when this replica works `item`.
    pub fn owns(&self, item: &str) -> bool {
        owner(item, &self.peers) == Some(self.pod_id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn every_item_has_exactly_one_owner_and_shares_are_even() {
        let three = peers(&["pod-a", "pod-b", "pod-c"]);
        let mut counts = [0_u32; 3];
        for item in 0..3000 {
            let owner = owner(&item.to_string(), &three).expect("an owner");
            let position = three.iter().position(|peer| peer == owner).expect("a peer");
            counts[position] += 1;
        }
        for count in counts {
            assert!((800..=1200).contains(&count), "{counts:?}");
        }
        assert_eq!(owner("x", &[]), None);
    }

    #[test]
    fn a_leaving_peer_moves_only_its_own_items() {
        let three = peers(&["pod-a", "pod-b", "pod-c"]);
        let two = peers(&["pod-a", "pod-c"]);
        for item in 0..2000 {
            let item = item.to_string();
            let before = owner(&item, &three).expect("owner");
            let after = owner(&item, &two).expect("owner");
            if before != "pod-b" {
                assert_eq!(before, after, "item {item} moved without reason");
            }
        }
    }
}
