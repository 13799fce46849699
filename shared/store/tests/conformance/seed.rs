//! The one "fill every table" seed of the suite, and the check that reads it back: used wherever
//! a test needs every table filled (restarts, reopening, copies, `clear_all_rows`).
//!
//! The seed goes through the store API (plus one import, for values no write reaches) and writes
//! what tends to break a backend: ids with separators, braces and `%` ([`ODD`]), optional fields
//! both set and unset, `u64` values past `i64::MAX`, several rows per key where a table has a
//! composite key, a lease in each state (held, released, expired), jobs in every state, a deleted
//! newest task (the uid sequence is then above every uid left), an emptied CDC buffer, and API
//! keys besides the default ones (an expired one, one without optional fields, ties on
//! `created_at`, a deleted default key).

use std::time::Duration;

use miroir_store::{
    AdminSession, AliasTarget, ApiKeyRecord, BackoffPolicy, Canary, CanaryRun, CanaryRunStatus,
    CopyRow, DynStore, IdempotencyRecord, IndexRecord, IndexState, JobClaim, JobKind, JobQuery,
    JobState, NewJob, NewTask, NodeSettingsVersion, NodeTaskMap, RateLimitBucket, RolloverPolicy,
    ScopedKeyObservation, SearchUiConfig, Session, Task, TaskError, TaskKind, TaskQuery,
    TaskStatus, TenantMapping, Timestamp,
};
use serde_json::json;

use crate::support::new_task;

/// An id, name or index uid with every character a key layout could trip on.
pub const ODD: &str = "a:b{c}%";

/// How long the seed's rows live where rows expire (leases included).
pub const SEED_TTL: Duration = Duration::from_secs(3600);

/// What [`seed_every_table`] wrote, for [`verify_every_table`].
pub struct Seeded {
    /// The tasks left, as stored (the newest one created was deleted).
    pub tasks: Vec<Task>,
    /// The ids of the jobs, one per state: in progress, failed, queued again after a failed
    /// attempt, completed, queued.
    pub jobs: [String; 5],
    /// The claim of the job in progress.
    pub job_claim: JobClaim,
    /// When the rows written by [`seed_expiring_tables`] expire.
    pub expires_at: Timestamp,
    /// The time the seed wrote into rows that carry one.
    pub now: Timestamp,
    /// Every API key, newest first, as listed after the seed.
    pub api_keys: Vec<ApiKeyRecord>,
}

/// Writes the rows of the tables whose rows expire, living `ttl`, and a lease `leader` held by
/// `pod-a` for `ttl`: two sessions, two idempotency records, two scoped-key observations, two
/// admin sessions (one revoked), three rate-limit counters and two login backoffs (one backing
/// off). Returns when the sessions and idempotency records expire (the rows written with a
/// relative TTL expire a moment later).
pub async fn seed_expiring_tables(store: &DynStore, ttl: Duration) -> Timestamp {
    let now = Timestamp::now();
    let expires_at = now.plus(ttl);
    for (session_id, last_write) in [("s", true), (ODD, false)] {
        store
            .put_session(Session {
                session_id: session_id.to_owned(),
                last_write_task_uid: last_write.then_some(u64::MAX),
                last_write_at: last_write.then_some(now),
                pinned_group: last_write.then_some(1),
                min_settings_version: 3,
                expires_at,
            })
            .await
            .unwrap();
    }
    for (key, task_uid) in [("k", 2), (ODD, u64::MAX)] {
        store
            .insert_idempotency_if_absent(IdempotencyRecord {
                key: key.to_owned(),
                body_sha256: [1; 32],
                task_uid,
                expires_at,
            })
            .await
            .unwrap();
    }
    for (pod_id, index_uid) in [("pod-a", "movies"), (ODD, ODD)] {
        store
            .record_scoped_key_observation(
                ScopedKeyObservation {
                    pod_id: pod_id.to_owned(),
                    index_uid: index_uid.to_owned(),
                    generation: 1,
                    observed_at: now,
                },
                ttl,
            )
            .await
            .unwrap();
    }
    store
        .create_admin_session(crate::admin_sessions::admin_session("admin-1", ttl))
        .await
        .unwrap();
    assert!(store.revoke_admin_session("admin-1").await.unwrap());
    store
        .create_admin_session(AdminSession {
            user_agent: None,
            source_ip: None,
            ..crate::admin_sessions::admin_session(ODD, ttl)
        })
        .await
        .unwrap();
    for (bucket, source) in [
        (RateLimitBucket::SearchUi, "10.0.0.1"),
        (RateLimitBucket::AdminLogin, "::1"),
        (RateLimitBucket::AdminLogin, "::1"),
        (RateLimitBucket::SearchUi, ODD),
    ] {
        store.hit_rate_limit(bucket, source, ttl).await.unwrap();
    }
    for (source, threshold) in [("10.0.0.1", 5), ("::1", 1)] {
        let policy = BackoffPolicy {
            threshold,
            base: Duration::from_millis(10),
            cap: ttl,
        };
        store.record_login_failure(source, policy).await.unwrap();
    }
    store
        .acquire_lease("leader", "pod-a", ttl)
        .await
        .unwrap()
        .unwrap();
    expires_at
}

