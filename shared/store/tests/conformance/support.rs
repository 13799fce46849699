//! Backend factories and helpers shared by the suite.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use miroir_store::{
    DynStore, NewTask, NodeTaskMap, ObservedStore, Outcome, StoreError, StoreObserver, TaskKind,
    TaskStatus, Timestamp,
};

/// A migrated store under test, with what keeps it alive and a way to open a second handle.
pub struct TestStore {
    pub store: DynStore,
    /// URL for a second, independent handle on the same data (`None` for in-memory SQLite).
    pub url: Option<String>,
    raw: Option<RawAccess>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    async fn new(url: String, raw: Option<RawAccess>, dir: Option<tempfile::TempDir>) -> Self {
        let store = miroir_store::open(&url).await.expect("open store");
        store.migrate().await.expect("migrate store");
        Self {
            store,
            url: raw.is_some().then_some(url),
            raw,
            _dir: dir,
        }
    }

    /// The key prefix of a Redis store under test (`None` for SQLite).
    pub fn prefix(&self) -> Option<&str> {
        match &self.raw {
            #[cfg(feature = "redis")]
            Some(RawAccess::Redis { prefix, .. }) => Some(prefix),
            _ => None,
        }
    }

    /// A new, empty, migrated store of the same kind (another prefix, file or memory database).
    pub async fn fresh(&self) -> TestStore {
        match &self.raw {
            #[cfg(feature = "redis")]
            Some(RawAccess::Redis {
                nodes: RedisNodes::Standalone(_),
                ..
            }) => redis().await,
            #[cfg(feature = "redis")]
            Some(RawAccess::Redis {
                nodes: RedisNodes::Cluster(_),
                ..
            }) => redis_cluster().await,
            #[cfg(feature = "sqlite")]
            Some(RawAccess::Sqlite(_)) => sqlite_file().await,
            #[cfg(feature = "sqlite")]
            None => sqlite_memory().await,
            #[allow(unreachable_patterns)]
            _ => unreachable!("no backend"),
        }
    }

    /// What the store runs on, for messages: `sqlite memory`, `sqlite file`, `redis` or
    /// `redis cluster`.
    pub fn kind(&self) -> &'static str {
        match &self.raw {
            #[cfg(feature = "redis")]
            Some(RawAccess::Redis {
                nodes: RedisNodes::Standalone(_),
                ..
            }) => "redis",
            #[cfg(feature = "redis")]
            Some(RawAccess::Redis {
                nodes: RedisNodes::Cluster(_),
                ..
            }) => "redis cluster",
            #[cfg(feature = "sqlite")]
            Some(RawAccess::Sqlite(_)) => "sqlite file",
            _ => "sqlite memory",
        }
    }

    /// A second handle on the same data, or `None` when the backend cannot share it.
    pub async fn reopen(&self) -> Option<DynStore> {
        let url = self.url.as_ref()?;
        Some(miroir_store::open(url).await.expect("reopen store"))
    }
}

impl std::ops::Deref for TestStore {
    type Target = DynStore;
    fn deref(&self) -> &DynStore {
        &self.store
    }
}

/// A new, empty, migrated store of each kind the features enable: SQLite in memory, Redis and
/// Redis Cluster (each with its own prefix).
pub async fn one_of_each_backend() -> Vec<TestStore> {
    let mut stores = Vec::new();
    #[cfg(feature = "sqlite")]
    stores.push(sqlite_memory().await);
    #[cfg(feature = "redis")]
    {
        stores.push(redis().await);
        stores.push(redis_cluster().await);
    }
    stores
}

#[cfg(feature = "sqlite")]
pub async fn sqlite_memory() -> TestStore {
    TestStore::new("sqlite::memory:".to_owned(), None, None).await
}

#[cfg(feature = "sqlite")]
pub async fn sqlite_file() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let url = format!("sqlite://{}", path.display());
    TestStore::new(url, Some(RawAccess::Sqlite(path)), Some(dir)).await
}

#[cfg(feature = "redis")]
pub async fn redis() -> TestStore {
    let server = miroir_test_support::shared_redis();
    let prefix = miroir_test_support::unique_prefix("conformance");
    let url = server.store_url(&prefix, miroir_store::store_url::DEFAULT_OPERATION_TIMEOUT);
    let raw = RawAccess::Redis {
        nodes: RedisNodes::Standalone(server.url()),
        prefix,
    };
    TestStore::new(url, Some(raw), None).await
}

