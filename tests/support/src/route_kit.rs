//! The route-test kit: what every handler crate's `tests/routes.rs` shares to test its routes
//! without a server (tower `oneshot`), behind the production layers, on a migrated store of each
//! backend.
//!
//! Plain items live here: the store factories ([`sqlite_store`], [`redis_store`]), the
//! wire-order JSON value ([`Wire`]), an answer ([`Reply`]), what a snapshot holds ([`Snapshot`]),
//! the standard app of the admin-key routes ([`RouteApp`], [`Routes`]) and its assertions
//! ([`assert_error`], [`check_auth`]). Two macros expand in the calling crate, because what they
//! produce must belong to it: [`route_suite!`](crate::route_suite) (the `#[tokio::test]`s) and
//! [`assert_route_snapshot!`](crate::assert_route_snapshot) (insta resolves a snapshot's file from
//! where its macro expands: `tests/snapshots/<name>.snap` next to the caller's `routes.rs`).
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use miroir_core::Config;
use miroir_core::config::{NodeConfig, Secret};
use miroir_http::timefmt::parse_rfc3339;
use miroir_http::{AppState, apply_layers};
use miroir_store::DynStore;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::ServiceExt;

use crate::meilisearch::{TestNode, TestNodeOptions};

/// Expands to one `#[tokio::test]` (multi-threaded, two workers) per listed case for each
/// backend: a module `sqlite` whose tests run on a fresh [`sqlite_store`], and a module `redis`
/// whose tests run on a fresh [`redis_store`] under `prefix`. Each test calls
/// `super::<case>(app(store).await).await`, the case next to the invocation; `app` is an
/// expression (a path or a closure) called with the store and returning a future of the case's
/// argument. Paths in `prefix` and `app` are resolved inside the backend modules: write them
/// from `crate::`.
///
/// ```ignore
/// miroir_test_support::route_suite!(
///     prefix: crate::PREFIX,
///     app: crate::App::new,
///     cases: [list_of_an_empty_store, create_then_get],
/// );
/// ```
#[macro_export]
macro_rules! route_suite {
    (prefix: $prefix:expr, app: $app:expr, cases: [$($case:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = $crate::route_kit::sqlite_store().await;
                    super::$case(($app)(store).await).await;
                }
            )*
        }
        mod redis {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = $crate::route_kit::redis_store($prefix).await;
                    super::$case(($app)(store).await).await;
                }
            )*
        }
    };
}

/// Asserts that `value` (any `Serialize`, usually a [`Snapshot`]) matches the insta snapshot
/// `tests/snapshots/<name>.snap` next to the calling file, the same file for every backend: no
/// module prefix, no expression, `request` as the description. Optional insta redactions
/// (`{ ".body.createdAt" => "[date]" }`) are passed on as they are. It expands in the caller so
/// that insta finds the caller's snapshots; the caller needs `insta` as a dev-dependency.
#[macro_export]
macro_rules! assert_route_snapshot {
    ($name:expr, $request:expr, $value:expr $(, { $($selector:expr => $redaction:expr),* $(,)? })? $(,)?) => {
        ::insta::with_settings!({
            prepend_module_to_snapshot => false,
            snapshot_path => "snapshots",
            description => $request,
            omit_expression => true,
        }, {
            ::insta::assert_json_snapshot!($name, $value $(, { $($selector => $redaction),* })?);
        });
    };
}

