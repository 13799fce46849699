//! Facet search (`POST /indexes/{uid}/facet-search`) over real Meilisearch nodes
//! (`MIROIR_MEILISEARCH_BIN`, the path of a `meilisearch` 1.50 binary; each test says it skipped
//! without it), compared with one real node holding the same documents.
//!
//! Miroir runs with a replication factor of 2 over three nodes, so most nodes are asked for only
//! some of the shards they hold and their facet searches carry the shard filter (ANDed with the
//! client's `filter`): a count that took a shard twice would show. For facet queries, `q`,
//! filters and the other search parameters, the values, their counts and their order equal the
//! single node's (values spelled several ways are compared by spelling group: which spelling is
//! shown may differ, see the README), in `alpha` order also when `maxValuesPerFacet` cuts the
//! list; errors are the single node's, byte for byte, `_miroir_shard` included.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use miroir_system_tests::{Miroir, RealNodes};
use miroir_test_support::process::{HttpReply, http, wait_until};
use serde_json::{Value, json};

/// The index both sides hold.
const INDEX: &str = "films";

/// An index with no filterable attribute of the client's.
const PLAIN: &str = "plain";

/// How many documents.
const DOCUMENTS: u64 = 600;

/// The spellings of each genre value: Meilisearch counts them as one value (trimmed, NFKD,
/// lowercase) and shows one of them. Some groups are distinct values that fold alike, so a
/// `facetQuery` orders them otherwise than no query does.
const GENRES: [&[&str]; 12] = [
    &["Drama", "drama", "  DRAMA"],
    &["comedy", "Comedy "],
    &["Éclair"],
    &["eclair"],
    &["Æon"],
    &["aeon"],
    &["ﬁsh", "fish"],
    &["horror"],
    &["l’été"],
    &["l'ete"],
    &["Zulu"],
    &["Ωmega"],
];

/// Distinct tag values: more than `maxValuesPerFacet` (100), so the nodes cut their lists.
const TAGS: u64 = 150;

fn pick(id: u64, salt: u64, modulo: u64) -> u64 {
    (id.wrapping_mul(2_654_435_761) >> salt) % modulo
}

/// Deterministic documents: a few title words, genres spelled several ways, two tags each (one of
/// 150, one of 37 with uneven counts), years that are numbers or strings, a field only a granular
/// rule without facet search covers.
fn documents() -> Vec<Value> {
    let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
    (0..DOCUMENTS)
        .map(|id| {
            let group = GENRES[pick(id, 13, GENRES.len() as u64) as usize];
            let genre = group[pick(id, 5, group.len() as u64) as usize];
            let title = format!(
                "{} {} {}",
                words[pick(id, 3, 6) as usize],
                words[pick(id, 7, 6) as usize],
                words[pick(id, 11, 6) as usize]
            );
            let mut document = json!({
                "id": id,
                "title": title,
                "genre": genre,
                "tags": [format!("t{:03}", id % TAGS), format!("t{:03}", (id * id) % 37)],
                "rating": pick(id, 17, 5),
                "offline": format!("o{}", id % 3),
            });
            match pick(id, 19, 12) {
                10 => document["year"] = json!("unknown"),
                11 => document["year"] = json!(format!("y{}", id % 4)),
                year => document["year"] = json!(1990 + year),
            }
            document
        })
        .collect()
}

fn settings() -> Value {
    json!({
        "filterableAttributes": [
            "genre",
            "tags",
            "year",
            "rating",
            {"attributePatterns": ["off*"], "features": {"facetSearch": false, "filter": {"equality": true}}},
        ],
    })
}

/// One real node reached directly.
struct Direct {
    port: u16,
}

impl Direct {
    fn call(&self, method: &str, path: &str, body: &Value) -> HttpReply {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        http(self.port, method, path, &[], &body).unwrap()
    }

