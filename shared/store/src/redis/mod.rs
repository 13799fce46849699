//! The Redis backend: every table is a keyspace under one prefix (see [`keys`] for the layout),
//! shared by any number of replicas.
//!
//! Guarantees of the implementation:
//!
//! - **Atomicity.** Every multi-key or read-modify-write operation is one Lua script or one
//!   `MULTI`/`EXEC` block; nothing reads a value to write it back from the client. Scripts report
//!   refusals as `MIROIR_<KIND> message` error replies, mapped to [`StoreError`] in one place
//!   ([`store_error`]).
//! - **One clock.** Server-side "now" (claims, leases, rate windows, job timestamps) is the Redis
//!   server's `TIME`, so every replica agrees; rows with a caller-supplied `expires_at` use
//!   `PEXPIREAT` and Redis deletes them by itself.
//! - **Bounded waits.** Each call is bounded by the URL's timeout (connect, every command, every
//!   script, every pipeline); past it the call fails with [`StoreError::Unavailable`]. The
//!   connection manager reconnects in the background and scripts are re-loaded after `NOSCRIPT`,
//!   so the same store works again once Redis is back.

/// Defines a `static` [`redis::Script`] from files of `lua/`, concatenated after the shared
/// helpers of `lua/prelude.lua`.
macro_rules! lua_script {
    ($name:ident = $($file:literal),+) => {
        static $name: ::std::sync::LazyLock<::redis::Script> = ::std::sync::LazyLock::new(|| {
            ::redis::Script::new(concat!(
                include_str!("lua/prelude.lua"),
                $(include_str!(concat!("lua/", $file))),+
            ))
        });
    };
}

mod admin_sessions;
mod aliases;
mod api_keys;
mod canaries;
mod cdc;
mod codec;
mod copy;
mod idempotency;
mod indexes;
mod jobs;
mod keys;
mod leases;
mod maintenance;
mod node_settings;
mod rate_limits;
mod rollover;
mod rows;
mod schema;
mod search_ui;
mod sessions;
mod tasks;
mod tenants;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{
    Client, FromRedisValue, RedisError, RedisFuture, RedisResult, ScriptInvocation, Value,
};

use crate::error::{StoreError, StoreResult};
use crate::store_url::redact;
use crate::{Backend, Store};

use self::keys::{Keys, Layout};

/// Reconnect attempts per outage burst before the manager gives up until the next command
/// (which starts a new burst).
const RECONNECT_ATTEMPTS: usize = 4;

/// First delay between reconnect attempts (doubling, with jitter).
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);

/// Longest delay between reconnect attempts.
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);

/// Retries of a cluster command after a redirection or a failed node (each call stays bounded
/// by the URL's timeout).
const CLUSTER_RETRIES: u32 = 4;

fn to_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A store on a standalone Redis server or a Redis Cluster. Cheap to clone: clones share one
/// multiplexed connection (per cluster node).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Opens the dedicated pub/sub connections (on a cluster, to its first node: Redis Cluster
    /// broadcasts every `PUBLISH` to all nodes).
    client: Client,
    /// The shared, self-reconnecting connection every command goes through.
    connection: Connection,
    keys: Keys,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisStore")
            .field("prefix", &self.inner.keys.prefix())
            .field("layout", &self.inner.keys.layout())
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// The connection of a standalone server or of a cluster, behind one [`ConnectionLike`].
#[derive(Clone)]
enum Connection {
    Standalone(ConnectionManager),
    Cluster(Arc<ClusterHandle>),
}

/// A cluster connection made on first use (and again after a failed attempt); the cluster
/// connection itself follows topology changes and reconnects to nodes.
struct ClusterHandle {
    client: ClusterClient,
    connection: tokio::sync::OnceCell<ClusterConnection>,
}

