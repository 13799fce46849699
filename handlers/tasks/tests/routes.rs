//! The task routes without a server (tower `oneshot`), on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every response body is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both
//! backends: a body that differs between them fails one of the two runs.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use miroir_core::Config;
use miroir_http::{AppState, apply_layers};
use miroir_store::{
    DynStore, NewTask, NodeTaskMap, Task, TaskError, TaskKind, TaskStatus, Timestamp,
};
use miroir_test_support::route_kit::{Reply, Snapshot, Wire};
use serde_json::{Value, json};
use tower::ServiceExt;

miroir_test_support::route_suite!(
    prefix: "tasks-routes",
    app: crate::App::new,
    cases: [
        get_task_in_every_status,
        get_task_errors,
        list_of_an_empty_store,
        list_pages_newest_first,
        list_pages_oldest_first,
        list_filters,
        list_date_windows,
        list_errors,
        list_limit_is_capped,
        unsupported_filters_accept_a_wildcard,
        production_layers_answer_unknown_routes_and_methods,
        bad_requests_change_nothing,
        delete_finished_tasks,
        delete_needs_a_filter,
        cancel_unfinished_tasks_without_nodes,
        batches_of_started_tasks,
    ],
);

/// 2024-08-08T17:05:55.791Z
const T0: i64 = 1_723_136_755_791;

/// The routes under test on one store: bare, as the crate exports them, and behind the shared
/// layers, as production serves them.
struct App {
    router: Router,
    layered: Router,
    store: DynStore,
}

impl App {
    async fn new(store: DynStore) -> Self {
        let state =
            AppState::start(store.clone(), Config::default(), Duration::from_secs(60)).await;
        Self {
            router: miroir_handler_tasks::router(state.clone()),
            layered: apply_layers(miroir_handler_tasks::router(state.clone()), &state),
            store,
        }
    }

    /// `GET uri` on the bare router.
    async fn get(&self, uri: &str) -> Reply {
        call(&self.router, Method::GET, uri).await
    }

    /// `GET uri` on the bare router, checked against `status` and snapshot `name`.
    async fn check(&self, name: &str, uri: &str, status: StatusCode) -> Reply {
        check(&self.router, name, Method::GET, uri, status).await
    }

    /// `method uri` behind the production layers, checked against `status` and snapshot `name`.
    async fn check_layered(
        &self,
        name: &str,
        method: Method,
        uri: &str,
        status: StatusCode,
    ) -> Reply {
        check(&self.layered, name, method, uri, status).await
    }
}

/// `method uri` on `router`; every answer of these routes is JSON.
async fn call(router: &Router, method: Method, uri: &str) -> Reply {
    let request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let reply = Reply::read(router.clone().oneshot(request).await.unwrap()).await;
    assert_ne!(reply.wire, Wire::Null, "{method} {uri}: no body");
    reply
}

/// [`call`], asserting `status` and that `{status, body}` matches snapshot `name`.
async fn check(
    router: &Router,
    name: &str,
    method: Method,
    uri: &str,
    status: StatusCode,
) -> Reply {
    let reply = call(router, method.clone(), uri).await;
    assert_eq!(reply.status, status, "{method} {uri}: {}", reply.body);
    snapshot(name, &format!("{method} {uri}"), &Snapshot::of(&reply));
    reply
}

/// `method uri` on the bare router, asserting `status` and that `{status, body}` with its clock
/// dates redacted matches snapshot `name`.
async fn check_now(
    router: &Router,
    name: &str,
    method: Method,
    uri: &str,
    status: StatusCode,
) -> Reply {
    let reply = call(router, method.clone(), uri).await;
    assert_eq!(reply.status, status, "{method} {uri}: {}", reply.body);
    let volatile = ["enqueuedAt", "startedAt", "finishedAt", "duration"];
    snapshot(
        name,
        &format!("{method} {uri}"),
        &Snapshot::redacted(&reply, &volatile),
    );
    reply
}

