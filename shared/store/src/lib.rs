//! `miroir-store`: Miroir's state plane — the durable task registry and the 16 tables of
//! orchestrator state (the 14 of plan §4, the per-index state records and the API keys) behind
//! one async API, on two interchangeable backends:
//!
//! - [`SqliteStore`] (feature `sqlite`): embedded, for a single Miroir replica;
//! - [`RedisStore`] (feature `redis`): shared by any number of replicas and Lambda functions.
//!
//! Pick one at runtime with [`open`] and a URL (`sqlite:///abs/path.db`, `sqlite://rel/path.db`,
//! `redis://host:port/db`, `rediss://…`). Every operation is a method of one of the per-table
//! traits that [`Store`] combines; both backends pass the same conformance suite
//! (`tests/conformance/`), so code written against `dyn Store` behaves the same on either.
//!
//! Only this crate knows SQL and Redis commands. Opening a store never migrates it: the migration
//! job calls [`SchemaStore::migrate`], handlers call [`check_schema_version`].
#![doc = include_str!("../STORE.md")]

#[macro_use]
mod macros;

pub mod admin_sessions;
pub mod aliases;
pub mod api_keys;
pub mod canaries;
pub mod cdc;
pub mod copy;
pub mod error;
pub mod idempotency;
pub mod indexes;
pub mod jobs;
pub mod leases;
pub mod maintenance;
pub mod node_settings;
pub mod observed;
pub mod rate_limits;
pub mod rollover;
pub mod schema;
pub mod search_ui;
pub mod sessions;
pub mod store_url;
pub mod tasks;
pub mod tenants;
pub mod time;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;

pub use admin_sessions::{AdminSession, AdminSessionStore, RevocationEvent, RevocationStream};
pub use aliases::{Alias, AliasHistoryEntry, AliasStore, AliasTarget};
pub use api_keys::{ApiKeyPage, ApiKeyRecord, ApiKeyStore, DEFAULT_API_KEYS, DefaultApiKey};
pub use canaries::{Canary, CanaryRun, CanaryRunStatus, CanaryStore};
pub use cdc::{CdcCursor, CdcOverflowStats, CdcStore};
pub use copy::{CopyDigest, CopyPage, CopyRow, CopyStore, CopyTable};
pub use error::{StoreError, StoreResult};
pub use idempotency::{IdempotencyInsert, IdempotencyRecord, IdempotencyStore};
pub use indexes::{IndexRecord, IndexState, IndexStore};
pub use jobs::{
    JOB_LIST_SCAN, Job, JobClaim, JobKind, JobPage, JobQuery, JobState, JobStore, NewJob,
};
pub use leases::{Fence, Lease, LeaseStore};
pub use maintenance::{MaintenanceStore, PruneReport};
pub use node_settings::{NodeSettingsStore, NodeSettingsVersion};
pub use observed::{ObservedStore, Outcome, StoreObserver};
pub use rate_limits::{BackoffPolicy, LoginBackoff, RateLimitBucket, RateLimitHit, RateLimitStore};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use rollover::{RolloverPolicy, RolloverStore};
pub use schema::{
    MigrationReport, SCHEMA_VERSION, SchemaStore, check_schema_version, pending_steps,
};
pub use search_ui::{ScopedKeyObservation, ScopedKeyState, SearchUiConfig, SearchUiStore};
pub use sessions::{Session, SessionStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use store_url::{SqliteLocation, SqliteSync, StoreUrl};
pub use tasks::{
    NewTask, NodeTaskMap, Task, TaskError, TaskKind, TaskPage, TaskQuery, TaskStatus, TaskStore,
    TaskUid, TaskUpdate, TimeRange,
};
pub use tenants::{TenantMapping, TenantStore};
pub use time::Timestamp;

/// Which backend a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// Redis.
    Redis,
}

/// The whole store API: every table's operations, on either backend.
///
/// Methods of every table trait can be called on a `dyn Store` (or a `S: Store`) directly.
pub trait Store:
    SchemaStore
    + TaskStore
    + NodeSettingsStore
    + AliasStore
    + SessionStore
    + IdempotencyStore
    + JobStore
    + LeaseStore
    + CanaryStore
    + CdcStore
    + TenantStore
    + IndexStore
    + ApiKeyStore
    + RolloverStore
    + SearchUiStore
    + AdminSessionStore
    + RateLimitStore
    + MaintenanceStore
    + CopyStore
    + std::fmt::Debug
    + Send
    + Sync
{
    /// The backend behind this store.
    fn backend(&self) -> Backend;
}

/// A shared handle to some store.
pub type DynStore = Arc<dyn Store>;

/// When [`open_url`] connects to a network store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Connect {
    /// Connect before returning: a server that does not answer is `Unavailable` now. What a job
    /// (`miroir-migrate`) wants.
    #[default]
    Now,
    /// Return at once and connect on the first call: until the server answers, every call is
    /// `Unavailable` within the URL's timeout, and a later call connects when it is back. What a
    /// server wants, so that it starts (and reports 503) during a Redis outage. SQLite files are
    /// local and always opened now.
    OnFirstUse,
}

/// Opens the store a URL names, without migrating it.
///
/// SQLite files are created when missing (empty, version 0); a file that is not a Miroir store is
/// refused with `NotAMiroirStore`. Redis is connected within the URL's timeout or `Unavailable`.
pub async fn open(url: &str) -> StoreResult<DynStore> {
    open_url(&StoreUrl::parse(url)?, Connect::Now).await
}

/// [`open`] for an already parsed URL, connecting as `connect` says.
pub async fn open_url(url: &StoreUrl, connect: Connect) -> StoreResult<DynStore> {
    match url {
        #[cfg(feature = "sqlite")]
        StoreUrl::Sqlite {
            location,
            synchronous,
            busy_timeout,
        } => Ok(Arc::new(
            SqliteStore::open(location.clone(), *synchronous, *busy_timeout).await?,
        )),
        #[cfg(feature = "redis")]
        StoreUrl::Redis {
            connection_url,
            timeout,
            key_prefix,
        } => Ok(Arc::new(match connect {
            Connect::Now => RedisStore::connect(connection_url, *timeout, key_prefix).await?,
            Connect::OnFirstUse => {
                RedisStore::connect_lazily(connection_url, *timeout, key_prefix)?
            }
        })),
        #[cfg(feature = "redis")]
        StoreUrl::RedisCluster {
            node_urls,
            timeout,
            key_prefix,
        } => Ok(Arc::new(match connect {
            Connect::Now => RedisStore::connect_cluster(node_urls, *timeout, key_prefix).await?,
            Connect::OnFirstUse => {
                RedisStore::connect_cluster_lazily(node_urls, *timeout, key_prefix)?
            }
        })),
        #[allow(unreachable_patterns)]
        other => Err(StoreError::InvalidUrl {
            url: other.to_string(),
            reason: "this build does not include that backend".to_owned(),
        }),
    }
}
