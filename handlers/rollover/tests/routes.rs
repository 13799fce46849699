//! The rollover policy routes without a server (tower `oneshot`), behind the production layers
//! with an admin key, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every response body is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both
//! backends: a body that differs between them fails one of the two runs.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use miroir_core::Config;
use miroir_store::{DynStore, RolloverPolicy};
use miroir_test_support::route_kit::{
    ADMIN_KEY, Reply, RouteApp, Routes, Snapshot, assert_error, check_auth,
};
use serde_json::{Value, json};

miroir_test_support::route_suite!(
    prefix: crate::PREFIX,
    app: crate::app,
    cases: [
        list_of_no_policies,
        create_replace_get_and_delete,
        minimal_policies,
        post_errors,
        a_policy_stored_in_another_form_is_a_500,
        path_errors,
        layers_answer_auth_and_methods,
        bad_requests_change_nothing,
    ],
);

/// The key prefix of each Redis test.
const PREFIX: &str = "rollover-routes";

/// Keys whose values are clock-dependent dates, redacted in snapshots (none here).
const VOLATILE: &[&str] = &[];

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
    router: miroir_handler_rollover::router,
    config: base_config,
    snapshot,
};

/// Asserts that `reply` matches `snapshots/<name>.snap`, the same file for every backend, with
/// the dates under [`VOLATILE`] redacted.
fn snapshot(name: &str, request: &str, reply: &Reply) {
    miroir_test_support::assert_route_snapshot!(name, request, Snapshot::redacted(reply, VOLATILE));
}

/// The plan's example policy (§13.17), in camelCase.
fn logs_policy() -> Value {
    json!({
        "name": "logs-ilm",
        "writeAlias": "logs",
        "readAlias": "logs-search",
        "pattern": "logs-{YYYY-MM-DD}",
        "rolloverTriggers": {"maxDocs": 10_000_000, "maxAge": "7d", "maxSizeGb": 50},
        "retention": {"keepIndexes": 30},
        "indexTemplate": {"primaryKey": "event_id", "settingsRef": "logs-settings"},
        "enabled": true
    })
}

/// `policy` with the value at the `/`-separated `path` replaced by `value`, or removed when
/// `value` is `None`.
fn with(mut policy: Value, path: &str, value: Option<Value>) -> Value {
    let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
    let target = if parent.is_empty() {
        &mut policy
    } else {
        policy.pointer_mut(&format!("/{parent}")).unwrap()
    };
    let object = target.as_object_mut().unwrap();
    match value {
        Some(value) => object.insert(last.to_owned(), value),
        None => object.remove(last),
    };
    policy
}

async fn post(app: &App, body: &Value) -> Reply {
    app.call(Method::POST, "/_miroir/rollover", Some(&body.to_string()))
        .await
}

async fn list_of_no_policies(app: App) {
    app.check(
        "list_empty",
        Method::GET,
        "/_miroir/rollover",
        None,
        StatusCode::OK,
    )
    .await;
}