/// Writes rows to every table (see the module documentation) and returns what
/// [`verify_every_table`] checks. Takes a few milliseconds more than the writes: the expired
/// lease must be past its end.
pub async fn seed_every_table(store: &DynStore) -> Seeded {
    let now = Timestamp::now();
    let expires_at = seed_expiring_tables(store, SEED_TTL).await;

    let mut uids = Vec::new();
    for number in 0..51_u64 {
        let index_uid = match number % 5 {
            3 => Some(ODD.to_owned()),
            4 => None,
            index => Some(format!("index-{index}")),
        };
        let task = NewTask {
            index_uid,
            node_tasks: NodeTaskMap::from([
                ("meili-0".to_owned(), number),
                ("meili:1".to_owned(), u64::MAX),
            ]),
            details: (number % 2 == 0).then(|| json!({"receivedDocuments": number})),
            ..new_task("unused", TaskKind::DocumentAdditionOrUpdate)
        };
        uids.push(store.create_task(task).await.unwrap().uid);
    }
    let mut failed = store.get_task(uids[3]).await.unwrap().unwrap().to_update();
    failed.status = TaskStatus::Failed;
    failed.error = Some(TaskError {
        message: "boom".to_owned(),
        code: "internal".to_owned(),
        error_type: "internal".to_owned(),
        link: "https://example.com".to_owned(),
    });
    failed.canceled_by = Some(uids[0]);
    failed.started_at = Some(Timestamp::from_millis(1_001));
    failed.finished_at = Some(Timestamp::from_millis(1_002));
    store.update_task(uids[3], failed).await.unwrap();
    let mut succeeded = store.get_task(uids[4]).await.unwrap().unwrap().to_update();
    succeeded.status = TaskStatus::Succeeded;
    succeeded.started_at = Some(Timestamp::from_millis(2_001));
    succeeded.finished_at = Some(Timestamp::from_millis(2_002));
    store.update_task(uids[4], succeeded).await.unwrap();
    // The newest task is pruned: the sequence stays above every uid left.
    let newest = uids.pop().unwrap();
    assert!(store.delete_task(newest).await.unwrap());
    let mut tasks = Vec::new();
    for uid in uids {
        tasks.push(store.get_task(uid).await.unwrap().unwrap());
    }

    for (index_uid, node_id, version) in [
        ("movies", "meili-0", 4),
        ("movies", "meili-1", u64::MAX),
        (ODD, "node:2", 1),
    ] {
        store
            .record_node_settings_version(NodeSettingsVersion {
                index_uid: index_uid.to_owned(),
                node_id: node_id.to_owned(),
                version,
                updated_at: now,
            })
            .await
            .unwrap();
    }

    let single = |uid: &str| AliasTarget::Single {
        uid: uid.to_owned(),
    };
    store
        .create_alias("products", single("products_v1"), now)
        .await
        .unwrap();
    store
        .flip_alias("products", 1, single("products_v2"), 10, now)
        .await
        .unwrap();
    let multi = AliasTarget::Multi {
        uids: vec!["a".to_owned(), ODD.to_owned()],
    };
    store.create_alias(ODD, multi, now).await.unwrap();

    let (jobs, job_claim) = seed_jobs(store).await;

    let released = store
        .acquire_lease("released", "pod-a", SEED_TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .release_lease("released", "pod-a", released.token)
            .await
            .unwrap()
    );
    let again = store
        .acquire_lease("released", "pod-b", SEED_TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .release_lease("released", "pod-b", again.token)
            .await
            .unwrap()
    );
    store
        .acquire_lease(ODD, "pod-b", SEED_TTL)
        .await
        .unwrap()
        .unwrap();
    store
        .acquire_lease("expired", "pod-a", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();

    for (id, enabled) in [("c", true), (ODD, false)] {
        store
            .upsert_canary(Canary {
                id: id.to_owned(),
                name: format!("canary {id}"),
                index_uid: "movies".to_owned(),
                interval_s: 60,
                query: json!({"q": "x"}),
                assertions: json!([{"minHits": 1}]),
                enabled,
                created_at: now,
            })
            .await
            .unwrap();
    }
    // Runs of a defined canary (failed assertions absent, a list, and JSON null) and of one that
    // never was.
    for (canary_id, ran_at, status, failed_assertions) in [
        ("c", 1, CanaryRunStatus::Pass, None),
        ("c", 2, CanaryRunStatus::Fail, Some(json!(["minHits"]))),
        ("c", 3, CanaryRunStatus::Fail, Some(serde_json::Value::Null)),
        ("gone:1", 1, CanaryRunStatus::Pass, None),
    ] {
        store
            .record_canary_run(
                CanaryRun {
                    canary_id: canary_id.to_owned(),
                    ran_at: Timestamp::from_millis(1_700_000_000_000 + ran_at),
                    status,
                    latency_ms: u64::MAX,
                    failed_assertions,
                },
                10,
            )
            .await
            .unwrap();
    }

    for (sink, index_uid, seq) in [
        ("kafka", "movies", 99),
        ("kafka", "books", u64::MAX),
        (ODD, "a:b", 5),
    ] {
        store
            .advance_cdc_cursor(sink, index_uid, None, seq, now)
            .await
            .unwrap();
    }
    for (sink, events) in [
        (
            "kafka",
            vec![b"event-1".to_vec(), Vec::new(), vec![0, 255, 1]],
        ),
        (ODD, vec![b"x".to_vec()]),
        ("gone", vec![b"y".to_vec()]),
    ] {
        assert!(
            store
                .push_cdc_overflow(sink, events, 1 << 20)
                .await
                .unwrap()
        );
    }
    assert_eq!(store.pop_cdc_overflow("gone", 10).await.unwrap().len(), 1);

    for (api_key_hash, tenant_id, group_id) in [([9; 32], "acme", Some(1)), ([0; 32], ODD, None)] {
        store
            .put_tenant(TenantMapping {
                api_key_hash,
                tenant_id: tenant_id.to_owned(),
                group_id,
            })
            .await
            .unwrap();
    }
    for (name, enabled) in [("logs", true), (ODD, false)] {
        store
            .upsert_rollover_policy(RolloverPolicy {
                name: name.to_owned(),
                write_alias: "w".to_owned(),
                read_alias: "r".to_owned(),
                pattern: "logs-{YYYY}".to_owned(),
                triggers: json!({"max_docs": 10}),
                retention: json!({"keep_indexes": 3}),
                template: json!({}),
                enabled,
            })
            .await
            .unwrap();
    }
    for index_uid in ["movies", ODD] {
        store
            .put_search_ui_config(SearchUiConfig {
                index_uid: index_uid.to_owned(),
                config: json!({"title": index_uid}),
                updated_at: now,
            })
            .await
            .unwrap();
    }
    // One rotation (no previous key) for movies, two for ODD (and no search-UI config for
    // `no-config`).
    for (index_uid, generation) in [("movies", 0), (ODD, 0), (ODD, 1), ("no-config", 0)] {
        store
            .rotate_scoped_key(index_uid, generation, &format!("key-{generation}"), now)
            .await
            .unwrap();
    }

    seed_indexes(store, now).await;
    let api_keys = seed_api_keys(store, now).await;
    // Past the 1 ms lease.
    tokio::time::sleep(Duration::from_millis(5)).await;
    Seeded {
        tasks,
        jobs,
        job_claim,
        expires_at,
        now,
        api_keys,
    }
}

/// API keys: the migration's defaults but the chat key (deleted), the admin key renamed, an
/// expired key, a key without name or description, two keys created in the same millisecond,
/// and one with text in every script; returns every key as listed.
async fn seed_api_keys(store: &DynStore, now: Timestamp) -> Vec<ApiKeyRecord> {
    let defaults = store.list_api_keys(0, 10).await.unwrap().results;
    assert_eq!(defaults.len(), 4, "the migration's default keys");
    assert!(store.delete_api_key(&defaults[3].uid).await.unwrap());
    store
        .put_api_key(ApiKeyRecord {
            name: Some("Admin".to_owned()),
            updated_at: now,
            ..defaults[1].clone()
        })
        .await
        .unwrap();
    let key = |uid: &str, created_at: i64| ApiKeyRecord {
        uid: uid.to_owned(),
        name: Some(format!("key {uid}")),
        description: Some("seeded".to_owned()),
        actions: vec!["search".to_owned(), "documents.*".to_owned()],
        indexes: vec!["movies".to_owned(), ODD.to_owned()],
        expires_at: None,
        created_at: Timestamp::from_millis(created_at),
        updated_at: Timestamp::from_millis(created_at),
    };
    for record in [
        ApiKeyRecord {
            expires_at: Some(Timestamp::from_millis(1_700_000_000_500)),
            ..key("0b7d4e2a-3c1f-4a5e-9d8b-6f2e1c0a9b8d", 1_700_000_000_000)
        },
        ApiKeyRecord {
            name: None,
            description: None,
            actions: Vec::new(),
            indexes: vec!["*".to_owned()],
            ..key("7e3f9c1d-2b4a-4e6f-8a0c-5d7b9e1f3a2c", 1_700_000_000_001)
        },
        key("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", 1_700_000_000_001),
        ApiKeyRecord {
            name: Some("Clé 🔑 検索".to_owned()),
            description: Some("\"quoted\"\nline".to_owned()),
            expires_at: Some(now.plus(SEED_TTL)),
            ..key("f0e1d2c3-b4a5-4968-8776-655443322110", 1_600_000_000_000)
        },
    ] {
        store.create_api_key(record).await.unwrap();
    }
    let page = store.list_api_keys(0, 100).await.unwrap();
    assert_eq!(page.total, 7);
    page.results
}

/// Five jobs, one per state (see [`Seeded::jobs`]), the one in progress with progress saved; and
/// its claim.
async fn seed_jobs(store: &DynStore) -> ([String; 5], JobClaim) {
    let mut ids = Vec::new();
    for (number, max_attempts) in [3, 1, 3, 3, 3].into_iter().enumerate() {
        let job = store
            .enqueue_job(NewJob {
                kind: if number == 3 {
                    JobKind::DumpImport
                } else {
                    JobKind::Reindex
                },
                params: json!({"number": number}),
                max_attempts,
            })
            .await
            .unwrap();
        ids.push(job.id);
    }
    let claim = || async move {
        let job = store
            .claim_next_job("pod-a", SEED_TTL)
            .await
            .unwrap()
            .unwrap();
        job.claim().unwrap()
    };
    let in_progress = claim().await;
    store
        .heartbeat_job(&in_progress, SEED_TTL, Some(json!({"last_cursor": 77})))
        .await
        .unwrap();
    let failed = claim().await;
    store
        .fail_job(&failed, "boom", Duration::from_secs(60))
        .await
        .unwrap();
    let retried = claim().await;
    store
        .fail_job(&retried, "try again", SEED_TTL)
        .await
        .unwrap();
    let completed = claim().await;
    store
        .complete_job(&completed, Some(json!({"done": true})))
        .await
        .unwrap();
    let claimed: Vec<&str> = [&in_progress, &failed, &retried, &completed]
        .iter()
        .map(|claim| claim.job_id.as_str())
        .collect();
    assert_eq!(claimed, ids[..4], "jobs are claimed in enqueue order");
    (ids.try_into().unwrap(), in_progress)
}

/// Index records: one updated with a primary key, one without, a tombstone, and one with a
/// version, settings version and shard count no write reaches (imported).
async fn seed_indexes(store: &DynStore, now: Timestamp) {
    let record = |uid: &str, state| IndexRecord {
        uid: uid.to_owned(),
        primary_key: None,
        physical_uid: uid.to_owned(),
        shards: 3,
        settings_version: 0,
        state,
        version: 0,
        created_at: now,
        updated_at: now,
    };
    store
        .put_index(record("movies", IndexState::Active), 0)
        .await
        .unwrap();
    store
        .put_index(
            IndexRecord {
                primary_key: Some("id".to_owned()),
                settings_version: 2,
                ..record("movies", IndexState::Active)
            },
            1,
        )
        .await
        .unwrap();
    store
        .put_index(record(ODD, IndexState::Active), 0)
        .await
        .unwrap();
    store
        .put_index(record("dropped", IndexState::Deleted), 0)
        .await
        .unwrap();
    store
        .import_rows(&[CopyRow::Index(IndexRecord {
            primary_key: Some("id".to_owned()),
            version: u64::MAX - 1,
            settings_version: u64::MAX,
            shards: u32::MAX,
            ..record("huge", IndexState::Active)
        })])
        .await
        .unwrap();
}

/// Reads back through the store API what [`seed_every_table`] wrote to every table, with the
/// indexes, counters and sequences behind the reads (what a restart, a reopening or a copy must
/// keep). Writes afterwards: a task, rate-limit hits.
pub async fn verify_every_table(store: &DynStore, seeded: &Seeded) {
    verify_tasks(store, seeded).await;

    let versions: Vec<(String, u64)> = store
        .list_node_settings_versions("movies")
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.node_id, row.version))
        .collect();
    assert_eq!(
        versions,
        [("meili-0".to_owned(), 4), ("meili-1".to_owned(), u64::MAX)]
    );
    let odd = store
        .get_node_settings_version(ODD, "node:2")
        .await
        .unwrap();
    assert_eq!(
        odd.map(|row| (row.version, row.updated_at)),
        Some((1, seeded.now))
    );

    let aliases = store.list_aliases().await.unwrap();
    let names: Vec<&str> = aliases.iter().map(|alias| alias.name.as_str()).collect();
    assert_eq!(names, [ODD, "products"]);
    let products = &aliases[1];
    assert_eq!((products.version, products.history.len()), (2, 1));

    let session = store.get_session("s").await.unwrap().unwrap();
    assert_eq!(
        (session.last_write_task_uid, session.expires_at),
        (Some(u64::MAX), seeded.expires_at)
    );
    let session = store.get_session(ODD).await.unwrap().unwrap();
    assert_eq!((session.last_write_at, session.pinned_group), (None, None));
    assert_eq!(
        store.get_idempotency("k").await.unwrap().unwrap().task_uid,
        2
    );
    assert_eq!(
        store.get_idempotency(ODD).await.unwrap().unwrap().task_uid,
        u64::MAX
    );

    verify_jobs(store, seeded).await;

    let held: Vec<(String, String)> = store
        .list_leases()
        .await
        .unwrap()
        .into_iter()
        .map(|lease| (lease.scope, lease.holder))
        .collect();
    assert_eq!(
        held,
        [
            (ODD.to_owned(), "pod-b".to_owned()),
            ("leader".to_owned(), "pod-a".to_owned())
        ]
    );
    assert_eq!(
        store
            .acquire_lease("leader", "pod-b", Duration::from_secs(1))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.check_fencing_token("released", 1).await,
        Err(miroir_store::StoreError::Fenced { current: 2, .. })
    ));
    assert_eq!(store.get_lease("released").await.unwrap(), None);
    assert_eq!(store.get_lease("expired").await.unwrap(), None);
    store.check_fencing_token("expired", 1).await.unwrap();

    let canaries = store.list_canaries().await.unwrap();
    let enabled: Vec<(&str, bool)> = canaries
        .iter()
        .map(|canary| (canary.id.as_str(), canary.enabled))
        .collect();
    assert_eq!(enabled, [(ODD, false), ("c", true)]);
    let runs: Vec<Option<serde_json::Value>> = store
        .list_canary_runs("c", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|run| run.failed_assertions)
        .collect();
    assert_eq!(
        runs,
        [
            Some(serde_json::Value::Null),
            Some(json!(["minHits"])),
            None
        ]
    );
    assert_eq!(store.list_canary_runs("gone:1", 10).await.unwrap().len(), 1);

    let cursors: Vec<(String, String, u64)> = store
        .list_all_cdc_cursors()
        .await
        .unwrap()
        .into_iter()
        .map(|cursor| (cursor.sink_name, cursor.index_uid, cursor.last_event_seq))
        .collect();
    assert_eq!(
        cursors,
        [
            (ODD.to_owned(), "a:b".to_owned(), 5),
            ("kafka".to_owned(), "books".to_owned(), u64::MAX),
            ("kafka".to_owned(), "movies".to_owned(), 99)
        ]
    );
    for (sink, events, bytes) in [("kafka", 3, 10), (ODD, 1, 1), ("gone", 0, 0)] {
        let stats = store.cdc_overflow_stats(sink).await.unwrap();
        assert_eq!((stats.events, stats.bytes), (events, bytes), "{sink}");
    }

    let acme = store.get_tenant(&[9; 32]).await.unwrap().unwrap();
    assert_eq!((acme.tenant_id.as_str(), acme.group_id), ("acme", Some(1)));
    let odd = store.get_tenant_by_id(ODD).await.unwrap().unwrap();
    assert_eq!((odd.api_key_hash, odd.group_id), ([0; 32], None));
    let policies: Vec<(String, bool)> = store
        .list_rollover_policies()
        .await
        .unwrap()
        .into_iter()
        .map(|policy| (policy.name, policy.enabled))
        .collect();
    assert_eq!(
        policies,
        [(ODD.to_owned(), false), ("logs".to_owned(), true)]
    );

    for index_uid in ["movies", ODD] {
        let config = store
            .get_search_ui_config(index_uid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (config.config, config.updated_at),
            (json!({"title": index_uid}), seeded.now)
        );
    }
    for (index_uid, generation, previous) in [
        ("movies", 1, None),
        (ODD, 2, Some("key-0")),
        ("no-config", 1, None),
    ] {
        let state = store.get_scoped_key(index_uid).await.unwrap().unwrap();
        assert_eq!(
            (state.generation, state.previous_uid.as_deref()),
            (generation, previous),
            "{index_uid}"
        );
    }
    for (pod_id, index_uid) in [("pod-a", "movies"), (ODD, ODD)] {
        let observation = store
            .get_scoped_key_observation(pod_id, index_uid)
            .await
            .unwrap();
        assert_eq!(
            observation.map(|observation| observation.generation),
            Some(1)
        );
    }
    assert!(
        store
            .get_admin_session("admin-1")
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    let odd = store.get_admin_session(ODD).await.unwrap().unwrap();
    assert_eq!((odd.revoked, odd.user_agent), (false, None));

    for (bucket, source, count) in [
        (RateLimitBucket::SearchUi, "10.0.0.1", 2),
        (RateLimitBucket::AdminLogin, "::1", 3),
        (RateLimitBucket::SearchUi, ODD, 2),
    ] {
        let hit = store
            .hit_rate_limit(bucket, source, SEED_TTL)
            .await
            .unwrap();
        assert_eq!(hit.count, count, "{bucket} {source}");
    }
    let backoff = store.get_login_backoff("10.0.0.1").await.unwrap().unwrap();
    assert_eq!((backoff.failed_count, backoff.next_allowed_at), (1, None));
    let backoff = store.get_login_backoff("::1").await.unwrap().unwrap();
    assert!(backoff.failed_count == 1 && backoff.next_allowed_at.is_some());

    let indexes = store.list_indexes(None, 10).await.unwrap();
    let states: Vec<(&str, IndexState, u64)> = indexes
        .iter()
        .map(|record| (record.uid.as_str(), record.state, record.version))
        .collect();
    assert_eq!(
        states,
        [
            (ODD, IndexState::Active, 1),
            ("dropped", IndexState::Deleted, 1),
            ("huge", IndexState::Active, u64::MAX - 1),
            ("movies", IndexState::Active, 2)
        ]
    );
    let movies = &indexes[3];
    assert_eq!(
        (
            movies.primary_key.as_deref(),
            movies.settings_version,
            movies.created_at
        ),
        (Some("id"), 2, seeded.now)
    );

    let api_keys = store.list_api_keys(0, 100).await.unwrap();
    assert_eq!(api_keys.total, 7);
    assert_eq!(api_keys.results, seeded.api_keys);
    let ties: Vec<&str> = seeded.api_keys[3..5]
        .iter()
        .map(|key| key.uid.as_str())
        .collect();
    assert_eq!(
        ties,
        [
            "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
            "7e3f9c1d-2b4a-4e6f-8a0c-5d7b9e1f3a2c"
        ],
        "same created_at: uid descending"
    );
    let page = store.list_api_keys(1, 2).await.unwrap();
    assert_eq!(page.results, seeded.api_keys[1..3]);
    for key in &seeded.api_keys {
        assert_eq!(
            store.get_api_key(&key.uid).await.unwrap().as_ref(),
            Some(key)
        );
    }
}

