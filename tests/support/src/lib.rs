//! `miroir-test-support`: Miroir's test kit — a real Redis server for tests, and helpers to run
//! Miroir's binaries as processes ([`process`]).
//! [`meilisearch`]: a Meilisearch-compatible in-memory test node (`TestNode`) with faults.
//! [`route_kit`]: the shared harness of the handler crates' `tests/routes.rs`.
//! [`real_meilisearch`]: a real Meilisearch server as a child process.
//!
//! # Which server to use
//!
//! - [`shared_redis`]: one server per test process, started on first use and killed when the
//!   process exits (even if it is killed). Use it for every test that only needs *a* Redis: give
//!   each test its own key prefix (`redis://…/0?prefix=<unique>`, see [`unique_prefix`] and
//!   [`RedisServer::store_url`]) so tests running in parallel never see each other's keys. Never
//!   stop, restart or flush it.
//! - [`RedisServer::start`] / [`RedisServer::start_with`]: a private server owned by the test. Use
//!   it when the test stops, kills or restarts the server (outage and recovery, persistence), or
//!   needs non-default configuration ([`RedisOptions`]: append-only file, fsync policy, extra
//!   directives). It is killed when the value is dropped.
//! - [`shared_redis_cluster`]: one real 3-master Redis Cluster per test process, for code that
//!   must work against Redis Cluster (`redis+cluster://…` store URLs, keys spread over masters).
//!   Isolate tests by key prefix exactly as with [`shared_redis`] ([`RedisCluster::store_url`]);
//!   never stop or flush it. [`RedisCluster::count_keys_per_node`] and [`key_slot`] show where
//!   keys landed.
//! - [`RedisCluster::start`]: a private cluster (any number of masters from 3), killed when
//!   dropped.
//!
//! # Where the server comes from
//!
//! If a Docker engine answers (`docker info` exits 0 within a few seconds; a `docker` client alone
//! is not enough), the server runs in a `redis` container started with testcontainers. Otherwise
//! the local `redis-server` binary (Debian package `redis-server`) is spawned on a free loopback
//! port with its data directory in a temporary directory. Set `MIROIR_TEST_REDIS=local` or
//! `MIROIR_TEST_REDIS=docker` to force one of them, and `MIROIR_REDIS_SERVER=/path/to/redis-server`
//! to pick the binary. If neither is available, starting fails with a [`HarnessError`] saying what
//! to install.
//!
//! A Redis Cluster always runs local `redis-server` processes in cluster mode (each on a free
//! loopback port with its cluster bus on a second one), joined by `redis-cli --cluster create`
//! (Debian package `redis-tools`), whatever `MIROIR_TEST_REDIS` says: Docker is never used for
//! it, because nodes in containers would announce their container addresses in `CLUSTER SLOTS`
//! and `MOVED` redirects, which clients on the host cannot reach.
//!
//! The kit talks to the server over plain TCP with a tiny RESP client ([`RedisServer::command`]);
//! it does not depend on the `redis` crate.

mod cluster;
mod docker;
mod local;
pub mod meilisearch;
pub mod process;
pub mod real_meilisearch;
mod resp;
pub mod route_kit;
mod server;
mod watchdog;

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub use cluster::{RedisCluster, key_slot};
pub use resp::Reply;
pub use server::{Appendfsync, RedisOptions, RedisServer};

/// Why the kit could not start, stop or talk to a Redis server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessError {
    message: String,
}

impl HarnessError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// What went wrong, in one or a few lines.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for HarnessError {}

/// The Redis server shared by every test of this process, started on first call.
///
/// It is never stopped by the kit while the process lives and is killed when the process exits
/// (a watchdog child notices that the process is gone). Isolate tests with a unique key prefix.
///
/// # Panics
///
/// Panics with the [`HarnessError`] message if no server can be started (test code only).
pub fn shared_redis() -> &'static RedisServer {
    static SHARED: OnceLock<RedisServer> = OnceLock::new();
    SHARED.get_or_init(|| match RedisServer::start() {
        Ok(server) => server,
        Err(error) => panic!("cannot start the shared test redis: {error}"),
    })
}

/// The 3-master Redis Cluster shared by every test of this process, started on first call (a few
/// seconds) with [`RedisCluster::start`].
///
/// It is never stopped by the kit while the process lives and its nodes are killed when the
/// process exits. Tests isolate themselves with a unique key prefix ([`unique_prefix`]) and must
/// never stop, reconfigure or flush it.
///
/// # Panics
///
/// Panics with the [`HarnessError`] message if the cluster cannot be started (test code only).
/// The failure is remembered: later calls panic at once instead of waiting for another start.
pub fn shared_redis_cluster() -> &'static RedisCluster {
    static SHARED: OnceLock<Result<RedisCluster, HarnessError>> = OnceLock::new();
    match SHARED.get_or_init(|| RedisCluster::start(3)) {
        Ok(cluster) => cluster,
        Err(error) => panic!("cannot start the shared test redis cluster: {error}"),
    }
}

/// A key prefix no other call in this process (or a concurrent test process) returns, made of
/// `[A-Za-z0-9_-]` as the store URL's `prefix` parameter requires. `label` (sanitised) helps to
/// recognise the test's keys when debugging.
pub fn unique_prefix(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed);
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    format!("t{}_{nanos:x}_{sequence}_{label}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_url_safe() {
        let first = unique_prefix("list tasks: {paging}");
        let second = unique_prefix("list tasks: {paging}");
        assert_ne!(first, second);
        for prefix in [first, second] {
            assert!(
                prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{prefix}"
            );
        }
    }

    #[test]
    fn shared_server_answers_and_is_the_same_every_time() {
        let server = shared_redis();
        assert_eq!(server.command(&["PING"]), Ok(Reply::Simple("PONG".into())));
        assert_eq!(shared_redis().port(), server.port());
    }
}