/// A store on the shared 3-master Redis Cluster of the test kit, with its own prefix.
#[cfg(feature = "redis")]
pub async fn redis_cluster() -> TestStore {
    let cluster = miroir_test_support::shared_redis_cluster();
    let prefix = miroir_test_support::unique_prefix("conformance");
    let url = cluster.store_url(&prefix, miroir_store::store_url::DEFAULT_OPERATION_TIMEOUT);
    let raw = RawAccess::Redis {
        nodes: RedisNodes::Cluster(
            cluster
                .ports()
                .iter()
                .map(|port| format!("redis://127.0.0.1:{port}"))
                .collect(),
        ),
        prefix,
    };
    TestStore::new(url, Some(raw), None).await
}

/// In-memory SQLite behind an [`ObservedStore`] with a [`RecordingObserver`]: every suite test
/// then proves that the decorator delegates each operation unchanged.
#[cfg(feature = "sqlite")]
pub async fn sqlite_observed() -> TestStore {
    let (store, observer) = observed_sqlite_memory().await;
    store.migrate().await.expect("migrate store");
    assert_eq!(
        observer.operations(),
        ["migrate"],
        "observer sees the calls"
    );
    TestStore {
        store,
        url: None,
        raw: None,
        _dir: None,
    }
}

/// A fresh, unmigrated in-memory SQLite store wrapped in an [`ObservedStore`], and its observer.
#[cfg(feature = "sqlite")]
pub async fn observed_sqlite_memory() -> (DynStore, Arc<RecordingObserver>) {
    let inner = miroir_store::open("sqlite::memory:")
        .await
        .expect("open store");
    let observer = Arc::new(RecordingObserver::default());
    (ObservedStore::wrap(inner, observer.clone()), observer)
}

/// One report received by a [`RecordingObserver`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub operation: &'static str,
    pub elapsed: Duration,
    pub outcome: Outcome,
}

/// A [`StoreObserver`] that keeps every report, in order.
#[derive(Debug, Default)]
pub struct RecordingObserver {
    observations: Mutex<Vec<Observation>>,
    failures: Mutex<Vec<(&'static str, String)>>,
}

impl RecordingObserver {
    /// Every report so far, oldest first.
    pub fn observations(&self) -> Vec<Observation> {
        self.observations.lock().unwrap().clone()
    }

    /// The operation names reported so far, oldest first.
    pub fn operations(&self) -> Vec<&'static str> {
        self.observations()
            .iter()
            .map(|observation| observation.operation)
            .collect()
    }

    /// Every failure reported so far (operation, error text), oldest first.
    pub fn failures(&self) -> Vec<(&'static str, String)> {
        self.failures.lock().unwrap().clone()
    }

    /// Forgets every report so far.
    pub fn clear(&self) {
        self.observations.lock().unwrap().clear();
        self.failures.lock().unwrap().clear();
    }
}

impl StoreObserver for RecordingObserver {
    fn observe(&self, operation: &'static str, elapsed: Duration, outcome: Outcome) {
        self.observations.lock().unwrap().push(Observation {
            operation,
            elapsed,
            outcome,
        });
    }

    fn failed(&self, operation: &'static str, error: &StoreError) {
        self.failures
            .lock()
            .unwrap()
            .push((operation, error.to_string()));
    }
}

/// A new enqueued task on `index`.
pub fn new_task(index: &str, kind: TaskKind) -> NewTask {
    NewTask {
        index_uid: Some(index.to_owned()),
        kind,
        status: TaskStatus::Enqueued,
        node_tasks: NodeTaskMap::from([("meili-0".to_owned(), 7), ("meili-1".to_owned(), 9)]),
        details: Some(serde_json::json!({"receivedDocuments": 3})),
        enqueued_at: Timestamp::now(),
    }
}

