//! The sections of the configuration (plan §4 "Configuration schema"), each with its defaults.
//!
//! Every struct refuses unknown keys, and every field has a default, so a config file only names
//! what it changes. The defaults are listed in `default.yaml` beside this file.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use serde::Deserialize;

use super::secret::Secret;

/// Which backend holds the task store (`miroir.task_store.backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStoreBackend {
    /// Embedded SQLite, for a single Miroir replica.
    #[default]
    Sqlite,
    /// Redis, shared by any number of replicas and Lambda functions.
    Redis,
}

impl TaskStoreBackend {
    /// The name used in config files: `sqlite` or `redis`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Redis => "redis",
        }
    }
}

/// `miroir.task_store`: where the state plane lives.
///
/// `Debug` redacts a password in `url`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskStoreConfig {
    /// `sqlite` (default) or `redis`.
    pub backend: TaskStoreBackend,
    /// The SQLite file used when `url` is empty (default `./.miroir/tasks.db`).
    pub path: String,
    /// A store URL (`sqlite://…`, `redis://…`, `rediss://…`); when set it wins over `path` and
    /// must match `backend`. Empty (default) = unset. Required for `redis`.
    pub url: String,
}

impl Default for TaskStoreConfig {
    fn default() -> Self {
        Self {
            backend: TaskStoreBackend::Sqlite,
            path: "./.miroir/tasks.db".to_owned(),
            url: String::new(),
        }
    }
}

impl fmt::Debug for TaskStoreConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TaskStoreConfig")
            .field("backend", &self.backend)
            .field("path", &self.path)
            .field("url", &miroir_store::store_url::redact(&self.url))
            .finish()
    }
}

/// `miroir.admin`: the `/_miroir/` operator API.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Serve the operator API (default true). When false, every `/_miroir/` route answers 404
    /// except `/_miroir/ready` and `/_miroir/metrics`.
    pub enabled: bool,
    /// The admin API key (env `MIROIR_ADMIN_API_KEY`); redacted in `Debug`. Empty: the master
    /// key guards the admin API (see [`super::Config::admin_credential`]).
    pub api_key: Secret,
    /// Largest request body of an admin (`/_miroir/`) route, in bytes (default 65536 = 64 KiB).
    pub max_body_bytes: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            api_key: Secret::default(),
            max_body_bytes: 65_536,
        }
    }
}

/// `miroir.admin_ui`: the admin UI's browser sessions (plan §13.19, §9 "CSRF posture").
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminUiConfig {
    /// Lifetime of an admin session cookie from its login, in seconds (default 3600; at most
    /// 2592000 = 30 days). Not extended by use.
    pub session_ttl_s: u64,
}

impl Default for AdminUiConfig {
    fn default() -> Self {
        Self {
            session_ttl_s: 3600,
        }
    }
}

/// One entry of `miroir.nodes`: a Meilisearch node.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Stable, unique id (never reused after the node is removed).
    pub id: String,
    /// Base URL, `http://host:port` or `https://…`.
    pub address: String,
    /// The replica group the node belongs to, below `replica_groups` (default 0).
    #[serde(default)]
    pub replica_group: u32,
}

/// `miroir.health`: node health probing.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Time between probes of one node (default 5000).
    pub interval_ms: u64,
    /// Bound on one probe (default 2000).
    pub timeout_ms: u64,
    /// Failed probes in a row before a node is unhealthy (default 3).
    pub unhealthy_threshold: u32,
    /// Successful probes in a row before it is healthy again (default 2).
    pub recovery_threshold: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval_ms: 5000,
            timeout_ms: 2000,
            unhealthy_threshold: 3,
            recovery_threshold: 2,
        }
    }
}

/// What a search does when some shard has no live node (`miroir.scatter.unavailable_shard_policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnavailableShardPolicy {
    /// Answer with the shards that responded (default).
    #[default]
    Partial,
    /// Fail the request.
    Error,
}

/// `miroir.scatter`: fan-out of requests to nodes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScatterConfig {
    /// Bound on one node's answer (default 5000).
    pub node_timeout_ms: u64,
    /// Retry a timed-out write once, deduplicated orchestrator-side (default true).
    pub retry_on_timeout: bool,
    /// `partial` (default) or `error`.
    pub unavailable_shard_policy: UnavailableShardPolicy,
    /// Most queries one `POST /multi-search` may carry (default 100; more are refused with
    /// `miroir_too_many_search_queries`).
    pub max_multi_search_queries: u32,
}

