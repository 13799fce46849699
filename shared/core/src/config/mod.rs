//! Miroir's configuration: the plan §4 YAML schema, its defaults, environment overrides and
//! validation.
//!
//! # Where it comes from
//!
//! 1. A YAML file, from `--config FILE` or else `MIROIR_CONFIG` ([`config_file_path`]); its keys
//!    sit under a top-level `miroir:` key. Without a file, the embedded default
//!    ([`DEFAULT_CONFIG_YAML`]: SQLite at `./.miroir/tasks.db`, listening on 127.0.0.1:7700, no
//!    nodes). A file names only the keys it changes; every other key keeps its default, and so
//!    does a key or section left empty (`health:`). Unknown keys are refused, so a typo is
//!    reported rather than ignored.
//! 2. Environment overrides, one scheme for every key: `miroir.a.b_c` is set by `MIROIR_A__B_C`
//!    (double underscore between levels; list entries by index, `MIROIR_NODES__0__ADDRESS`).
//!    String keys take the value verbatim; other keys parse it as YAML, so numbers, booleans and
//!    whole lists (`MIROIR_NODES='[{id: meili-0, address: "http://meili-0:7700"}]'`) work. Aliases
//!    users' scripts rely on: `MIROIR_MASTER_KEY`, `MIROIR_NODE_MASTER_KEY`,
//!    `MIROIR_ADMIN_API_KEY` (`admin.api_key`), `MIROIR_TASK_STORE_URL` (`task_store.url`, and
//!    `task_store.backend` from its scheme), `MIROIR_HTTP_ADDR` (`host:port`: `server.bind` and
//!    `server.port`). An empty variable is ignored; two variables giving one key different values
//!    are refused.
//! 3. Validation ([`Config::validate`]): every error names the key path and the reason, e.g.
//!    `miroir.nodes[2].replica_group: 3 is not below replica_groups (2)`, plus the variable that
//!    set the key when one did.
//!
//! Secrets (`master_key`, `node_master_key`, `admin.api_key`) are [`Secret`]s: `Debug` redacts
//! them, and so it does a password in `task_store.url`.

mod env_source;
mod error;
mod overrides;
pub mod references;
mod secret;
mod sections;
mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

pub use env_source::{EnvSource, ProcessEnv};
pub use error::ConfigError;
pub use secret::Secret;
pub use sections::{
    AdminConfig, AdminUiConfig, AliasesConfig, BackgroundConfig, CanaryRunnerConfig, HealthConfig,
    IdempotencyConfig, NodeConfig, RebalancerConfig, ScatterConfig, ServerConfig,
    SessionPinningConfig, TaskRegistryConfig, TaskStoreBackend, TaskStoreConfig, TrustedProxies,
    UnavailableShardPolicy, WaitStrategy,
};

/// The embedded default configuration: every key with its default value, used when no file is
/// given. It is equal to `Config::default()` (checked by a test).
pub const DEFAULT_CONFIG_YAML: &str = include_str!("default.yaml");

/// The environment variable naming the config file when `--config` is not given.
pub const CONFIG_FILE_VAR: &str = "MIROIR_CONFIG";

