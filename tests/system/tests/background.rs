//! Background work across real `miroir` processes (plan §14.5), on Redis shared by three
//! replicas and on SQLite:
//!
//! - every canary is run by exactly one replica (counted in each replica's metrics and in the
//!   stored run history); after `kill -9` of one replica its canaries are taken over within the
//!   peer TTL plus one interval, and no canary runs twice in one interval;
//! - a leader paused with SIGSTOP beyond its lease resumes into a refused fenced write and steps
//!   down, while another replica leads;
//! - tasks reach `succeeded` with no client polling (SQLite and Redis);
//! - a replica SIGKILLed after the nodes accepted a write but before it recorded the node tasks
//!   leaves an orphan that another replica reconciles with the nodes (by the write's
//!   `customMetadata` marker): the task succeeds instead of failing as "nothing was written";
//! - a reindex job survives `kill -9` of its worker midway: another replica resumes it from its
//!   progress and the new index holds every document exactly once.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use miroir_store::{DynStore, TaskStatus, Timestamp};
use miroir_system_tests::{Fleet, Miroir};
use miroir_test_support::process::wait_until;
use miroir_test_support::{shared_redis, unique_prefix};
use serde_json::{Value, json};

/// Background timing of these tests: fast ticks, short leases.
const TICK_MS: u64 = 200;
const PEER_TTL_MS: u64 = 1500;
const LEASE_MS: u64 = 1500;
/// The shortest canary interval the API accepts.
const CANARY_INTERVAL_S: u64 = 10;

fn background_env(pod: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MIROIR_BACKGROUND__POD_ID", pod.to_owned()),
        ("MIROIR_BACKGROUND__TICK_MS", TICK_MS.to_string()),
        ("MIROIR_BACKGROUND__PEER_TTL_MS", PEER_TTL_MS.to_string()),
        ("MIROIR_BACKGROUND__LEADER_LEASE_MS", LEASE_MS.to_string()),
        ("MIROIR_BACKGROUND__JOB_LEASE_MS", LEASE_MS.to_string()),
    ]
}

