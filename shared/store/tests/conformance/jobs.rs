//! The job queue: exactly-once claims, claim tokens, heartbeats, retries with backoff, orphan
//! reclaim.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use miroir_store::{Job, JobClaim, JobKind, JobQuery, JobState, NewJob, StoreError};
use serde_json::json;

use crate::support::{TestStore, sleep_ms};

const LEASE: Duration = Duration::from_secs(30);

fn job(kind: JobKind, n: u64, max_attempts: u32) -> NewJob {
    NewJob {
        kind,
        params: json!({"chunk": n}),
        max_attempts,
    }
}

/// The claim of a job `claim_next_job` just returned.
fn claim_of(job: Option<Job>) -> JobClaim {
    let job = job.expect("a claimable job");
    job.claim().expect("a claimed job has a claim")
}

pub async fn enqueue_and_get(store: &TestStore) {
    let queued = store
        .enqueue_job(job(JobKind::DumpImport, 1, 3))
        .await
        .unwrap();
    assert_eq!(
        (queued.state, queued.attempts, queued.max_attempts),
        (JobState::Queued, 0, 3)
    );
    assert_eq!(
        (
            queued.claimed_by.as_deref(),
            queued.claim_expires_at,
            queued.claim_token
        ),
        (None, None, None)
    );
    assert_eq!(queued.claim(), None);
    assert_eq!(queued.params, json!({"chunk": 1}));
    assert_eq!(
        store.get_job(&queued.id).await.unwrap(),
        Some(queued.clone())
    );
    assert_eq!(store.get_job("no-such-job").await.unwrap(), None);
    let zero = store.enqueue_job(job(JobKind::DumpImport, 2, 0)).await;
    assert!(matches!(zero, Err(StoreError::InvalidInput(_))), "{zero:?}");
}

