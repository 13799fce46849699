//! `miroir-core`: what every Miroir handler and job shares above the store.
//!
//! Today: [`config`], the plan §4 configuration with its defaults, environment overrides and
//! validation; [`errors`], the one table of error codes and the Meilisearch error shape. Auth and
//! routing come next.

pub mod config;
pub mod errors;

pub use config::{Config, ConfigError, EnvSource, ProcessEnv};
pub use errors::{ApiError, Code, ErrorType};
