//! SQLite specifics: a file survives its handle being dropped, foreign files are refused
//! untouched, concurrent writers wait instead of failing, a copy's export pages walk the primary
//! key exactly, and `clear_all_rows` empties every table of the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use miroir_store::{CopyRow, CopyTable, StoreError, TaskKind};

use crate::copy::export_pages;
use crate::seed::{seed_every_table, verify_every_table};
use crate::support::{self, RawAccess, new_task};

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

/// Pages walk the primary key: pages of one row give the rows of one big page in the same order,
/// each row once, and no empty page follows the last row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_pages_walk_the_primary_key_exactly() {
    let store = support::sqlite_memory().await;
    seed_every_table(&store).await;
    for table in CopyTable::ALL {
        let all = export_pages(&store, *table, 1000).await;
        assert_eq!(all.len(), 1, "{table}: one page");
        let all = all.concat();
        let one_by_one = export_pages(&store, *table, 1).await;
        assert_eq!(
            one_by_one.len(),
            all.len(),
            "{table}: no empty page after the last row"
        );
        assert_eq!(one_by_one.concat(), all, "{table}");
        let keys: BTreeSet<String> = all.iter().map(CopyRow::key).collect();
        assert_eq!(keys.len(), all.len(), "{table}: a row twice");
        assert_eq!(
            export_pages(&store, *table, 2).await.concat(),
            all,
            "{table}"
        );
    }
}

/// The rows of every table of the file but the one-row counters `task_count` and
/// `job_claim_sequence` (and SQLite's own `sqlite_sequence`), and its application id.
fn raw_counts(path: &Path) -> (BTreeMap<String, i64>, i32) {
    let connection = rusqlite::Connection::open(path).unwrap();
    let mut statement = connection
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT IN ('sqlite_sequence', 'task_count', 'job_claim_sequence')",
        )
        .unwrap();
    let tables: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let counts = tables
        .into_iter()
        .map(|table| {
            let count = connection
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .unwrap();
            (table, count)
        })
        .collect();
    let application_id = connection
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .unwrap();
    (counts, application_id)
}

/// The seed fills every table of the file, and `clear_all_rows` empties them all (`task_count`
/// included), keeping the application id: a table added without a line in `CLEAR_ALL_ROWS`
/// fails here once the seed fills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clear_all_rows_empties_every_table_of_the_file() {
    let store = support::sqlite_file().await;
    let Some(RawAccess::Sqlite(path)) = RawAccess::of(&store) else {
        panic!("not a SQLite file");
    };
    seed_every_table(&store).await;
    let (seeded, application_id) = raw_counts(&path);
    let empty: Vec<&String> = seeded
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(table, _)| table)
        .collect();
    assert!(empty.is_empty(), "the seed fills no row of {empty:?}");
    store.clear_all_rows().await.unwrap();
    let (cleared, kept) = raw_counts(&path);
    assert!(cleared.values().all(|count| *count == 0), "{cleared:?}");
    assert_eq!(cleared.len(), seeded.len());
    assert_eq!(kept, application_id);
    assert_eq!(store.count_tasks().await.unwrap(), 0);
}
