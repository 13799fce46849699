//! The tenant routes without a server (tower `oneshot`), behind the production layers with an
//! admin key and three replica groups, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every response body is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both
//! backends: a body that differs between them fails one of the two runs.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use miroir_core::Config;
use miroir_store::{DynStore, TenantMapping};
use miroir_test_support::route_kit::{
    ADMIN_KEY, Reply, RouteApp, Routes, Snapshot, assert_error, check_auth,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

miroir_test_support::route_suite!(
    prefix: crate::PREFIX,
    app: crate::app,
    cases: [
        put_creates_then_updates,
        put_with_another_key_rekeys_atomically,
        a_key_of_another_tenant_is_refused,
        delete_unmaps_the_key,
        put_errors,
        lookup_errors,
        layers_answer_auth_and_methods,
        bad_requests_change_nothing,
    ],
);

/// The key prefix of each Redis test.
const PREFIX: &str = "tenants-routes";

/// Keys whose values are clock-dependent dates, redacted in snapshots (none here).
const VOLATILE: &[&str] = &[];

/// The configuration of every case (the admin key is added to it): three replica groups.
fn base_config() -> Config {
    Config {
        replica_groups: 3,
        ..Config::default()
    }
}

const KEY_1: &str = "tenant-key-acme-0001";
const KEY_2: &str = "tenant-key-acme-0002";

/// The routes under test on one store, behind the production layers with [`ADMIN_KEY`].
type App = RouteApp;

/// This crate's routes on `store`, with [`base_config`].
async fn app(store: DynStore) -> App {
    RouteApp::new(ROUTES, store).await
}

/// The crate's router, configuration and snapshots.
const ROUTES: Routes = Routes {
    router: miroir_handler_tenants::router,
    config: base_config,
    snapshot,
};

/// Asserts that `reply` matches `snapshots/<name>.snap`, the same file for every backend, with
/// the dates under [`VOLATILE`] redacted.
fn snapshot(name: &str, request: &str, reply: &Reply) {
    miroir_test_support::assert_route_snapshot!(name, request, Snapshot::redacted(reply, VOLATILE));
}

fn sha256(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Asserts that no answer repeats an API key or its hash (hex, either case).
fn assert_secret_free(reply: &Reply, keys: &[&str]) {
    let text = reply.body.to_string();
    for key in keys {
        let hash = hex(&sha256(key));
        assert!(!text.contains(key), "{text}");
        assert!(!text.to_lowercase().contains(&hash), "{text}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `GET /_miroir/tenants/lookup` with `key` in the header.
async fn lookup(app: &App, key: &str) -> Reply {
    let request = Request::builder()
        .uri("/_miroir/tenants/lookup")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"))
        .header(miroir_handler_tenants::API_KEY_HEADER, key)
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

/// [`lookup`], checked against `status` and snapshot `name`.
async fn check_lookup(app: &App, name: &str, key: &str, status: StatusCode) -> Reply {
    let reply = lookup(app, key).await;
    assert_eq!(reply.status, status, "{}", reply.body);
    snapshot(
        name,
        "GET /_miroir/tenants/lookup (X-Miroir-Tenant-Api-Key: <key>)",
        &reply,
    );
    assert_secret_free(&reply, &[key]);
    reply
}

/// `PUT /_miroir/tenants/{tenant}` with `body`.
async fn put(app: &App, tenant: &str, body: &str) -> Reply {
    app.call(
        Method::PUT,
        &format!("/_miroir/tenants/{tenant}"),
        Some(body),
    )
    .await
}

/// What the store holds for the tenants and keys the cases use.
async fn state(app: &App) -> Vec<Option<TenantMapping>> {
    let mut state = Vec::new();
    for tenant in ["acme", "globex", "a", "bad tenant"] {
        state.push(app.store.get_tenant_by_id(tenant).await.unwrap());
    }
    for key in [KEY_1, KEY_2, "short"] {
        state.push(app.store.get_tenant(&sha256(key)).await.unwrap());
    }
    state
}

async fn put_creates_then_updates(app: App) {
    let body = format!(r#"{{"apiKey":"{KEY_1}","groupId":2}}"#);
    let created = app
        .check(
            "put_created",
            Method::PUT,
            "/_miroir/tenants/acme",
            Some(&body),
            StatusCode::CREATED,
        )
        .await;
    assert_secret_free(&created, &[KEY_1]);
    let found = check_lookup(&app, "lookup_found", KEY_1, StatusCode::OK).await;
    assert_eq!(found.body, created.body);
    // Only the hash is stored.
    let stored = app.store.get_tenant(&sha256(KEY_1)).await.unwrap().unwrap();
    assert_eq!(
        (stored.tenant_id.as_str(), stored.group_id),
        ("acme", Some(2))
    );
    let body = format!(r#"{{"apiKey":"{KEY_1}","groupId":null}}"#);
    let updated = app
        .check(
            "put_updated",
            Method::PUT,
            "/_miroir/tenants/acme",
            Some(&body),
            StatusCode::OK,
        )
        .await;
    assert_eq!(updated.body["groupId"], Value::Null);
    let got = app
        .check(
            "get_tenant",
            Method::GET,
            "/_miroir/tenants/acme",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(got.body, updated.body);
    // Without `groupId` at all, and group 0.
    let body = format!(r#"{{"apiKey":"{KEY_2}"}}"#);
    assert_eq!(
        put(&app, "globex.eu_1-b", &body).await.status,
        StatusCode::CREATED
    );
    let body = format!(r#"{{"apiKey":"{KEY_2}","groupId":0}}"#);
    let reply = put(&app, "globex.eu_1-b", &body).await;
    assert_eq!(
        (reply.status, &reply.body["groupId"]),
        (StatusCode::OK, &Value::from(0))
    );
    assert_eq!(lookup(&app, KEY_2).await.body["tenantId"], "globex.eu_1-b");
}

async fn put_with_another_key_rekeys_atomically(app: App) {
    let first = put(
        &app,
        "acme",
        &format!(r#"{{"apiKey":"{KEY_1}","groupId":1}}"#),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let body = format!(r#"{{"apiKey":"{KEY_2}","groupId":1}}"#);
    let rekeyed = app
        .check(
            "put_rekeyed",
            Method::PUT,
            "/_miroir/tenants/acme",
            Some(&body),
            StatusCode::OK,
        )
        .await;
    assert_secret_free(&rekeyed, &[KEY_1, KEY_2]);
    let gone = check_lookup(&app, "lookup_not_found", KEY_1, StatusCode::NOT_FOUND).await;
    assert_error(&gone, "miroir_tenant_not_found");
    assert_eq!(lookup(&app, KEY_2).await.body["tenantId"], "acme");
    assert_eq!(app.store.get_tenant(&sha256(KEY_1)).await.unwrap(), None);
    // The old key is free for another tenant now.
    let body = format!(r#"{{"apiKey":"{KEY_1}"}}"#);
    assert_eq!(put(&app, "globex", &body).await.status, StatusCode::CREATED);
    assert_eq!(lookup(&app, KEY_1).await.body["tenantId"], "globex");
}

async fn a_key_of_another_tenant_is_refused(app: App) {
    let body = format!(r#"{{"apiKey":"{KEY_1}","groupId":1}}"#);
    assert_eq!(put(&app, "acme", &body).await.status, StatusCode::CREATED);
    let before = state(&app).await;
    let reply = app
        .check(
            "put_key_of_another_tenant",
            Method::PUT,
            "/_miroir/tenants/globex",
            Some(&body),
            StatusCode::CONFLICT,
        )
        .await;
    assert_error(&reply, "miroir_conflict");
    assert_secret_free(&reply, &[KEY_1]);
    assert_eq!(state(&app).await, before);
    let missing = app
        .check(
            "get_not_found",
            Method::GET,
            "/_miroir/tenants/globex",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_error(&missing, "miroir_tenant_not_found");
}

async fn delete_unmaps_the_key(app: App) {
    assert_eq!(
        put(&app, "acme", &format!(r#"{{"apiKey":"{KEY_1}"}}"#))
            .await
            .status,
        StatusCode::CREATED
    );
    let deleted = app
        .check(
            "delete_tenant",
            Method::DELETE,
            "/_miroir/tenants/acme",
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    assert_eq!(deleted.body, Value::Null);
    assert_eq!(lookup(&app, KEY_1).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/_miroir/tenants/acme").await.status,
        StatusCode::NOT_FOUND
    );
    let again = app
        .check(
            "delete_not_found",
            Method::DELETE,
            "/_miroir/tenants/acme",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_error(&again, "miroir_tenant_not_found");
}

/// Every refused `PUT`: (snapshot, tenant id in the path, body, status, code).
const BAD_PUTS: &[(&str, &str, &str, StatusCode, &str)] = &[
    (
        "put_tenant_id_invalid",
        "bad%20tenant",
        r#"{"apiKey":"tenant-key-acme-0001"}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_tenant_id_slash",
        "a%2Fb",
        r#"{"apiKey":"tenant-key-acme-0001"}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_api_key_short",
        "acme",
        r#"{"apiKey":"short"}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_api_key_with_space",
        "acme",
        r#"{"apiKey":"tenant key acme 0001"}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_api_key_not_a_string",
        "acme",
        r#"{"apiKey":12345678901234567}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_api_key_missing",
        "acme",
        r#"{"groupId":1}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_group_out_of_range",
        "acme",
        r#"{"apiKey":"tenant-key-acme-0001","groupId":3}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_group_negative",
        "acme",
        r#"{"apiKey":"tenant-key-acme-0001","groupId":-1}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_group_not_a_number",
        "acme",
        r#"{"apiKey":"tenant-key-acme-0001","groupId":"1"}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_unknown_field",
        "acme",
        r#"{"apiKey":"tenant-key-acme-0001","tenantId":"acme"}"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_not_an_object",
        "acme",
        r#"["tenant-key-acme-0001",1]"#,
        StatusCode::BAD_REQUEST,
        "bad_request",
    ),
    (
        "put_malformed",
        "acme",
        r#"{"apiKey":"tenant-key-"#,
        StatusCode::BAD_REQUEST,
        "malformed_payload",
    ),
];

async fn put_errors(app: App) {
    for (name, tenant, body, status, code) in BAD_PUTS {
        let uri = format!("/_miroir/tenants/{tenant}");
        let reply = app
            .check(name, Method::PUT, &uri, Some(body), *status)
            .await;
        assert_error(&reply, code);
        assert_secret_free(&reply, &[KEY_1]);
    }
    let long = "t".repeat(256);
    let reply = put(&app, &long, &format!(r#"{{"apiKey":"{KEY_1}"}}"#)).await;
    assert_error(&reply, "bad_request");
    let long_key = "k".repeat(1025);
    let reply = put(&app, "acme", &format!(r#"{{"apiKey":"{long_key}"}}"#)).await;
    assert_error(&reply, "bad_request");
    assert_secret_free(&reply, &[&long_key]);
    // The bounds themselves are accepted.
    let reply = put(
        &app,
        &"t".repeat(255),
        &format!(r#"{{"apiKey":"{}"}}"#, "k".repeat(1024)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = put(&app, "a", &format!(r#"{{"apiKey":"{}"}}"#, "k".repeat(16))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    for (name, method, uri) in [
        (
            "get_tenant_id_invalid",
            Method::GET,
            "/_miroir/tenants/bad%20tenant",
        ),
        (
            "delete_tenant_id_invalid",
            Method::DELETE,
            "/_miroir/tenants/bad%20tenant",
        ),
    ] {
        let reply = app
            .check(name, method, uri, None, StatusCode::BAD_REQUEST)
            .await;
        assert_error(&reply, "bad_request");
    }
}

async fn lookup_errors(app: App) {
    assert_eq!(
        put(&app, "acme", &format!(r#"{{"apiKey":"{KEY_1}"}}"#))
            .await
            .status,
        StatusCode::CREATED
    );
    let reply = app
        .check(
            "lookup_without_key",
            Method::GET,
            "/_miroir/tenants/lookup",
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_error(&reply, "bad_request");
    // Never in the URL, even with the right key.
    let reply = app
        .check(
            "lookup_key_in_query",
            Method::GET,
            "/_miroir/tenants/lookup?apiKey=tenant-key-acme-0001",
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_secret_free(&reply, &[KEY_1]);
    let reply = check_lookup(
        &app,
        "lookup_invalid_key",
        "short key",
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(&reply, "bad_request");
    let request = Request::builder()
        .uri("/_miroir/tenants/lookup")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"))
        .header(miroir_handler_tenants::API_KEY_HEADER, KEY_1)
        .header(miroir_handler_tenants::API_KEY_HEADER, KEY_2)
        .body(Body::empty())
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    snapshot(
        "lookup_two_keys",
        "GET /_miroir/tenants/lookup (two keys)",
        &reply,
    );
    assert_secret_free(&reply, &[KEY_1, KEY_2]);
    let request = Request::builder()
        .uri("/_miroir/tenants/lookup")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"))
        .header(
            miroir_handler_tenants::API_KEY_HEADER,
            header::HeaderValue::from_bytes(b"tenant-key-\xe9\xe9-000001").unwrap(),
        )
        .body(Body::empty())
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_error(&reply, "bad_request");
}

async fn layers_answer_auth_and_methods(app: App) {
    check_auth(&app, Method::GET, "/_miroir/tenants/lookup").await;
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        check_auth(&app, method, "/_miroir/tenants/acme").await;
    }
    for (name, method, uri, status) in [
        (
            "post_tenant",
            Method::POST,
            "/_miroir/tenants/acme",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        // `lookup` is the lookup route's: it cannot be a tenant id.
        (
            "put_lookup",
            Method::PUT,
            "/_miroir/tenants/lookup",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "list_tenants",
            Method::GET,
            "/_miroir/tenants",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let reply = app.check(name, method, uri, None, status).await;
        assert!(reply.body["code"].is_string());
    }
}

async fn bad_requests_change_nothing(app: App) {
    let body = format!(r#"{{"apiKey":"{KEY_1}","groupId":1}}"#);
    assert_eq!(put(&app, "acme", &body).await.status, StatusCode::CREATED);
    let before = state(&app).await;
    for (_, tenant, body, _, _) in BAD_PUTS {
        assert!(put(&app, tenant, body).await.status.is_client_error());
    }
    assert_eq!(
        put(&app, "globex", &body).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.call(Method::DELETE, "/_miroir/tenants/globex", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::POST, "/_miroir/tenants/acme", Some(&body))
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let unauthenticated = Request::builder()
        .method(Method::DELETE)
        .uri("/_miroir/tenants/acme")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(unauthenticated).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(state(&app).await, before);
}