/// Asserts that `value` matches `snapshots/<name>.snap`, the same file for every backend.
fn snapshot(name: &str, request: &str, value: &Snapshot<'_>) {
    miroir_test_support::assert_route_snapshot!(name, request, value);
}

fn uids(body: &Value) -> Vec<u64> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["uid"].as_u64().unwrap())
        .collect()
}

async fn create(store: &DynStore, index: Option<&str>, kind: TaskKind, enqueued: i64) -> Task {
    store
        .create_task(NewTask {
            index_uid: index.map(str::to_owned),
            kind,
            status: TaskStatus::Enqueued,
            node_tasks: NodeTaskMap::from([("meili-0".to_owned(), 7), ("meili-1".to_owned(), 9)]),
            details: details(kind),
            enqueued_at: Timestamp::from_millis(enqueued),
        })
        .await
        .unwrap()
}

/// Meilisearch's `details` for a task of `kind`, as a node would report them.
fn details(kind: TaskKind) -> Option<Value> {
    match kind {
        TaskKind::DocumentAdditionOrUpdate => {
            Some(json!({"receivedDocuments": 10, "indexedDocuments": null}))
        }
        TaskKind::DocumentDeletion => {
            Some(json!({"providedIds": 2, "deletedDocuments": null, "originalFilter": null}))
        }
        TaskKind::SettingsUpdate => Some(json!({"searchableAttributes": ["title", "overview"]})),
        TaskKind::IndexCreation => Some(json!({"primaryKey": "id"})),
        _ => None,
    }
}

/// Moves `task` to `status`, started at `started` and, for a terminal status, finished at
/// `finished`; a failed task gets Meilisearch's `index_not_found` error.
async fn advance(
    store: &DynStore,
    task: &Task,
    status: TaskStatus,
    started: i64,
    finished: i64,
) -> Task {
    let mut update = task.to_update();
    update.status = status;
    update.started_at = Some(Timestamp::from_millis(started));
    if status.is_terminal() {
        update.finished_at = Some(Timestamp::from_millis(finished));
    }
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

/// Seeds 7 tasks: uids 1..=7, enqueued one second apart from [`T0`]; odd uids on `movies`, even
/// on `books`; 1-3 succeeded, 4 failed (each started 100 ms and finished 200 ms after being
/// enqueued), 5-7 enqueued; 2 and 4 are settings updates.
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
        let task = create(store, Some(index), kind, at).await;
        let task = match n {
            0..=2 => advance(store, &task, TaskStatus::Succeeded, at + 100, at + 200).await,
            3 => advance(store, &task, TaskStatus::Failed, at + 100, at + 200).await,
            _ => task,
        };
        tasks.push(task);
    }
    let uids: Vec<u64> = tasks.iter().map(|task| task.uid).collect();
    assert_eq!(
        uids,
        [1, 2, 3, 4, 5, 6, 7],
        "a fresh store allocates uids from 1"
    );
    tasks
}

