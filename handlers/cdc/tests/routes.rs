//! The CDC cursor routes without a server (tower `oneshot`), behind the production layers with
//! an admin key, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every response body is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both
//! backends (clock-dependent dates redacted): a body that differs between them fails one run.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use miroir_core::Config;
use miroir_http::timefmt::format_rfc3339;
use miroir_store::DynStore;
use miroir_test_support::route_kit::{
    ADMIN_KEY, Reply, RouteApp, Routes, Snapshot, assert_error, check_auth,
};
use serde_json::Value;

miroir_test_support::route_suite!(
    prefix: crate::PREFIX,
    app: crate::app,
    cases: [
        list_of_no_cursors,
        put_creates_then_moves_forward_only,
        list_every_sink_or_one,
        racing_puts_keep_the_largest,
        put_errors,
        list_errors,
        layers_answer_auth_and_methods,
        bad_requests_change_nothing,
    ],
);

/// The key prefix of each Redis test.
const PREFIX: &str = "cdc-routes";

/// Keys whose values are clock-dependent dates, redacted in snapshots.
const VOLATILE: &[&str] = &["updatedAt"];

/// The configuration of every case (the admin key is added to it).
fn base_config() -> Config {
    Config::default()
}

/// The routes under test on one store, behind the production layers with [`ADMIN_KEY`].
type App = RouteApp;

/// This crate's routes on `store`, with [`base_config`].
async fn app(store: DynStore) -> App {
    RouteApp::new(ROUTES, store).await
}

/// The crate's router, configuration and snapshots.
const ROUTES: Routes = Routes {
    router: miroir_handler_cdc::router,
    config: base_config,
    snapshot,
};

/// Asserts that `reply` matches `snapshots/<name>.snap`, the same file for every backend, with
/// the dates under [`VOLATILE`] redacted.
fn snapshot(name: &str, request: &str, reply: &Reply) {
    miroir_test_support::assert_route_snapshot!(name, request, Snapshot::redacted(reply, VOLATILE));
}

/// `PUT /_miroir/cdc/cursors/{sink}/{index}` with `body`.
async fn put(app: &App, sink: &str, index: &str, body: &str) -> Reply {
    app.call(
        Method::PUT,
        &format!("/_miroir/cdc/cursors/{sink}/{index}"),
        Some(body),
    )
    .await
}

/// Every stored cursor as (sink, index, seq).
async fn stored(app: &App) -> Vec<(String, String, u64)> {
    app.store
        .list_all_cdc_cursors()
        .await
        .unwrap()
        .into_iter()
        .map(|cursor| (cursor.sink_name, cursor.index_uid, cursor.last_event_seq))
        .collect()
}

async fn list_of_no_cursors(app: App) {
    app.check(
        "list_empty",
        Method::GET,
        "/_miroir/cdc/cursors",
        None,
        StatusCode::OK,
    )
    .await;
    let reply = app.get("/_miroir/cdc/cursors?sink=kafka").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["total"], 0);
}

