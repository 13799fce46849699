//! Alias flips across processes: two `miroir` servers on one real Redis flip the same alias
//! concurrently, each flip a compare-and-set (`GET` the version, `PUT` with `expectedVersion`).
//! Every flip is a 200 or a 409, never a 5xx; the final version counts every 200 exactly once
//! (no lost update), and the history stays within `aliases.history_retention`.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use miroir_system_tests::command;
use miroir_test_support::process::{HttpReply, Process, http, loopback_port, wait_until};
use miroir_test_support::{RedisServer, unique_prefix};
use serde_json::{Value, json};

const ADMIN_KEY: &str = "alias-flips-admin";

/// Flips attempted in total, split evenly between the two servers.
const FLIPS: u64 = 1_000;

/// `aliases.history_retention` of both servers.
const RETENTION: u64 = 7;

/// `miroir` on a free port over `store_url`, waited for until its readiness gate is open.
fn miroir(store_url: &str) -> (Process, u16) {
    let port = loopback_port().unwrap();
    let process = Process::spawn(
        command("miroir-edge", "miroir")
            .env("MIROIR_TASK_STORE_URL", store_url)
            .env("MIROIR_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("MIROIR_ADMIN_API_KEY", ADMIN_KEY)
            .env("MIROIR_ALIASES__HISTORY_RETENTION", RETENTION.to_string())
            .env("MIROIR_READINESS_INTERVAL_MS", "100")
            .env("MIROIR_LOG", "warn")
            .stdout(Stdio::null()),
    )
    .unwrap();
    wait_until("miroir to be ready", Duration::from_secs(15), || {
        admin(port, "GET", "/_miroir/ready", "").is_some_and(|reply| reply.status == 200)
    });
    (process, port)
}

/// An admin request to the server on `port`.
fn admin(port: u16, method: &str, path: &str, body: &str) -> Option<HttpReply> {
    http(port, method, path, &[("X-Admin-Key", ADMIN_KEY)], body)
}

fn json_of(reply: &HttpReply) -> Value {
    serde_json::from_str(&reply.body).unwrap()
}

/// What one client saw.
#[derive(Debug, Default)]
struct Tally {
    flipped: u64,
    conflicts: u64,
    /// Every answer that was neither (status and body).
    unexpected: Vec<(u16, String)>,
}

/// `flips` compare-and-set flips of alias `hot` through the server on `port`.
fn client(port: u16, client: usize, flips: u64) -> Tally {
    let mut tally = Tally::default();
    for flip in 0..flips {
        let current = admin(port, "GET", "/_miroir/aliases/hot", "").unwrap();
        if current.status != 200 {
            tally.unexpected.push((current.status, current.body));
            continue;
        }
        let version = json_of(&current)["version"].as_u64().unwrap();
        let body = json!({"target": format!("hot_{client}_{flip}"), "expectedVersion": version});
        let reply = admin(port, "PUT", "/_miroir/aliases/hot", &body.to_string()).unwrap();
        match reply.status {
            200 => {
                let flipped = json_of(&reply);
                assert_eq!(flipped["version"], version + 1, "{}", reply.body);
                tally.flipped += 1;
            }
            409 if json_of(&reply)["code"] == "miroir_conflict" => tally.conflicts += 1,
            status => tally.unexpected.push((status, reply.body)),
        }
    }
    tally
}

#[test]
fn two_servers_flip_one_alias_without_losing_an_update() {
    let redis = RedisServer::start().unwrap();
    let url = redis.store_url(&unique_prefix("alias-flips"), Duration::from_secs(2));
    let migrated = command("miroir-migrate", "miroir-migrate")
        .args(["up", "--store", &url])
        .output()
        .unwrap();
    assert_eq!(migrated.status.code(), Some(0), "{migrated:?}");
    let (_first, first) = miroir(&url);
    let (_second, second) = miroir(&url);

    let created = admin(
        first,
        "POST",
        "/_miroir/aliases",
        r#"{"name": "hot", "target": "hot_start"}"#,
    )
    .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    // The other server sees it at once: both read the one store.
    let seen = admin(second, "GET", "/_miroir/aliases/hot", "").unwrap();
    assert_eq!(json_of(&seen)["version"], 1, "{}", seen.body);

    // The clock starts once the binaries are built and the servers up.
    let started = Instant::now();
    let clients: Vec<_> = [first, second]
        .into_iter()
        .enumerate()
        .map(|(index, port)| std::thread::spawn(move || client(port, index, FLIPS / 2)))
        .collect();
    let tallies: Vec<Tally> = clients
        .into_iter()
        .map(|client| client.join().unwrap())
        .collect();

    for tally in &tallies {
        assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
        assert_eq!(tally.flipped + tally.conflicts, FLIPS / 2, "{tally:?}");
    }
    let flipped: u64 = tallies.iter().map(|tally| tally.flipped).sum();
    let conflicts: u64 = tallies.iter().map(|tally| tally.conflicts).sum();
    eprintln!("{flipped} flips succeeded, {conflicts} lost the race (409)");
    assert!(flipped > 0);

    for port in [first, second] {
        let alias = json_of(&admin(port, "GET", "/_miroir/aliases/hot", "").unwrap());
        assert_eq!(
            alias["version"],
            1 + flipped,
            "every successful flip counted exactly once"
        );
        let versions: Vec<u64> = alias["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["version"].as_u64().unwrap())
            .collect();
        assert!(versions.len() as u64 <= RETENTION, "{versions:?}");
        // The newest states before the current one, gapless.
        let oldest = (1 + flipped).saturating_sub(RETENTION).max(1);
        assert_eq!(versions, (oldest..1 + flipped).collect::<Vec<_>>());
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(60),
        "{FLIPS} flips took {elapsed:?}"
    );
}
