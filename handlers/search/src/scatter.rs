//! The scatter (plan §2 "Read path"): one replica group per query, one node per shard inside it,
//! every node asked in parallel; then, for a search, rarely, truncated nodes asked again until the
//! merged window is exact. A search and a facet search share it ([`ShardRead`]): they differ only
//! in the node route, the body a node receives and how its answer is read.
//!
//! # Unavailable nodes
//!
//! A node that gives no usable answer (refused, timed out, not Meilisearch) is marked down for
//! this query and its shards go to another replica in the same group, else to the next groups in
//! turn (transparent to the client: every group holds every shard). Shards no node could answer
//! for are reported as missing; the caller applies `unavailable_shard_policy`.
//!
//! A node that refuses Miroir's own shard filter (its `_miroir_shard` is not filterable: see
//! `Cluster::repair_reserved`) is repaired and treated like a node that did not answer.
//!
//! A Meilisearch error from a node (`invalid_search_filter`, `index_not_found`, …) is the answer,
//! relayed unchanged: the first one in node order.

use std::collections::BTreeSet;

use futures::future::join_all;
use miroir_core::cluster::{Cluster, NodeCall};
use miroir_core::merge::{Merged, NodeAnswer};
use miroir_core::node::node_path;
use miroir_core::node::{Method, NodeError};
use miroir_core::routing::{NodeIndex, Shard, Topology, held_shards};
use miroir_core::{ApiError, Code};

use crate::request::SearchRequest;

/// The most hits a node is asked for again (Meilisearch's default `maxTotalHits`); a window the
/// client asks for beyond it is asked once, never widened.
const MAX_WIDENED_WINDOW: usize = 1000;

/// How much larger a truncated node's window becomes each time it is asked again.
const WIDEN_FACTOR: usize = 4;

/// A bound on the rounds of asking again (windows grow ×4 up to 1000: 5 rounds from 1).
const MAX_WIDEN_ROUNDS: usize = 8;

/// A read a covering set answers shard by shard: the node route, what each node is sent and how
/// its answer is read.
pub(crate) trait ShardRead {
    /// One node's answer.
    type Answer;

    /// The node route under `/indexes/{uid}/`.
    const ROUTE: &'static str;

    /// How many results each node is asked for first (`0` for a read without a window).
    fn first_window(&self) -> usize;

    /// The JSON body for a node asked for `window` results, restricted to `shards` when given
    /// (the node holds more shards than it answers for).
    fn node_body(&self, window: usize, shards: Option<&[Shard]>) -> Vec<u8>;

    /// A node's 2xx body when it was asked for `window` results; why not, when it is not such an
    /// answer (the node then counts as not answering).
    fn parse_answer(body: &[u8], window: usize) -> Result<Self::Answer, String>;
}

impl ShardRead for SearchRequest {
    type Answer = NodeAnswer;

    const ROUTE: &'static str = "search";

    fn first_window(&self) -> usize {
        self.paging.end()
    }

    fn node_body(&self, window: usize, shards: Option<&[Shard]>) -> Vec<u8> {
        SearchRequest::node_body(self, window, shards)
    }

    fn parse_answer(body: &[u8], window: usize) -> Result<NodeAnswer, String> {
        NodeAnswer::parse(body, window).map_err(|error| format!("not a search answer: {error}"))
    }
}

/// What one node is asked in a query.
#[derive(Clone, Debug)]
struct Part {
    /// The node.
    node: NodeIndex,
    /// The shards it answers for.
    shards: Vec<Shard>,
    /// True when it holds more shards than these in its group: its read carries a shard filter.
    filtered: bool,
}

impl Part {
    fn shard_filter(&self) -> Option<&[Shard]> {
        self.filtered.then_some(self.shards.as_slice())
    }
}

/// What a covering set answered to a read.
#[derive(Debug)]
pub(crate) struct Covered<A> {
    /// The nodes asked, in the order of `answers`.
    parts: Vec<Part>,
    /// One answer per node asked.
    pub(crate) answers: Vec<A>,
    /// The shards no node could answer for.
    pub(crate) missing: BTreeSet<Shard>,
}

/// What the covering set answered to a search.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    /// One answer per node asked, each with the window it was asked for.
    pub(crate) answers: Vec<NodeAnswer>,
    /// The shards no node could answer for.
    pub(crate) missing: BTreeSet<Shard>,
}

/// Asks a covering set of `cluster` (in `pinned_group` if given, else the next group in turn)
/// for `request` on index `index` (already resolved) ([`cover`]), then widens the windows of
/// truncated nodes until the client's window is exact.
pub(crate) async fn gather(
    cluster: &Cluster,
    index: &str,
    request: &SearchRequest,
    pinned_group: Option<u32>,
) -> Result<Gathered, ApiError> {
    let seq = cluster.next_read();
    let Covered {
        parts,
        mut answers,
        missing,
    } = cover(cluster, index, request, pinned_group, seq).await?;
    let unordered = parts
        .iter()
        .zip(&answers)
        .filter(|(_, answer)| !answer.breaks_ties_by_shard())
        .map(|(part, _)| cluster.repair_reserved(part.node, index));
    join_all(unordered).await;
    let path = node_path(["indexes", index, SearchRequest::ROUTE]);
    widen(cluster, &path, request, &parts, &mut answers).await?;
    Ok(Gathered { answers, missing })
}

