//! Unit tests of loading, overriding and validating the configuration.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// Environment variables as written in a test: `(name, value)` pairs.
type Vars<'a> = &'a [(&'a str, &'a str)];

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// The message of loading `yaml` under `vars`, which must fail.
fn error_of(yaml: &str, vars: &[(&str, &str)]) -> String {
    match Config::from_yaml(yaml, &env(vars)) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(error) => error.to_string(),
    }
}

fn node(id: &str, group: u32) -> NodeConfig {
    NodeConfig {
        id: id.to_owned(),
        address: format!("http://{id}.search.svc:7700"),
        replica_group: group,
    }
}

/// Plan §4 "Configuration schema", verbatim.
const PLAN_EXAMPLE: &str = r#"
miroir:
  master_key: ""              # client-facing API key (env: MIROIR_MASTER_KEY)
  node_master_key: ""         # key Miroir uses on nodes (env: MIROIR_NODE_MASTER_KEY)
  shards: 64
  replication_factor: 2       # production recommended; Helm chart dev default is 1

  task_store:
    backend: sqlite            # sqlite | redis
    path: /data/miroir-tasks.db
    url: ""                    # for redis: redis://host:6379

  admin:
    enabled: true
    api_key: ""                # env: MIROIR_ADMIN_API_KEY

  # Number of independent query pools. Each group holds all shards.
  # Writes go to all groups; each query goes to exactly one group.
  # This sample shows a two-group production topology. The default when unset is 1.
  replica_groups: 2

  nodes:
  - id: "meili-0"              # stable, unique — never reuse after removal
    address: "http://meili-0.search.svc:7700"
    replica_group: 0           # which group this node belongs to
  - id: "meili-1"
    address: "http://meili-1.search.svc:7700"
    replica_group: 0
  - id: "meili-2"
    address: "http://meili-2.search.svc:7700"
    replica_group: 0
  - id: "meili-3"
    address: "http://meili-3.search.svc:7700"
    replica_group: 1
  - id: "meili-4"
    address: "http://meili-4.search.svc:7700"
    replica_group: 1
  - id: "meili-5"
    address: "http://meili-5.search.svc:7700"
    replica_group: 1

  health:
    interval_ms: 5000
    timeout_ms: 2000
    unhealthy_threshold: 3
    recovery_threshold: 2

  scatter:
    node_timeout_ms: 5000
    retry_on_timeout: true
    unavailable_shard_policy: partial   # partial | error

  rebalancer:
    auto_rebalance_on_recovery: true
    max_concurrent_migrations: 4
    migration_timeout_s: 3600

  server:
    port: 7700
    bind: "0.0.0.0"
    max_body_bytes: 104857600   # 100 MiB
"#;

/// Two groups of two nodes: a valid topology to break one key at a time.
const TWO_GROUPS: &str = r#"
miroir:
  replica_groups: 2
  nodes:
  - {id: a, address: "http://a:7700", replica_group: 0}
  - {id: b, address: "http://b:7700", replica_group: 0}
  - {id: c, address: "http://c:7700", replica_group: 1}
  - {id: d, address: "http://d:7700", replica_group: 1}
"#;

// ---------------------------------------------------------------- defaults

#[test]
fn no_file_is_the_embedded_default() {
    let config = Config::load(None, &no_env()).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.shards, 64);
    assert_eq!(config.replication_factor, 2);
    assert_eq!(config.replica_groups, 1);
    assert!(config.nodes.is_empty());
    assert!(config.master_key.is_empty() && config.admin.api_key.is_empty());
    assert!(config.admin.enabled);
    assert_eq!(config.task_store.backend, TaskStoreBackend::Sqlite);
    assert_eq!(config.task_store_url(), "sqlite://./.miroir/tasks.db");
    assert_eq!(config.server.listen_address(), "127.0.0.1:7700");
    assert_eq!(config.server.max_body_bytes, 100 * 1024 * 1024);
    assert_eq!(config.health, HealthConfig::default());
    assert_eq!(config.health.interval_ms, 5000);
    assert_eq!(
        config.scatter.unavailable_shard_policy,
        UnavailableShardPolicy::Partial
    );
    assert!(config.scatter.retry_on_timeout);
    assert_eq!(config.rebalancer.migration_timeout_s, 3600);
    assert!(config.validate().is_ok());
}

#[test]
fn default_yaml_lists_exactly_the_code_defaults() {
    // Parsed without the serde defaults doing any work: every key is in the file.
    let parsed: ConfigFile = serde_yaml_ng::from_str(DEFAULT_CONFIG_YAML).unwrap();
    assert_eq!(parsed.miroir, Config::default());
    let schema = schema().unwrap();
    let keys: Vec<&str> = schema
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "master_key",
            "node_master_key",
            "shards",
            "replication_factor",
            "task_store",
            "admin",
            "admin_ui",
            "replica_groups",
            "nodes",
            "health",
            "scatter",
            "rebalancer",
            "server",
            "aliases",
            "canary_runner",
            "idempotency",
            "session_pinning",
            "task_registry",
            "background"
        ]
    );
}