async fn get_task_in_every_status(app: App) {
    let store = &app.store;
    let enqueued = create(store, Some("books"), TaskKind::IndexCreation, T0 + 1000).await;
    let processing = create(
        store,
        Some("movies"),
        TaskKind::DocumentAdditionOrUpdate,
        T0,
    )
    .await;
    advance(store, &processing, TaskStatus::Processing, T0 + 4, 0).await;
    let succeeded = create(
        store,
        Some("movies"),
        TaskKind::DocumentAdditionOrUpdate,
        T0,
    )
    .await;
    advance(store, &succeeded, TaskStatus::Succeeded, T0 + 4, T0 + 13).await;
    let failed = create(store, Some("movies"), TaskKind::SettingsUpdate, T0).await;
    advance(store, &failed, TaskStatus::Failed, T0, T0 + 2000).await;
    let canceled = create(store, Some("movies"), TaskKind::DocumentDeletion, T0).await;
    // A global task (no index) that canceled the one above.
    let cancelation = store
        .create_task(NewTask {
            index_uid: None,
            kind: TaskKind::TaskCancelation,
            status: TaskStatus::Enqueued,
            node_tasks: NodeTaskMap::from([("meili-0".to_owned(), 8)]),
            details: Some(
                json!({"matchedTasks": 1, "canceledTasks": 1, "originalFilter": "?uids=5"}),
            ),
            enqueued_at: Timestamp::from_millis(T0 + 500),
        })
        .await
        .unwrap();
    advance(
        store,
        &cancelation,
        TaskStatus::Succeeded,
        T0 + 600,
        T0 + 750,
    )
    .await;
    let mut update = canceled.to_update();
    update.status = TaskStatus::Canceled;
    update.canceled_by = Some(cancelation.uid);
    update.finished_at = Some(Timestamp::from_millis(T0 + 750));
    store.update_task(canceled.uid, update).await.unwrap();
    // A task without details: the field is absent, as in Meilisearch.
    let bare = store
        .create_task(NewTask {
            index_uid: None,
            kind: TaskKind::DumpCreation,
            status: TaskStatus::Enqueued,
            node_tasks: NodeTaskMap::new(),
            details: None,
            enqueued_at: Timestamp::from_millis(T0 + 2000),
        })
        .await
        .unwrap();

    for (name, task) in [
        ("get_task_enqueued", &enqueued),
        ("get_task_processing", &processing),
        ("get_task_succeeded", &succeeded),
        ("get_task_failed", &failed),
        ("get_task_canceled", &canceled),
        ("get_task_global_cancelation", &cancelation),
        ("get_task_without_details", &bare),
    ] {
        let reply = app
            .check(name, &format!("/tasks/{}", task.uid), StatusCode::OK)
            .await;
        assert_eq!(reply.body["uid"], task.uid, "{name}");
    }
}

async fn get_task_errors(app: App) {
    seed(&app.store).await;
    app.check("get_task_not_found", "/tasks/12345", StatusCode::NOT_FOUND)
        .await;
    for (name, bad) in [
        ("get_task_uid_not_a_number", "abc"),
        ("get_task_uid_negative", "-1"),
        ("get_task_uid_fraction", "1.5"),
        ("get_task_uid_overflow", "99999999999999999999999"),
    ] {
        let reply = app
            .check(name, &format!("/tasks/{bad}"), StatusCode::BAD_REQUEST)
            .await;
        assert_eq!(reply.body["code"], "invalid_task_uids", "{bad}");
    }
}

async fn list_of_an_empty_store(app: App) {
    app.check("list_empty_store", "/tasks", StatusCode::OK)
        .await;
    app.check(
        "list_empty_store_reverse",
        "/tasks?reverse=true&limit=3",
        StatusCode::OK,
    )
    .await;
}