/// Every task as written, the count, the status, type and index filters, and the uid sequence.
async fn verify_tasks(store: &DynStore, seeded: &Seeded) {
    for task in &seeded.tasks {
        assert_eq!(store.get_task(task.uid).await.unwrap().as_ref(), Some(task));
    }
    assert_eq!(
        store.count_tasks().await.unwrap(),
        seeded.tasks.len() as u64
    );
    let uids = |query: TaskQuery| async move {
        let page = store.list_tasks(&query).await.unwrap();
        let uids: Vec<u64> = page.results.iter().map(|task| task.uid).collect();
        (page.total, uids)
    };
    let query = |statuses: Option<TaskStatus>, index_uid: Option<&str>| TaskQuery {
        statuses: statuses.map(|status| vec![status]),
        index_uids: index_uid.map(|index_uid| vec![index_uid.to_owned()]),
        limit: 1,
        ..TaskQuery::default()
    };
    let failed = seeded.tasks[3].uid;
    let succeeded = seeded.tasks[4].uid;
    assert_eq!(
        uids(query(Some(TaskStatus::Failed), Some(ODD))).await,
        (1, vec![failed])
    );
    assert_eq!(
        uids(query(Some(TaskStatus::Succeeded), None)).await,
        (1, vec![succeeded])
    );
    assert_eq!(uids(query(Some(TaskStatus::Enqueued), None)).await.0, 48);
    assert_eq!(uids(query(None, Some(ODD))).await.0, 10);
    let kinds = TaskQuery {
        kinds: Some(vec![TaskKind::DocumentAdditionOrUpdate]),
        limit: 0,
        ..TaskQuery::default()
    };
    assert_eq!(uids(kinds).await.0, 50);
    let next = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    let last = seeded.tasks.last().unwrap().uid;
    assert_eq!(
        next.uid,
        last + 2,
        "the sequence is past the deleted newest task"
    );
}

