//! What only a server backend can show: a restart of the Redis process with persistence on,
//! an outage answered with `Unavailable` within the timeout, and recovery of the same handle.

use std::time::{Duration, Instant};

use futures::StreamExt;
use miroir_store::{RevocationEvent, StoreError, TaskKind};
use miroir_test_support::{Appendfsync, RedisOptions, RedisServer};

use crate::seed::{seed_every_table, verify_every_table};
use crate::support::new_task;

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
