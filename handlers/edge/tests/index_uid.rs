//! Index uids in paths, through the whole `miroir_edge::app` router (tower `oneshot`, raw
//! request targets: nothing normalizes them on the way) over two Meilisearch-compatible test
//! nodes: a path value outside Meilisearch's index uid rule — `.` and `..` as sent or
//! percent-encoded, `a.b`, `a/b`, 401 bytes — is answered with Meilisearch's own 400
//! `invalid_index_uid` on every route that names an index, and nothing reaches a node. Before
//! the fix, `DELETE /indexes/./documents` reached every node as `DELETE /indexes/documents`
//! (the URL parser collapses dot segments) and emptied the index named `documents`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use miroir_core::IndexUid;
use miroir_core::config::Secret;
use miroir_http::AppState;
use miroir_test_support::meilisearch::TestNode;
use miroir_test_support::route_kit::{sqlite_store, test_fleet};
use serde_json::{Value, json};
use tower::ServiceExt;

const MASTER_KEY: &str = "index-uid-tests-master-key";

/// Two test nodes (one replica group, RF 1) behind the whole app, holding the indexes
/// `documents` and `movies` with one document each.
struct Fleet {
    nodes: Vec<TestNode>,
    app: Router,
}

impl Fleet {
    async fn start() -> Self {
        let (nodes, mut config) = test_fleet(2, 4).await;
        config.master_key = Secret::new(MASTER_KEY);
        let state = AppState::start(sqlite_store().await, config, Duration::from_secs(60)).await;
        let fleet = Self {
            app: miroir_edge::app(&state),
            nodes,
        };
        for index in ["documents", "movies"] {
            fleet
                .accepted(
                    Method::POST,
                    "/indexes",
                    Some(json!({"uid": index, "primaryKey": "id"})),
                )
                .await;
            fleet
                .accepted(
                    Method::POST,
                    &format!("/indexes/{index}/documents"),
                    Some(json!([{"id": 1, "title": index}])),
                )
                .await;
        }
        fleet
    }

