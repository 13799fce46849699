//! [`Failure`]: a non-zero exit with the one-line message printed on stderr.

use miroir_core::ConfigError;
use miroir_store::StoreError;

use miroir_core::Exit;

/// Why a subcommand did not exit 0. The message carries no secret (store URLs are redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

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