/// The whole configuration: the keys under `miroir:` in plan §4's schema.
///
/// Every field has the default of [`DEFAULT_CONFIG_YAML`]; `Debug` redacts every secret.
/// A value built or changed in code should be checked with [`Config::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The client-facing API key (`MIROIR_MASTER_KEY`). Empty = none.
    pub master_key: Secret,
    /// The key Miroir presents to the nodes (`MIROIR_NODE_MASTER_KEY`). Empty = none.
    pub node_master_key: Secret,
    /// Number of shards documents are hashed into (default 64, at least 1).
    pub shards: u32,
    /// Copies of each shard inside each replica group (default 2, at least 1).
    pub replication_factor: u32,
    /// Where the state plane lives.
    pub task_store: TaskStoreConfig,
    /// The operator API.
    pub admin: AdminConfig,
    /// The admin UI's browser sessions.
    pub admin_ui: AdminUiConfig,
    /// Number of independent query pools, each holding every shard (default 1).
    pub replica_groups: u32,
    /// The Meilisearch nodes (default none: added at run time).
    pub nodes: Vec<NodeConfig>,
    /// Node health probing.
    pub health: HealthConfig,
    /// Request fan-out.
    pub scatter: ScatterConfig,
    /// Shard moves.
    pub rebalancer: RebalancerConfig,
    /// The HTTP listener.
    pub server: ServerConfig,
    /// Index aliases (plan §13.7).
    pub aliases: AliasesConfig,
    /// Synthetic canary queries (plan §13.18).
    pub canary_runner: CanaryRunnerConfig,
    /// `Idempotency-Key` on writes (plan §13.10).
    pub idempotency: IdempotencyConfig,
    /// Read-your-writes sessions (plan §13.6).
    pub session_pinning: SessionPinningConfig,
    /// Retention of the task registry.
    pub task_registry: TaskRegistryConfig,
    /// Background work (plan §14.5).
    pub background: BackgroundConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            master_key: Secret::default(),
            node_master_key: Secret::default(),
            shards: 64,
            replication_factor: 2,
            task_store: TaskStoreConfig::default(),
            admin: AdminConfig::default(),
            admin_ui: AdminUiConfig::default(),
            replica_groups: 1,
            nodes: Vec::new(),
            health: HealthConfig::default(),
            scatter: ScatterConfig::default(),
            rebalancer: RebalancerConfig::default(),
            server: ServerConfig::default(),
            aliases: AliasesConfig::default(),
            canary_runner: CanaryRunnerConfig::default(),
            idempotency: IdempotencyConfig::default(),
            session_pinning: SessionPinningConfig::default(),
            task_registry: TaskRegistryConfig::default(),
            background: BackgroundConfig::default(),
        }
    }
}

/// The file layout: everything under one `miroir:` key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    miroir: Config,
}

/// The config file to read: `cli_path` (`--config FILE`) if given, else `MIROIR_CONFIG` if set
/// and not empty, else none (the embedded default).
pub fn config_file_path(cli_path: Option<&Path>, env: &impl EnvSource) -> Option<PathBuf> {
    cli_path.map(Path::to_path_buf).or_else(|| {
        env.var(CONFIG_FILE_VAR)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    })
}

impl Config {
    /// Loads the file at `path` (or the embedded default when `None`), applies the environment
    /// overrides of `env` and validates the result.
    ///
    /// Errors name the file, the variable or the key path at fault, and the reason.
    pub fn load(path: Option<&Path>, env: &impl EnvSource) -> Result<Self, ConfigError> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                    path: path.to_path_buf(),
                    reason: error.to_string(),
                })?;
                Self::from_yaml_at(&text, path, env)
            }
            None => Self::from_yaml_at(DEFAULT_CONFIG_YAML, Path::new("<embedded default>"), env),
        }
    }

    /// [`Config::load`] for YAML text already in memory (syntax errors name it `<text>`).
    pub fn from_yaml(text: &str, env: &impl EnvSource) -> Result<Self, ConfigError> {
        Self::from_yaml_at(text, Path::new("<text>"), env)
    }

    fn from_yaml_at(text: &str, origin: &Path, env: &impl EnvSource) -> Result<Self, ConfigError> {
        let mut document: Value =
            serde_yaml_ng::from_str(text).map_err(|error| ConfigError::Syntax {
                path: origin.to_path_buf(),
                reason: error.to_string(),
            })?;
        let schema = schema()?;
        let section = miroir_section(&mut document)?;
        drop_empty_values(section, &schema);
        let origins = overrides::apply(section, &schema, env)?;
        let attribute = |error: ConfigError| match error {
            ConfigError::Invalid { key, reason, .. } => ConfigError::Invalid {
                origin: origins.var_for(&key).map(str::to_owned),
                key,
                reason,
            },
            other => other,
        };
        let file: ConfigFile = serde_path_to_error::deserialize(document)
            .map_err(|error| attribute(type_error(&error)))?;
        file.miroir.validate().map_err(attribute)?;
        Ok(file.miroir)
    }

    /// Checks values that parse but cannot work (zero counts, nodes in missing groups, groups
    /// smaller than the replication factor, duplicate node ids or addresses, bad addresses, a
    /// store URL that does not parse or does not match the backend, …).
    ///
    /// The error names the first bad key path and the reason.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::validate(self)
    }

    /// The credential of the operator API (`/_miroir/*`): `admin.api_key`, or, when it is
    /// empty, the master key — Meilisearch's rule that the master key is the root credential.
    /// Empty only when both are: then the operator API is open (warned at start).
    pub fn admin_credential(&self) -> &Secret {
        if self.admin.api_key.is_empty() {
            &self.master_key
        } else {
            &self.admin.api_key
        }
    }

    /// The one store URL: `task_store.url` when set, else `sqlite://<task_store.path>`.
    ///
    /// On a validated config it always parses with `miroir_store::StoreUrl::parse` (a `redis`
    /// backend without a URL does not validate; here it would give an empty string).
    pub fn task_store_url(&self) -> String {
        if !self.task_store.url.is_empty() {
            return self.task_store.url.clone();
        }
        match self.task_store.backend {
            TaskStoreBackend::Sqlite => format!("sqlite://{}", self.task_store.path),
            TaskStoreBackend::Redis => String::new(),
        }
    }
}

