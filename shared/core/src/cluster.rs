//! The fleet as the data path uses it: the [`Topology`], the [`NodeClient`], parallel fan-out,
//! and the write quorum rules of plan §2.
//!
//! # Write quorum
//!
//! A group succeeds for a shard when `floor(RF/2) + 1` of the nodes it places the shard on
//! enqueued the write. A write succeeds when, for every shard it touches, at least one group
//! succeeded; groups that missed their quorum for some shard are reported as degraded
//! (`X-Miroir-Degraded`). Broadcast writes (index, settings, delete by filter) touch every shard.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;

use crate::config::{Config, UnavailableShardPolicy};
use crate::errors::{ApiError, Code};
use crate::node::{Method, NodeClient, NodeError, encode_path_segment, node_path};
use crate::reserved;
use crate::routing::{NodeIndex, Shard, Topology};

/// One request of a fan-out.
#[derive(Clone, Debug)]
pub struct NodeCall {
    /// Target node.
    pub node: NodeIndex,
    /// HTTP method.
    pub method: Method,
    /// Path and query, e.g. `/indexes/movies/documents?primaryKey=id`.
    pub path: String,
    /// JSON body.
    pub body: Option<Vec<u8>>,
}

/// What a write fan-out achieved.
#[derive(Clone, Debug, Default)]
pub struct WriteOutcome {
    /// Node id → node task uid, for every node that enqueued the write.
    pub node_tasks: BTreeMap<String, u64>,
    /// Groups that missed their quorum, each with the shards concerned.
    pub degraded: BTreeMap<u32, BTreeSet<Shard>>,
    /// Shards no group reached quorum for (the write failed when non-empty).
    pub unwritable: BTreeSet<Shard>,
    /// The first Meilisearch error a node answered with, by node order.
    pub rejection: Option<ApiError>,
}

impl WriteOutcome {
    /// True when every shard reached quorum in some group.
    pub fn succeeded(&self) -> bool {
        self.unwritable.is_empty()
    }

    /// The `X-Miroir-Degraded` value (`groups=0,1; shards=3,7`), `None` with full coverage.
    pub fn degraded_header(&self) -> Option<String> {
        if self.degraded.is_empty() {
            return None;
        }
        let groups: Vec<String> = self.degraded.keys().map(u32::to_string).collect();
        let shards: BTreeSet<Shard> = self.degraded.values().flatten().copied().collect();
        let shards: Vec<String> = shards.iter().map(u32::to_string).collect();
        Some(format!(
            "groups={}; shards={}",
            groups.join(","),
            shards.join(",")
        ))
    }

    /// The error answered when the write failed: the nodes' own rejection if they refused it
    /// (bad input, unknown index), else 503 `miroir_no_quorum` naming the shards.
    pub fn failure(&self) -> ApiError {
        if let Some(rejection) = &self.rejection {
            return rejection.clone();
        }
        let shards: Vec<String> = self.unwritable.iter().map(u32::to_string).collect();
        ApiError::new(
            Code::MiroirNoQuorum,
            format!(
                "No replica group reached its write quorum for shard(s) {}; nothing was \
                 acknowledged. Retry later.",
                shards.join(", ")
            ),
        )
    }
}

/// The fleet, shared by every request of a process.
#[derive(Debug)]
pub struct Cluster {
    topology: Topology,
    client: NodeClient,
    reads: AtomicU64,
    unavailable_shard_policy: UnavailableShardPolicy,
}