fn start(fleet: &Fleet, url: &str, replication_factor: u32, pod: &str) -> Miroir {
    let env = background_env(pod);
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    Miroir::start_with(fleet, url, replication_factor, &env)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn open_store(runtime: &tokio::runtime::Runtime, url: &str) -> DynStore {
    runtime.block_on(miroir_store::open(url)).unwrap()
}

/// Creates `movies` with ten documents.
fn seed_movies(miroir: &Miroir) {
    let documents: Vec<Value> = (0..10)
        .map(|id| json!({"id": id, "title": format!("movie {id}")}))
        .collect();
    miroir.write(
        "POST",
        "/indexes/movies/documents?primaryKey=id",
        &Value::Array(documents),
    );
}

/// Runs of each canary by each replica, from their metrics.
fn runs_by_replica(replicas: &[Option<&Miroir>], canaries: &[String]) -> Vec<Vec<f64>> {
    canaries
        .iter()
        .map(|canary| {
            replicas
                .iter()
                .map(|replica| {
                    replica.map_or(0.0, |miroir| {
                        miroir.metric(
                            "miroir_canary_runs_total",
                            &format!("canary=\"{canary}\",result=\"pass\""),
                        )
                    })
                })
                .collect()
        })
        .collect()
}

/// The stored run times of a canary, oldest first.
fn run_times(runtime: &tokio::runtime::Runtime, store: &DynStore, canary: &str) -> Vec<i64> {
    let mut times: Vec<i64> = runtime
        .block_on(store.list_canary_runs(canary, 100))
        .unwrap()
        .into_iter()
        .map(|run| run.ran_at.as_millis())
        .collect();
    times.reverse();
    times
}

#[test]
fn three_replicas_on_redis_split_the_work_take_over_after_kill_and_fence_a_paused_leader() {
    let fleet = Fleet::start(3);
    let url = shared_redis().store_url(&unique_prefix("background"), Duration::from_secs(2));
    let runtime = runtime();
    let store = open_store(&runtime, &url);
    let mut replicas: Vec<Option<Miroir>> = (0..3)
        .map(|index| Some(start(&fleet, &url, 1, &format!("pod-{index}"))))
        .collect();
    let first = replicas[0].as_ref().unwrap();
    seed_movies(first);
    wait_until("three live peers", Duration::from_secs(10), || {
        replicas
            .iter()
            .flatten()
            .all(|miroir| miroir.metric("miroir_peer_pod_count", "") == 3.0)
    });

    let canaries: Vec<String> = (0..9).map(|n| format!("canary-{n}")).collect();
    for name in &canaries {
        first.json(
            "POST",
            "/_miroir/canaries",
            &json!({
                "name": name,
                "index": "movies",
                "interval_s": CANARY_INTERVAL_S,
                "query": {"q": "movie", "limit": 5},
                "assertions": [{"type": "min_hits", "value": 10}],
            }),
        );
    }
    // Two rounds of every canary.
    wait_until("two runs of every canary", Duration::from_secs(30), || {
        canaries
            .iter()
            .all(|canary| run_times(&runtime, &store, canary).len() >= 2)
    });
    let live: Vec<Option<&Miroir>> = replicas.iter().map(Option::as_ref).collect();
    let counts = runs_by_replica(&live, &canaries);
    for (canary, per_replica) in canaries.iter().zip(&counts) {
        let runners = per_replica.iter().filter(|count| **count > 0.0).count();
        assert_eq!(runners, 1, "{canary} run by {per_replica:?}");
        let stored = run_times(&runtime, &store, canary).len() as f64;
        let counted: f64 = per_replica.iter().sum();
        assert!(
            (counted - stored).abs() <= 1.0,
            "{canary}: {counted} runs counted, {stored} stored (a run may land between reads)"
        );
    }

    // kill -9 the replica owning the most canaries.
    let owned = |index: usize| counts.iter().filter(|row| row[index] > 0.0).count();
    let victim = (0..3).max_by_key(|index| owned(*index)).unwrap();
    assert!(owned(victim) > 0);
    let victims: Vec<String> = canaries
        .iter()
        .zip(&counts)
        .filter(|(_, row)| row[victim] > 0.0)
        .map(|(canary, _)| canary.clone())
        .collect();
    let last_before: BTreeMap<String, i64> = victims
        .iter()
        .map(|canary| {
            (
                canary.clone(),
                *run_times(&runtime, &store, canary).last().unwrap(),
            )
        })
        .collect();
    replicas[victim].as_ref().unwrap().signal("KILL");
    let killed_at = Timestamp::now().as_millis();
    replicas[victim] = None;
    wait_until(
        "the victim's canaries to run on survivors",
        Duration::from_secs(CANARY_INTERVAL_S + 10),
        || {
            victims.iter().all(|canary| {
                run_times(&runtime, &store, canary)
                    .last()
                    .is_some_and(|last| *last > killed_at)
            })
        },
    );
    // Taken over within the peer TTL plus one interval (and a few ticks of slack).
    let bound = i64::try_from(CANARY_INTERVAL_S * 1000 + PEER_TTL_MS + 5 * TICK_MS).unwrap();
    for canary in &victims {
        let times = run_times(&runtime, &store, canary);
        let next = times
            .iter()
            .find(|time| **time > last_before[canary])
            .unwrap();
        assert!(
            next - last_before[canary] <= bound,
            "{canary}: next run {} ms after the last one (bound {bound} ms)",
            next - last_before[canary]
        );
    }
    let survivors: Vec<usize> = (0..3).filter(|index| *index != victim).collect();
    let before = runs_by_replica(
        &replicas.iter().map(Option::as_ref).collect::<Vec<_>>(),
        &canaries,
    );
    std::thread::sleep(Duration::from_secs(CANARY_INTERVAL_S + 1));
    let after = runs_by_replica(
        &replicas.iter().map(Option::as_ref).collect::<Vec<_>>(),
        &canaries,
    );
    for (position, canary) in canaries.iter().enumerate() {
        let runners: Vec<usize> = survivors
            .iter()
            .copied()
            .filter(|index| after[position][*index] > before[position][*index])
            .collect();
        assert_eq!(
            runners.len(),
            1,
            "{canary} run after takeover by {runners:?}"
        );
        let times = run_times(&runtime, &store, canary);
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= i64::try_from(CANARY_INTERVAL_S * 1000 - 500).unwrap(),
                "{canary} ran twice in one interval: {times:?}"
            );
        }
    }

    // Pause the leader beyond its lease.
    let leader_of = |index: &usize| {
        replicas[*index]
            .as_ref()
            .unwrap()
            .metric("miroir_leader", "scope=\"maintenance\"")
            == 1.0
    };
    let mut leader = None;
    wait_until(
        "one leader among the survivors",
        Duration::from_secs(10),
        || {
            let leaders: Vec<usize> = survivors.iter().copied().filter(leader_of).collect();
            leader = leaders.first().copied();
            leaders.len() == 1
        },
    );
    let leader = leader.unwrap();
    let other = *survivors.iter().find(|index| **index != leader).unwrap();
    let paused = replicas[leader].as_ref().unwrap();
    paused.signal("STOP");
    let started = Instant::now();
    wait_until(
        "the other survivor to lead",
        Duration::from_secs(10),
        || leader_of(&other),
    );
    while started.elapsed() < Duration::from_millis(LEASE_MS * 2) {
        std::thread::sleep(Duration::from_millis(100));
    }
    paused.signal("CONT");
    wait_until(
        "the resumed leader's fenced write to be refused",
        Duration::from_secs(10),
        || {
            paused.metric("miroir_fenced_writes_total", "scope=\"maintenance\"") >= 1.0
                && paused.metric("miroir_leader", "scope=\"maintenance\"") == 0.0
        },
    );
    assert!(leader_of(&other), "the new leader keeps leading");
}

