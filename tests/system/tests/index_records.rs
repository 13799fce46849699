//! The per-index state record, across `miroir` processes sharing one Redis store:
//!
//! - an index deleted and re-created with another primary key through one replica is routed by
//!   the new key through the other (no process keeps its own copy of the key);
//! - a document write racing `DELETE /indexes/{uid}` never leaves a node holding the index
//!   without `_miroir_shard` filterable (the write is enqueued before the deletion, or refused
//!   with `miroir_index_busy`, or re-creates the index the way Miroir creates indexes).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use miroir_system_tests::{Fleet, Miroir, RealNodes};
use miroir_test_support::process::http;
use miroir_test_support::{shared_redis, unique_prefix};
use serde_json::{Value, json};

/// Two replicas over three test nodes and one Redis store. Node calls time out after 1 s, so a
/// deletion's bounded wait for older writes (`2 × node timeout + 1 s`) stays well under the test
/// client's 5 s read timeout even when a round hits the wait's worst case on a loaded machine.
fn replicas(label: &str) -> (Fleet, Miroir, Miroir) {
    let fleet = Fleet::start(3);
    let url = shared_redis().store_url(&unique_prefix(label), Duration::from_secs(2));
    let env = [("MIROIR_SCATTER__NODE_TIMEOUT_MS", "1000")];
    let a = Miroir::start_with(&fleet, &url, 1, &env);
    let b = Miroir::start_with(&fleet, &url, 1, &env);
    (fleet, a, b)
}

/// The task uid of a 202, or `None` for another answer.
fn task_uid(reply: &miroir_test_support::process::HttpReply) -> Option<u64> {
    (reply.status == 202).then(|| {
        serde_json::from_str::<Value>(&reply.body).unwrap()["taskUid"]
            .as_u64()
            .unwrap()
    })
}

#[test]
fn a_recreated_index_is_routed_by_its_new_primary_key_on_every_replica() {
    let (_fleet, a, b) = replicas("records-primary-key");
    a.write(
        "POST",
        "/indexes",
        &json!({"uid": "books", "primaryKey": "id"}),
    );
    // `b` routes by `id` (and would have remembered it before records existed).
    b.write(
        "POST",
        "/indexes/books/documents",
        &json!([{"id": 1, "isbn": "one"}]),
    );
    a.write("DELETE", "/indexes/books", &Value::Null);
    a.write(
        "POST",
        "/indexes",
        &json!({"uid": "books", "primaryKey": "isbn"}),
    );
    let task = b.write(
        "POST",
        "/indexes/books/documents",
        &json!([{"id": 7, "isbn": "978-3"}]),
    );
    assert_eq!(task["details"]["indexedDocuments"], 1, "{task}");
    let document = a.json("GET", "/indexes/books/documents/978-3", &Value::Null);
    assert_eq!(document["id"], 7);
    // A primary-key parameter naming the old key is refused by both.
    for replica in [&a, &b] {
        let reply = replica.call(
            "POST",
            "/indexes/books/documents?primaryKey=id",
            &json!([{"id": 8, "isbn": "978-4"}]),
        );
        assert_eq!(reply.status, 400, "{}", reply.body);
    }
}

#[test]
fn a_write_racing_an_index_deletion_never_leaves_the_index_without_the_shard_field() {
    let (fleet, a, b) = replicas("records-delete-race");
    for node in &fleet.nodes {
        node.faults().set_latency(Duration::from_millis(15));
    }
    race_deletions_and_writes(&a, &b, |index| {
        fleet.nodes.get(index).map(|node| {
            node.settings("race")
                .map(|settings| settings["filterableAttributes"].clone())
        })
    });
}

/// The same race over three real Meilisearch nodes (`MIROIR_MEILISEARCH_BIN`, the path of a
/// `meilisearch` 1.50 binary; the test says it skipped without it), where the nodes' own task
/// queues and timings decide the interleavings.
#[test]
fn a_write_racing_an_index_deletion_on_real_meilisearch_nodes() {
    let Some(nodes) = RealNodes::start(3) else {
        return;
    };
    let url = shared_redis().store_url(&unique_prefix("records-real-race"), Duration::from_secs(2));
    let env = [("MIROIR_SCATTER__NODE_TIMEOUT_MS", "1000")];
    let a = Miroir::start_with(&nodes, &url, 1, &env);
    let b = Miroir::start_with(&nodes, &url, 1, &env);
    race_deletions_and_writes(&a, &b, |index| {
        let port = (index < nodes.len()).then(|| nodes.port(index))?;
        let reply = http(
            port,
            "GET",
            "/indexes/race/settings/filterable-attributes",
            &[],
            "",
        )
        .unwrap();
        Some((reply.status == 200).then(|| serde_json::from_str(&reply.body).unwrap()))
    });
}