impl Default for ScatterConfig {
    fn default() -> Self {
        Self {
            node_timeout_ms: 5000,
            retry_on_timeout: true,
            unavailable_shard_policy: UnavailableShardPolicy::Partial,
            max_multi_search_queries: 100,
        }
    }
}

/// `miroir.rebalancer`: moving shards between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RebalancerConfig {
    /// Rebalance when a node recovers (default true).
    pub auto_rebalance_on_recovery: bool,
    /// Shard migrations running at once (default 4).
    pub max_concurrent_migrations: u32,
    /// Bound on one shard migration, in seconds (default 3600).
    pub migration_timeout_s: u64,
}

impl Default for RebalancerConfig {
    fn default() -> Self {
        Self {
            auto_rebalance_on_recovery: true,
            max_concurrent_migrations: 4,
            migration_timeout_s: 3600,
        }
    }
}

/// `miroir.server`: the HTTP listener (overridden as a whole by `MIROIR_HTTP_ADDR`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// TCP port (default 7700; 0 = any free port).
    pub port: u16,
    /// Address or host name to listen on (default `127.0.0.1`; containers set `0.0.0.0`).
    pub bind: String,
    /// Largest request body accepted, in bytes (default 104857600 = 100 MiB).
    pub max_body_bytes: u64,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers name the client (CIDR blocks or
    /// single addresses). Empty (default): those headers are never believed.
    pub trusted_proxies: TrustedProxies,
    /// How long a client may take to send a request's headers, in milliseconds (default 30000);
    /// past it the connection is closed.
    pub header_read_timeout_ms: u64,
    /// How long one request may take from its headers to its answer, in milliseconds (default
    /// 300000); past it the answer is 408 `miroir_request_timeout`.
    pub request_timeout_ms: u64,
    /// Most connections served at once (default 1024); further ones wait in the kernel's
    /// accept queue.
    pub max_connections: u32,
}

impl ServerConfig {
    /// `bind:port`, with an IPv6 address in brackets (`[::1]:7700`), ready for a socket bind.
    pub fn listen_address(&self) -> String {
        if self.bind.contains(':') {
            format!("[{}]:{}", self.bind, self.port)
        } else {
            format!("{}:{}", self.bind, self.port)
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: 7700,
            bind: "127.0.0.1".to_owned(),
            max_body_bytes: 104_857_600,
            trusted_proxies: TrustedProxies::default(),
            header_read_timeout_ms: 30_000,
            request_timeout_ms: 300_000,
            max_connections: 1024,
        }
    }
}

/// `miroir.server.trusted_proxies`: the networks of proxies whose forwarding headers are believed.
///
/// Each entry is a CIDR block (`10.0.0.0/8`, `fd00::/8`) or a single address (`10.1.2.3`); a
/// config that gives anything else is refused with the entry named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// The trusted networks.
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// True when no proxy is trusted (the default).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `address` belongs to a trusted proxy. IPv4-mapped IPv6 addresses are compared
    /// as IPv4.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|network| network.trunc())
                    .map_err(|_| {
                        serde::de::Error::custom(format!(
                            "`{entry}` is not a CIDR block (`10.0.0.0/8`) or an IP address"
                        ))
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// `miroir.aliases`: index aliases (plan §13.7).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AliasesConfig {
    /// Resolve aliases on the client API (default true). Read by the data path; the operator API
    /// under `/_miroir/aliases` serves either way.
    pub enabled: bool,
    /// Prior states kept in an alias's flip history (default 10; 0 keeps none; at most 1000).
    /// Applied by every flip, in the same atomic step that appends.
    pub history_retention: u32,
    /// Refuse an alias whose target index does not exist on the nodes (default true). Needs the
    /// node client of the data path; not checked yet.
    pub require_target_exists: bool,
}

impl Default for AliasesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            history_retention: 10,
            require_target_exists: true,
        }
    }
}