impl ClusterHandle {
    async fn get(&self) -> RedisResult<ClusterConnection> {
        self.connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, command: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Standalone(connection) => connection.req_packed_command(command),
            Connection::Cluster(handle) => Box::pin(async move {
                let mut connection = handle.get().await?;
                connection.req_packed_command(command).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Standalone(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            Connection::Cluster(handle) => Box::pin(async move {
                let mut connection = handle.get().await?;
                connection
                    .req_packed_commands(pipeline, offset, count)
                    .await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Standalone(connection) => connection.get_db(),
            Connection::Cluster(_) => 0,
        }
    }
}

impl RedisStore {
    /// Connects to `connection_url` (a `redis://` or `rediss://` URL understood by the redis
    /// client) within `timeout`; every later command is bounded by `timeout` too. All keys start
    /// with `key_prefix`. `Unavailable` if the server does not answer in time.
    pub async fn connect(
        connection_url: &str,
        timeout: Duration,
        key_prefix: &str,
    ) -> StoreResult<RedisStore> {
        let client = client(connection_url)?;
        let connection = bounded(
            timeout,
            ConnectionManager::new_with_config(client.clone(), manager_config(timeout)),
        )
        .await?;
        Ok(Self::with_connection(
            client,
            Connection::Standalone(connection),
            Layout::Standalone,
            timeout,
            key_prefix,
        ))
    }

    /// [`RedisStore::connect`] without waiting for the server: the first command connects, and
    /// every command until the server answers is `Unavailable` within `timeout`.
    pub fn connect_lazily(
        connection_url: &str,
        timeout: Duration,
        key_prefix: &str,
    ) -> StoreResult<RedisStore> {
        let client = client(connection_url)?;
        let connection =
            ConnectionManager::new_lazy_with_config(client.clone(), manager_config(timeout))
                .map_err(|error| StoreError::InvalidUrl {
                    url: redact(connection_url),
                    reason: error.to_string(),
                })?;
        Ok(Self::with_connection(
            client,
            Connection::Standalone(connection),
            Layout::Standalone,
            timeout,
            key_prefix,
        ))
    }

    /// A store on the Redis Cluster reachable through `node_urls` (`redis://host:port` of some of
    /// its nodes; the others are discovered), with the cluster key layout (see [`keys`]).
    /// Connects on first use, like [`RedisStore::connect_lazily`]; call
    /// [`RedisStore::connect_cluster`] to connect at once.
    pub fn connect_cluster_lazily(
        node_urls: &[String],
        timeout: Duration,
        key_prefix: &str,
    ) -> StoreResult<RedisStore> {
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: node_urls.first().map(|url| redact(url)).unwrap_or_default(),
            reason,
        };
        let first = node_urls
            .first()
            .ok_or_else(|| invalid("a cluster needs at least one node".to_owned()))?;
        let cluster = ClusterClientBuilder::new(node_urls.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(CLUSTER_RETRIES)
            .min_retry_wait(to_millis(RECONNECT_MIN_DELAY))
            .max_retry_wait(to_millis(RECONNECT_MAX_DELAY))
            .build()
            .map_err(|error| invalid(error.to_string()))?;
        Ok(Self::with_connection(
            client(first)?,
            Connection::Cluster(Arc::new(ClusterHandle {
                client: cluster,
                connection: tokio::sync::OnceCell::new(),
            })),
            Layout::Cluster,
            timeout,
            key_prefix,
        ))
    }

    /// [`RedisStore::connect_cluster_lazily`], connected within `timeout` (`Unavailable` if no
    /// node answers in time).
    pub async fn connect_cluster(
        node_urls: &[String],
        timeout: Duration,
        key_prefix: &str,
    ) -> StoreResult<RedisStore> {
        let store = Self::connect_cluster_lazily(node_urls, timeout, key_prefix)?;
        if let Connection::Cluster(handle) = &store.inner.connection {
            bounded(timeout, handle.get()).await?;
        }
        Ok(store)
    }

    fn with_connection(
        client: Client,
        connection: Connection,
        layout: Layout,
        timeout: Duration,
        key_prefix: &str,
    ) -> RedisStore {
        RedisStore {
            inner: Arc::new(Inner {
                client,
                connection,
                keys: Keys::new(key_prefix, layout),
                timeout,
            }),
        }
    }

    /// The key builder of this store's prefix.
    fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// Runs one command.
    async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> StoreResult<T> {
        let mut connection = self.inner.connection.clone();
        bounded(self.inner.timeout, command.query_async(&mut connection)).await
    }

    /// Runs a pipeline (atomic if built with `.atomic()`), one reply per non-ignored command.
    /// On a cluster every command of the pipeline must address the same hash slot; use
    /// [`RedisStore::query_each`] for commands on keys of several slots.
    async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> StoreResult<T> {
        let mut connection = self.inner.connection.clone();
        bounded(self.inner.timeout, pipeline.query_async(&mut connection)).await
    }

    /// Runs independent (not atomic together) commands, possibly on keys of different slots,
    /// and returns their replies in order: one pipeline on a standalone server, concurrent
    /// commands (each routed to its node) on a cluster.
    async fn query_each<T: FromRedisValue>(&self, commands: &[redis::Cmd]) -> StoreResult<Vec<T>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        match self.keys().layout() {
            Layout::Standalone => {
                let mut pipeline = redis::pipe();
                for command in commands {
                    pipeline.add_command(command.clone());
                }
                self.query_pipeline(&pipeline).await
            }
            Layout::Cluster => {
                futures::future::try_join_all(commands.iter().map(|command| self.query(command)))
                    .await
            }
        }
    }

    /// Runs a script (loading it first if the server does not know it).
    async fn eval<T: FromRedisValue>(&self, invocation: &ScriptInvocation<'_>) -> StoreResult<T> {
        let mut connection = self.inner.connection.clone();
        bounded(self.inner.timeout, invocation.invoke_async(&mut connection)).await
    }

    /// Runs a keyless command (`SCAN`) on the master serving hash slot `slot` of a cluster, or
    /// on the standalone server (where `slot` means nothing).
    async fn query_on_slot<T: FromRedisValue>(
        &self,
        command: &redis::Cmd,
        slot: u16,
    ) -> StoreResult<T> {
        let Connection::Cluster(handle) = &self.inner.connection else {
            return self.query(command).await;
        };
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
            slot,
            SlotAddr::Master,
        )));
        let value = bounded(self.inner.timeout, async {
            let mut connection = handle.get().await?;
            connection.route_command(command.clone(), routing).await
        })
        .await?;
        T::from_redis_value(value).map_err(|error| store_error(error.into()))
    }

