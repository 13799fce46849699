//! Where documents live and which nodes a request goes to (plan §2 "Shard routing").
//!
//! - `shard = xxhash64(primary key bytes, seed 0) % S` ([`Topology::shard_of`]);
//! - each shard is placed on the top-RF nodes of each replica group by rendezvous score
//!   `xxhash64(shard as 4 little-endian bytes ‖ node id bytes, seed 0)`, highest first, node id
//!   as the tie-break ([`Topology::placement`]);
//! - write targets are those nodes in every group ([`Topology::write_targets`]);
//! - a read covers every shard with one node per shard inside one group, rotating over the
//!   replicas by a query sequence number ([`Topology::covering_set`]).
//!
//! Everything is computed once from the configuration, so every replica of Miroir (and every
//! Lambda instance) routes identically without talking to the others.

use std::collections::BTreeMap;

use twox_hash::XxHash64;

use crate::config::Config;

/// Index of a node in [`Topology::nodes`].
pub type NodeIndex = usize;

/// A shard number, below [`Topology::shards`].
pub type Shard = u32;

/// A Meilisearch node as routing sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Stable id from the config.
    pub id: String,
    /// Base URL without a trailing slash.
    pub address: String,
    /// Replica group.
    pub group: u32,
}

/// The fleet and its placement table. Cheap to share behind an `Arc`; immutable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    nodes: Vec<Node>,
    shards: u32,
    replication_factor: usize,
    /// `placement[group][shard]`: the shard's nodes in that group, best rendezvous score first.
    placement: Vec<Vec<Vec<NodeIndex>>>,
}

/// The nodes of one group that together hold every shard once, with the shards each answers for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoveringSet {
    /// The group the set lies in.
    pub group: u32,
    /// Node → the shards it covers in this read, ordered by node index.
    pub nodes: BTreeMap<NodeIndex, Vec<Shard>>,
}

/// The rendezvous score of `node_id` for `shard`: higher wins.
pub fn score(shard: Shard, node_id: &str) -> u64 {
    let mut bytes = Vec::with_capacity(4 + node_id.len());
    bytes.extend_from_slice(&shard.to_le_bytes());
    bytes.extend_from_slice(node_id.as_bytes());
    XxHash64::oneshot(0, &bytes)
}

/// The shard of a primary key value (its string form: `1` and `"1"` are the same document, as
/// in Meilisearch).
pub fn shard_of(primary_key: &str, shards: u32) -> Shard {
    (XxHash64::oneshot(0, primary_key.as_bytes()) % u64::from(shards.max(1))) as Shard
}

impl Topology {
    /// The topology of `config` (assumed validated: at least `replication_factor` nodes in every
    /// group when nodes are configured).
    pub fn from_config(config: &Config) -> Self {
        let nodes = config
            .nodes
            .iter()
            .map(|node| Node {
                id: node.id.clone(),
                address: node.address.trim_end_matches('/').to_owned(),
                group: node.replica_group,
            })
            .collect();
        Self::new(
            nodes,
            config.shards,
            config.replica_groups,
            config.replication_factor as usize,
        )
    }

    /// A topology of `nodes` in `groups` replica groups, `shards` shards, `replication_factor`
    /// nodes per shard and group (fewer when a group has fewer nodes).
    pub fn new(nodes: Vec<Node>, shards: u32, groups: u32, replication_factor: usize) -> Self {
        let placement = (0..groups)
            .map(|group| {
                let members: Vec<NodeIndex> = (0..nodes.len())
                    .filter(|&index| nodes[index].group == group)
                    .collect();
                (0..shards)
                    .map(|shard| {
                        let mut ranked = members.clone();
                        ranked.sort_by(|&a, &b| {
                            score(shard, &nodes[b].id)
                                .cmp(&score(shard, &nodes[a].id))
                                .then_with(|| nodes[a].id.cmp(&nodes[b].id))
                        });
                        ranked.truncate(replication_factor);
                        ranked
                    })
                    .collect()
            })
            .collect();
        Self {
            nodes,
            shards,
            replication_factor,
            placement,
        }
    }

    /// Every node, in config order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node at `index`.
    pub fn node(&self, index: NodeIndex) -> &Node {
        &self.nodes[index]
    }

    /// The index of the node with id `id`.
    pub fn node_index(&self, id: &str) -> Option<NodeIndex> {
        self.nodes.iter().position(|node| node.id == id)
    }

    /// True when no node is configured (the data path then answers 503).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of shards `S`.
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// Number of replica groups `RG`.
    pub fn groups(&self) -> u32 {
        self.placement.len() as u32
    }

