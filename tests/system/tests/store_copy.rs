//! `miroir-migrate copy` across processes: a SQLite store with 20 000 tasks and rows in every
//! table is copied to Redis and back; `miroir` serves the same `GET /tasks` pages on the copy, and
//! new task uids continue after the source's.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use miroir_store::{
    AdminSession, AliasTarget, ApiKeyRecord, BackoffPolicy, Canary, CanaryRun, CanaryRunStatus,
    CopyRow, DynStore, IdempotencyRecord, IndexRecord, IndexState, JobKind, NewJob,
    NodeSettingsVersion, NodeTaskMap, RateLimitBucket, RolloverPolicy, ScopedKeyObservation,
    SearchUiConfig, Session, Task, TaskError, TaskKind, TaskStatus, TenantMapping, Timestamp,
};
use miroir_system_tests::{Fleet, Miroir, command};
use miroir_test_support::{shared_redis, unique_prefix};
use serde_json::{Value, json};

/// Enough for many export pages (1 000 rows each); the `copy` bench measures 100 000.
const TASKS: u64 = 20_000;
const KINDS: [TaskKind; 3] = [
    TaskKind::DocumentAdditionOrUpdate,
    TaskKind::SettingsUpdate,
    TaskKind::DocumentDeletion,
];

/// Writes `TASKS` tasks in every status over 7 indexes (imported in batches: creating them one
/// by one would take minutes in a debug build), and rows in every other table through the API.
async fn seed(store: &DynStore) {
    let base = Timestamp::now().as_millis() - 86_400_000;
    let at = |offset: u64| Timestamp::from_millis(base + i64::try_from(offset).unwrap());
    let tasks: Vec<CopyRow> = (1..=TASKS)
        .map(|uid| {
            let status = match uid % 4 {
                0 => TaskStatus::Enqueued,
                1 => TaskStatus::Processing,
                2 => TaskStatus::Succeeded,
                _ => TaskStatus::Failed,
            };
            CopyRow::Task(Task {
                uid,
                index_uid: Some(format!("index-{}", uid % 7)),
                kind: KINDS[(uid % 3) as usize],
                status,
                node_tasks: NodeTaskMap::from([("meili-0".to_owned(), uid)]),
                details: Some(json!({"receivedDocuments": uid % 100})),
                error: (status == TaskStatus::Failed).then(|| TaskError {
                    message: format!("node rejected task {uid}"),
                    code: "invalid_document_id".to_owned(),
                    error_type: "invalid_request".to_owned(),
                    link: "https://docs.meilisearch.com/errors#invalid_document_id".to_owned(),
                }),
                canceled_by: None,
                enqueued_at: at(uid),
                started_at: (status != TaskStatus::Enqueued).then(|| at(uid + 5)),
                finished_at: status.is_terminal().then(|| at(uid + 9)),
            })
        })
        .collect();
    for batch in tasks.chunks(5000) {
        store.import_rows(batch).await.unwrap();
    }
    store.raise_task_sequence(TASKS).await.unwrap();
    seed_other_tables(store).await;
}

