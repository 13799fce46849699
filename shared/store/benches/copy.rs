//! Copy throughput (`miroir-migrate copy`) against the raw write throughput of the target,
//! measured in the same run on the same machine.
//!
//! A SQLite store with N tasks (100 000 by default) is copied to a fresh Redis and back to a fresh
//! SQLite file the way `miroir-migrate copy` does it (pages of 1 000 rows, each page imported
//! while the next is exported). Baselines write the same rows raw into the same kind of target:
//! Redis `HSET` of each task's fields, pipelined 1 000 per round trip, without any index; SQLite
//! `INSERT`s of the same columns in one transaction per 1 000 rows, into a table without
//! secondary indexes. Prints a Markdown table; the ratio is copy rows/s ÷ raw rows/s.
//!
//! Run: `cargo bench -p miroir-store --bench copy` (`MIROIR_BENCH_SCALE=0.1` for a quick run).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::Instant;

use miroir_store::{
    CopyRow, CopyTable, DynStore, NewTask, NodeTaskMap, Task, TaskKind, TaskStatus, Timestamp,
};
use miroir_test_support::RedisServer;
use serde_json::json;

const PAGE: usize = 1000;

fn tasks_to_copy() -> u64 {
    let factor: f64 = std::env::var("MIROIR_BENCH_SCALE")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1.0);
    ((100_000.0 * factor) as u64).max(1000)
}

/// `count` tasks, a quarter of them finished.
async fn seed(store: &DynStore, count: u64) {
    for number in 0..count {
        let task = store
            .create_task(NewTask {
                index_uid: Some(format!("index-{}", number % 7)),
                kind: TaskKind::DocumentAdditionOrUpdate,
                status: TaskStatus::Enqueued,
                node_tasks: NodeTaskMap::from([("meili-0".to_owned(), number)]),
                details: Some(json!({"receivedDocuments": number % 100})),
                enqueued_at: Timestamp::now(),
            })
            .await
            .unwrap();
        if number % 4 == 0 {
            let mut update = task.to_update();
            update.status = TaskStatus::Succeeded;
            update.started_at = Some(Timestamp::now());
            update.finished_at = Some(Timestamp::now());
            store.update_task(task.uid, update).await.unwrap();
        }
    }
}

/// Copies every table as `miroir-migrate copy` does; returns (rows, rows/s).
async fn copy(source: &DynStore, target: &DynStore) -> (u64, f64) {
    let started = Instant::now();
    let mut rows = 0;
    for table in CopyTable::ALL {
        let mut page = source.export_rows(*table, None, PAGE).await.unwrap();
        loop {
            rows += page.rows.len() as u64;
            let Some(cursor) = page.next.take() else {
                target.import_rows(&page.rows).await.unwrap();
                break;
            };
            // The import runs on its own task, so a blocking SQLite export cannot stall it.
            let import = tokio::spawn({
                let target = target.clone();
                let rows = std::mem::take(&mut page.rows);
                async move { target.import_rows(&rows).await }
            });
            let next = source.export_rows(*table, Some(&cursor), PAGE).await;
            import.await.unwrap().unwrap();
            page = next.unwrap();
        }
    }
    target
        .raise_task_sequence(source.task_sequence().await.unwrap())
        .await
        .unwrap();
    (rows, rows as f64 / started.elapsed().as_secs_f64())
}

/// Rows/s of exporting every table of `source` alone (pages kept), and of importing those pages
/// alone into `target`: where a copy's time goes.
async fn halves(source: &DynStore, target: &DynStore) -> (f64, f64) {
    let started = Instant::now();
    let mut pages = Vec::new();
    for table in CopyTable::ALL {
        let mut cursor: Option<String> = None;
        loop {
            let page = source
                .export_rows(*table, cursor.as_deref(), PAGE)
                .await
                .unwrap();
            cursor = page.next.clone();
            pages.push(page.rows);
            if cursor.is_none() {
                break;
            }
        }
    }
    let rows: usize = pages.iter().map(Vec::len).sum();
    let export = rows as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for page in &pages {
        target.import_rows(page).await.unwrap();
    }
    (export, rows as f64 / started.elapsed().as_secs_f64())
}

/// Every task of `store`, read through the export.
async fn all_tasks(store: &DynStore) -> Vec<Task> {
    let mut tasks = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .export_rows(CopyTable::Tasks, cursor.as_deref(), PAGE)
            .await
            .unwrap();
        tasks.extend(page.rows.into_iter().filter_map(|row| match row {
            CopyRow::Task(task) => Some(task),
            _ => None,
        }));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return tasks,
        }
    }
}