async fn put_creates_then_moves_forward_only(app: App) {
    let uri = "/_miroir/cdc/cursors/kafka/movies";
    let first = app
        .check(
            "put_first",
            Method::PUT,
            uri,
            Some(r#"{"cursor":10}"#),
            StatusCode::OK,
        )
        .await;
    assert_eq!(first.body["cursor"], 10);
    let forward = app
        .check(
            "put_forward",
            Method::PUT,
            uri,
            Some(r#"{"cursor":25}"#),
            StatusCode::OK,
        )
        .await;
    assert_eq!(forward.body["cursor"], 25);
    // The same value changes nothing, not even the date.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let same = app
        .check(
            "put_same",
            Method::PUT,
            uri,
            Some(r#"{"cursor":25}"#),
            StatusCode::OK,
        )
        .await;
    assert_eq!(same, forward);
    let back = app
        .check(
            "put_backwards",
            Method::PUT,
            uri,
            Some(r#"{"cursor":24}"#),
            StatusCode::CONFLICT,
        )
        .await;
    assert_error(&back, "miroir_conflict");
    let stored_cursor = app
        .store
        .get_cdc_cursor("kafka", "movies")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_cursor.last_event_seq, 25);
    assert_eq!(
        forward.body["updatedAt"],
        format_rfc3339(stored_cursor.updated_at)
    );
    // Zero and the largest u64 are cursors like any other.
    let zero = put(&app, "kafka", "books", r#"{"cursor":0}"#).await;
    assert_eq!(
        (zero.status, &zero.body["cursor"]),
        (StatusCode::OK, &Value::from(0))
    );
    let max = app
        .check(
            "put_largest",
            Method::PUT,
            "/_miroir/cdc/cursors/kafka/books",
            Some(r#"{"cursor":18446744073709551615}"#),
            StatusCode::OK,
        )
        .await;
    assert_eq!(max.body["cursor"], u64::MAX);
    assert_eq!(
        stored(&app).await,
        [
            ("kafka".to_owned(), "books".to_owned(), u64::MAX),
            ("kafka".to_owned(), "movies".to_owned(), 25),
        ]
    );
}

async fn list_every_sink_or_one(app: App) {
    for (sink, index, cursor) in [
        ("webhook:main", "movies", 3),
        ("kafka", "movies", 7),
        ("webhook:main", "books", 9),
        ("kafka", "books", 1),
        ("nats.eu-1", "logs_2026", 42),
    ] {
        let reply = put(&app, sink, index, &format!(r#"{{"cursor":{cursor}}}"#)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let all = app
        .check(
            "list_all",
            Method::GET,
            "/_miroir/cdc/cursors",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(all.body["total"], 5);
    let one = app
        .check(
            "list_one_sink",
            Method::GET,
            "/_miroir/cdc/cursors?sink=webhook:main",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(one.body["total"], 2);
    assert_eq!(
        app.get("/_miroir/cdc/cursors?sink=webhook%3Amain").await,
        one
    );
    let none = app.get("/_miroir/cdc/cursors?sink=unknown").await;
    assert_eq!(
        (none.status, &none.body["total"]),
        (StatusCode::OK, &Value::from(0))
    );
}

async fn racing_puts_keep_the_largest(app: App) {
    let app = std::sync::Arc::new(app);
    let handles: Vec<_> = (1..=8u64)
        .map(|cursor| {
            let app = app.clone();
            tokio::spawn(async move {
                put(
                    &app,
                    "kafka",
                    "movies",
                    &format!(r#"{{"cursor":{cursor}}}"#),
                )
                .await
                .status
            })
        })
        .collect();
    for handle in handles {
        let status = handle.await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::CONFLICT,
            "{status}"
        );
    }
    assert_eq!(
        stored(&app).await,
        [("kafka".to_owned(), "movies".to_owned(), 8)]
    );
}

/// Every refused `PUT`: (snapshot, sink, index, body, status, code).
const BAD_PUTS: &[(&str, &str, &str, &str, StatusCode, &str)] = &[
    (
        "put_sink_invalid",
        "bad%20sink",
        "movies",
        r#"{"cursor":1}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_sink_slash_like",
        "a%2Fb",
        "movies",
        r#"{"cursor":1}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_index_invalid",
        "kafka",
        "mov!es",
        r#"{"cursor":1}"#,
        StatusCode::BAD_REQUEST,
        "invalid_index_uid",
    ),
    // Dot segments, as sent and percent-encoded (axum decodes path parameters).
    (
        "put_index_dot_dot",
        "kafka",
        "..",
        r#"{"cursor":1}"#,
        StatusCode::BAD_REQUEST,
        "invalid_index_uid",
    ),
    (
        "put_index_encoded_dot",
        "kafka",
        "%2E",
        r#"{"cursor":1}"#,
        StatusCode::BAD_REQUEST,
        "invalid_index_uid",
    ),
    (
        "put_cursor_negative",
        "kafka",
        "movies",
        r#"{"cursor":-1}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_cursor_fraction",
        "kafka",
        "movies",
        r#"{"cursor":1.5}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_cursor_string",
        "kafka",
        "movies",
        r#"{"cursor":"7"}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_cursor_too_large",
        "kafka",
        "movies",
        r#"{"cursor":18446744073709551616}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_cursor_missing",
        "kafka",
        "movies",
        r#"{}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_unknown_field",
        "kafka",
        "movies",
        r#"{"cursor":1,"force":true}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_not_an_object",
        "kafka",
        "movies",
        r#"[1]"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_malformed",
        "kafka",
        "movies",
        r#"{"cursor":"#,
        StatusCode::BAD_REQUEST,
        "malformed_payload",
    ),
];

async fn put_errors(app: App) {
    for (name, sink, index, body, status, code) in BAD_PUTS {
        let uri = format!("/_miroir/cdc/cursors/{sink}/{index}");
        let reply = app
            .check(name, Method::PUT, &uri, Some(body), *status)
            .await;
        assert_error(&reply, code);
    }
    let long_index = "i".repeat(401);
    let reply = put(&app, "kafka", &long_index, r#"{"cursor":1}"#).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_error(&reply, "invalid_index_uid");
    let long_sink = "s".repeat(256);
    let reply = put(&app, &long_sink, "movies", r#"{"cursor":1}"#).await;
    assert_error(&reply, "bad_request");
    // The longest valid names are accepted.
    let reply = put(&app, &"s".repeat(255), &"i".repeat(400), r#"{"cursor":1}"#).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // A body that is not JSON.
    let request = Request::builder()
        .method(Method::PUT)
        .uri("/_miroir/cdc/cursors/kafka/movies")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("cursor=1"))
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    snapshot(
        "put_not_json",
        "PUT /_miroir/cdc/cursors/kafka/movies (text/plain) cursor=1",
        &reply,
    );
    assert_error(&reply, "invalid_content_type");
}

async fn list_errors(app: App) {
    for (name, uri) in [
        (
            "list_unknown_parameter",
            "/_miroir/cdc/cursors?index=movies",
        ),
        ("list_sink_invalid", "/_miroir/cdc/cursors?sink=bad%20sink"),
        ("list_sink_empty", "/_miroir/cdc/cursors?sink="),
    ] {
        let reply = app
            .check(name, Method::GET, uri, None, StatusCode::BAD_REQUEST)
            .await;
        assert_error(&reply, "bad_request");
    }
}

async fn layers_answer_auth_and_methods(app: App) {
    check_auth(&app, Method::GET, "/_miroir/cdc/cursors").await;
    check_auth(&app, Method::PUT, "/_miroir/cdc/cursors/kafka/movies").await;
    for (name, method, uri, status) in [
        (
            "post_cursors",
            Method::POST,
            "/_miroir/cdc/cursors",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "get_one_cursor",
            Method::GET,
            "/_miroir/cdc/cursors/kafka/movies",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "delete_one_cursor",
            Method::DELETE,
            "/_miroir/cdc/cursors/kafka/movies",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "put_without_index",
            Method::PUT,
            "/_miroir/cdc/cursors/kafka",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let reply = app.check(name, method, uri, None, status).await;
        assert!(reply.body["code"].is_string());
    }
}

async fn bad_requests_change_nothing(app: App) {
    assert_eq!(
        put(&app, "kafka", "movies", r#"{"cursor":5}"#).await.status,
        StatusCode::OK
    );
    let before = stored(&app).await;
    let listed = app.get("/_miroir/cdc/cursors").await;
    for (_, sink, index, body, _, _) in BAD_PUTS {
        let reply = put(&app, sink, index, body).await;
        assert!(reply.status.is_client_error(), "{sink}/{index} {body}");
    }
    for body in [r#"{"cursor":4}"#, r#"{"cursor":0}"#] {
        assert_eq!(
            put(&app, "kafka", "movies", body).await.status,
            StatusCode::CONFLICT
        );
    }
    for (method, uri) in [
        (Method::DELETE, "/_miroir/cdc/cursors/kafka/movies"),
        (Method::POST, "/_miroir/cdc/cursors"),
    ] {
        assert!(
            app.call(method, uri, Some(r#"{"cursor":9}"#))
                .await
                .status
                .is_client_error()
        );
    }
    let unauthenticated = Request::builder()
        .method(Method::PUT)
        .uri("/_miroir/cdc/cursors/kafka/movies")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"cursor":9}"#))
        .unwrap();
    assert_eq!(
        app.send(unauthenticated).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(stored(&app).await, before);
    assert_eq!(app.get("/_miroir/cdc/cursors").await, listed);
}
