//! Restart resilience: rows of every table written through one handle are all there through a
//! new handle after the first is dropped (and, for Redis, after the server restarted).

use std::time::Duration;

use miroir_store::{
    AliasTarget, Canary, CanaryRun, CanaryRunStatus, DynStore, IdempotencyRecord, IndexRecord,
    IndexState, JobClaim, JobKind, NewJob, NodeSettingsVersion, RolloverPolicy,
    ScopedKeyObservation, SearchUiConfig, Session, Task, TenantMapping, Timestamp,
};
use serde_json::json;

use crate::support::{TestStore, new_task};

/// What [`seed_every_table`] wrote, to compare after the restart.
pub struct Seeded {
    tasks: Vec<Task>,
    job_id: String,
    job_claim: JobClaim,
    expires_at: Timestamp,
    now: Timestamp,
}

/// Writes at least one row to every table and extra keyspace.
pub async fn seed_every_table(store: &DynStore) -> Seeded {
    let now = Timestamp::now();
    let expires_at = now.plus(Duration::from_secs(3600));
    let mut tasks = Vec::new();
    for n in 0..50 {
        tasks.push(
            store
                .create_task(new_task(
                    &format!("index-{}", n % 5),
                    miroir_store::TaskKind::DocumentAdditionOrUpdate,
                ))
                .await
                .unwrap(),
        );
    }
    store
        .record_node_settings_version(NodeSettingsVersion {
            index_uid: "movies".into(),
            node_id: "meili-0".into(),
            version: 4,
            updated_at: now,
        })
        .await
        .unwrap();
    store
        .create_alias(
            "products",
            AliasTarget::Single {
                uid: "products_v1".into(),
            },
            now,
        )
        .await
        .unwrap();
    store
        .flip_alias(
            "products",
            1,
            AliasTarget::Single {
                uid: "products_v2".into(),
            },
            10,
            now,
        )
        .await
        .unwrap();
    store
        .put_session(Session {
            session_id: "s".into(),
            last_write_task_uid: Some(tasks[0].uid),
            last_write_at: Some(now),
            pinned_group: Some(1),
            min_settings_version: 3,
            expires_at,
        })
        .await
        .unwrap();
    store
        .insert_idempotency_if_absent(IdempotencyRecord {
            key: "k".into(),
            body_sha256: [1; 32],
            task_uid: tasks[1].uid,
            expires_at,
        })
        .await
        .unwrap();
    let job = store
        .enqueue_job(NewJob {
            kind: JobKind::Reindex,
            params: json!({"from": "a", "to": "b"}),
            max_attempts: 3,
        })
        .await
        .unwrap();
    let claim = store
        .claim_next_job("pod-a", Duration::from_secs(3600))
        .await
        .unwrap()
        .unwrap()
        .claim()
        .unwrap();
    assert_eq!(claim.job_id, job.id);
    store
        .heartbeat_job(
            &claim,
            Duration::from_secs(3600),
            Some(json!({"last_cursor": 77})),
        )
        .await
        .unwrap();
    store
        .acquire_lease("leader", "pod-a", Duration::from_secs(3600))
        .await
        .unwrap()
        .unwrap();
    store
        .upsert_canary(Canary {
            id: "c".into(),
            name: "c".into(),
            index_uid: "movies".into(),
            interval_s: 60,
            query: json!({"q": "x"}),
            assertions: json!([]),
            enabled: true,
            created_at: now,
        })
        .await
        .unwrap();
    store
        .record_canary_run(
            CanaryRun {
                canary_id: "c".into(),
                ran_at: now,
                status: CanaryRunStatus::Pass,
                latency_ms: 4,
                failed_assertions: None,
            },
            10,
        )
        .await
        .unwrap();
    store
        .advance_cdc_cursor("kafka", "movies", None, 99, now)
        .await
        .unwrap();
    store
        .push_cdc_overflow(
            "kafka",
            vec![b"event-1".to_vec(), b"event-2".to_vec()],
            1 << 20,
        )
        .await
        .unwrap();
    store
        .put_tenant(TenantMapping {
            api_key_hash: [9; 32],
            tenant_id: "acme".into(),
            group_id: Some(1),
        })
        .await
        .unwrap();
    store
        .upsert_rollover_policy(RolloverPolicy {
            name: "logs".into(),
            write_alias: "w".into(),
            read_alias: "r".into(),
            pattern: "logs-{YYYY}".into(),
            triggers: json!({}),
            retention: json!({}),
            template: json!({}),
            enabled: true,
        })
        .await
        .unwrap();
    store
        .put_search_ui_config(SearchUiConfig {
            index_uid: "movies".into(),
            config: json!({"title": "Movies"}),
            updated_at: now,
        })
        .await
        .unwrap();
    store
        .rotate_scoped_key("movies", 0, "key-1", now)
        .await
        .unwrap();
    store
        .record_scoped_key_observation(
            ScopedKeyObservation {
                pod_id: "pod-a".into(),
                index_uid: "movies".into(),
                generation: 1,
                observed_at: now,
            },
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    store
        .create_admin_session(crate::admin_sessions::admin_session(
            "admin-1",
            Duration::from_secs(3600),
        ))
        .await
        .unwrap();
    store.revoke_admin_session("admin-1").await.unwrap();
    store
        .hit_rate_limit(
            miroir_store::RateLimitBucket::SearchUi,
            "10.0.0.1",
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    store
        .record_login_failure("10.0.0.1", miroir_store::BackoffPolicy::default())
        .await
        .unwrap();
    let index = |uid: &str, state| IndexRecord {
        uid: uid.into(),
        primary_key: None,
        physical_uid: uid.into(),
        shards: 3,
        settings_version: 0,
        state,
        version: 0,
        created_at: now,
        updated_at: now,
    };
    store
        .put_index(index("movies", IndexState::Active), 0)
        .await
        .unwrap();
    store
        .put_index(
            IndexRecord {
                primary_key: Some("id".into()),
                settings_version: 2,
                ..index("movies", IndexState::Active)
            },
            1,
        )
        .await
        .unwrap();
    store
        .put_index(index("dropped", IndexState::Deleted), 0)
        .await
        .unwrap();
    Seeded {
        tasks,
        job_id: job.id,
        job_claim: claim,
        expires_at,
        now,
    }
}

/// Reads back everything [`seed_every_table`] wrote.
pub async fn verify_every_table(store: &DynStore, seeded: &Seeded) {
    for task in &seeded.tasks {
        assert_eq!(store.get_task(task.uid).await.unwrap().as_ref(), Some(task));
    }
    assert_eq!(
        store.count_tasks().await.unwrap(),
        seeded.tasks.len() as u64
    );
    let next = store
        .create_task(new_task("movies", miroir_store::TaskKind::IndexCreation))
        .await
        .unwrap();
    assert!(
        seeded.tasks.iter().all(|task| task.uid < next.uid),
        "the uid sequence survived"
    );
    assert_eq!(
        store
            .get_node_settings_version("movies", "meili-0")
            .await
            .unwrap()
            .unwrap()
            .version,
        4
    );
    let alias = store.get_alias("products").await.unwrap().unwrap();
    assert_eq!((alias.version, alias.history.len()), (2, 1));
    assert_eq!(
        store.get_session("s").await.unwrap().unwrap().expires_at,
        seeded.expires_at
    );
    assert_eq!(
        store.get_idempotency("k").await.unwrap().unwrap().task_uid,
        seeded.tasks[1].uid
    );
    let job = store.get_job(&seeded.job_id).await.unwrap().unwrap();
    assert_eq!(
        (job.claimed_by.as_deref(), job.progress.clone()),
        (Some("pod-a"), json!({"last_cursor": 77}))
    );
    assert_eq!(job.claim(), Some(seeded.job_claim.clone()));
    assert!(store.job_claim_sequence().await.unwrap() >= seeded.job_claim.token);
    let lease = store.get_lease("leader").await.unwrap().unwrap();
    assert_eq!(lease.holder, "pod-a");
    assert_eq!(
        store.list_leases().await.unwrap(),
        std::slice::from_ref(&lease)
    );
    assert_eq!(
        store
            .acquire_lease("leader", "pod-b", Duration::from_secs(1))
            .await
            .unwrap(),
        None
    );
    assert!(store.get_canary("c").await.unwrap().is_some());
    assert_eq!(store.list_canary_runs("c", 10).await.unwrap().len(), 1);
    assert_eq!(
        store
            .get_cdc_cursor("kafka", "movies")
            .await
            .unwrap()
            .unwrap()
            .last_event_seq,
        99
    );
    assert_eq!(store.cdc_overflow_stats("kafka").await.unwrap().events, 2);
    assert_eq!(store.list_all_cdc_cursors().await.unwrap().len(), 1);
    assert_eq!(
        store.get_tenant(&[9; 32]).await.unwrap().unwrap().tenant_id,
        "acme"
    );
    assert_eq!(
        store
            .get_tenant_by_id("acme")
            .await
            .unwrap()
            .unwrap()
            .api_key_hash,
        [9; 32]
    );
    assert!(store.get_rollover_policy("logs").await.unwrap().is_some());
    assert_eq!(
        store
            .get_search_ui_config("movies")
            .await
            .unwrap()
            .unwrap()
            .updated_at,
        seeded.now
    );
    assert_eq!(
        store
            .get_scoped_key("movies")
            .await
            .unwrap()
            .unwrap()
            .generation,
        1
    );
    assert!(
        store
            .get_scoped_key_observation("pod-a", "movies")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_admin_session("admin-1")
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    let hit = store
        .hit_rate_limit(
            miroir_store::RateLimitBucket::SearchUi,
            "10.0.0.1",
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(hit.count, 2);
    assert_eq!(
        store
            .get_login_backoff("10.0.0.1")
            .await
            .unwrap()
            .unwrap()
            .failed_count,
        1
    );
    let movies = store.get_index("movies").await.unwrap().unwrap();
    assert_eq!(
        (
            movies.version,
            movies.primary_key.as_deref(),
            movies.settings_version,
            movies.created_at
        ),
        (2, Some("id"), 2, seeded.now)
    );
    let indexes = store.list_indexes(None, 10).await.unwrap();
    let states: Vec<(&str, IndexState)> = indexes
        .iter()
        .map(|record| (record.uid.as_str(), record.state))
        .collect();
    assert_eq!(
        states,
        [
            ("dropped", IndexState::Deleted),
            ("movies", IndexState::Active)
        ]
    );
}

pub async fn every_table_survives_reopen(store: &TestStore) {
    let seeded = seed_every_table(&store.store).await;
    match store.reopen().await {
        // File and Redis: a brand-new handle must see everything.
        Some(reopened) => verify_every_table(&reopened, &seeded).await,
        // In memory: there is nothing to reopen; still check the same handle reads it all back.
        None => verify_every_table(&store.store, &seeded).await,
    }
}
