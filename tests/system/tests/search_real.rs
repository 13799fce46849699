//! Search over real Meilisearch nodes (`MIROIR_MEILISEARCH_BIN`, the path of a `meilisearch`
//! 1.50 binary; each test says it skipped without it), compared with one real node holding the
//! same documents.
//!
//! For keyword, placeholder, filter, sort, distinct and facet queries: pages concatenate to one
//! large page (offset and page modes), the hits rank rule by rule exactly as the single node
//! ranks them (the same `_rankingScoreDetails` sequence; only the order of hits tied on every
//! rule may differ, see the README), the same documents match, and totals and facets are equal.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use miroir_system_tests::{Miroir, RealNodes};
use miroir_test_support::process::{http, wait_until};
use serde_json::{Value, json};

/// The index both sides hold.
const INDEX: &str = "films";

/// How many documents: enough for every node to hold many ties of every query.
const DOCUMENTS: u64 = 600;

/// Deterministic documents with many exact ties: few title words, few genres, years that are
/// numbers, strings or missing.
fn documents() -> Vec<Value> {
    let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
    let genres = ["drama", "comedy", "horror", "documentary"];
    (0..DOCUMENTS)
        .map(|id| {
            let pick = |salt: u64, modulo: u64| (id.wrapping_mul(2_654_435_761) >> salt) % modulo;
            let title = format!(
                "{} {} {}",
                words[pick(3, 6) as usize],
                words[pick(7, 6) as usize],
                words[pick(11, 6) as usize]
            );
            let mut document = json!({
                "id": id,
                "title": title,
                "genre": genres[pick(13, 4) as usize],
                "rating": pick(17, 5),
            });
            match pick(19, 12) {
                10 => document["year"] = json!("unknown"),
                11 => {}
                year => document["year"] = json!(1990 + year),
            }
            document
        })
        .collect()
}

/// One real node reached directly.
struct Direct {
    port: u16,
}

impl Direct {
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let reply = http(self.port, method, path, &[], &body).unwrap();
        assert!(reply.status < 300, "{method} {path}: {}", reply.body);
        serde_json::from_str(&reply.body).unwrap()
    }

    fn write(&self, method: &str, path: &str, body: &Value) {
        let uid = self.call(method, path, body)["taskUid"].as_u64().unwrap();
        let mut task = Value::Null;
        wait_until("a task of the single node", Duration::from_secs(60), || {
            task = self.call("GET", &format!("/tasks/{uid}"), &Value::Null);
            matches!(task["status"].as_str(), Some("succeeded" | "failed"))
        });
        assert_eq!(task["status"], "succeeded", "{task}");
    }

    fn search(&self, body: &Value) -> Value {
        self.call("POST", &format!("/indexes/{INDEX}/search"), body)
    }
}

const SETTINGS: fn() -> Value = || {
    json!({
        "filterableAttributes": ["genre", "year", "rating"],
        "sortableAttributes": ["year", "rating", "title"],
    })
};

/// What a test runs against; the processes stop when it drops.
struct Setup {
    miroir: Miroir,
    direct: Direct,
    fleet: RealNodes,
    _single: RealNodes,
    _store: tempfile::TempDir,
}

/// `miroir` over three real nodes and one real node alone, both holding [`documents`].
fn start() -> Option<Setup> {
    let fleet = RealNodes::start(3)?;
    let single = RealNodes::start(1)?;
    let store = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", store.path().join("store.db").display());
    let miroir = Miroir::start_with(&fleet, &url, 1, &[("MIROIR_SHARDS", "16")]);
    let direct = Direct {
        port: single.port(0),
    };
    miroir.write(
        "POST",
        "/indexes",
        &json!({"uid": INDEX, "primaryKey": "id"}),
    );
    direct.write(
        "POST",
        "/indexes",
        &json!({"uid": INDEX, "primaryKey": "id"}),
    );
    let settings = format!("/indexes/{INDEX}/settings");
    miroir.write("PATCH", &settings, &SETTINGS());
    direct.write("PATCH", &settings, &SETTINGS());
    let path = format!("/indexes/{INDEX}/documents");
    miroir.write("POST", &path, &Value::from(documents()));
    direct.write("POST", &path, &Value::from(documents()));
    Some(Setup {
        miroir,
        direct,
        fleet,
        _single: single,
        _store: store,
    })
}

