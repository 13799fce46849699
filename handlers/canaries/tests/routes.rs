//! The canary routes without a server (tower `oneshot`), behind the production layers with an
//! admin key, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every answer is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both backends
//! (creation times, which the server sets, are masked as `[time]`).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use miroir_core::Config;
use miroir_core::config::Secret;
use miroir_http::{AppState, apply_layers};
use miroir_store::{CanaryRun, CanaryRunStatus, DynStore, Timestamp};
use miroir_test_support::route_kit::{Reply, Snapshot, Wire};
use serde_json::{Value, json};
use tower::ServiceExt;

miroir_test_support::route_suite!(
    prefix: "canaries-routes",
    app: crate::App::new,
    cases: [
        create_then_modify,
        create_with_defaults_and_every_assertion,
        status_of_an_empty_store,
        status_shows_bounded_runs_counts_and_last_failure,
        delete_removes_the_canary_and_its_runs,
        delete_errors,
        bad_definitions_are_refused_naming_the_key,
        bad_bodies_are_refused_with_meilisearch_errors,
        bad_definitions_change_nothing,
        status_refuses_parameters,
        layers_answer_auth_and_unknown_methods,
    ],
);

/// The admin key the test state is configured with.
const ADMIN_KEY: &str = "canary-test-admin-key";

/// `canary_runner.run_history_per_canary` in the test configuration.
const HISTORY: u32 = 3;

/// 2024-08-08T17:05:55.791Z
const T0: i64 = 1_723_136_755_791;

/// The routes behind the production layers, with an admin key, on one store.
struct App {
    app: Router,
    store: DynStore,
}

/// Masks what changes from run to run in a snapshot body.
trait Mask {
    /// Replaces the server-set creation times (`created_at`) with `[time]`.
    fn mask_times(&mut self);
}

impl Mask for Wire {
    fn mask_times(&mut self) {
        match self {
            Self::Array(items) => items.iter_mut().for_each(Self::mask_times),
            Self::Object(entries) => {
                for (key, value) in entries {
                    if key == "created_at" && matches!(value, Self::String(_)) {
                        *value = Self::String("[time]".to_owned());
                    } else {
                        value.mask_times();
                    }
                }
            }
            _ => {}
        }
    }
}

/// A request to send: method, uri, an optional body with its content type, and whether to
/// present the admin key.
struct Call<'a> {
    method: Method,
    uri: &'a str,
    body: Option<(&'a str, String)>,
    admin_key: bool,
}

impl<'a> Call<'a> {
    fn new(method: Method, uri: &'a str) -> Self {
        Self {
            method,
            uri,
            body: None,
            admin_key: true,
        }
    }

    /// With a JSON body.
    fn json(self, body: &Value) -> Self {
        self.raw("application/json", body.to_string())
    }

    /// With `body` sent as `content_type` (empty content type: no header).
    fn raw(mut self, content_type: &'a str, body: String) -> Self {
        self.body = Some((content_type, body));
        self
    }

    fn without_key(mut self) -> Self {
        self.admin_key = false;
        self
    }

    fn describe(&self) -> String {
        match &self.body {
            Some((_, body)) if body.len() <= 300 => format!("{} {} {body}", self.method, self.uri),
            Some((_, body)) => format!("{} {} ({} bytes)", self.method, self.uri, body.len()),
            None => format!("{} {}", self.method, self.uri),
        }
    }
}

impl App {
    async fn new(store: DynStore) -> Self {
        let mut config = Config::default();
        config.admin.api_key = Secret::new(ADMIN_KEY);
        config.canary_runner.run_history_per_canary = HISTORY;
        let state = AppState::start(store.clone(), config, Duration::from_secs(60)).await;
        Self {
            app: apply_layers(miroir_handler_canaries::router(state.clone()), &state),
            store,
        }
    }

    async fn send(&self, call: Call<'_>) -> Reply {
        let mut request = Request::builder().method(call.method.clone()).uri(call.uri);
        if call.admin_key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"));
        }
        let body = match call.body {
            Some((content_type, body)) => {
                if !content_type.is_empty() {
                    request = request.header(header::CONTENT_TYPE, content_type);
                }
                Body::from(body)
            }
            None => Body::empty(),
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let mut reply = Reply::read(response).await;
        reply.wire.mask_times();
        reply
    }

