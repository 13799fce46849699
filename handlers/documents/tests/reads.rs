//! The document list routes (`GET /indexes/{uid}/documents`, `POST …/documents/fetch`) against
//! two Meilisearch-compatible test nodes, without a server (tower `oneshot`), on a migrated store
//! of each backend.
//!
//! Every case is an `async fn(App)` written once; the route-test kit's `route_suite!` runs the
//! whole list on a fresh in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a
//! real Redis (`redis::…`).
//! The documents are written through Miroir's own write route, so they carry `_miroir_shard` and
//! sit on the nodes their shard is placed on. What is checked: `offset`/`limit` anywhere in `u64`
//! answer 200 (a `limit` above 1000 served as 1000), anything else Meilisearch's own error (the
//! messages are those Meilisearch 1.50 answers), never a 500 or a panic, and a refused request
//! reaches no node.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use miroir_http::AppState;
use miroir_store::DynStore;
use miroir_test_support::meilisearch::TestNode;
use miroir_test_support::route_kit::{Reply, assert_refusal, test_fleet};
use serde_json::{Value, json};
use tower::ServiceExt;

miroir_test_support::route_suite!(
    prefix: "documents-reads",
    app: crate::App::new,
    cases: [
        out_of_range_windows_answer_a_page_or_meilisearch_errors,
        pages_hold_at_most_1000_documents,
    ],
);

const INDEX: &str = "movies";
const LIST: &str = "/indexes/movies/documents";
const FETCH: &str = "/indexes/movies/documents/fetch";
/// `u64::MAX`, the largest `offset`/`limit` Meilisearch (a 64-bit `usize`) accepts.
const MAX: &str = "18446744073709551615";

/// The document routes over two test nodes (4 shards, one replica each) on one store.
struct App {
    nodes: Vec<TestNode>,
    router: Router,
}

impl App {
    async fn new(store: DynStore) -> Self {
        let (nodes, config) = test_fleet(2, 4).await;
        let state = AppState::start(store, config, Duration::from_secs(60)).await;
        Self {
            router: miroir_handler_documents::router(state),
            nodes,
        }
    }

    /// `method uri` with an optional JSON body (sent as written, so numbers too large for a
    /// `u64` or an `f64` reach the route unchanged).
    async fn send(&self, method: Method, uri: &str, body: Option<&str>) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_owned())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        Reply::read(response).await
    }

    async fn list(&self, query: &str) -> Reply {
        self.send(Method::GET, &format!("{LIST}?{query}"), None)
            .await
    }

    async fn fetch(&self, body: &str) -> Reply {
        self.send(Method::POST, FETCH, Some(body)).await
    }

    /// Adds `count` documents (ids `0..count`) through Miroir and waits until the nodes hold them.
    async fn seed(&self, count: usize) {
        let documents: Vec<Value> = (0..count)
            .map(|id| json!({"id": id, "title": format!("movie {id}")}))
            .collect();
        let reply = self
            .send(
                Method::POST,
                &format!("{LIST}?primaryKey=id"),
                Some(&Value::from(documents).to_string()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
        for node in &self.nodes {
            assert!(node.wait_for_tasks(Duration::from_secs(10)).await);
        }
        let held: usize = self.nodes.iter().map(|n| n.document_count(INDEX)).sum();
        assert_eq!(held, count);
    }

    /// Document fetches the nodes received so far.
    fn node_fetches(&self) -> usize {
        self.nodes
            .iter()
            .map(|node| node.request_count("POST", FETCH))
            .sum()
    }
}

/// The ids of a page, in order.
fn ids(reply: &Reply) -> Vec<u64> {
    reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|document| document["id"].as_u64().unwrap())
        .collect()
}

/// Asserts a 200 page with `offset`, `limit`, `total` and `count` results, no reserved field.
fn assert_page(reply: &Reply, offset: u64, limit: u64, total: u64, count: usize, what: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{what}: {reply:?}");
    assert_eq!(reply.body["offset"], offset, "{what}");
    assert_eq!(reply.body["limit"], limit, "{what}");
    assert_eq!(reply.body["total"], total, "{what}");
    let results = reply.body["results"].as_array().unwrap();
    assert_eq!(results.len(), count, "{what}");
    assert!(
        results
            .iter()
            .all(|document| document.get("_miroir_shard").is_none()),
        "{what}"
    );
}

