//! Task registry: uids, updates, Meilisearch-style listing and pruning.

use std::collections::BTreeSet;

use miroir_store::{
    Fence, NodeTaskMap, StoreError, Task, TaskError, TaskKind, TaskQuery, TaskStatus, TimeRange,
    Timestamp,
};

use crate::support::{TestStore, new_task};

pub async fn create_allocates_increasing_uids(store: &TestStore) {
    let first = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    let second = store
        .create_task(new_task("movies", TaskKind::DocumentAdditionOrUpdate))
        .await
        .unwrap();
    assert!(second.uid > first.uid, "{} then {}", first.uid, second.uid);
    assert_eq!(first.status, TaskStatus::Enqueued);
    assert_eq!(store.count_tasks().await.unwrap(), 2);
}

pub async fn get_round_trips_every_field(store: &TestStore) {
    let mut new = new_task("books", TaskKind::SettingsUpdate);
    new.details = Some(
        serde_json::json!({"rankingRules": ["words", "typo"], "nested": {"a": [1, 2.5, null]}}),
    );
    new.node_tasks = NodeTaskMap::from([
        ("node with spaces".to_owned(), u64::MAX),
        ("n:1".to_owned(), 0),
    ]);
    let created = store.create_task(new.clone()).await.unwrap();
    assert_eq!(created.index_uid, new.index_uid);
    assert_eq!(created.kind, new.kind);
    assert_eq!(created.node_tasks, new.node_tasks);
    assert_eq!(created.details, new.details);
    assert_eq!(created.enqueued_at, new.enqueued_at);
    assert_eq!(
        (
            created.error.clone(),
            created.started_at,
            created.finished_at,
            created.canceled_by
        ),
        (None, None, None, None)
    );
    assert_eq!(
        store.get_task(created.uid).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.get_task(created.uid + 1000).await.unwrap(), None);

    let global = store
        .create_task(miroir_store::NewTask {
            index_uid: None,
            details: None,
            kind: TaskKind::DumpCreation,
            ..new
        })
        .await
        .unwrap();
    assert_eq!(store.get_task(global.uid).await.unwrap(), Some(global));
}

fn failed(task: &Task) -> miroir_store::TaskUpdate {
    let mut update = task.to_update();
    update.status = TaskStatus::Failed;
    update.error = Some(TaskError {
        message: "node `meili-1` failed: Index `movies` not found.".to_owned(),
        code: "index_not_found".to_owned(),
        error_type: "invalid_request".to_owned(),
        link: "https://docs.meilisearch.com/errors#index_not_found".to_owned(),
    });
    update.started_at = Some(task.enqueued_at.plus(std::time::Duration::from_millis(5)));
    update.finished_at = Some(task.enqueued_at.plus(std::time::Duration::from_millis(9)));
    update
}

pub async fn update_replaces_mutable_fields(store: &TestStore) {
    let task = store
        .create_task(new_task("movies", TaskKind::DocumentAdditionOrUpdate))
        .await
        .unwrap();
    let mut processing = task.to_update();
    processing.status = TaskStatus::Processing;
    processing.started_at = Some(Timestamp::now());
    processing.node_tasks.insert("meili-2".to_owned(), 11);
    let updated = store
        .update_task(task.uid, processing.clone())
        .await
        .unwrap();
    assert_eq!(updated.status, TaskStatus::Processing);
    assert_eq!(updated.node_tasks, processing.node_tasks);
    assert_eq!(
        (updated.uid, updated.kind, updated.enqueued_at),
        (task.uid, task.kind, task.enqueued_at)
    );
    let done = store.update_task(task.uid, failed(&updated)).await.unwrap();
    assert_eq!(store.get_task(task.uid).await.unwrap(), Some(done.clone()));
    assert_eq!(
        done.error.as_ref().map(|error| error.code.as_str()),
        Some("index_not_found")
    );
}

