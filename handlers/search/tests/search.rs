//! The search routes against three Meilisearch-compatible test nodes, without a server (tower
//! `oneshot`): one replica group of 3 nodes, 8 shards, with RF=1 (every node answers for all it
//! holds) and RF=2 (each node holds about 2/3 of the shards, so the covering set needs the shard
//! filter). Documents are seeded directly on the nodes, placed as Miroir's write path places them.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use miroir_core::Config;
use miroir_core::config::{NodeConfig, ScatterConfig, UnavailableShardPolicy};
use miroir_core::node::{self, NodeClient, NodeError};
use miroir_core::routing::{self, Shard, Topology};
use miroir_http::AppState;
use miroir_test_support::meilisearch::{TestNode, TestNodeOptions};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};
use tower::ServiceExt;

const INDEX: &str = "movies";
const DOCUMENTS: usize = 300;
const GENRES: [&str; 3] = ["drama", "comedy", "horror"];

/// The unique word of document `id`: no other document's word starts with it.
fn word(id: usize) -> String {
    format!("u{id:03}x")
}

/// Document `id`: its unique word, and `common` at a position that varies with `id` so that
/// `q=common` gives several distinct ranking scores with many ties.
fn document(id: usize) -> Value {
    json!({
        "id": id,
        "title": format!("{}common {}", "filler ".repeat(id % 7), word(id)),
        "genre": GENRES[id % 3],
        "price": id % 50,
    })
}

/// Three test nodes holding [`DOCUMENTS`] documents placed with replication factor `rf` in
/// `groups` replica groups (node `i` in group `i % groups`).
struct Fleet {
    nodes: Vec<TestNode>,
    rf: u32,
    groups: u32,
}

impl Fleet {
    /// One replica group.
    async fn start(rf: u32) -> Self {
        Self::start_grouped(rf, 1).await
    }

    async fn start_grouped(rf: u32, groups: u32) -> Self {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(TestNode::start(TestNodeOptions::default()).await.unwrap());
        }
        let fleet = Self { nodes, rf, groups };
        fleet.seed().await;
        fleet
    }

    /// Search requests the nodes received so far.
    fn searches(&self) -> usize {
        self.nodes
            .iter()
            .map(|node| node.request_count("POST", &format!("/indexes/{INDEX}/search")))
            .sum()
    }

    fn config(&self, policy: UnavailableShardPolicy) -> Config {
        Config {
            shards: 8,
            replication_factor: self.rf,
            replica_groups: self.groups,
            nodes: self
                .nodes
                .iter()
                .enumerate()
                .map(|(index, node)| NodeConfig {
                    id: format!("meili-{index}"),
                    address: node.url(),
                    replica_group: index as u32 % self.groups,
                })
                .collect(),
            scatter: ScatterConfig {
                node_timeout_ms: 2_000,
                unavailable_shard_policy: policy,
                ..ScatterConfig::default()
            },
            ..Config::default()
        }
    }

    fn topology(&self) -> Topology {
        Topology::from_config(&self.config(UnavailableShardPolicy::Partial))
    }

    /// The node at `index` as routing sees it.
    fn node(&self, index: usize) -> routing::Node {
        self.topology().node(index).clone()
    }

    /// Sends a request straight to node `index`.
    async fn direct(
        &self,
        index: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, NodeError> {
        let client = NodeClient::new(None, Duration::from_secs(5)).unwrap();
        let method = node::Method::from_bytes(method.as_str().as_bytes()).unwrap();
        let body = body.map(|body| body.to_string().into_bytes());
        let response = client.call(&self.node(index), method, path, body).await?;
        Ok(response.json().unwrap())
    }

    /// Creates the index on every node, with settings, and adds each document to the nodes its
    /// shard is placed on, `_miroir_shard` included.
    async fn seed(&self) {
        let topology = self.topology();
        let mut batches: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
        for id in 0..DOCUMENTS {
            let shard = topology.shard_of(&id.to_string());
            let mut document = document(id);
            document["_miroir_shard"] = json!(shard);
            for group in 0..topology.groups() {
                for &node in topology.placement(group, shard) {
                    batches.entry(node).or_default().push(document.clone());
                }
            }
        }
        for index in 0..self.nodes.len() {
            let calls = [
                (
                    Method::POST,
                    "/indexes".to_owned(),
                    json!({"uid": INDEX, "primaryKey": "id"}),
                ),
                (
                    Method::PATCH,
                    format!("/indexes/{INDEX}/settings"),
                    json!({
                        "filterableAttributes": ["_miroir_shard", "genre", "price"],
                        "sortableAttributes": ["price"],
                    }),
                ),
                (
                    Method::POST,
                    format!("/indexes/{INDEX}/documents"),
                    json!(batches.get(&index).cloned().unwrap_or_default()),
                ),
            ];
            for (method, path, body) in calls {
                self.direct(index, method, &path, Some(body)).await.unwrap();
            }
        }
        for node in &self.nodes {
            assert!(node.wait_for_tasks(Duration::from_secs(10)).await);
        }
        let held: usize = self.nodes.iter().map(|n| n.document_count(INDEX)).sum();
        assert_eq!(held, DOCUMENTS * (self.rf * self.groups) as usize);
    }

    /// The shards node `index` holds.
    fn shards_on(&self, index: usize) -> BTreeSet<Shard> {
        let topology = self.topology();
        (0..topology.shards())
            .filter(|&shard| topology.placement(0, shard).contains(&index))
            .collect()
    }

    /// Miroir over these nodes with `policy`.
    async fn app(&self, policy: UnavailableShardPolicy) -> App {
        let store = miroir_store::open("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let state = AppState::start(store, self.config(policy), Duration::from_secs(60)).await;
        App {
            router: miroir_handler_search::router(state),
        }
    }
}

/// The routes under test.
struct App {
    router: Router,
}

/// One answer.
struct Reply {
    status: StatusCode,
    body: Value,
    text: String,
    degraded: Option<String>,
}

impl fmt::Debug for Reply {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.status, self.text)
    }
}

