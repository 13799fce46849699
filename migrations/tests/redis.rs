//! `miroir-migrate` against a real Redis server: the whole life of a store, races, a store ahead
//! of the binary, and a server that is not there.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{assert_all_up_with_one_applier, migrate, migrate_concurrently};
use miroir_store::SCHEMA_VERSION;
use miroir_test_support::{
    RedisServer, Reply, key_slot, shared_redis, shared_redis_cluster, unique_prefix,
};

fn store_of(server: &RedisServer, label: &str) -> (String, String) {
    let prefix = unique_prefix(label);
    (server.store_url(&prefix, Duration::from_secs(2)), prefix)
}

fn version_key(prefix: &str) -> String {
    format!("{prefix}:{{meta}}:schema_version")
}

fn stored_version(server: &RedisServer, prefix: &str) -> Option<String> {
    match server.command(&["GET", &version_key(prefix)]).unwrap() {
        Reply::Bulk(Some(bytes)) => Some(String::from_utf8(bytes).unwrap()),
        Reply::Bulk(None) => None,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// The key of the API key uid set (schema step 4 fills it with the four default keys).
fn api_key_uids_key(prefix: &str) -> String {
    format!("{prefix}:{{api_keys}}:_index")
}

fn keys_of(server: &RedisServer, prefix: &str) -> Vec<Reply> {
    match server.command(&["KEYS", &format!("{prefix}:*")]).unwrap() {
        Reply::Array(Some(mut keys)) => {
            keys.sort_by_key(|key| format!("{key:?}"));
            keys
        }
        other => panic!("unexpected reply {other:?}"),
    }
}

#[test]
fn a_fresh_store_is_pending_then_current_after_up() {
    let server = shared_redis();
    let (store, prefix) = store_of(server, "migrate-life");
    let cwd = tempfile::tempdir().unwrap();
    let run = |command: &str| migrate(cwd.path(), &[command, "--store", &store], &[]);

    let status = run("status");
    assert_eq!(status.code, 0, "{}", status.all());
    assert!(
        status.stdout.contains("store version:  0"),
        "{}",
        status.all()
    );
    assert!(status.stdout.contains("  0001 initial"), "{}", status.all());
    assert!(
        status.stdout.contains(&format!("prefix={prefix}")),
        "{}",
        status.all()
    );
    assert_eq!(run("check").code, 3);
    assert_eq!(
        stored_version(server, &prefix),
        None,
        "check and status change nothing"
    );

    let up = run("up");
    assert_eq!(up.code, 0, "{}", up.all());
    assert_eq!(
        stored_version(server, &prefix),
        Some(SCHEMA_VERSION.to_string())
    );
    assert_eq!(run("check").code, 0);
    let again = run("up");
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("nothing to apply"), "{}", again.all());
}

#[test]
fn the_store_url_can_come_from_the_environment() {
    let server = shared_redis();
    let (store, prefix) = store_of(server, "migrate-env");
    let cwd = tempfile::tempdir().unwrap();
    let up = migrate(cwd.path(), &["up"], &[("MIROIR_TASK_STORE_URL", &store)]);
    assert_eq!(up.code, 0, "{}", up.all());
    assert_eq!(
        stored_version(server, &prefix),
        Some(SCHEMA_VERSION.to_string())
    );
    assert!(
        !cwd.path().join(".miroir").exists(),
        "the default sqlite store was not touched"
    );
}

#[test]
fn four_concurrent_ups_all_succeed() {
    let server = shared_redis();
    let (store, prefix) = store_of(server, "migrate-race");
    let cwd = tempfile::tempdir().unwrap();
    let outcomes = migrate_concurrently(4, cwd.path(), &["up", "--store", &store]);
    assert_all_up_with_one_applier(&outcomes);
    assert_eq!(
        stored_version(server, &prefix),
        Some(SCHEMA_VERSION.to_string())
    );
    assert_eq!(
        server
            .command(&["ZCARD", &api_key_uids_key(&prefix)])
            .unwrap(),
        Reply::Integer(4),
        "one set of default API keys between the racers"
    );
    assert_eq!(
        migrate(cwd.path(), &["check", "--store", &store], &[]).code,
        0
    );
}

#[test]
fn a_store_ahead_is_refused_by_every_command_and_left_alone() {
    let server = shared_redis();
    let (store, prefix) = store_of(server, "migrate-ahead");
    let cwd = tempfile::tempdir().unwrap();
    assert_eq!(migrate(cwd.path(), &["up", "--store", &store], &[]).code, 0);
    let ahead = (SCHEMA_VERSION + 1).to_string();
    server
        .command(&["SET", &version_key(&prefix), &ahead])
        .unwrap();
    let keys_before = keys_of(server, &prefix);

    let expected = format!(
        "task store schema version {ahead} is ahead of this binary's version {SCHEMA_VERSION}"
    );
    for command in ["check", "up", "status"] {
        let outcome = migrate(cwd.path(), &[command, "--store", &store], &[]);
        assert_eq!(outcome.code, 4, "{command}: {}", outcome.all());
        assert!(
            outcome.stderr.contains(&expected),
            "{command}: {}",
            outcome.all()
        );
        assert_eq!(stored_version(server, &prefix), Some(ahead.clone()));
        assert_eq!(keys_of(server, &prefix), keys_before);
    }
}

#[test]
fn an_unreachable_server_exits_5_quickly_without_the_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let store = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let cwd = tempfile::tempdir().unwrap();
    for command in ["up", "status", "check"] {
        let outcome = migrate(cwd.path(), &[command, "--store", &store], &[]);
        assert_eq!(outcome.code, 5, "{command}: {}", outcome.all());
        assert!(
            outcome.stderr.contains("task store unavailable"),
            "{}",
            outcome.all()
        );
        assert!(
            outcome.elapsed < Duration::from_secs(8),
            "{command} took {:?}",
            outcome.elapsed
        );
        assert!(!outcome.all().contains("hunter2"), "{}", outcome.all());
        assert!(
            outcome.stdout.contains(":***@127.0.0.1"),
            "{}",
            outcome.all()
        );
    }
}