    /// One hash slot per master, each master's lowest slot, ascending (`CLUSTER SLOTS`): with
    /// [`RedisStore::query_on_slot`], a way to address every master in turn. `[0]` on a
    /// standalone server.
    async fn master_slots(&self) -> StoreResult<Vec<u16>> {
        if self.keys().layout() == Layout::Standalone {
            return Ok(vec![0]);
        }
        let reply: Value = self.query(redis::cmd("CLUSTER").arg("SLOTS")).await?;
        let unexpected = || StoreError::Backend("redis: unexpected CLUSTER SLOTS reply".to_owned());
        let Value::Array(ranges) = reply else {
            return Err(unexpected());
        };
        // Master (node id, else address) -> its lowest slot.
        let mut masters = std::collections::BTreeMap::<Vec<u8>, u16>::new();
        for range in ranges {
            let Value::Array(range) = range else {
                return Err(unexpected());
            };
            let (Some(Value::Int(start)), Some(Value::Array(master))) =
                (range.first(), range.get(2))
            else {
                return Err(unexpected());
            };
            let start = u16::try_from(*start).map_err(|_| unexpected())?;
            let identity = match (master.get(2), master.first(), master.get(1)) {
                (Some(Value::BulkString(id)), _, _) => id.clone(),
                (_, Some(Value::BulkString(host)), Some(Value::Int(port))) => {
                    let mut address = host.clone();
                    address.extend_from_slice(format!(":{port}").as_bytes());
                    address
                }
                _ => return Err(unexpected()),
            };
            let lowest = masters.entry(identity).or_insert(start);
            *lowest = (*lowest).min(start);
        }
        let mut slots: Vec<u16> = masters.into_values().collect();
        slots.sort_unstable();
        if slots.is_empty() {
            return Err(unexpected());
        }
        Ok(slots)
    }
}

impl Store for RedisStore {
    fn backend(&self) -> Backend {
        Backend::Redis
    }
}

/// A client for `connection_url`, or `InvalidUrl` naming the (redacted) URL.
fn client(connection_url: &str) -> StoreResult<Client> {
    Client::open(connection_url).map_err(|error| StoreError::InvalidUrl {
        url: redact(connection_url),
        reason: error.to_string(),
    })
}

/// Connection, response and reconnection bounds derived from the per-call `timeout`.
fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(RECONNECT_ATTEMPTS)
        .set_min_delay(RECONNECT_MIN_DELAY)
        .set_max_delay(RECONNECT_MAX_DELAY)
}