/// Asks a covering set of `cluster` for `read` on index `index` (already resolved): in
/// `pinned_group` if given, else in the group the read sequence number `seq` picks
/// (round-robin), one node per shard (rotating over its replicas with `seq`), every node in
/// parallel with a shard filter where it holds more shards than it is asked for. Nodes that give
/// no usable answer are replaced by other replicas, then by the next groups; the shards nobody
/// answered for are `missing`. The first Meilisearch error in node order is the answer.
pub(crate) async fn cover<R: ShardRead>(
    cluster: &Cluster,
    index: &str,
    read: &R,
    pinned_group: Option<u32>,
    seq: u64,
) -> Result<Covered<R::Answer>, ApiError> {
    cluster.require_nodes()?;
    let path = node_path(["indexes", index, R::ROUTE]);
    let topology = cluster.topology();
    let first_group = pinned_group.unwrap_or_else(|| topology.read_group(seq));
    let groups = topology.groups().max(1);
    let window = read.first_window();

    let mut pending: BTreeSet<Shard> = (0..topology.shards()).collect();
    let mut down: BTreeSet<NodeIndex> = BTreeSet::new();
    let mut parts: Vec<Part> = Vec::new();
    let mut answers: Vec<R::Answer> = Vec::new();
    for step in 0..groups {
        let group = (first_group + step) % groups;
        // Each round either answers every pending shard this group can cover or marks at least
        // one more node down, so it ends.
        loop {
            let asked = plan(topology, group, seq, &pending, &down);
            if asked.is_empty() {
                break;
            }
            let windows = vec![window; asked.len()];
            let results = ask(cluster, &path, read, &asked, &windows).await;
            let mut any_down = false;
            for (part, result) in asked.into_iter().zip(results) {
                match result {
                    Ok(answer) => {
                        for shard in &part.shards {
                            pending.remove(shard);
                        }
                        parts.push(part);
                        answers.push(answer);
                    }
                    Err(error) if error.is_unavailable() => {
                        let node = &topology.node(part.node).id;
                        let route = R::ROUTE;
                        tracing::warn!(%node, index, route, %error, "a node gave no usable answer to a read: its shards go to another replica");
                        down.insert(part.node);
                        any_down = true;
                    }
                    Err(error) if error.refuses_shard_filter() => {
                        // Not the client's error: the node lost `_miroir_shard` for this index.
                        // It cannot answer a shard-scoped read until repaired, like a node down.
                        cluster.repair_reserved(part.node, index).await;
                        down.insert(part.node);
                        any_down = true;
                    }
                    Err(error) => return Err(error.to_api_error(topology.node(part.node))),
                }
            }
            if !any_down || pending.is_empty() {
                break;
            }
        }
        if pending.is_empty() {
            break;
        }
    }
    Ok(Covered {
        parts,
        answers,
        missing: pending,
    })
}

/// The nodes of `group` to ask for the `pending` shards, skipping nodes known to be down.
fn plan(
    topology: &Topology,
    group: u32,
    seq: u64,
    pending: &BTreeSet<Shard>,
    down: &BTreeSet<NodeIndex>,
) -> Vec<Part> {
    let (set, _uncovered) = topology.covering_set(group, seq, |node| !down.contains(&node));
    set.nodes
        .into_iter()
        .filter_map(|(node, shards)| {
            let shards: Vec<Shard> = shards
                .into_iter()
                .filter(|shard| pending.contains(shard))
                .collect();
            if shards.is_empty() {
                return None;
            }
            let held = held_shards(topology, group, node).len();
            Some(Part {
                node,
                filtered: shards.len() < held,
                shards,
            })
        })
        .collect()
}

/// Asks every part in parallel for `read`, `windows[i]` results of `parts[i]`; the answers in
/// part order.
async fn ask<R: ShardRead>(
    cluster: &Cluster,
    path: &str,
    read: &R,
    parts: &[Part],
    windows: &[usize],
) -> Vec<Result<R::Answer, NodeError>> {
    let calls = parts
        .iter()
        .zip(windows)
        .map(|(part, &window)| NodeCall {
            node: part.node,
            method: Method::POST,
            path: path.to_owned(),
            body: Some(read.node_body(window, part.shard_filter())),
        })
        .collect();
    cluster
        .call_all(calls)
        .await
        .into_iter()
        .zip(windows)
        .map(|((_, result), &window)| {
            R::parse_answer(&result?.body, window).map_err(NodeError::Invalid)
        })
        .collect()
}