    /// `method uri` with the master key, `uri` used as the request target exactly as written.
    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {MASTER_KEY}"));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A write expected to be accepted, then applied by every node.
    async fn accepted(&self, method: Method, uri: &str, body: Option<Value>) {
        let (status, answer) = self.call(method.clone(), uri, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{method} {uri}: {answer}");
        for node in &self.nodes {
            assert!(node.wait_for_tasks(Duration::from_secs(10)).await);
        }
    }

    /// Every request the nodes received so far.
    fn node_requests(&self) -> usize {
        let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
        self.nodes
            .iter()
            .flat_map(|node| methods.map(|method| node.request_count(method, "/")))
            .sum()
    }

    /// The documents of `index` over every node.
    fn documents(&self, index: &str) -> usize {
        self.nodes
            .iter()
            .map(|node| node.document_count(index))
            .sum()
    }
}

/// Requests naming an index outside the rule: (method, raw request target, body, the uid the
/// refusal names).
fn bad_requests() -> Vec<(Method, String, Option<Value>, String)> {
    let long = "a".repeat(IndexUid::MAX_BYTES + 1);
    let mut requests = vec![
        (Method::DELETE, "/indexes/./documents", None, "."),
        (Method::DELETE, "/indexes/../documents", None, ".."),
        (Method::DELETE, "/indexes/%2E/documents", None, "."),
        (Method::DELETE, "/indexes/%2E%2E/documents", None, ".."),
        (Method::DELETE, "/indexes/%2e./documents", None, ".."),
        (Method::DELETE, "/indexes/./documents/1", None, "."),
        (Method::GET, "/indexes/..", None, ".."),
        (Method::GET, "/indexes/.", None, "."),
        (Method::GET, "/indexes/a.b", None, "a.b"),
        (Method::GET, "/indexes/a%2Fb", None, "a/b"),
        (Method::GET, "/indexes/%C3%A9", None, "é"),
        (Method::DELETE, "/indexes/..", None, ".."),
        (
            Method::PATCH,
            "/indexes/%2E",
            Some(json!({"primaryKey": "id"})),
            ".",
        ),
        (Method::GET, "/indexes/../stats", None, ".."),
        (Method::POST, "/indexes/a.b/search", Some(json!({})), "a.b"),
        (Method::GET, "/indexes/%2E%2E/search?q=x", None, ".."),
        (Method::PATCH, "/indexes/%2E/settings", Some(json!({})), "."),
        (Method::DELETE, "/indexes/./settings", None, "."),
        (Method::GET, "/indexes/../settings/synonyms", None, ".."),
        (
            Method::PUT,
            "/indexes/%2E/settings/synonyms",
            Some(json!({})),
            ".",
        ),
        (Method::GET, "/indexes/x%20y/documents", None, "x y"),
        (
            Method::POST,
            "/indexes/./documents",
            Some(json!([{"id": 2}])),
            ".",
        ),
        (
            Method::PUT,
            "/indexes/../documents",
            Some(json!([{"id": 2}])),
            "..",
        ),
        (
            Method::POST,
            "/indexes/../documents/fetch",
            Some(json!({})),
            "..",
        ),
        (
            Method::POST,
            "/indexes/./documents/delete-batch",
            Some(json!([1])),
            ".",
        ),
        (
            Method::POST,
            "/indexes/%2E/documents/delete",
            Some(json!({"filter": "id = 1"})),
            ".",
        ),
        (Method::GET, "/indexes/../documents/1", None, ".."),
        (Method::GET, "/_miroir/ui/search/../config", None, ".."),
        (
            Method::PUT,
            "/_miroir/cdc/cursors/kafka/%2E",
            Some(json!({"cursor": 1})),
            ".",
        ),
    ]
    .into_iter()
    .map(|(method, uri, body, uid)| (method, uri.to_owned(), body, uid.to_owned()))
    .collect::<Vec<_>>();
    requests.push((Method::GET, format!("/indexes/{long}"), None, long.clone()));
    requests.push((
        Method::DELETE,
        format!("/indexes/{long}/documents"),
        None,
        long,
    ));
    requests
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_index_uids_are_refused_and_never_reach_a_node() {
    let fleet = Fleet::start().await;
    let before = fleet.node_requests();
    for (method, uri, body, uid) in bad_requests() {
        let (status, answer) = fleet.call(method.clone(), &uri, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: {answer}");
        assert_eq!(answer, IndexUid::invalid(&uid).to_json(), "{method} {uri}");
    }
    // Document ids and setting names that are dot segments: refused by their own rules.
    for (method, uri, status, code) in [
        (
            Method::GET,
            "/indexes/movies/documents/..",
            StatusCode::BAD_REQUEST,
            "invalid_document_id",
        ),
        (
            Method::DELETE,
            "/indexes/movies/documents/%2E%2E",
            StatusCode::BAD_REQUEST,
            "invalid_document_id",
        ),
        (
            Method::DELETE,
            "/indexes/movies/settings/..",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        let (answered, answer) = fleet.call(method.clone(), uri, None).await;
        assert_eq!(answered, status, "{method} {uri}: {answer}");
        assert_eq!(answer["code"], code, "{method} {uri}");
    }
    assert_eq!(
        fleet.node_requests(),
        before,
        "a refused request reached a node"
    );
    assert_eq!(fleet.documents("documents"), 1);
    assert_eq!(fleet.documents("movies"), 1);
    // The longest valid uid is not refused by the check (the nodes do not know it).
    let (status, answer) = fleet
        .call(Method::GET, &format!("/indexes/{}", "a".repeat(400)), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["code"], "index_not_found");
}

/// Every route of the OpenAPI document whose path names an index (`{uid}` or `{index}`)
/// refuses `..` and `%2E` there, whatever its method: a route added later without the
/// `IndexPath` extractor fails this test.
#[tokio::test(flavor = "multi_thread")]
async fn every_route_naming_an_index_checks_it() {
    let fleet = Fleet::start().await;
    let before = fleet.node_requests();
    let document = serde_json::to_value(miroir_edge::openapi()).unwrap();
    let mut checked = 0;
    for (template, item) in document["paths"].as_object().unwrap() {
        if !template.contains("{uid}") && !template.contains("{index}") {
            continue;
        }
        // A task's or a batch's `{uid}` is a number, not an index.
        if template.starts_with("/tasks") || template.starts_with("/batches") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if !matches!(
                method,
                Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE
            ) {
                continue;
            }
            for (spelled, uid) in [("..", ".."), ("%2E", ".")] {
                let uri = template
                    .replace("{uid}", spelled)
                    .replace("{index}", spelled)
                    .replace("{id}", "1")
                    .replace("{name}", "synonyms")
                    .replace("{sink}", "kafka");
                let (status, answer) = fleet.call(method.clone(), &uri, Some(json!({}))).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: {answer}");
                assert_eq!(answer, IndexUid::invalid(uid).to_json(), "{method} {uri}");
                checked += 1;
            }
        }
    }
    // 22 client operations and 3 operator ones name an index today, each tried twice.
    assert!(checked >= 2 * 25, "only {checked} requests checked");
    assert_eq!(
        fleet.node_requests(),
        before,
        "a refused request reached a node"
    );
    assert_eq!(fleet.documents("documents"), 1);
}
