//! Checks a typed [`Config`] for values that parse but cannot work, naming the key and the reason.

use std::collections::HashMap;
use std::net::IpAddr;

use miroir_store::StoreUrl;

use super::Config;
use super::error::ConfigError;
use super::sections::TaskStoreBackend;

/// The longest admin session (`admin_ui.session_ttl_s`): 30 days.
const MAX_ADMIN_SESSION_TTL_S: u64 = 2_592_000;

/// The most runs kept per canary (`canary_runner.run_history_per_canary`): the status view
/// returns them all for every canary.
const MAX_CANARY_RUN_HISTORY: u32 = 10_000;

/// The first problem of `config`, in the order of the plan's schema.
pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    at_least_one("miroir.shards", u64::from(config.shards))?;
    at_least_one(
        "miroir.replication_factor",
        u64::from(config.replication_factor),
    )?;
    at_least_one("miroir.replica_groups", u64::from(config.replica_groups))?;
    task_store(config)?;
    if !config
        .node_master_key
        .expose()
        .bytes()
        .all(|byte| byte == b' ' || byte.is_ascii_graphic())
    {
        return Err(ConfigError::invalid(
            "miroir.node_master_key",
            "must be printable ASCII (it is sent as a bearer token)",
        ));
    }
    nodes(config)?;
    replication(config)?;

    let health = &config.health;
    at_least_one("miroir.health.interval_ms", health.interval_ms)?;
    at_least_one("miroir.health.timeout_ms", health.timeout_ms)?;
    at_least_one(
        "miroir.health.unhealthy_threshold",
        u64::from(health.unhealthy_threshold),
    )?;
    at_least_one(
        "miroir.health.recovery_threshold",
        u64::from(health.recovery_threshold),
    )?;
    let ttl = config.admin_ui.session_ttl_s;
    if !(1..=MAX_ADMIN_SESSION_TTL_S).contains(&ttl) {
        return Err(ConfigError::invalid(
            "miroir.admin_ui.session_ttl_s",
            format!("{ttl} is not between 1 and {MAX_ADMIN_SESSION_TTL_S} seconds (30 days)"),
        ));
    }
    at_least_one(
        "miroir.idempotency.ttl_seconds",
        config.idempotency.ttl_seconds,
    )?;
    at_least_one(
        "miroir.session_pinning.ttl_seconds",
        config.session_pinning.ttl_seconds,
    )?;
    task_registry_and_background(config)?;
    at_least_one(
        "miroir.scatter.node_timeout_ms",
        config.scatter.node_timeout_ms,
    )?;
    at_least_one(
        "miroir.scatter.max_multi_search_queries",
        u64::from(config.scatter.max_multi_search_queries),
    )?;
    at_least_one(
        "miroir.rebalancer.max_concurrent_migrations",
        u64::from(config.rebalancer.max_concurrent_migrations),
    )?;
    at_least_one(
        "miroir.rebalancer.migration_timeout_s",
        config.rebalancer.migration_timeout_s,
    )?;
    if !is_ip_or_host_name(&config.server.bind) {
        return Err(ConfigError::invalid(
            "miroir.server.bind",
            format!("`{}` is not an ip address or host name", config.server.bind),
        ));
    }
    at_least_one("miroir.server.max_body_bytes", config.server.max_body_bytes)?;
    at_least_one(
        "miroir.server.header_read_timeout_ms",
        config.server.header_read_timeout_ms,
    )?;
    at_least_one(
        "miroir.server.request_timeout_ms",
        config.server.request_timeout_ms,
    )?;
    at_least_one(
        "miroir.server.max_connections",
        u64::from(config.server.max_connections),
    )?;
    at_least_one("miroir.admin.max_body_bytes", config.admin.max_body_bytes)?;
    aliases(config)?;
    canary_runner(config)
}

/// The most prior states kept per alias (`aliases.history_retention`): every flip rewrites the
/// history and `GET /_miroir/aliases/{name}` returns it whole.
const MAX_ALIAS_HISTORY: u32 = 1_000;

fn aliases(config: &Config) -> Result<(), ConfigError> {
    let retention = config.aliases.history_retention;
    if retention > MAX_ALIAS_HISTORY {
        return Err(ConfigError::invalid(
            "miroir.aliases.history_retention",
            format!("{retention} is more than {MAX_ALIAS_HISTORY}"),
        ));
    }
    Ok(())
}

fn canary_runner(config: &Config) -> Result<(), ConfigError> {
    let runner = &config.canary_runner;
    at_least_one(
        "miroir.canary_runner.max_concurrent_canaries",
        u64::from(runner.max_concurrent_canaries),
    )?;
    let history = runner.run_history_per_canary;
    if !(1..=MAX_CANARY_RUN_HISTORY).contains(&history) {
        return Err(ConfigError::invalid(
            "miroir.canary_runner.run_history_per_canary",
            format!("{history} is not between 1 and {MAX_CANARY_RUN_HISTORY}"),
        ));
    }
    Ok(())
}

fn at_least_one(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::invalid(key, "must be at least 1"));
    }
    Ok(())
}

