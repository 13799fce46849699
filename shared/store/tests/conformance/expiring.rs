//! TTL'd rows: read-your-writes sessions and idempotency records.

use std::time::Duration;

use miroir_store::{IdempotencyInsert, IdempotencyRecord, Session, StoreError, Timestamp};

use crate::support::{TestStore, sleep_ms};

fn session(id: &str, ttl: Duration) -> Session {
    Session {
        session_id: id.to_owned(),
        last_write_task_uid: Some(42),
        last_write_at: Some(Timestamp::now()),
        pinned_group: Some(1),
        min_settings_version: 7,
        expires_at: Timestamp::now().plus(ttl),
    }
}

fn record(key: &str, body: u8, task_uid: u64, ttl: Duration) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.to_owned(),
        body_sha256: [body; 32],
        task_uid,
        expires_at: Timestamp::now().plus(ttl),
    }
}

pub async fn sessions_round_trip_and_expire(store: &TestStore) {
    let long = session("s-long", Duration::from_secs(900));
    store.put_session(long.clone()).await.unwrap();
    assert_eq!(
        store.get_session("s-long").await.unwrap(),
        Some(long.clone())
    );
    let mut updated = long.clone();
    updated.pinned_group = None;
    updated.last_write_task_uid = Some(43);
    store.put_session(updated.clone()).await.unwrap();
    assert_eq!(store.get_session("s-long").await.unwrap(), Some(updated));
    store
        .put_session(session("s-short", Duration::from_millis(200)))
        .await
        .unwrap();
    assert!(store.get_session("s-short").await.unwrap().is_some());
    sleep_ms(350).await;
    assert_eq!(store.get_session("s-short").await.unwrap(), None);
    let past = Session {
        expires_at: Timestamp::now().minus(Duration::from_secs(1)),
        ..long
    };
    assert!(matches!(
        store.put_session(past).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(store.delete_session("s-long").await.unwrap());
    assert!(!store.delete_session("s-long").await.unwrap());
}

pub async fn idempotency_insert_is_create_if_absent(store: &TestStore) {
    let first = record("key-1", 1, 10, Duration::from_secs(60));
    assert_eq!(
        store
            .insert_idempotency_if_absent(first.clone())
            .await
            .unwrap(),
        IdempotencyInsert::Inserted
    );
    let second = record("key-1", 2, 11, Duration::from_secs(60));
    assert_eq!(
        store.insert_idempotency_if_absent(second).await.unwrap(),
        IdempotencyInsert::Existing(first.clone())
    );
    assert_eq!(store.get_idempotency("key-1").await.unwrap(), Some(first));
    // An expired record is as good as absent.
    store
        .insert_idempotency_if_absent(record("key-2", 1, 20, Duration::from_millis(200)))
        .await
        .unwrap();
    sleep_ms(350).await;
    assert_eq!(store.get_idempotency("key-2").await.unwrap(), None);
    let fresh = record("key-2", 3, 21, Duration::from_secs(60));
    assert_eq!(
        store
            .insert_idempotency_if_absent(fresh.clone())
            .await
            .unwrap(),
        IdempotencyInsert::Inserted
    );
    assert_eq!(store.get_idempotency("key-2").await.unwrap(), Some(fresh));
    let past = IdempotencyRecord {
        expires_at: Timestamp::now().minus(Duration::from_secs(1)),
        ..record("key-3", 1, 1, Duration::ZERO)
    };
    assert!(matches!(
        store.insert_idempotency_if_absent(past).await,
        Err(StoreError::InvalidInput(_))
    ));
}

pub async fn racing_idempotency_inserts_have_one_winner(store: &TestStore) {
    let handles: Vec<_> = (0..8u8)
        .map(|n| {
            let store = store.store.clone();
            tokio::spawn(async move {
                store
                    .insert_idempotency_if_absent(record(
                        "contested",
                        n,
                        u64::from(n),
                        Duration::from_secs(60),
                    ))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut inserted = 0;
    let mut existing = Vec::new();
    for handle in handles {
        match handle.await.unwrap() {
            IdempotencyInsert::Inserted => inserted += 1,
            IdempotencyInsert::Existing(record) => existing.push(record),
        }
    }
    assert_eq!(inserted, 1);
    let winner = store.get_idempotency("contested").await.unwrap().unwrap();
    assert!(
        existing.iter().all(|record| *record == winner),
        "losers see the winner's record"
    );
}

pub async fn expired_rows_are_never_returned(store: &TestStore) {
    let ttl = Duration::from_millis(250);
    store.put_session(session("s", ttl)).await.unwrap();
    store
        .insert_idempotency_if_absent(record("k", 1, 1, ttl))
        .await
        .unwrap();
    store
        .create_admin_session(crate::admin_sessions::admin_session("a", ttl))
        .await
        .unwrap();
    sleep_ms(400).await;
    assert_eq!(store.get_session("s").await.unwrap(), None);
    assert_eq!(store.get_idempotency("k").await.unwrap(), None);
    assert_eq!(store.get_admin_session("a").await.unwrap(), None);
}

pub async fn prune_expired_is_safe(store: &TestStore) {
    let live = session("live", Duration::from_secs(600));
    store.put_session(live.clone()).await.unwrap();
    for n in 0..5 {
        store
            .put_session(session(&format!("dead-{n}"), Duration::from_millis(150)))
            .await
            .unwrap();
    }
    store
        .insert_idempotency_if_absent(record("dead", 1, 1, Duration::from_millis(150)))
        .await
        .unwrap();
    sleep_ms(300).await;
    let report = store.prune_expired(3).await.unwrap();
    // Redis expires keys by itself; SQLite deletes them here in batches.
    assert!(report.sessions <= 3);
    store.prune_expired(100).await.unwrap();
    assert_eq!(
        store.prune_expired(100).await.unwrap().total(),
        0,
        "nothing left to prune"
    );
    assert_eq!(store.get_session("live").await.unwrap(), Some(live));
    assert_eq!(store.get_session("dead-0").await.unwrap(), None);
}