/// Walks every page of `/tasks?limit=3&reverse={reverse}` by `next`, checking each page, and
/// returns the uids seen in order.
async fn walk(app: &App, reverse: bool) -> Vec<u64> {
    let mut seen = Vec::new();
    let mut uri = format!("/tasks?limit=3&reverse={reverse}");
    loop {
        let reply = app.get(&uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        let body = reply.body;
        assert_eq!(body["total"], 7);
        assert_eq!(body["limit"], 3);
        assert_eq!(body["from"], json!(uids(&body)[0]));
        seen.extend(uids(&body));
        match body["next"].as_u64() {
            Some(next) => uri = format!("/tasks?limit=3&reverse={reverse}&from={next}"),
            None => break,
        }
    }
    seen
}

async fn list_pages_newest_first(app: App) {
    seed(&app.store).await;
    let all = app.check("list_all", "/tasks", StatusCode::OK).await;
    assert_eq!(uids(&all.body), [7, 6, 5, 4, 3, 2, 1]);
    let first = app
        .check("list_page_with_next", "/tasks?limit=3", StatusCode::OK)
        .await;
    assert_eq!(first.body["next"], 4);
    app.check("list_last_page", "/tasks?limit=3&from=3", StatusCode::OK)
        .await;
    app.check("list_from", "/tasks?from=5", StatusCode::OK)
        .await;
    let zero = app
        .check("list_limit_zero", "/tasks?limit=0", StatusCode::OK)
        .await;
    assert_eq!(zero.body["total"], 7);
    assert_eq!(walk(&app, false).await, [7, 6, 5, 4, 3, 2, 1]);
    for wildcards in ["statuses=*", "uids=*&types=*&indexUids=*"] {
        let reply = app.get(&format!("/tasks?{wildcards}")).await;
        assert_eq!(reply, all, "{wildcards}");
    }
}

async fn list_pages_oldest_first(app: App) {
    seed(&app.store).await;
    let first = app
        .check(
            "list_reverse",
            "/tasks?reverse=true&limit=3",
            StatusCode::OK,
        )
        .await;
    assert_eq!(uids(&first.body), [1, 2, 3]);
    app.check(
        "list_reverse_from",
        "/tasks?from=5&reverse=true&limit=2",
        StatusCode::OK,
    )
    .await;
    assert_eq!(walk(&app, true).await, [1, 2, 3, 4, 5, 6, 7]);
}

async fn list_filters(app: App) {
    seed(&app.store).await;
    let cases: &[(&str, &str, &[u64])] = &[
        ("list_filter_uids", "uids=1,3,5,100", &[5, 3, 1]),
        ("list_filter_status", "statuses=succeeded", &[3, 2, 1]),
        (
            "list_filter_statuses",
            "statuses=failed,enqueued",
            &[7, 6, 5, 4],
        ),
        ("list_filter_types", "types=settingsUpdate", &[4, 2]),
        ("list_filter_index_uids", "indexUids=books", &[6, 4, 2]),
        (
            "list_filter_index_uids_and_statuses",
            "indexUids=books&statuses=enqueued",
            &[6],
        ),
        ("list_filter_no_match", "indexUids=nothing", &[]),
    ];
    for (name, query, expected) in cases {
        let reply = app
            .check(name, &format!("/tasks?{query}"), StatusCode::OK)
            .await;
        assert_eq!(&uids(&reply.body), expected, "{query}");
    }
}

async fn list_date_windows(app: App) {
    seed(&app.store).await;
    let cases: &[(&str, &str, &[u64])] = &[
        (
            "list_filter_after_enqueued_at",
            "afterEnqueuedAt=2024-08-08T17:05:57.791Z",
            &[7, 6, 5, 4],
        ),
        (
            "list_filter_before_enqueued_at",
            "beforeEnqueuedAt=2024-08-08T17:05:57.791Z",
            &[2, 1],
        ),
        (
            "list_filter_enqueued_window",
            "afterEnqueuedAt=2024-08-08T17:05:56Z&beforeEnqueuedAt=2024-08-08T19:05:58%2B02:00",
            &[3, 2],
        ),
        // A bare day is a whole day, as in Meilisearch: after it is from the next midnight.
        (
            "list_filter_after_day_before",
            "afterEnqueuedAt=2024-08-07",
            &[7, 6, 5, 4, 3, 2, 1],
        ),
        (
            "list_filter_after_same_day",
            "afterEnqueuedAt=2024-08-08",
            &[],
        ),
        (
            "list_filter_before_next_day",
            "beforeFinishedAt=2024-08-09",
            &[4, 3, 2, 1],
        ),
        (
            "list_filter_before_same_day",
            "beforeEnqueuedAt=2024-08-08",
            &[],
        ),
        (
            "list_filter_wildcard_date",
            "afterStartedAt=*",
            &[7, 6, 5, 4, 3, 2, 1],
        ),
        (
            "list_filter_after_started_at",
            "afterStartedAt=2024-08-08T17:05:56Z",
            &[4, 3, 2],
        ),
        (
            "list_filter_before_started_at",
            "beforeStartedAt=2024-08-08T17:05:57Z",
            &[2, 1],
        ),
        (
            "list_filter_after_finished_at",
            "afterFinishedAt=2024-08-08T17:05:57Z",
            &[4, 3],
        ),
        (
            "list_filter_before_finished_at",
            "beforeFinishedAt=2024-08-08T17:05:56.5Z",
            &[1],
        ),
    ];
    for (name, query, expected) in cases {
        let reply = app
            .check(name, &format!("/tasks?{query}"), StatusCode::OK)
            .await;
        assert_eq!(&uids(&reply.body), expected, "{query}");
    }
    // Unfinished tasks are outside every finish window.
    let reply = app.get("/tasks?afterFinishedAt=2000-01-01T00:00:00Z").await;
    assert_eq!(uids(&reply.body), [4, 3, 2, 1]);
    let reply = app
        .get("/tasks?beforeFinishedAt=2024-08-08T17:05:57Z")
        .await;
    assert_eq!(uids(&reply.body), [2, 1]);
}

/// Every refused `GET /tasks` query: (snapshot, query, code).
const BAD_QUERIES: &[(&str, &str, &str)] = &[
    ("list_error_unknown_parameter", "offset=3", "bad_request"),
    ("list_error_uids", "uids=abc", "invalid_task_uids"),
    ("list_error_uids_negative", "uids=-3", "invalid_task_uids"),
    (
        "list_error_statuses",
        "statuses=done",
        "invalid_task_statuses",
    ),
    (
        "list_error_types",
        "types=documentAddition",
        "invalid_task_types",
    ),
    (
        "list_error_index_uids",
        "indexUids=bad%20name",
        // As real Meilisearch 1.50 answers (not `invalid_task_index_uids`).
        "invalid_index_uid",
    ),
    ("list_error_limit", "limit=ten", "invalid_task_limit"),
    (
        "list_error_limit_negative",
        "limit=-1",
        "invalid_task_limit",
    ),
    // Meilisearch's `limit` is a `u32`: one more is refused, not clamped.
    (
        "list_error_limit_over_u32",
        "limit=4294967296",
        "invalid_task_limit",
    ),
    (
        "list_error_limit_u64_max",
        "limit=18446744073709551615",
        "invalid_task_limit",
    ),
    ("list_error_from", "from=x", "invalid_task_from"),
    (
        "list_error_reverse",
        "reverse=maybe",
        "invalid_task_reverse",
    ),
    (
        "list_error_before_enqueued_at",
        "beforeEnqueuedAt=yesterday",
        "invalid_task_before_enqueued_at",
    ),
    (
        "list_error_after_enqueued_at",
        "afterEnqueuedAt=2024-13-01T00:00:00Z",
        "invalid_task_after_enqueued_at",
    ),
    (
        "list_error_before_started_at",
        "beforeStartedAt=1723136755",
        "invalid_task_before_started_at",
    ),
    (
        "list_error_after_started_at",
        "afterStartedAt=x",
        "invalid_task_after_started_at",
    ),
    (
        "list_error_before_finished_at",
        "beforeFinishedAt=x",
        "invalid_task_before_finished_at",
    ),
    (
        "list_error_after_finished_at",
        "afterFinishedAt=x",
        "invalid_task_after_finished_at",
    ),
    ("list_error_batch_uids", "batchUids=x", "invalid_batch_uids"),
    (
        "list_error_canceled_by",
        "canceledBy=x",
        "invalid_task_canceled_by",
    ),
    (
        "list_error_canceled_by_unsupported",
        "canceledBy=3",
        "bad_request",
    ),
];

async fn list_errors(app: App) {
    seed(&app.store).await;
    for (name, query, code) in BAD_QUERIES {
        let reply = app
            .check(name, &format!("/tasks?{query}"), StatusCode::BAD_REQUEST)
            .await;
        assert_eq!(reply.body["code"], *code, "{query}");
        assert_eq!(reply.body["type"], "invalid_request", "{query}");
        assert_eq!(
            reply.body["link"],
            format!("https://docs.meilisearch.com/errors#{code}"),
            "{query}"
        );
    }
}

/// A `limit` above [`miroir_handler_tasks::MAX_LIMIT`] is served as that many tasks, and the
/// answer's `limit` is the one applied, so paging by `next` still visits every task once.
async fn list_limit_is_capped(app: App) {
    let max = miroir_handler_tasks::MAX_LIMIT;
    assert_eq!(max, 1000, "the cap the README and OpenAPI document state");
    let count = u64::from(max) + 3;
    for n in 0..count {
        create(
            &app.store,
            Some("movies"),
            TaskKind::IndexCreation,
            T0 + n as i64,
        )
        .await;
    }
    for limit in ["1001", "4294967295"] {
        let reply = app.get(&format!("/tasks?limit={limit}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{limit}");
        let seen = uids(&reply.body);
        assert_eq!(seen.len(), max as usize, "{limit}");
        assert_eq!(seen[0], count, "{limit}");
        assert_eq!(reply.body["limit"], max, "{limit}");
        assert_eq!(reply.body["total"], count, "{limit}");
        assert_eq!(reply.body["next"], 3, "{limit}");
        let rest = app.get(&format!("/tasks?limit={limit}&from=3")).await;
        assert_eq!(uids(&rest.body), [3, 2, 1], "{limit}");
        assert_eq!(rest.body["next"], Value::Null, "{limit}");
    }
    let exact = app.get(&format!("/tasks?limit={max}&reverse=true")).await;
    assert_eq!(uids(&exact.body).len(), max as usize);
    assert_eq!(exact.body["limit"], max);
    assert_eq!(exact.body["next"], u64::from(max) + 1);
}

async fn unsupported_filters_accept_a_wildcard(app: App) {
    seed(&app.store).await;
    // `*` for the unsupported filters means "all" and is accepted.
    let reply = app.get("/tasks?batchUids=*&canceledBy=*").await;
    assert_eq!(reply, app.get("/tasks").await);
    assert_eq!(reply.status, StatusCode::OK);
}

async fn production_layers_answer_unknown_routes_and_methods(app: App) {
    seed(&app.store).await;
    // The layers change nothing about the task routes' own answers.
    for uri in [
        "/tasks/3",
        "/tasks?limit=2",
        "/tasks/abc",
        "/tasks/99",
        "/tasks?offset=1",
    ] {
        assert_eq!(
            call(&app.layered, Method::GET, uri).await,
            app.get(uri).await,
            "{uri}"
        );
    }
    app.check_layered(
        "layered_unknown_route",
        Method::GET,
        "/indexes/movies/tasks",
        StatusCode::NOT_FOUND,
    )
    .await;
    app.check_layered(
        "layered_post_tasks",
        Method::POST,
        "/tasks",
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    app.check_layered(
        "layered_delete_task",
        Method::DELETE,
        "/tasks/1",
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

async fn bad_requests_change_nothing(app: App) {
    seed(&app.store).await;
    let count = app.store.count_tasks().await.unwrap();
    let before = app.get("/tasks").await;
    for (_, query, _) in BAD_QUERIES {
        assert_eq!(
            app.get(&format!("/tasks?{query}")).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    for uri in ["/tasks/abc", "/tasks/-1", "/tasks/12345"] {
        assert!(app.get(uri).await.status.is_client_error(), "{uri}");
    }
    for (method, uri) in [
        (Method::POST, "/tasks"),
        (Method::DELETE, "/tasks"),
        (Method::DELETE, "/tasks/1"),
        (Method::POST, "/tasks/cancel"),
        (Method::DELETE, "/tasks?limit=3"),
        (Method::POST, "/tasks/cancel?statuses=done"),
        (Method::PATCH, "/tasks/5"),
    ] {
        let reply = call(&app.layered, method.clone(), uri).await;
        assert!(reply.status.is_client_error(), "{method} {uri}");
    }
    assert_eq!(app.store.count_tasks().await.unwrap(), count);
    assert_eq!(app.get("/tasks").await, before);
}

async fn delete_finished_tasks(app: App) {
    seed(&app.store).await;
    let reply = check_now(
        &app.router,
        "delete_accepted",
        Method::DELETE,
        "/tasks?indexUids=movies&statuses=succeeded,enqueued",
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(reply.body["taskUid"], 8);
    // Matched: 1, 3 (succeeded) and 5, 7 (enqueued, kept); 2 and 4 are on `books`.
    assert_eq!(uids(&app.get("/tasks").await.body), [8, 7, 6, 5, 4, 2]);
    let done = check_now(
        &app.router,
        "delete_task_done",
        Method::GET,
        "/tasks/8",
        StatusCode::OK,
    )
    .await;
    assert!(done.body["duration"].as_str().unwrap().starts_with("PT"));
    // `*` selects everything before the deletion, itself excluded (the first deletion, finished,
    // is deleted too, as Meilisearch does).
    call(&app.router, Method::DELETE, "/tasks?uids=*").await;
    let done = app.get("/tasks/9").await;
    assert_eq!(done.body["status"], "succeeded");
    assert_eq!(done.body["details"]["matchedTasks"], 6);
    assert_eq!(done.body["details"]["deletedTasks"], 3);
    assert_eq!(done.body["details"]["originalFilter"], "?uids=*");
    assert_eq!(uids(&app.get("/tasks").await.body), [9, 7, 6, 5]);
}

async fn delete_needs_a_filter(app: App) {
    seed(&app.store).await;
    for (name, method, uri) in [
        ("delete_without_filter", Method::DELETE, "/tasks"),
        ("cancel_without_filter", Method::POST, "/tasks/cancel"),
        ("delete_unknown_parameter", Method::DELETE, "/tasks?limit=2"),
        (
            "cancel_bad_date",
            Method::POST,
            "/tasks/cancel?afterEnqueuedAt=soon",
        ),
    ] {
        check(&app.router, name, method, uri, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(app.store.count_tasks().await.unwrap(), 7);
}

/// Without nodes to ask, a cancelation matches the unfinished tasks and cancels nothing.
async fn cancel_unfinished_tasks_without_nodes(app: App) {
    seed(&app.store).await;
    check_now(
        &app.router,
        "cancel_accepted",
        Method::POST,
        "/tasks/cancel?statuses=*",
        StatusCode::ACCEPTED,
    )
    .await;
    check_now(
        &app.router,
        "cancel_task_done",
        Method::GET,
        "/tasks/8",
        StatusCode::OK,
    )
    .await;
    for uid in 5..=7 {
        let task = app.get(&format!("/tasks/{uid}")).await;
        assert_eq!(task.body["status"], "enqueued");
        assert_eq!(task.body["canceledBy"], Value::Null);
    }
}

/// Each task that left `enqueued` is a batch of its own, with its uid.
async fn batches_of_started_tasks(app: App) {
    seed(&app.store).await;
    let list = app.check("batches_all", "/batches", StatusCode::OK).await;
    assert_eq!(uids(&list.body), [4, 3, 2, 1]);
    let page = app.get("/batches?limit=2&indexUids=movies").await;
    assert_eq!(uids(&page.body), [3, 1]);
    assert_eq!(
        uids(&app.get("/batches?statuses=enqueued").await.body),
        Vec::<u64>::new()
    );
    app.check("batch_failed", "/batches/4", StatusCode::OK)
        .await;
    app.check(
        "batch_of_enqueued_task",
        "/batches/5",
        StatusCode::NOT_FOUND,
    )
    .await;
    app.check("batch_bad_uid", "/batches/abc", StatusCode::BAD_REQUEST)
        .await;
    app.check(
        "batches_bad_limit",
        "/batches?limit=x",
        StatusCode::BAD_REQUEST,
    )
    .await;
}
