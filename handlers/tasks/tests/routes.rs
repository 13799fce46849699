//! The task routes on a migrated in-memory SQLite store, without a server.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use miroir_core::Config;
use miroir_http::AppState;
use miroir_store::{
    DynStore, NewTask, NodeTaskMap, Task, TaskError, TaskKind, TaskStatus, Timestamp,
};
use serde_json::{Value, json};
use tower::ServiceExt;

/// 2024-08-08T17:05:55.791Z
const T0: i64 = 1_723_136_755_791;

async fn app() -> (Router, DynStore) {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let state = AppState::start(store.clone(), Config::default(), Duration::from_secs(60)).await;
    (miroir_handler_tasks::router(state), store)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{uri}"
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn create(store: &DynStore, index: &str, kind: TaskKind, enqueued: i64) -> Task {
    store
        .create_task(NewTask {
            index_uid: Some(index.to_owned()),
            kind,
            status: TaskStatus::Enqueued,
            node_tasks: NodeTaskMap::from([("meili-0".to_owned(), 7), ("meili-1".to_owned(), 9)]),
            details: Some(json!({"receivedDocuments": 10, "indexedDocuments": null})),
            enqueued_at: Timestamp::from_millis(enqueued),
        })
        .await
        .unwrap()
}

async fn finish(
    store: &DynStore,
    task: &Task,
    status: TaskStatus,
    started: i64,
    finished: i64,
) -> Task {
    let mut update = task.to_update();
    update.status = status;
    update.started_at = Some(Timestamp::from_millis(started));
    update.finished_at = Some(Timestamp::from_millis(finished));
    if status == TaskStatus::Failed {
        update.error = Some(TaskError {
            message: "Index `movies` not found.".to_owned(),
            code: "index_not_found".to_owned(),
            error_type: "invalid_request".to_owned(),
            link: "https://docs.meilisearch.com/errors#index_not_found".to_owned(),
        });
    }
    store.update_task(task.uid, update).await.unwrap()
}

fn uids(body: &Value) -> Vec<u64> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["uid"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn one_task_has_the_meilisearch_shape() {
    let (app, store) = app().await;
    let task = create(&store, "movies", TaskKind::DocumentAdditionOrUpdate, T0).await;
    let task = finish(&store, &task, TaskStatus::Succeeded, T0 + 4, T0 + 13).await;

    let (status, body) = get(&app, &format!("/tasks/{}", task.uid)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "uid": task.uid,
            "batchUid": null,
            "indexUid": "movies",
            "status": "succeeded",
            "type": "documentAdditionOrUpdate",
            "canceledBy": null,
            "details": {"receivedDocuments": 10, "indexedDocuments": null},
            "error": null,
            "duration": "PT0.009S",
            "enqueuedAt": "2024-08-08T17:05:55.791Z",
            "startedAt": "2024-08-08T17:05:55.795Z",
            "finishedAt": "2024-08-08T17:05:55.804Z",
            "miroir": {"nodeTasks": {"meili-0": 7, "meili-1": 9}}
        })
    );

    let pending = create(&store, "books", TaskKind::IndexCreation, T0 + 1000).await;
    let (_, body) = get(&app, &format!("/tasks/{}", pending.uid)).await;
    assert_eq!(body["status"], "enqueued");
    assert_eq!(body["duration"], Value::Null);
    assert_eq!(body["startedAt"], Value::Null);
    assert_eq!(body["finishedAt"], Value::Null);
    assert_eq!(body["enqueuedAt"], "2024-08-08T17:05:56.791Z");

    let failed = create(&store, "movies", TaskKind::SettingsUpdate, T0).await;
    finish(&store, &failed, TaskStatus::Failed, T0, T0 + 2000).await;
    let (_, body) = get(&app, &format!("/tasks/{}", failed.uid)).await;
    assert_eq!(body["error"]["code"], "index_not_found");
    assert_eq!(body["error"]["type"], "invalid_request");
    assert_eq!(body["duration"], "PT2S");
}

