//! A Meilisearch test node down (connections refused) or slow (answers after the scatter
//! timeout): writes follow the quorum rules (a group succeeds for a shard when `floor(RF/2) + 1`
//! of its nodes enqueued the write), searches follow `unavailable_shard_policy` (`partial`: the
//! shards that answered, named missing in `X-Miroir-Degraded`; `error`: 503
//! `miroir_shard_unavailable`). Every answer comes within the node timeout plus slack.

use std::time::{Duration, Instant};

use miroir_system_tests::{Fleet, Miroir};
use miroir_test_support::process::HttpReply;
use serde_json::{Value, json};

use crate::report;

/// `scatter.node_timeout_ms` given to `miroir`.
const NODE_TIMEOUT_MS: &str = "1000";
/// Latency of the slow node: well past the node timeout.
const SLOW: Duration = Duration::from_millis(2500);
/// What one request may take with a node out: a node timeout and a retry, plus slack.
const ANSWER_BOUND: Duration = Duration::from_millis(2 * 1000 + 1000);

/// How a node is taken out.
#[derive(Clone, Copy, Debug)]
enum Failure {
    Down,
    Slow,
}

fn documents(count: u64) -> Value {
    (0..count)
        .map(|id| json!({"id": id, "title": format!("movie {id}")}))
        .collect()
}

fn start(fleet: &Fleet, dir: &tempfile::TempDir, rf: u32, env: &[(&str, &str)]) -> Miroir {
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let mut all = vec![("MIROIR_SCATTER__NODE_TIMEOUT_MS", NODE_TIMEOUT_MS)];
    all.extend_from_slice(env);
    Miroir::start_with(fleet, &url, rf, &all)
}

fn take_out(fleet: &mut Fleet, node: usize, failure: Failure) {
    match failure {
        Failure::Down => fleet.stop(node),
        Failure::Slow => fleet.nodes[node].faults().set_latency(SLOW),
    }
}

/// One timed request; panics if it is not answered within [`ANSWER_BOUND`].
fn timed(miroir: &Miroir, method: &str, path: &str, body: &Value) -> HttpReply {
    let start = Instant::now();
    let reply = miroir.call(method, path, body);
    let elapsed = start.elapsed();
    assert!(
        elapsed <= ANSWER_BOUND,
        "{method} {path} took {elapsed:?} (bound {ANSWER_BOUND:?})"
    );
    reply
}

fn assert_unavailable(reply: &HttpReply, code: &str) {
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.header("retry-after").is_some(), "{reply:?}");
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["type"], "system", "{body}");
}

#[test]
fn writes_follow_the_quorum_rules_with_a_node_down_or_slow() {
    for failure in [Failure::Down, Failure::Slow] {
        // RF = 3 on three nodes: quorum 2 of 3, so one node out still acknowledges every shard.
        let mut fleet = Fleet::start(3);
        let dir = tempfile::tempdir().unwrap();
        let miroir = start(&fleet, &dir, 3, &[]);
        miroir.write(
            "POST",
            "/indexes",
            &json!({"uid": "movies", "primaryKey": "id"}),
        );
        take_out(&mut fleet, 2, failure);
        let reply = timed(&miroir, "POST", "/indexes/movies/documents", &documents(40));
        assert_eq!(reply.status, 202, "{failure:?}: {}", reply.body);
        let uid = serde_json::from_str::<Value>(&reply.body).unwrap()["taskUid"]
            .as_u64()
            .unwrap();
        let task = miroir.wait_task(uid);
        assert_eq!(task["status"], "succeeded", "{failure:?}: {task}");
        for node in &fleet.nodes[..2] {
            assert_eq!(node.document_count("movies"), 40, "{failure:?}");
        }

        // RF = 2 on three nodes: quorum 2 of 2, so the shards placed on the node out have no
        // quorum and the write is refused: 503, and its task (if listed) failed.
        let mut fleet = Fleet::start(3);
        let dir = tempfile::tempdir().unwrap();
        let miroir = start(&fleet, &dir, 2, &[]);
        miroir.write(
            "POST",
            "/indexes",
            &json!({"uid": "movies", "primaryKey": "id"}),
        );
        take_out(&mut fleet, 2, failure);
        let reply = timed(&miroir, "POST", "/indexes/movies/documents", &documents(40));
        assert_unavailable(&reply, "miroir_no_quorum");
        let tasks = miroir.json("GET", "/tasks?types=documentAdditionOrUpdate", &Value::Null);
        // The refused write is recorded as a failed task, never as a success.
        for task in tasks["results"].as_array().unwrap() {
            assert_eq!(task["status"], "failed", "{failure:?}: {task}");
            assert_eq!(
                task["error"]["code"], "miroir_no_quorum",
                "{failure:?}: {task}"
            );
        }
    }
    report("nodes writes: quorum held with a node down and slow (RF 3), refused without (RF 2)");
}

#[test]
fn searches_follow_the_unavailable_shard_policy_with_a_node_down_or_slow() {
    for failure in [Failure::Down, Failure::Slow] {
        let mut fleet = Fleet::start(3);
        let dir = tempfile::tempdir().unwrap();
        let partial = start(&fleet, &dir, 1, &[]);
        let error = start(
            &fleet,
            &dir,
            1,
            &[("MIROIR_SCATTER__UNAVAILABLE_SHARD_POLICY", "error")],
        );
        partial.write(
            "POST",
            "/indexes",
            &json!({"uid": "movies", "primaryKey": "id"}),
        );
        partial.write("POST", "/indexes/movies/documents", &documents(90));
        let on_node_1 = fleet.nodes[1].document_count("movies");
        assert!(on_node_1 > 0);
        take_out(&mut fleet, 1, failure);

        let search = json!({"q": "movie", "limit": 100});
        let reply = timed(&partial, "POST", "/indexes/movies/search", &search);
        assert_eq!(reply.status, 200, "{failure:?}: {}", reply.body);
        assert!(
            reply.header("x-miroir-degraded").is_some(),
            "{failure:?}: a partial answer must say so: {reply:?}"
        );
        let hits = serde_json::from_str::<Value>(&reply.body).unwrap()["hits"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(hits, 90 - on_node_1, "{failure:?}");

        let reply = timed(&error, "POST", "/indexes/movies/search", &search);
        assert_unavailable(&reply, "miroir_shard_unavailable");
    }
    report("nodes searches: partial answers named degraded shards, error answered 503");
}
