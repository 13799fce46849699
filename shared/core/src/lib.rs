//! `miroir-core`: what every Miroir handler and job shares above the store.
//!
//! Today: [`config`], the plan §4 configuration with its defaults, environment overrides and
//! validation; [`errors`], the one table of error codes and the Meilisearch error shape;
//! [`Exit`], the process exit codes. Routing and the node client come with the data path.

pub mod config;
pub mod errors;
mod exit;

pub use config::{Config, ConfigError, EnvSource, ProcessEnv};
pub use errors::{ApiError, Code, ErrorType};
pub use exit::Exit;