/// A fresh in-memory SQLite store, migrated. Each call opens its own database.
pub async fn sqlite_store() -> DynStore {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A fresh key prefix (from `label`, see [`unique_prefix`](crate::unique_prefix)) on the shared
/// test Redis ([`shared_redis`](crate::shared_redis)), migrated: no other call sees its keys.
pub async fn redis_store(label: &str) -> DynStore {
    let server = crate::shared_redis();
    let prefix = crate::unique_prefix(label);
    let url = server.store_url(&prefix, Duration::from_secs(2));
    let store = miroir_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// `count` fresh Meilisearch-compatible test nodes and a configuration routing to them: one
/// replica group, replication factor 1, `shards` shards, node ids `meili-0`, `meili-1`, …; the
/// rest of the configuration is the default (set keys on the returned value).
pub async fn test_fleet(count: usize, shards: u32) -> (Vec<TestNode>, Config) {
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(TestNode::start(TestNodeOptions::default()).await.unwrap());
    }
    let config = Config {
        shards,
        replication_factor: 1,
        nodes: nodes
            .iter()
            .enumerate()
            .map(|(index, node)| NodeConfig {
                id: format!("meili-{index}"),
                address: node.url(),
                replica_group: 0,
            })
            .collect(),
        ..Config::default()
    };
    (nodes, config)
}

// ---------------------------------------------------------------- JSON in wire order

/// A JSON value that keeps object keys in the order they came in (a [`Value`] sorts them), so
/// snapshots show the field order clients see. Deserializing then serializing it gives back the
/// same keys in the same order.
#[derive(Clone, Debug, PartialEq)]
pub enum Wire {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as `serde_json` reads it.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array, in order.
    Array(Vec<Wire>),
    /// An object, its entries in the order they were sent.
    Object(Vec<(String, Wire)>),
}

impl Wire {
    /// A copy in which the value of every object key in `volatile` (dates and durations that
    /// depend on the clock) is `"[date]"`, after asserting it is an RFC 3339 date, or
    /// `"[duration]"` for an ISO 8601 duration (`PT…`). Everything else is kept as
    /// it is, in order.
    pub fn redacted(&self, volatile: &[&str]) -> Wire {
        match self {
            Self::Array(items) => {
                Self::Array(items.iter().map(|item| item.redacted(volatile)).collect())
            }
            Self::Object(entries) => Self::Object(
                entries
                    .iter()
                    .map(|(key, value)| {
                        let value = match value {
                            // An ISO 8601 duration that depends on the clock (`PT0.001S`).
                            Self::String(duration)
                                if volatile.contains(&key.as_str())
                                    && duration.starts_with("PT") =>
                            {
                                Self::String("[duration]".to_owned())
                            }
                            Self::String(date) if volatile.contains(&key.as_str()) => {
                                assert!(parse_rfc3339(date).is_some(), "{key}: {date}");
                                Self::String("[date]".to_owned())
                            }
                            other => other.redacted(volatile),
                        };
                        (key.clone(), value)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
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

// ---------------------------------------------------------------- answers and snapshots

/// One answer: its status and JSON body (`null` when empty), parsed twice: as a [`Value`] to
/// query, and as [`Wire`] to snapshot with its keys in the order they were sent.
#[derive(Debug, PartialEq)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body, `Value::Null` when empty.
    pub body: Value,
    /// The body in wire order, `Wire::Null` when empty.
    pub wire: Wire,
}

impl Reply {
    /// Reads `response` whole. Asserts that a non-empty body is sent as `application/json` and
    /// parses as JSON.
    pub async fn read(response: Response) -> Self {
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        if bytes.is_empty() {
            return Self {
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
        Self {
            status,
            body: serde_json::from_slice(&bytes).unwrap(),
            wire: serde_json::from_slice(&bytes).unwrap(),
        }
    }
}

/// What a snapshot holds: the status and the body as sent (or a redacted copy of it), serialized
/// as `{"status": …, "body": …}`.
#[derive(Debug, Serialize)]
pub struct Snapshot<'a> {
    /// The status code.
    pub status: u16,
    /// The body, in wire order.
    pub body: Cow<'a, Wire>,
}

impl<'a> Snapshot<'a> {
    /// `reply`'s status and body as sent.
    pub fn of(reply: &'a Reply) -> Self {
        Self {
            status: reply.status.as_u16(),
            body: Cow::Borrowed(&reply.wire),
        }
    }

    /// `reply`'s status and body with the dates under the `volatile` keys redacted
    /// ([`Wire::redacted`]).
    pub fn redacted(reply: &Reply, volatile: &[&str]) -> Snapshot<'static> {
        Snapshot {
            status: reply.status.as_u16(),
            body: Cow::Owned(reply.wire.redacted(volatile)),
        }
    }
}

/// Asserts that `reply` is a Meilisearch-shaped error with `code`: its `link` names the code and
/// its keys are exactly `message`, `code`, `type`, `link`, in that order.
pub fn assert_error(reply: &Reply, code: &str) {
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

/// Asserts that `reply` is exactly Meilisearch's `invalid_request` error: `status`, `code` and
/// `message` (`what` names the case in failures).
pub fn assert_refusal(reply: &Reply, status: StatusCode, code: &str, message: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {reply:?}");
    assert_eq!(
        reply.body,
        serde_json::json!({
            "message": message,
            "code": code,
            "type": "invalid_request",
            "link": format!("https://docs.meilisearch.com/errors#{code}"),
        }),
        "{what}"
    );
}

// ---------------------------------------------------------------- the standard app

/// The admin key [`RouteApp`] configures; [`RouteApp::call`] sends it.
pub const ADMIN_KEY: &str = "route-tests-admin-key";

/// What a crate's routes test needs to build its [`RouteApp`].
#[derive(Clone, Copy)]
pub struct Routes {
    /// The crate's router.
    pub router: fn(AppState) -> Router,
    /// The configuration of every case ([`ADMIN_KEY`] is added to it).
    pub config: fn() -> Config,
    /// The caller's snapshot assertion (`request` is the description), usually a function
    /// around [`assert_route_snapshot!`](crate::assert_route_snapshot) so that the snapshot files
    /// are the caller's.
    pub snapshot: fn(name: &str, request: &str, reply: &Reply),
}

/// The routes under test on one store, behind the production layers with [`ADMIN_KEY`].
pub struct RouteApp {
    /// The layered router.
    pub router: Router,
    /// The store the routes run on.
    pub store: DynStore,
    routes: Routes,
}

impl RouteApp {
    /// `routes` on `store`, with the routes' configuration.
    pub async fn new(routes: Routes, store: DynStore) -> Self {
        Self::with_config(routes, store, (routes.config)()).await
    }

    /// `routes` on `store`, with `config` plus [`ADMIN_KEY`].
    pub async fn with_config(routes: Routes, store: DynStore, mut config: Config) -> Self {
        config.admin.api_key = Secret::new(ADMIN_KEY);
        let state = AppState::start(store.clone(), config, Duration::from_secs(60)).await;
        Self {
            router: apply_layers((routes.router)(state.clone()), &state),
            store,
            routes,
        }
    }

    /// `method uri` with the admin key and, when given, `body` as JSON.
    pub async fn call(&self, method: Method, uri: &str, body: Option<&str>) -> Reply {
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
    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None).await
    }

    /// Sends `request` as it is ([`Reply::read`]).
    pub async fn send(&self, request: Request<Body>) -> Reply {
        Reply::read(self.router.clone().oneshot(request).await.unwrap()).await
    }

    /// [`RouteApp::call`], asserting `status` and that `{status, body}` matches snapshot `name`
    /// (through [`Routes::snapshot`], described as `method uri [body]`).
    pub async fn check(
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
        (self.routes.snapshot)(name, &request, &reply);
        reply
    }
}

/// Asserts the shared auth layer's answers on `method uri` (asserted, not snapshot: their
/// messages belong to the layer, whose own tests pin them): without an admin key and with a
/// wrong one, `401` with a `miroir_invalid_auth` error ([`assert_error`]).
pub async fn check_auth(app: &RouteApp, method: Method, uri: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_keeps_the_key_order_both_ways() {
        let text = r#"{"zeta":1,"alpha":[true,null,-2,1.5,"x"],"mid":{"b":{},"a":[]}}"#;
        let wire: Wire = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&wire).unwrap(), text);
    }

    #[test]
    fn redaction_replaces_only_volatile_dates() {
        let wire: Wire = serde_json::from_str(
            r#"[{"updatedAt":"2026-04-18T10:00:00Z","name":"updatedAt","n":{"updatedAt":"2026-04-18T10:00:00.5Z"}}]"#,
        )
        .unwrap();
        let redacted = serde_json::to_string(&wire.redacted(&["updatedAt"])).unwrap();
        assert_eq!(
            redacted,
            r#"[{"updatedAt":"[date]","name":"updatedAt","n":{"updatedAt":"[date]"}}]"#
        );
    }

    #[test]
    #[should_panic(expected = "updatedAt: yesterday")]
    fn redaction_refuses_a_volatile_value_that_is_not_a_date() {
        let wire: Wire = serde_json::from_str(r#"{"updatedAt":"yesterday"}"#).unwrap();
        let _ = wire.redacted(&["updatedAt"]);
    }
}