async fn create_replace_get_and_delete(app: App) {
    let body = logs_policy().to_string();
    let created = app
        .check(
            "post_created",
            Method::POST,
            "/_miroir/rollover",
            Some(&body),
            StatusCode::OK,
        )
        .await;
    assert_eq!(created.body, logs_policy());
    // Stored in the plan's snake_case JSON columns.
    let stored = app
        .store
        .get_rollover_policy("logs-ilm")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.triggers,
        json!({"max_docs": 10_000_000, "max_age": "7d", "max_size_gb": 50})
    );
    assert_eq!(stored.retention, json!({"keep_indexes": 30}));
    assert_eq!(
        stored.template,
        json!({"primary_key": "event_id", "settings_ref": "logs-settings"})
    );
    assert!(stored.enabled);
    let got = app
        .check(
            "get_policy",
            Method::GET,
            "/_miroir/rollover/logs-ilm",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(got.body, created.body);
    let replacement = json!({
        "name": "logs-ilm",
        "writeAlias": "logs",
        "readAlias": "logs-all",
        "pattern": "logs-{YYYYMMDD}",
        "rolloverTriggers": {"maxSizeGb": 12.5},
        "retention": {"keepIndexes": 7},
        "indexTemplate": {"primaryKey": "id"},
        "enabled": false
    });
    let replaced = app
        .check(
            "post_replaced",
            Method::POST,
            "/_miroir/rollover",
            Some(&replacement.to_string()),
            StatusCode::OK,
        )
        .await;
    assert_eq!(replaced.body["rolloverTriggers"]["maxDocs"], Value::Null);
    assert_eq!(
        app.get("/_miroir/rollover/logs-ilm").await.body,
        replaced.body
    );
    let audit = with(
        with(logs_policy(), "name", Some(json!("audit"))),
        "writeAlias",
        Some(json!("audit")),
    );
    let audit = with(
        with(audit, "readAlias", Some(json!("audit-search"))),
        "pattern",
        Some(json!("audit-*")),
    );
    assert_eq!(post(&app, &audit).await.status, StatusCode::OK);
    let listed = app
        .check(
            "list_policies",
            Method::GET,
            "/_miroir/rollover",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(listed.body["total"], 2);
    assert_eq!(listed.body["results"][0]["name"], "audit");
    assert_eq!(listed.body["results"][1], replaced.body);
    let deleted = app
        .check(
            "delete_policy",
            Method::DELETE,
            "/_miroir/rollover/logs-ilm",
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    assert_eq!(deleted.body, Value::Null);
    let missing = app
        .check(
            "get_not_found",
            Method::GET,
            "/_miroir/rollover/logs-ilm",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_error(&missing, "miroir_rollover_policy_not_found");
    let again = app
        .check(
            "delete_not_found",
            Method::DELETE,
            "/_miroir/rollover/logs-ilm",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_error(&again, "miroir_rollover_policy_not_found");
    assert_eq!(app.get("/_miroir/rollover").await.body["total"], 1);
}

async fn minimal_policies(app: App) {
    // One trigger, no `settingsRef`, no `enabled` (default true), a `*` placeholder.
    let minimal = json!({
        "name": "metrics",
        "writeAlias": "metrics",
        "readAlias": "metrics-search",
        "pattern": "metrics_*",
        "rolloverTriggers": {"maxDocs": 1},
        "retention": {"keepIndexes": 1},
        "indexTemplate": {"primaryKey": "id"}
    });
    let reply = app
        .check(
            "post_minimal",
            Method::POST,
            "/_miroir/rollover",
            Some(&minimal.to_string()),
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.body["enabled"], true);
    // The longest pattern: 380 fixed bytes and `*` (20 digits) make a 400-byte uid; nulls are
    // absent triggers.
    let longest = with(
        with(
            minimal,
            "pattern",
            Some(json!(format!("{}*", "m".repeat(380)))),
        ),
        "rolloverTriggers",
        Some(json!({"maxDocs": null, "maxAge": "1s", "maxSizeGb": null})),
    );
    let reply = post(&app, &longest).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["rolloverTriggers"],
        json!({"maxDocs": null, "maxAge": "1s", "maxSizeGb": null})
    );
}

/// Every refused body: (snapshot, path in the example policy, new value or removal).
fn bad_bodies() -> Vec<(&'static str, Value)> {
    let base = logs_policy;
    vec![
        (
            "post_name_invalid",
            with(base(), "name", Some(json!("logs ilm"))),
        ),
        (
            "post_name_too_long",
            with(base(), "name", Some(json!("n".repeat(256)))),
        ),
        ("post_name_missing", with(base(), "name", None)),
        (
            "post_write_alias_invalid",
            with(base(), "writeAlias", Some(json!("logs/write"))),
        ),
        (
            "post_read_alias_too_long",
            with(base(), "readAlias", Some(json!("r".repeat(401)))),
        ),
        (
            "post_same_aliases",
            with(base(), "readAlias", Some(json!("logs"))),
        ),
        (
            "post_pattern_without_placeholder",
            with(base(), "pattern", Some(json!("logs"))),
        ),
        (
            "post_pattern_two_placeholders",
            with(base(), "pattern", Some(json!("logs-{YYYY}-*"))),
        ),
        (
            "post_pattern_bad_date",
            with(base(), "pattern", Some(json!("logs-{YYYY.MM}"))),
        ),
        (
            "post_pattern_date_without_year",
            with(base(), "pattern", Some(json!("logs-{MM-DD}"))),
        ),
        (
            "post_pattern_unclosed",
            with(base(), "pattern", Some(json!("logs-{YYYY"))),
        ),
        (
            "post_pattern_without_fixed_part",
            with(base(), "pattern", Some(json!("*"))),
        ),
        (
            "post_pattern_bad_character",
            with(base(), "pattern", Some(json!("logs.{YYYY}"))),
        ),
        (
            "post_pattern_too_long",
            with(
                base(),
                "pattern",
                Some(json!(format!("{}*", "m".repeat(381)))),
            ),
        ),
        (
            "post_triggers_empty",
            with(base(), "rolloverTriggers", Some(json!({}))),
        ),
        (
            "post_triggers_all_null",
            with(
                base(),
                "rolloverTriggers",
                Some(json!({"maxDocs": null, "maxAge": null, "maxSizeGb": null})),
            ),
        ),
        (
            "post_triggers_missing",
            with(base(), "rolloverTriggers", None),
        ),
        (
            "post_triggers_not_an_object",
            with(base(), "rolloverTriggers", Some(json!([1, "7d", 50]))),
        ),
        (
            "post_max_docs_zero",
            with(base(), "rolloverTriggers/maxDocs", Some(json!(0))),
        ),
        (
            "post_max_docs_negative",
            with(base(), "rolloverTriggers/maxDocs", Some(json!(-5))),
        ),
        (
            "post_max_age_words",
            with(base(), "rolloverTriggers/maxAge", Some(json!("7 days"))),
        ),
        (
            "post_max_age_zero",
            with(base(), "rolloverTriggers/maxAge", Some(json!("0d"))),
        ),
        (
            "post_max_age_number",
            with(base(), "rolloverTriggers/maxAge", Some(json!(7))),
        ),
        (
            "post_max_size_zero",
            with(base(), "rolloverTriggers/maxSizeGb", Some(json!(0))),
        ),
        (
            "post_max_size_negative",
            with(base(), "rolloverTriggers/maxSizeGb", Some(json!(-1.5))),
        ),
        (
            "post_max_size_string",
            with(base(), "rolloverTriggers/maxSizeGb", Some(json!("50"))),
        ),
        (
            "post_triggers_snake_case",
            with(base(), "rolloverTriggers/max_docs", Some(json!(5))),
        ),
        (
            "post_keep_indexes_zero",
            with(base(), "retention/keepIndexes", Some(json!(0))),
        ),
        (
            "post_keep_indexes_missing",
            with(base(), "retention/keepIndexes", None),
        ),
        (
            "post_retention_not_an_object",
            with(base(), "retention", Some(json!([30]))),
        ),
        (
            "post_primary_key_missing",
            with(base(), "indexTemplate/primaryKey", None),
        ),
        (
            "post_primary_key_invalid",
            with(base(), "indexTemplate/primaryKey", Some(json!("event id"))),
        ),
        (
            "post_settings_ref_invalid",
            with(
                base(),
                "indexTemplate/settingsRef",
                Some(json!("logs settings")),
            ),
        ),
        (
            "post_enabled_not_a_bool",
            with(base(), "enabled", Some(json!("yes"))),
        ),
        (
            "post_unknown_field",
            with(base(), "rollover_triggers", Some(json!({"max_docs": 5}))),
        ),
        (
            "post_not_an_object",
            json!(["logs-ilm", "logs", "logs-search"]),
        ),
    ]
}

async fn post_errors(app: App) {
    for (name, body) in bad_bodies() {
        let reply = app
            .check(
                name,
                Method::POST,
                "/_miroir/rollover",
                Some(&body.to_string()),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_error(&reply, "bad_request");
    }
    let reply = app
        .check(
            "post_malformed",
            Method::POST,
            "/_miroir/rollover",
            Some(r#"{"name":"#),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_error(&reply, "malformed_payload");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/_miroir/rollover")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"))
        .body(Body::from(logs_policy().to_string()))
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    snapshot(
        "post_without_content_type",
        "POST /_miroir/rollover (no Content-Type)",
        &reply,
    );
    assert_error(&reply, "missing_content_type");
}

async fn a_policy_stored_in_another_form_is_a_500(app: App) {
    app.store
        .upsert_rollover_policy(RolloverPolicy {
            name: "odd".into(),
            write_alias: "odd".into(),
            read_alias: "odd-search".into(),
            pattern: "odd-*".into(),
            triggers: json!("daily"),
            retention: json!({"keep_indexes": 3}),
            template: json!({"primary_key": "id"}),
            enabled: true,
        })
        .await
        .unwrap();
    let reply = app
        .check(
            "get_unreadable",
            Method::GET,
            "/_miroir/rollover/odd",
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
        )
        .await;
    assert_error(&reply, "internal");
    assert_eq!(
        app.get("/_miroir/rollover").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

async fn path_errors(app: App) {
    for (name, method) in [
        ("get_name_invalid", Method::GET),
        ("delete_name_invalid", Method::DELETE),
    ] {
        let reply = app
            .check(
                name,
                method,
                "/_miroir/rollover/logs%20ilm",
                None,
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_error(&reply, "bad_request");
    }
    let long = format!("/_miroir/rollover/{}", "n".repeat(256));
    assert_error(&app.get(&long).await, "bad_request");
}

async fn layers_answer_auth_and_methods(app: App) {
    for (method, uri) in [
        (Method::GET, "/_miroir/rollover"),
        (Method::POST, "/_miroir/rollover"),
        (Method::GET, "/_miroir/rollover/logs-ilm"),
        (Method::DELETE, "/_miroir/rollover/logs-ilm"),
    ] {
        check_auth(&app, method, uri).await;
    }
    for (name, method, uri, status) in [
        (
            "put_policies",
            Method::PUT,
            "/_miroir/rollover",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "post_policy_by_name",
            Method::POST,
            "/_miroir/rollover/logs-ilm",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "put_policy_by_name",
            Method::PUT,
            "/_miroir/rollover/logs-ilm",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ] {
        let reply = app.check(name, method, uri, None, status).await;
        assert!(reply.body["code"].is_string());
    }
}

async fn bad_requests_change_nothing(app: App) {
    assert_eq!(post(&app, &logs_policy()).await.status, StatusCode::OK);
    let before = app.store.list_rollover_policies().await.unwrap();
    for (name, body) in bad_bodies() {
        assert!(post(&app, &body).await.status.is_client_error(), "{name}");
    }
    // A refused replacement leaves the stored policy as it was.
    let bad_replacement = with(logs_policy(), "retention/keepIndexes", Some(json!(0)));
    assert_eq!(
        post(&app, &bad_replacement).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.call(Method::DELETE, "/_miroir/rollover/other", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let unauthenticated = Request::builder()
        .method(Method::DELETE)
        .uri("/_miroir/rollover/logs-ilm")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(unauthenticated).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.store.list_rollover_policies().await.unwrap(), before);
}
