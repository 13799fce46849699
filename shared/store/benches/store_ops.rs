//! Store operations against a raw baseline measured in the same run on the same machine.
//!
//! For each backend, each operation is timed through the store API (async, typed rows, errors)
//! and through a hand-written raw equivalent doing the same work with the same round trips:
//! rusqlite on a file with the same schema and pragmas, or the redis client with the same
//! commands/scripts. Rounds alternate between the two and the best round of each counts.
//! Prints a Markdown table; the ratio is store ops/s ÷ raw ops/s (goal ≥ 0.8).
//!
//! Run: `cargo bench -p miroir-store --bench store_ops` (`MIROIR_BENCH_SCALE=0.2` for a quick run).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use miroir_store::{
    DynStore, JobKind, NewJob, NewTask, NodeTaskMap, TaskKind, TaskQuery, TaskStatus, Timestamp,
};
use miroir_test_support::RedisServer;
use serde_json::json;

const ROUNDS: usize = 3;

fn scale(count: usize) -> usize {
    let factor: f64 = std::env::var("MIROIR_BENCH_SCALE")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1.0);
    ((count as f64 * factor) as usize).max(10)
}

fn new_task(n: u64) -> NewTask {
    NewTask {
        index_uid: Some("movies".to_owned()),
        kind: TaskKind::DocumentAdditionOrUpdate,
        status: TaskStatus::Enqueued,
        node_tasks: NodeTaskMap::from([("meili-0".to_owned(), n), ("meili-1".to_owned(), n + 1)]),
        details: Some(json!({"receivedDocuments": 10})),
        enqueued_at: Timestamp::now(),
    }
}

/// Ops/s of `count` sequential calls of `operation(i)`.
async fn rate<F, Fut>(count: usize, mut operation: F) -> f64
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let started = Instant::now();
    for i in 0..count {
        operation(i).await;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

struct Row {
    backend: &'static str,
    operation: &'static str,
    store: f64,
    raw: f64,
}

fn print(rows: &[Row]) {
    println!("| backend | operation | store ops/s | raw ops/s | store ÷ raw |");
    println!("|---|---|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} |",
            row.backend,
            row.operation,
            row.store,
            row.raw,
            row.store / row.raw
        );
    }
}

/// Runs the store and raw variants `ROUNDS` times alternately; keeps the best of each.
async fn compare<S, SF, R, RF>(
    backend: &'static str,
    operation: &'static str,
    count: usize,
    mut store: S,
    mut raw: R,
) -> Row
where
    S: FnMut(usize) -> SF,
    SF: Future<Output = f64>,
    R: FnMut(usize) -> RF,
    RF: Future<Output = f64>,
{
    let (mut best_store, mut best_raw) = (0f64, 0f64);
    for _ in 0..ROUNDS {
        best_store = best_store.max(store(count).await);
        best_raw = best_raw.max(raw(count).await);
    }
    Row {
        backend,
        operation,
        store: best_store,
        raw: best_raw,
    }
}

mod sqlite_raw {
    use rusqlite::{Connection, OptionalExtension, params};

    use super::*;

    pub(super) fn open(path: &std::path::Path) -> Connection {
        let connection = Connection::open(path).unwrap();
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .unwrap();
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .unwrap();
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .unwrap();
        connection.busy_timeout(Duration::from_secs(2)).unwrap();
        connection
    }

    pub(super) fn insert_task(connection: &Connection, n: u64) -> u64 {
        let task = new_task(n);
        connection
            .prepare_cached(
                "INSERT INTO tasks (index_uid, type, status, node_tasks, details, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING uid",
            )
            .unwrap()
            .query_row(
                params![
                    task.index_uid,
                    task.kind.as_str(),
                    task.status.as_str(),
                    serde_json::to_string(&task.node_tasks).unwrap(),
                    serde_json::to_string(&task.details).unwrap(),
                    task.enqueued_at.as_millis()
                ],
                |row| row.get::<_, i64>(0),
            )
            .unwrap() as u64
    }

    /// The columns the store reads, decoded the way it decodes them (JSON columns become values).
    #[allow(dead_code)]
    pub(super) struct RawTask {
        uid: i64,
        index_uid: Option<String>,
        kind: String,
        status: String,
        node_tasks: NodeTaskMap,
        details: Option<serde_json::Value>,
        error: Option<serde_json::Value>,
        canceled_by: Option<i64>,
        enqueued_at: i64,
        started_at: Option<i64>,
        finished_at: Option<i64>,
    }