    /// The configured replication factor `RF`.
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
    }

    /// Acknowledgements a group needs for a shard: `floor(RF/2) + 1` of the nodes it places the
    /// shard on (plan §2 "Write quorum").
    pub fn group_quorum(&self, group: u32, shard: Shard) -> usize {
        self.placement(group, shard).len() / 2 + 1
    }

    /// The shard of a primary key value.
    pub fn shard_of(&self, primary_key: &str) -> Shard {
        shard_of(primary_key, self.shards)
    }

    /// The nodes holding `shard` in `group`, best rendezvous score first.
    pub fn placement(&self, group: u32, shard: Shard) -> &[NodeIndex] {
        &self.placement[group as usize][shard as usize]
    }

    /// Every node that must receive a write to `shard`: its placement in every group.
    pub fn write_targets(&self, shard: Shard) -> impl Iterator<Item = NodeIndex> + '_ {
        (0..self.groups()).flat_map(move |group| self.placement(group, shard).iter().copied())
    }

    /// The group a read with sequence number `seq` goes to (round-robin).
    pub fn read_group(&self, seq: u64) -> u32 {
        (seq % u64::from(self.groups().max(1))) as u32
    }

    /// One node per shard inside `group`, rotating over each shard's replicas with `seq`;
    /// `usable` filters out nodes known to be down (a shard with no usable replica is left out of
    /// the set and reported in the second value).
    pub fn covering_set(
        &self,
        group: u32,
        seq: u64,
        usable: impl Fn(NodeIndex) -> bool,
    ) -> (CoveringSet, Vec<Shard>) {
        let mut nodes: BTreeMap<NodeIndex, Vec<Shard>> = BTreeMap::new();
        let mut uncovered = Vec::new();
        for shard in 0..self.shards {
            let replicas: Vec<NodeIndex> = self
                .placement(group, shard)
                .iter()
                .copied()
                .filter(|&node| usable(node))
                .collect();
            if replicas.is_empty() {
                uncovered.push(shard);
                continue;
            }
            let pick = replicas[(seq % replicas.len() as u64) as usize];
            nodes.entry(pick).or_default().push(shard);
        }
        (CoveringSet { group, nodes }, uncovered)
    }

    /// The nodes of `group`.
    pub fn group_nodes(&self, group: u32) -> impl Iterator<Item = NodeIndex> + '_ {
        (0..self.nodes.len()).filter(move |&index| self.nodes[index].group == group)
    }
}

/// The client's Meilisearch `filter` restricted to `shards`, for a node asked about only some of
/// the shards it holds (its hits from the others would count twice): `_miroir_shard IN [s1, …]`
/// alone when there is no filter, else ANDed as the last item of an outer array (Meilisearch ANDs
/// the items of an array, so the client's filter keeps its meaning). A filter of another type is
/// left as it is: the nodes refuse it with their own `invalid_search_filter`.
pub fn with_shard_filter(
    filter: Option<&serde_json::Value>,
    shards: &[Shard],
) -> serde_json::Value {
    use serde_json::Value;
    let list: Vec<String> = shards.iter().map(Shard::to_string).collect();
    let condition = Value::from(format!("_miroir_shard IN [{}]", list.join(", ")));
    match filter {
        None | Some(Value::Null) => condition,
        Some(Value::String(text)) if text.trim().is_empty() => condition,
        Some(Value::String(text)) => Value::Array(vec![Value::from(text.clone()), condition]),
        Some(Value::Array(items)) => {
            let mut all = items.clone();
            all.push(condition);
            Value::Array(all)
        }
        Some(other) => other.clone(),
    }
}