/// Sleeps past a short TTL.
pub async fn sleep_ms(millis: u64) {
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

/// Direct access to a backend's storage, bypassing the store API, to plant what the API would
/// never write (corrupt rows, a newer schema version). Test-only; knows the physical layout.
#[derive(Clone, Debug)]
pub enum RawAccess {
    #[cfg(feature = "sqlite")]
    Sqlite(std::path::PathBuf),
    #[cfg(feature = "redis")]
    Redis { nodes: RedisNodes, prefix: String },
}

impl RawAccess {
    /// Raw access to the store under test (`None` for in-memory SQLite).
    pub fn of(store: &TestStore) -> Option<RawAccess> {
        store.raw.clone()
    }

    /// Overwrites the task's node-task map with invalid JSON.
    pub async fn corrupt_task(&self, uid: u64) {
        match self {
            #[cfg(feature = "sqlite")]
            RawAccess::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).unwrap();
                connection.busy_timeout(Duration::from_secs(5)).unwrap();
                let changed = connection
                    .execute(
                        "UPDATE tasks SET node_tasks = '{not json' WHERE uid = ?1",
                        [uid as i64],
                    )
                    .unwrap();
                assert_eq!(changed, 1);
            }
            #[cfg(feature = "redis")]
            RawAccess::Redis { nodes, prefix } => {
                let key = nodes.task_key(prefix, uid);
                nodes
                    .run(
                        redis::cmd("HSET")
                            .arg(&key)
                            .arg("node_tasks")
                            .arg("{not json"),
                    )
                    .await;
            }
        }
    }

    /// Turns a store at schema version 4 without index records and with only its default API
    /// keys back into the layout of version 1, keeping its rows: the API keys (their table on
    /// SQLite, their keys on Redis) and the index records table (SQLite; Redis has no keys for an
    /// empty table), the claim token of every job (in `job_ids`) and the claim token sequence are
    /// removed, and the version says 1. This is the exact version-1 layout: steps 2 to 4 only
    /// added them.
    pub async fn downgrade_to_version_1(&self, job_ids: &[String]) {
        match self {
            #[cfg(feature = "sqlite")]
            RawAccess::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).unwrap();
                connection.busy_timeout(Duration::from_secs(5)).unwrap();
                connection
                    .execute_batch(
                        "BEGIN IMMEDIATE;
                         DROP TABLE api_keys;
                         DROP TABLE indexes;
                         ALTER TABLE jobs DROP COLUMN claim_token;
                         DROP TABLE job_claim_sequence;
                         PRAGMA user_version = 1;
                         COMMIT;",
                    )
                    .unwrap();
            }
            #[cfg(feature = "redis")]
            RawAccess::Redis { nodes, prefix } => {
                for id in job_ids {
                    let key = format!("{prefix}:{{jobs}}:job:{id}");
                    nodes
                        .run(redis::cmd("HDEL").arg(&key).arg("claim_token"))
                        .await;
                }
                let sequence = format!("{prefix}:{{jobs}}:claim_seq");
                nodes.run(redis::cmd("DEL").arg(&sequence)).await;
                nodes.delete_api_keys(prefix).await;
                let version = format!("{prefix}:{{meta}}:schema_version");
                nodes.run(redis::cmd("SET").arg(&version).arg(1)).await;
            }
        }
    }

    /// Turns a store at schema version 4 without index records and with only its default API
    /// keys back into the layout of version 2: the API keys (their table on SQLite, their keys
    /// on Redis) and the index records table (SQLite; Redis has no keys for an empty table) are
    /// removed and the version says 2. This is the exact version-2 layout: steps 3 and 4 only
    /// added them.
    pub async fn downgrade_to_version_2(&self) {
        match self {
            #[cfg(feature = "sqlite")]
            RawAccess::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).unwrap();
                connection.busy_timeout(Duration::from_secs(5)).unwrap();
                connection
                    .execute_batch(
                        "BEGIN IMMEDIATE;
                         DROP TABLE api_keys;
                         DROP TABLE indexes;
                         PRAGMA user_version = 2;
                         COMMIT;",
                    )
                    .unwrap();
            }
            #[cfg(feature = "redis")]
            RawAccess::Redis { nodes, prefix } => {
                nodes.delete_api_keys(prefix).await;
                let version = format!("{prefix}:{{meta}}:schema_version");
                nodes.run(redis::cmd("SET").arg(&version).arg(2)).await;
            }
        }
    }

    /// Turns a store at schema version 4 with only its default API keys back into the layout of
    /// version 3: the API keys are removed (their table on SQLite, their keys and the step's mark
    /// on Redis) and the version says 3. This is the exact version-3 layout: step 4 only added
    /// them.
    pub async fn downgrade_to_version_3(&self) {
        match self {
            #[cfg(feature = "sqlite")]
            RawAccess::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).unwrap();
                connection.busy_timeout(Duration::from_secs(5)).unwrap();
                connection
                    .execute_batch(
                        "BEGIN IMMEDIATE;
                         DROP TABLE api_keys;
                         PRAGMA user_version = 3;
                         COMMIT;",
                    )
                    .unwrap();
            }
            #[cfg(feature = "redis")]
            RawAccess::Redis { nodes, prefix } => {
                nodes.delete_api_keys(prefix).await;
                let version = format!("{prefix}:{{meta}}:schema_version");
                nodes.run(redis::cmd("SET").arg(&version).arg(3)).await;
            }
        }
    }

    /// Records `version` as the store's schema version.
    pub async fn set_schema_version(&self, version: u32) {
        match self {
            #[cfg(feature = "sqlite")]
            RawAccess::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).unwrap();
                connection.busy_timeout(Duration::from_secs(5)).unwrap();
                connection
                    .pragma_update(None, "user_version", version)
                    .unwrap();
            }
            #[cfg(feature = "redis")]
            RawAccess::Redis { nodes, prefix } => {
                let key = format!("{prefix}:{{meta}}:schema_version");
                nodes.run(redis::cmd("SET").arg(&key).arg(version)).await;
            }
        }
    }
}