#[test]
fn empty_files_and_empty_sections_keep_the_defaults() {
    for text in [
        "",
        "miroir:\n",
        "{}",
        "miroir: {}",
        "miroir:\n  health:\n  nodes:\n  shards:\n",
    ] {
        assert_eq!(
            Config::from_yaml(text, &no_env()).unwrap(),
            Config::default(),
            "{text:?}"
        );
    }
    let partial =
        Config::from_yaml("miroir:\n  health:\n    timeout_ms: 100\n", &no_env()).unwrap();
    assert_eq!(partial.health.timeout_ms, 100);
    assert_eq!(partial.health.interval_ms, 5000);
}

// ---------------------------------------------------------------- files

#[test]
fn the_plan_example_parses_with_every_value() {
    let config = Config::from_yaml(PLAN_EXAMPLE, &no_env()).unwrap();
    assert_eq!(config.shards, 64);
    assert_eq!(config.replication_factor, 2);
    assert_eq!(config.replica_groups, 2);
    assert_eq!(config.task_store.path, "/data/miroir-tasks.db");
    assert_eq!(config.task_store_url(), "sqlite:///data/miroir-tasks.db");
    assert_eq!(
        config.nodes,
        vec![
            node("meili-0", 0),
            node("meili-1", 0),
            node("meili-2", 0),
            node("meili-3", 1),
            node("meili-4", 1),
            node("meili-5", 1),
        ]
    );
    assert_eq!(config.health, HealthConfig::default());
    assert_eq!(config.scatter, ScatterConfig::default());
    assert_eq!(config.rebalancer, RebalancerConfig::default());
    assert_eq!(config.server.bind, "0.0.0.0");
    assert_eq!(config.server.listen_address(), "0.0.0.0:7700");
}

#[test]
fn every_non_default_value_is_read_from_a_file() {
    let text = r#"
miroir:
  master_key: "client-key"
  node_master_key: "node-key"
  shards: 8
  replication_factor: 1
  task_store: {backend: redis, url: "redis://cache:6379/2?prefix=prod"}
  admin: {enabled: false, api_key: "admin-key"}
  replica_groups: 1
  nodes: [{id: n0, address: "https://n0:7700"}]
  health: {interval_ms: 1, timeout_ms: 2, unhealthy_threshold: 3, recovery_threshold: 4}
  scatter: {node_timeout_ms: 5, retry_on_timeout: false, unavailable_shard_policy: error}
  rebalancer: {auto_rebalance_on_recovery: false, max_concurrent_migrations: 6, migration_timeout_s: 7}
  server: {port: 8, bind: "::", max_body_bytes: 9}
  aliases: {enabled: false, history_retention: 0, require_target_exists: false}
"#;
    let config = Config::from_yaml(text, &no_env()).unwrap();
    assert_eq!(config.master_key.expose(), "client-key");
    assert_eq!(config.node_master_key.expose(), "node-key");
    assert_eq!(config.admin.api_key.expose(), "admin-key");
    assert!(!config.admin.enabled);
    assert_eq!(config.task_store_url(), "redis://cache:6379/2?prefix=prod");
    assert_eq!(
        config.nodes[0].replica_group, 0,
        "replica_group defaults to 0"
    );
    assert_eq!(
        config.scatter.unavailable_shard_policy,
        UnavailableShardPolicy::Error
    );
    assert_eq!(config.rebalancer.max_concurrent_migrations, 6);
    assert_eq!(config.server.listen_address(), "[::]:8");
    assert_eq!(
        config.aliases,
        AliasesConfig {
            enabled: false,
            history_retention: 0,
            require_target_exists: false,
        }
    );
}

#[test]
fn load_reads_the_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("miroir.yaml");
    std::fs::write(&path, "miroir:\n  shards: 16\n").unwrap();
    assert_eq!(Config::load(Some(&path), &no_env()).unwrap().shards, 16);

    let missing = dir.path().join("absent.yaml");
    let error = Config::load(Some(&missing), &no_env()).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }), "{error}");
    assert!(error.to_string().contains("absent.yaml"), "{error}");

    std::fs::write(&path, "miroir:\n  shards: [1\n").unwrap();
    let error = Config::load(Some(&path), &no_env()).unwrap_err();
    assert!(matches!(error, ConfigError::Syntax { .. }), "{error}");
    assert!(error.to_string().contains("miroir.yaml"), "{error}");
    assert!(error.to_string().contains("line"), "{error}");
}

#[test]
fn the_config_file_comes_from_the_flag_then_miroir_config() {
    let vars = env(&[("MIROIR_CONFIG", "/etc/miroir.yaml")]);
    assert_eq!(
        config_file_path(Some(Path::new("cli.yaml")), &vars),
        Some(PathBuf::from("cli.yaml"))
    );
    assert_eq!(
        config_file_path(None, &vars),
        Some(PathBuf::from("/etc/miroir.yaml"))
    );
    assert_eq!(config_file_path(None, &env(&[("MIROIR_CONFIG", "")])), None);
    assert_eq!(config_file_path(None, &no_env()), None);
}