/// The queries compared: keyword, placeholder, filter, sort (with and without `q`, several
/// rules, strings and missing values), facets.
fn queries() -> Vec<Value> {
    vec![
        json!({"q": "alpha"}),
        json!({"q": "bravo charlie"}),
        json!({"q": ""}),
        json!({"q": "", "filter": "genre = drama"}),
        json!({"q": "delta", "filter": "rating >= 2"}),
        json!({"q": "echo", "sort": ["year:desc"]}),
        json!({"q": "", "sort": ["rating:asc", "title:desc"]}),
        json!({"q": "", "sort": ["year:asc"], "filter": "genre IN [comedy, horror]"}),
        json!({"q": "foxtrot", "facets": ["genre", "year", "rating"]}),
    ]
}

/// `query` with more parameters.
fn with(query: &Value, more: Value) -> Value {
    let mut query = query.clone();
    for (key, value) in more.as_object().unwrap() {
        query[key] = value.clone();
    }
    query
}

fn ids(response: &Value) -> Vec<u64> {
    response["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["id"].as_u64().unwrap())
        .collect()
}

/// Each hit's ranking details without the `order` numbers: the sequence of rule values that
/// decides the ranking.
fn ranks(response: &Value) -> Vec<Value> {
    response["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            let mut details = hit["_rankingScoreDetails"].clone();
            for entry in details.as_object_mut().unwrap().values_mut() {
                entry.as_object_mut().unwrap().remove("order");
            }
            details
        })
        .collect()
}

/// Every page of `size` of `query` through `miroir`, concatenated, in offset mode and in page
/// mode; both must equal the one large page.
fn assert_pages_concatenate(miroir: &Miroir, query: &Value, large: &[u64]) {
    let size = 23;
    let mut offset_pages = Vec::new();
    let mut page_mode = Vec::new();
    for page in 0..large.len().div_ceil(size) + 1 {
        let offset = with(query, json!({"offset": page * size, "limit": size}));
        offset_pages.extend(ids(&miroir.search(INDEX, offset)));
        let paged = with(query, json!({"page": page + 1, "hitsPerPage": size}));
        page_mode.extend(ids(&miroir.search(INDEX, paged)));
    }
    assert_eq!(offset_pages, large, "offset pages of {query}");
    assert_eq!(page_mode, large, "page-mode pages of {query}");
}

