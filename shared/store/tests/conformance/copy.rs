//! Copying a store (`CopyStore`): what any backend exports, any backend imports into a store with
//! the same rows (same digest per table), keeping uids, the uid sequence, fencing tokens, job
//! order, job claim tokens and their sequence, and expiry; pages of any size cover every row;
//! an import replaces the row with its key; `clear_all_rows` keeps only the sequences.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use miroir_store::api_keys::untouched_default_api_keys;
use miroir_store::copy::{CdcOverflowBuffer, JobRecord, LeaseRecord};
use miroir_store::{
    CdcOverflowStats, CopyDigest, CopyPage, CopyRow, CopyTable, DynStore, Job, JobKind, JobQuery,
    JobState, NewJob, Session, StoreError, Task, TaskKind, TaskQuery, TaskStatus, Timestamp,
};
use serde_json::json;

use crate::seed::{ODD, SEED_TTL, seed_every_table, seed_expiring_tables, verify_every_table};
use crate::support::{TestStore, new_task, one_of_each_backend};

/// Count and checksum of every table.
type Digests = BTreeMap<CopyTable, (u64, String)>;

/// The pages of an export of `table` with pages of `page` rows, each checked to be at most that
/// long and of that table.
pub async fn export_pages(store: &DynStore, table: CopyTable, page: usize) -> Vec<Vec<CopyRow>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let exported = store
            .export_rows(table, cursor.as_deref(), page)
            .await
            .unwrap();
        assert!(exported.rows.len() <= page, "{table}: page over its limit");
        for row in &exported.rows {
            assert_eq!(row.table(), table, "a row of another table");
        }
        pages.push(exported.rows);
        match exported.next {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
}

/// Every row of `table`, read in pages of `page` rows.
pub async fn export_all(store: &DynStore, table: CopyTable, page: usize) -> Vec<CopyRow> {
    export_pages(store, table, page).await.concat()
}

/// The rows of `table` by key (a row exported twice, as a `SCAN` walk may, counts once).
async fn rows_by_key(store: &DynStore, table: CopyTable) -> BTreeMap<String, CopyRow> {
    export_all(store, table, 1000)
        .await
        .into_iter()
        .map(|row| (row.key(), row))
        .collect()
}

/// Digests every table of `store`, reading pages of `page` rows.
async fn digests(store: &DynStore, page: usize) -> Digests {
    let mut all = Digests::new();
    for table in CopyTable::ALL {
        let mut digest = CopyDigest::new();
        for row in export_all(store, *table, page).await {
            digest.add(&row);
        }
        all.insert(*table, (digest.count(), digest.checksum()));
    }
    all
}