// ---------------------------------------------------------------- unknown keys

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let cases = [
        (
            "miroir:\n  shardz: 3\n",
            "miroir.shardz: unknown key (expected one of `master_key`",
        ),
        (
            "miroir:\n  health:\n    interval: 3\n",
            "miroir.health.interval: unknown key (expected one of `interval_ms`",
        ),
        (
            "miroir:\n  nodes:\n  - {id: a, address: 'http://a', zone: 1}\n",
            "miroir.nodes[0].zone: unknown key (expected one of `id`, `address`, `replica_group`)",
        ),
        (
            "mirror:\n  shards: 3\n",
            "mirror: unknown key (expected `miroir`)",
        ),
    ];
    for (text, expected) in cases {
        let message = error_of(text, &[]);
        assert!(message.starts_with(expected), "{message}");
    }
    assert_eq!(
        error_of("miroir:\n  task_store: {backend: postgres}\n", &[]),
        "miroir.task_store.backend: unknown variant `postgres`, expected `sqlite` or `redis`"
    );
    assert_eq!(
        error_of("miroir:\n  shards: many\n", &[]),
        "miroir.shards: invalid type: string \"many\", expected u32"
    );
    assert_eq!(
        error_of("- a\n", &[]),
        "(top level): must be a mapping with a `miroir:` key"
    );
}

// ---------------------------------------------------------------- overrides

