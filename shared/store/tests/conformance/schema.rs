//! Schema versions and migration.

use std::time::Duration;

use miroir_store::{
    DEFAULT_API_KEYS, DynStore, IndexRecord, IndexState, Job, JobKind, JobQuery, JobState, NewJob,
    SCHEMA_VERSION, StoreError, TaskKind, Timestamp, check_schema_version,
};
use serde_json::json;

use crate::support::{RawAccess, TestStore, new_task};

pub async fn migrate_is_idempotent_and_reports_versions(store: &TestStore) {
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let again = store.migrate().await.unwrap();
    assert_eq!(
        (again.from, again.to, again.applied.len()),
        (SCHEMA_VERSION, SCHEMA_VERSION, 0)
    );
    assert!(check_schema_version(store.schema_version().await.unwrap()).is_ok());
}

pub async fn racing_migrations_converge(store: &TestStore) {
    // A fresh, empty store per backend: the suite's store is already migrated, so race on a new
    // namespace or file next to it.
    let Some(url) = store.url.as_ref() else {
        return;
    };
    let fresh_url = if url.starts_with("sqlite") {
        url.replace("store.db", "fresh.db")
    } else {
        url.replace("prefix=", "prefix=fresh")
    };
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = fresh_url.clone();
            tokio::spawn(async move {
                let store = miroir_store::open(&url).await.unwrap();
                assert!(store.schema_version().await.unwrap() <= SCHEMA_VERSION);
                store.migrate().await.unwrap()
            })
        })
        .collect();
    let mut applied = Vec::new();
    for handle in handles {
        let report = handle.await.unwrap();
        assert_eq!(report.to, SCHEMA_VERSION);
        applied.extend(report.applied);
    }
    applied.sort_unstable();
    let expected: Vec<u32> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(
        applied, expected,
        "every step applied exactly once across racers"
    );
    let reopened = miroir_store::open(&fresh_url).await.unwrap();
    assert_eq!(reopened.schema_version().await.unwrap(), SCHEMA_VERSION);
}

pub async fn store_ahead_is_refused(store: &TestStore) {
    let Some(raw) = RawAccess::of(store) else {
        return;
    };
    raw.set_schema_version(SCHEMA_VERSION + 1).await;
    let handle = store.reopen().await.unwrap();
    let version = handle.schema_version().await.unwrap();
    assert_eq!(version, SCHEMA_VERSION + 1);
    let expected = StoreError::SchemaAhead {
        store: SCHEMA_VERSION + 1,
        binary: SCHEMA_VERSION,
    };
    assert_eq!(check_schema_version(version), Err(expected.clone()));
    assert_eq!(handle.migrate().await, Err(expected));
    assert_eq!(
        handle.schema_version().await.unwrap(),
        SCHEMA_VERSION + 1,
        "nothing changed"
    );
    let message = check_schema_version(version).unwrap_err().to_string();
    assert!(
        message.contains(&(SCHEMA_VERSION + 1).to_string())
            && message.contains(&SCHEMA_VERSION.to_string()),
        "{message}"
    );
}