/// Rounds of: create `race` through `a`, then `DELETE /indexes/race` through `a` and a document
/// write through `b` at about the same time, either first. After each round, every node
/// (`filterable(node)`: `None` past the last node, else the node's filterable attributes of
/// `race` if it holds it) holds `race` with `_miroir_shard` or not at all.
fn race_deletions_and_writes(
    a: &Miroir,
    b: &Miroir,
    filterable: impl Fn(usize) -> Option<Option<Value>>,
) {
    let (mut refused, mut before, mut after) = (0, 0, 0);
    for round in 0..16_u64 {
        a.write(
            "POST",
            "/indexes",
            &json!({"uid": "race", "primaryKey": "id"}),
        );
        let documents = json!([{"id": round, "title": "racing"}]);
        // Either request goes first, the other 0 to 15 ms later.
        let pause = Duration::from_millis(round / 2 % 4 * 5);
        let (deletion, write) = std::thread::scope(|scope| {
            let delete = || a.call("DELETE", "/indexes/race", &Value::Null);
            let write = || b.call("POST", "/indexes/race/documents?primaryKey=id", &documents);
            if round % 2 == 0 {
                let deletion = scope.spawn(delete);
                std::thread::sleep(pause);
                let write = write();
                (deletion.join().unwrap(), write)
            } else {
                let write = scope.spawn(write);
                std::thread::sleep(pause);
                let deletion = delete();
                (deletion, write.join().unwrap())
            }
        });
        let deleted = a.wait_task(task_uid(&deletion).unwrap());
        assert_eq!(deleted["status"], "succeeded", "{deleted}");
        match task_uid(&write) {
            Some(uid) => {
                let task = b.wait_task(uid);
                assert_eq!(task["status"], "succeeded", "{task}");
                if task["finishedAt"].as_str() < deleted["finishedAt"].as_str() {
                    before += 1;
                } else {
                    after += 1;
                }
            }
            None => {
                assert_eq!(write.status, 503, "{}", write.body);
                assert!(write.body.contains("miroir_index_busy"), "{}", write.body);
                refused += 1;
            }
        }
        let mut index = 0;
        while let Some(attributes) = filterable(index) {
            if let Some(attributes) = attributes {
                assert!(
                    attributes
                        .as_array()
                        .unwrap()
                        .contains(&json!("_miroir_shard")),
                    "round {round}: node {index} holds `race` without `_miroir_shard`: {attributes}"
                );
            }
            index += 1;
        }
        // What Miroir says matches the nodes: searchable when it exists, else not found.
        let search = a.call("POST", "/indexes/race/search", &json!({"q": ""}));
        assert!(
            matches!(search.status, 200 | 404),
            "round {round}: {} {}",
            search.status,
            search.body
        );
        if search.status == 200 {
            a.write("DELETE", "/indexes/race", &Value::Null);
        }
    }
    eprintln!("writes before the deletion: {before}, after it: {after}, refused: {refused}");
}

#[test]
fn a_primary_key_change_reaches_every_replica_and_is_refused_once_documents_exist() {
    let (_fleet, a, b) = replicas("records-primary-key-update");
    a.write(
        "POST",
        "/indexes",
        &json!({"uid": "parts", "primaryKey": "id"}),
    );
    a.write("PATCH", "/indexes/parts", &json!({"primaryKey": "sku"}));
    b.write(
        "POST",
        "/indexes/parts/documents",
        &json!([{"id": 1, "sku": "a-1"}]),
    );
    assert_eq!(
        a.json("GET", "/indexes/parts/documents/a-1", &Value::Null)["id"],
        1
    );
    let reply = b.call("PATCH", "/indexes/parts", &json!({"primaryKey": "id"}));
    let task = b.wait_task(task_uid(&reply).unwrap());
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"]["code"], "index_primary_key_already_exists");
    // Nothing changed: documents are still routed by `sku` on both replicas.
    a.write(
        "POST",
        "/indexes/parts/documents",
        &json!([{"id": 2, "sku": "b-2"}]),
    );
    assert_eq!(
        b.json("GET", "/indexes/parts/documents/b-2", &Value::Null)["id"],
        2
    );
}

/// A deletion whose process died after marking the record (`deleting`, older than the time a
/// deletion may take) is finished by the next write: the index is deleted on the nodes, then
/// re-created by the write the way Miroir creates indexes.
#[test]
fn a_deletion_abandoned_by_a_dead_process_is_finished_by_the_next_write() {
    let fleet = Fleet::start(3);
    let url = shared_redis().store_url(&unique_prefix("records-abandoned"), Duration::from_secs(2));
    let miroir = Miroir::start(&fleet, &url, 1);
    miroir.write(
        "POST",
        "/indexes",
        &json!({"uid": "ghost", "primaryKey": "id"}),
    );
    miroir.write(
        "POST",
        "/indexes/ghost/documents",
        &json!([{"id": 1}, {"id": 2}, {"id": 3}]),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = miroir_store::open(&url).await.unwrap();
        let record = store.get_index("ghost").await.unwrap().unwrap();
        let mut abandoned = record.clone();
        abandoned.state = miroir_store::IndexState::Deleting;
        abandoned.updated_at = miroir_store::Timestamp::now().minus(Duration::from_secs(3600));
        store.put_index(abandoned, record.version).await.unwrap();
    });
    let task = miroir.write(
        "POST",
        "/indexes/ghost/documents?primaryKey=id",
        &json!([{"id": 9}]),
    );
    assert_eq!(task["details"]["indexedDocuments"], 1, "{task}");
    let total: usize = fleet
        .nodes
        .iter()
        .map(|node| node.document_count("ghost"))
        .sum();
    assert_eq!(total, 1, "the abandoned deletion was not finished");
    for node in &fleet.nodes {
        let settings = node.settings("ghost").unwrap();
        assert!(
            settings["filterableAttributes"]
                .as_array()
                .unwrap()
                .contains(&json!("_miroir_shard")),
            "{settings}"
        );
    }
    let record = runtime.block_on(async {
        let store = miroir_store::open(&url).await.unwrap();
        store.get_index("ghost").await.unwrap().unwrap()
    });
    assert_eq!(record.state, miroir_store::IndexState::Active);
    assert_eq!(record.primary_key.as_deref(), Some("id"));
}
