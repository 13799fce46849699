//! Helpers of the backend's own tests: stores on the shared test Redis, isolated by prefix.

use std::time::Duration;

use miroir_test_support::{shared_redis, shared_redis_cluster, unique_prefix};

use super::RedisStore;

/// Bound on each call in tests on the shared server.
pub(super) const TIMEOUT: Duration = Duration::from_secs(5);

/// A store with its own key prefix on the shared test Redis.
pub(super) async fn store(label: &str) -> RedisStore {
    let server = shared_redis();
    RedisStore::connect(&server.url(), TIMEOUT, &unique_prefix(label))
        .await
        .expect("connect to the shared test redis")
}

/// A store with its own key prefix on the shared test Redis Cluster (3 masters).
pub(super) async fn cluster_store(label: &str) -> RedisStore {
    let nodes: Vec<String> = shared_redis_cluster()
        .ports()
        .iter()
        .map(|port| format!("redis://127.0.0.1:{port}"))
        .collect();
    RedisStore::connect_cluster(&nodes, TIMEOUT, &unique_prefix(label))
        .await
        .expect("connect to the shared test redis cluster")
}
