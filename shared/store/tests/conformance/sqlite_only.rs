//! SQLite specifics: a file survives its handle being dropped, foreign files are refused
//! untouched, and concurrent writers wait instead of failing.

use std::time::Duration;

use miroir_store::{StoreError, TaskKind};

use crate::seed::{seed_every_table, verify_every_table};
use crate::support::new_task;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_table_survives_drop_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join("nested/dir/store.db").display()
    );
    let store = miroir_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let seeded = seed_every_table(&store).await;
    drop(store);
    let reopened = miroir_store::open(&url).await.unwrap();
    verify_every_table(&reopened, &seeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_foreign_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not a database, just text that is long enough to matter....",
    )
    .unwrap();
    let foreign = dir.path().join("foreign.db");
    {
        let connection = rusqlite::Connection::open(&foreign).unwrap();
        connection
            .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);")
            .unwrap();
    }
    for path in [&garbage, &foreign] {
        let before = std::fs::read(path).unwrap();
        let result = miroir_store::open(&format!("sqlite://{}", path.display())).await;
        assert!(
            matches!(result, Err(StoreError::NotAMiroirStore(_))),
            "{}: {result:?}",
            path.display()
        );
        assert_eq!(
            std::fs::read(path).unwrap(),
            before,
            "nothing written to {}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_on_one_file_write_concurrently_without_busy_errors() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?busy_timeout_ms=5000",
        dir.path().join("store.db").display()
    );
    let first = miroir_store::open(&url).await.unwrap();
    first.migrate().await.unwrap();
    let second = miroir_store::open(&url).await.unwrap();
    let writers: Vec<_> = [first.clone(), second.clone()]
        .into_iter()
        .map(|store| {
            tokio::spawn(async move {
                for _ in 0..200 {
                    store
                        .create_task(new_task("movies", TaskKind::DocumentAdditionOrUpdate))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(60), writer)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(first.count_tasks().await.unwrap(), 400);
    assert_eq!(second.count_tasks().await.unwrap(), 400);
}