/// Copies every table of `source` into `target` page by page, then the uid and claim token
/// sequences, as `miroir-migrate copy` does (deleting first the default API keys of a target that
/// holds only those: the source's keys replace them).
async fn copy(source: &DynStore, target: &DynStore, page: usize) {
    if let Some(defaults) = untouched_default_api_keys(&**target).await.unwrap() {
        for key in defaults {
            assert!(target.delete_api_key(&key.uid).await.unwrap());
        }
    }
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

/// The seeded store copied into a store of each backend and back (in pages of 7, the first copy
/// done twice) has the same digests at every step, and both copies answer the API like the
/// source.
pub async fn every_table_round_trips_through_every_backend(store: &TestStore) {
    let seeded = seed_every_table(store).await;
    let source = digests(store, 1000).await;
    for (table, (count, _)) in &source {
        assert!(*count > 0, "the seed wrote no row of {table}");
    }
    assert_eq!(source[&CopyTable::Tasks].0, 50);
    exported_rows_say_what_the_seed_wrote(store).await;

    for middle in one_of_each_backend().await {
        let kind = middle.kind();
        copy(store, &middle, 7).await;
        assert_eq!(
            digests(&middle, 1000).await,
            source,
            "after the copy to {kind}"
        );
        // Importing the same rows again replaces them: nothing changes, nothing counts twice.
        copy(store, &middle, 1000).await;
        assert_eq!(
            digests(&middle, 1000).await,
            source,
            "after a second copy to {kind}"
        );
        let back = store.fresh().await;
        copy(&middle, &back, 7).await;
        assert_eq!(digests(&back, 1000).await, source, "back from {kind}");
        // The API sees what the export does: indexes and counters were written with the rows.
        verify_every_table(&back, &seeded).await;
        verify_every_table(&middle, &seeded).await;
    }
}

/// The exported rows whose stored forms differ most between backends: a lease in each state,
/// overflow buffers (whole, events in order, an emptied one left out) and the expiry of
/// rate-limit counters (Redis reads it from the key).
async fn exported_rows_say_what_the_seed_wrote(store: &DynStore) {
    let leases: Vec<(String, u64, Option<String>)> = rows_by_key(store, CopyTable::Leases)
        .await
        .into_values()
        .map(|row| match row {
            CopyRow::Lease(LeaseRecord { scope, token, held }) => {
                (scope, token, held.map(|held| held.holder))
            }
            other => panic!("{other:?}"),
        })
        .collect();
    let lease = |scope: &str, token, holder: Option<&str>| {
        (scope.to_owned(), token, holder.map(str::to_owned))
    };
    assert_eq!(
        leases,
        [
            lease(ODD, 1, Some("pod-b")),
            lease("expired", 1, None),
            lease("leader", 1, Some("pod-a")),
            lease("released", 2, None),
        ]
    );
    let overflow: Vec<CopyRow> = rows_by_key(store, CopyTable::CdcOverflow)
        .await
        .into_values()
        .collect();
    let buffer = |sink_name: &str, events: Vec<Vec<u8>>| {
        CopyRow::CdcOverflow(CdcOverflowBuffer {
            sink_name: sink_name.to_owned(),
            events,
        })
    };
    assert_eq!(
        overflow,
        [
            buffer(ODD, vec![b"x".to_vec()]),
            buffer(
                "kafka",
                vec![b"event-1".to_vec(), Vec::new(), vec![0, 255, 1]]
            ),
        ]
    );
    let now = Timestamp::now();
    let counters = rows_by_key(store, CopyTable::RateLimits).await;
    assert_eq!(counters.len(), 3);
    for counter in counters.values() {
        let CopyRow::RateLimit(counter) = counter else {
            panic!("{counter:?}");
        };
        assert!(
            counter.expires_at > now && counter.expires_at <= now.plus(SEED_TTL),
            "{counter:?}"
        );
    }
}

/// An empty store (its four default API keys aside) exports one last page per table, empty but
/// for the keys; a seeded one the same rows whatever the page size.
pub async fn pages_of_any_size_cover_every_row(store: &TestStore) {
    let empty = store.fresh().await;
    for table in CopyTable::ALL {
        let page = empty.export_rows(*table, None, 10).await.unwrap();
        if *table == CopyTable::ApiKeys {
            assert_eq!((page.rows.len(), page.next), (4, None), "the default keys");
        } else {
            assert_eq!(page, CopyPage::default(), "{table}: one empty last page");
        }
    }
    seed_every_table(store).await;
    let whole = digests(store, 1000).await;
    for page in [1, 2, 3] {
        assert_eq!(digests(store, page).await, whole, "pages of {page}");
    }
}

/// A cursor no export handed out, or a page of no rows, is `InvalidInput` (naming the cursor and
/// the table).
pub async fn bad_cursors_and_limits_are_invalid_input(store: &TestStore) {
    for (table, cursor) in [
        (CopyTable::Tasks, "7"),
        (CopyTable::Tasks, "[\"7\"]"),
        (CopyTable::Tasks, "garbage"),
        (CopyTable::NodeSettings, "[\"a\"]"),
        (CopyTable::Tenants, "[\"zz\"]"),
        (CopyTable::CdcOverflow, "[1]"),
        (CopyTable::Sessions, "not json"),
        (CopyTable::Sessions, "{"),
        (CopyTable::ApiKeys, "garbage"),
        (CopyTable::ApiKeys, "x:y"),
    ] {
        match store.export_rows(table, Some(cursor), 10).await {
            Err(StoreError::InvalidInput(message)) => assert!(
                message.contains(&format!("`{cursor}`")) && message.contains(table.name()),
                "{message}"
            ),
            other => panic!("{table} {cursor}: {other:?}"),
        }
    }
    assert!(matches!(
        store.export_rows(CopyTable::Tasks, None, 0).await,
        Err(StoreError::InvalidInput(_))
    ));
}

/// After a copy, uids, fencing tokens, claim tokens and the job queue continue where the source
/// left them, even past rows it no longer has.
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

/// The task uid and claim token sequences are only ever raised, by hand or by importing a task or
/// a job's claim, and new uids and claims follow them.
pub async fn sequences_only_rise_and_imports_raise_them(store: &TestStore) {
    assert_eq!(store.task_sequence().await.unwrap(), 0);
    store.raise_task_sequence(10).await.unwrap();
    store.raise_task_sequence(5).await.unwrap();
    assert_eq!(store.task_sequence().await.unwrap(), 10, "never lowered");
    let created = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    assert_eq!(created.uid, 11);
    assert_eq!(store.task_sequence().await.unwrap(), 11);
    // An imported uid raises the sequence by itself; a smaller one leaves it.
    for uid in [100, 7] {
        let imported = Task {
            uid,
            ..created.clone()
        };
        store.import_rows(&[CopyRow::Task(imported)]).await.unwrap();
        assert_eq!(store.task_sequence().await.unwrap(), 100);
        assert!(store.get_task(uid).await.unwrap().is_some());
    }
    store.raise_task_sequence(50).await.unwrap();
    let next = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    assert_eq!(next.uid, 101);

    let new_job = || NewJob {
        kind: JobKind::Reindex,
        params: json!({}),
        max_attempts: 1,
    };
    let long = Duration::from_secs(3600);
    assert_eq!(store.job_claim_sequence().await.unwrap(), 0);
    store.raise_job_claim_sequence(10).await.unwrap();
    store.raise_job_claim_sequence(4).await.unwrap();
    assert_eq!(
        store.job_claim_sequence().await.unwrap(),
        10,
        "never lowered"
    );
    let job = store.enqueue_job(new_job()).await.unwrap();
    let claimed = store.claim_next_job("pod-a", long).await.unwrap().unwrap();
    assert_eq!(claimed.claim_token, Some(11));
    assert_eq!(store.job_claim_sequence().await.unwrap(), 11);
    // An imported claim raises the sequence to its token, in the import's atomic step.
    store
        .import_rows(&[CopyRow::Job(JobRecord {
            seq: 7,
            job: Job {
                claim_token: Some(500),
                ..claimed.clone()
            },
        })])
        .await
        .unwrap();
    assert_eq!(store.job_claim_sequence().await.unwrap(), 500);
    let imported = store.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(imported.claim_token, Some(500));
    assert!(matches!(
        store.complete_job(&claimed.claim().unwrap(), None).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .complete_job(&imported.claim().unwrap(), None)
        .await
        .unwrap();
    store.enqueue_job(new_job()).await.unwrap();
    let next = store.claim_next_job("pod-a", long).await.unwrap().unwrap();
    assert_eq!(next.claim_token, Some(501));
}

/// An imported row replaces the row with its key, and what indexes it: a task's filters, a job's
/// queue entry and seq, a CDC buffer's totals.
pub async fn an_import_replaces_the_row_with_its_key(store: &TestStore) {
    // A task replaced under its uid leaves the filters of its old status, type and index.
    let task = store
        .create_task(new_task("a", TaskKind::IndexCreation))
        .await
        .unwrap();
    let replacement = Task {
        index_uid: Some("b".to_owned()),
        kind: TaskKind::IndexDeletion,
        status: TaskStatus::Succeeded,
        finished_at: Some(Timestamp::from_millis(1_700_000_001_000)),
        ..task.clone()
    };
    store
        .import_rows(&[CopyRow::Task(replacement.clone())])
        .await
        .unwrap();
    assert_eq!(store.count_tasks().await.unwrap(), 1);
    assert_eq!(store.get_task(task.uid).await.unwrap(), Some(replacement));
    let total = |query: TaskQuery| async move { store.list_tasks(&query).await.unwrap().total };
    for (query, expected) in [
        (
            TaskQuery {
                statuses: Some(vec![TaskStatus::Enqueued]),
                ..TaskQuery::default()
            },
            0,
        ),
        (
            TaskQuery {
                index_uids: Some(vec!["a".to_owned()]),
                ..TaskQuery::default()
            },
            0,
        ),
        (
            TaskQuery {
                kinds: Some(vec![TaskKind::IndexCreation]),
                ..TaskQuery::default()
            },
            0,
        ),
        (
            TaskQuery {
                index_uids: Some(vec!["b".to_owned()]),
                kinds: Some(vec![TaskKind::IndexDeletion]),
                statuses: Some(vec![TaskStatus::Succeeded]),
                ..TaskQuery::default()
            },
            1,
        ),
    ] {
        assert_eq!(total(query.clone()).await, expected, "{query:?}");
    }

    // A queued job replaced by a completed copy leaves the queue; it keeps the copy's `seq`, and
    // a job enqueued later queues after it.
    let job = store
        .enqueue_job(NewJob {
            kind: JobKind::DumpImport,
            params: json!({}),
            max_attempts: 1,
        })
        .await
        .unwrap();
    let record = |seq, state| {
        CopyRow::Job(JobRecord {
            seq,
            job: Job {
                state,
                ..job.clone()
            },
        })
    };
    store
        .import_rows(&[record(40, JobState::Queued)])
        .await
        .unwrap();
    store
        .import_rows(&[record(41, JobState::Completed)])
        .await
        .unwrap();
    assert_eq!(
        export_all(store, CopyTable::Jobs, 10).await,
        [record(41, JobState::Completed)]
    );
    assert_eq!(store.job_queue_depth().await.unwrap(), BTreeMap::new());
    assert_eq!(
        store
            .claim_next_job("w", Duration::from_secs(60))
            .await
            .unwrap(),
        None
    );
    let completed = JobQuery {
        state: Some(JobState::Completed),
        limit: 10,
        ..JobQuery::default()
    };
    assert_eq!(store.list_jobs(&completed).await.unwrap().jobs.len(), 1);
    let later = store
        .enqueue_job(NewJob {
            kind: JobKind::Reindex,
            params: json!({}),
            max_attempts: 1,
        })
        .await
        .unwrap();
    let jobs = export_all(store, CopyTable::Jobs, 10).await;
    assert!(
        matches!(&jobs[1], CopyRow::Job(JobRecord { seq: 42, job }) if job.id == later.id),
        "{jobs:?}"
    );

    // An overflow buffer replaces the sink's buffer and its totals; an empty one clears the sink.
    store
        .push_cdc_overflow("s", vec![b"old".to_vec()], 100)
        .await
        .unwrap();
    let buffer = |events: Vec<&[u8]>| {
        CopyRow::CdcOverflow(CdcOverflowBuffer {
            sink_name: "s".to_owned(),
            events: events.into_iter().map(<[u8]>::to_vec).collect(),
        })
    };
    store
        .import_rows(&[buffer(vec![b"p", b"qq"])])
        .await
        .unwrap();
    assert_eq!(
        store.cdc_overflow_stats("s").await.unwrap(),
        CdcOverflowStats {
            events: 2,
            bytes: 3
        }
    );
    // The totals gate pushes: 3 + 97 fits in 100, one byte more does not.
    assert!(
        !store
            .push_cdc_overflow("s", vec![vec![0; 98]], 100)
            .await
            .unwrap()
    );
    assert!(
        store
            .push_cdc_overflow("s", vec![vec![0; 97]], 100)
            .await
            .unwrap()
    );
    assert_eq!(
        store.pop_cdc_overflow("s", 10).await.unwrap(),
        vec![b"p".to_vec(), b"qq".to_vec(), vec![0; 97]]
    );
    store.import_rows(&[buffer(vec![b"r"])]).await.unwrap();
    store.import_rows(&[buffer(Vec::new())]).await.unwrap();
    assert_eq!(
        store.cdc_overflow_stats("s").await.unwrap(),
        CdcOverflowStats::default()
    );
    assert!(
        export_all(store, CopyTable::CdcOverflow, 10)
            .await
            .is_empty()
    );
}

/// The tables whose rows expire, and the leases (a lease's hold expires).
const EXPIRING: [CopyTable; 7] = [
    CopyTable::Sessions,
    CopyTable::Idempotency,
    CopyTable::ScopedKeyObservations,
    CopyTable::AdminSessions,
    CopyTable::RateLimits,
    CopyTable::LoginBackoffs,
    CopyTable::Leases,
];

/// The keys of every [`EXPIRING`] table's rows, and the held leases' holders.
async fn expiring_rows(store: &DynStore) -> BTreeMap<CopyTable, Vec<String>> {
    let mut rows = BTreeMap::new();
    for table in EXPIRING {
        let keys = rows_by_key(store, table)
            .await
            .into_values()
            .map(|row| match row {
                CopyRow::Lease(LeaseRecord { scope, token, held }) => {
                    format!("{scope} {token} {:?}", held.map(|held| held.holder))
                }
                row => row.key(),
            })
            .collect();
        rows.insert(table, keys);
    }
    rows
}

/// Rows of every expiring table are left out of exports once expired, and skipped by imports
/// when expired (a lease keeps its token without its hold).
pub async fn expired_rows_are_neither_exported_nor_imported(store: &TestStore) {
    const TTL: Duration = Duration::from_secs(1);
    let session = |id: &str, expires_at| Session {
        session_id: id.to_owned(),
        last_write_task_uid: None,
        last_write_at: None,
        pinned_group: None,
        min_settings_version: 0,
        expires_at,
    };
    let long = session("long", Timestamp::now().plus(SEED_TTL));
    store.put_session(long).await.unwrap();
    seed_expiring_tables(store, TTL).await;
    let mut alive = Vec::new();
    for table in EXPIRING {
        let rows = export_all(store, table, 100).await;
        assert!(!rows.is_empty(), "{table}");
        alive.extend(rows);
    }
    tokio::time::sleep(TTL + Duration::from_millis(500)).await;
    // What is left: the long session, and the lease's token without its hold.
    let left: BTreeMap<CopyTable, Vec<String>> = EXPIRING
        .into_iter()
        .map(|table| {
            let keys: &[&str] = match table {
                CopyTable::Sessions => &["long"],
                CopyTable::Leases => &["leader 1 None"],
                _ => &[],
            };
            (table, keys.iter().map(|key| (*key).to_owned()).collect())
        })
        .collect();
    assert_eq!(expiring_rows(store).await, left);

    // Rows exported alive and expired since, and a row expiring as it is imported, are not
    // imported (the lease is: its token outlives its hold).
    let target = store.fresh().await;
    alive.push(CopyRow::Session(session("stale", Timestamp::now())));
    target.import_rows(&alive).await.unwrap();
    assert_eq!(expiring_rows(&target).await, left);
    assert_eq!(target.get_session("stale").await.unwrap(), None);
    assert_eq!(target.get_lease("leader").await.unwrap(), None);
    assert!(target.list_leases().await.unwrap().is_empty());
}

/// `clear_all_rows` empties every table (fencing tokens included) of this store only, and keeps
/// the schema version and both sequences.
pub async fn clear_all_rows_empties_every_table_and_keeps_the_sequences(store: &TestStore) {
    seed_every_table(store).await;
    // On Redis, another prefix on the same server.
    let neighbour = store.fresh().await;
    seed_every_table(&neighbour).await;
    let untouched = digests(&neighbour, 1000).await;
    let sequence = store.task_sequence().await.unwrap();
    assert!(sequence >= 51);
    let claims = store.job_claim_sequence().await.unwrap();
    assert!(claims >= 1, "the seed claims a job");
    let version = store.schema_version().await.unwrap();
    store.clear_all_rows().await.unwrap();
    for (table, (count, _)) in digests(store, 100).await {
        assert_eq!(count, 0, "{table} still has rows");
    }
    assert_eq!(store.count_tasks().await.unwrap(), 0);
    assert_eq!(
        store.cdc_overflow_stats("kafka").await.unwrap(),
        CdcOverflowStats::default()
    );
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
    assert_eq!(store.count_tasks().await.unwrap(), 1);
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
    let lease = store
        .acquire_lease("leader", "pod-a", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.token, 1, "the fencing tokens went with the rows");
    assert_eq!(digests(&neighbour, 1000).await, untouched, "another store");
}

/// Imports, exports, copies and clears 100 000 tasks, printing how long each took:
/// `cargo test -p miroir-store --release --test conformance 100k -- --ignored --nocapture`.
pub async fn import_export_and_clear_of_100k_tasks(store: &TestStore) {
    const TASKS: u64 = 100_000;
    let rows: Vec<CopyRow> = (1..=TASKS)
        .map(|uid| {
            let mut task =
                new_task(&format!("index-{}", uid % 7), TaskKind::SettingsUpdate).into_task(uid);
            task.status = TaskStatus::Succeeded;
            task.finished_at = Some(Timestamp::from_millis(2_000));
            CopyRow::Task(task)
        })
        .collect();
    let kind = store.kind();
    let started = Instant::now();
    store.import_rows(&rows).await.unwrap();
    eprintln!(
        "{kind}: one import of {TASKS} tasks: {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let exported = export_all(store, CopyTable::Tasks, 1000).await;
    eprintln!("{kind}: export in pages of 1000: {:?}", started.elapsed());
    assert_eq!(exported.len() as u64, TASKS);
    let target = store.fresh().await;
    let started = Instant::now();
    copy(store, &target, 1000).await;
    eprintln!(
        "{kind}: copy into another {} in pages of 1000: {:?}",
        target.kind(),
        started.elapsed()
    );
    assert_eq!(target.count_tasks().await.unwrap(), TASKS);
    assert_eq!(target.task_sequence().await.unwrap(), TASKS);
    let started = Instant::now();
    target.clear_all_rows().await.unwrap();
    eprintln!("{kind}: clear_all_rows: {:?}", started.elapsed());
    assert_eq!(target.count_tasks().await.unwrap(), 0);
}
