//! [`Failure`]: a non-zero exit with the one-line message printed on stderr.

use std::fmt;

use miroir_core::ConfigError;
use miroir_store::StoreError;

use miroir_core::Exit;

/// Why a subcommand did not exit 0. The message carries no secret (store URLs are redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit code the command line ends with ([`Exit::Ahead`] for a store ahead of this
    /// binary, [`Exit::Unavailable`] for a store that did not answer, …).
    pub exit: Exit,
    /// One line saying what failed (both versions for a store at another version).
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        let exit = match error {
            StoreError::SchemaAhead { .. } => Exit::Ahead,
            StoreError::SchemaBehind { .. } => Exit::Behind,
            StoreError::Unavailable(_) => Exit::Unavailable,
            _ => Exit::Failed,
        };
        Self {
            exit,
            message: error.to_string(),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        let message = match error {
            ConfigError::Invalid { .. } => format!("invalid configuration: {error}"),
            other => other.to_string(),
        };
        Self {
            exit: Exit::Failed,
            message,
        }
    }
}