/// The server(s) behind a Redis store under test.
#[cfg(feature = "redis")]
#[derive(Clone, Debug)]
pub enum RedisNodes {
    /// `redis://host:port/0`.
    Standalone(String),
    /// `redis://host:port` of each cluster node.
    Cluster(Vec<String>),
}

#[cfg(feature = "redis")]
impl RedisNodes {
    /// Runs one command, routed to the node owning its key.
    async fn run(&self, command: &redis::Cmd) {
        let _: redis::Value = match self {
            RedisNodes::Standalone(url) => {
                let mut connection = redis::Client::open(url.as_str())
                    .unwrap()
                    .get_multiplexed_async_connection()
                    .await
                    .unwrap();
                command.query_async(&mut connection).await.unwrap()
            }
            RedisNodes::Cluster(urls) => {
                let mut connection = redis::cluster::ClusterClient::new(urls.clone())
                    .unwrap()
                    .get_async_connection()
                    .await
                    .unwrap();
                command.query_async(&mut connection).await.unwrap()
            }
        };
    }

    /// Deletes every key of the API keys table of the store with prefix `prefix` (the
    /// `{api_keys}` family: key hashes, uid set, step 4's mark).
    async fn delete_api_keys(&self, prefix: &str) {
        let family = format!("{prefix}:{{api_keys}}:");
        let found: Vec<String> = self
            .keys(prefix)
            .await
            .into_iter()
            .filter(|key| key.starts_with(&family))
            .collect();
        assert!(!found.is_empty(), "no api key to delete");
        for key in found {
            self.run(redis::cmd("DEL").arg(&key)).await;
        }
    }

    /// Every key of the store with prefix `prefix`, read with `SCAN` on every node (the test
    /// clusters have no replicas that could lag).
    pub async fn keys(&self, prefix: &str) -> std::collections::BTreeSet<String> {
        let urls = match self {
            RedisNodes::Standalone(url) => std::slice::from_ref(url),
            RedisNodes::Cluster(urls) => urls.as_slice(),
        };
        let mut keys = std::collections::BTreeSet::new();
        for url in urls {
            let mut connection = redis::Client::open(url.as_str())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            let mut cursor = 0_u64;
            loop {
                let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{prefix}:*"))
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                keys.extend(found);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        keys
    }

    /// The key of task `uid`, as the documented layout says: `P:tasks:<uid>` on one server;
    /// on a cluster `P:{tasks~N}:task:<uid>` in partition `uid mod 16`, whose tag has the
    /// smallest `N` putting its slot in the partition's sixteenth of the slots.
    fn task_key(&self, prefix: &str, uid: u64) -> String {
        match self {
            RedisNodes::Standalone(_) => format!("{prefix}:tasks:{uid}"),
            RedisNodes::Cluster(_) => {
                let partition = uid % 16;
                let tag = (0_u32..)
                    .map(|candidate| format!("{{tasks~{candidate}}}"))
                    .find(|tag| u64::from(miroir_test_support::key_slot(tag) / 1024) == partition)
                    .unwrap();
                format!("{prefix}:{tag}:task:{uid}")
            }
        }
    }
}