    fn write(&self, method: &str, path: &str, body: &Value) {
        let reply = self.call(method, path, body);
        assert_eq!(reply.status, 202, "{method} {path}: {}", reply.body);
        let uid = serde_json::from_str::<Value>(&reply.body).unwrap()["taskUid"]
            .as_u64()
            .unwrap();
        let mut task = Value::Null;
        wait_until("a task of the single node", Duration::from_secs(60), || {
            let reply = self.call("GET", &format!("/tasks/{uid}"), &Value::Null);
            task = serde_json::from_str(&reply.body).unwrap();
            matches!(task["status"].as_str(), Some("succeeded" | "failed"))
        });
        assert_eq!(task["status"], "succeeded", "{task}");
    }
}

/// What a test runs against; the processes stop when it drops.
struct Setup {
    miroir: Miroir,
    direct: Direct,
    fleet: RealNodes,
    _single: RealNodes,
    store_url: String,
    _store: tempfile::TempDir,
}

impl Setup {
    /// The same write through Miroir and on the single node.
    fn write_both(&self, method: &str, path: &str, body: &Value) {
        self.miroir.write(method, path, body);
        self.direct.write(method, path, body);
    }
}

/// `miroir` (replication factor 2, 16 shards) over three real nodes and one real node alone, both
/// holding [`documents`] in [`INDEX`] and a few in [`PLAIN`].
fn start() -> Option<Setup> {
    let fleet = RealNodes::start(3)?;
    let single = RealNodes::start(1)?;
    let store = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", store.path().join("store.db").display());
    let miroir = Miroir::start_with(&fleet, &store_url, 2, &[("MIROIR_SHARDS", "16")]);
    let direct = Direct {
        port: single.port(0),
    };
    let setup = Setup {
        miroir,
        direct,
        fleet,
        _single: single,
        store_url,
        _store: store,
    };
    for uid in [INDEX, PLAIN] {
        setup.write_both("POST", "/indexes", &json!({"uid": uid, "primaryKey": "id"}));
    }
    setup.write_both("PATCH", &format!("/indexes/{INDEX}/settings"), &settings());
    setup.write_both(
        "POST",
        &format!("/indexes/{INDEX}/documents"),
        &Value::from(documents()),
    );
    let plain: Vec<Value> = documents().into_iter().take(20).collect();
    setup.write_both(
        "POST",
        &format!("/indexes/{PLAIN}/documents"),
        &Value::from(plain),
    );
    Some(setup)
}

fn facet_path(index: &str) -> String {
    format!("/indexes/{index}/facet-search")
}

/// The spelling group of a genre value (the value itself for other facets).
fn group_of(value: &str) -> String {
    GENRES
        .iter()
        .find(|group| group.iter().any(|spelling| spelling.trim() == value.trim()))
        .map_or_else(|| value.to_owned(), |group| group[0].to_owned())
}