/// One variable per leaf key of the schema, and the config they must produce.
fn every_leaf_override() -> (Vec<(&'static str, &'static str)>, Config) {
    let vars = vec![
        ("MIROIR_MASTER_KEY", "mk"),
        ("MIROIR_NODE_MASTER_KEY", "nmk"),
        ("MIROIR_SHARDS", "8"),
        ("MIROIR_REPLICATION_FACTOR", "1"),
        ("MIROIR_TASK_STORE__BACKEND", "redis"),
        ("MIROIR_TASK_STORE__PATH", "/tmp/unused.db"),
        ("MIROIR_TASK_STORE__URL", "redis://cache:6379/0"),
        ("MIROIR_ADMIN__ENABLED", "false"),
        ("MIROIR_ADMIN__API_KEY", "ak"),
        ("MIROIR_ADMIN__MAX_BODY_BYTES", "1024"),
        ("MIROIR_ADMIN_UI__SESSION_TTL_S", "900"),
        ("MIROIR_REPLICA_GROUPS", "2"),
        (
            "MIROIR_NODES",
            r#"[{"id": "x", "address": "http://x:7700"}]"#,
        ),
        ("MIROIR_NODES__0__ID", "n0"),
        ("MIROIR_NODES__0__ADDRESS", "http://n0:7700"),
        ("MIROIR_NODES__0__REPLICA_GROUP", "0"),
        ("MIROIR_NODES__1__ID", "n1"),
        ("MIROIR_NODES__1__ADDRESS", "http://n1:7700"),
        ("MIROIR_NODES__1__REPLICA_GROUP", "1"),
        ("MIROIR_HEALTH__INTERVAL_MS", "11"),
        ("MIROIR_HEALTH__TIMEOUT_MS", "12"),
        ("MIROIR_HEALTH__UNHEALTHY_THRESHOLD", "13"),
        ("MIROIR_HEALTH__RECOVERY_THRESHOLD", "14"),
        ("MIROIR_SCATTER__NODE_TIMEOUT_MS", "15"),
        ("MIROIR_SCATTER__RETRY_ON_TIMEOUT", "false"),
        ("MIROIR_SCATTER__UNAVAILABLE_SHARD_POLICY", "error"),
        ("MIROIR_SCATTER__MAX_MULTI_SEARCH_QUERIES", "7"),
        ("MIROIR_REBALANCER__AUTO_REBALANCE_ON_RECOVERY", "false"),
        ("MIROIR_REBALANCER__MAX_CONCURRENT_MIGRATIONS", "16"),
        ("MIROIR_REBALANCER__MIGRATION_TIMEOUT_S", "17"),
        ("MIROIR_SERVER__PORT", "18"),
        ("MIROIR_SERVER__BIND", "0.0.0.0"),
        ("MIROIR_SERVER__MAX_BODY_BYTES", "19"),
        (
            "MIROIR_SERVER__TRUSTED_PROXIES",
            "[10.0.0.0/8, '192.168.1.7', 'fd00::/8']",
        ),
        ("MIROIR_SERVER__HEADER_READ_TIMEOUT_MS", "34"),
        ("MIROIR_SERVER__REQUEST_TIMEOUT_MS", "35"),
        ("MIROIR_SERVER__MAX_CONNECTIONS", "36"),
        ("MIROIR_ALIASES__ENABLED", "false"),
        ("MIROIR_ALIASES__HISTORY_RETENTION", "20"),
        ("MIROIR_ALIASES__REQUIRE_TARGET_EXISTS", "false"),
        ("MIROIR_CANARY_RUNNER__ENABLED", "false"),
        ("MIROIR_CANARY_RUNNER__MAX_CONCURRENT_CANARIES", "21"),
        ("MIROIR_CANARY_RUNNER__RUN_HISTORY_PER_CANARY", "22"),
        ("MIROIR_CANARY_RUNNER__EMIT_RESULTS_TO_CDC", "false"),
        ("MIROIR_IDEMPOTENCY__ENABLED", "false"),
        ("MIROIR_IDEMPOTENCY__TTL_SECONDS", "23"),
        ("MIROIR_SESSION_PINNING__ENABLED", "false"),
        ("MIROIR_SESSION_PINNING__TTL_SECONDS", "24"),
        ("MIROIR_SESSION_PINNING__WAIT_STRATEGY", "route_pin"),
        ("MIROIR_SESSION_PINNING__MAX_WAIT_MS", "25"),
        ("MIROIR_TASK_REGISTRY__TTL_SECONDS", "26"),
        ("MIROIR_TASK_REGISTRY__MAX_TASKS", "27"),
        ("MIROIR_TASK_REGISTRY__PRUNE_BATCH", "28"),
        ("MIROIR_BACKGROUND__ENABLED", "false"),
        ("MIROIR_BACKGROUND__POD_ID", "pod-7"),
        ("MIROIR_BACKGROUND__TICK_MS", "29"),
        ("MIROIR_BACKGROUND__PEER_TTL_MS", "30"),
        ("MIROIR_BACKGROUND__LEADER_LEASE_MS", "31"),
        ("MIROIR_BACKGROUND__JOB_LEASE_MS", "32"),
        ("MIROIR_BACKGROUND__ORPHAN_TASK_AFTER_S", "33"),
    ];
    let expected = Config {
        master_key: Secret::new("mk"),
        node_master_key: Secret::new("nmk"),
        shards: 8,
        replication_factor: 1,
        task_store: TaskStoreConfig {
            backend: TaskStoreBackend::Redis,
            path: "/tmp/unused.db".to_owned(),
            url: "redis://cache:6379/0".to_owned(),
        },
        admin: AdminConfig {
            enabled: false,
            api_key: Secret::new("ak"),
            max_body_bytes: 1024,
        },
        admin_ui: AdminUiConfig { session_ttl_s: 900 },
        replica_groups: 2,
        nodes: vec![
            NodeConfig {
                id: "n0".to_owned(),
                address: "http://n0:7700".to_owned(),
                replica_group: 0,
            },
            NodeConfig {
                id: "n1".to_owned(),
                address: "http://n1:7700".to_owned(),
                replica_group: 1,
            },
        ],
        health: HealthConfig {
            interval_ms: 11,
            timeout_ms: 12,
            unhealthy_threshold: 13,
            recovery_threshold: 14,
        },
        scatter: ScatterConfig {
            node_timeout_ms: 15,
            retry_on_timeout: false,
            unavailable_shard_policy: UnavailableShardPolicy::Error,
            max_multi_search_queries: 7,
        },
        rebalancer: RebalancerConfig {
            auto_rebalance_on_recovery: false,
            max_concurrent_migrations: 16,
            migration_timeout_s: 17,
        },
        server: ServerConfig {
            port: 18,
            bind: "0.0.0.0".to_owned(),
            max_body_bytes: 19,
            trusted_proxies: TrustedProxies::new(vec![
                "10.0.0.0/8".parse().unwrap(),
                "192.168.1.7/32".parse().unwrap(),
                "fd00::/8".parse().unwrap(),
            ]),
            header_read_timeout_ms: 34,
            request_timeout_ms: 35,
            max_connections: 36,
        },
        aliases: AliasesConfig {
            enabled: false,
            history_retention: 20,
            require_target_exists: false,
        },
        canary_runner: CanaryRunnerConfig {
            enabled: false,
            max_concurrent_canaries: 21,
            run_history_per_canary: 22,
            emit_results_to_cdc: false,
        },
        idempotency: IdempotencyConfig {
            enabled: false,
            ttl_seconds: 23,
        },
        session_pinning: SessionPinningConfig {
            enabled: false,
            ttl_seconds: 24,
            wait_strategy: WaitStrategy::RoutePin,
            max_wait_ms: 25,
        },
        task_registry: TaskRegistryConfig {
            ttl_seconds: 26,
            max_tasks: 27,
            prune_batch: 28,
        },
        background: BackgroundConfig {
            enabled: false,
            pod_id: "pod-7".to_owned(),
            tick_ms: 29,
            peer_ttl_ms: 30,
            leader_lease_ms: 31,
            job_lease_ms: 32,
            orphan_task_after_s: 33,
        },
    };
    (vars, expected)
}

