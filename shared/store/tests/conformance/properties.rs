//! Property tests (proptest), run on every backend like the rest of the suite: every row type
//! survives a round trip unchanged, upserts replace, and task paging always yields exactly the
//! rows of one big page.

use std::collections::BTreeMap;
use std::time::Duration;

use miroir_store::{
    AdminSession, AliasTarget, Canary, CanaryRun, CanaryRunStatus, IdempotencyInsert,
    IdempotencyRecord, JobKind, NewJob, NewTask, NodeSettingsVersion, RolloverPolicy,
    SearchUiConfig, Session, TaskError, TaskKind, TaskQuery, TaskStatus, TenantMapping, Timestamp,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::support::TestStore;

/// Runs `body` for `cases` generated inputs, blocking this (multi-threaded) test runtime's worker.
fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    body: impl Fn(S::Value) -> futures::future::BoxFuture<'static, ()>,
) where
    S::Value: std::fmt::Debug,
{
    let runtime = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    tokio::task::block_in_place(|| {
        runner
            .run(&strategy, |input| {
                runtime.block_on(body(input));
                Ok(())
            })
            .unwrap();
    });
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e12f64..1.0e12).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_:{}\" ]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_:{}\\- é☃]{1,16}"
}

fn index_uid() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,12}"
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (1_600_000_000_000i64..2_000_000_000_000).prop_map(Timestamp::from_millis)
}

fn task_error() -> impl Strategy<Value = TaskError> {
    (text(), "[a-z_]{1,20}").prop_map(|(message, code)| TaskError {
        link: format!("https://docs.meilisearch.com/errors#{code}"),
        message,
        code,
        error_type: "invalid_request".to_owned(),
    })
}

fn new_task() -> impl Strategy<Value = NewTask> {
    (
        prop::option::of(index_uid()),
        prop::sample::select(TaskKind::ALL),
        prop::sample::select(TaskStatus::ALL),
        prop::collection::btree_map(text(), any::<u64>(), 0..5),
        prop::option::of(json_value()),
        timestamp(),
    )
        .prop_map(
            |(index_uid, kind, status, node_tasks, details, enqueued_at)| NewTask {
                index_uid,
                kind,
                status,
                node_tasks,
                details,
                enqueued_at,
            },
        )
}

pub async fn every_task_field_round_trips(store: &TestStore) {
    let store = store.store.clone();
    let strategy = (
        new_task(),
        prop::option::of(task_error()),
        prop::option::of(timestamp()),
        prop::option::of(any::<u64>()),
    );
    check(
        48,
        strategy,
        move |(new, error, finished_at, canceled_by)| {
            let store = store.clone();
            Box::pin(async move {
                let created = store.create_task(new.clone()).await.unwrap();
                assert_eq!(
                    store.get_task(created.uid).await.unwrap(),
                    Some(created.clone())
                );
                if created.status.is_terminal() {
                    return;
                }
                let mut update = created.to_update();
                update.status = TaskStatus::Failed;
                update.error = error;
                update.finished_at = finished_at;
                update.started_at = finished_at;
                update.canceled_by = canceled_by;
                update.node_tasks.insert("extra".to_owned(), 1);
                let updated = store
                    .update_task(created.uid, update.clone())
                    .await
                    .unwrap();
                assert_eq!(updated.to_update(), update);
                assert_eq!(store.get_task(created.uid).await.unwrap(), Some(updated));
            })
        },
    );
}

pub async fn every_config_row_round_trips(store: &TestStore) {
    let store = store.store.clone();
    let strategy = (
        text(),
        index_uid(),
        json_value(),
        json_value(),
        any::<bool>(),
        any::<[u8; 32]>(),
        prop::option::of(0u32..64),
        timestamp(),
    );
    check(
        32,
        strategy,
        move |(name, index, first_json, second_json, enabled, hash, group, at)| {
            let store = store.clone();
            Box::pin(async move {
                let canary = Canary {
                    id: name.clone(),
                    name: name.clone(),
                    index_uid: index.clone(),
                    interval_s: 60,
                    query: first_json.clone(),
                    assertions: second_json.clone(),
                    enabled,
                    created_at: at,
                };
                store.upsert_canary(canary.clone()).await.unwrap();
                assert_eq!(store.get_canary(&name).await.unwrap(), Some(canary.clone()));
                let run = CanaryRun {
                    canary_id: name.clone(),
                    ran_at: at,
                    status: CanaryRunStatus::Fail,
                    latency_ms: 3,
                    failed_assertions: Some(second_json.clone()),
                };
                store.record_canary_run(run.clone(), 10).await.unwrap();
                assert!(
                    store
                        .list_canary_runs(&name, 100)
                        .await
                        .unwrap()
                        .contains(&run)
                );

                let policy = RolloverPolicy {
                    name: name.clone(),
                    write_alias: format!("{index}-w"),
                    read_alias: format!("{index}-r"),
                    pattern: name.clone(),
                    triggers: first_json.clone(),
                    retention: second_json.clone(),
                    template: first_json.clone(),
                    enabled,
                };
                store.upsert_rollover_policy(policy.clone()).await.unwrap();
                assert_eq!(
                    store.get_rollover_policy(&name).await.unwrap(),
                    Some(policy)
                );

                let config = SearchUiConfig {
                    index_uid: index.clone(),
                    config: first_json.clone(),
                    updated_at: at,
                };
                store.put_search_ui_config(config.clone()).await.unwrap();
                assert_eq!(
                    store.get_search_ui_config(&index).await.unwrap(),
                    Some(config)
                );

                let tenant = TenantMapping {
                    api_key_hash: hash,
                    tenant_id: name.clone(),
                    group_id: group,
                };
                store.put_tenant(tenant.clone()).await.unwrap();
                assert_eq!(store.get_tenant(&hash).await.unwrap(), Some(tenant));

                let settings = NodeSettingsVersion {
                    index_uid: index.clone(),
                    node_id: name.clone(),
                    version: u64::MAX - 1,
                    updated_at: at,
                };
                assert_eq!(
                    store
                        .record_node_settings_version(settings.clone())
                        .await
                        .unwrap(),
                    settings
                );
                assert_eq!(
                    store
                        .get_node_settings_version(&index, &name)
                        .await
                        .unwrap(),
                    Some(settings)
                );

                let job = store
                    .enqueue_job(NewJob {
                        kind: JobKind::Reindex,
                        params: first_json.clone(),
                        max_attempts: 3,
                    })
                    .await
                    .unwrap();
                assert_eq!(store.get_job(&job.id).await.unwrap(), Some(job));

                let alias_target = if enabled {
                    AliasTarget::Single { uid: index.clone() }
                } else {
                    AliasTarget::Multi {
                        uids: vec![index.clone(), format!("{index}-2")],
                    }
                };
                if let Ok(alias) = store.create_alias(&name, alias_target, at).await {
                    assert_eq!(store.get_alias(&name).await.unwrap(), Some(alias));
                }
            })
        },
    );
}