/// The shards `node` holds in `group`, for deciding whether a read must add a shard filter.
pub fn held_shards(topology: &Topology, group: u32, node: NodeIndex) -> Vec<Shard> {
    (0..topology.shards())
        .filter(|&shard| topology.placement(group, shard).contains(&node))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use proptest::prelude::*;

    use super::*;

    fn fleet(groups: u32, per_group: u32, shards: u32, rf: usize) -> Topology {
        let nodes = (0..groups)
            .flat_map(|group| {
                (0..per_group).map(move |n| Node {
                    id: format!("meili-{}", group * per_group + n),
                    address: format!("http://127.0.0.1:{}", 7700 + group * per_group + n),
                    group,
                })
            })
            .collect();
        Topology::new(nodes, shards, groups, rf)
    }

    #[test]
    fn hashes_are_the_documented_xxhash64() {
        // xxhash64("", seed 0) is the published test vector.
        assert_eq!(XxHash64::oneshot(0, b""), 0xef46_db37_51d8_e999);
        assert_eq!(shard_of("42", 64), shard_of("42", 64));
        assert_eq!(shard_of("42", 1), 0);
    }

    #[test]
    fn every_shard_is_placed_on_rf_distinct_nodes_of_each_group() {
        let topology = fleet(2, 3, 64, 2);
        for shard in 0..64 {
            for group in 0..2 {
                let placed = topology.placement(group, shard);
                assert_eq!(placed.len(), 2);
                assert_ne!(placed[0], placed[1]);
                assert!(placed.iter().all(|&n| topology.node(n).group == group));
            }
            assert_eq!(topology.write_targets(shard).count(), 4);
        }
        assert_eq!(topology.group_quorum(0, 0), 2);
        assert_eq!(fleet(1, 3, 8, 3).group_quorum(0, 0), 2);
        assert_eq!(fleet(1, 3, 8, 1).group_quorum(0, 0), 1);
    }

    #[test]
    fn adding_a_node_moves_about_one_share_of_a_group() {
        let before = fleet(1, 4, 1024, 1);
        let after = fleet(1, 5, 1024, 1);
        let moved = (0..1024)
            .filter(|&shard| {
                before.node(before.placement(0, shard)[0]).id
                    != after.node(after.placement(0, shard)[0]).id
            })
            .count();
        // Expected 1024 / 5 ≈ 205; every moved shard went to the new node.
        assert!((150..260).contains(&moved), "{moved} shards moved");
        for shard in 0..1024 {
            let old = &before.node(before.placement(0, shard)[0]).id;
            let new = &after.node(after.placement(0, shard)[0]).id;
            assert!(old == new || new == "meili-4");
        }
    }

    #[test]
    fn reads_alternate_groups_and_rotate_replicas() {
        let topology = fleet(2, 3, 16, 2);
        assert_eq!(topology.read_group(0), 0);
        assert_eq!(topology.read_group(1), 1);
        let (first, _) = topology.covering_set(0, 0, |_| true);
        let (second, _) = topology.covering_set(0, 1, |_| true);
        assert_ne!(first, second);
    }

    #[test]
    fn a_down_node_is_covered_by_its_replica_or_reported() {
        let topology = fleet(1, 3, 32, 2);
        let down = 1;
        let (set, uncovered) = topology.covering_set(0, 7, |n| n != down);
        assert!(uncovered.is_empty());
        assert!(!set.nodes.contains_key(&down));
        let (_, uncovered) = fleet(1, 3, 32, 1).covering_set(0, 7, |n| n != down);
        assert!(!uncovered.is_empty());
    }

    proptest! {
        #[test]
        fn a_covering_set_holds_every_shard_exactly_once(
            groups in 1u32..4, per_group in 1u32..6, shards in 1u32..80, rf in 1usize..4, seq: u64,
        ) {
            let rf = rf.min(per_group as usize);
            let topology = fleet(groups, per_group, shards, rf);
            let group = topology.read_group(seq);
            let (set, uncovered) = topology.covering_set(group, seq, |_| true);
            prop_assert!(uncovered.is_empty());
            let mut covered: Vec<Shard> = set.nodes.values().flatten().copied().collect();
            covered.sort_unstable();
            prop_assert_eq!(covered, (0..shards).collect::<Vec<_>>());
            for (&node, held) in &set.nodes {
                prop_assert_eq!(topology.node(node).group, group);
                for &shard in held {
                    prop_assert!(topology.placement(group, shard).contains(&node));
                }
            }
        }

        #[test]
        fn placement_depends_only_on_the_configuration(shards in 1u32..64, seed in 0u32..1000) {
            let a = fleet(2, 3, shards, 2);
            let b = fleet(2, 3, shards, 2);
            prop_assert_eq!(&a, &b);
            let key = seed.to_string();
            prop_assert_eq!(a.shard_of(&key), b.shard_of(&key));
            let targets: BTreeSet<NodeIndex> = a.write_targets(a.shard_of(&key)).collect();
            prop_assert_eq!(targets.len(), 4);
        }
    }

    #[test]
    fn shard_filters_and_with_the_clients() {
        assert_eq!(
            with_shard_filter(None, &[1, 2]),
            serde_json::json!("_miroir_shard IN [1, 2]")
        );
        assert_eq!(
            with_shard_filter(Some(&serde_json::json!(" ")), &[0]),
            serde_json::json!("_miroir_shard IN [0]")
        );
        assert_eq!(
            with_shard_filter(Some(&serde_json::json!(7)), &[0]),
            serde_json::json!(7)
        );
        assert_eq!(
            with_shard_filter(Some(&serde_json::json!("a = 1")), &[3]),
            serde_json::json!(["a = 1", "_miroir_shard IN [3]"])
        );
        assert_eq!(
            with_shard_filter(
                Some(&serde_json::json!(["a = 1", ["b = 2", "c = 3"]])),
                &[0]
            ),
            serde_json::json!(["a = 1", ["b = 2", "c = 3"], "_miroir_shard IN [0]"])
        );
        let topology = fleet(1, 3, 16, 2);
        let held: usize = (0..3)
            .map(|node| held_shards(&topology, 0, node).len())
            .sum();
        assert_eq!(held, 32);
    }

    #[test]
    fn keys_spread_evenly_over_shards_and_nodes() {
        let topology = fleet(1, 3, 64, 1);
        let mut per_node: HashMap<NodeIndex, usize> = HashMap::new();
        for key in 0..30_000 {
            let shard = topology.shard_of(&key.to_string());
            *per_node.entry(topology.placement(0, shard)[0]).or_default() += 1;
        }
        // 64 shards over 3 nodes by rendezvous: each node within ±35% of even.
        for count in per_node.values() {
            assert!((6_500..13_500).contains(count), "{per_node:?}");
        }
    }
}