#[test]
fn trusted_proxies_are_networks_or_addresses() {
    let config = Config::from_yaml(
        "miroir:\n  server:\n    trusted_proxies: ['10.1.2.3/8', '::ffff:0:0/96', '2001:db8::1']\n",
        &no_env(),
    )
    .unwrap();
    let proxies = &config.server.trusted_proxies;
    assert!(
        proxies.contains("10.200.0.1".parse().unwrap()),
        "host bits are dropped"
    );
    assert!(!proxies.contains("11.0.0.1".parse().unwrap()));
    assert!(proxies.contains("2001:db8::1".parse().unwrap()));
    assert!(!proxies.contains("2001:db8::2".parse().unwrap()));
    assert!(
        proxies.contains("::ffff:10.0.0.9".parse().unwrap()),
        "IPv4-mapped addresses are compared as IPv4"
    );
    assert!(Config::default().server.trusted_proxies.is_empty());
    let error = error_of(
        "miroir:\n  server:\n    trusted_proxies: ['10.0.0.0/33']\n",
        &[],
    );
    assert!(error.contains("miroir.server.trusted_proxies"), "{error}");
    assert!(
        error.contains("`10.0.0.0/33` is not a CIDR block"),
        "{error}"
    );
}

#[test]
fn the_admin_credential_is_the_admin_key_else_the_master_key() {
    let mut config = Config::default();
    assert!(config.admin_credential().is_empty());
    config.master_key = Secret::new("mk");
    assert_eq!(config.admin_credential().expose(), "mk");
    config.admin.api_key = Secret::new("ak");
    assert_eq!(config.admin_credential().expose(), "ak");
}

#[test]
fn every_key_path_is_overridden_by_its_variable() {
    let (vars, expected) = every_leaf_override();
    // Over the embedded default and over a file that sets every key otherwise.
    assert_eq!(Config::load(None, &env(&vars)).unwrap(), expected);
    assert_eq!(
        Config::from_yaml(PLAN_EXAMPLE, &env(&vars)).unwrap(),
        expected
    );
}

#[test]
fn the_override_test_covers_every_leaf_key() {
    fn leaves(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Mapping(mapping) => {
                for (key, child) in mapping {
                    let name = key.as_str().unwrap().to_ascii_uppercase();
                    leaves(&format!("{prefix}__{name}"), child, out);
                }
            }
            // A list of records (nodes) has a template entry; a list of scalars is one leaf.
            Value::Sequence(entries) if !entries.is_empty() => {
                leaves(&format!("{prefix}__0"), &entries[0], out)
            }
            _ => out.push(prefix.replacen("__", "_", 1)),
        }
    }
    let mut names = Vec::new();
    leaves("MIROIR", &schema().unwrap(), &mut names);
    let (vars, _) = every_leaf_override();
    for name in names {
        assert!(
            vars.iter().any(|(var, _)| *var == name),
            "{name} has no override test"
        );
    }
}

#[test]
fn aliases_set_their_keys() {
    let config = Config::load(
        None,
        &env(&[
            ("MIROIR_ADMIN_API_KEY", "admin-secret"),
            ("MIROIR_TASK_STORE_URL", "redis://:pw@cache:6379/1"),
            ("MIROIR_HTTP_ADDR", "0.0.0.0:8080"),
        ]),
    )
    .unwrap();
    assert_eq!(config.admin.api_key.expose(), "admin-secret");
    assert_eq!(
        config.task_store.backend,
        TaskStoreBackend::Redis,
        "backend follows the url"
    );
    assert_eq!(config.task_store_url(), "redis://:pw@cache:6379/1");
    assert_eq!(config.server.bind, "0.0.0.0");
    assert_eq!(config.server.port, 8080);

    let sqlite = Config::from_yaml(
        "miroir:\n  task_store: {backend: redis, url: 'redis://x'}\n",
        &env(&[("MIROIR_TASK_STORE_URL", "sqlite:///var/lib/miroir.db")]),
    )
    .unwrap();
    assert_eq!(sqlite.task_store.backend, TaskStoreBackend::Sqlite);
    assert_eq!(sqlite.task_store_url(), "sqlite:///var/lib/miroir.db");

    for (addr, bind, port) in [
        ("[::1]:7701", "::1", 7701),
        ("localhost:80", "localhost", 80),
    ] {
        let config = Config::load(None, &env(&[("MIROIR_HTTP_ADDR", addr)])).unwrap();
        assert_eq!(
            (config.server.bind.as_str(), config.server.port),
            (bind, port)
        );
    }
}

#[test]
fn string_keys_take_the_value_verbatim() {
    let config = Config::load(
        None,
        &env(&[
            ("MIROIR_MASTER_KEY", "12345"),
            ("MIROIR_NODE_MASTER_KEY", "a: b # not yaml"),
            ("MIROIR_ADMIN__API_KEY", "[x]"),
        ]),
    )
    .unwrap();
    assert_eq!(config.master_key.expose(), "12345");
    assert_eq!(config.node_master_key.expose(), "a: b # not yaml");
    assert_eq!(config.admin.api_key.expose(), "[x]");
}