#[test]
fn merged_search_equals_one_real_node() {
    // Bound whole: a pattern with `..` would drop (stop) the nodes at once.
    let Some(setup) = start() else {
        return;
    };
    let (miroir, direct) = (&setup.miroir, &setup.direct);
    for query in queries() {
        let large = with(
            &query,
            json!({"limit": 1000, "showRankingScore": true, "showRankingScoreDetails": true}),
        );
        let ours = miroir.search(INDEX, large.clone());
        let real = direct.search(&large);
        assert_eq!(ranks(&ours), ranks(&real), "ranking of {query}");
        let scores = |response: &Value| -> Vec<Value> {
            response["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|hit| hit["_rankingScore"].clone())
                .collect()
        };
        assert_eq!(scores(&ours), scores(&real), "scores of {query}");
        let set = |response: &Value| ids(response).into_iter().collect::<BTreeSet<_>>();
        assert_eq!(set(&ours), set(&real), "documents of {query}");
        for key in ["estimatedTotalHits", "facetDistribution", "facetStats"] {
            assert_eq!(ours[key], real[key], "{key} of {query}");
        }
        // Hits are the node's documents without Miroir's field.
        let hit = &ours["hits"][0];
        assert!(hit.get("_miroir_shard").is_none(), "{hit}");
        let rules = hit["_rankingScoreDetails"].as_object().unwrap();
        assert!(
            rules.keys().all(|rule| !rule.starts_with("_miroir")),
            "{hit}"
        );

        let exhaustive = with(&query, json!({"hitsPerPage": 5}));
        assert_eq!(
            miroir.search(INDEX, exhaustive.clone())["totalHits"],
            direct.search(&exhaustive)["totalHits"],
            "totalHits of {query}"
        );
        assert_pages_concatenate(miroir, &query, &ids(&ours));
    }
}

#[test]
fn distinct_search_keeps_one_hit_per_value_across_nodes() {
    // Bound whole: a pattern with `..` would drop (stop) the nodes at once.
    let Some(setup) = start() else {
        return;
    };
    let (miroir, direct) = (&setup.miroir, &setup.direct);
    for query in [
        json!({"q": "alpha", "distinct": "year"}),
        json!({"q": "", "distinct": "genre", "attributesToRetrieve": ["id"]}),
        json!({"q": "", "distinct": "rating", "sort": ["year:desc"]}),
    ] {
        let large = with(
            &query,
            json!({"limit": 1000, "showRankingScoreDetails": true}),
        );
        let ours = miroir.search(INDEX, large.clone());
        let real = direct.search(&large);
        assert_eq!(ranks(&ours), ranks(&real), "ranking of {query}");
        // The values kept are the single node's, each with a hit of the same rank (which of
        // several tied hits of one value is kept may differ); a hidden attribute stays hidden.
        let attribute = query["distinct"].as_str().unwrap();
        let retrieve = with(&large, json!({"attributesToRetrieve": ["id", attribute]}));
        let kept = |response: &Value| -> Vec<String> {
            let mut kept: Vec<String> = response["hits"]
                .as_array()
                .unwrap()
                .iter()
                .zip(ranks(response))
                .map(|(hit, rank)| format!("{} {rank}", hit[attribute]))
                .collect();
            kept.sort();
            kept
        };
        assert_eq!(
            kept(&miroir.search(INDEX, retrieve.clone())),
            kept(&direct.search(&retrieve)),
            "{query}"
        );
        if query.get("attributesToRetrieve").is_some() {
            assert!(ours["hits"][0].get(attribute).is_none(), "{ours}");
        }
        assert_pages_concatenate(miroir, &query, &ids(&ours));
    }
}

#[test]
fn clients_see_their_own_ranking_rules_and_nodes_break_ties_by_shard() {
    let Some(setup) = start() else {
        return;
    };
    let (miroir, direct) = (&setup.miroir, &setup.direct);
    let path = format!("/indexes/{INDEX}/settings/ranking-rules");
    let shown = miroir.json("GET", &path, &Value::Null);
    assert_eq!(shown, direct.call("GET", &path, &Value::Null));
    let custom = json!(["words", "rating:desc", "sort", "typo"]);
    miroir.write("PUT", &path, &custom);
    assert_eq!(miroir.json("GET", &path, &Value::Null), custom);
    let node = Direct {
        port: setup.fleet.port(0),
    };
    let on_node = node.call("GET", &path, &Value::Null);
    assert_eq!(
        on_node,
        json!(["words", "rating:desc", "sort", "typo", "_miroir_shard:asc"])
    );
    // A client cannot take the rule away.
    miroir.write("PUT", &path, &json!(["words", "_miroir_shard:desc"]));
    assert_eq!(
        node.call("GET", &path, &Value::Null),
        json!(["words", "_miroir_shard:asc"])
    );
    miroir.write("DELETE", &path, &Value::Null);
    assert_eq!(
        miroir.json("GET", &path, &Value::Null),
        direct.call("GET", &path, &Value::Null)
    );
    // An index that lost the rule on a node (changed there directly) is repaired by the first
    // search that notices, and its answers stay exact meanwhile.
    node.write("PUT", &path, &json!(["words"]));
    let query = json!({"q": "", "limit": 1000});
    let large = ids(&miroir.search(INDEX, query.clone()));
    assert_pages_concatenate(miroir, &query, &large);
    wait_until(
        "the node's rule to be repaired",
        Duration::from_secs(30),
        || {
            node.call("GET", &path, &Value::Null)
                .as_array()
                .unwrap()
                .last()
                == Some(&json!("_miroir_shard:asc"))
        },
    );
}