#[tokio::test]
async fn unknown_and_malformed_uids() {
    let (app, _store) = app().await;
    let (status, body) = get(&app, "/tasks/12345").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({
            "message": "Task `12345` not found.",
            "code": "task_not_found",
            "type": "invalid_request",
            "link": "https://docs.meilisearch.com/errors#task_not_found"
        })
    );
    for bad in ["abc", "-1", "1.5", "99999999999999999999999"] {
        let (status, body) = get(&app, &format!("/tasks/{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["code"], "invalid_task_uids", "{bad}");
        assert_eq!(body["type"], "invalid_request");
    }
}

/// Seeds 7 tasks: uids 1..=7, enqueued one second apart; odd uids on `movies`, even on `books`;
/// 1-3 succeeded, 4 failed, 5-7 enqueued; 2 and 4 are settings updates.
async fn seed(store: &DynStore) -> Vec<Task> {
    let mut tasks = Vec::new();
    for n in 0..7_i64 {
        let index = if n % 2 == 0 { "movies" } else { "books" };
        let kind = if n == 1 || n == 3 {
            TaskKind::SettingsUpdate
        } else {
            TaskKind::DocumentAdditionOrUpdate
        };
        let at = T0 + n * 1000;
        let task = create(store, index, kind, at).await;
        let task = match n {
            0..=2 => finish(store, &task, TaskStatus::Succeeded, at + 100, at + 200).await,
            3 => finish(store, &task, TaskStatus::Failed, at + 100, at + 200).await,
            _ => task,
        };
        tasks.push(task);
    }
    tasks
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let (app, store) = app().await;
    let tasks = seed(&store).await;
    let all: Vec<u64> = tasks.iter().rev().map(|task| task.uid).collect();
    assert_eq!(
        all,
        [7, 6, 5, 4, 3, 2, 1],
        "a fresh store allocates uids from 1"
    );

    let (status, body) = get(&app, "/tasks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(uids(&body), all);
    assert_eq!(
        (body["total"].clone(), body["limit"].clone()),
        (json!(7), json!(20))
    );
    assert_eq!(body["from"], json!(all[0]));
    assert_eq!(body["next"], Value::Null);
    assert_eq!(body["results"][0]["miroir"]["nodeTasks"]["meili-1"], 9);

    // `next` walks every page, newest first, then oldest first with `reverse`.
    for (reverse, expected) in [
        (false, all.clone()),
        (true, all.iter().rev().copied().collect()),
    ] {
        let mut seen = Vec::new();
        let mut uri = format!("/tasks?limit=3&reverse={reverse}");
        loop {
            let (status, body) = get(&app, &uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            assert_eq!(body["total"], 7);
            assert_eq!(body["limit"], 3);
            assert_eq!(body["from"], json!(uids(&body)[0]));
            seen.extend(uids(&body));
            match body["next"].as_u64() {
                Some(next) => uri = format!("/tasks?limit=3&reverse={reverse}&from={next}"),
                None => break,
            }
        }
        assert_eq!(seen, expected, "reverse={reverse}");
    }

    let cases: &[(&str, Vec<u64>)] = &[
        ("statuses=succeeded", vec![3, 2, 1]),
        ("statuses=failed,enqueued", vec![7, 6, 5, 4]),
        ("statuses=*", all.clone()),
        ("types=settingsUpdate", vec![4, 2]),
        ("indexUids=books", vec![6, 4, 2]),
        ("indexUids=books&statuses=enqueued", vec![6]),
        ("indexUids=nothing", vec![]),
        ("uids=1,3,5,100", vec![5, 3, 1]),
        ("uids=*&types=*&indexUids=*", all.clone()),
        ("afterEnqueuedAt=2024-08-08T17:05:57.791Z", vec![7, 6, 5, 4]),
        ("beforeEnqueuedAt=2024-08-08T17:05:57.791Z", vec![2, 1]),
        (
            "afterEnqueuedAt=2024-08-08T17:05:56Z&beforeEnqueuedAt=2024-08-08T19:05:58%2B02:00",
            vec![3, 2],
        ),
        ("afterStartedAt=2024-08-08T17:05:56Z", vec![4, 3, 2]),
        ("beforeFinishedAt=2024-08-08T17:05:56.5Z", vec![1]),
        ("beforeFinishedAt=2024-08-08T17:05:57Z", vec![2, 1]),
        ("afterFinishedAt=2000-01-01T00:00:00Z", vec![4, 3, 2, 1]),
        ("from=5", vec![5, 4, 3, 2, 1]),
        ("from=5&reverse=true&limit=2", vec![5, 6]),
        ("limit=0", vec![]),
    ];
    for (query, expected) in cases {
        let (status, body) = get(&app, &format!("/tasks?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(&uids(&body), expected, "{query}");
    }
    let (_, body) = get(&app, "/tasks?limit=0").await;
    assert_eq!(body["total"], 7);
}

#[tokio::test]
async fn every_invalid_parameter_has_its_code() {
    let (app, store) = app().await;
    seed(&store).await;
    let cases = [
        ("uids=abc", "invalid_task_uids"),
        ("uids=1,,2", "invalid_task_uids"),
        ("uids=-3", "invalid_task_uids"),
        ("statuses=done", "invalid_task_statuses"),
        ("types=documentAddition", "invalid_task_types"),
        ("indexUids=bad%20name", "invalid_task_index_uids"),
        ("limit=ten", "invalid_task_limit"),
        ("limit=-1", "invalid_task_limit"),
        ("from=x", "invalid_task_from"),
        ("reverse=maybe", "invalid_task_reverse"),
        ("beforeEnqueuedAt=yesterday", "invalid_task_date"),
        ("afterEnqueuedAt=2024-13-01T00:00:00Z", "invalid_task_date"),
        ("beforeStartedAt=1723136755", "invalid_task_date"),
        ("afterStartedAt=x", "invalid_task_date"),
        ("beforeFinishedAt=x", "invalid_task_date"),
        ("afterFinishedAt=x", "invalid_task_date"),
        ("batchUids=1", "bad_request"),
        ("canceledBy=3", "bad_request"),
        ("offset=3", "bad_request"),
    ];
    for (query, code) in cases {
        let (status, body) = get(&app, &format!("/tasks?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["code"], code, "{query}: {body}");
        assert_eq!(body["type"], "invalid_request");
        assert_eq!(
            body["link"],
            format!("https://docs.meilisearch.com/errors#{code}")
        );
    }
    let (_, body) = get(&app, "/tasks?offset=3").await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Unknown parameter `offset`: expected one of `uids`"),
        "{message}"
    );
    let (_, body) = get(&app, "/tasks?statuses=done").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("`done` is not a valid task status")
    );
    // `*` for the unsupported filters means "all" and is accepted.
    assert_eq!(
        get(&app, "/tasks?batchUids=*&canceledBy=*").await.0,
        StatusCode::OK
    );
}