pub async fn every_expiring_row_round_trips(store: &TestStore) {
    let store = store.store.clone();
    let strategy = (
        text(),
        prop::option::of(any::<u64>()),
        prop::option::of(timestamp()),
        prop::option::of(0u32..8),
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::option::of(text()),
    );
    check(
        32,
        strategy,
        move |(id, task_uid, at, group, version, hash, agent)| {
            let store = store.clone();
            Box::pin(async move {
                let expires_at = Timestamp::now().plus(Duration::from_secs(600));
                let session = Session {
                    session_id: id.clone(),
                    last_write_task_uid: task_uid,
                    last_write_at: at,
                    pinned_group: group,
                    min_settings_version: version,
                    expires_at,
                };
                store.put_session(session.clone()).await.unwrap();
                assert_eq!(store.get_session(&id).await.unwrap(), Some(session));

                let record = IdempotencyRecord {
                    key: id.clone(),
                    body_sha256: hash,
                    task_uid: version,
                    expires_at,
                };
                match store
                    .insert_idempotency_if_absent(record.clone())
                    .await
                    .unwrap()
                {
                    IdempotencyInsert::Inserted => {
                        assert_eq!(store.get_idempotency(&id).await.unwrap(), Some(record))
                    }
                    IdempotencyInsert::Existing(existing) => {
                        assert_eq!(store.get_idempotency(&id).await.unwrap(), Some(existing))
                    }
                }

                let admin = AdminSession {
                    session_id: id.clone(),
                    csrf_token: hex_of(&hash),
                    admin_key_hash: hash,
                    created_at: at.unwrap_or(expires_at),
                    expires_at,
                    revoked: false,
                    user_agent: agent.clone(),
                    source_ip: agent,
                };
                if store.create_admin_session(admin.clone()).await.is_ok() {
                    assert_eq!(store.get_admin_session(&id).await.unwrap(), Some(admin));
                }
            })
        },
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub async fn task_paging_equals_one_big_page(store: &TestStore) {
    let handle = store.store.clone();
    // One population, many random queries and page sizes over it.
    let mut statuses = BTreeMap::new();
    for n in 0..60u64 {
        let task = handle
            .create_task(NewTask {
                index_uid: Some(["a", "b", "c"][(n % 3) as usize].to_owned()),
                kind: TaskKind::ALL[(n % 4) as usize],
                status: TaskStatus::ALL[(n * 7 % 5) as usize],
                node_tasks: BTreeMap::new(),
                details: None,
                enqueued_at: Timestamp::from_millis(1_700_000_000_000 + n as i64 * 1_000),
            })
            .await
            .unwrap();
        statuses.insert(task.uid, task.status);
    }
    let uids: Vec<u64> = statuses.keys().copied().collect();
    let strategy = (
        1u32..25,
        any::<bool>(),
        prop::option::of(prop::sample::subsequence(TaskStatus::ALL.to_vec(), 0..=5)),
        prop::option::of(prop::sample::subsequence(
            vec!["a".to_owned(), "b".to_owned(), "z".to_owned()],
            0..=3,
        )),
        prop::option::of(prop::sample::select(uids)),
    );
    check(
        40,
        strategy,
        move |(limit, reverse, statuses, index_uids, from)| {
            let store = handle.clone();
            Box::pin(async move {
                let query = TaskQuery {
                    statuses,
                    index_uids,
                    from,
                    reverse,
                    limit: 1000,
                    ..TaskQuery::default()
                };
                let big = store.list_tasks(&query).await.unwrap();
                assert_eq!(big.next, None);
                let mut paged = Vec::new();
                let mut cursor = TaskQuery {
                    limit,
                    ..query.clone()
                };
                loop {
                    let page = store.list_tasks(&cursor).await.unwrap();
                    assert_eq!(page.total, big.total);
                    paged.extend(page.results);
                    match page.next {
                        Some(next) => cursor.from = Some(next),
                        None => break,
                    }
                }
                assert_eq!(
                    paged, big.results,
                    "pages of {limit} differ from one page for {query:?}"
                );
            })
        },
    );
}
