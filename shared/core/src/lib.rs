//! `miroir-core`: what every Miroir handler and job shares above the store.
//!
//! - [`config`]: the plan §4 configuration with its defaults, environment overrides and
//!   validation;
//! - [`errors`]: the one table of error codes and the Meilisearch error shape;
//! - [`IndexUid`]: an index uid checked against Meilisearch's rule (never a dot segment);
//! - [`jobs`]: the index uid rule and the parameters of each background job type;
//! - [`routing`]: shard of a primary key, rendezvous placement, write targets, covering sets;
//! - [`cluster`]: the fleet for the data path: parallel fan-out and the write quorum;
//! - [`documents`]: document ids and the per-node batches of a document write;
//! - [`node`]: the pooled client Miroir talks to Meilisearch nodes with, and [`node::node_path`]
//!   (the one way a node path is built from segments);
//! - [`merge`]: one search response from a covering set's answers; [`facet_hits`]: one facet
//!   search's values from theirs; [`reserved`]: the settings Miroir keeps on every index of the
//!   nodes (`_miroir_shard` filterable, its ranking rule) and how a facet search of it is answered;
//! - [`aggregate`]: a Miroir task's status from its node tasks; [`refresh`]: polling and
//!   persisting it;
//! - [`marker`]: the per-task `customMetadata` marker on node writes; [`reconcile`]: finding
//!   a task's node tasks by it when its writer died before recording them;
//! - [`Exit`]: the process exit codes.

pub mod aggregate;
pub mod catalog;
pub mod cluster;
pub mod config;
pub mod documents;
pub mod errors;
mod exit;
pub mod facet_hits;
pub mod index_uid;
pub mod jobs;
pub mod keys;
pub mod marker;
pub mod merge;
pub mod node;
pub mod reconcile;
pub mod refresh;
pub mod reserved;
pub mod routing;

pub use config::{Config, ConfigError, EnvSource, ProcessEnv};
pub use errors::{ApiError, Code, ErrorType};
pub use exit::Exit;
pub use index_uid::IndexUid;