/// The embedded default's `miroir` section, with one template entry in each list, so overrides
/// know which keys exist and which are strings.
fn schema() -> Result<Value, ConfigError> {
    let embedded = || ConfigError::Syntax {
        path: PathBuf::from("<embedded default>"),
        reason: "the embedded default has no `miroir` mapping".to_owned(),
    };
    let document: Value =
        serde_yaml_ng::from_str(DEFAULT_CONFIG_YAML).map_err(|error| ConfigError::Syntax {
            path: PathBuf::from("<embedded default>"),
            reason: error.to_string(),
        })?;
    let mut section = document.get("miroir").cloned().ok_or_else(embedded)?;
    let node_template: Value = serde_yaml_ng::from_str("{id: '', address: '', replica_group: 0}")
        .map_err(|_| embedded())?;
    let nodes = section
        .as_mapping_mut()
        .ok_or_else(embedded)?
        .entry(Value::String("nodes".to_owned()))
        .or_insert(Value::Null);
    *nodes = Value::Sequence(vec![node_template]);
    Ok(section)
}

/// The value under the top-level `miroir` key (created when absent or empty).
fn miroir_section(document: &mut Value) -> Result<&mut Value, ConfigError> {
    if document.is_null() {
        *document = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(top) = document else {
        return Err(ConfigError::invalid(
            "(top level)",
            "must be a mapping with a `miroir:` key",
        ));
    };
    let section = top
        .entry(Value::String("miroir".to_owned()))
        .or_insert(Value::Null);
    if section.is_null() {
        *section = Value::Mapping(Mapping::new());
    }
    Ok(section)
}

/// Removes keys the file left empty (`health:`), so they keep their defaults. Unknown keys stay,
/// to be refused.
fn drop_empty_values(section: &mut Value, schema: &Value) {
    let (Value::Mapping(mapping), Value::Mapping(schema)) = (section, schema) else {
        return;
    };
    mapping.retain(|key, value| !(value.is_null() && schema.contains_key(key)));
    for (key, value) in mapping.iter_mut() {
        if let Some(schema_value) = schema.get(key) {
            drop_empty_values(value, schema_value);
        }
    }
}

/// A serde error as a key path and a reason.
fn type_error(error: &serde_path_to_error::Error<serde_yaml_ng::Error>) -> ConfigError {
    let path = error.path().to_string();
    let key = if path == "." {
        "(top level)".to_owned()
    } else {
        path
    };
    let reason = error.inner().to_string();
    // serde says "unknown field `x`, expected one of …"; the path already ends with `x`.
    let reason = match reason
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once("`, "))
    {
        Some((_, expected)) => format!("unknown key ({expected})"),
        None => reason,
    };
    ConfigError::invalid(key, reason)
}