    /// Sends `call`, asserting `status` and that `{status, body}` matches snapshot `name`.
    async fn check(&self, name: &str, call: Call<'_>, status: StatusCode) -> Reply {
        let request = call.describe();
        let reply = self.send(call).await;
        assert_eq!(reply.status, status, "{request}: {}", reply.body);
        snapshot(name, &request, &Snapshot::of(&reply));
        reply
    }

    async fn post(&self, body: &Value) -> Reply {
        self.send(Call::new(Method::POST, "/_miroir/canaries").json(body))
            .await
    }

    async fn status(&self) -> Reply {
        self.send(Call::new(Method::GET, "/_miroir/canaries/status"))
            .await
    }

    async fn record(&self, canary: &str, at: i64, status: CanaryRunStatus, keep: usize) {
        let failed_assertions = match status {
            CanaryRunStatus::Pass => None,
            CanaryRunStatus::Fail => Some(json!([{
                "type": "min_hits",
                "value": 5,
                "observed": 2,
                "hits": ["movie_inception", "movie_inception_2"]
            }])),
            CanaryRunStatus::Error => Some(json!([{
                "type": "query",
                "error": "index `products` not found"
            }])),
        };
        self.store
            .record_canary_run(
                CanaryRun {
                    canary_id: canary.to_owned(),
                    ran_at: Timestamp::from_millis(at),
                    status,
                    latency_ms: u64::try_from(at - T0).unwrap() / 100 + 7,
                    failed_assertions,
                },
                keep,
            )
            .await
            .unwrap();
    }
}

/// Asserts that `value` matches `snapshots/<name>.snap`, the same file for every backend.
fn snapshot(name: &str, request: &str, value: &Snapshot<'_>) {
    miroir_test_support::assert_route_snapshot!(name, request, value);
}

/// Plan §13.18's example canary, as JSON.
fn plan_example() -> Value {
    json!({
        "name": "product_inception",
        "index": "products",
        "interval_s": 60,
        "query": {"q": "inception", "limit": 10, "filter": null},
        "assertions": [
            {"type": "top_hit_id", "value": "movie_inception"},
            {"type": "top_k_contains", "k": 3, "ids": ["movie_inception", "movie_inception_2"]},
            {"type": "min_hits", "value": 5},
            {"type": "max_p95_ms", "value": 200},
            {"type": "settings_version_at_least", "value": 42},
            {"type": "must_not_contain_id", "ids": ["deprecated_item_1"]}
        ]
    })
}

/// A small valid canary named `name`.
fn canary(name: &str) -> Value {
    json!({
        "name": name,
        "index": "movies",
        "query": {"q": name},
        "assertions": [{"type": "min_hits", "value": 1}]
    })
}

/// `value` with `key` set (a JSON pointer's parent must exist).
fn with(mut value: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = value.pointer_mut(parent).unwrap();
    match target {
        Value::Object(map) => {
            map.insert(key.to_owned(), new);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = new,
        other => panic!("{pointer}: {other}"),
    }
    value
}

/// `value` without `key` at `pointer`.
fn without(mut value: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    value
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    value
}

async fn create_then_modify(app: App) {
    let created = app
        .check(
            "create_plan_example",
            Call::new(Method::POST, "/_miroir/canaries").json(&plan_example()),
            StatusCode::CREATED,
        )
        .await;
    let stored = app
        .store
        .get_canary("product_inception")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "product_inception");
    assert_eq!(stored.index_uid, "products");
    assert_eq!(stored.interval_s, 60);
    assert!(stored.enabled);
    assert_eq!(stored.query, plan_example()["query"]);
    assert_eq!(stored.assertions, plan_example()["assertions"]);
    let modified = with(
        with(plan_example(), "/interval_s", json!(300)),
        "/enabled",
        json!(false),
    );
    let modified = with(
        modified,
        "/assertions",
        json!([{"type": "min_hits", "value": 3}]),
    );
    let reply = app
        .check(
            "modify_plan_example",
            Call::new(Method::POST, "/_miroir/canaries").json(&modified),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        reply.body["created_at"], created.body["created_at"],
        "modifying keeps the creation time"
    );
    let stored = app
        .store
        .get_canary("product_inception")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.interval_s, stored.enabled), (300, false));
    assert_eq!(stored.assertions, json!([{"type": "min_hits", "value": 3}]));
    assert_eq!(app.store.list_canaries().await.unwrap().len(), 1);
}