/// The next window for a truncated node asked for `requested` hits of its `total`, when the
/// merged window ends at `end`; `None` when it cannot grow.
fn next_window(requested: usize, end: usize, total: u64) -> Option<usize> {
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    let next = requested
        .saturating_mul(WIDEN_FACTOR)
        .max(end.saturating_add(1))
        .min(total)
        .min(MAX_WIDENED_WINDOW);
    (next > requested).then_some(next)
}

/// Asks the truncated nodes whose missing hits could still enter the client's window again,
/// with larger windows, until the window is exact or no window can grow. A node that stops
/// answering keeps its earlier answer.
async fn widen(
    cluster: &Cluster,
    path: &str,
    request: &SearchRequest,
    parts: &[Part],
    answers: &mut [NodeAnswer],
) -> Result<(), ApiError> {
    let end = request.paging.end();
    let mut settled = vec![false; answers.len()];
    for _ in 0..MAX_WIDEN_ROUNDS {
        let incomplete = Merged::new(answers, &request.rules).incomplete_nodes(end);
        let mut again: Vec<(usize, usize)> = Vec::new();
        for index in incomplete {
            if settled[index] {
                continue;
            }
            let answer = &answers[index];
            match next_window(answer.requested, end, answer.total()) {
                Some(window) => again.push((index, window)),
                None => settled[index] = true,
            }
        }
        if again.is_empty() {
            return Ok(());
        }
        let asked: Vec<Part> = again
            .iter()
            .map(|&(index, _)| parts[index].clone())
            .collect();
        let windows: Vec<usize> = again.iter().map(|&(_, window)| window).collect();
        let results = ask(cluster, path, request, &asked, &windows).await;
        for ((index, _), result) in again.into_iter().zip(results) {
            match result {
                Ok(answer) => answers[index] = answer,
                Err(error) if error.is_unavailable() => settled[index] = true,
                Err(error) => {
                    return Err(error.to_api_error(cluster.topology().node(parts[index].node)));
                }
            }
        }
    }
    Ok(())
}

/// 503 `miroir_shard_unavailable` naming `shards` of `index`.
pub(crate) fn unavailable(index: &str, shards: &BTreeSet<Shard>) -> ApiError {
    let list: Vec<String> = shards.iter().map(Shard::to_string).collect();
    ApiError::new(
        Code::MiroirShardUnavailable,
        format!(
            "No node could answer for shard(s) {} of index `{index}`; the search cannot be \
             complete. Retry later.",
            list.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use miroir_core::routing::Node;

    use super::*;

    fn fleet(nodes: u32, groups: u32, shards: u32, rf: usize) -> Topology {
        let nodes = (0..nodes)
            .map(|n| Node {
                id: format!("meili-{n}"),
                address: format!("http://127.0.0.1:{}", 7700 + n),
                group: n % groups,
            })
            .collect();
        Topology::new(nodes, shards, groups, rf)
    }

    #[test]
    fn windows_grow_fourfold_within_the_caps() {
        assert_eq!(next_window(20, 20, 500), Some(80));
        assert_eq!(next_window(20, 100, 500), Some(101));
        assert_eq!(next_window(80, 20, 100), Some(100));
        assert_eq!(next_window(400, 20, 5000), Some(1000));
        assert_eq!(next_window(1000, 20, 5000), None);
        assert_eq!(next_window(2000, 2000, 5000), None);
    }

    #[test]
    fn nodes_asked_for_part_of_their_shards_get_a_filter() {
        let all: BTreeSet<Shard> = (0..16).collect();
        let single = fleet(3, 1, 16, 1);
        let parts = plan(&single, 0, 0, &all, &BTreeSet::new());
        assert!(parts.iter().all(|part| !part.filtered));
        let covered: usize = parts.iter().map(|part| part.shards.len()).sum();
        assert_eq!(covered, 16);

        let replicated = fleet(3, 1, 16, 2);
        let parts = plan(&replicated, 0, 0, &all, &BTreeSet::new());
        assert!(parts.iter().any(|part| part.filtered));
        let covered: usize = parts.iter().map(|part| part.shards.len()).sum();
        assert_eq!(covered, 16);
    }

    #[test]
    fn only_pending_shards_are_asked_and_down_nodes_skipped() {
        let topology = fleet(3, 1, 16, 2);
        let pending: BTreeSet<Shard> = [1, 2, 3].into();
        let down: BTreeSet<NodeIndex> = [0].into();
        let parts = plan(&topology, 0, 5, &pending, &down);
        assert!(parts.iter().all(|part| part.node != 0 && part.filtered));
        let mut covered: Vec<Shard> = parts.iter().flat_map(|part| part.shards.clone()).collect();
        covered.sort_unstable();
        assert_eq!(covered, [1, 2, 3]);
    }
}
