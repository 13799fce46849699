//! The rollover policy routes without a server (tower `oneshot`), behind the production layers
//! with an admin key, on a migrated store of each backend.
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
use miroir_store::{DynStore, RolloverPolicy};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
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
    list_of_no_policies,
    create_replace_get_and_delete,
    minimal_policies,
    post_errors,
    a_policy_stored_in_another_form_is_a_500,
    path_errors,
    layers_answer_auth_and_methods,
    bad_requests_change_nothing,
);

/// The key prefix of each Redis test.
const PREFIX: &str = "rollover-routes";

/// The crate's router.
const ROUTER: fn(AppState) -> Router = miroir_handler_rollover::router;

/// Keys whose values are clock-dependent dates, redacted in snapshots (none here).
const VOLATILE: &[&str] = &[];

/// The configuration of every case (the admin key is added to it).
fn base_config() -> Config {
    Config::default()
}

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
