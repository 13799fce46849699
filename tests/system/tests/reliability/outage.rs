//! Outage: `miroir` on Redis under a steady load of reads, writes and searches while Redis is
//! first killed (connections refused) and then hung (`DEBUG SLEEP`: connections accepted, nothing
//! answered). Every request must get an answer within a bound (a 2xx, or a Meilisearch-shaped
//! error with `Retry-After` when it needed the store), none may hang, and once Redis answers again
//! service resumes without restarting `miroir`. Every write acknowledged at any point is found
//! afterwards.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use miroir_system_tests::{Fleet, Miroir};
use miroir_test_support::process::{http, wait_until};
use miroir_test_support::{Appendfsync, RedisOptions, RedisServer};
use serde_json::{Value, json};

use crate::{report, sized};

/// The store timeout given to `miroir` in its URL: the bound of one store call.
const STORE_TIMEOUT: Duration = Duration::from_millis(1000);

/// What a request may take at most while Redis is out: the store timeout, plus one more store
/// call a handler may make before it gives up, plus scheduling slack on a loaded 2-core machine.
const ANSWER_BOUND: Duration = Duration::from_millis(2 * 1000 + 1000);

/// Phase of the run, stored in an atomic for the client threads.
const HEALTHY: u8 = 0;
const DOWN: u8 = 1;
const HUNG: u8 = 2;
const RECOVERED: u8 = 3;

/// One request as the client saw it.
#[derive(Clone, Debug)]
struct Sample {
    phase: u8,
    what: &'static str,
    /// `None`: no complete answer within the client's 5 s read timeout.
    status: Option<u16>,
    elapsed: Duration,
    retry_after: bool,
    code: Option<String>,
    /// The task uid of a 202.
    task: Option<u64>,
}

#[test]
fn redis_down_then_hung_under_load_answers_every_request_and_resumes() {
    let outage = Duration::from_secs(sized(3, 10));
    let mut redis = RedisServer::start_with(RedisOptions {
        appendonly: true,
        appendfsync: Appendfsync::Always,
        ..RedisOptions::default()
    })
    .unwrap();
    let fleet = Fleet::start(3);
    let miroir = Miroir::start(&fleet, &redis.store_url("outage", STORE_TIMEOUT), 1);
    miroir.write(
        "POST",
        "/indexes",
        &json!({"uid": "outage", "primaryKey": "id"}),
    );
    let first = miroir.write(
        "POST",
        "/indexes/outage/documents",
        &json!([{"id": 0, "title": "first"}]),
    );
    let first_uid = first["uid"].as_u64().unwrap();

    let phase = Arc::new(AtomicU8::new(HEALTHY));
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (phase, stop, samples) = (phase.clone(), stop.clone(), samples.clone());
            let port = miroir.port;
            std::thread::spawn(move || load(client, port, first_uid, &phase, &stop, &samples))
        })
        .collect();

    std::thread::sleep(Duration::from_secs(1));
    phase.store(DOWN, Ordering::SeqCst);
    redis.stop();
    std::thread::sleep(outage);
    redis.restart().unwrap();
    let down_recovery = recovery(&miroir, first_uid);

    phase.store(HUNG, Ordering::SeqCst);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // The reply comes after the sleep, maybe later than the kit's command timeout.
            let _ = redis.command(&["DEBUG", "SLEEP", &outage.as_secs().to_string()]);
        });
        std::thread::sleep(outage);
    });
    let hung_recovery = recovery(&miroir, first_uid);
    phase.store(RECOVERED, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }

    let samples = samples.lock().unwrap().clone();
    for (name, value) in [("down", DOWN), ("hung", HUNG)] {
        let during: Vec<&Sample> = samples.iter().filter(|s| s.phase == value).collect();
        let unavailable = during.iter().filter(|s| s.status == Some(503)).count();
        let slowest = during.iter().map(|s| s.elapsed).max().unwrap_or_default();
        report(&format!(
            "outage redis {name} {outage:?}: {} requests, {unavailable} answered 503, slowest \
             answer {slowest:?} (bound {ANSWER_BOUND:?}, store timeout {STORE_TIMEOUT:?}), \
             service back {:?} after redis",
            during.len(),
            if value == DOWN {
                down_recovery
            } else {
                hung_recovery
            }
        ));
        assert!(unavailable > 0, "{name}: no request noticed the outage");
    }
    for sample in &samples {
        check_sample(sample);
    }
    // Nothing acknowledged is lost: every 202, whenever it was sent, is a task now.
    for uid in samples.iter().filter_map(|sample| sample.task) {
        let reply = miroir.call("GET", &format!("/tasks/{uid}"), &Value::Null);
        assert_eq!(reply.status, 200, "acknowledged task {uid}: {}", reply.body);
    }
    let after: Vec<&Sample> = samples.iter().filter(|s| s.phase == RECOVERED).collect();
    assert!(
        !after.is_empty() && after.iter().all(|s| s.status.is_some_and(|s| s < 300)),
        "after recovery: {:?}",
        after.iter().find(|s| s.status.is_none_or(|s| s >= 300))
    );
}

