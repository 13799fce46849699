//! The tenant routes without a server (tower `oneshot`), behind the production layers with an
//! admin key and three replica groups, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every response body is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both
//! backends: a body that differs between them fails one of the two runs.
#![allow(clippy::unwrap_used)]

use std::fmt;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use miroir_core::Config;
use miroir_core::config::Secret;
use miroir_http::timefmt::parse_rfc3339;
use miroir_http::{AppState, apply_layers};
use miroir_store::{DynStore, TenantMapping};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

/// Expands to one `#[tokio::test]` per listed case for each backend: a module per backend, each
/// test on a fresh, migrated store from that backend's factory.
macro_rules! route_suite {
    ($($case:ident),* $(,)?) => {
        route_suite!(@backend sqlite, crate::sqlite, $($case),*);
        route_suite!(@backend redis, crate::redis, $($case),*);
    };
    (@backend $backend:ident, $factory:path, $($case:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::$case(crate::App::new($factory().await).await).await;
                }
            )*
        }
    };
}

route_suite!(
    put_creates_then_updates,
    put_with_another_key_rekeys_atomically,
    a_key_of_another_tenant_is_refused,
    delete_unmaps_the_key,
    put_errors,
    lookup_errors,
    layers_answer_auth_and_methods,
    bad_requests_change_nothing,
);

/// The key prefix of each Redis test.
const PREFIX: &str = "tenants-routes";

/// The crate's router.
const ROUTER: fn(AppState) -> Router = miroir_handler_tenants::router;

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

/// The admin key the layers are configured with; every call sends it unless told otherwise.
const ADMIN_KEY: &str = "route-tests-admin-key";

/// A fresh in-memory SQLite store, migrated.
async fn sqlite() -> DynStore {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A fresh key prefix on the shared test Redis, migrated.
async fn redis() -> DynStore {
    let server = miroir_test_support::shared_redis();
    let prefix = miroir_test_support::unique_prefix(PREFIX);
    let url = server.store_url(&prefix, Duration::from_secs(2));
    let store = miroir_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// The routes under test on one store, behind the production layers with [`ADMIN_KEY`].
struct App {
    router: Router,
    store: DynStore,
}

/// One answer: its status and JSON body (`null` when empty), parsed twice: as a [`Value`] to
/// query, and as [`Wire`] to snapshot with its keys in the order they were sent.
#[derive(Debug, PartialEq)]
struct Reply {
    status: StatusCode,
    body: Value,
    wire: Wire,
}

/// A JSON value that keeps object keys in the order they came in (a [`Value`] sorts them), so
/// snapshots show the field order clients see.
#[derive(Debug, PartialEq)]
enum Wire {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Wire>),
    Object(Vec<(String, Wire)>),
}

impl<'de> Deserialize<'de> for Wire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WireVisitor)
    }
}

struct WireVisitor;