    fn json<T: serde::de::DeserializeOwned>(text: Option<String>) -> Option<T> {
        text.map(|text| serde_json::from_str(&text).unwrap())
    }

    fn decode(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawTask> {
        Ok(RawTask {
            uid: row.get(0)?,
            index_uid: row.get(1)?,
            kind: row.get(2)?,
            status: row.get(3)?,
            node_tasks: json(row.get(4)?).unwrap(),
            details: json(row.get(5)?),
            error: json(row.get(6)?),
            canceled_by: row.get(7)?,
            enqueued_at: row.get(8)?,
            started_at: row.get(9)?,
            finished_at: row.get(10)?,
        })
    }

    pub(super) fn get_task(connection: &Connection, uid: u64) -> Option<RawTask> {
        connection
            .prepare_cached("SELECT uid, index_uid, type, status, node_tasks, details, error, canceled_by, enqueued_at, started_at, finished_at FROM tasks WHERE uid = ?1")
            .unwrap()
            .query_row([uid as i64], decode)
            .optional()
            .unwrap()
    }

    /// One snapshot for the page and the total, as the store's.
    pub(super) fn list_page(connection: &Connection) -> (usize, i64) {
        let transaction = connection.unchecked_transaction().unwrap();
        let rows: Vec<RawTask> = transaction
            .prepare_cached("SELECT uid, index_uid, type, status, node_tasks, details, error, canceled_by, enqueued_at, started_at, finished_at FROM tasks ORDER BY uid DESC LIMIT 21")
            .unwrap()
            .query_map([], decode)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let total: i64 = transaction
            .prepare_cached("SELECT count FROM task_count WHERE id = 1")
            .unwrap()
            .query_row([], |row| row.get(0))
            .unwrap();
        transaction.commit().unwrap();
        (rows.len(), total)
    }

    pub(super) fn enqueue_job(connection: &Connection, n: usize) {
        let now = Timestamp::now().as_millis();
        connection
            .prepare_cached(
                "INSERT INTO jobs (id, type, params, state, progress, attempts, max_attempts, run_after, created_at, updated_at) \
                 VALUES (?1, 'dump_import', ?2, 'queued', '{}', 0, 3, ?3, ?3, ?3)",
            )
            .unwrap()
            .execute(params![format!("raw-job-{n}-{now}"), json!({"chunk": n}).to_string(), now])
            .unwrap();
    }

    /// The store's claim: the claiming update with the next claim token, then the token counter,
    /// in one transaction.
    pub(super) fn claim_next(connection: &Connection) -> Option<String> {
        let now = Timestamp::now().as_millis();
        let transaction = rusqlite::Transaction::new_unchecked(
            connection,
            rusqlite::TransactionBehavior::Immediate,
        )
        .unwrap();
        let claimed = transaction
            .prepare_cached(
                "UPDATE jobs SET state = 'in_progress', claimed_by = ?1, claim_expires_at = ?2, \
                 claim_token = (SELECT last_token + 1 FROM job_claim_sequence WHERE id = 1), \
                 attempts = attempts + 1, updated_at = ?3 \
                 WHERE seq = (SELECT seq FROM jobs INDEXED BY jobs_queued_run_after WHERE state = 'queued' AND run_after <= ?3 ORDER BY run_after, seq LIMIT 1) \
                 RETURNING id, params, progress, claim_token",
            )
            .unwrap()
            .query_row(params!["raw-worker", now + 30_000, now], |row| {
                let params: String = row.get(1)?;
                let _: serde_json::Value = serde_json::from_str(&params).unwrap();
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(3)?))
            })
            .optional()
            .unwrap();
        if let Some((_, token)) = &claimed {
            transaction
                .prepare_cached("UPDATE job_claim_sequence SET last_token = ?1 WHERE id = 1")
                .unwrap()
                .execute([token])
                .unwrap();
        }
        transaction.commit().unwrap();
        claimed.map(|(id, _)| id)
    }

    pub(super) fn renew_lease(connection: &Connection, token: i64) -> bool {
        let now = Timestamp::now().as_millis();
        connection
            .prepare_cached("UPDATE leader_lease SET expires_at = ?1 WHERE scope = 'raw-leader' AND holder = 'raw-pod' AND token = ?2 AND expires_at > ?3")
            .unwrap()
            .execute(params![now + 10_000, token, now])
            .unwrap()
            == 1
    }

    pub(super) fn take_lease(connection: &Connection) -> i64 {
        let now = Timestamp::now().as_millis();
        connection
            .execute("INSERT INTO leader_lease (scope, holder, token, expires_at) VALUES ('raw-leader', 'raw-pod', 1, ?1)", [now + 10_000])
            .unwrap();
        1
    }
}