/// Step 2 (`job_claim_tokens`) upgrades a version-1 store holding jobs in every state: the jobs
/// in progress get the claim tokens 1, 2, … in enqueue order (their holders, version-1 binaries,
/// do not know them: such a claim ends by that binary's completion or by running out), every
/// other job and row is unchanged, and the next claim gets the next token. Steps 3 and 4 follow
/// in the same migration.
pub async fn a_version_1_store_with_jobs_upgrades_to_claim_tokens(store: &TestStore) {
    assert_eq!(SCHEMA_VERSION, 4, "this case upgrades from version 1 to 4");
    let Some(raw) = RawAccess::of(store) else {
        return;
    };
    let lease = Duration::from_secs(3600);
    let task = store
        .create_task(new_task("movies", TaskKind::DocumentAdditionOrUpdate))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for number in 0..7 {
        let job = store
            .enqueue_job(NewJob {
                kind: JobKind::Reindex,
                params: json!({"number": number}),
                max_attempts: if number == 1 { 1 } else { 3 },
            })
            .await
            .unwrap();
        ids.push(job.id);
    }
    // Enqueue order: 0 completed, 1 failed for good, 2 in progress (pod-a), 3 queued after a
    // failed attempt, 4 in progress (pod-b), 5 and 6 queued.
    let mut claims = Vec::new();
    for (worker, id) in ["pod-c", "pod-c", "pod-a", "pod-c", "pod-b"]
        .iter()
        .zip(&ids)
    {
        let claim = store
            .claim_next_job(worker, lease)
            .await
            .unwrap()
            .unwrap()
            .claim()
            .unwrap();
        assert_eq!(&claim.job_id, id);
        claims.push(claim);
    }
    store
        .complete_job(&claims[0], Some(json!("done")))
        .await
        .unwrap();
    store
        .fail_job(&claims[1], "boom", Duration::ZERO)
        .await
        .unwrap();
    store
        .heartbeat_job(&claims[2], lease, Some(json!({"cursor": 2})))
        .await
        .unwrap();
    store
        .fail_job(&claims[3], "retry me", Duration::ZERO)
        .await
        .unwrap();
    let all = JobQuery {
        limit: 100,
        ..JobQuery::default()
    };
    let before = store.list_jobs(&all).await.unwrap().jobs;
    let states: Vec<JobState> = before.iter().map(|job| job.state).collect();
    use JobState::{Completed, Failed, InProgress, Queued};
    assert_eq!(
        states,
        [
            Completed, Failed, InProgress, Queued, InProgress, Queued, Queued
        ]
    );

    raw.downgrade_to_version_1(&ids).await;
    let handle = store.reopen().await.unwrap();
    assert_eq!(handle.schema_version().await.unwrap(), 1);
    let report = handle.migrate().await.unwrap();
    assert_eq!(
        (report.from, report.to, report.applied),
        (1, 4, vec![2, 3, 4])
    );
    assert_only_the_default_api_keys(&handle).await;
    check_schema_version(handle.schema_version().await.unwrap()).unwrap();

    let after = handle.list_jobs(&all).await.unwrap().jobs;
    let expected: Vec<Job> = before
        .iter()
        .map(|job| Job {
            claim_token: match job.id.as_str() {
                id if id == ids[2] => Some(1),
                id if id == ids[4] => Some(2),
                _ => None,
            },
            ..job.clone()
        })
        .collect();
    assert_eq!(
        after, expected,
        "only the claims in progress changed, gaining tokens"
    );
    assert_eq!(handle.get_task(task.uid).await.unwrap(), Some(task));
    assert_eq!(handle.job_claim_sequence().await.unwrap(), 2);
    assert_eq!(
        handle
            .job_queue_depth()
            .await
            .unwrap()
            .values()
            .sum::<u64>(),
        3
    );

    // The upgraded claims are fenced like any other; new claims continue the sequence.
    let upgraded = after[2].claim().unwrap();
    assert_eq!((upgraded.worker.as_str(), upgraded.token), ("pod-a", 1));
    assert!(matches!(
        handle.heartbeat_job(&claims[2], lease, None).await,
        Err(StoreError::Conflict(_))
    ));
    handle.heartbeat_job(&upgraded, lease, None).await.unwrap();
    // The oldest claimable job by (run_after, enqueue order): job 5, or job 3 when its failure
    // and job 5's enqueue fell in the same millisecond.
    let expected = after
        .iter()
        .enumerate()
        .filter(|(_, job)| job.state == Queued)
        .min_by_key(|(position, job)| (job.run_after, *position))
        .map(|(_, job)| job.id.clone())
        .unwrap();
    let next = handle
        .claim_next_job("pod-d", lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((next.id, next.claim_token), (expected, Some(3)));
    assert!(handle.migrate().await.unwrap().applied.is_empty());
}

/// Step 3 (`index_records`) upgrades a version-2 store: the rows it held are unchanged, and
/// index records can be written and read once it is applied. Step 4 follows in the same
/// migration.
pub async fn a_version_2_store_upgrades_to_index_records(store: &TestStore) {
    assert_eq!(SCHEMA_VERSION, 4, "this case upgrades from version 2 to 4");
    let Some(raw) = RawAccess::of(store) else {
        return;
    };
    let task = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    let job = store
        .enqueue_job(NewJob {
            kind: JobKind::Reindex,
            params: json!({}),
            max_attempts: 3,
        })
        .await
        .unwrap();

    raw.downgrade_to_version_2().await;
    let handle = store.reopen().await.unwrap();
    let version = handle.schema_version().await.unwrap();
    assert_eq!(version, 2);
    assert!(matches!(
        check_schema_version(version),
        Err(StoreError::SchemaBehind {
            store: 2,
            binary: 4
        })
    ));
    let report = handle.migrate().await.unwrap();
    assert_eq!((report.from, report.to, report.applied), (2, 4, vec![3, 4]));
    assert_only_the_default_api_keys(&handle).await;
    check_schema_version(handle.schema_version().await.unwrap()).unwrap();

    assert_eq!(handle.get_task(task.uid).await.unwrap(), Some(task));
    assert_eq!(handle.get_job(&job.id).await.unwrap(), Some(job));
    assert_eq!(handle.list_indexes(None, 10).await.unwrap(), []);
    let now = Timestamp::now();
    let record = IndexRecord {
        uid: "movies".to_owned(),
        primary_key: None,
        physical_uid: "movies".to_owned(),
        shards: 1,
        settings_version: 0,
        state: IndexState::Active,
        version: 0,
        created_at: now,
        updated_at: now,
    };
    let stored = handle.put_index(record, 0).await.unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(handle.get_index("movies").await.unwrap(), Some(stored));
    assert!(handle.migrate().await.unwrap().applied.is_empty());
}

/// Step 4 (`api_keys`) upgrades a version-3 store: the rows it held are unchanged, and it holds
/// Meilisearch's four default keys, created by the step; migrating again creates no more.
pub async fn a_version_3_store_upgrades_to_api_keys(store: &TestStore) {
    assert_eq!(SCHEMA_VERSION, 4, "this case upgrades from version 3 to 4");
    let Some(raw) = RawAccess::of(store) else {
        return;
    };
    let before = store.list_api_keys(0, 10).await.unwrap().results;
    let task = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    let job = store
        .enqueue_job(NewJob {
            kind: JobKind::Reindex,
            params: json!({}),
            max_attempts: 3,
        })
        .await
        .unwrap();
    let now = Timestamp::now();
    let index = store
        .put_index(
            IndexRecord {
                uid: "movies".to_owned(),
                primary_key: Some("id".to_owned()),
                physical_uid: "movies".to_owned(),
                shards: 2,
                settings_version: 0,
                state: IndexState::Active,
                version: 0,
                created_at: now,
                updated_at: now,
            },
            0,
        )
        .await
        .unwrap();

    raw.downgrade_to_version_3().await;
    let handle = store.reopen().await.unwrap();
    let version = handle.schema_version().await.unwrap();
    assert_eq!(version, 3);
    assert!(matches!(
        check_schema_version(version),
        Err(StoreError::SchemaBehind {
            store: 3,
            binary: 4
        })
    ));
    let started = Timestamp::now();
    let report = handle.migrate().await.unwrap();
    assert_eq!((report.from, report.to, report.applied), (3, 4, vec![4]));
    check_schema_version(handle.schema_version().await.unwrap()).unwrap();

    assert_eq!(handle.get_task(task.uid).await.unwrap(), Some(task));
    assert_eq!(handle.get_job(&job.id).await.unwrap(), Some(job));
    assert_eq!(handle.get_index("movies").await.unwrap(), Some(index));
    let keys = assert_only_the_default_api_keys(&handle).await;
    assert!(
        keys.iter()
            .all(|key| key.created_at >= started.minus(std::time::Duration::from_secs(60))),
        "created by this migration: {keys:?}"
    );
    for key in &before {
        assert_eq!(
            handle.get_api_key(&key.uid).await.unwrap(),
            None,
            "the step made new uids"
        );
    }
    assert!(handle.migrate().await.unwrap().applied.is_empty());
    assert_eq!(handle.list_api_keys(0, 10).await.unwrap().results, keys);
}

/// The store holds exactly Meilisearch's four default keys, untouched, as schema step 4 creates
/// them (see `api_keys::the_default_keys_are_there_after_migrate`); returns them as listed.
async fn assert_only_the_default_api_keys(store: &DynStore) -> Vec<miroir_store::ApiKeyRecord> {
    let page = store.list_api_keys(0, 10).await.unwrap();
    assert_eq!(page.total, DEFAULT_API_KEYS.len() as u64);
    crate::api_keys::assert_default_keys(&page.results);
    page.results
}
