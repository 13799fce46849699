//! Meilisearch routes through `miroir` over real Meilisearch nodes (`MIROIR_MEILISEARCH_BIN`;
//! each test says it skipped without it): `POST /tasks/cancel` reaches the node tasks and the
//! Miroir tasks end as the nodes left them; `DELETE /tasks` removes the Miroir tasks and their
//! node tasks; experimental features change on every node; `/network` describes Miroir.
#![allow(clippy::unwrap_used)]

use miroir_system_tests::{Miroir, RealNodes};
use miroir_test_support::process::http;
use serde_json::{Value, json};

/// `miroir` over two real nodes, with an index `films`.
fn start() -> Option<(Miroir, RealNodes, tempfile::TempDir)> {
    let fleet = RealNodes::start(2)?;
    let store = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", store.path().join("store.db").display());
    let miroir = Miroir::start(&fleet, &url, 1);
    miroir.write(
        "POST",
        "/indexes",
        &json!({"uid": "films", "primaryKey": "id"}),
    );
    Some((miroir, fleet, store))
}

fn accepted(miroir: &Miroir, method: &str, path: &str, body: &Value) -> u64 {
    let reply = miroir.call(method, path, body);
    assert_eq!(reply.status, 202, "{method} {path}: {}", reply.body);
    serde_json::from_str::<Value>(&reply.body).unwrap()["taskUid"]
        .as_u64()
        .unwrap()
}

fn batch(from: u64, count: u64) -> Value {
    (from..from + count)
        .map(|id| json!({"id": id, "title": format!("film {id} with a long enough title")}))
        .collect()
}

#[test]
fn a_cancelation_cancels_what_the_nodes_had_not_done() {
    let Some((miroir, _fleet, _store)) = start() else {
        return;
    };
    // Enough queued work that the later writes are still waiting when the cancelation arrives.
    let writes: Vec<u64> = (0..6)
        .map(|n| {
            accepted(
                &miroir,
                "POST",
                "/indexes/films/documents",
                &batch(n * 5_000, 5_000),
            )
        })
        .collect();
    let canceler = accepted(
        &miroir,
        "POST",
        "/tasks/cancel?indexUids=films&types=documentAdditionOrUpdate",
        &Value::Null,
    );
    let cancelation = miroir.wait_task(canceler);
    assert_eq!(cancelation["status"], "succeeded", "{cancelation}");
    assert_eq!(cancelation["type"], "taskCancelation");
    let details = &cancelation["details"];
    assert_eq!(
        details["originalFilter"],
        "?indexUids=films&types=documentAdditionOrUpdate"
    );
    let matched = details["matchedTasks"].as_u64().unwrap();
    assert!(matched >= 1, "{cancelation}");
    assert_eq!(
        cancelation["miroir"]["nodeTasks"]
            .as_object()
            .unwrap()
            .len(),
        2
    );

    let mut canceled = 0;
    for uid in writes {
        let task = miroir.wait_task(uid);
        match task["status"].as_str().unwrap() {
            "canceled" => {
                canceled += 1;
                assert_eq!(task["canceledBy"], canceler, "{task}");
            }
            "succeeded" => assert_eq!(task["canceledBy"], Value::Null, "{task}"),
            "failed" => assert_eq!(
                task["error"]["code"], "miroir_task_partly_canceled",
                "{task}"
            ),
            other => panic!("unexpected status {other}: {task}"),
        }
    }
    assert!(canceled >= 1, "the last writes were still queued");
    assert_eq!(details["canceledTasks"], canceled, "{cancelation}");
    // The index still answers, with the documents of the writes that were not canceled.
    let stats = miroir.json("GET", "/indexes/films/stats", &Value::Null);
    assert!(stats["numberOfDocuments"].as_u64().unwrap() <= 30_000);
}