#[test]
fn racing_jobs_migrate_a_redis_cluster_store_once() {
    let cluster = shared_redis_cluster();
    let prefix = unique_prefix("migrate-cluster");
    let store = cluster.store_url(&prefix, Duration::from_secs(2));
    let cwd = tempfile::tempdir().unwrap();
    assert_eq!(
        migrate(cwd.path(), &["check", "--store", &store], &[]).code,
        3
    );
    let outcomes = migrate_concurrently(4, cwd.path(), &["up", "--store", &store]);
    assert_all_up_with_one_applier(&outcomes);
    assert_eq!(
        migrate(cwd.path(), &["check", "--store", &store], &[]).code,
        0
    );
    let key = version_key(&prefix);
    let slot = key_slot(&key);
    let owner = cluster
        .slot_owners()
        .unwrap()
        .into_iter()
        .find(|(slots, _)| slots.contains(&slot))
        .map(|(_, node)| node)
        .unwrap();
    assert_eq!(
        cluster.command(owner, &["GET", &key]).unwrap(),
        Reply::Bulk(Some(SCHEMA_VERSION.to_string().into_bytes()))
    );
    let uids = api_key_uids_key(&prefix);
    let slot = key_slot(&uids);
    let owner = cluster
        .slot_owners()
        .unwrap()
        .into_iter()
        .find(|(slots, _)| slots.contains(&slot))
        .map(|(_, node)| node)
        .unwrap();
    assert_eq!(
        cluster.command(owner, &["ZCARD", &uids]).unwrap(),
        Reply::Integer(4),
        "one set of default API keys between the racers"
    );
}