/// The column values of a task, as text (what a raw writer would store).
fn columns(task: &Task) -> [(&'static str, String); 8] {
    let json = |value: &serde_json::Value| value.to_string();
    [
        ("uid", task.uid.to_string()),
        ("index_uid", task.index_uid.clone().unwrap_or_default()),
        ("kind", task.kind.as_str().to_owned()),
        ("status", task.status.as_str().to_owned()),
        (
            "node_tasks",
            serde_json::to_string(&task.node_tasks).unwrap(),
        ),
        (
            "details",
            task.details.as_ref().map(json).unwrap_or_default(),
        ),
        ("enqueued_at", task.enqueued_at.as_millis().to_string()),
        (
            "finished_at",
            task.finished_at
                .map(|at| at.as_millis().to_string())
                .unwrap_or_default(),
        ),
    ]
}

/// Raw Redis: one `HSET` per task, 1 000 per pipeline, no index. Rows/s.
async fn raw_redis(url: &str, tasks: &[Task]) -> f64 {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let started = Instant::now();
    for chunk in tasks.chunks(PAGE) {
        let mut pipeline = redis::pipe();
        for task in chunk {
            let command = pipeline.cmd("HSET").arg(format!("raw:tasks:{}", task.uid));
            for (name, value) in columns(task) {
                command.arg(name).arg(value);
            }
            command.ignore();
        }
        let () = pipeline.query_async(&mut connection).await.unwrap();
    }
    tasks.len() as f64 / started.elapsed().as_secs_f64()
}

/// Raw SQLite: `INSERT`s of the same columns, one transaction per 1 000 rows. Rows/s.
fn raw_sqlite(path: &std::path::Path, tasks: &[Task]) -> f64 {
    let mut connection = rusqlite::Connection::open(path).unwrap();
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE raw_tasks (uid INTEGER PRIMARY KEY, index_uid TEXT, kind TEXT,
                 status TEXT, node_tasks TEXT, details TEXT, enqueued_at INTEGER,
                 finished_at TEXT);",
        )
        .unwrap();
    let started = Instant::now();
    for chunk in tasks.chunks(PAGE) {
        let transaction = connection.transaction().unwrap();
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO raw_tasks VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
                .unwrap();
            for task in chunk {
                let values = columns(task).map(|(_, value)| value);
                insert.execute(rusqlite::params_from_iter(values)).unwrap();
            }
        }
        transaction.commit().unwrap();
    }
    tasks.len() as f64 / started.elapsed().as_secs_f64()
}

async fn open_migrated(url: &str) -> DynStore {
    let store = miroir_store::open(url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let count = tasks_to_copy();
        let dir = tempfile::tempdir().unwrap();
        let redis = RedisServer::start().unwrap();
        let source =
            open_migrated(&format!("sqlite://{}", dir.path().join("a.db").display())).await;
        seed(&source, count).await;
        let tasks = all_tasks(&source).await;

        let timeout = std::time::Duration::from_secs(10);
        let on_redis = open_migrated(&redis.store_url("copy", timeout)).await;
        let (rows, to_redis) = copy(&source, &on_redis).await;
        let raw_redis = raw_redis(&redis.url(), &tasks).await;
        let spare = open_migrated(&redis.store_url("halves", timeout)).await;
        let (from_sqlite, into_redis) = halves(&source, &spare).await;

        let sqlite_at = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
        let back = open_migrated(&sqlite_at("b.db")).await;
        let (_, to_sqlite) = copy(&on_redis, &back).await;
        let raw_sqlite = raw_sqlite(&dir.path().join("raw.db"), &tasks);
        let spare = open_migrated(&sqlite_at("c.db")).await;
        let (from_redis, into_sqlite) = halves(&on_redis, &spare).await;

        println!("{rows} rows ({count} tasks), pages of {PAGE}\n");
        println!(
            "| copy | rows/s | raw writes of the target, rows/s | ratio | export alone | import alone |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for (name, copied, raw, export, import) in [
            ("SQLite → Redis", to_redis, raw_redis, from_sqlite, into_redis),
            ("Redis → SQLite", to_sqlite, raw_sqlite, from_redis, into_sqlite),
        ] {
            println!(
                "| {name} | {copied:.0} | {raw:.0} | {:.2} | {export:.0} | {import:.0} |",
                copied / raw
            );
        }
    });
}
