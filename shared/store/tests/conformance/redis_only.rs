//! What only a server backend can show: a restart of the Redis process with persistence on,
//! an outage answered with `Unavailable` within the timeout, and recovery of the same handle; and
//! what only the Redis layout has: the keys a copy's walks and `clear_all_rows` leave, on a server
//! and on a cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use miroir_store::{CopyRow, CopyTable, RevocationEvent, StoreError, TaskKind};
use miroir_test_support::{Appendfsync, RedisOptions, RedisServer};

use crate::copy::export_all;
use crate::seed::{seed_every_table, verify_every_table};
use crate::support::{self, RawAccess, TestStore, new_task};

const TIMEOUT_MS: u64 = 500;

fn persistent_server() -> RedisServer {
    RedisServer::start_with(RedisOptions {
        appendonly: true,
        appendfsync: Appendfsync::Always,
        ..RedisOptions::default()
    })
    .expect("start redis-server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_table_survives_a_server_restart() {
    let mut server = persistent_server();
    let url = format!("{}?timeout_ms={TIMEOUT_MS}", server.url());
    let store = miroir_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let seeded = seed_every_table(&store).await;
    drop(store);
    // SIGKILL: with appendfsync always every acknowledged write is on disk.
    server.stop();
    server.restart().expect("restart redis-server");
    let reopened = miroir_store::open(&url).await.unwrap();
    assert_eq!(
        reopened.schema_version().await.unwrap(),
        miroir_store::SCHEMA_VERSION
    );
    verify_every_table(&reopened, &seeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_is_unavailable_within_the_timeout_and_the_same_handle_recovers() {
    let mut server = persistent_server();
    let url = format!("{}?timeout_ms={TIMEOUT_MS}", server.url());
    let store = miroir_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let before = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();

    server.stop();
    for attempt in 0..5 {
        let started = Instant::now();
        let result = store.get_task(before.uid).await;
        let elapsed = started.elapsed();
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "attempt {attempt}: {result:?}"
        );
        assert!(
            elapsed < Duration::from_millis(TIMEOUT_MS * 3),
            "attempt {attempt} took {elapsed:?}"
        );
        let write = store
            .create_task(new_task("movies", TaskKind::IndexCreation))
            .await;
        assert!(
            matches!(write, Err(StoreError::Unavailable(_))),
            "{write:?}"
        );
    }
    // A store opened while the server is down fails fast too.
    let started = Instant::now();
    let opened = miroir_store::open(&url).await;
    assert!(
        matches!(opened, Err(StoreError::Unavailable(_))),
        "{opened:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(TIMEOUT_MS * 3));

    server.restart().expect("restart redis-server");
    // The same handle works again once its connection is re-established.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        match store
            .create_task(new_task("movies", TaskKind::IndexCreation))
            .await
        {
            Ok(task) => break task,
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(other) => panic!("store did not recover: {other:?}"),
        }
    };
    assert!(after.uid > before.uid);
    assert_eq!(store.get_task(before.uid).await.unwrap(), Some(before));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_stream_resyncs_after_a_reconnect() {
    let mut server = persistent_server();
    let url = format!("{}?timeout_ms={TIMEOUT_MS}", server.url());
    let store = miroir_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let mut events = store.subscribe_admin_session_revocations().await.unwrap();
    server.stop();
    server.restart().expect("restart redis-server");
    // Whatever was published during the outage is lost; the stream says so.
    let resync = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match events.next().await {
                Some(RevocationEvent::Resync) => return true,
                Some(RevocationEvent::Revoked(_)) => {}
                None => return false,
            }
        }
    })
    .await;
    assert_eq!(resync, Ok(true), "a Resync after the reconnect");
    // And it delivers again afterwards.
    let other = miroir_store::open(&url).await.unwrap();
    let session = crate::admin_sessions::admin_session("after-restart", Duration::from_secs(60));
    other.create_admin_session(session).await.unwrap();
    other.revoke_admin_session("after-restart").await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap();
    assert_eq!(
        next,
        Some(RevocationEvent::Revoked("after-restart".to_owned()))
    );
}

/// The key prefix of a Redis store under test and what reads its keys.
fn redis_keys(store: &TestStore) -> (support::RedisNodes, String) {
    match RawAccess::of(store) {
        Some(RawAccess::Redis { nodes, prefix }) => (nodes, prefix),
        _ => panic!("not a Redis store"),
    }
}

/// The walks through an index (tasks, jobs, name sets, CDC sinks, index records, API keys) return each row
/// once, pages of one row crossing the task partitions of a cluster; only `SCAN` walks may repeat
/// a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn indexed_copy_walks_return_each_row_once() {
    for store in [support::redis().await, support::redis_cluster().await] {
        seed_every_table(&store).await;
        for table in [
            CopyTable::Tasks,
            CopyTable::Jobs,
            CopyTable::Aliases,
            CopyTable::Canaries,
            CopyTable::CdcCursors,
            CopyTable::RolloverPolicies,
            CopyTable::SearchUiConfigs,
            CopyTable::Indexes,
            CopyTable::ApiKeys,
        ] {
            let rows = export_all(&store, table, 1).await;
            let keys: BTreeMap<String, &CopyRow> =
                rows.iter().map(|row| (row.key(), row)).collect();
            assert!(!rows.is_empty(), "{table}");
            assert_eq!(keys.len(), rows.len(), "{}: {table}", store.kind());
        }
    }
}

/// `clear_all_rows` deletes every key of its prefix but the schema version and the two
/// sequences, on a server and on a cluster, and no key of another prefix on the same server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clear_all_rows_leaves_only_the_version_and_the_sequences() {
    for store in [support::redis().await, support::redis_cluster().await] {
        let neighbour = store.fresh().await;
        seed_every_table(&store).await;
        seed_every_table(&neighbour).await;
        let (nodes, prefix) = redis_keys(&store);
        let (neighbour_nodes, neighbour_prefix) = redis_keys(&neighbour);
        let neighbour_keys = neighbour_nodes.keys(&neighbour_prefix).await;
        assert!(nodes.keys(&prefix).await.len() > 50);
        store.clear_all_rows().await.unwrap();
        assert_eq!(
            nodes.keys(&prefix).await,
            BTreeSet::from([
                format!("{prefix}:{{meta}}:schema_version"),
                format!("{prefix}:{{tasks}}:seq"),
                format!("{prefix}:{{jobs}}:claim_seq"),
            ]),
            "{}",
            store.kind()
        );
        assert_eq!(
            neighbour_nodes.keys(&neighbour_prefix).await,
            neighbour_keys
        );
    }
}