/// Tasks complete in the store with nobody calling `GET /tasks/{uid}`.
fn tasks_succeed_without_polling(url: &str) {
    let fleet = Fleet::start(2);
    let runtime = runtime();
    let store = open_store(&runtime, url);
    let miroir = start(&fleet, url, 1, "pod-poller");
    let mut uids = Vec::new();
    for batch in 0..5 {
        let documents: Vec<Value> = (0..20)
            .map(|n| json!({"id": batch * 100 + n, "title": "x"}))
            .collect();
        let reply = miroir.call(
            "POST",
            "/indexes/books/documents?primaryKey=id",
            &Value::Array(documents),
        );
        assert_eq!(reply.status, 202, "{}", reply.body);
        let task: Value = serde_json::from_str(&reply.body).unwrap();
        uids.push(task["taskUid"].as_u64().unwrap());
    }
    wait_until(
        "every task to succeed in the store",
        Duration::from_secs(20),
        || {
            uids.iter().all(|uid| {
                runtime
                    .block_on(store.get_task(*uid))
                    .unwrap()
                    .is_some_and(|task| task.status == TaskStatus::Succeeded)
            })
        },
    );
    assert!(miroir.metric("miroir_background_items_total", "worker=\"task_poller\"") >= 5.0);
    let gets = miroir
        .metrics()
        .lines()
        .filter(|line| {
            line.starts_with("miroir_http_requests_total")
                && line.contains("route=\"/tasks/{uid}\"")
        })
        .count();
    assert_eq!(gets, 0, "nobody polled");
}

#[test]
fn tasks_succeed_without_client_polling_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    tasks_succeed_without_polling(&url);
}

#[test]
fn tasks_succeed_without_client_polling_on_redis() {
    let url = shared_redis().store_url(&unique_prefix("poller"), Duration::from_secs(2));
    tasks_succeed_without_polling(&url);
}

/// The writer dies between the fan-out and the recording: both nodes hold the write (enqueued
/// while their answers are held back by the latency fault), the store holds an `enqueued` task
/// with no node task. The next replica's poller finds the node tasks by the task's marker.
#[test]
fn a_write_whose_replica_is_killed_mid_fan_out_is_reconciled_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let fleet = Fleet::start(2);
    let runtime = runtime();
    let store = open_store(&runtime, &url);
    let writer = start(&fleet, &url, 2, "pod-writer");
    seed_movies(&writer);
    for node in &fleet.nodes {
        node.faults().set_latency(Duration::from_secs(5));
    }
    let port = writer.port;
    let request = std::thread::spawn(move || {
        let documents = json!([{"id": 100, "title": "late"}, {"id": 101, "title": "later"}]);
        miroir_test_support::process::http(
            port,
            "POST",
            "/indexes/movies/documents",
            &[],
            &documents.to_string(),
        )
    });
    wait_until(
        "both nodes to enqueue the write",
        Duration::from_secs(10),
        || {
            fleet
                .nodes
                .iter()
                .all(|node| node.request_count("POST", "/indexes/movies/documents") == 2)
        },
    );
    writer.signal("KILL");
    assert!(request.join().unwrap().is_none(), "the writer answered");
    for node in &fleet.nodes {
        node.faults().set_latency(Duration::ZERO);
    }
    let page = runtime
        .block_on(store.list_tasks(&miroir_store::TaskQuery {
            limit: 1,
            ..Default::default()
        }))
        .unwrap();
    let orphan = page.results[0].clone();
    assert_eq!(orphan.status, TaskStatus::Enqueued, "{orphan:?}");
    assert!(orphan.node_tasks.is_empty(), "{orphan:?}");

    let env = [
        background_env("pod-reconciler"),
        vec![("MIROIR_BACKGROUND__ORPHAN_TASK_AFTER_S", "1".to_owned())],
    ]
    .concat();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let reconciler = Miroir::start_with(&fleet, &url, 2, &env);
    let task = reconciler.wait_task(orphan.uid);
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["details"]["indexedDocuments"], 2, "{task}");
    let stored = runtime
        .block_on(store.get_task(orphan.uid))
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.node_tasks.keys().collect::<Vec<_>>(),
        ["meili-0", "meili-1"]
    );
    let found = reconciler.json("GET", "/indexes/movies/documents/101", &Value::Null);
    assert_eq!(found["title"], "later");
}