pub async fn terminal_tasks_are_final(store: &TestStore) {
    let task = store
        .create_task(new_task("movies", TaskKind::DocumentDeletion))
        .await
        .unwrap();
    let failed_update = failed(&task);
    let done = store
        .update_task(task.uid, failed_update.clone())
        .await
        .unwrap();
    // Writing the same terminal state again is a no-op, not an error.
    assert_eq!(
        store.update_task(task.uid, failed_update).await.unwrap(),
        done
    );
    let mut back = done.to_update();
    back.status = TaskStatus::Processing;
    assert!(matches!(
        store.update_task(task.uid, back).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_task(task.uid).await.unwrap(), Some(done));
}

/// A writer working from a stale read (the poller) never overwrites node tasks recorded since.
pub async fn conditional_update_refuses_a_stale_view(store: &TestStore) {
    let mut new = new_task("movies", TaskKind::DocumentAdditionOrUpdate);
    new.node_tasks = NodeTaskMap::new();
    let seen = store.create_task(new).await.unwrap();
    // Meanwhile the write path records its node tasks.
    let mut recorded = seen.to_update();
    recorded.node_tasks = NodeTaskMap::from([("meili-0".to_owned(), 41)]);
    let current = store.update_task(seen.uid, recorded).await.unwrap();
    // The stale view's update (fail it as orphaned) is refused and changes nothing.
    let stale = store.update_task_if(seen.uid, &seen, failed(&seen)).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(
        store.get_task(seen.uid).await.unwrap(),
        Some(current.clone())
    );
    // A status change alone is a change too.
    let mut processing = current.to_update();
    processing.status = TaskStatus::Processing;
    let moved = store.update_task(seen.uid, processing).await.unwrap();
    let stale = store
        .update_task_if(seen.uid, &current, failed(&current))
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    // From the current view it applies.
    let mut done = failed(&moved);
    done.node_tasks = moved.node_tasks.clone();
    let finished = store
        .update_task_if(seen.uid, &moved, done.clone())
        .await
        .unwrap();
    assert_eq!(finished.status, TaskStatus::Failed);
    assert_eq!(finished.node_tasks, moved.node_tasks);
    assert_eq!(
        store.get_task(seen.uid).await.unwrap(),
        Some(finished.clone())
    );
    // Terminal tasks stay final: the identical state is a no-op, anything else a conflict.
    assert_eq!(
        store.update_task_if(seen.uid, &moved, done).await.unwrap(),
        finished
    );
    let missing = store
        .update_task_if(seen.uid + 99, &seen, failed(&seen))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

pub async fn update_of_missing_task_is_not_found(store: &TestStore) {
    let task = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    let result = store.update_task(task.uid + 77, task.to_update()).await;
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
    assert_eq!(store.count_tasks().await.unwrap(), 1);
}

/// Creates `count` tasks over three indexes, kinds and statuses, with distinct times.
async fn seed(store: &TestStore, count: usize) -> Vec<Task> {
    let indexes = ["movies", "books", "songs"];
    let kinds = [
        TaskKind::DocumentAdditionOrUpdate,
        TaskKind::SettingsUpdate,
        TaskKind::DocumentDeletion,
    ];
    let base = Timestamp::now().as_millis();
    let mut tasks = Vec::new();
    for i in 0..count {
        let mut new = new_task(indexes[i % 3], kinds[(i / 3) % 3]);
        new.enqueued_at = Timestamp::from_millis(base + 10 * i as i64);
        let task = store.create_task(new).await.unwrap();
        let task = match i % 4 {
            0 => task,
            1 => {
                let mut update = task.to_update();
                update.status = TaskStatus::Processing;
                update.started_at = Some(Timestamp::from_millis(base + 10 * i as i64 + 3));
                store.update_task(task.uid, update).await.unwrap()
            }
            _ => {
                let mut update = task.to_update();
                update.status = if i % 4 == 2 {
                    TaskStatus::Succeeded
                } else {
                    TaskStatus::Failed
                };
                update.started_at = Some(Timestamp::from_millis(base + 10 * i as i64 + 3));
                update.finished_at = Some(Timestamp::from_millis(base + 10 * i as i64 + 6));
                store.update_task(task.uid, update).await.unwrap()
            }
        };
        tasks.push(task);
    }
    tasks
}

/// Walks every page of `query` and returns the concatenated uids.
async fn walk(store: &TestStore, mut query: TaskQuery) -> (Vec<u64>, u64) {
    let mut uids = Vec::new();
    let mut total = None;
    for _ in 0..1000 {
        let page = store.list_tasks(&query).await.unwrap();
        assert!(page.results.len() <= query.limit as usize);
        assert!(
            page.results.iter().all(|task| query.matches(task)),
            "page has a non-matching task"
        );
        if let Some(total) = total {
            assert_eq!(total, page.total, "total must not depend on the cursor");
        }
        total = Some(page.total);
        uids.extend(page.results.iter().map(|task| task.uid));
        match page.next {
            Some(next) => query.from = Some(next),
            None => return (uids, total.unwrap_or(0)),
        }
    }
    panic!("paging did not end");
}

pub async fn list_newest_first_with_cursor_paging(store: &TestStore) {
    let tasks = seed(store, 25).await;
    let first = store
        .list_tasks(&TaskQuery {
            limit: 10,
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    let mut expected: Vec<u64> = tasks.iter().map(|task| task.uid).collect();
    expected.reverse();
    assert_eq!(first.total, 25);
    assert_eq!(
        first
            .results
            .iter()
            .map(|task| task.uid)
            .collect::<Vec<_>>(),
        expected[..10]
    );
    assert_eq!(first.next, Some(expected[10]));
    assert_eq!(first.results[0], *tasks.last().unwrap());
    let (uids, total) = walk(
        store,
        TaskQuery {
            limit: 7,
            ..TaskQuery::default()
        },
    )
    .await;
    assert_eq!((uids, total), (expected.clone(), 25));
    // `from` is inclusive and may name a uid that does not match.
    let page = store
        .list_tasks(&TaskQuery {
            from: Some(expected[3]),
            limit: 2,
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.results.iter().map(|task| task.uid).collect::<Vec<_>>(),
        expected[3..5]
    );
    let last = store
        .list_tasks(&TaskQuery {
            from: Some(expected[24]),
            limit: 5,
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    assert_eq!((last.results.len(), last.next), (1, None));
}

pub async fn list_reverse_pages_oldest_first(store: &TestStore) {
    let tasks = seed(store, 12).await;
    let expected: Vec<u64> = tasks.iter().map(|task| task.uid).collect();
    let (uids, total) = walk(
        store,
        TaskQuery {
            limit: 5,
            reverse: true,
            ..TaskQuery::default()
        },
    )
    .await;
    assert_eq!((uids, total), (expected, 12));
}

pub async fn list_filters_match_reference(store: &TestStore) {
    let tasks = seed(store, 36).await;
    let at = |i: usize| tasks[i].enqueued_at;
    let queries = vec![
        TaskQuery {
            statuses: Some(vec![TaskStatus::Succeeded]),
            ..TaskQuery::default()
        },
        TaskQuery {
            statuses: Some(vec![TaskStatus::Enqueued, TaskStatus::Failed]),
            ..TaskQuery::default()
        },
        TaskQuery {
            kinds: Some(vec![TaskKind::SettingsUpdate]),
            ..TaskQuery::default()
        },
        TaskQuery {
            index_uids: Some(vec!["books".into(), "songs".into()]),
            ..TaskQuery::default()
        },
        TaskQuery {
            index_uids: Some(vec!["nowhere".into()]),
            ..TaskQuery::default()
        },
        TaskQuery {
            uids: Some(vec![tasks[3].uid, tasks[7].uid, 9_999_999]),
            ..TaskQuery::default()
        },
        TaskQuery {
            uids: Some(vec![]),
            ..TaskQuery::default()
        },
        TaskQuery {
            statuses: Some(vec![TaskStatus::Processing, TaskStatus::Succeeded]),
            index_uids: Some(vec!["movies".into()]),
            kinds: Some(vec![
                TaskKind::DocumentAdditionOrUpdate,
                TaskKind::DocumentDeletion,
            ]),
            ..TaskQuery::default()
        },
        TaskQuery {
            enqueued: TimeRange {
                after: Some(at(5)),
                before: Some(at(20)),
            },
            ..TaskQuery::default()
        },
        TaskQuery {
            started: TimeRange {
                after: Some(at(10)),
                before: None,
            },
            ..TaskQuery::default()
        },
        TaskQuery {
            finished: TimeRange {
                after: None,
                before: Some(at(30)),
            },
            statuses: Some(vec![TaskStatus::Failed]),
            ..TaskQuery::default()
        },
        TaskQuery {
            from: Some(tasks[20].uid),
            kinds: Some(vec![TaskKind::DocumentDeletion]),
            ..TaskQuery::default()
        },
    ];
    for query in queries {
        let expected_total = tasks.iter().filter(|task| query.matches(task)).count() as u64;
        let mut expected: Vec<u64> = tasks
            .iter()
            .filter(|task| query.matches(task) && query.from.is_none_or(|from| task.uid <= from))
            .map(|task| task.uid)
            .collect();
        expected.reverse();
        let (uids, total) = walk(
            store,
            TaskQuery {
                limit: 4,
                ..query.clone()
            },
        )
        .await;
        assert_eq!(total, expected_total, "total for {query:?}");
        assert_eq!(uids, expected, "pages for {query:?}");
    }
}

pub async fn list_limit_zero_reports_total_and_next(store: &TestStore) {
    let tasks = seed(store, 3).await;
    let page = store
        .list_tasks(&TaskQuery {
            limit: 0,
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    assert!(page.results.is_empty());
    assert_eq!((page.total, page.next), (3, Some(tasks[2].uid)));
    let empty = store
        .list_tasks(&TaskQuery {
            statuses: Some(vec![TaskStatus::Canceled]),
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    assert_eq!((empty.results.len(), empty.total, empty.next), (0, 0, None));
}

pub async fn prune_deletes_only_old_terminal_tasks(store: &TestStore) {
    let tasks = seed(store, 16).await;
    let cutoff = tasks[12].enqueued_at;
    let old_terminal: BTreeSet<u64> = tasks[..12]
        .iter()
        .filter(|task| task.status.is_terminal())
        .map(|task| task.uid)
        .collect();
    assert_eq!(old_terminal.len(), 6);
    // Batched: at most `batch` per call, lowest uid first.
    assert_eq!(store.prune_tasks(cutoff, 4, None).await.unwrap(), 4);
    assert_eq!(store.prune_tasks(cutoff, 4, None).await.unwrap(), 2);
    assert_eq!(store.prune_tasks(cutoff, 4, None).await.unwrap(), 0);
    for task in &tasks {
        let kept = store.get_task(task.uid).await.unwrap();
        assert_eq!(
            kept.is_none(),
            old_terminal.contains(&task.uid),
            "task {} ({:?})",
            task.uid,
            task.status
        );
    }
    assert_eq!(store.count_tasks().await.unwrap(), 10);
    let (uids, total) = walk(
        store,
        TaskQuery {
            limit: 3,
            ..TaskQuery::default()
        },
    )
    .await;
    assert_eq!((uids.len(), total), (10, 10));
    let succeeded = store
        .list_tasks(&TaskQuery {
            statuses: Some(vec![TaskStatus::Succeeded]),
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    assert!(
        succeeded
            .results
            .iter()
            .all(|task| !old_terminal.contains(&task.uid))
    );
    assert_eq!(succeeded.total, 1);
}

pub async fn uids_are_never_reused_after_prune(store: &TestStore) {
    let tasks = seed(store, 4).await;
    let highest = tasks.iter().map(|task| task.uid).max().unwrap();
    for task in &tasks {
        let mut update = task.to_update();
        update.status = TaskStatus::Canceled;
        update.finished_at = Some(Timestamp::now());
        if !task.status.is_terminal() {
            store.update_task(task.uid, update).await.unwrap();
        }
    }
    let cutoff = Timestamp::now().plus(std::time::Duration::from_secs(3600));
    assert_eq!(store.prune_tasks(cutoff, 100, None).await.unwrap(), 4);
    assert_eq!(store.count_tasks().await.unwrap(), 0);
    let next = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    assert!(
        next.uid > highest,
        "uid {} reused (highest was {highest})",
        next.uid
    );
    if let Some(second) = store.reopen().await {
        let after_reopen = second
            .create_task(new_task("movies", TaskKind::IndexCreation))
            .await
            .unwrap();
        assert!(after_reopen.uid > next.uid);
    }
}

pub async fn fenced_prune_is_refused_once_a_newer_token_exists(store: &TestStore) {
    let tasks = seed(store, 8).await;
    let cutoff = Timestamp::now().plus(std::time::Duration::from_secs(3600));
    let ttl = std::time::Duration::from_millis(200);
    let old = store
        .acquire_lease("maintenance", "paused-pod", ttl)
        .await
        .unwrap()
        .unwrap();
    let old_fence = Fence::from(&old);
    // The holder's fence is good while no newer token exists, even after its lease expired.
    assert_eq!(
        store
            .prune_tasks(cutoff, 1, Some(&old_fence))
            .await
            .unwrap(),
        1
    );
    crate::support::sleep_ms(350).await;
    let new = store
        .acquire_lease("maintenance", "pod-b", ttl)
        .await
        .unwrap()
        .unwrap();
    let before = store.count_tasks().await.unwrap();
    assert_eq!(
        store.prune_tasks(cutoff, 100, Some(&old_fence)).await,
        Err(StoreError::Fenced {
            scope: "maintenance".into(),
            token: old.token,
            current: new.token
        })
    );
    assert_eq!(
        store.count_tasks().await.unwrap(),
        before,
        "a fenced prune deletes nothing"
    );
    let terminal = tasks
        .iter()
        .filter(|task| task.status.is_terminal())
        .count() as u64;
    assert_eq!(
        store
            .prune_tasks(cutoff, 100, Some(&Fence::from(&new)))
            .await
            .unwrap(),
        terminal - 1
    );
    // A fence for a scope nobody ever leased does not block.
    let unleased = Fence {
        scope: "never-leased".into(),
        token: 0,
    };
    assert_eq!(store.prune_tasks(cutoff, 100, Some(&unleased)).await, Ok(0));
}

pub async fn delete_removes_a_task_from_every_index(store: &TestStore) {
    let tasks = seed(store, 6).await;
    let victim = &tasks[2];
    assert!(store.delete_task(victim.uid).await.unwrap());
    assert!(
        !store.delete_task(victim.uid).await.unwrap(),
        "second delete"
    );
    assert!(
        !store.delete_task(u64::MAX >> 12).await.unwrap(),
        "unknown uid"
    );
    assert_eq!(store.get_task(victim.uid).await.unwrap(), None);
    assert_eq!(store.count_tasks().await.unwrap(), 5);
    for query in [
        TaskQuery::default(),
        TaskQuery {
            statuses: Some(vec![victim.status]),
            ..TaskQuery::default()
        },
        TaskQuery {
            kinds: Some(vec![victim.kind]),
            index_uids: victim.index_uid.clone().map(|index| vec![index]),
            ..TaskQuery::default()
        },
    ] {
        let page = store.list_tasks(&query).await.unwrap();
        assert!(page.results.iter().all(|task| task.uid != victim.uid));
        let expected = tasks
            .iter()
            .filter(|task| task.uid != victim.uid && query.matches(task))
            .count();
        assert_eq!(page.total, expected as u64, "{query:?}");
    }
    let next = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    assert!(tasks.iter().all(|task| next.uid > task.uid), "uid reused");
}

pub async fn concurrent_creates_get_distinct_uids(store: &TestStore) {
    let mut handles = Vec::new();
    for worker in 0..8 {
        let handle_store = match store.reopen().await {
            Some(other) if worker % 2 == 1 => other,
            _ => store.store.clone(),
        };
        handles.push(tokio::spawn(async move {
            let mut uids = Vec::new();
            for _ in 0..25 {
                uids.push(
                    handle_store
                        .create_task(new_task("movies", TaskKind::DocumentAdditionOrUpdate))
                        .await
                        .unwrap()
                        .uid,
                );
            }
            uids
        }));
    }
    let mut all = BTreeSet::new();
    for handle in handles {
        for uid in handle.await.unwrap() {
            assert!(all.insert(uid), "uid {uid} handed out twice");
        }
    }
    assert_eq!(all.len(), 200);
    assert_eq!(store.count_tasks().await.unwrap(), 200);
}

pub async fn corrupt_task_row_is_a_typed_error(store: &TestStore) {
    let task = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    let Some(raw) = crate::support::RawAccess::of(store) else {
        return;
    };
    raw.corrupt_task(task.uid).await;
    let result = store.get_task(task.uid).await;
    assert!(
        matches!(result, Err(StoreError::Corrupt { .. })),
        "{result:?}"
    );
    // The rest of the table still works.
    let other = store
        .create_task(new_task("movies", TaskKind::IndexCreation))
        .await
        .unwrap();
    assert_eq!(store.get_task(other.uid).await.unwrap(), Some(other));
}