pub async fn claim_takes_oldest_ready_job(store: &TestStore) {
    let first = store
        .enqueue_job(job(JobKind::Reindex, 1, 3))
        .await
        .unwrap();
    let second = store
        .enqueue_job(job(JobKind::ReshardBackfill, 2, 3))
        .await
        .unwrap();
    let claimed = store.claim_next_job("pod-a", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(
        (
            claimed.state,
            claimed.attempts,
            claimed.claimed_by.as_deref()
        ),
        (JobState::InProgress, 1, Some("pod-a"))
    );
    assert!(claimed.claim_expires_at.unwrap() > miroir_store::Timestamp::now());
    let token = claimed.claim_token.expect("a claim token");
    assert_eq!(
        claimed.claim(),
        Some(JobClaim {
            job_id: first.id.clone(),
            worker: "pod-a".to_owned(),
            token
        })
    );
    assert_eq!(store.get_job(&first.id).await.unwrap(), Some(claimed));
    let next = store.claim_next_job("pod-b", LEASE).await.unwrap().unwrap();
    assert_eq!(next.id, second.id);
    assert!(next.claim_token.unwrap() > token, "tokens grow");
    assert_eq!(store.claim_next_job("pod-c", LEASE).await.unwrap(), None);
}

pub async fn concurrent_claims_take_each_job_once(store: &TestStore) {
    let mut ids = BTreeSet::new();
    for n in 0..1000 {
        ids.insert(
            store
                .enqueue_job(job(JobKind::DumpImport, n, 1))
                .await
                .unwrap()
                .id,
        );
    }
    let mut handles = Vec::new();
    for worker in 0..8 {
        let handle_store = match store.reopen().await {
            Some(other) if worker % 2 == 1 => other,
            _ => store.store.clone(),
        };
        handles.push(tokio::spawn(async move {
            let mut claimed = Vec::new();
            while let Some(job) = handle_store
                .claim_next_job(&format!("worker-{worker}"), LEASE)
                .await
                .unwrap()
            {
                claimed.push(job.claim().unwrap());
            }
            claimed
        }));
    }
    let mut seen = BTreeSet::new();
    let mut tokens = BTreeSet::new();
    for handle in handles {
        for claim in handle.await.unwrap() {
            assert!(
                seen.insert(claim.job_id.clone()),
                "job {} claimed twice",
                claim.job_id
            );
            assert!(tokens.insert(claim.token), "token {} twice", claim.token);
        }
    }
    assert_eq!(seen, ids, "every job claimed exactly once");
    assert!(store.job_queue_depth().await.unwrap().is_empty());
}

pub async fn heartbeat_complete_and_fail_require_the_claimant(store: &TestStore) {
    let queued = store
        .enqueue_job(job(JobKind::Reindex, 1, 3))
        .await
        .unwrap();
    let claimed = store
        .claim_next_job("pod-a", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    let claim = claimed.claim().unwrap();
    let beat = store
        .heartbeat_job(&claim, LEASE, Some(json!({"last_cursor": 500})))
        .await
        .unwrap();
    assert!(beat.claim_expires_at > claimed.claim_expires_at);
    assert_eq!(beat.progress, json!({"last_cursor": 500}));
    assert_eq!(
        beat.claim(),
        Some(claim.clone()),
        "a heartbeat keeps the claim"
    );
    let kept = store.heartbeat_job(&claim, LEASE, None).await.unwrap();
    assert_eq!(
        kept.progress,
        json!({"last_cursor": 500}),
        "None keeps progress"
    );
    // Another worker with the right token, and the right worker with another token.
    let other_worker = JobClaim {
        worker: "pod-b".to_owned(),
        ..claim.clone()
    };
    let other_token = JobClaim {
        token: claim.token + 1,
        ..claim.clone()
    };
    for wrong in [&other_worker, &other_token] {
        for result in [
            store.heartbeat_job(wrong, LEASE, None).await,
            store.complete_job(wrong, None).await,
            store.fail_job(wrong, "boom", Duration::ZERO).await,
        ] {
            assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
        }
    }
    assert_eq!(store.get_job(&queued.id).await.unwrap(), Some(kept.clone()));
    let missing = JobClaim {
        job_id: "missing".to_owned(),
        ..claim.clone()
    };
    assert!(matches!(
        store.complete_job(&missing, None).await,
        Err(StoreError::NotFound(_))
    ));
    let done = store
        .complete_job(&claim, Some(json!({"last_cursor": 900})))
        .await
        .unwrap();
    assert_eq!(
        (
            done.state,
            done.claimed_by,
            done.claim_expires_at,
            done.claim_token
        ),
        (JobState::Completed, None, None, None)
    );
    assert_eq!(done.progress, json!({"last_cursor": 900}));
    let late = store.heartbeat_job(&claim, LEASE, None).await;
    assert!(
        matches!(late, Err(StoreError::Conflict(_))),
        "a completed job takes no heartbeat: {late:?}"
    );
    let again = store.complete_job(&claim, None).await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "a claim completes its job once: {again:?}"
    );
}

/// Two processes configured with the same worker name are told apart by their claim tokens: once
/// the first one's claim expired and the job was claimed again under the same name, only the
/// second claim can heartbeat, complete or fail the job. Tokens strictly increase over every
/// claim, also after `retry_job` reset the attempts.
pub async fn a_reclaimed_claim_is_refused_even_under_the_same_worker_name(store: &TestStore) {
    let queued = store
        .enqueue_job(job(JobKind::ReshardBackfill, 1, 3))
        .await
        .unwrap();
    let mut tokens = Vec::new();
    let first = claim_of(
        store
            .claim_next_job("pod-a", Duration::from_millis(200))
            .await
            .unwrap(),
    );
    tokens.push(first.token);
    store
        .heartbeat_job(
            &first,
            Duration::from_millis(200),
            Some(json!({"last_cursor": 1})),
        )
        .await
        .unwrap();
    sleep_ms(350).await;
    assert_eq!(
        store.reclaim_expired_jobs(10).await.unwrap(),
        vec![queued.id.clone()]
    );
    let refuse_all = |claim: JobClaim| async move {
        for result in [
            store
                .heartbeat_job(&claim, LEASE, Some(json!("stale")))
                .await,
            store.complete_job(&claim, Some(json!("stale"))).await,
            store.fail_job(&claim, "stale", Duration::ZERO).await,
        ] {
            assert!(
                matches!(result, Err(StoreError::Conflict(_))),
                "{claim}: {result:?}"
            );
        }
    };
    refuse_all(first.clone()).await;

    // Claimed again under the same worker name: the first claim stays refused.
    let second = claim_of(store.claim_next_job("pod-a", LEASE).await.unwrap());
    assert_eq!(
        (second.job_id.as_str(), second.worker.as_str()),
        (queued.id.as_str(), "pod-a")
    );
    tokens.push(second.token);
    let before = store.get_job(&queued.id).await.unwrap().unwrap();
    refuse_all(first.clone()).await;
    assert_eq!(
        store.get_job(&queued.id).await.unwrap(),
        Some(before.clone()),
        "refused calls change nothing"
    );
    assert_eq!(before.progress, json!({"last_cursor": 1}));
    let refused = store.complete_job(&first, None).await;
    assert_eq!(
        refused,
        Err(StoreError::Conflict(format!(
            "job `{}` is in progress under claim {} of `pod-a`, not claim {} of `pod-a`",
            queued.id, second.token, first.token
        ))),
        "both backends say which claim holds the job"
    );
    let beat = store
        .heartbeat_job(&second, LEASE, Some(json!({"last_cursor": 2})))
        .await
        .unwrap();
    assert_eq!(beat.progress, json!({"last_cursor": 2}));
    let failed = store
        .fail_job(&second, "node timeout", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((failed.state, failed.claim_token), (JobState::Queued, None));
    refuse_all(second.clone()).await;

    // A third claim, same name again: only it completes the job.
    let third = claim_of(store.claim_next_job("pod-a", LEASE).await.unwrap());
    tokens.push(third.token);
    refuse_all(first.clone()).await;
    refuse_all(second.clone()).await;
    store.heartbeat_job(&third, LEASE, None).await.unwrap();
    let done = store
        .complete_job(&third, Some(json!({"last_cursor": 3})))
        .await
        .unwrap();
    assert_eq!(
        (done.state, done.attempts, done.progress),
        (JobState::Completed, 3, json!({"last_cursor": 3}))
    );
    refuse_all(third).await;

    // After `retry_job` reset the attempts, tokens still grow and older claims stay refused.
    let doomed = store
        .enqueue_job(job(JobKind::ReshardBackfill, 2, 1))
        .await
        .unwrap();
    let fourth = claim_of(store.claim_next_job("pod-a", LEASE).await.unwrap());
    assert_eq!(fourth.job_id, doomed.id);
    tokens.push(fourth.token);
    let gave_up = store
        .fail_job(&fourth, "bad params", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(gave_up.state, JobState::Failed);
    let retried = store.retry_job(&doomed.id).await.unwrap();
    assert_eq!((retried.attempts, retried.claim_token), (0, None));
    let fifth = claim_of(store.claim_next_job("pod-a", LEASE).await.unwrap());
    assert_eq!(fifth.job_id, doomed.id);
    tokens.push(fifth.token);
    refuse_all(fourth).await;
    store.complete_job(&fifth, None).await.unwrap();

    assert!(
        tokens.windows(2).all(|pair| pair[0] < pair[1]),
        "tokens strictly increase: {tokens:?}"
    );
}

pub async fn fail_retries_until_max_attempts(store: &TestStore) {
    let queued = store
        .enqueue_job(job(JobKind::DumpImport, 1, 2))
        .await
        .unwrap();
    let claim = claim_of(store.claim_next_job("pod-a", LEASE).await.unwrap());
    let retry = store
        .fail_job(&claim, "node timeout", Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(
        (retry.state, retry.attempts, retry.last_error.as_deref()),
        (JobState::Queued, 1, Some("node timeout"))
    );
    assert_eq!(retry.claimed_by, None);
    assert_eq!(
        store.claim_next_job("pod-b", LEASE).await.unwrap(),
        None,
        "backoff not over yet"
    );
    sleep_ms(450).await;
    let again = store.claim_next_job("pod-b", LEASE).await.unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts), (queued.id.as_str(), 2));
    let failed = store
        .fail_job(&again.claim().unwrap(), "still broken", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        (failed.state, failed.attempts, failed.last_error.as_deref()),
        (JobState::Failed, 2, Some("still broken"))
    );
    assert_eq!(store.claim_next_job("pod-c", LEASE).await.unwrap(), None);
}

pub async fn reclaim_returns_expired_claims_with_progress(store: &TestStore) {
    let orphan = store
        .enqueue_job(job(JobKind::ReshardBackfill, 1, 3))
        .await
        .unwrap();
    let doomed = store
        .enqueue_job(job(JobKind::ReshardBackfill, 2, 1))
        .await
        .unwrap();
    let live = store
        .enqueue_job(job(JobKind::ReshardBackfill, 3, 3))
        .await
        .unwrap();
    let crashed = claim_of(
        store
            .claim_next_job("crashed", Duration::from_millis(200))
            .await
            .unwrap(),
    );
    assert_eq!(crashed.job_id, orphan.id);
    store
        .heartbeat_job(
            &crashed,
            Duration::from_millis(200),
            Some(json!({"last_cursor": 42})),
        )
        .await
        .unwrap();
    store
        .claim_next_job("crashed", Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    store.claim_next_job("alive", LEASE).await.unwrap().unwrap();
    assert!(
        store.reclaim_expired_jobs(10).await.unwrap().is_empty(),
        "nothing expired yet"
    );
    sleep_ms(350).await;
    let mut reclaimed = store.reclaim_expired_jobs(10).await.unwrap();
    reclaimed.sort();
    let mut expected = vec![orphan.id.clone(), doomed.id.clone()];
    expected.sort();
    assert_eq!(reclaimed, expected);
    let requeued = store.get_job(&orphan.id).await.unwrap().unwrap();
    assert_eq!(
        (
            requeued.state,
            requeued.claimed_by.as_deref(),
            requeued.claim_token
        ),
        (JobState::Queued, None, None)
    );
    assert_eq!(
        requeued.progress,
        json!({"last_cursor": 42}),
        "progress survives the crash"
    );
    assert_eq!(
        store.get_job(&doomed.id).await.unwrap().unwrap().state,
        JobState::Failed
    );
    assert_eq!(
        store.get_job(&live.id).await.unwrap().unwrap().state,
        JobState::InProgress
    );
    // The crashed worker's late writes are refused; the new claimant resumes from the cursor.
    assert!(matches!(
        store.heartbeat_job(&crashed, LEASE, None).await,
        Err(StoreError::Conflict(_))
    ));
    let resumed = store
        .claim_next_job("successor", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (resumed.id.as_str(), resumed.attempts),
        (orphan.id.as_str(), 2)
    );
    assert_eq!(resumed.progress, json!({"last_cursor": 42}));
}

pub async fn retry_requeues_failed_job(store: &TestStore) {
    let queued = store
        .enqueue_job(job(JobKind::Reindex, 1, 1))
        .await
        .unwrap();
    assert!(
        matches!(
            store.retry_job(&queued.id).await,
            Err(StoreError::Conflict(_))
        ),
        "only failed jobs"
    );
    let claim = claim_of(store.claim_next_job("pod-a", LEASE).await.unwrap());
    store
        .fail_job(&claim, "bad params", Duration::ZERO)
        .await
        .unwrap();
    let retried = store.retry_job(&queued.id).await.unwrap();
    assert_eq!((retried.state, retried.attempts), (JobState::Queued, 0));
    assert_eq!(
        store
            .claim_next_job("pod-b", LEASE)
            .await
            .unwrap()
            .unwrap()
            .id,
        queued.id
    );
    assert!(matches!(
        store.retry_job("missing").await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn list_and_queue_depth(store: &TestStore) {
    let mut ids = Vec::new();
    for (n, kind) in [
        JobKind::DumpImport,
        JobKind::DumpImport,
        JobKind::Reindex,
        JobKind::ReshardBackfill,
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(store.enqueue_job(job(kind, n as u64, 3)).await.unwrap().id);
    }
    store.claim_next_job("pod-a", LEASE).await.unwrap().unwrap();
    let depth = store.job_queue_depth().await.unwrap();
    assert_eq!(
        depth,
        BTreeMap::from([
            (JobKind::DumpImport, 1),
            (JobKind::Reindex, 1),
            (JobKind::ReshardBackfill, 1)
        ])
    );
    let ids_of = |page: miroir_store::JobPage| -> Vec<String> {
        page.jobs.into_iter().map(|job| job.id).collect()
    };
    let all = store
        .list_jobs(&JobQuery {
            limit: 10,
            ..JobQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.next, None, "every job examined");
    assert_eq!(ids_of(all), ids, "enqueue order");
    let first = store
        .list_jobs(&JobQuery {
            limit: 2,
            ..JobQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(first.next.as_deref(), Some(ids[2].as_str()));
    assert_eq!(ids_of(first), ids[..2]);
    let page = store
        .list_jobs(&JobQuery {
            from: Some(ids[1].clone()),
            limit: 2,
            ..JobQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.next.as_deref(), Some(ids[3].as_str()));
    assert_eq!(ids_of(page), ids[1..3]);
    let queued = store
        .list_jobs(&JobQuery {
            state: Some(JobState::Queued),
            limit: 10,
            ..JobQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ids_of(queued), ids[1..]);
    let in_progress = store
        .list_jobs(&JobQuery {
            state: Some(JobState::InProgress),
            limit: 10,
            ..JobQuery::default()
        })
        .await
        .unwrap()
        .jobs;
    assert_eq!(in_progress.len(), 1);
    assert_eq!(in_progress[0].id, ids[0]);
}

pub async fn list_filters_by_type_and_pages_from_a_job(store: &TestStore) {
    let list = |query: JobQuery| async move {
        let page = store.list_jobs(&query).await.unwrap();
        let ids: Vec<String> = page.jobs.into_iter().map(|job| job.id).collect();
        (ids, page.next)
    };
    // Enqueue order: R0 D1 R2 D3 R4 D5 (R = reindex, D = dump import); R0 then fails for good,
    // D1 is in progress.
    let mut ids = Vec::new();
    for n in 0..6 {
        let kind = if n % 2 == 0 {
            JobKind::Reindex
        } else {
            JobKind::DumpImport
        };
        let max_attempts = if n == 0 { 1 } else { 3 };
        ids.push(
            store
                .enqueue_job(job(kind, n, max_attempts))
                .await
                .unwrap()
                .id,
        );
    }
    let claim = claim_of(store.claim_next_job("pod-a", LEASE).await.unwrap());
    assert_eq!(claim.job_id, ids[0]);
    store
        .fail_job(&claim, "boom", Duration::ZERO)
        .await
        .unwrap();
    store.claim_next_job("pod-a", LEASE).await.unwrap().unwrap();
    let reindex = |limit, from: Option<&String>| JobQuery {
        kind: Some(JobKind::Reindex),
        from: from.cloned(),
        limit,
        ..JobQuery::default()
    };
    assert_eq!(
        list(reindex(10, None)).await,
        (vec![ids[0].clone(), ids[2].clone(), ids[4].clone()], None)
    );
    // A full page stops at the next match's position; the next page starts there.
    assert_eq!(
        list(reindex(2, None)).await,
        (vec![ids[0].clone(), ids[2].clone()], Some(ids[3].clone()))
    );
    assert_eq!(
        list(reindex(2, Some(&ids[3]))).await,
        (vec![ids[4].clone()], None)
    );
    let queued_dumps = JobQuery {
        state: Some(JobState::Queued),
        kind: Some(JobKind::DumpImport),
        limit: 10,
        ..JobQuery::default()
    };
    assert_eq!(
        list(queued_dumps.clone()).await,
        (vec![ids[3].clone(), ids[5].clone()], None)
    );
    // `from` is a position in enqueue order, even for a job outside the filter.
    assert_eq!(
        list(JobQuery {
            from: Some(ids[4].clone()),
            ..queued_dumps.clone()
        })
        .await,
        (vec![ids[5].clone()], None)
    );
    let failed_reindex = JobQuery {
        state: Some(JobState::Failed),
        kind: Some(JobKind::Reindex),
        limit: 10,
        ..JobQuery::default()
    };
    assert_eq!(list(failed_reindex).await, (vec![ids[0].clone()], None));
    let none = JobQuery {
        state: Some(JobState::Completed),
        limit: 10,
        ..JobQuery::default()
    };
    assert_eq!(list(none).await, (vec![], None));
    // Limit 0 examines nothing and says where to resume.
    assert_eq!(
        list(reindex(0, Some(&ids[1]))).await,
        (vec![], Some(ids[1].clone()))
    );
    let missing = store
        .list_jobs(&JobQuery {
            from: Some("no-such-job".to_owned()),
            limit: 10,
            ..JobQuery::default()
        })
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

/// A type filter examines at most `JOB_LIST_SCAN` jobs per call: past that many jobs of other
/// types, the page is empty and `next` says where to resume.
pub async fn type_filter_examines_a_bounded_number_of_jobs(store: &TestStore) {
    let scan = usize::try_from(miroir_store::JOB_LIST_SCAN).unwrap();
    let mut handles = Vec::new();
    for n in 0..scan + 1 {
        let store = store.store.clone();
        handles.push(tokio::spawn(async move {
            store
                .enqueue_job(job(JobKind::DumpImport, n as u64, 1))
                .await
                .unwrap()
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let reindex = store
        .enqueue_job(job(JobKind::Reindex, 0, 1))
        .await
        .unwrap();
    let all = store
        .list_jobs(&JobQuery {
            limit: 2 * miroir_store::JOB_LIST_SCAN,
            ..JobQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.jobs.len(), scan + 2);
    let query = JobQuery {
        kind: Some(JobKind::Reindex),
        limit: 5,
        ..JobQuery::default()
    };
    let first = store.list_jobs(&query).await.unwrap();
    assert!(first.jobs.is_empty());
    assert_eq!(first.next.as_ref(), Some(&all.jobs[scan].id));
    let second = store
        .list_jobs(&JobQuery {
            from: first.next,
            ..query
        })
        .await
        .unwrap();
    assert_eq!(second.jobs, vec![reindex]);
    assert_eq!(second.next, None);
}
