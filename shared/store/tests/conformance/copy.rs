//! Copying a store (`CopyStore`): what any backend exports, any backend imports into a store with
//! the same rows (same digest per table), keeping uids, the uid sequence, fencing tokens, job
//! order, job claim tokens and their sequence, and expiry.

use std::collections::BTreeMap;
use std::time::Duration;

use miroir_store::{
    CopyDigest, CopyRow, CopyTable, DynStore, JobKind, NewJob, Session, StoreError, TaskKind,
    Timestamp,
};
use serde_json::json;

use crate::seed::{seed_every_table, verify_every_table};
use crate::support::{TestStore, new_task, sleep_ms};

/// Count and checksum of every table.
type Digests = BTreeMap<CopyTable, (u64, String)>;

/// Digests every table of `store`, reading pages of `page` rows.
async fn digests(store: &DynStore, page: usize) -> Digests {
    let mut all = Digests::new();
    for table in CopyTable::ALL {
        let mut digest = CopyDigest::new();
        let mut cursor: Option<String> = None;
        loop {
            let exported = store
                .export_rows(*table, cursor.as_deref(), page)
                .await
                .unwrap();
            assert!(exported.rows.len() <= page, "{table}: page over its limit");
            for row in &exported.rows {
                assert_eq!(row.table(), *table, "a row of another table");
                digest.add(row);
            }
            match exported.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        all.insert(*table, (digest.count(), digest.checksum()));
    }
    all
}

/// Copies every table of `source` into `target` page by page, then the uid and claim token
/// sequences, as `miroir-migrate copy` does.
async fn copy(source: &DynStore, target: &DynStore, page: usize) {
    for table in CopyTable::ALL {
        let mut cursor: Option<String> = None;
        loop {
            let exported = source
                .export_rows(*table, cursor.as_deref(), page)
                .await
                .unwrap();
            target.import_rows(&exported.rows).await.unwrap();
            match exported.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    let sequence = source.task_sequence().await.unwrap();
    target.raise_task_sequence(sequence).await.unwrap();
    let claims = source.job_claim_sequence().await.unwrap();
    target.raise_job_claim_sequence(claims).await.unwrap();
}

pub async fn every_table_round_trips_through_sqlite_and_back(store: &TestStore) {
    let seeded = seed_every_table(store).await;
    let source = digests(store, 1000).await;
    for (table, (count, _)) in &source {
        assert!(*count > 0, "the seed wrote no row of {table}");
    }
    assert_eq!(source[&CopyTable::Tasks].0, 50);

    let middle = crate::support::sqlite_memory().await;
    copy(store, &middle, 7).await;
    assert_eq!(
        digests(&middle, 1000).await,
        source,
        "after the copy to SQLite"
    );

    let back = store.fresh().await;
    copy(&middle, &back, 7).await;
    assert_eq!(digests(&back, 1000).await, source, "after the copy back");
    verify_every_table(&back, &seeded).await;
}

pub async fn pages_of_one_row_cover_every_row_once(store: &TestStore) {
    seed_every_table(store).await;
    assert_eq!(digests(store, 1).await, digests(store, 1000).await);
}

pub async fn uids_tokens_and_job_order_continue_after_a_copy(store: &TestStore) {
    let mut uids = Vec::new();
    for _ in 0..5 {
        uids.push(
            store
                .create_task(new_task("movies", TaskKind::IndexCreation))
                .await
                .unwrap()
                .uid,
        );
    }
    // The newest task is gone: the sequence, not the largest uid left, says where uids go on.
    assert!(store.delete_task(uids[4]).await.unwrap());
    assert_eq!(store.task_sequence().await.unwrap(), uids[4]);

    let first = store
        .acquire_lease("leader", "pod-a", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .release_lease("leader", "pod-a", first.token)
            .await
            .unwrap()
    );
    let held = store
        .acquire_lease("leader", "pod-b", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(held.token > first.token);

    // A job in progress carries its claim token; a completed one no longer carries the newest
    // token handed out, which only the sequence remembers.
    let long = Duration::from_secs(3600);
    let in_progress = store
        .enqueue_job(NewJob {
            kind: JobKind::DumpImport,
            params: json!({"number": "in progress"}),
            max_attempts: 3,
        })
        .await
        .unwrap();
    let running = store
        .claim_next_job("worker", long)
        .await
        .unwrap()
        .unwrap()
        .claim()
        .unwrap();
    assert_eq!(running.job_id, in_progress.id);
    store
        .enqueue_job(NewJob {
            kind: JobKind::DumpImport,
            params: json!({"number": "completed"}),
            max_attempts: 3,
        })
        .await
        .unwrap();
    let finished = store
        .claim_next_job("worker", long)
        .await
        .unwrap()
        .unwrap()
        .claim()
        .unwrap();
    store.complete_job(&finished, None).await.unwrap();
    let last_token = store.job_claim_sequence().await.unwrap();
    assert_eq!(last_token, finished.token);
    assert!(finished.token > running.token);

    let mut jobs = Vec::new();
    for number in 0..3 {
        jobs.push(
            store
                .enqueue_job(NewJob {
                    kind: JobKind::Reindex,
                    params: json!({"number": number}),
                    max_attempts: 3,
                })
                .await
                .unwrap()
                .id,
        );
    }

    let target = store.fresh().await;
    copy(store, &target, 2).await;

    assert_eq!(target.task_sequence().await.unwrap(), uids[4]);
    let next = target
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    assert_eq!(next.uid, uids[4] + 1, "uids continue after the copy");
    assert!(target.get_task(uids[4]).await.unwrap().is_none());
    for uid in &uids[..4] {
        assert_eq!(
            target.get_task(*uid).await.unwrap(),
            store.get_task(*uid).await.unwrap()
        );
    }

    // The lease is still held by pod-b with its token; a stale token stays fenced.
    assert_eq!(
        target.get_lease("leader").await.unwrap(),
        Some(held.clone())
    );
    assert!(
        target
            .acquire_lease("leader", "pod-c", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        target.check_fencing_token("leader", first.token).await,
        Err(StoreError::Fenced { .. })
    ));
    assert!(
        target
            .release_lease("leader", "pod-b", held.token)
            .await
            .unwrap()
    );
    let after = target
        .acquire_lease("leader", "pod-c", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.token,
        held.token + 1,
        "tokens continue after the copy"
    );

    // The claim in progress is carried over with its token; no token is handed out again.
    assert_eq!(target.job_claim_sequence().await.unwrap(), last_token);
    assert_eq!(
        target
            .get_job(&in_progress.id)
            .await
            .unwrap()
            .unwrap()
            .claim(),
        Some(running.clone())
    );
    target.heartbeat_job(&running, long, None).await.unwrap();

    // Jobs are claimed in their enqueue order, with tokens after the source's last one.
    let mut previous = last_token;
    for id in &jobs {
        let claimed = target
            .claim_next_job("worker", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&claimed.id, id);
        let token = claimed.claim_token.unwrap();
        assert!(token > previous, "token {token} after {previous}");
        previous = token;
    }
    let later = target
        .enqueue_job(NewJob {
            kind: JobKind::Reindex,
            params: json!({"number": 3}),
            max_attempts: 3,
        })
        .await
        .unwrap();
    assert_eq!(
        target
            .claim_next_job("worker", Duration::from_secs(60))
            .await
            .unwrap()
            .map(|job| job.id),
        Some(later.id),
        "a job enqueued after the copy queues behind the copied ones"
    );
}

pub async fn expired_rows_are_neither_exported_nor_imported(store: &TestStore) {
    let session = |id: &str, expires_at: Timestamp| Session {
        session_id: id.to_owned(),
        last_write_task_uid: None,
        last_write_at: None,
        pinned_group: None,
        min_settings_version: 0,
        expires_at,
    };
    store
        .put_session(session(
            "short",
            Timestamp::now().plus(Duration::from_millis(300)),
        ))
        .await
        .unwrap();
    store
        .put_session(session(
            "long",
            Timestamp::now().plus(Duration::from_secs(3600)),
        ))
        .await
        .unwrap();
    sleep_ms(700).await;
    let page = store
        .export_rows(CopyTable::Sessions, None, 100)
        .await
        .unwrap();
    let ids: Vec<String> = page.rows.iter().map(CopyRow::key).collect();
    assert_eq!(ids, ["long"]);

    let target = store.fresh().await;
    target
        .import_rows(&[CopyRow::Session(session(
            "stale",
            Timestamp::from_millis(Timestamp::now().as_millis() - 1000),
        ))])
        .await
        .unwrap();
    assert_eq!(target.get_session("stale").await.unwrap(), None);
    assert!(
        target
            .export_rows(CopyTable::Sessions, None, 100)
            .await
            .unwrap()
            .rows
            .is_empty()
    );
}

pub async fn clear_all_rows_empties_every_table_and_keeps_the_sequence(store: &TestStore) {
    seed_every_table(store).await;
    let sequence = store.task_sequence().await.unwrap();
    assert!(sequence >= 50);
    let claims = store.job_claim_sequence().await.unwrap();
    assert!(claims >= 1, "the seed claims a job");
    let version = store.schema_version().await.unwrap();
    store.clear_all_rows().await.unwrap();
    for (table, (count, _)) in digests(store, 100).await {
        assert_eq!(count, 0, "{table} still has rows");
    }
    assert_eq!(store.count_tasks().await.unwrap(), 0);
    assert_eq!(store.schema_version().await.unwrap(), version);
    assert_eq!(store.task_sequence().await.unwrap(), sequence);
    store.raise_task_sequence(sequence - 10).await.unwrap();
    assert_eq!(
        store.task_sequence().await.unwrap(),
        sequence,
        "never lowered"
    );
    let next = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    assert_eq!(next.uid, sequence + 1);
    assert_eq!(store.job_claim_sequence().await.unwrap(), claims);
    store.raise_job_claim_sequence(claims - 1).await.unwrap();
    assert_eq!(
        store.job_claim_sequence().await.unwrap(),
        claims,
        "never lowered"
    );
    store
        .enqueue_job(NewJob {
            kind: JobKind::Reindex,
            params: json!({}),
            max_attempts: 1,
        })
        .await
        .unwrap();
    let claimed = store
        .claim_next_job("pod-a", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.claim_token, Some(claims + 1), "claim tokens go on");
}