impl Cluster {
    /// The cluster of `config` (nodes, shards, groups, node master key, scatter timeout).
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let client = NodeClient::new(
            Some(config.node_master_key.expose()),
            Duration::from_millis(config.scatter.node_timeout_ms),
        )?;
        Ok(Self {
            topology: Topology::from_config(config),
            client,
            reads: AtomicU64::new(0),
            unavailable_shard_policy: config.scatter.unavailable_shard_policy,
        })
    }

    /// The placement table.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The node client.
    pub fn client(&self) -> &NodeClient {
        &self.client
    }

    /// What a read does when a shard has no live node.
    pub fn unavailable_shard_policy(&self) -> UnavailableShardPolicy {
        self.unavailable_shard_policy
    }

    /// The next read sequence number of this process (round-robin over groups and replicas).
    pub fn next_read(&self) -> u64 {
        self.reads.fetch_add(1, Ordering::Relaxed)
    }

    /// How many nodes hold each document: `RF × RG`.
    pub fn copies(&self) -> u64 {
        (self.topology.replication_factor() as u64) * u64::from(self.topology.groups())
    }

    /// `503 miroir_no_nodes` unless nodes are configured.
    pub fn require_nodes(&self) -> Result<(), ApiError> {
        if self.topology.is_empty() {
            return Err(ApiError::new(
                Code::MiroirNoNodes,
                "No Meilisearch node is configured (`miroir.nodes` is empty).",
            ));
        }
        Ok(())
    }

    /// Sends every call in parallel; the results in call order.
    pub async fn call_all(
        &self,
        calls: Vec<NodeCall>,
    ) -> Vec<(NodeIndex, Result<crate::node::NodeResponse, NodeError>)> {
        join_all(calls.into_iter().map(|call| async move {
            let node = self.topology.node(call.node);
            let result = self
                .client
                .call(node, call.method, &call.path, call.body)
                .await;
            (call.node, result)
        }))
        .await
    }

    /// The same call on every node, in parallel.
    pub fn broadcast(&self, method: &Method, path: &str, body: Option<&[u8]>) -> Vec<NodeCall> {
        (0..self.topology.nodes().len())
            .map(|node| NodeCall {
                node,
                method: method.clone(),
                path: path.to_owned(),
                body: body.map(<[u8]>::to_vec),
            })
            .collect()
    }

    /// Sends write calls in parallel and judges the quorum for `shards` (every shard when
    /// `None`: broadcast writes). A node counts as acknowledging when it enqueued a task.
    pub async fn write(
        &self,
        calls: Vec<NodeCall>,
        shards: Option<BTreeSet<Shard>>,
    ) -> WriteOutcome {
        let results = self.call_all(calls).await;
        let mut outcome = WriteOutcome::default();
        let mut acked = BTreeSet::new();
        for (node, result) in results {
            let node_config = self.topology.node(node);
            match result.and_then(|response| {
                response
                    .json::<crate::node::EnqueuedTask>()
                    .map(|task| task.task_uid)
            }) {
                Ok(uid) => {
                    acked.insert(node);
                    outcome.node_tasks.insert(node_config.id.clone(), uid);
                }
                Err(error) => {
                    tracing::warn!(node = %node_config.id, %error, "a node did not enqueue a write");
                    if let NodeError::Api(_) = &error
                        && outcome.rejection.is_none()
                    {
                        outcome.rejection = Some(error.to_api_error(node_config));
                    }
                }
            }
        }
        let shards = shards.unwrap_or_else(|| (0..self.topology.shards()).collect());
        for &shard in &shards {
            let mut any = false;
            for group in 0..self.topology.groups() {
                let placed = self.topology.placement(group, shard);
                let acks = placed.iter().filter(|node| acked.contains(*node)).count();
                if acks >= self.topology.group_quorum(group, shard) {
                    any = true;
                } else {
                    outcome.degraded.entry(group).or_default().insert(shard);
                }
            }
            if !any {
                outcome.unwritable.insert(shard);
            }
        }
        outcome
    }

    /// A GET answered by one node: nodes are tried in turn, starting at a rotating one, until
    /// one answers. A node's Meilisearch error is the answer (relayed); when none answers,
    /// 503 `miroir_node_unavailable`.
    pub async fn read_any<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ApiError> {
        self.require_nodes()?;
        self.read_any_from(self.next_read(), path).await
    }

    /// [`Cluster::read_any`] for a read that already took its sequence number `seq` (a facet
    /// search reads the index's settings beside its scatter): it starts at the node `seq` picks
    /// and does not advance the round-robin a second time, which would make every such read of
    /// a fleet with two replica groups scatter to the same group.
    pub async fn read_any_from<T: serde::de::DeserializeOwned>(
        &self,
        seq: u64,
        path: &str,
    ) -> Result<T, ApiError> {
        self.require_nodes()?;
        let count = self.topology.nodes().len();
        let start = (seq % count as u64) as usize;
        let mut last = None;
        for step in 0..count {
            let node = self.topology.node((start + step) % count);
            match self.client.get::<T>(node, path).await {
                Ok(value) => return Ok(value),
                Err(error @ NodeError::Api(_)) => return Err(error.to_api_error(node)),
                Err(error) => last = Some(error.to_api_error(node)),
            }
        }
        Err(last.unwrap_or_else(|| ApiError::new(Code::MiroirNodeUnavailable, "no node answered")))
    }

    /// Creates index `uid` with `primary_key` (or none yet) on every node, so that it never exists on a node
    /// without Miroir's reserved settings ([`crate::reserved`]): the creation is a settings
    /// update setting them (Meilisearch creates a missing index on a settings update), followed
    /// on each node that enqueued it by the primary key (`PATCH /indexes/{uid}`; each node
    /// applies its tasks in order). The outcome is the creation's when it failed, else the
    /// primary key's, whose node tasks end after both. A node that already holds the index (one
    /// Miroir has no record of) gets the settings and the key instead of refusing. The index's
    /// state record is the caller's ([`crate::catalog::Catalog::create`]).
    pub async fn create_index(&self, uid: &str, primary_key: Option<&str>) -> WriteOutcome {
        let settings = Value::Object(reserved::creation_settings()).to_string();
        let created = self
            .write(
                self.broadcast(
                    &Method::PATCH,
                    &node_path(["indexes", uid, "settings"]),
                    Some(settings.as_bytes()),
                ),
                None,
            )
            .await;
        let Some(primary_key) = primary_key.filter(|_| created.succeeded()) else {
            return created;
        };
        let key = serde_json::json!({"primaryKey": primary_key}).to_string();
        let keyed: Vec<NodeCall> = self
            .broadcast(
                &Method::PATCH,
                &node_path(["indexes", uid]),
                Some(key.as_bytes()),
            )
            .into_iter()
            .filter(|call| {
                created
                    .node_tasks
                    .contains_key(&self.topology.node(call.node).id)
            })
            .collect();
        self.write(keyed, None).await
    }

    /// Gives index `uid`, which has no primary key yet, `primary_key` on every node (a node
    /// applies it before any write sent after it). Best effort: a node that does not take it
    /// gets the key with its first documents (they carry it as `?primaryKey=`); failures are
    /// logged.
    pub async fn set_primary_key(&self, uid: &str, primary_key: &str) {
        let key = serde_json::json!({"primaryKey": primary_key}).to_string();
        let calls = self.broadcast(
            &Method::PATCH,
            &node_path(["indexes", uid]),
            Some(key.as_bytes()),
        );
        let outcome = self.write(calls, None).await;
        if !outcome.degraded.is_empty() {
            tracing::warn!(index = %uid, "some nodes did not take the index's inferred primary key");
        }
    }

    /// What the nodes know of index `uid`, asked of each in turn until one answers: `None`
    /// when the index does not exist there, else `Some` of its primary key (itself `None` when
    /// the index has none yet). Used to adopt an index that has no state record (created
    /// before records existed, or on the nodes directly); see [`crate::catalog`].
    pub async fn index_on_nodes(&self, uid: &str) -> Result<Option<Option<String>>, ApiError> {
        let path = node_path(["indexes", uid]);
        let mut last_error = None;
        for node in self.topology.nodes() {
            match self.client.get::<Value>(node, &path).await {
                Ok(index) => {
                    let key = index.get("primaryKey").and_then(Value::as_str);
                    return Ok(Some(key.map(str::to_owned)));
                }
                Err(NodeError::Api(error)) if error.code == "index_not_found" => return Ok(None),
                Err(error) => last_error = Some(error.to_api_error(node)),
            }
        }
        match last_error {
            Some(error) => Err(error),
            None => Ok(None),
        }
    }

    /// Restores Miroir's reserved settings ([`crate::reserved`]: `_miroir_shard` filterable,
    /// its ranking rule last) on `node` for index `uid`, after the node refused Miroir's shard
    /// filter there or answered a search without the shard rule. An index loses them when its
    /// settings are changed on the node directly, when it was created by a Miroir older than
    /// the rule, or when a node re-creates it by a write that reached it after the deletion and
    /// that Miroir did not order (a reindex job writing while its target is deleted, a writer
    /// whose deletion wait ran out: see [`crate::catalog`]).
    ///
    /// Reads the node's settings and enqueues the missing items with the node's own values.
    /// Does nothing when nothing is missing, or while the node has a pending task that may
    /// change the index's settings or existence: that task may restore them, and a repair
    /// enqueued after a client's own change would undo it (the next read that finds the index
    /// without them tries again). Best effort: failures are logged. Returns whether a repair
    /// was enqueued.
    pub async fn repair_reserved(&self, node: NodeIndex, uid: &str) -> bool {
        let node_config = self.topology.node(node);
        let pending = format!(
            "/tasks?indexUids={}&statuses=enqueued,processing\
             &types=settingsUpdate,indexCreation,indexDeletion,indexUpdate&limit=1",
            encode_path_segment(uid)
        );
        match self.client.get::<Value>(node_config, &pending).await {
            Ok(tasks)
                if tasks["results"]
                    .as_array()
                    .is_some_and(|tasks| tasks.is_empty()) => {}
            Ok(_) => return false,
            Err(error) => {
                tracing::warn!(node = %node_config.id, index = uid, %error, "cannot check a node's pending tasks before repairing Miroir's settings");
                return false;
            }
        }
        let path = node_path(["indexes", uid, "settings"]);
        let current = match self.client.get::<Value>(node_config, &path).await {
            Ok(settings) => settings,
            Err(error) => {
                tracing::warn!(node = %node_config.id, index = uid, %error, "cannot read a node's settings to repair Miroir's");
                return false;
            }
        };
        let patch = reserved::missing(Some(&current), &serde_json::Map::new());
        if patch.is_empty() {
            return false;
        }
        let body = Value::Object(patch).to_string();
        match self
            .client
            .enqueue(node_config, Method::PATCH, &path, Some(body.into_bytes()))
            .await
        {
            Ok(task) => {
                tracing::warn!(node = %node_config.id, index = uid, task, "an index lacked Miroir's settings on a node: repair enqueued");
                true
            }
            Err(error) => {
                tracing::warn!(node = %node_config.id, index = uid, %error, "cannot repair Miroir's settings on a node");
                false
            }
        }
    }
}