#[test]
fn variables_override_the_file() {
    let config = Config::from_yaml(
        TWO_GROUPS,
        &env(&[
            ("MIROIR_NODES__3__ADDRESS", "http://d2:7700"),
            ("MIROIR_SHARDS", "4"),
        ]),
    )
    .unwrap();
    assert_eq!(config.shards, 4);
    assert_eq!(config.nodes[3].address, "http://d2:7700");
    assert_eq!(config.nodes[3].id, "d", "the other keys of the entry stay");
    assert_eq!(config.nodes.len(), 4);
}

#[test]
fn empty_and_foreign_variables_are_ignored() {
    let config = Config::load(
        None,
        &env(&[
            ("MIROIR_SHARDS", ""),
            ("MIROIR_HTTP_ADDR", ""),
            ("MIROIR_CONFIG", "/nowhere.yaml"),
            ("MIROIR_TEST_REDIS", "local"),
            ("MIROIR_", "x"),
            ("OTHER_SHARDS", "3"),
        ]),
    )
    .unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn conflicting_variables_are_refused() {
    assert_eq!(
        error_of(
            "",
            &[
                ("MIROIR_ADMIN_API_KEY", "a"),
                ("MIROIR_ADMIN__API_KEY", "b")
            ]
        ),
        "MIROIR_ADMIN__API_KEY: sets miroir.admin.api_key like MIROIR_ADMIN_API_KEY does, to another value; set only one"
    );
    assert_eq!(
        error_of(
            "",
            &[
                ("MIROIR_HTTP_ADDR", "0.0.0.0:1"),
                ("MIROIR_SERVER__PORT", "2")
            ]
        ),
        "MIROIR_SERVER__PORT: sets miroir.server.port like MIROIR_HTTP_ADDR does, to another value; set only one"
    );
    // The same value twice is fine.
    let config = Config::load(
        None,
        &env(&[
            ("MIROIR_ADMIN_API_KEY", "a"),
            ("MIROIR_ADMIN__API_KEY", "a"),
        ]),
    )
    .unwrap();
    assert_eq!(config.admin.api_key.expose(), "a");
    // An explicit backend wins over the one implied by MIROIR_TASK_STORE_URL.
    assert_eq!(
        error_of(
            "",
            &[
                ("MIROIR_TASK_STORE__BACKEND", "sqlite"),
                ("MIROIR_TASK_STORE_URL", "redis://cache")
            ]
        ),
        "miroir.task_store.url: a redis url does not match task_store.backend sqlite (set by MIROIR_TASK_STORE_URL)"
    );
}

#[test]
fn bad_variables_name_the_variable() {
    let cases: [(Vars<'_>, &str); 8] = [
        (
            &[("MIROIR_HTTP_ADDR", "7700")],
            "MIROIR_HTTP_ADDR: expected host:port (e.g. 127.0.0.1:7700), got `7700`",
        ),
        (
            &[("MIROIR_SHARDS__X", "1")],
            "MIROIR_SHARDS__X: miroir.shards is a value, not a section",
        ),
        (
            &[("MIROIR_NODES__5__ID", "x")],
            "MIROIR_NODES__5__ID: miroir.nodes has 0 entries: index 5 would leave a gap",
        ),
        (
            &[("MIROIR_NODES__FIRST__ID", "x")],
            "MIROIR_NODES__FIRST__ID: miroir.nodes is a list: expected an entry index, got `first`",
        ),
        (
            &[("MIROIR_SHARDS", "abc")],
            "miroir.shards: invalid type: string \"abc\", expected u32 (set by MIROIR_SHARDS)",
        ),
        (
            &[("MIROIR_SHARDS", "0")],
            "miroir.shards: must be at least 1 (set by MIROIR_SHARDS)",
        ),
        (
            &[("MIROIR_HEALTH__INTERVAL", "1")],
            "miroir.health.interval: unknown key (expected one of `interval_ms`, `timeout_ms`, `unhealthy_threshold`, `recovery_threshold`) (set by MIROIR_HEALTH__INTERVAL)",
        ),
        (
            &[("MIROIR_NODES", r#"[{"id": "a", "address": "ftp://a"}]"#)],
            "miroir.nodes[0].address: `ftp://a` must start with http:// or https:// (set by MIROIR_NODES)",
        ),
    ];
    for (vars, expected) in cases {
        assert_eq!(error_of("", vars), expected);
    }
    let message = error_of("", &[("MIROIR_NODES", "[{id: a")]);
    assert!(
        message.starts_with("MIROIR_NODES: not a valid yaml value: "),
        "{message}"
    );
}

// ---------------------------------------------------------------- validation

#[test]
fn every_validation_error_names_key_and_reason() {
    let cases: &[(&str, Vars<'_>, &str)] = &[
        (
            "",
            &[("MIROIR_SHARDS", "0")],
            "miroir.shards: must be at least 1",
        ),
        (
            "miroir: {replication_factor: 0}",
            &[],
            "miroir.replication_factor: must be at least 1",
        ),
        (
            "miroir: {replica_groups: 0}",
            &[],
            "miroir.replica_groups: must be at least 1",
        ),
        (
            "miroir:\n  replica_groups: 2\n  replication_factor: 1\n  nodes:\n  - {id: a, address: 'http://a', replica_group: 0}\n  - {id: b, address: 'http://b', replica_group: 1}\n  - {id: c, address: 'http://c', replica_group: 3}\n",
            &[],
            "miroir.nodes[2].replica_group: 3 is not below replica_groups (2)",
        ),
        (
            TWO_GROUPS,
            &[("MIROIR_REPLICATION_FACTOR", "3")],
            "miroir.replication_factor: 3 exceeds the 2 nodes of group 0",
        ),
        (
            "miroir:\n  replica_groups: 2\n  nodes:\n  - {id: a, address: 'http://a'}\n  - {id: b, address: 'http://b'}\n  - {id: c, address: 'http://c', replica_group: 1}\n",
            &[],
            "miroir.replication_factor: 2 exceeds the 1 node of group 1",
        ),
        (
            "miroir:\n  replica_groups: 2\n  replication_factor: 1\n  nodes:\n  - {id: a, address: 'http://a'}\n",
            &[],
            "miroir.replication_factor: 1 exceeds the 0 nodes of group 1",
        ),
        (
            "miroir:\n  nodes:\n  - {id: a, address: 'http://a'}\n  - {id: a, address: 'http://b'}\n",
            &[],
            "miroir.nodes[1].id: `a` is already the id of nodes[0]",
        ),
        (
            "miroir:\n  nodes:\n  - {id: a, address: 'http://a:7700'}\n  - {id: b, address: 'http://a:7700/'}\n",
            &[],
            "miroir.nodes[1].address: `http://a:7700/` is already the address of nodes[0]",
        ),
        (
            "miroir:\n  nodes:\n  - {id: '', address: 'http://a'}\n",
            &[],
            "miroir.nodes[0].id: must not be empty",
        ),
        (
            "miroir:\n  nodes:\n  - {id: 'a b', address: 'http://a'}\n",
            &[],
            "miroir.nodes[0].id: `a b` must not contain spaces or control characters",
        ),
        (
            "miroir:\n  nodes:\n  - {id: a, address: 'meili-0:7700'}\n",
            &[],
            "miroir.nodes[0].address: `meili-0:7700` must start with http:// or https://",
        ),
        (
            "miroir:\n  nodes:\n  - {id: a, address: 'not a url'}\n",
            &[],
            "miroir.nodes[0].address: `not a url` is not a url: relative URL without a base",
        ),
        (
            "miroir:\n  nodes:\n  - {id: a, address: 'http://user:pw@a:7700'}\n",
            &[],
            "miroir.nodes[0].address: `http://user:***@a:7700/` must not carry credentials; Miroir sends node_master_key",
        ),
        (
            "miroir:\n  nodes:\n  - {id: a, address: 'http://a:7700?x=1'}\n",
            &[],
            "miroir.nodes[0].address: `http://a:7700?x=1` must not have a query or fragment",
        ),
        (
            "miroir: {task_store: {backend: redis}}",
            &[],
            "miroir.task_store.backend: redis requires task_store.url",
        ),
        (
            "miroir: {task_store: {url: 'postgres://db/x'}}",
            &[],
            "miroir.task_store.url: invalid task store url `postgres://db/x`: unknown scheme `postgres`; expected sqlite or redis",
        ),
        (
            "miroir: {task_store: {backend: redis, url: 'redis://:hunter2@cache/x'}}",
            &[],
            "miroir.task_store.url: invalid task store url `redis://:***@cache/x`: database must be a number, got `x`",
        ),
        (
            "miroir: {task_store: {url: 'redis://cache'}}",
            &[],
            "miroir.task_store.url: a redis url does not match task_store.backend sqlite",
        ),
        (
            "miroir: {task_store: {path: ''}}",
            &[],
            "miroir.task_store.path: must not be empty (or set task_store.url)",
        ),
        (
            "miroir: {task_store: {path: 'a?b.db'}}",
            &[],
            "miroir.task_store.path: must not contain `?`",
        ),
        (
            "miroir: {health: {interval_ms: 0}}",
            &[],
            "miroir.health.interval_ms: must be at least 1",
        ),
        (
            "miroir: {health: {timeout_ms: 0}}",
            &[],
            "miroir.health.timeout_ms: must be at least 1",
        ),
        (
            "miroir: {health: {unhealthy_threshold: 0}}",
            &[],
            "miroir.health.unhealthy_threshold: must be at least 1",
        ),
        (
            "miroir: {health: {recovery_threshold: 0}}",
            &[],
            "miroir.health.recovery_threshold: must be at least 1",
        ),
        (
            "miroir: {admin_ui: {session_ttl_s: 0}}",
            &[],
            "miroir.admin_ui.session_ttl_s: 0 is not between 1 and 2592000 seconds (30 days)",
        ),
        (
            "",
            &[("MIROIR_ADMIN_UI__SESSION_TTL_S", "2592001")],
            "miroir.admin_ui.session_ttl_s: 2592001 is not between 1 and 2592000 seconds (30 days)",
        ),
        (
            "miroir: {aliases: {history_retention: 1001}}",
            &[],
            "miroir.aliases.history_retention: 1001 is more than 1000",
        ),
        (
            "miroir: {canary_runner: {max_concurrent_canaries: 0}}",
            &[],
            "miroir.canary_runner.max_concurrent_canaries: must be at least 1",
        ),
        (
            "miroir: {canary_runner: {run_history_per_canary: 0}}",
            &[],
            "miroir.canary_runner.run_history_per_canary: 0 is not between 1 and 10000",
        ),
        (
            "",
            &[("MIROIR_CANARY_RUNNER__RUN_HISTORY_PER_CANARY", "10001")],
            "miroir.canary_runner.run_history_per_canary: 10001 is not between 1 and 10000",
        ),
        (
            "miroir: {scatter: {node_timeout_ms: 0}}",
            &[],
            "miroir.scatter.node_timeout_ms: must be at least 1",
        ),
        (
            "",
            &[("MIROIR_SCATTER__MAX_MULTI_SEARCH_QUERIES", "0")],
            "miroir.scatter.max_multi_search_queries: must be at least 1",
        ),
        (
            "miroir: {rebalancer: {max_concurrent_migrations: 0}}",
            &[],
            "miroir.rebalancer.max_concurrent_migrations: must be at least 1",
        ),
        (
            "miroir: {rebalancer: {migration_timeout_s: 0}}",
            &[],
            "miroir.rebalancer.migration_timeout_s: must be at least 1",
        ),
        (
            "miroir: {server: {bind: 'my host'}}",
            &[],
            "miroir.server.bind: `my host` is not an ip address or host name",
        ),
        (
            "miroir: {server: {max_body_bytes: 0}}",
            &[],
            "miroir.server.max_body_bytes: must be at least 1",
        ),
    ];
    for (text, vars, expected) in cases {
        let message = error_of(text, vars);
        let message = message.split(" (set by").next().unwrap_or_default();
        assert_eq!(message, *expected, "for {text:?} {vars:?}");
    }
}

#[test]
fn valid_topologies_pass() {
    assert!(Config::from_yaml(TWO_GROUPS, &no_env()).is_ok());
    let config = Config::from_yaml(
        "miroir: {task_store: {url: 'sqlite:///abs/tasks.db?synchronous=full'}}",
        &no_env(),
    )
    .unwrap();
    assert_eq!(
        config.task_store_url(),
        "sqlite:///abs/tasks.db?synchronous=full"
    );
    // No nodes at all is the embedded default: nodes are added at run time.
    assert!(
        Config::from_yaml(
            "miroir: {replication_factor: 5, replica_groups: 3}",
            &no_env()
        )
        .is_ok()
    );
}

// ---------------------------------------------------------------- secrets

#[test]
fn debug_redacts_every_secret() {
    let config = Config::from_yaml(
        "miroir:\n  master_key: mk-SECRET-1\n  node_master_key: nmk-SECRET-2\n  admin: {api_key: ak-SECRET-3}\n  task_store: {backend: redis, url: 'redis://user:pw-SECRET-4@cache:6379/0'}\n",
        &no_env(),
    )
    .unwrap();
    let shown = format!("{config:?} {config:#?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("Secret(<redacted>)"), "{shown}");
    assert!(shown.contains("redis://user:***@cache:6379/0"), "{shown}");
}

#[test]
fn a_non_string_secret_is_refused_without_echo() {
    let message = error_of("miroir:\n  master_key: 918273645\n", &[]);
    assert!(
        message.starts_with("miroir.master_key: must be a string"),
        "{message}"
    );
    assert!(!message.contains("918273645"), "{message}");
}

#[test]
fn the_plan_aliases_section_parses() {
    // Plan §13.7 "Config", verbatim.
    let text = r#"
miroir:
  aliases:
    enabled: true
    history_retention: 10            # last N flips retained
    require_target_exists: true
"#;
    let config = Config::from_yaml(text, &no_env()).unwrap();
    assert_eq!(config.aliases, AliasesConfig::default());
    assert_eq!(config.aliases.history_retention, 10);
}

#[test]
fn the_plan_canary_runner_section_parses() {
    // Plan §13.18 "Config", verbatim.
    let text = r#"
miroir:
  canary_runner:
    enabled: true
    max_concurrent_canaries: 10
    run_history_per_canary: 100
    emit_results_to_cdc: true         # canary results published as CDC events
"#;
    let config = Config::from_yaml(text, &no_env()).unwrap();
    assert_eq!(config.canary_runner, CanaryRunnerConfig::default());
    assert_eq!(config.canary_runner.run_history_per_canary, 100);
}
