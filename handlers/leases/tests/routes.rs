//! The lease route without a server (tower `oneshot`), behind the production layers with an
//! admin key, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every response body is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both
//! backends (clock-dependent dates redacted): a body that differs between them fails one run.
#![allow(clippy::unwrap_used)]

use std::fmt;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use miroir_core::Config;
use miroir_core::config::Secret;
use miroir_http::timefmt::{format_rfc3339, parse_rfc3339};
use miroir_http::{AppState, apply_layers};
use miroir_store::DynStore;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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
    list_of_no_leases,
    list_shows_held_leases_by_scope,
    expired_and_released_leases_are_not_listed,
    list_errors,
    layers_answer_auth_and_methods,
    bad_requests_change_nothing,
);

/// The key prefix of each Redis test.
const PREFIX: &str = "leases-routes";

/// The crate's router.
const ROUTER: fn(AppState) -> Router = miroir_handler_leases::router;

/// Keys whose values are clock-dependent dates, redacted in snapshots.
const VOLATILE: &[&str] = &["expiresAt"];

const TTL: Duration = Duration::from_secs(60);

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

async fn list_of_no_leases(app: App) {
    let reply = app
        .check(
            "list_empty",
            Method::GET,
            "/_miroir/leases",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.body["total"], 0);
}

async fn list_shows_held_leases_by_scope(app: App) {
    let store = &app.store;
    let reshard = store
        .acquire_lease("reshard:movies", "pod-a", TTL)
        .await
        .unwrap()
        .unwrap();
    let flip = store
        .acquire_lease("alias_flip:products", "pod-b", TTL)
        .await
        .unwrap()
        .unwrap();
    let ilm = store
        .acquire_lease("ilm", "pod-a", TTL)
        .await
        .unwrap()
        .unwrap();
    // A new holding after a release gets a larger fencing token.
    assert!(
        store
            .release_lease("ilm", "pod-a", ilm.token)
            .await
            .unwrap()
    );
    let ilm = store
        .acquire_lease("ilm", "pod-c", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ilm.token, 2);
    let reply = app
        .check(
            "list_leases",
            Method::GET,
            "/_miroir/leases",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.body["total"], 3);
    for (position, lease) in [&flip, &ilm, &reshard].into_iter().enumerate() {
        let listed = &reply.body["results"][position];
        assert_eq!(listed["scope"], lease.scope.as_str());
        assert_eq!(listed["holder"], lease.holder.as_str());
        assert_eq!(listed["fencingToken"], lease.token);
        assert_eq!(listed["expiresAt"], format_rfc3339(lease.expires_at));
    }
}

async fn expired_and_released_leases_are_not_listed(app: App) {
    let store = &app.store;
    store
        .acquire_lease(
            "settings_broadcast:movies",
            "pod-a",
            Duration::from_millis(200),
        )
        .await
        .unwrap()
        .unwrap();
    let released = store
        .acquire_lease("reshard:books", "pod-b", TTL)
        .await
        .unwrap()
        .unwrap();
    store
        .release_lease("reshard:books", "pod-b", released.token)
        .await
        .unwrap();
    store
        .acquire_lease("leader", "pod-c", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.get("/_miroir/leases").await.body["total"], 2);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let reply = app
        .check(
            "list_without_expired_or_released",
            Method::GET,
            "/_miroir/leases",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.body["results"][0]["scope"], "leader");
    assert_eq!(reply.body["total"], 1);
}

async fn list_errors(app: App) {
    let reply = app
        .check(
            "list_query_parameter",
            Method::GET,
            "/_miroir/leases?scope=leader",
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_error(&reply, "bad_request");
}

async fn layers_answer_auth_and_methods(app: App) {
    check_auth(&app, Method::GET, "/_miroir/leases").await;
    for (name, method, uri, status) in [
        (
            "post_leases",
            Method::POST,
            "/_miroir/leases",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "delete_leases",
            Method::DELETE,
            "/_miroir/leases",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "get_one_lease",
            Method::GET,
            "/_miroir/leases/leader",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let reply = app.check(name, method, uri, None, status).await;
        assert!(reply.body["code"].is_string());
    }
}

async fn bad_requests_change_nothing(app: App) {
    app.store
        .acquire_lease("leader", "pod-a", TTL)
        .await
        .unwrap()
        .unwrap();
    let before = app.store.list_leases().await.unwrap();
    for (method, uri, body) in [
        (Method::GET, "/_miroir/leases?all=true", None),
        (
            Method::POST,
            "/_miroir/leases",
            Some(r#"{"scope":"x","holder":"y"}"#),
        ),
        (Method::DELETE, "/_miroir/leases", None),
        (
            Method::PUT,
            "/_miroir/leases",
            Some(r#"{"scope":"leader"}"#),
        ),
        (Method::DELETE, "/_miroir/leases/leader", None),
    ] {
        let reply = app.call(method.clone(), uri, body).await;
        assert!(reply.status.is_client_error(), "{method} {uri}");
    }
    assert_eq!(app.store.list_leases().await.unwrap(), before);
}