/// One or two rows in every table besides tasks.
async fn seed_other_tables(store: &DynStore) {
    let now = Timestamp::now();
    let hour = Duration::from_secs(3600);
    let later = now.plus(hour);
    store
        .record_node_settings_version(NodeSettingsVersion {
            index_uid: "index-1".into(),
            node_id: "meili-0".into(),
            version: 42,
            updated_at: now,
        })
        .await
        .unwrap();
    let single = |uid: &str| AliasTarget::Single { uid: uid.into() };
    store.create_alias("live", single("v1"), now).await.unwrap();
    store
        .flip_alias("live", 1, single("v2"), 10, now)
        .await
        .unwrap();
    store
        .put_session(Session {
            session_id: "session-1".into(),
            last_write_task_uid: Some(7),
            last_write_at: Some(now),
            pinned_group: Some(0),
            min_settings_version: 42,
            expires_at: later,
        })
        .await
        .unwrap();
    store
        .insert_idempotency_if_absent(IdempotencyRecord {
            key: "idem-1".into(),
            body_sha256: [3; 32],
            task_uid: 9,
            expires_at: later,
        })
        .await
        .unwrap();
    for number in 0..2 {
        store
            .enqueue_job(NewJob {
                kind: JobKind::Reindex,
                params: json!({"source": "a", "target": format!("b{number}")}),
                max_attempts: 3,
            })
            .await
            .unwrap();
    }
    store
        .acquire_lease("maintenance", "pod-a", hour)
        .await
        .unwrap();
    store
        .upsert_canary(Canary {
            id: "canary-1".into(),
            name: "top hit".into(),
            index_uid: "index-1".into(),
            interval_s: 60,
            query: json!({"q": "matrix"}),
            assertions: json!([{"type": "min_hits", "value": 1}]),
            enabled: true,
            created_at: now,
        })
        .await
        .unwrap();
    store
        .record_canary_run(
            CanaryRun {
                canary_id: "canary-1".into(),
                ran_at: now,
                status: CanaryRunStatus::Pass,
                latency_ms: 12,
                failed_assertions: None,
            },
            10,
        )
        .await
        .unwrap();
    store
        .advance_cdc_cursor("kafka", "index-1", None, 77, now)
        .await
        .unwrap();
    store
        .push_cdc_overflow("kafka", vec![b"a".to_vec(), b"bc".to_vec()], 1 << 20)
        .await
        .unwrap();
    store
        .put_tenant(TenantMapping {
            api_key_hash: [5; 32],
            tenant_id: "acme".into(),
            group_id: None,
        })
        .await
        .unwrap();
    store
        .upsert_rollover_policy(RolloverPolicy {
            name: "logs".into(),
            write_alias: "logs-write".into(),
            read_alias: "logs-read".into(),
            pattern: "logs-{YYYY}".into(),
            triggers: json!({"maxDocs": 1000}),
            retention: json!({"keep": 3}),
            template: json!({}),
            enabled: true,
        })
        .await
        .unwrap();
    store
        .put_search_ui_config(SearchUiConfig {
            index_uid: "index-1".into(),
            config: json!({"title": "Index one"}),
            updated_at: now,
        })
        .await
        .unwrap();
    store
        .rotate_scoped_key("index-1", 0, "key-1", now)
        .await
        .unwrap();
    store
        .record_scoped_key_observation(
            ScopedKeyObservation {
                pod_id: "pod-a".into(),
                index_uid: "index-1".into(),
                generation: 1,
                observed_at: now,
            },
            hour,
        )
        .await
        .unwrap();
    store
        .create_admin_session(AdminSession {
            session_id: "admin-session-1".into(),
            csrf_token: "csrf".into(),
            admin_key_hash: [8; 32],
            created_at: now,
            expires_at: later,
            revoked: false,
            user_agent: Some("curl/8".into()),
            source_ip: Some("10.0.0.9".into()),
        })
        .await
        .unwrap();
    store
        .hit_rate_limit(RateLimitBucket::AdminLogin, "10.0.0.9", hour)
        .await
        .unwrap();
    store
        .record_login_failure("10.0.0.9", BackoffPolicy::default())
        .await
        .unwrap();
    for (uid, state) in [
        ("index-1", IndexState::Active),
        ("gone", IndexState::Deleted),
    ] {
        store
            .put_index(
                IndexRecord {
                    uid: uid.into(),
                    primary_key: Some("id".into()),
                    physical_uid: uid.into(),
                    shards: 2,
                    settings_version: 1,
                    state,
                    version: 0,
                    created_at: now,
                    updated_at: now,
                },
                0,
            )
            .await
            .unwrap();
    }
    // Besides the four default keys of the migration: an expired key of our own.
    store
        .create_api_key(ApiKeyRecord {
            uid: "d4c3f873-d0f5-4d35-b40f-2da66002f818".into(),
            name: Some("Frontend search".into()),
            description: None,
            actions: vec!["search".into()],
            indexes: vec!["index-*".into()],
            expires_at: Some(now.minus(hour)),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
}

/// The `GET /tasks` requests whose answers must not change across a copy. (`GET /tasks/{uid}` of
/// an unfinished task asks the nodes and may change it, so only finished ones are read one by
/// one.)
const PAGES: [&str; 8] = [
    "/tasks?limit=20",
    "/tasks?limit=20&from=14321",
    "/tasks?limit=5&statuses=failed&indexUids=index-3",
    "/tasks?limit=7&types=settingsUpdate&statuses=succeeded,processing",
    "/tasks?limit=10&reverse=true",
    "/tasks?limit=3&afterEnqueuedAt=2000-01-01T00:00:00Z&indexUids=index-6",
    "/tasks/2",
    "/tasks/19999",
];

/// No background work: its poller would advance the seeded unfinished tasks (whose node tasks
/// the test node never had) between the two reads.
const QUIET: &[(&str, &str)] = &[("MIROIR_BACKGROUND__ENABLED", "false")];

fn pages(miroir: &Miroir) -> Vec<Value> {
    PAGES
        .iter()
        .map(|path| miroir.json("GET", path, &Value::Null))
        .collect()
}

fn copy(from: &str, to: &str) -> (Output, String) {
    let started = std::time::Instant::now();
    let output = command("miroir-migrate", "miroir-migrate")
        .args(["copy", "--from", from, "--to", to])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "copy {from} → {to} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "copy {from} → {to}: {:.1} s\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    (output, stdout)
}

/// `table → (source count, target count, checksum)` from the verification table of a copy.
fn verification(stdout: &str) -> BTreeMap<String, (u64, u64, String)> {
    stdout
        .lines()
        .skip_while(|line| !line.starts_with("table "))
        .skip(1)
        .map_while(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [table, source, target, checksum] => Some((
                    table.to_owned(),
                    (
                        source.parse().ok()?,
                        target.parse().ok()?,
                        checksum.to_owned(),
                    ),
                )),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn sqlite_to_redis_and_back_keeps_every_row_and_the_task_pages() {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}", dir.path().join("source.db").display());
    let back = format!("sqlite://{}", dir.path().join("back.db").display());
    let redis = shared_redis().store_url(&unique_prefix("copy"), Duration::from_secs(5));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = miroir_store::open(&source).await.unwrap();
        store.migrate().await.unwrap();
        seed(&store).await;
    });

    let fleet = Fleet::start(1);
    let before = {
        let miroir = Miroir::start_with(&fleet, &source, 1, QUIET);
        pages(&miroir)
    };
    assert_eq!(before[0]["total"], TASKS);

    let (_, there) = copy(&source, &redis);
    let there = verification(&there);
    assert_eq!(there.len(), 21, "one verification line per table");
    for (table, (source_rows, target_rows, _)) in &there {
        assert!(*source_rows > 0, "{table}: no rows were seeded");
        assert_eq!(source_rows, target_rows, "{table}");
    }
    assert_eq!(there["tasks"].0, TASKS);
    assert_eq!(there["api_keys"].0, 5, "the default keys and ours");

    // A second copy into the same target is refused without --force.
    let refused = command("miroir-migrate", "miroir-migrate")
        .args(["copy", "--from", &source, "--to", &redis])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let (_, home) = copy(&redis, &back);
    assert_eq!(
        verification(&home),
        there,
        "SQLite → Redis → SQLite: same rows"
    );

    let miroir = Miroir::start_with(&fleet, &redis, 1, QUIET);
    assert_eq!(pages(&miroir), before, "the same pages on the copy");
    let task = miroir.write(
        "POST",
        "/indexes/movies/documents?primaryKey=id",
        &json!([{"id": 1, "title": "after the copy"}]),
    );
    let uid = task["uid"].as_u64().unwrap();
    assert!(uid > TASKS, "uids continue after the copy: {uid}");
    assert_eq!(
        miroir.json("GET", "/tasks/2", &Value::Null),
        before[6],
        "the old task 2 is untouched"
    );
}