#[test]
fn a_deletion_removes_miroir_tasks_and_their_node_tasks() {
    let Some((miroir, fleet, _store)) = start() else {
        return;
    };
    let write = miroir.write("POST", "/indexes/films/documents", &batch(0, 100));
    let node_tasks = write["miroir"]["nodeTasks"].as_object().unwrap().clone();
    assert_eq!(node_tasks.len(), 2, "{write}");
    let deletion = accepted(&miroir, "DELETE", "/tasks?statuses=succeeded", &Value::Null);
    let task = miroir.wait_task(deletion);
    assert_eq!(task["status"], "succeeded", "{task}");
    // The index creation and the document write.
    assert_eq!(task["details"]["matchedTasks"], 2, "{task}");
    assert_eq!(task["details"]["deletedTasks"], 2, "{task}");
    let uid = write["uid"].as_u64().unwrap();
    assert_eq!(
        miroir
            .call("GET", &format!("/tasks/{uid}"), &Value::Null)
            .status,
        404
    );
    // Each node deletes its own node task of the write (its task deletion runs on its own).
    for (index, (_, node_uid)) in node_tasks.iter().enumerate() {
        let path = format!("/tasks/{node_uid}");
        miroir_test_support::process::wait_until(
            "the node task to be deleted",
            std::time::Duration::from_secs(20),
            || {
                http(fleet.port(index), "GET", &path, &[], "")
                    .unwrap()
                    .status
                    == 404
            },
        );
    }
}

#[test]
fn experimental_features_change_on_every_node_and_network_describes_miroir() {
    let Some((miroir, fleet, _store)) = start() else {
        return;
    };
    let features = miroir.json("GET", "/experimental-features", &Value::Null);
    assert_eq!(features["network"], false, "{features}");
    let refused = miroir.call("GET", "/network", &Value::Null);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("feature_not_enabled"),
        "{}",
        refused.body
    );

    let changed = miroir.json("PATCH", "/experimental-features", &json!({"network": true}));
    assert_eq!(changed["network"], true, "{changed}");
    for index in 0..fleet.len() {
        let reply = http(fleet.port(index), "GET", "/experimental-features", &[], "").unwrap();
        let node: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(node["network"], true, "node {index}: {node}");
    }
    let network = miroir.json("GET", "/network", &Value::Null);
    assert_eq!(network["self"], Value::Null, "{network}");
    assert_eq!(network["remotes"], json!({}), "{network}");
    let refused = miroir.call("PATCH", "/network", &json!({"self": "a"}));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("miroir_network_unsupported"),
        "{}",
        refused.body
    );

    // A node's refusal is answered as the node wrote it.
    let bogus = miroir.call("PATCH", "/experimental-features", &json!({"bogus": true}));
    assert_eq!(bogus.status, 400, "{}", bogus.body);
    let error: Value = serde_json::from_str(&bogus.body).unwrap();
    assert_eq!(error["code"], "bad_request", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Unknown field `bogus`"),
        "{error}"
    );
}

/// An index created without `primaryKey` on real nodes gets the key inferred from its first
/// documents, on every node (not only those the documents reach), and a CSV body reaches them as
/// the documents Meilisearch builds from it.
#[test]
fn the_primary_key_is_inferred_on_every_real_node() {
    let Some((miroir, fleet, _store)) = start() else {
        return;
    };
    miroir.write("POST", "/indexes", &json!({"uid": "books"}));
    let refused = accepted(
        &miroir,
        "POST",
        "/indexes/books/documents",
        &json!([{"title": "x"}]),
    );
    let task = miroir.wait_task(refused);
    assert_eq!(
        task["error"]["code"], "index_primary_key_no_candidate_found",
        "{task}"
    );
    miroir.write(
        "POST",
        "/indexes/books/documents",
        &json!([{"bookId": 1, "title": "one"}]),
    );
    for index in 0..fleet.len() {
        let reply = http(fleet.port(index), "GET", "/indexes/books", &[], "").unwrap();
        let node: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(node["primaryKey"], "bookId", "node {index}: {node}");
    }
    let csv = "bookId,title,pages:number\n2,two,120\n3,three,\n";
    let reply = http(
        miroir.port,
        "POST",
        "/indexes/books/documents",
        &[("Content-Type", "text/csv")],
        csv,
    )
    .unwrap();
    assert_eq!(reply.status, 202, "{}", reply.body);
    let uid = serde_json::from_str::<Value>(&reply.body).unwrap()["taskUid"]
        .as_u64()
        .unwrap();
    assert_eq!(miroir.wait_task(uid)["status"], "succeeded");
    let two = miroir.json("GET", "/indexes/books/documents/2", &Value::Null);
    assert_eq!(two, json!({"bookId": "2", "title": "two", "pages": 120}));
    let three = miroir.json("GET", "/indexes/books/documents/3", &Value::Null);
    assert_eq!(three["pages"], Value::Null, "{three}");
}