async fn create_with_defaults_and_every_assertion(app: App) {
    app.check(
        "create_with_defaults",
        Call::new(Method::POST, "/_miroir/canaries").json(&canary("minimal-1")),
        StatusCode::CREATED,
    )
    .await;
    // Every query parameter and every assertion form, integer document ids included.
    let full = json!({
        "name": "Full_Canary-2",
        "index": "movies-v2",
        "interval_s": 10,
        "enabled": true,
        "query": {
            "q": "star wars",
            "limit": 1000,
            "offset": 0,
            "filter": ["genre = scifi", ["year > 1990", "year < 2000"]],
            "sort": ["year:desc"],
            "matchingStrategy": "frequency",
            "attributesToSearchOn": ["title", "overview"]
        },
        "assertions": [
            {"type": "top_hit_id", "value": 11},
            {"type": "top_k_contains", "k": 1000, "ids": [11, "episode-4"]},
            {"type": "min_hits", "value": 1},
            {"type": "max_p95_ms", "value": 600000},
            {"type": "settings_version_at_least", "value": 0},
            {"type": "must_not_contain_id", "ids": [0]}
        ]
    });
    app.check(
        "create_every_parameter",
        Call::new(Method::POST, "/_miroir/canaries").json(&full),
        StatusCode::CREATED,
    )
    .await;
    let longest = with(canary(&"n".repeat(128)), "/interval_s", json!(86_400));
    assert_eq!(app.post(&longest).await.status, StatusCode::CREATED);
    let stored = app.store.get_canary("minimal-1").await.unwrap().unwrap();
    assert_eq!((stored.interval_s, stored.enabled), (60, true));
    assert_eq!(app.store.list_canaries().await.unwrap().len(), 3);
}

async fn status_of_an_empty_store(app: App) {
    app.check(
        "status_empty",
        Call::new(Method::GET, "/_miroir/canaries/status"),
        StatusCode::OK,
    )
    .await;
}