async fn bench_sqlite(rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("store.db");
    let raw_path = dir.path().join("raw.db");
    let store: DynStore = miroir_store::open(&format!("sqlite://{}", store_path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    // The raw baseline uses a file with the very same schema, created by the same migration.
    let raw_store = miroir_store::open(&format!("sqlite://{}", raw_path.display()))
        .await
        .unwrap();
    raw_store.migrate().await.unwrap();
    drop(raw_store);
    let raw = sqlite_raw::open(&raw_path);
    let (store, raw) = (&store, &raw);

    let inserts = scale(5_000);
    rows.push(
        compare(
            "sqlite",
            "insert_task",
            inserts,
            move |count| {
                rate(count, move |i| {
                    let store = store.clone();
                    async move {
                        store.create_task(new_task(i as u64)).await.unwrap();
                    }
                })
            },
            move |count| {
                rate(count, move |i| {
                    sqlite_raw::insert_task(raw, i as u64);
                    async {}
                })
            },
        )
        .await,
    );
    let known = (ROUNDS * inserts) as u64;
    rows.push(
        compare(
            "sqlite",
            "get_task",
            scale(20_000),
            move |count| {
                rate(count, move |i| {
                    let store = store.clone();
                    async move {
                        assert!(
                            store
                                .get_task(1 + i as u64 % known)
                                .await
                                .unwrap()
                                .is_some()
                        );
                    }
                })
            },
            move |count| {
                rate(count, move |i| {
                    assert!(sqlite_raw::get_task(raw, 1 + i as u64 % known).is_some());
                    async {}
                })
            },
        )
        .await,
    );
    let page = &TaskQuery {
        limit: 20,
        ..TaskQuery::default()
    };
    rows.push(
        compare(
            "sqlite",
            "list_tasks (page of 20)",
            scale(5_000),
            move |count| {
                rate(count, move |_| {
                    let store = store.clone();
                    async move {
                        assert_eq!(store.list_tasks(page).await.unwrap().results.len(), 20);
                    }
                })
            },
            move |count| {
                rate(count, move |_| {
                    assert_eq!(sqlite_raw::list_page(raw).0, 21);
                    async {}
                })
            },
        )
        .await,
    );
    let claims = scale(3_000);
    for n in 0..claims * ROUNDS {
        store
            .enqueue_job(NewJob {
                kind: JobKind::DumpImport,
                params: json!({"chunk": n}),
                max_attempts: 3,
            })
            .await
            .unwrap();
        sqlite_raw::enqueue_job(raw, n);
    }
    rows.push(
        compare(
            "sqlite",
            "claim_next_job",
            claims,
            move |count| {
                rate(count, move |_| {
                    let store = store.clone();
                    async move {
                        assert!(
                            store
                                .claim_next_job("pod", Duration::from_secs(30))
                                .await
                                .unwrap()
                                .is_some()
                        );
                    }
                })
            },
            move |count| {
                rate(count, move |_| {
                    assert!(sqlite_raw::claim_next(raw).is_some());
                    async {}
                })
            },
        )
        .await,
    );
    let lease = store
        .acquire_lease("leader", "pod", Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    let raw_token = sqlite_raw::take_lease(raw);
    rows.push(
        compare(
            "sqlite",
            "renew_lease",
            scale(10_000),
            move |count| {
                rate(count, move |_| {
                    let store = store.clone();
                    let token = lease.token;
                    async move {
                        store
                            .renew_lease("leader", "pod", token, Duration::from_secs(10))
                            .await
                            .unwrap();
                    }
                })
            },
            move |count| {
                rate(count, move |_| {
                    assert!(sqlite_raw::renew_lease(raw, raw_token));
                    async {}
                })
            },
        )
        .await,
    );
}

mod redis_raw {
    use redis::aio::MultiplexedConnection;

    use super::*;

    /// The same writes as the store's create: one round trip.
    pub(super) const CREATE: &str = r"
        local uid = redis.call('INCR', KEYS[1])
        local key = 'raw:tasks:' .. uid
        redis.call('HSET', key, 'uid', uid, 'index_uid', ARGV[1], 'kind', ARGV[2], 'status', ARGV[3],
            'node_tasks', ARGV[4], 'details', ARGV[5], 'enqueued_at', ARGV[6])
        redis.call('ZADD', KEYS[2], uid, uid)
        redis.call('ZADD', KEYS[3], uid, uid)
        redis.call('ZADD', KEYS[4], uid, uid)
        redis.call('ZADD', KEYS[5], uid, uid)
        redis.call('ZADD', KEYS[6], ARGV[6], uid)
        return uid";

    pub(super) const CLAIM: &str = r"
        local now = tonumber(ARGV[1])
        local next = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)[1]
        if not next then return false end
        redis.call('ZREM', KEYS[1], next)
        local key = 'raw:jobs:' .. next
        local token = redis.call('INCR', KEYS[3])
        redis.call('HSET', key, 'state', 'in_progress', 'claimed_by', ARGV[2], 'claim_expires_at', now + 30000,
            'claim_token', token)
        redis.call('HINCRBY', key, 'attempts', 1)
        redis.call('ZADD', KEYS[2], now + 30000, next)
        return redis.call('HGETALL', key)";

    pub(super) const RENEW: &str = r"
        local held = redis.call('HMGET', KEYS[1], 'holder', 'token')
        if held[1] ~= ARGV[1] or held[2] ~= ARGV[2] then return 0 end
        redis.call('HSET', KEYS[1], 'expires_at', ARGV[3])
        redis.call('PEXPIRE', KEYS[1], 10000)
        return 1";

    pub(super) async fn create(
        connection: &mut MultiplexedConnection,
        script: &redis::Script,
        n: u64,
    ) -> u64 {
        let task = new_task(n);
        script
            .key("raw:{tasks}:seq")
            .key("raw:{tasks}:_index")
            .key("raw:{tasks}:status:enqueued")
            .key("raw:{tasks}:type:documentAdditionOrUpdate")
            .key("raw:{tasks}:index:movies")
            .key("raw:{tasks}:enqueued_at")
            .arg(task.index_uid.unwrap())
            .arg(task.kind.as_str())
            .arg(task.status.as_str())
            .arg(serde_json::to_string(&task.node_tasks).unwrap())
            .arg(serde_json::to_string(&task.details).unwrap())
            .arg(task.enqueued_at.as_millis())
            .invoke_async(connection)
            .await
            .unwrap()
    }

    /// Decodes what the store decodes: the JSON fields become values.
    pub(super) fn decode(
        fields: BTreeMap<String, String>,
    ) -> (u64, NodeTaskMap, Option<serde_json::Value>) {
        let node_tasks: NodeTaskMap = serde_json::from_str(&fields["node_tasks"]).unwrap();
        let details = fields
            .get("details")
            .map(|details| serde_json::from_str(details).unwrap());
        (fields["uid"].parse().unwrap(), node_tasks, details)
    }

    pub(super) async fn get(
        connection: &mut MultiplexedConnection,
        uid: u64,
    ) -> (u64, NodeTaskMap, Option<serde_json::Value>) {
        let fields: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("raw:tasks:{uid}"))
            .query_async(connection)
            .await
            .unwrap();
        decode(fields)
    }

    pub(super) async fn list_page(connection: &mut MultiplexedConnection) -> usize {
        let (uids, _total): (Vec<u64>, u64) = redis::pipe()
            .cmd("ZREVRANGE")
            .arg("raw:{tasks}:_index")
            .arg(0)
            .arg(20)
            .cmd("ZCARD")
            .arg("raw:{tasks}:_index")
            .query_async(connection)
            .await
            .unwrap();
        let mut pipe = redis::pipe();
        for uid in &uids {
            pipe.cmd("HGETALL").arg(format!("raw:tasks:{uid}"));
        }
        let rows: Vec<BTreeMap<String, String>> = pipe.query_async(connection).await.unwrap();
        rows.into_iter().map(decode).count()
    }
}

async fn bench_redis(rows: &mut Vec<Row>) {
    let server = RedisServer::start().expect("start redis-server");
    let store: DynStore = miroir_store::open(&server.url()).await.unwrap();
    store.migrate().await.unwrap();
    let raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut setup = raw.clone();
    let create = redis::Script::new(redis_raw::CREATE);
    let claim = redis::Script::new(redis_raw::CLAIM);
    let renew = redis::Script::new(redis_raw::RENEW);
    let (store, raw, create, claim, renew) = (&store, &raw, &create, &claim, &renew);

    let inserts = scale(5_000);
    rows.push(
        compare(
            "redis",
            "insert_task",
            inserts,
            move |count| {
                rate(count, move |i| {
                    let store = store.clone();
                    async move {
                        store.create_task(new_task(i as u64)).await.unwrap();
                    }
                })
            },
            move |count| {
                rate(count, move |i| {
                    let mut raw = raw.clone();
                    async move {
                        redis_raw::create(&mut raw, create, i as u64).await;
                    }
                })
            },
        )
        .await,
    );
    let known = (ROUNDS * inserts) as u64;
    rows.push(
        compare(
            "redis",
            "get_task",
            scale(20_000),
            move |count| {
                rate(count, move |i| {
                    let store = store.clone();
                    async move {
                        assert!(
                            store
                                .get_task(1 + i as u64 % known)
                                .await
                                .unwrap()
                                .is_some()
                        );
                    }
                })
            },
            move |count| {
                rate(count, move |i| {
                    let mut raw = raw.clone();
                    async move {
                        redis_raw::get(&mut raw, 1 + i as u64 % known).await;
                    }
                })
            },
        )
        .await,
    );
    let page = &TaskQuery {
        limit: 20,
        ..TaskQuery::default()
    };
    rows.push(
        compare(
            "redis",
            "list_tasks (page of 20)",
            scale(5_000),
            move |count| {
                rate(count, move |_| {
                    let store = store.clone();
                    async move {
                        assert_eq!(store.list_tasks(page).await.unwrap().results.len(), 20);
                    }
                })
            },
            move |count| {
                rate(count, move |_| {
                    let mut raw = raw.clone();
                    async move {
                        assert_eq!(redis_raw::list_page(&mut raw).await, 21);
                    }
                })
            },
        )
        .await,
    );
    let claims = scale(3_000);
    for n in 0..claims * ROUNDS {
        store
            .enqueue_job(NewJob {
                kind: JobKind::DumpImport,
                params: json!({"chunk": n}),
                max_attempts: 3,
            })
            .await
            .unwrap();
        let key = format!("raw:jobs:{n}");
        let _: () = redis::pipe()
            .cmd("HSET")
            .arg(&key)
            .arg("state")
            .arg("queued")
            .arg("params")
            .arg(json!({"chunk": n}).to_string())
            .arg("attempts")
            .arg(0)
            .cmd("ZADD")
            .arg("raw:{jobs}:queued")
            .arg(0)
            .arg(n)
            .query_async(&mut setup)
            .await
            .unwrap();
    }
    rows.push(
        compare(
            "redis",
            "claim_next_job",
            claims,
            move |count| {
                rate(count, move |_| {
                    let store = store.clone();
                    async move {
                        assert!(
                            store
                                .claim_next_job("pod", Duration::from_secs(30))
                                .await
                                .unwrap()
                                .is_some()
                        );
                    }
                })
            },
            move |count| {
                rate(count, move |_| {
                    let mut raw = raw.clone();
                    let claim = claim.clone();
                    async move {
                        let job: Option<Vec<String>> = claim
                            .key("raw:{jobs}:queued")
                            .key("raw:{jobs}:claims")
                            .key("raw:{jobs}:claim_seq")
                            .arg(Timestamp::now().as_millis())
                            .arg("raw-worker")
                            .invoke_async(&mut raw)
                            .await
                            .unwrap();
                        assert!(job.is_some());
                    }
                })
            },
        )
        .await,
    );
    let lease = store
        .acquire_lease("leader", "pod", Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("raw:{lease}:leader")
        .arg("holder")
        .arg("raw-pod")
        .arg("token")
        .arg(1)
        .query_async(&mut setup)
        .await
        .unwrap();
    rows.push(
        compare(
            "redis",
            "renew_lease",
            scale(10_000),
            move |count| {
                rate(count, move |_| {
                    let store = store.clone();
                    let token = lease.token;
                    async move {
                        store
                            .renew_lease("leader", "pod", token, Duration::from_secs(10))
                            .await
                            .unwrap();
                    }
                })
            },
            move |count| {
                rate(count, move |_| {
                    let mut raw = raw.clone();
                    let renew = renew.clone();
                    async move {
                        let renewed: i64 = renew
                            .key("raw:{lease}:leader")
                            .arg("raw-pod")
                            .arg(1)
                            .arg(Timestamp::now().as_millis() + 10_000)
                            .invoke_async(&mut raw)
                            .await
                            .unwrap();
                        assert_eq!(renewed, 1);
                    }
                })
            },
        )
        .await,
    );
}

#[tokio::main]
async fn main() {
    let mut rows = Vec::new();
    bench_sqlite(&mut rows).await;
    bench_redis(&mut rows).await;
    print(&rows);
}