impl Reply {
    fn hits(&self) -> &Vec<Value> {
        self.body["hits"].as_array().unwrap()
    }

    fn ids(&self) -> Vec<u64> {
        self.hits()
            .iter()
            .map(|hit| hit["id"].as_u64().unwrap())
            .collect()
    }

    /// The top-level keys in the order they were sent.
    fn keys(&self) -> Vec<String> {
        top_level_keys(&self.text)
    }

    /// The body without `processingTimeMs` (which varies between runs).
    fn timeless(&self) -> Value {
        let mut body = self.body.clone();
        strip_time(&mut body);
        body
    }
}

fn strip_time(value: &mut Value) {
    if let Some(object) = value.as_object_mut() {
        object.remove("processingTimeMs");
    }
    if let Some(results) = value.get_mut("results").and_then(Value::as_array_mut) {
        results.iter_mut().for_each(strip_time);
    }
}

fn top_level_keys(text: &str) -> Vec<String> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                keys.push(key);
            }
            Ok(keys)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.deserialize_map(Keys).unwrap()
}

impl App {
    async fn send(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let degraded = response
            .headers()
            .get("x-miroir-degraded")
            .map(|value| value.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            degraded,
        }
    }

    async fn search(&self, body: Value) -> Reply {
        self.send(
            Method::POST,
            &format!("/indexes/{INDEX}/search"),
            Some(body),
        )
        .await
    }

    async fn facet_search(&self, body: Value) -> Reply {
        self.send(
            Method::POST,
            &format!("/indexes/{INDEX}/facet-search"),
            Some(body),
        )
        .await
    }