fn task_store(config: &Config) -> Result<(), ConfigError> {
    let store = &config.task_store;
    if super::references::Reference::is_reference(&store.url) {
        // Checked once resolved (`Config::resolve_references`).
        return Ok(());
    }
    if !store.url.is_empty() {
        let parsed = StoreUrl::parse(&store.url)
            .map_err(|error| ConfigError::invalid("miroir.task_store.url", error.to_string()))?;
        let url_backend = match parsed {
            StoreUrl::Sqlite { .. } => TaskStoreBackend::Sqlite,
            StoreUrl::Redis { .. } | StoreUrl::RedisCluster { .. } => TaskStoreBackend::Redis,
        };
        if url_backend != store.backend {
            return Err(ConfigError::invalid(
                "miroir.task_store.url",
                format!(
                    "a {} url does not match task_store.backend {}",
                    url_backend.as_str(),
                    store.backend.as_str()
                ),
            ));
        }
        return Ok(());
    }
    match store.backend {
        TaskStoreBackend::Redis => Err(ConfigError::invalid(
            "miroir.task_store.backend",
            "redis requires task_store.url",
        )),
        TaskStoreBackend::Sqlite => {
            let key = "miroir.task_store.path";
            if store.path.trim().is_empty() {
                return Err(ConfigError::invalid(
                    key,
                    "must not be empty (or set task_store.url)",
                ));
            }
            if store.path.contains('?') {
                return Err(ConfigError::invalid(key, "must not contain `?`"));
            }
            StoreUrl::parse(&config.task_store_url())
                .map(|_| ())
                .map_err(|error| ConfigError::invalid(key, error.to_string()))
        }
    }
}

fn nodes(config: &Config) -> Result<(), ConfigError> {
    let mut index_by_id: HashMap<&str, usize> = HashMap::new();
    let mut index_by_address: HashMap<String, usize> = HashMap::new();
    for (index, node) in config.nodes.iter().enumerate() {
        let key = |field: &str| format!("miroir.nodes[{index}].{field}");
        if node.id.is_empty() {
            return Err(ConfigError::invalid(key("id"), "must not be empty"));
        }
        if node.id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::invalid(
                key("id"),
                format!(
                    "`{}` must not contain spaces or control characters",
                    node.id
                ),
            ));
        }
        if let Some(first) = index_by_id.insert(&node.id, index) {
            return Err(ConfigError::invalid(
                key("id"),
                format!("`{}` is already the id of nodes[{first}]", node.id),
            ));
        }
        let address = node_address(&node.address)
            .map_err(|reason| ConfigError::invalid(key("address"), reason))?;
        if let Some(first) = index_by_address.insert(address, index) {
            return Err(ConfigError::invalid(
                key("address"),
                format!(
                    "`{}` is already the address of nodes[{first}]",
                    node.address
                ),
            ));
        }
        if node.replica_group >= config.replica_groups {
            return Err(ConfigError::invalid(
                key("replica_group"),
                format!(
                    "{} is not below replica_groups ({})",
                    node.replica_group, config.replica_groups
                ),
            ));
        }
    }
    Ok(())
}

/// The normalised form of an http(s) node address, or why it is refused.
fn node_address(raw: &str) -> Result<String, String> {
    let shown = miroir_store::store_url::redact(raw);
    let parsed =
        url::Url::parse(raw).map_err(|error| format!("`{shown}` is not a url: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{shown}` must start with http:// or https://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{shown}` has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "`{shown}` must not carry credentials; Miroir sends node_master_key"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("`{shown}` must not have a query or fragment"));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// With nodes configured, every replica group holds every shard `replication_factor` times, so
/// needs at least that many nodes. An empty node list is allowed (nodes added at run time).
fn replication(config: &Config) -> Result<(), ConfigError> {
    if config.nodes.is_empty() {
        return Ok(());
    }
    for group in 0..config.replica_groups {
        let members = config
            .nodes
            .iter()
            .filter(|node| node.replica_group == group)
            .count();
        if (members as u64) < u64::from(config.replication_factor) {
            let noun = if members == 1 { "node" } else { "nodes" };
            return Err(ConfigError::invalid(
                "miroir.replication_factor",
                format!(
                    "{} exceeds the {members} {noun} of group {group}",
                    config.replication_factor
                ),
            ));
        }
    }
    Ok(())
}

fn is_ip_or_host_name(text: &str) -> bool {
    if text.parse::<IpAddr>().is_ok() {
        return true;
    }
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `miroir.task_registry` and `miroir.background`: positive sizes and periods, leases longer than
/// the tick that renews them.
fn task_registry_and_background(config: &Config) -> Result<(), ConfigError> {
    let registry = &config.task_registry;
    at_least_one("miroir.task_registry.ttl_seconds", registry.ttl_seconds)?;
    at_least_one("miroir.task_registry.max_tasks", registry.max_tasks)?;
    at_least_one(
        "miroir.task_registry.prune_batch",
        u64::from(registry.prune_batch),
    )?;
    let background = &config.background;
    if background.tick_ms < 10 {
        return Err(ConfigError::invalid(
            "miroir.background.tick_ms",
            format!("{} is below 10 ms", background.tick_ms),
        ));
    }
    for (key, value) in [
        ("miroir.background.peer_ttl_ms", background.peer_ttl_ms),
        (
            "miroir.background.leader_lease_ms",
            background.leader_lease_ms,
        ),
    ] {
        if value <= background.tick_ms {
            return Err(ConfigError::invalid(
                key,
                format!(
                    "{value} ms must be longer than miroir.background.tick_ms ({} ms), which renews it",
                    background.tick_ms
                ),
            ));
        }
    }
    if background.job_lease_ms < 30 {
        return Err(ConfigError::invalid(
            "miroir.background.job_lease_ms",
            format!("{} is below 30 ms", background.job_lease_ms),
        ));
    }
    at_least_one(
        "miroir.background.orphan_task_after_s",
        background.orphan_task_after_s,
    )
}