/// The job in progress with its claim and progress, every state's jobs, the queue depth and the
/// claim token sequence.
async fn verify_jobs(store: &DynStore, seeded: &Seeded) {
    let job = store.get_job(&seeded.jobs[0]).await.unwrap().unwrap();
    assert_eq!(
        (job.claim(), job.progress),
        (Some(seeded.job_claim.clone()), json!({"last_cursor": 77}))
    );
    for (state, expected) in [
        (JobState::InProgress, vec![&seeded.jobs[0]]),
        (JobState::Failed, vec![&seeded.jobs[1]]),
        (JobState::Queued, vec![&seeded.jobs[2], &seeded.jobs[4]]),
        (JobState::Completed, vec![&seeded.jobs[3]]),
    ] {
        let query = JobQuery {
            state: Some(state),
            limit: 10,
            ..JobQuery::default()
        };
        let page = store.list_jobs(&query).await.unwrap();
        let ids: Vec<&String> = page.jobs.iter().map(|job| &job.id).collect();
        assert_eq!(ids, expected, "{state}");
    }
    assert_eq!(
        store.job_queue_depth().await.unwrap(),
        [(JobKind::Reindex, 2)].into()
    );
    assert!(store.job_claim_sequence().await.unwrap() >= seeded.job_claim.token + 3);
}