/// `miroir.canary_runner`: synthetic canary queries with golden assertions (plan §13.18).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CanaryRunnerConfig {
    /// Run the canaries on their schedules (default true). Read by the canary runner; the
    /// operator API under `/_miroir/canaries` serves either way.
    pub enabled: bool,
    /// Canaries one pod runs at once (default 10, at least 1).
    pub max_concurrent_canaries: u32,
    /// Runs kept per canary (default 100, 1 to 10000): recording a run drops the oldest beyond
    /// it, and `GET /_miroir/canaries/status` shows that many.
    pub run_history_per_canary: u32,
    /// Publish canary results as CDC events (default true).
    pub emit_results_to_cdc: bool,
}

impl Default for CanaryRunnerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_concurrent_canaries: 10,
            run_history_per_canary: 100,
            emit_results_to_cdc: true,
        }
    }
}

/// `miroir.idempotency`: `Idempotency-Key` on client writes (plan §13.10).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// Honour `Idempotency-Key` (default true); when false the header is ignored.
    pub enabled: bool,
    /// How long a key is remembered, seconds (default 86400, at least 1).
    pub ttl_seconds: u64,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_seconds: 86_400,
        }
    }
}

/// How a read in a session with a pending write waits for it (plan §13.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitStrategy {
    /// Wait (up to `max_wait_ms`) until the write succeeded on the pinned group (default).
    #[default]
    Block,
    /// Read from the pinned group without waiting.
    RoutePin,
}

/// `miroir.session_pinning`: read-your-writes with `X-Miroir-Session` (plan §13.6).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionPinningConfig {
    /// Honour `X-Miroir-Session` (default true).
    pub enabled: bool,
    /// Session lifetime after its last write, seconds (default 900, at least 1).
    pub ttl_seconds: u64,
    /// `block` (default) or `route_pin`.
    pub wait_strategy: WaitStrategy,
    /// Longest a `block` read waits, milliseconds (default 5000).
    pub max_wait_ms: u64,
}

impl Default for SessionPinningConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_seconds: 900,
            wait_strategy: WaitStrategy::Block,
            max_wait_ms: 5000,
        }
    }
}

/// `miroir.task_registry`: how long finished tasks are kept and how many (plan §4 table 1).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskRegistryConfig {
    /// Finished tasks enqueued longer ago than this are pruned, seconds (default 604800 = 7
    /// days, at least 1).
    pub ttl_seconds: u64,
    /// Beyond this many stored tasks the oldest finished ones are pruned whatever their age
    /// (default 1000000, like Meilisearch's cap; at least 1).
    pub max_tasks: u64,
    /// Tasks one prune step deletes at most (default 1000, at least 1): the bound on one store
    /// call's work while requests are served.
    pub prune_batch: u32,
}

impl Default for TaskRegistryConfig {
    fn default() -> Self {
        Self {
            ttl_seconds: 604_800,
            max_tasks: 1_000_000,
            prune_batch: 1000,
        }
    }
}

/// `miroir.background`: the background work every replica runs (plan §14.5): task polling,
/// pruning, the job worker and the canary runner.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackgroundConfig {
    /// Run the background loops in `miroir` (default true). The scheduled worker function runs
    /// its pass either way.
    pub enabled: bool,
    /// This replica's identity among its peers (default empty: `POD_NAME` from the Kubernetes
    /// Downward API, else `<host name>-<process id>`).
    pub pod_id: String,
    /// Period of the background loops, milliseconds (default 1000, at least 10).
    pub tick_ms: u64,
    /// A replica that has not renewed its membership for this long leaves the peer set, and its
    /// partitioned work moves to the others; milliseconds (default 10000, more than `tick_ms`).
    pub peer_ttl_ms: u64,
    /// Lifetime of a leader lease (singleton work), renewed every tick; milliseconds (default
    /// 10000, more than `tick_ms`).
    pub leader_lease_ms: u64,
    /// Claim lease of a job; a worker heartbeats every third of it and a crashed worker's job is
    /// reclaimed after it; milliseconds (default 30000, at least 30).
    pub job_lease_ms: u64,
    /// Longest a task is left `enqueued` with no node task recorded (its writer died between
    /// creating it and recording the fan-out) before the poller reconciles it with the nodes
    /// (records the node tasks carrying its marker, or fails it `miroir_task_orphaned`; see
    /// `miroir_background::poller`); seconds (default 60, at least 1).
    pub orphan_task_after_s: u64,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            pod_id: String::new(),
            tick_ms: 1000,
            peer_ttl_ms: 10_000,
            leader_lease_ms: 10_000,
            job_lease_ms: 30_000,
            orphan_task_after_s: 60,
        }
    }
}