impl<'de> Visitor<'de> for WireVisitor {
    type Value = Wire;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Wire, E> {
        Ok(Wire::Null)
    }
    fn visit_bool<E>(self, value: bool) -> Result<Wire, E> {
        Ok(Wire::Bool(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Wire, E> {
        Ok(Wire::Number(value.into()))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Wire, E> {
        Ok(Wire::Number(value.into()))
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Wire, E> {
        serde_json::Number::from_f64(value)
            .map(Wire::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, value: &str) -> Result<Wire, E> {
        Ok(Wire::String(value.to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Wire, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Wire::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wire, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Wire::Object(entries))
    }
}

impl Serialize for Wire {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(value) => serializer.serialize_bool(*value),
            Self::Number(value) => value.serialize(serializer),
            Self::String(value) => serializer.serialize_str(value),
            Self::Array(items) => items.serialize(serializer),
            Self::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl Wire {
    /// Replaces the value of every object key in [`VOLATILE`] (dates that depend on the clock)
    /// by `"[date]"`, after checking it is an RFC 3339 date.
    fn redacted(&self) -> Wire {
        match self {
            Self::Array(items) => Self::Array(items.iter().map(Wire::redacted).collect()),
            Self::Object(entries) => Self::Object(
                entries
                    .iter()
                    .map(|(key, value)| {
                        let value = match value {
                            Self::String(date) if VOLATILE.contains(&key.as_str()) => {
                                assert!(parse_rfc3339(date).is_some(), "{key}: {date}");
                                Self::String("[date]".to_owned())
                            }
                            other => other.redacted(),
                        };
                        (key.clone(), value)
                    })
                    .collect(),
            ),
            Self::Null => Self::Null,
            Self::Bool(value) => Self::Bool(*value),
            Self::Number(value) => Self::Number(value.clone()),
            Self::String(value) => Self::String(value.clone()),
        }
    }
}

impl App {
    async fn new(store: DynStore) -> Self {
        Self::with_config(store, base_config()).await
    }

    async fn with_config(store: DynStore, mut config: Config) -> Self {
        config.admin.api_key = Secret::new(ADMIN_KEY);
        let state = AppState::start(store.clone(), config, Duration::from_secs(60)).await;
        Self {
            router: apply_layers(ROUTER(state.clone()), &state),
            store,
        }
    }

    /// `method uri` with the admin key and, when given, `body` as JSON.
    async fn call(&self, method: Method, uri: &str, body: Option<&str>) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let body = body.map_or_else(Body::empty, |body| Body::from(body.to_owned()));
        self.send(request.body(body).unwrap()).await
    }

    /// `GET uri` with the admin key.
    async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None).await
    }

    /// Sends `request` as it is.
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        if bytes.is_empty() {
            return Reply {
                status,
                body: Value::Null,
                wire: Wire::Null,
            };
        }
        assert_eq!(
            content_type.as_ref().and_then(|value| value.to_str().ok()),
            Some("application/json"),
            "{status}"
        );
        Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap(),
            wire: serde_json::from_slice(&bytes).unwrap(),
        }
    }

    /// [`App::call`], asserting `status` and that `{status, body}` matches snapshot `name`.
    async fn check(
        &self,
        name: &str,
        method: Method,
        uri: &str,
        body: Option<&str>,
        status: StatusCode,
    ) -> Reply {
        let reply = self.call(method.clone(), uri, body).await;
        assert_eq!(reply.status, status, "{method} {uri}: {}", reply.body);
        let request = match body {
            Some(body) => format!("{method} {uri} {body}"),
            None => format!("{method} {uri}"),
        };
        snapshot(name, &request, &reply);
        reply
    }
}

/// What a snapshot holds: the status and the body as sent, dates redacted.
#[derive(Serialize)]
struct Snapshot {
    status: u16,
    body: Wire,
}

/// Asserts that `reply` matches `snapshots/<name>.snap`, the same file for every backend.
fn snapshot(name: &str, request: &str, reply: &Reply) {
    let value = Snapshot {
        status: reply.status.as_u16(),
        body: reply.wire.redacted(),
    };
    insta::with_settings!({
        prepend_module_to_snapshot => false,
        snapshot_path => "snapshots",
        description => request,
        omit_expression => true,
    }, {
        insta::assert_json_snapshot!(name, value);
    });
}

/// Asserts that `reply` is a Meilisearch-shaped error with `code`.
fn assert_error(reply: &Reply, code: &str) {
    assert_eq!(reply.body["code"], code, "{}", reply.body);
    assert_eq!(
        reply.body["link"],
        format!("https://docs.meilisearch.com/errors#{code}")
    );
    let keys: Vec<&str> = match &reply.wire {
        Wire::Object(entries) => entries.iter().map(|(key, _)| key.as_str()).collect(),
        other => panic!("not an error object: {other:?}"),
    };
    assert_eq!(keys, ["message", "code", "type", "link"]);
}

/// The shared auth layer's answers (asserted, not snapshot: their messages belong to the layer,
/// whose own tests pin them): no admin key, a wrong one.
async fn check_auth(app: &App, method: Method, uri: &str) {
    for key in [None, Some("not-the-admin-key")] {
        let mut request = Request::builder().method(method.clone()).uri(uri);
        if let Some(key) = key {
            request = request.header("x-admin-key", key);
        }
        let reply = app.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} {key:?}"
        );
        assert_error(&reply, "miroir_invalid_auth");
    }
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
