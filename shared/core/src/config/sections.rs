//! The sections of the configuration (plan §4 "Configuration schema"), each with its defaults.
//!
//! Every struct refuses unknown keys, and every field has a default, so a config file only names
//! what it changes. The defaults are listed in `default.yaml` beside this file.

use std::fmt;

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
    /// Serve the admin API (default true).
    pub enabled: bool,
    /// The admin API key (env `MIROIR_ADMIN_API_KEY`); redacted in `Debug`.
    pub api_key: Secret,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            api_key: Secret::default(),
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
}

impl Default for ScatterConfig {
    fn default() -> Self {
        Self {
            node_timeout_ms: 5000,
            retry_on_timeout: true,
            unavailable_shard_policy: UnavailableShardPolicy::Partial,
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
        }
    }
}