    async fn search_ok(&self, body: Value) -> Reply {
        let reply = self.search(body.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{body}: {reply:?}");
        assert_eq!(reply.degraded, None, "{body}");
        reply
    }
}

/// No hit carries a reserved field, and `_rankingScore` exactly when `score` is expected.
fn assert_clean(reply: &Reply, score: bool) {
    for hit in reply.hits() {
        let object = hit.as_object().unwrap();
        assert!(
            object.keys().all(|key| !key.starts_with("_miroir_")),
            "{hit}"
        );
        assert_eq!(object.contains_key("_rankingScore"), score, "{hit}");
    }
}

fn assert_unique(ids: &[u64]) {
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates in {ids:?}");
}

async fn every_unique_word_has_exactly_one_hit(rf: u32) {
    let fleet = Fleet::start(rf).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    for id in (0..DOCUMENTS).step_by(10) {
        let reply = app.search_ok(json!({"q": word(id)})).await;
        assert_eq!(reply.ids(), [id as u64], "{}", word(id));
        assert_eq!(reply.body["estimatedTotalHits"], json!(1));
        assert_eq!(reply.body["query"], json!(word(id)));
        assert_clean(&reply, false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unique_word_has_exactly_one_hit_rf1() {
    every_unique_word_has_exactly_one_hit(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unique_word_has_exactly_one_hit_rf2() {
    every_unique_word_has_exactly_one_hit(2).await;
}

async fn facets_count_every_document_once(rf: u32) {
    let fleet = Fleet::start(rf).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    let reply = app
        .search_ok(json!({"facets": ["genre", "price"], "limit": 0}))
        .await;
    assert_eq!(reply.body["estimatedTotalHits"], json!(DOCUMENTS));
    let genres = reply.body["facetDistribution"]["genre"]
        .as_object()
        .unwrap();
    assert_eq!(
        genres
            .values()
            .map(|count| count.as_u64().unwrap())
            .sum::<u64>(),
        DOCUMENTS as u64
    );
    assert_eq!(genres["drama"], json!(DOCUMENTS / 3));
    let prices = reply.body["facetDistribution"]["price"]
        .as_object()
        .unwrap();
    assert_eq!(prices.len(), 50);
    assert_eq!(
        prices
            .values()
            .map(|count| count.as_u64().unwrap())
            .sum::<u64>(),
        DOCUMENTS as u64
    );
    assert_eq!(
        reply.body["facetStats"],
        json!({"price": {"min": 0.0, "max": 49.0}})
    );
    assert_eq!(
        reply.keys(),
        [
            "hits",
            "query",
            "processingTimeMs",
            "limit",
            "offset",
            "estimatedTotalHits",
            "facetDistribution",
            "facetStats"
        ]
    );
    // A filter narrows the totals and the facets alike.
    let drama = app
        .search_ok(json!({"filter": "genre = drama", "facets": ["genre"], "limit": 0}))
        .await;
    assert_eq!(drama.body["estimatedTotalHits"], json!(DOCUMENTS / 3));
    assert_eq!(
        drama.body["facetDistribution"],
        json!({"genre": {"drama": DOCUMENTS / 3}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facets_count_every_document_once_rf1() {
    facets_count_every_document_once(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facets_count_every_document_once_rf2() {
    facets_count_every_document_once(2).await;
}

/// The `(value, count)` pairs of a facet-search reply, in order.
fn facet_hits(reply: &Reply) -> Vec<(String, u64)> {
    reply.body["facetHits"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply:?}"))
        .iter()
        .map(|hit| {
            (
                hit["value"].as_str().unwrap().to_owned(),
                hit["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Every genre with how many of the documents `keep` accepts hold it, in alpha order.
fn genre_counts(keep: impl Fn(usize) -> bool) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for id in (0..DOCUMENTS).filter(|&id| keep(id)) {
        *counts.entry(GENRES[id % 3].to_owned()).or_default() += 1;
    }
    counts.into_iter().collect()
}

async fn facet_search_counts_every_document_once(rf: u32) {
    let fleet = Fleet::start(rf).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    let reply = app.facet_search(json!({"facetName": "genre"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.degraded, None);
    assert_eq!(facet_hits(&reply), genre_counts(|_| true));
    assert_eq!(
        reply.keys(),
        ["facetHits", "facetQuery", "processingTimeMs"]
    );
    assert_eq!(reply.body["facetQuery"], Value::Null);
    let requests: usize = fleet
        .nodes
        .iter()
        .map(|node| node.request_count("POST", &format!("/indexes/{INDEX}/facet-search")))
        .sum();
    assert!((1..=3).contains(&requests), "{requests}");

    let drama = app
        .facet_search(json!({"facetName": "genre", "facetQuery": "DR"}))
        .await;
    assert_eq!(
        facet_hits(&drama),
        [("drama".to_owned(), DOCUMENTS as u64 / 3)]
    );
    assert_eq!(drama.body["facetQuery"], json!("DR"));
    // The client's filter, ANDed with the shard filter where a node holds more shards (RF 2).
    for filter in [
        json!("price < 10"),
        json!(["price < 10"]),
        json!([["price < 10"]]),
    ] {
        let cheap = app
            .facet_search(json!({"facetName": "genre", "filter": filter}))
            .await;
        assert_eq!(
            facet_hits(&cheap),
            genre_counts(|id| id % 50 < 10),
            "{filter}"
        );
    }
    let one = app
        .facet_search(json!({"facetName": "genre", "q": word(42)}))
        .await;
    assert_eq!(facet_hits(&one), [(GENRES[0].to_owned(), 1)]);
    let none = app
        .facet_search(json!({"facetName": "genre", "facetQuery": "zz"}))
        .await;
    assert_eq!(facet_hits(&none), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facet_search_counts_every_document_once_rf1() {
    facet_search_counts_every_document_once(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facet_search_counts_every_document_once_rf2() {
    facet_search_counts_every_document_once(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facet_search_never_shows_the_shard_field() {
    let fleet = Fleet::start(2).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    // Filterable on every node, yet refused as Meilisearch refuses an attribute it does not
    // know, listing the client's own attributes.
    for name in ["_miroir_shard", "_miroir_shard.x"] {
        let reply = app.facet_search(json!({ "facetName": name })).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        assert_eq!(reply.body["code"], json!("invalid_facet_search_facet_name"));
        assert_eq!(
            reply.body["message"],
            json!(format!(
                "Attribute `{name}` is not facet-searchable. Available facet-searchable \
                 attributes patterns are: `genre, price`. To make it facet-searchable add it to \
                 the `filterableAttributes` index settings."
            ))
        );
    }
    // A node's own refusal, relayed without the field.
    let title = app.facet_search(json!({"facetName": "title"})).await;
    assert_eq!(title.status, StatusCode::BAD_REQUEST, "{title:?}");
    assert_eq!(title.body["code"], json!("invalid_facet_search_facet_name"));
    assert!(!title.text.contains("_miroir"), "{title:?}");
    assert!(title.text.contains("`genre, price`"), "{title:?}");
    let missing = app.facet_search(json!({"facetQuery": "a"})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.body["code"],
        json!("missing_facet_search_facet_name")
    );
    assert_eq!(missing.body["message"], json!("Missing field `facetName`"));
    let unknown = app
        .send(
            Method::POST,
            "/indexes/nope/facet-search",
            Some(json!({"facetName": "genre"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["message"], json!("Index `nope` not found."));
    let filter = app
        .facet_search(json!({"facetName": "genre", "filter": "title = x"}))
        .await;
    assert_eq!(filter.body["code"], json!("invalid_search_filter"));
    assert!(!filter.text.contains("_miroir"), "{filter:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facet_search_over_stopped_nodes() {
    let mut fleet = Fleet::start(1).await;
    let partial = fleet.app(UnavailableShardPolicy::Partial).await;
    let strict = fleet.app(UnavailableShardPolicy::Error).await;
    let lost = fleet.shards_on(1);
    let kept: Vec<usize> = (0..DOCUMENTS)
        .filter(|id| !lost.contains(&fleet.topology().shard_of(&id.to_string())))
        .collect();
    fleet.nodes[1].stop().await;
    let body = json!({"facetName": "genre"});
    let reply = partial.facet_search(body.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let expected: Vec<String> = lost.iter().map(Shard::to_string).collect();
    assert_eq!(
        reply.degraded.as_deref(),
        Some(format!("shards={}", expected.join(",")).as_str())
    );
    assert_eq!(facet_hits(&reply), genre_counts(|id| kept.contains(&id)));
    let reply = strict.facet_search(body.clone()).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.body["code"], json!("miroir_shard_unavailable"));
    fleet.nodes[0].stop().await;
    fleet.nodes[2].stop().await;
    let reply = partial.facet_search(body).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.body["code"], json!("miroir_shard_unavailable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rf2_a_stopped_node_changes_no_facet_count() {
    let mut fleet = Fleet::start(2).await;
    let app = fleet.app(UnavailableShardPolicy::Error).await;
    fleet.nodes[2].stop().await;
    for _ in 0..4 {
        let reply = app.facet_search(json!({"facetName": "genre"})).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(reply.degraded, None);
        assert_eq!(facet_hits(&reply), genre_counts(|_| true));
    }
}

async fn pages_add_up_to_one_large_page(rf: u32) {
    let fleet = Fleet::start(rf).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    for q in ["common", ""] {
        let whole = app.search_ok(json!({"q": q, "limit": 50})).await;
        assert_eq!(whole.hits().len(), 50);
        assert_eq!(whole.body["estimatedTotalHits"], json!(DOCUMENTS));
        let mut paged = Vec::new();
        for page in 0..5 {
            let reply = app
                .search_ok(json!({"q": q, "offset": page * 10, "limit": 10}))
                .await;
            assert_eq!(reply.body["offset"], json!(page * 10));
            assert_eq!(reply.body["limit"], json!(10));
            paged.extend(reply.ids());
        }
        assert_eq!(paged, whole.ids(), "q={q:?}");
        assert_unique(&paged);

        let whole_page = app
            .search_ok(json!({"q": q, "page": 1, "hitsPerPage": 50}))
            .await;
        assert_eq!(whole_page.ids(), whole.ids(), "q={q:?}");
        let mut paged = Vec::new();
        for page in 1..=5 {
            let reply = app
                .search_ok(json!({"q": q, "page": page, "hitsPerPage": 10}))
                .await;
            assert_eq!(reply.body["totalHits"], json!(DOCUMENTS));
            assert_eq!(reply.body["totalPages"], json!(DOCUMENTS / 10));
            assert_eq!(
                reply.keys(),
                [
                    "hits",
                    "query",
                    "processingTimeMs",
                    "hitsPerPage",
                    "page",
                    "totalPages",
                    "totalHits"
                ]
            );
            paged.extend(reply.ids());
        }
        assert_eq!(paged, whole.ids(), "q={q:?}");

        // Every document, once, best first.
        let all = app
            .search_ok(json!({"q": q, "limit": 1000, "showRankingScore": true}))
            .await;
        let ids = all.ids();
        assert_eq!(ids.len(), DOCUMENTS);
        assert_unique(&ids);
        let scores: Vec<f64> = all
            .hits()
            .iter()
            .map(|hit| hit["_rankingScore"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|pair| pair[0] >= pair[1]));
        assert_eq!(&ids[..50], whole.ids().as_slice());
    }
    let empty = app.search_ok(json!({"hitsPerPage": 0})).await;
    assert_eq!(empty.hits().len(), 0);
    assert_eq!(empty.body["totalPages"], json!(0));
    assert_eq!(empty.body["totalHits"], json!(DOCUMENTS));
    let beyond = app.search_ok(json!({"offset": 290, "limit": 20})).await;
    assert_eq!(beyond.hits().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_add_up_to_one_large_page_rf1() {
    pages_add_up_to_one_large_page(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_add_up_to_one_large_page_rf2() {
    pages_add_up_to_one_large_page(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_fields_never_show_and_the_score_only_when_asked() {
    let fleet = Fleet::start(2).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    let plain = app.search_ok(json!({"q": "common", "limit": 30})).await;
    assert_clean(&plain, false);
    let off = app
        .search_ok(json!({"q": "common", "limit": 30, "showRankingScore": false}))
        .await;
    assert_clean(&off, false);
    let scored = app
        .search_ok(json!({"q": "common", "limit": 30, "showRankingScore": true}))
        .await;
    assert_clean(&scored, true);
    assert_eq!(plain.ids(), scored.ids());
    let some = app
        .search_ok(json!({"q": "common", "limit": 30, "attributesToRetrieve": ["title"]}))
        .await;
    assert_clean(&some, false);
    assert!(
        some.hits()
            .iter()
            .all(|hit| hit.as_object().unwrap().keys().eq(["title"])),
        "{some:?}"
    );
    let titles: Vec<&Value> = plain.hits().iter().map(|hit| &hit["title"]).collect();
    let retrieved: Vec<&Value> = some.hits().iter().map(|hit| &hit["title"]).collect();
    assert_eq!(titles, retrieved);
    let asked = app
        .search_ok(json!({"q": "u007x", "attributesToRetrieve": ["id", "_miroir_shard"]}))
        .await;
    assert_eq!(asked.hits(), &[json!({"id": 7})]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_errors_are_relayed_unchanged() {
    let fleet = Fleet::start(1).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    let reply = app.search(json!({"filter": "title = x"})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["code"], json!("invalid_search_filter"));
    let direct = fleet
        .direct(
            0,
            Method::POST,
            &format!("/indexes/{INDEX}/search"),
            Some(json!({"filter": "title = x"})),
        )
        .await
        .unwrap_err();
    let NodeError::Api(direct) = direct else {
        panic!("{direct:?}")
    };
    // The node's message, without Miroir's reserved field among the attributes it lists.
    assert!(
        direct.message.contains("`_miroir_shard, genre, price`"),
        "{direct:?}"
    );
    assert_eq!(
        reply.body["message"],
        json!(direct.message.replace("_miroir_shard, ", ""))
    );
    assert!(!reply.text.contains("_miroir"), "{reply:?}");
    assert_eq!(reply.body["type"], json!(direct.error_type));
    assert_eq!(
        reply.body["link"],
        json!("https://docs.meilisearch.com/errors#invalid_search_filter")
    );
    assert_eq!(
        reply.keys(),
        ["message", "code", "type", "link"],
        "{reply:?}"
    );

    let missing = app
        .send(Method::POST, "/indexes/nope/search", Some(json!({})))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["code"], json!("index_not_found"));
    assert_eq!(missing.body["message"], json!("Index `nope` not found."));
    let missing = app
        .send(Method::GET, "/indexes/nope/search?q=a", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let sort = app.search(json!({"sort": ["title:asc"]})).await;
    assert_eq!(sort.status, StatusCode::BAD_REQUEST);
    assert_eq!(sort.body["code"], json!("invalid_search_sort"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_any_node_is_asked() {
    let fleet = Fleet::start(1).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    let before = fleet.searches();
    for (body, needle) in [
        (json!({"limit": -1}), "`.limit`"),
        (json!({"offset": "3"}), "`.offset`"),
        (json!({"page": 1.5}), "`.page`"),
        (json!({"hitsPerPage": null, "page": -3}), "`.page`"),
        (json!({"hitsPerPage": [20]}), "`.hitsPerPage`"),
        (json!({"showRankingScore": 1}), "`.showRankingScore`"),
        (json!([{"q": "x"}]), "a JSON object"),
        (json!("q"), "a JSON object"),
    ] {
        let reply = app.search(body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {reply:?}");
        assert_eq!(reply.body["code"], json!("bad_request"), "{body}");
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    for query in [
        "limit=x",
        "offset=-2",
        "showRankingScore=maybe",
        "unknown=1",
    ] {
        let reply = app
            .send(
                Method::GET,
                &format!("/indexes/{INDEX}/search?{query}"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.body["code"], json!("bad_request"), "{query}");
    }
    let malformed = app
        .send(
            Method::POST,
            &format!("/indexes/{INDEX}/search"),
            Some(json!(null)),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(fleet.searches(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rf2_a_stopped_node_changes_nothing() {
    let mut fleet = Fleet::start(2).await;
    let app = fleet.app(UnavailableShardPolicy::Error).await;
    let before = app.search_ok(json!({"q": "common", "limit": 300})).await;
    fleet.nodes[0].stop().await;
    // Several queries: the covering set rotates over the replicas.
    for _ in 0..4 {
        let after = app.search_ok(json!({"q": "common", "limit": 300})).await;
        assert_eq!(after.timeless(), before.timeless());
        assert_eq!(after.ids().len(), DOCUMENTS);
    }
    let facets = app
        .search_ok(json!({"facets": ["genre"], "limit": 0}))
        .await;
    assert_eq!(facets.body["estimatedTotalHits"], json!(DOCUMENTS));
    fleet.nodes[0].restart().await.unwrap();
    let again = app.search_ok(json!({"q": "common", "limit": 300})).await;
    assert_eq!(again.timeless(), before.timeless());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rf1_a_stopped_node_makes_the_answer_partial_or_an_error() {
    let mut fleet = Fleet::start(1).await;
    let partial = fleet.app(UnavailableShardPolicy::Partial).await;
    let strict = fleet.app(UnavailableShardPolicy::Error).await;
    let lost = fleet.shards_on(1);
    assert!(!lost.is_empty());
    let kept = DOCUMENTS - fleet.nodes[1].document_count(INDEX);
    fleet.nodes[1].stop().await;

    let reply = partial.search(json!({"q": "common", "limit": 300})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let expected: Vec<String> = lost.iter().map(Shard::to_string).collect();
    assert_eq!(
        reply.degraded.as_deref(),
        Some(format!("shards={}", expected.join(",")).as_str())
    );
    assert_eq!(reply.ids().len(), kept);
    assert_eq!(reply.body["estimatedTotalHits"], json!(kept));
    assert_clean(&reply, false);

    let reply = strict.search(json!({"q": "common"})).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.body["code"], json!("miroir_shard_unavailable"));
    let message = reply.body["message"].as_str().unwrap();
    assert!(message.contains(&expected.join(", ")), "{message}");

    // Every node down: nothing to return, whatever the policy.
    fleet.nodes[0].stop().await;
    fleet.nodes[2].stop().await;
    let reply = partial.search(json!({"q": "common"})).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.body["code"], json!("miroir_shard_unavailable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_search_answers_each_query_in_order() {
    let fleet = Fleet::start(2).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    let first = json!({"q": "u042x"});
    let second = json!({"q": "common", "page": 2, "hitsPerPage": 5, "facets": ["genre"]});
    let reply = app
        .send(
            Method::POST,
            "/multi-search",
            Some(json!({"queries": [
                {"indexUid": INDEX, "q": "u042x"},
                {"indexUid": INDEX, "q": "common", "page": 2, "hitsPerPage": 5, "facets": ["genre"]},
            ]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.keys(), ["results"]);
    assert!(
        reply
            .text
            .starts_with(r#"{"results":[{"indexUid":"movies","hits":"#),
        "{}",
        reply.text
    );
    let results = reply.timeless()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 2);
    for (result, single) in results.iter().zip([first, second]) {
        let mut alone = app.search_ok(single).await.timeless();
        alone["indexUid"] = json!(INDEX);
        assert_eq!(result, &alone);
    }

    let failing = app
        .send(
            Method::POST,
            "/multi-search",
            Some(json!({"queries": [
                {"indexUid": INDEX, "q": "a"},
                {"indexUid": "nope", "q": "a"},
            ]})),
        )
        .await;
    assert_eq!(failing.status, StatusCode::NOT_FOUND, "{failing:?}");
    assert_eq!(failing.body["code"], json!("index_not_found"));
    assert_eq!(
        failing.body["message"],
        json!("Inside `.queries[1]`: Index `nope` not found.")
    );

    let federated = app
        .send(
            Method::POST,
            "/multi-search",
            Some(json!({"queries": [{"indexUid": INDEX}], "federation": {}})),
        )
        .await;
    assert_eq!(federated.status, StatusCode::BAD_REQUEST);
    assert_eq!(federated.body["code"], json!("bad_request"));
    assert_eq!(
        federated.body["message"],
        json!("federated multi-search is not supported by Miroir yet")
    );

    let empty = app
        .send(Method::POST, "/multi-search", Some(json!({"queries": []})))
        .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body, json!({"results": []}));
}

/// `scatter.max_multi_search_queries` (default 100) queries are answered, in order; one more is
/// refused with `miroir_too_many_search_queries` before any node is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_search_queries_are_bounded() {
    let fleet = Fleet::start(1).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    let max = ScatterConfig::default().max_multi_search_queries as usize;
    assert_eq!(max, 100, "the bound the README and OpenAPI document state");
    let queries = |count: usize| {
        let queries: Vec<Value> = (0..count)
            .map(|id| json!({"indexUid": INDEX, "q": word(id)}))
            .collect();
        Some(json!({ "queries": queries }))
    };

    let before = fleet.searches();
    let refused = app
        .send(Method::POST, "/multi-search", queries(max + 1))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.body["code"], "miroir_too_many_search_queries");
    assert_eq!(refused.body["type"], "invalid_request");
    assert_eq!(
        refused.body["link"],
        "https://docs.meilisearch.com/errors#miroir_too_many_search_queries"
    );
    assert_eq!(
        refused.body["message"],
        "Too many queries: this multi-search has 101 queries and Miroir accepts at most 100 in \
         one request (`scatter.max_multi_search_queries`). Split the queries over several \
         requests."
    );
    assert_eq!(
        fleet.searches(),
        before,
        "a refused multi-search reached a node"
    );

    let answered = app.send(Method::POST, "/multi-search", queries(max)).await;
    assert_eq!(answered.status, StatusCode::OK, "{answered:?}");
    let results = answered.body["results"].as_array().unwrap();
    assert_eq!(results.len(), max);
    for (id, result) in results.iter().enumerate() {
        assert_eq!(result["indexUid"], INDEX, "{id}");
        assert_eq!(result["query"], word(id), "{id}");
        let hits: Vec<u64> = result["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| hit["id"].as_u64().unwrap())
            .collect();
        assert_eq!(hits, [id as u64], "{id}");
    }
    assert!(
        fleet.searches() >= before + max,
        "every query was scattered"
    );
}

/// The queries of a multi-search run concurrently, but at most 8 at a time: with every node
/// answering after `LATENCY`, 8 queries take one round (far less than 8 rounds one after the
/// other) and 9 queries at least two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_search_runs_at_most_8_queries_at_once() {
    const LATENCY: Duration = Duration::from_millis(500);
    let fleet = Fleet::start(1).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    for node in &fleet.nodes {
        node.faults().set_latency(LATENCY);
    }
    let timed = |count: usize| {
        let queries: Vec<Value> = (0..count)
            .map(|id| json!({"indexUid": INDEX, "q": word(id)}))
            .collect();
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let reply = app
                .send(
                    Method::POST,
                    "/multi-search",
                    Some(json!({ "queries": queries })),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            assert_eq!(reply.body["results"].as_array().unwrap().len(), count);
            started.elapsed()
        }
    };
    let eight = timed(8).await;
    assert!(
        eight < LATENCY * 5,
        "8 queries took {eight:?}: not concurrent"
    );
    let nine = timed(9).await;
    assert!(
        nine >= LATENCY * 2,
        "9 queries took {nine:?}: more than 8 at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_search_equals_post_search() {
    let fleet = Fleet::start(2).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    for (query, body) in [
        (
            "q=common&offset=5&limit=7&facets=genre,price&showRankingScore=true",
            json!({"q": "common", "offset": 5, "limit": 7, "facets": ["genre", "price"], "showRankingScore": true}),
        ),
        (
            "q=common&page=3&hitsPerPage=4&filter=genre%20%3D%20comedy&attributesToRetrieve=id,genre",
            json!({"q": "common", "page": 3, "hitsPerPage": 4, "filter": "genre = comedy", "attributesToRetrieve": ["id", "genre"]}),
        ),
        (
            "filter=%5B%22price%20%3C%2010%22%2C%5B%22genre%20%3D%20drama%22%2C%22genre%20%3D%20horror%22%5D%5D",
            json!({"filter": ["price < 10", ["genre = drama", "genre = horror"]]}),
        ),
    ] {
        let get = app
            .send(
                Method::GET,
                &format!("/indexes/{INDEX}/search?{query}"),
                None,
            )
            .await;
        assert_eq!(get.status, StatusCode::OK, "{query}: {get:?}");
        let post = app.search_ok(body).await;
        assert_eq!(get.timeless(), post.timeless(), "{query}");
        assert_eq!(get.keys(), post.keys(), "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_nodes_are_asked_again_only_when_needed() {
    let fleet = Fleet::start(1).await;
    let app = fleet.app(UnavailableShardPolicy::Partial).await;
    // One hit: every node answers in full, one round.
    let before = fleet.searches();
    app.search_ok(json!({"q": word(5)})).await;
    assert_eq!(fleet.searches() - before, 3);
    // Empty query: every score ties at 1, so every node (about 100 documents each, asked for 50)
    // may hold hits that belong in the window and is asked again, once, with 200.
    let before = fleet.searches();
    let reply = app.search_ok(json!({"offset": 40, "limit": 10})).await;
    assert_eq!(fleet.searches() - before, 6);
    assert_eq!(reply.ids().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_without_a_live_node_in_its_group_is_read_from_another_group() {
    // Group 0 = nodes 0 and 2, group 1 = node 1 (every shard, RF=1 per group).
    let mut fleet = Fleet::start_grouped(1, 2).await;
    let app = fleet.app(UnavailableShardPolicy::Error).await;
    let before = app.search_ok(json!({"q": "common", "limit": 300})).await;
    assert_eq!(before.ids().len(), DOCUMENTS);
    fleet.nodes[0].stop().await;
    // Queries alternate between the groups; those sent to group 0 fall back to node 1.
    for _ in 0..4 {
        let after = app.search_ok(json!({"q": "common", "limit": 300})).await;
        assert_eq!(after.timeless(), before.timeless());
    }
    fleet.nodes[1].stop().await;
    let partial = fleet.app(UnavailableShardPolicy::Partial).await;
    let reply = partial.search(json!({"q": "common", "limit": 300})).await;
    assert_eq!(reply.status, StatusCode::OK);
    let lost: Vec<String> = fleet.shards_on(0).iter().map(Shard::to_string).collect();
    assert_eq!(
        reply.degraded.as_deref(),
        Some(format!("shards={}", lost.join(",")).as_str())
    );
    assert_eq!(reply.ids().len(), fleet.nodes[2].document_count(INDEX));
}

/// A node on which `_miroir_shard` is no longer filterable for the index (its settings changed
/// on the node directly, or the index recreated there by a write processed after a deletion)
/// refuses Miroir's shard filter: the search falls back to the other replicas as for a node
/// down, the client never sees the internal filter, and the node is repaired (its other
/// filterable attributes kept) so that later searches use it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_the_shard_field_is_skipped_and_repaired() {
    let fleet = Fleet::start(2).await;
    let app = fleet.app(UnavailableShardPolicy::Error).await;
    fleet
        .direct(
            1,
            Method::PATCH,
            &format!("/indexes/{INDEX}/settings"),
            Some(json!({"filterableAttributes": ["genre", "price"]})),
        )
        .await
        .unwrap();
    assert!(fleet.nodes[1].wait_for_tasks(Duration::from_secs(10)).await);
    let filterable =
        |node: usize| fleet.nodes[node].settings(INDEX).unwrap()["filterableAttributes"].clone();
    let query = json!({"q": "", "filter": "genre = drama", "limit": 1000});
    let mut rounds = 0;
    while filterable(1) == json!(["genre", "price"]) {
        rounds += 1;
        assert!(
            rounds <= 6,
            "node 1 was never asked with a shard filter, or never repaired"
        );
        let reply = app.search_ok(query.clone()).await;
        assert_eq!(reply.ids().len(), DOCUMENTS.div_ceil(3), "{reply:?}");
        assert!(!reply.text.contains("_miroir"), "{reply:?}");
        assert!(fleet.nodes[1].wait_for_tasks(Duration::from_secs(10)).await);
    }
    assert_eq!(filterable(1), json!(["_miroir_shard", "genre", "price"]));
    let before = fleet.nodes[1].request_count("POST", &format!("/indexes/{INDEX}/search"));
    for _ in 0..3 {
        let reply = app.search_ok(query.clone()).await;
        assert_eq!(reply.ids().len(), DOCUMENTS.div_ceil(3), "{reply:?}");
    }
    let after = fleet.nodes[1].request_count("POST", &format!("/indexes/{INDEX}/search"));
    assert!(after > before, "node 1 is not asked again after its repair");
}