/// Awaits a redis future for at most `timeout`, mapping its error.
async fn bounded<T>(
    timeout: Duration,
    future: impl Future<Output = Result<T, RedisError>>,
) -> StoreResult<T> {
    match tokio::time::timeout(timeout, future).await {
        Ok(result) => result.map_err(store_error),
        Err(_) => Err(StoreError::Unavailable(format!(
            "redis did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// The one mapping from redis errors to store errors.
///
/// Script refusals arrive as error replies `MIROIR_CONFLICT …`, `MIROIR_NOTFOUND …` and
/// `MIROIR_INVALID …`; outages (I/O, refused or dropped connections, timeouts, a server still
/// loading its data or failing over) become `Unavailable`; anything else is `Backend`.
fn store_error(error: RedisError) -> StoreError {
    let detail = || error.detail().unwrap_or_default().to_owned();
    match error.code() {
        Some("MIROIR_CONFLICT") => return StoreError::Conflict(detail()),
        Some("MIROIR_NOTFOUND") => return StoreError::NotFound(detail()),
        Some("MIROIR_INVALID") => return StoreError::InvalidInput(detail()),
        Some("LOADING" | "BUSY" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN" | "READONLY") => {
            return StoreError::Unavailable(format!("redis: {error}"));
        }
        _ => {}
    }
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
    {
        StoreError::Unavailable(format!("redis: {error}"))
    } else {
        StoreError::Backend(format!("redis: {error}"))
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use miroir_test_support::{Appendfsync, RedisOptions, RedisServer};
    use redis::Value;

    use super::*;
    use crate::tasks::{NewTask, TaskKind, TaskStatus, TaskStore};
    use crate::time::Timestamp;

    const SHORT: Duration = Duration::from_millis(300);

    fn persistent_server() -> RedisServer {
        RedisServer::start_with(RedisOptions {
            appendonly: true,
            appendfsync: Appendfsync::Always,
            ..RedisOptions::default()
        })
        .expect("start a test redis")
    }

    fn new_task() -> NewTask {
        NewTask {
            index_uid: Some("movies".to_owned()),
            kind: TaskKind::IndexCreation,
            status: TaskStatus::Enqueued,
            node_tasks: Default::default(),
            details: None,
            enqueued_at: Timestamp::now(),
        }
    }

    fn assert_unavailable_fast<T: std::fmt::Debug>(result: StoreResult<T>, started: Instant) {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert!(
            started.elapsed() < SHORT * 3,
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn connect_is_unavailable_within_the_timeout_when_redis_is_down() {
        let mut server = RedisServer::start().expect("start a test redis");
        server.stop();
        let started = Instant::now();
        assert_unavailable_fast(
            RedisStore::connect(&server.url(), SHORT, "t").await,
            started,
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_lazy_store_is_unavailable_until_redis_answers_then_connects() {
        let mut server = RedisServer::start().expect("start a test redis");
        server.stop();
        let store = RedisStore::connect_lazily(&server.url(), SHORT, "t").expect("no I/O yet");
        for _ in 0..2 {
            let started = Instant::now();
            assert_unavailable_fast(store.count_tasks().await, started);
        }
        server.restart().expect("restart");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match store.count_tasks().await {
                Ok(count) => break assert_eq!(count, 0),
                Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(other) => panic!("the lazy store did not connect: {other:?}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn outage_is_unavailable_and_the_same_store_recovers_with_its_scripts() {
        let mut server = persistent_server();
        let store = RedisStore::connect(&server.url(), SHORT, "t")
            .await
            .expect("connect");
        let before = store.create_task(new_task()).await.expect("create");
        server.stop();
        for _ in 0..3 {
            let started = Instant::now();
            assert_unavailable_fast(store.create_task(new_task()).await, started);
            let started = Instant::now();
            assert_unavailable_fast(store.get_task(before.uid).await, started);
        }
        // The restarted server has forgotten every script: they are loaded again on NOSCRIPT.
        server.restart().expect("restart");
        let deadline = Instant::now() + Duration::from_secs(10);
        let after = loop {
            match store.create_task(new_task()).await {
                Ok(task) => break task,
                Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(other) => panic!("the store did not recover: {other:?}"),
            }
        };
        assert_eq!(after.uid, before.uid + 1);
        assert_eq!(store.get_task(before.uid).await, Ok(Some(before)));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_hung_server_is_unavailable_within_the_timeout_then_answers_again() {
        let server = Arc::new(RedisServer::start().expect("start a test redis"));
        let store = RedisStore::connect(&server.url(), SHORT, "t")
            .await
            .expect("connect");
        let sleeping = Arc::clone(&server);
        let sleeper =
            std::thread::spawn(move || sleeping.command(&["DEBUG", "SLEEP", "1"]).map(|_| ()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        assert_unavailable_fast(store.count_tasks().await, started);
        sleeper
            .join()
            .expect("sleeper thread")
            .expect("DEBUG SLEEP");
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.count_tasks().await.is_err() {
            assert!(Instant::now() < deadline, "redis did not answer again");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn script_refusals_map_to_store_errors() {
        let store = test_support::store("errors").await;
        for (code, expected) in [
            (
                "MIROIR_CONFLICT",
                StoreError::Conflict("alias `x` is at version 2, not 1".into()),
            ),
            (
                "MIROIR_NOTFOUND",
                StoreError::NotFound("alias `x` is at version 2, not 1".into()),
            ),
            (
                "MIROIR_INVALID",
                StoreError::InvalidInput("alias `x` is at version 2, not 1".into()),
            ),
        ] {
            let script =
                format!("return redis.error_reply('{code} alias `x` is at version 2, not 1')");
            let result: StoreResult<Value> =
                store.query(redis::cmd("EVAL").arg(script).arg(0)).await;
            assert_eq!(result, Err(expected));
        }
        let other: StoreResult<Value> = store.query(&redis::cmd("NOSUCHCOMMAND")).await;
        assert!(matches!(other, Err(StoreError::Backend(_))), "{other:?}");
    }
}
