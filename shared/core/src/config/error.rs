//! [`ConfigError`]: why a configuration could not be loaded, naming the key and the reason.

use std::path::PathBuf;

/// Everything loading or validating a configuration can fail with.
///
/// Guarantees: messages are lowercase, name the file, environment variable or key path
/// (`miroir.nodes[2].replica_group`) at fault and why, and never contain a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The config file is not valid YAML.
    #[error("config file {path} is not valid yaml: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        reason: String,
    },
    /// An environment variable could not be applied (bad `host:port`, invalid YAML, a path through
    /// a value that is not a section, two variables setting one key).
    #[error("{var}: {reason}")]
    Env {
        /// The variable, e.g. `MIROIR_HTTP_ADDR`.
        var: String,
        /// Why it was refused.
        reason: String,
    },
    /// A key has a wrong type, is unknown, or fails validation.
    #[error("{key}: {reason}{}", origin.as_ref().map(|var| format!(" (set by {var})")).unwrap_or_default())]
    Invalid {
        /// Full key path, e.g. `miroir.shards` or `miroir.nodes[2].replica_group`.
        key: String,
        /// Why the value is refused, e.g. `must be at least 1`.
        reason: String,
        /// The environment variable that set the key, when one did.
        origin: Option<String>,
    },
}

impl ConfigError {
    /// A validation failure of `key`, not (yet) attributed to an environment variable.
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
            origin: None,
        }
    }
}