#[test]
fn a_reindex_job_survives_kill_9_of_its_worker() {
    let fleet = Fleet::start(3);
    let url = shared_redis().store_url(&unique_prefix("reindex"), Duration::from_secs(2));
    let mut replicas: Vec<Option<Miroir>> = (0..2)
        .map(|index| Some(start(&fleet, &url, 1, &format!("pod-{index}"))))
        .collect();
    let first = replicas[0].as_ref().unwrap();
    const DOCUMENTS: u64 = 2000;
    let documents: Vec<Value> = (0..DOCUMENTS)
        .map(|id| json!({"sku": format!("sku-{id}"), "name": format!("product {id}")}))
        .collect();
    first.write(
        "POST",
        "/indexes/products/documents?primaryKey=sku",
        &Value::Array(documents),
    );
    // Slow nodes, so the copy takes seconds.
    for node in &fleet.nodes {
        node.faults().set_latency(Duration::from_millis(25));
    }
    let job = first.json(
        "POST",
        "/_miroir/jobs",
        &json!({
            "type": "reindex",
            "params": {"source": "products", "target": "products_v2", "alias": "products_live", "batchSize": 25},
        }),
    );
    let id = job["id"].as_str().unwrap().to_owned();
    let job_path = format!("/_miroir/jobs/{id}");
    let mut job = Value::Null;
    wait_until("the copy to be under way", Duration::from_secs(30), || {
        job = first.json("GET", &job_path, &Value::Null);
        job["progress"]["copied"].as_u64().unwrap_or(0) >= 300
    });
    assert_eq!(job["state"], "in_progress", "{job}");
    let worker = job["claimedBy"].as_str().unwrap().to_owned();
    let victim: usize = worker.trim_start_matches("pod-").parse().unwrap();
    replicas[victim].as_ref().unwrap().signal("KILL");
    replicas[victim] = None;
    let survivor = replicas.iter().flatten().next().unwrap();
    wait_until("the job to complete", Duration::from_secs(90), || {
        job = survivor.json("GET", &job_path, &Value::Null);
        matches!(job["state"].as_str(), Some("completed" | "failed"))
    });
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["attempts"], 2, "resumed once: {job}");
    assert_ne!(job["claimedBy"], worker.as_str());
    for node in &fleet.nodes {
        node.faults().set_latency(Duration::ZERO);
    }
    // Every document exactly once: with RF 1 each document lives on one node.
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for node in &fleet.nodes {
        let reply = miroir_test_support::process::http(
            node.url()
                .trim_start_matches("http://127.0.0.1:")
                .parse()
                .unwrap(),
            "GET",
            "/indexes/products_v2/documents?limit=10000&fields=sku",
            &[],
            "",
        )
        .unwrap();
        let page: Value = serde_json::from_str(&reply.body).unwrap();
        for document in page["results"].as_array().unwrap() {
            total += 1;
            seen.insert(document["sku"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(total, DOCUMENTS, "documents stored in products_v2");
    assert_eq!(seen.len() as u64, DOCUMENTS, "distinct documents");
    let alias = survivor.json("GET", "/_miroir/aliases/products_live", &Value::Null);
    assert_eq!(alias["target"], "products_v2", "{alias}");
    let hits = survivor.search("products_live", json!({"q": "product", "limit": 1}));
    assert_eq!(hits["estimatedTotalHits"], DOCUMENTS);
}