async fn status_shows_bounded_runs_counts_and_last_failure(app: App) {
    for name in ["checkout", "home-page", "no-runs"] {
        assert_eq!(app.post(&canary(name)).await.status, StatusCode::CREATED);
    }
    // `checkout`: recorded with a larger bound than the configured one (as a runner with another
    // configuration would): the status still shows the newest HISTORY runs.
    let statuses = [
        CanaryRunStatus::Pass,
        CanaryRunStatus::Error,
        CanaryRunStatus::Pass,
        CanaryRunStatus::Fail,
        CanaryRunStatus::Pass,
        CanaryRunStatus::Pass,
    ];
    for (n, status) in statuses.into_iter().enumerate() {
        app.record("checkout", T0 + 60_000 * n as i64, status, 100)
            .await;
    }
    // `home-page`: recorded with the configured bound; only passes among the kept runs.
    for (n, status) in [
        CanaryRunStatus::Fail,
        CanaryRunStatus::Pass,
        CanaryRunStatus::Pass,
        CanaryRunStatus::Pass,
    ]
    .into_iter()
    .enumerate()
    {
        app.record("home-page", T0 + 1000 * n as i64, status, HISTORY as usize)
            .await;
    }
    let home_runs = app.store.list_canary_runs("home-page", 100).await.unwrap();
    assert_eq!(
        home_runs.len(),
        HISTORY as usize,
        "the store trims on insert"
    );
    let reply = app
        .check(
            "status_with_runs",
            Call::new(Method::GET, "/_miroir/canaries/status"),
            StatusCode::OK,
        )
        .await;
    let canaries = reply.body["canaries"].as_array().unwrap();
    let names: Vec<&str> = canaries
        .iter()
        .map(|canary| canary["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["checkout", "home-page", "no-runs"]);
    let checkout = &canaries[0];
    assert_eq!(checkout["runs"].as_array().unwrap().len(), HISTORY as usize);
    assert_eq!(
        (
            &checkout["passed"],
            &checkout["failed"],
            &checkout["errored"]
        ),
        (&json!(2), &json!(1), &json!(0))
    );
    assert_eq!(checkout["last_failure"]["status"], "fail");
    assert_eq!(
        checkout["last_failure"]["ran_at"],
        "2024-08-08T17:08:55.791Z"
    );
    assert_eq!(canaries[1]["last_failure"], Value::Null);
    assert_eq!(canaries[2]["runs"], json!([]));
}

async fn delete_removes_the_canary_and_its_runs(app: App) {
    for name in ["keep-me", "drop-me"] {
        assert_eq!(app.post(&canary(name)).await.status, StatusCode::CREATED);
        app.record(name, T0, CanaryRunStatus::Pass, 10).await;
    }
    app.check(
        "delete_canary",
        Call::new(Method::DELETE, "/_miroir/canaries/drop-me"),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(app.store.get_canary("drop-me").await.unwrap(), None);
    assert!(
        app.store
            .list_canary_runs("drop-me", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.store
            .list_canary_runs("keep-me", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let status = app.status().await;
    assert_eq!(status.body["canaries"].as_array().unwrap().len(), 1);
    assert_eq!(status.body["canaries"][0]["name"], "keep-me");
    // A deleted name can be created again, as new.
    assert_eq!(
        app.post(&canary("drop-me")).await.status,
        StatusCode::CREATED
    );
}

async fn delete_errors(app: App) {
    assert_eq!(
        app.post(&canary("present")).await.status,
        StatusCode::CREATED
    );
    app.check(
        "delete_not_found",
        Call::new(Method::DELETE, "/_miroir/canaries/absent"),
        StatusCode::NOT_FOUND,
    )
    .await;
    app.check(
        "delete_bad_name",
        Call::new(Method::DELETE, "/_miroir/canaries/bad%20name"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let long = format!("/_miroir/canaries/{}", "n".repeat(129));
    app.check(
        "delete_name_too_long",
        Call::new(Method::DELETE, &long),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(app.store.list_canaries().await.unwrap().len(), 1);
}

/// Every refused definition: (snapshot, body). Each answer is 400 `bad_request`.
fn bad_definitions() -> Vec<(&'static str, Value)> {
    let base = plan_example;
    let assertion = |value: Value| with(base(), "/assertions", json!([value]));
    vec![
        ("bad_not_an_object", json!(["product_inception"])),
        ("bad_missing_name", without(base(), "/name")),
        ("bad_missing_index", without(base(), "/index")),
        ("bad_missing_query", without(base(), "/query")),
        ("bad_missing_assertions", without(base(), "/assertions")),
        (
            "bad_unknown_field",
            with(base(), "/owner", json!("search-team")),
        ),
        (
            "bad_camel_case_field",
            with(without(base(), "/interval_s"), "/intervalS", json!(60)),
        ),
        ("bad_name_type", with(base(), "/name", json!(5))),
        (
            "bad_name_characters",
            with(base(), "/name", json!("product inception")),
        ),
        ("bad_name_empty", with(base(), "/name", json!(""))),
        (
            "bad_name_too_long",
            with(base(), "/name", json!("n".repeat(129))),
        ),
        ("bad_name_reserved", with(base(), "/name", json!("status"))),
        ("bad_index", with(base(), "/index", json!("products!"))),
        (
            "bad_index_too_long",
            with(base(), "/index", json!("i".repeat(401))),
        ),
        (
            "bad_interval_too_short",
            with(base(), "/interval_s", json!(9)),
        ),
        (
            "bad_interval_too_long",
            with(base(), "/interval_s", json!(86_401)),
        ),
        (
            "bad_interval_type",
            with(base(), "/interval_s", json!("60")),
        ),
        (
            "bad_interval_negative",
            with(base(), "/interval_s", json!(-60)),
        ),
        ("bad_enabled_type", with(base(), "/enabled", json!("yes"))),
        ("bad_query_type", with(base(), "/query", json!("inception"))),
        (
            "bad_query_unknown_parameter",
            with(base(), "/query/hitsPerPage", json!(5)),
        ),
        ("bad_query_q_type", with(base(), "/query/q", json!(5))),
        (
            "bad_query_q_too_long",
            with(base(), "/query/q", json!("q".repeat(1001))),
        ),
        (
            "bad_query_limit_zero",
            with(base(), "/query/limit", json!(0)),
        ),
        (
            "bad_query_limit_too_large",
            with(base(), "/query/limit", json!(1001)),
        ),
        (
            "bad_query_limit_type",
            with(base(), "/query/limit", json!("10")),
        ),
        ("bad_query_offset", with(base(), "/query/offset", json!(-1))),
        (
            "bad_query_filter_type",
            with(base(), "/query/filter", json!(5)),
        ),
        (
            "bad_query_filter_item",
            with(base(), "/query/filter", json!(["a = 1", 5])),
        ),
        (
            "bad_query_filter_inner_item",
            with(base(), "/query/filter", json!([["a = 1", true]])),
        ),
        (
            "bad_query_sort_type",
            with(base(), "/query/sort", json!("year:desc")),
        ),
        (
            "bad_query_sort_item",
            with(base(), "/query/sort", json!([""])),
        ),
        (
            "bad_query_matching_strategy",
            with(base(), "/query/matchingStrategy", json!("some")),
        ),
        (
            "bad_query_attributes_to_search_on",
            with(base(), "/query/attributesToSearchOn", json!([1])),
        ),
        (
            "bad_assertions_type",
            with(base(), "/assertions", json!({"type": "min_hits"})),
        ),
        (
            "bad_assertions_empty",
            with(base(), "/assertions", json!([])),
        ),
        (
            "bad_assertions_too_many",
            with(
                base(),
                "/assertions",
                Value::Array(vec![json!({"type": "min_hits", "value": 1}); 51]),
            ),
        ),
        (
            "bad_assertion_not_an_object",
            assertion(json!("top_hit_id")),
        ),
        (
            "bad_assertion_missing_type",
            assertion(json!({"value": "movie_inception"})),
        ),
        (
            "bad_assertion_type_type",
            assertion(json!({"type": 5, "value": 5})),
        ),
        (
            "bad_assertion_unknown_type",
            assertion(json!({"type": "top_hit", "value": "movie_inception"})),
        ),
        (
            "bad_assertion_unknown_parameter",
            assertion(json!({"type": "min_hits", "value": 5, "k": 3})),
        ),
        (
            "bad_assertion_missing_parameter",
            assertion(json!({"type": "top_k_contains", "k": 3})),
        ),
        (
            "bad_top_hit_id_type",
            assertion(json!({"type": "top_hit_id", "value": true})),
        ),
        (
            "bad_top_hit_id_characters",
            assertion(json!({"type": "top_hit_id", "value": "movie inception"})),
        ),
        (
            "bad_top_hit_id_negative",
            assertion(json!({"type": "top_hit_id", "value": -1})),
        ),
        (
            "bad_top_hit_id_too_long",
            assertion(json!({"type": "top_hit_id", "value": "d".repeat(512)})),
        ),
        (
            "bad_top_k_contains_k_zero",
            assertion(json!({"type": "top_k_contains", "k": 0, "ids": ["a"]})),
        ),
        (
            "bad_top_k_contains_k_over_limit",
            assertion(json!({"type": "top_k_contains", "k": 11, "ids": ["a"]})),
        ),
        (
            "bad_top_k_contains_k_type",
            assertion(json!({"type": "top_k_contains", "k": "3", "ids": ["a"]})),
        ),
        (
            "bad_top_k_contains_ids_type",
            assertion(json!({"type": "top_k_contains", "k": 3, "ids": "a"})),
        ),
        (
            "bad_top_k_contains_ids_empty",
            assertion(json!({"type": "top_k_contains", "k": 3, "ids": []})),
        ),
        (
            "bad_top_k_contains_more_ids_than_k",
            assertion(json!({"type": "top_k_contains", "k": 2, "ids": ["a", "b", "c"]})),
        ),
        (
            "bad_top_k_contains_duplicate_id",
            assertion(json!({"type": "top_k_contains", "k": 3, "ids": ["a", "a"]})),
        ),
        (
            "bad_top_k_contains_id_item",
            assertion(json!({"type": "top_k_contains", "k": 3, "ids": ["a", null]})),
        ),
        (
            "bad_min_hits_zero",
            assertion(json!({"type": "min_hits", "value": 0})),
        ),
        (
            "bad_min_hits_negative",
            assertion(json!({"type": "min_hits", "value": -5})),
        ),
        (
            "bad_min_hits_fraction",
            assertion(json!({"type": "min_hits", "value": 2.5})),
        ),
        (
            "bad_max_p95_ms_zero",
            assertion(json!({"type": "max_p95_ms", "value": 0})),
        ),
        (
            "bad_max_p95_ms_too_large",
            assertion(json!({"type": "max_p95_ms", "value": 600_001})),
        ),
        (
            "bad_max_p95_ms_type",
            assertion(json!({"type": "max_p95_ms", "value": "200"})),
        ),
        (
            "bad_settings_version_negative",
            assertion(json!({"type": "settings_version_at_least", "value": -1})),
        ),
        (
            "bad_settings_version_fraction",
            assertion(json!({"type": "settings_version_at_least", "value": 4.2})),
        ),
        (
            "bad_must_not_contain_id_empty",
            assertion(json!({"type": "must_not_contain_id", "ids": []})),
        ),
        (
            "bad_must_not_contain_id_too_many",
            assertion(
                json!({"type": "must_not_contain_id", "ids": (0..101).collect::<Vec<u32>>()}),
            ),
        ),
        (
            "bad_must_not_contain_id_value",
            assertion(json!({"type": "must_not_contain_id", "value": "a"})),
        ),
        // The second assertion is named by its position.
        (
            "bad_second_assertion",
            with(
                base(),
                "/assertions/1",
                json!({"type": "top_k_contains", "k": 3, "ids": [1.5]}),
            ),
        ),
    ]
}

async fn bad_definitions_are_refused_naming_the_key(app: App) {
    for (name, body) in bad_definitions() {
        let reply = app
            .check(
                name,
                Call::new(Method::POST, "/_miroir/canaries").json(&body),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(reply.body["code"], "bad_request", "{name}");
        assert_eq!(reply.body["type"], "invalid_request", "{name}");
    }
    assert!(app.store.list_canaries().await.unwrap().is_empty());
}

async fn bad_bodies_are_refused_with_meilisearch_errors(app: App) {
    let body = plan_example().to_string();
    app.check(
        "bad_body_no_content_type",
        Call::new(Method::POST, "/_miroir/canaries").raw("", body.clone()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    app.check(
        "bad_body_text_content_type",
        Call::new(Method::POST, "/_miroir/canaries").raw("text/plain", body),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    app.check(
        "bad_body_malformed_json",
        Call::new(Method::POST, "/_miroir/canaries")
            .raw("application/json", r#"{"name": "x","#.to_owned()),
        StatusCode::BAD_REQUEST,
    )
    .await;
    app.check(
        "bad_body_empty",
        Call::new(Method::POST, "/_miroir/canaries").raw("application/json", String::new()),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(app.store.list_canaries().await.unwrap().is_empty());
}

async fn bad_definitions_change_nothing(app: App) {
    assert_eq!(app.post(&plan_example()).await.status, StatusCode::CREATED);
    app.record("product_inception", T0, CanaryRunStatus::Fail, 10)
        .await;
    let before = app.status().await;
    let stored = app.store.list_canaries().await.unwrap();
    // Most bad definitions name the existing canary: none may modify it.
    for (name, body) in bad_definitions() {
        let reply = app.post(&body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}");
    }
    for call in [
        Call::new(Method::POST, "/_miroir/canaries").raw("", plan_example().to_string()),
        Call::new(Method::POST, "/_miroir/canaries")
            .json(&canary("sneaky"))
            .without_key(),
        Call::new(Method::DELETE, "/_miroir/canaries/product_inception").without_key(),
        Call::new(Method::DELETE, "/_miroir/canaries/product%20inception"),
        Call::new(Method::PUT, "/_miroir/canaries/product_inception"),
        Call::new(Method::PATCH, "/_miroir/canaries"),
    ] {
        let request = call.describe();
        assert!(app.send(call).await.status.is_client_error(), "{request}");
    }
    assert_eq!(app.store.list_canaries().await.unwrap(), stored);
    assert_eq!(app.status().await, before);
}

async fn status_refuses_parameters(app: App) {
    app.check(
        "status_unknown_parameter",
        Call::new(Method::GET, "/_miroir/canaries/status?limit=5"),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn layers_answer_auth_and_unknown_methods(app: App) {
    app.check(
        "layered_no_admin_key",
        Call::new(Method::GET, "/_miroir/canaries/status").without_key(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.check(
        "layered_get_canaries",
        Call::new(Method::GET, "/_miroir/canaries"),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    app.check(
        "layered_delete_status",
        Call::new(Method::DELETE, "/_miroir/canaries/status"),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    app.check(
        "layered_get_one_canary",
        Call::new(Method::GET, "/_miroir/canaries/product_inception"),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}