/// `(group, count)` of each facet hit, in order.
fn hits(response: &Value) -> Vec<(String, u64)> {
    response["facetHits"]
        .as_array()
        .unwrap_or_else(|| panic!("no facetHits in {response}"))
        .iter()
        .map(|hit| {
            (
                group_of(hit["value"].as_str().unwrap()),
                hit["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Both answers to `body` on `index`: Miroir's, then the single node's, each a 200.
fn both(setup: &Setup, index: &str, body: &Value) -> (Value, Value) {
    let ours = setup.miroir.call("POST", &facet_path(index), body);
    let real = setup.direct.call("POST", &facet_path(index), body);
    assert_eq!(ours.status, 200, "{body}: {}", ours.body);
    assert_eq!(real.status, 200, "{body}: {}", real.body);
    assert!(
        ours.body.starts_with(r#"{"facetHits":["#),
        "key order: {}",
        ours.body
    );
    (
        serde_json::from_str(&ours.body).unwrap(),
        serde_json::from_str(&real.body).unwrap(),
    )
}

/// Miroir's answer to `body` equals the single node's but for `processingTimeMs` and the
/// spelling shown for values spelled several ways.
fn assert_same(setup: &Setup, index: &str, body: &Value) -> Value {
    let (ours, real) = both(setup, index, body);
    assert_eq!(hits(&ours), hits(&real), "{body}");
    assert_eq!(ours["facetQuery"], real["facetQuery"], "{body}");
    assert!(ours["processingTimeMs"].is_u64(), "{ours}");
    ours
}

/// `query` with more parameters.
fn with(query: &Value, more: Value) -> Value {
    let mut query = query.clone();
    for (key, value) in more.as_object().unwrap() {
        query[key] = value.clone();
    }
    query
}

/// The facet searches compared: facet queries (prefixes, typos, folded spellings, none, empty),
/// `q` with its matching strategy and attributes, filters (string and array forms), exhaustive
/// counts, a ranking-score threshold, unknown parameters.
fn queries(facet: &str) -> Vec<Value> {
    let base = json!({ "facetName": facet });
    [
        json!({}),
        json!({"facetQuery": ""}),
        json!({"facetQuery": "a"}),
        json!({"facetQuery": "e"}),
        json!({"facetQuery": "l"}),
        json!({"facetQuery": "dr"}),
        json!({"facetQuery": "DRAMA"}),
        json!({"facetQuery": "dramma"}),
        json!({"facetQuery": "fi"}),
        json!({"facetQuery": "t1"}),
        json!({"facetQuery": "t00"}),
        json!({"facetQuery": "nothing"}),
        json!({"q": "alpha"}),
        json!({"q": "alpha", "facetQuery": "t0"}),
        json!({"q": "alpha bravo", "matchingStrategy": "all"}),
        json!({"q": "alpha bravo", "matchingStrategy": "last", "exhaustiveFacetCount": true}),
        json!({"q": "charlie", "attributesToSearchOn": ["title"], "exhaustiveFacetCount": false}),
        json!({"q": "delta", "rankingScoreThreshold": 0.5}),
        json!({"filter": "rating >= 2"}),
        json!({"filter": ["rating = 1", ["year = 1995", "year = unknown"]], "facetQuery": "t"}),
        json!({"filter": "offline = o1 AND rating < 4", "q": "echo"}),
        json!({"filter": "genre = drama", "facetQuery": "d"}),
        json!({"facetQuery": "t", "limit": 3, "offset": 9, "unknownParameter": true}),
    ]
    .into_iter()
    .map(|more| with(&base, more))
    .collect()
}

#[test]
fn merged_facet_search_equals_one_real_node() {
    // Bound whole: a pattern with `..` would drop (stop) the nodes at once.
    let Some(setup) = start() else {
        return;
    };
    for facet in ["genre", "tags", "year"] {
        for query in queries(facet) {
            assert_same(&setup, INDEX, &query);
        }
    }
    // The nodes cut at 100 values; the union is cut where one node cuts it.
    let all_tags = assert_same(&setup, INDEX, &json!({"facetName": "tags"}));
    assert_eq!(all_tags["facetHits"].as_array().unwrap().len(), 100);
    assert_eq!(all_tags["facetHits"][99]["value"], "t099");
    assert_eq!(all_tags["facetQuery"], Value::Null);

    // A smaller cut, in alpha order: still exact.
    let settings = format!("/indexes/{INDEX}/settings");
    setup.write_both(
        "PATCH",
        &settings,
        &json!({"faceting": {"maxValuesPerFacet": 7}}),
    );
    for facet in ["genre", "tags"] {
        for query in queries(facet) {
            let ours = assert_same(&setup, INDEX, &query);
            assert!(ours["facetHits"].as_array().unwrap().len() <= 7);
        }
    }

    // Count order, no list cut: exact, ties by value descending.
    setup.write_both(
        "PATCH",
        &settings,
        &json!({"faceting": {"maxValuesPerFacet": 200, "sortFacetValuesBy": {"*": "count"}}}),
    );
    for query in queries("tags") {
        assert_same(&setup, INDEX, &query);
    }

    // Count order with lists cut on the nodes: a value a node left out is counted low or missed
    // (the README says so), never counted high; the list keeps its length and its order.
    setup.write_both(
        "PATCH",
        &settings,
        &json!({"faceting": {"maxValuesPerFacet": 5, "sortFacetValuesBy": {"tags": "count", "*": "alpha"}}}),
    );
    for query in queries("tags") {
        let (ours, real) = both(&setup, INDEX, &query);
        let real: BTreeMap<String, u64> = hits(&real).into_iter().collect();
        let ours = hits(&ours);
        assert_eq!(ours.len(), real.len().min(5), "{query}");
        assert!(
            ours.windows(2).all(|pair| pair[0].1 >= pair[1].1),
            "{query}: {ours:?}"
        );
        for (value, count) in &ours {
            if let Some(real_count) = real.get(value) {
                assert!(
                    count <= real_count,
                    "{query}: {value} {count} > {real_count}"
                );
            }
        }
    }
    // …and `*` keeps alpha for the other facets.
    assert_same(&setup, INDEX, &json!({"facetName": "genre"}));

    // An alias reads its index.
    let alias = setup.miroir.call(
        "POST",
        "/_miroir/aliases",
        &json!({"name": "current", "target": INDEX}),
    );
    assert_eq!(alias.status, 201, "{}", alias.body);
    let by_alias = setup.miroir.call(
        "POST",
        &facet_path("current"),
        &json!({"facetName": "genre", "facetQuery": "a"}),
    );
    let by_index = setup.miroir.call(
        "POST",
        &facet_path(INDEX),
        &json!({"facetName": "genre", "facetQuery": "a"}),
    );
    let facet_hits = |reply: &HttpReply| {
        serde_json::from_str::<Value>(&reply.body).unwrap()["facetHits"].clone()
    };
    assert_eq!(by_alias.status, 200, "{}", by_alias.body);
    assert_eq!(facet_hits(&by_alias), facet_hits(&by_index));
}

/// Miroir's answer to `body` on `index` equals the single node's exactly: status and body.
fn assert_same_error(setup: &Setup, index: &str, body: &Value) {
    let ours = setup.miroir.call("POST", &facet_path(index), body);
    let real = setup.direct.call("POST", &facet_path(index), body);
    assert_eq!(
        (ours.status, ours.body.as_str()),
        (real.status, real.body.as_str()),
        "{index} {body}"
    );
    assert!(ours.status >= 400, "{body}: {}", ours.body);
    assert!(!ours.body.contains("_miroir_shard") || body.to_string().contains("_miroir_shard"));
}

#[test]
fn facet_search_errors_equal_one_real_node() {
    let Some(setup) = start() else {
        return;
    };
    for body in [
        json!({}),
        json!({"facetQuery": "dr"}),
        json!({"facetName": 5}),
        json!({"facetName": null}),
        json!({"facetName": "title"}),
        json!({"facetName": "offline"}),
        json!({"facetName": "_miroir_shard"}),
        json!({"facetName": "_miroir_shard.deeper"}),
        json!({"facetName": "genre", "facetQuery": 5}),
        json!({"facetName": "genre", "q": ["alpha"]}),
        json!({"facetName": "genre", "filter": "title = x"}),
        json!({"facetName": "genre", "filter": "genre = "}),
        json!({"facetName": "genre", "filter": 5}),
        json!({"facetName": "genre", "filter": "offline > o1"}),
        json!({"facetName": "genre", "filter": ["rating = 1", "title = x"]}),
        json!({"facetName": "genre", "matchingStrategy": "most"}),
        json!({"facetName": "genre", "exhaustiveFacetCount": "yes"}),
        json!({"facetName": "genre", "rankingScoreThreshold": 2}),
        json!({"facetName": "genre", "vector": [1.0]}),
    ] {
        assert_same_error(&setup, INDEX, &body);
    }
    assert_same_error(&setup, "missing", &json!({"facetName": "genre"}));
    assert_same_error(&setup, "not%20valid", &json!({"facetName": "genre"}));
    // A body that is not an object: the status and code are Meilisearch's; the message is the
    // one every Miroir route gives such a body (`miroir_http::JsonBody`'s, not Meilisearch's).
    for body in [json!([]), json!("genre")] {
        let ours = setup.miroir.call("POST", &facet_path(INDEX), &body);
        let real = setup.direct.call("POST", &facet_path(INDEX), &body);
        let code =
            |reply: &HttpReply| serde_json::from_str::<Value>(&reply.body).unwrap()["code"].clone();
        assert_eq!(
            (ours.status, code(&ours)),
            (real.status, code(&real)),
            "{body}"
        );
    }

    // No filterable attribute of the client's: the nodes' list held only `_miroir_shard`.
    for facet in ["title", "_miroir_shard", "genre"] {
        assert_same_error(&setup, PLAIN, &json!({ "facetName": facet }));
    }
    // The client's own rules can make the name facet-searchable: no document holds it.
    setup.write_both(
        "PATCH",
        &format!("/indexes/{PLAIN}/settings"),
        &json!({"filterableAttributes": [
            "genre",
            {"attributePatterns": ["_*"], "features": {"facetSearch": true}},
        ], "searchableAttributes": ["title"]}),
    );
    for facet in ["_miroir_shard", "_miroir_shard.deeper"] {
        let (ours, real) = both(&setup, PLAIN, &json!({ "facetName": facet }));
        assert_eq!(ours["facetHits"], json!([]));
        assert_eq!(ours["facetHits"], real["facetHits"]);
        // The rest of the request is still the nodes' to judge.
        assert_same_error(
            &setup,
            PLAIN,
            &json!({"facetName": facet, "q": "alpha", "attributesToSearchOn": ["rating"]}),
        );
    }
    assert_same_error(
        &setup,
        PLAIN,
        &json!({"facetName": "genre", "q": "alpha", "attributesToSearchOn": ["rating"]}),
    );
    // …or match it without enabling facet search; hidden attributes are named as hidden.
    setup.write_both(
        "PATCH",
        &format!("/indexes/{PLAIN}/settings"),
        &json!({"filterableAttributes": [
            "genre",
            "tags",
            {"attributePatterns": ["*shard"], "features": {"facetSearch": false}},
        ], "displayedAttributes": ["id", "genre"]}),
    );
    for facet in ["_miroir_shard", "_miroir_shard.deeper", "title", "rating"] {
        assert_same_error(&setup, PLAIN, &json!({ "facetName": facet }));
    }

    // Facet search disabled on the index.
    setup.write_both(
        "PATCH",
        &format!("/indexes/{INDEX}/settings"),
        &json!({"facetSearch": false}),
    );
    for body in [
        json!({"facetName": "genre"}),
        json!({"facetName": "_miroir_shard"}),
        json!({"facetName": "title", "filter": "x = 1"}),
    ] {
        assert_same_error(&setup, INDEX, &body);
    }
}

#[test]
fn facet_search_over_unavailable_nodes() {
    let Some(mut setup) = start() else {
        return;
    };
    let body = json!({"facetName": "tags", "facetQuery": "t0"});
    let complete = assert_same(&setup, INDEX, &body);
    // Replication factor 2: with one node down every shard still has a live replica.
    setup.fleet.stop(0);
    let reply = setup.miroir.call("POST", &facet_path(INDEX), &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-miroir-degraded"), None);
    let one_down: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(one_down["facetHits"], complete["facetHits"]);

    // Two down: the shards only they held are left out and named (policy `partial`, the
    // default); the counts are the other shards'.
    setup.fleet.stop(1);
    let reply = setup.miroir.call("POST", &facet_path(INDEX), &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let degraded = reply.header("x-miroir-degraded").unwrap();
    assert!(degraded.starts_with("shards="), "{degraded}");
    let partial: Value = serde_json::from_str(&reply.body).unwrap();
    let total = |response: &Value| -> u64 { hits(response).iter().map(|(_, count)| count).sum() };
    assert!(total(&partial) < total(&complete), "{partial}");
    assert!(total(&partial) > 0, "{partial}");

    // Policy `error`: the same facet search is refused.
    let strict = Miroir::start_with(
        &setup.fleet,
        &setup.store_url,
        2,
        &[
            ("MIROIR_SHARDS", "16"),
            ("MIROIR_SCATTER__UNAVAILABLE_SHARD_POLICY", "error"),
        ],
    );
    let reply = strict.call("POST", &facet_path(INDEX), &body);
    assert_eq!(reply.status, 503, "{}", reply.body);
    let error: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(error["code"], "miroir_shard_unavailable", "{error}");
}
