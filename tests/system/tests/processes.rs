//! `miroir` and `miroir-migrate` as real processes, the way an operator runs them: the server
//! waits for the migration job without a restart, two jobs may race, a store ahead of the binary
//! is refused by both with exit code 4, and a Redis outage at start is a 503, not a crash.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use miroir_store::SCHEMA_VERSION;
use miroir_system_tests::command;
use miroir_test_support::process::{HttpReply, Process, http_get, loopback_port, wait_until};
use miroir_test_support::{RedisServer, unique_prefix};

const ADMIN_KEY: &str = "admin-secret";

fn migrate(args: &[&str]) -> std::process::Output {
    command("miroir-migrate", "miroir-migrate")
        .args(args)
        .output()
        .unwrap()
}

/// `miroir` on a free port over `store_url`, re-checking readiness every 100 ms.
fn miroir(store_url: &str) -> (Process, u16) {
    let port = loopback_port().unwrap();
    let process = Process::spawn(
        command("miroir-edge", "miroir")
            .env("MIROIR_TASK_STORE_URL", store_url)
            .env("MIROIR_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("MIROIR_ADMIN_API_KEY", ADMIN_KEY)
            .env("MIROIR_READINESS_INTERVAL_MS", "100")
            .stdout(Stdio::null()),
    )
    .unwrap();
    wait_until("miroir to listen", Duration::from_secs(10), || {
        http_get(port, "/health", &[]).is_some()
    });
    (process, port)
}

fn ready(port: u16) -> HttpReply {
    http_get(port, "/_miroir/ready", &[("X-Admin-Key", ADMIN_KEY)]).unwrap()
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[test]
fn miroir_waits_for_the_migration_job_and_serves_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("tasks.db"));
    let (_miroir, port) = miroir(&url);

    let health = http_get(port, "/health", &[]).unwrap();
    assert_eq!(health.status, 200, "{}", health.body);
    let probe = ready(port);
    assert_eq!(probe.status, 503, "{}", probe.body);
    let tasks = http_get(port, "/tasks", &[]).unwrap();
    assert_eq!(tasks.status, 503, "{}", tasks.body);
    assert!(
        tasks.body.contains(r#""code":"miroir_schema_mismatch""#),
        "{}",
        tasks.body
    );
    assert!(
        tasks.body.contains(&format!(
            "schema version 0 but this Miroir serves version {SCHEMA_VERSION}"
        )),
        "{}",
        tasks.body
    );
    assert_eq!(tasks.header("retry-after"), Some("2"));

    // Two jobs at once, then a third: all succeed, one version.
    let racing: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || migrate(&["up", "--store", &url]))
        })
        .collect();
    for job in racing {
        let output = job.join().unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
    assert_eq!(migrate(&["up", "--store", &url]).status.code(), Some(0));
    assert_eq!(migrate(&["check", "--store", &url]).status.code(), Some(0));

    wait_until("the gate to open", Duration::from_secs(5), || {
        ready(port).status == 200
    });
    assert!(
        ready(port)
            .body
            .contains(&format!(r#""schemaVersion":{SCHEMA_VERSION}"#))
    );
    let tasks = http_get(port, "/tasks", &[]).unwrap();
    assert_eq!(tasks.status, 200, "{}", tasks.body);
    assert!(tasks.body.contains(r#""results":[]"#), "{}", tasks.body);
}

#[test]
fn a_store_ahead_is_refused_by_check_and_by_miroir_with_exit_code_4() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tasks.db");
    let url = sqlite_url(&db);
    assert_eq!(migrate(&["up", "--store", &url]).status.code(), Some(0));
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let naming_both = format!(
        "task store schema version {} is ahead of this binary's version {SCHEMA_VERSION}",
        SCHEMA_VERSION + 1
    );

    let check = migrate(&["check", "--store", &url]);
    assert_eq!(check.status.code(), Some(4), "{check:?}");
    assert!(String::from_utf8_lossy(&check.stderr).contains(&naming_both));

    let port = loopback_port().unwrap();
    let server = command("miroir-edge", "miroir")
        .env("MIROIR_TASK_STORE_URL", &url)
        .env("MIROIR_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(server.status.code(), Some(4), "{server:?}");
    let stderr = String::from_utf8_lossy(&server.stderr);
    assert!(stderr.contains(&naming_both), "{stderr}");
}

#[test]
fn miroir_starts_during_a_redis_outage_and_serves_once_redis_is_back() {
    let mut redis = RedisServer::start().unwrap();
    let url = redis.store_url(&unique_prefix("outage"), Duration::from_millis(300));
    redis.stop();
    let (_miroir, port) = miroir(&url);

    assert_eq!(http_get(port, "/health", &[]).unwrap().status, 200);
    let probe = ready(port);
    assert_eq!(probe.status, 503, "{}", probe.body);
    assert!(
        probe.body.contains("miroir_store_unavailable"),
        "{}",
        probe.body
    );
    let tasks = http_get(port, "/tasks/1", &[]).unwrap();
    assert_eq!(tasks.status, 503, "{}", tasks.body);
    assert_eq!(tasks.header("retry-after"), Some("2"));

    redis.restart().unwrap();
    let migrated = migrate(&["up", "--store", &url]);
    assert_eq!(migrated.status.code(), Some(0), "{migrated:?}");
    wait_until("the gate to open", Duration::from_secs(10), || {
        ready(port).status == 200
    });
    let tasks = http_get(port, "/tasks/1", &[]).unwrap();
    assert_eq!(tasks.status, 404, "{}", tasks.body);
    assert!(
        tasks.body.contains(r#""code":"task_not_found""#),
        "{}",
        tasks.body
    );
}

#[test]
fn an_invalid_configuration_exits_1_naming_the_key() {
    let output = command("miroir-edge", "miroir")
        .env("MIROIR_SHARDS", "0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("miroir.shards"), "{stderr}");
}
