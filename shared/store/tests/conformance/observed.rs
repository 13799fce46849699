//! `ObservedStore` specifics: what the observer is told. (That it delegates every operation
//! unchanged is the whole conformance suite, run as `sqlite_observed`.)

use std::collections::BTreeSet;
use std::time::Instant;

use miroir_store::{Backend, ObservedStore, Outcome, StoreError, TaskKind};

use crate::support::{new_task, observed_sqlite_memory};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_call_reports_its_operation_duration_and_outcome() {
    let (store, observer) = observed_sqlite_memory().await;
    store.migrate().await.unwrap();
    observer.clear();

    let task = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    assert_eq!(store.get_task(task.uid + 1).await.unwrap(), None);
    let started = Instant::now();
    let result = store.update_task(task.uid + 1, task.to_update()).await;
    let outer = started.elapsed();
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");

    let observations = observer.observations();
    let summary: Vec<_> = observations
        .iter()
        .map(|observation| (observation.operation, observation.outcome))
        .collect();
    assert_eq!(
        summary,
        [
            ("create_task", Outcome::Ok),
            ("get_task", Outcome::Ok),
            ("update_task", Outcome::Err("not_found")),
        ]
    );
    let failures = observer.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, "update_task");
    assert!(failures[0].1.contains("not found"), "{failures:?}");
    let elapsed = observations[2].elapsed;
    assert!(elapsed <= outer, "{elapsed:?} timed within {outer:?}");
    assert_eq!(Outcome::Err("not_found").as_str(), "not_found");
    assert_eq!(Outcome::Ok.as_str(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backend_is_delegated_and_not_reported() {
    let (store, observer) = observed_sqlite_memory().await;
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(observer.observations().is_empty());
}

#[test]
fn operations_are_the_trait_method_names_once_each() {
    let operations = ObservedStore::OPERATIONS;
    let unique: BTreeSet<_> = operations.iter().collect();
    assert_eq!(unique.len(), operations.len(), "{operations:?}");
    // 19 traits: 2 + 8 + 4 + 5 + 3 + 2 + 10 + 6 + 6 + 7 + 5 + 4 + 5 + 4 + 8 + 4 + 4 + 1, and 7
    // of CopyStore.
    assert_eq!(operations.len(), 95);
    for name in [
        "migrate",
        "get_task",
        "update_task_if",
        "list_tasks",
        "claim_next_job",
        "check_fencing_token",
        "subscribe_admin_session_revocations",
        "prune_expired",
        "export_rows",
        "job_claim_sequence",
        "clear_all_rows",
        "put_index",
        "list_indexes",
        "create_api_key",
        "list_api_keys",
    ] {
        assert!(operations.contains(&name), "{name} missing");
    }
}
