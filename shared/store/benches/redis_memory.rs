//! Redis memory accounting (plan §14.7): inserts N rows per keyspace through the store API into a
//! fresh redis-server and prints the bytes each row costs, from `INFO memory` deltas.
//!
//! Run: `cargo bench -p miroir-store --bench redis_memory` (N defaults to 20000; set
//! `MIROIR_BENCH_ROWS` to change it). Figures are recorded in `STORE.md`.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::future::Future;
use std::time::Duration;

use miroir_store::{
    AdminSession, AliasTarget, CanaryRun, CanaryRunStatus, DynStore, IdempotencyRecord, JobKind,
    NewJob, NewTask, NodeTaskMap, RateLimitBucket, Session, TaskKind, TaskStatus, TenantMapping,
    Timestamp,
};
use miroir_test_support::RedisServer;
use serde_json::json;

async fn used_memory(connection: &mut redis::aio::MultiplexedConnection) -> i64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(connection)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap()
}

async fn measure<F, Fut>(
    label: &str,
    rows: u64,
    connection: &mut redis::aio::MultiplexedConnection,
    mut insert: F,
) where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = ()>,
{
    let before = used_memory(connection).await;
    for n in 0..rows {
        insert(n).await;
    }
    let after = used_memory(connection).await;
    println!("| {label} | {rows} | {} |", (after - before) / rows as i64);
}

fn task(n: u64) -> NewTask {
    NewTask {
        index_uid: Some(format!("index-{}", n % 10)),
        kind: TaskKind::DocumentAdditionOrUpdate,
        status: TaskStatus::Enqueued,
        node_tasks: NodeTaskMap::from([
            ("meili-0".to_owned(), n),
            ("meili-1".to_owned(), n + 1),
            ("meili-2".to_owned(), n + 2),
        ]),
        details: Some(json!({"receivedDocuments": 1000, "indexedDocuments": null})),
        enqueued_at: Timestamp::now(),
    }
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::var("MIROIR_BENCH_ROWS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000);
    let server = RedisServer::start().expect("start redis-server");
    let store: DynStore = miroir_store::open(&server.url()).await.unwrap();
    store.migrate().await.unwrap();
    let mut connection = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let expires_at = Timestamp::now().plus(Duration::from_secs(3600));

    println!("| keyspace | rows | bytes per row |");
    println!("|---|---|---|");
    measure(
        "task (3 nodes, enqueued; hash + list indexes)",
        rows,
        &mut connection,
        |_| {
            let store = store.clone();
            async move {
                store.create_task(task(0)).await.unwrap();
            }
        },
    )
    .await;
    measure(
        "task after completion (+ started/finished indexes)",
        rows.min(5_000),
        &mut connection,
        |n| {
            let store = store.clone();
            async move {
                let created = store.create_task(task(n)).await.unwrap();
                let mut update = created.to_update();
                update.status = TaskStatus::Succeeded;
                update.started_at = Some(Timestamp::now());
                update.finished_at = Some(Timestamp::now());
                store.update_task(created.uid, update).await.unwrap();
            }
        },
    )
    .await;
    measure("session pin", rows, &mut connection, |n| {
        let store = store.clone();
        async move {
            let session = Session {
                session_id: format!("session-{n:032}"),
                last_write_task_uid: Some(n),
                last_write_at: Some(Timestamp::now()),
                pinned_group: Some(1),
                min_settings_version: 3,
                expires_at,
            };
            store.put_session(session).await.unwrap();
        }
    })
    .await;
    measure("idempotency record", rows, &mut connection, |n| {
        let store = store.clone();
        async move {
            let record = IdempotencyRecord {
                key: format!("{n:036}"),
                body_sha256: [7; 32],
                task_uid: n,
                expires_at,
            };
            store.insert_idempotency_if_absent(record).await.unwrap();
        }
    })
    .await;
    measure("admin session", rows.min(5_000), &mut connection, |n| {
        let store = store.clone();
        async move {
            let session = AdminSession {
                session_id: format!("{n:064}"),
                csrf_token: format!("{n:043}"),
                admin_key_hash: [1; 32],
                created_at: Timestamp::now(),
                expires_at,
                revoked: false,
                user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
                source_ip: Some("10.0.0.1".into()),
            };
            store.create_admin_session(session).await.unwrap();
        }
    })
    .await;
    measure(
        "rate-limit counter (search UI, per IP)",
        rows,
        &mut connection,
        |n| {
            let store = store.clone();
            async move {
                let ip = format!("10.{}.{}.{}", n / 65_536 % 256, n / 256 % 256, n % 256);
                store
                    .hit_rate_limit(RateLimitBucket::SearchUi, &ip, Duration::from_secs(60))
                    .await
                    .unwrap();
            }
        },
    )
    .await;
    measure("queued job", rows.min(5_000), &mut connection, |n| {
        let store = store.clone();
        async move {
            store
                .enqueue_job(NewJob {
                    kind: JobKind::DumpImport,
                    params: json!({"chunk": n, "offset": n * 1_000_000}),
                    max_attempts: 3,
                })
                .await
                .unwrap();
        }
    })
    .await;
    measure(
        "alias (single target)",
        rows.min(5_000),
        &mut connection,
        |n| {
            let store = store.clone();
            async move {
                store
                    .create_alias(
                        &format!("alias-{n}"),
                        AliasTarget::Single {
                            uid: format!("index-{n}-v1"),
                        },
                        Timestamp::now(),
                    )
                    .await
                    .unwrap();
            }
        },
    )
    .await;
    measure(
        "canary run (history entry)",
        rows.min(5_000),
        &mut connection,
        |n| {
            let store = store.clone();
            async move {
                let run = CanaryRun {
                    canary_id: format!("canary-{}", n % 50),
                    ran_at: Timestamp::from_millis(n as i64),
                    status: CanaryRunStatus::Pass,
                    latency_ms: 12,
                    failed_assertions: None,
                };
                store.record_canary_run(run, 1_000).await.unwrap();
            }
        },
    )
    .await;
    measure("tenant mapping", rows.min(5_000), &mut connection, |n| {
        let store = store.clone();
        async move {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&n.to_be_bytes());
            store
                .put_tenant(TenantMapping {
                    api_key_hash: hash,
                    tenant_id: format!("tenant-{n}"),
                    group_id: Some(1),
                })
                .await
                .unwrap();
        }
    })
    .await;
}
