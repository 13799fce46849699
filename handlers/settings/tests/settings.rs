//! The settings routes against two Meilisearch-compatible test nodes, without a server (tower
//! `oneshot`): `_miroir_shard` stays filterable on every node whatever a settings write says,
//! including a write that creates the index on the nodes (Meilisearch creates an unknown index
//! on a settings update) and a write to an index whose nodes lost it; clients never see it.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use miroir_core::Config;
use miroir_core::node::{self, NodeClient};
use miroir_core::routing::Topology;
use miroir_http::AppState;
use miroir_test_support::meilisearch::TestNode;
use miroir_test_support::route_kit::{sqlite_store, test_fleet};
use serde_json::{Value, json};
use tower::ServiceExt;

const SHARD_FIELD: &str = "_miroir_shard";

struct Fleet {
    nodes: Vec<TestNode>,
    config: Config,
    router: Router,
}

impl Fleet {
    async fn start() -> Self {
        let (nodes, mut config) = test_fleet(2, 4).await;
        config.replication_factor = 2;
        let state = AppState::start(
            sqlite_store().await,
            config.clone(),
            Duration::from_secs(60),
        )
        .await;
        Self {
            router: miroir_handler_settings::router(state),
            config,
            nodes,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
        let response = self
            .router
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

    /// Sends a write through Miroir, expects 202, and waits until every node applied it.
    async fn write(&self, method: &str, path: &str, body: Option<Value>) {
        let (status, answer) = self.call(method, path, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{method} {path}: {answer}");
        self.settle().await;
    }

    async fn settle(&self) {
        for node in &self.nodes {
            assert!(node.wait_for_tasks(Duration::from_secs(10)).await);
        }
    }

    /// Each node's `filterableAttributes` for `index`.
    fn filterable(&self, index: &str) -> Vec<Value> {
        self.nodes
            .iter()
            .map(|node| node.settings(index).unwrap()["filterableAttributes"].clone())
            .collect()
    }

    /// Sends `method path body` to node `index` directly, bypassing Miroir.
    async fn direct(&self, index: usize, method: &str, path: &str, body: Value) -> Value {
        let client = NodeClient::new(None, Duration::from_secs(5)).unwrap();
        let topology = Topology::from_config(&self.config);
        let method = node::Method::from_bytes(method.as_bytes()).unwrap();
        let response = client
            .call(
                topology.node(index),
                method,
                path,
                Some(body.to_string().into_bytes()),
            )
            .await
            .unwrap();
        response.json().unwrap()
    }

    /// Whether node `index` accepts a search of `index_uid` filtered by `_miroir_shard`, the
    /// filter shard-scoped reads send.
    async fn shard_filter_accepted(&self, index: usize, index_uid: &str) -> bool {
        let client = NodeClient::new(None, Duration::from_secs(5)).unwrap();
        let topology = Topology::from_config(&self.config);
        let body = json!({"q": "", "filter": format!("{SHARD_FIELD} IN [0, 1]")});
        client
            .call(
                topology.node(index),
                node::Method::POST,
                &format!("/indexes/{index_uid}/search"),
                Some(body.to_string().into_bytes()),
            )
            .await
            .is_ok()
    }
}

/// The bug the schemathesis run found: `PATCH /indexes/{uid}/settings` of an unknown index
/// without `filterableAttributes` created the index on the nodes without `_miroir_shard`, and
/// every shard-scoped search of it then failed with the node's `invalid_search_filter` naming
/// the internal filter.
#[tokio::test(flavor = "multi_thread")]
async fn a_settings_write_creating_the_index_keeps_the_shard_field_filterable() {
    let fleet = Fleet::start().await;
    fleet
        .write(
            "PATCH",
            "/indexes/fresh/settings",
            Some(json!({"synonyms": {"film": ["movie"]}})),
        )
        .await;
    assert_eq!(
        fleet.filterable("fresh"),
        vec![json!([SHARD_FIELD]), json!([SHARD_FIELD])]
    );
    for node in 0..2 {
        assert!(fleet.shard_filter_accepted(node, "fresh").await);
    }
    // A sub-route write and a one-setting reset creating another index do the same.
    fleet
        .write(
            "PUT",
            "/indexes/other/settings/stop-words",
            Some(json!(["the"])),
        )
        .await;
    fleet
        .write("DELETE", "/indexes/third/settings/synonyms", None)
        .await;
    for index in ["other", "third"] {
        assert_eq!(
            fleet.filterable(index),
            vec![json!([SHARD_FIELD]), json!([SHARD_FIELD])],
            "{index}"
        );
    }
    // The client never sees the field.
    let (status, settings) = fleet.call("GET", "/indexes/fresh/settings", None).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["filterableAttributes"], json!([]));
    assert_eq!(settings["synonyms"], json!({"film": ["movie"]}));
    let (_, filterable) = fleet
        .call("GET", "/indexes/fresh/settings/filterable-attributes", None)
        .await;
    assert_eq!(filterable, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn client_filterable_attributes_keep_the_shard_field_and_other_writes_keep_theirs() {
    let fleet = Fleet::start().await;
    fleet
        .write(
            "PUT",
            "/indexes/movies/settings/filterable-attributes",
            Some(json!(["genre"])),
        )
        .await;
    fleet
        .write(
            "PATCH",
            "/indexes/movies/settings",
            Some(json!({"sortableAttributes": ["year"]})),
        )
        .await;
    // The test node keeps sets sorted, as Meilisearch does.
    assert_eq!(
        fleet.filterable("movies"),
        vec![json!([SHARD_FIELD, "genre"]), json!([SHARD_FIELD, "genre"])]
    );
    let (_, filterable) = fleet
        .call(
            "GET",
            "/indexes/movies/settings/filterable-attributes",
            None,
        )
        .await;
    assert_eq!(filterable, json!(["genre"]));
    fleet
        .write("DELETE", "/indexes/movies/settings", None)
        .await;
    assert_eq!(
        fleet.filterable("movies"),
        vec![json!([SHARD_FIELD]), json!([SHARD_FIELD])]
    );
}

/// An index whose nodes lost `_miroir_shard` (changed on a node directly) is repaired by the next
/// settings write through Miroir, keeping the node's other filterable attributes.
#[tokio::test(flavor = "multi_thread")]
async fn a_settings_write_repairs_an_index_that_lost_the_shard_field() {
    let fleet = Fleet::start().await;
    fleet
        .direct(
            1,
            "PATCH",
            "/indexes/legacy/settings",
            json!({"filterableAttributes": ["genre"]}),
        )
        .await;
    fleet
        .direct(
            0,
            "PATCH",
            "/indexes/legacy/settings",
            json!({"filterableAttributes": [SHARD_FIELD, "genre"]}),
        )
        .await;
    fleet.settle().await;
    assert!(!fleet.shard_filter_accepted(1, "legacy").await);
    fleet
        .write(
            "PATCH",
            "/indexes/legacy/settings",
            Some(json!({"rankingRules": ["words", "typo"]})),
        )
        .await;
    assert_eq!(
        fleet.filterable("legacy"),
        vec![json!([SHARD_FIELD, "genre"]), json!([SHARD_FIELD, "genre"])]
    );
    assert!(fleet.shard_filter_accepted(1, "legacy").await);
}