async fn out_of_range_windows_answer_a_page_or_meilisearch_errors(app: App) {
    app.seed(25).await;
    let max = u64::MAX;

    // Anything in `u64` is a page: `offset` echoed, `limit` the one applied.
    let pages: &[(&str, u64, u64, usize)] = &[
        (&format!("limit={MAX}"), 0, 1000, 25),
        (&format!("offset={MAX}"), max, 20, 0),
        (&format!("offset={MAX}&limit={MAX}"), max, 1000, 0),
        (&format!("offset=24&limit={MAX}"), 24, 1000, 1),
        ("offset=18446744073709551000&limit=1000", max - 615, 1000, 0),
        ("limit=4294967296", 0, 1000, 25),
        ("offset=10&limit=0", 10, 0, 0),
    ];
    for (query, offset, limit, count) in pages {
        let reply = app.list(query).await;
        assert_page(&reply, *offset, *limit, 25, *count, query);
    }
    let bodies: &[(&str, u64, u64, usize)] = &[
        (&format!(r#"{{"limit": {MAX}}}"#), 0, 1000, 25),
        (&format!(r#"{{"offset": {MAX}}}"#), max, 20, 0),
        (
            &format!(r#"{{"offset": {MAX}, "limit": {MAX}}}"#),
            max,
            1000,
            0,
        ),
        (&format!(r#"{{"offset": 20, "limit": {MAX}}}"#), 20, 1000, 5),
    ];
    for (body, offset, limit, count) in bodies {
        let reply = app.fetch(body).await;
        assert_page(&reply, *offset, *limit, 25, *count, body);
    }

    // Anything else is Meilisearch's refusal, and no node is asked.
    let before = app.node_fetches();
    let refused_queries = [
        (
            "limit=18446744073709551616",
            "invalid_document_limit",
            "limit",
        ),
        (
            "limit=99999999999999999999",
            "invalid_document_limit",
            "limit",
        ),
        ("limit=-1", "invalid_document_limit", "limit"),
        ("limit=1.5", "invalid_document_limit", "limit"),
        ("limit=", "invalid_document_limit", "limit"),
        (
            "offset=18446744073709551616",
            "invalid_document_offset",
            "offset",
        ),
        ("offset=-1", "invalid_document_offset", "offset"),
        ("offset=x", "invalid_document_offset", "offset"),
    ];
    for (query, code, name) in refused_queries {
        let value = query.split_once('=').unwrap().1;
        let reply = app.list(query).await;
        let message = format!(
            "Invalid value in parameter `{name}`: could not parse `{value}` as a positive integer"
        );
        assert_refusal(&reply, StatusCode::BAD_REQUEST, code, &message, query);
    }
    let type_error = |name: &str, found: &str| {
        format!("Invalid value type at `.{name}`: expected a positive integer, but found {found}")
    };
    let refused_bodies = [
        (r#"{"limit": 1e30}"#, "limit", "a number: `1e+30`"),
        (
            r#"{"limit": 18446744073709551616}"#,
            "limit",
            "a number: `1.8446744073709552e+19`",
        ),
        (
            r#"{"limit": 99999999999999999999}"#,
            "limit",
            "a number: `1e+20`",
        ),
        (r#"{"limit": -1}"#, "limit", "a negative integer: `-1`"),
        (r#"{"limit": null}"#, "limit", "null"),
        (r#"{"offset": 1e30}"#, "offset", "a number: `1e+30`"),
        (
            r#"{"offset": 18446744073709551616}"#,
            "offset",
            "a number: `1.8446744073709552e+19`",
        ),
        (r#"{"offset": -1}"#, "offset", "a negative integer: `-1`"),
        (r#"{"offset": "1"}"#, "offset", "a string: `\"1\"`"),
    ];
    for (body, name, found) in refused_bodies {
        let reply = app.fetch(body).await;
        let code = format!("invalid_document_{name}");
        assert_refusal(
            &reply,
            StatusCode::BAD_REQUEST,
            &code,
            &type_error(name, found),
            body,
        );
    }
    assert_eq!(
        app.node_fetches(),
        before,
        "a refused request reached a node"
    );
}

async fn pages_hold_at_most_1000_documents(app: App) {
    assert_eq!(
        miroir_handler_documents::MAX_LIMIT,
        1000,
        "the cap the README and OpenAPI document state"
    );
    app.seed(1005).await;
    let mut seen = BTreeSet::new();
    for (query, offset, count) in [("limit=5000", 0, 1000), ("offset=1000&limit=1001", 1000, 5)] {
        let reply = app.list(query).await;
        assert_page(&reply, offset, 1000, 1005, count, query);
        seen.extend(ids(&reply));
    }
    assert_eq!(seen, (0..1005).collect(), "every document once");
    let fetched = app.fetch(r#"{"limit": 1000000, "offset": 3}"#).await;
    assert_page(&fetched, 3, 1000, 1005, 1000, "fetch");
    let exact = app.list("limit=1000&offset=5").await;
    assert_page(&exact, 5, 1000, 1005, 1000, "exact");
    // Every page comes from one layout: positions 5..1005 are the fetch's 5..1003, then 1003..1005.
    let mut expected = ids(&fetched)[2..].to_vec();
    expected.extend(ids(&app.list("offset=1003&limit=2").await));
    assert_eq!(ids(&exact), expected);
}