/// Every answer is bounded; every error is Meilisearch-shaped, and a 503 carries `Retry-After`.
fn check_sample(sample: &Sample) {
    let Some(status) = sample.status else {
        panic!("{}: no answer within 5 s: {sample:?}", sample.what);
    };
    assert!(
        sample.elapsed <= ANSWER_BOUND,
        "answer slower than {ANSWER_BOUND:?}: {sample:?}"
    );
    if status >= 300 {
        assert_eq!(status, 503, "{sample:?}");
        assert!(sample.retry_after, "503 without Retry-After: {sample:?}");
        assert!(
            matches!(
                sample.code.as_deref(),
                Some("miroir_store_unavailable" | "miroir_schema_mismatch")
            ),
            "{sample:?}"
        );
    }
}

/// How long after this call `GET /tasks/{uid}` answers 200 again (panics after 20 s).
fn recovery(miroir: &Miroir, uid: u64) -> Duration {
    let start = Instant::now();
    wait_until("service to resume", Duration::from_secs(20), || {
        http(miroir.port, "GET", &format!("/tasks/{uid}"), &[], "")
            .is_some_and(|reply| reply.status == 200)
    });
    start.elapsed()
}

/// One client: task reads, task lists, document writes and searches in turn, until `stop`.
fn load(
    client: u64,
    port: u16,
    uid: u64,
    phase: &AtomicU8,
    stop: &AtomicBool,
    samples: &Mutex<Vec<Sample>>,
) {
    let task_path = format!("/tasks/{uid}");
    let mut next_id = (client + 1) * 1_000_000;
    for turn in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let (what, method, path, body) = match turn % 4 {
            0 => ("GET /tasks/{uid}", "GET", task_path.as_str(), String::new()),
            1 => (
                "GET /tasks?limit=20",
                "GET",
                "/tasks?limit=20",
                String::new(),
            ),
            2 => {
                next_id += 1;
                (
                    "POST documents",
                    "POST",
                    "/indexes/outage/documents",
                    json!([{"id": next_id, "title": "more"}]).to_string(),
                )
            }
            _ => (
                "POST search",
                "POST",
                "/indexes/outage/search",
                json!({"q": "first"}).to_string(),
            ),
        };
        let phase = phase.load(Ordering::SeqCst);
        let start = Instant::now();
        let reply = http(port, method, path, &[], &body);
        let elapsed = start.elapsed();
        let parsed: Option<Value> = reply
            .as_ref()
            .and_then(|reply| serde_json::from_str(&reply.body).ok());
        if let (Some(reply), Some(parsed)) = (&reply, &parsed)
            && reply.status >= 300
        {
            for field in ["message", "code", "type", "link"] {
                assert!(parsed[field].is_string(), "{what}: {}", reply.body);
            }
        }
        samples.lock().unwrap().push(Sample {
            phase,
            what,
            status: reply.as_ref().map(|reply| reply.status),
            elapsed,
            retry_after: reply
                .as_ref()
                .is_some_and(|reply| reply.header("retry-after").is_some()),
            code: parsed
                .as_ref()
                .and_then(|body| body["code"].as_str().map(str::to_owned)),
            task: match (&reply, &parsed) {
                (Some(reply), Some(body)) if reply.status == 202 => body["taskUid"].as_u64(),
                _ => None,
            },
        });
    }
}
