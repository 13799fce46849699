//! `miroir-migrate` against SQLite files: the whole life of a store, races, a store ahead of the
//! binary, foreign files, and the default location.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{assert_all_up_with_one_applier, migrate, migrate_concurrently, sqlite_url};
use miroir_store::SCHEMA_VERSION;
use rusqlite::Connection;

fn user_version(path: &Path) -> u32 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap()
}

/// `text` is a lowercase hyphenated UUID of version 4 and the RFC 4122 variant.
fn is_uuid_v4(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(at, byte)| match at {
            8 | 13 | 18 | 23 => *byte == b'-',
            14 => *byte == b'4',
            19 => b"89ab".contains(byte),
            _ => byte.is_ascii_digit() || (b'a'..=b'f').contains(byte),
        })
}

/// The version and the whole schema text: what "nothing changed" compares.
fn fingerprint(path: &Path) -> (u32, String) {
    let schema: String = Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT group_concat(type || name || coalesce(sql, ''), ';') FROM sqlite_master",
            [],
            |row| row.get(0),
        )
        .unwrap();
    (user_version(path), schema)
}

#[test]
fn a_fresh_store_is_pending_then_current_after_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tasks.db");
    let store = sqlite_url(&db);
    let args = |command: &'static str| [command, "--store", store.as_str()];

    let status = migrate(dir.path(), &args("status"), &[]);
    assert_eq!(status.code, 0, "{}", status.all());
    assert!(
        status.stdout.contains(&format!("store: {store}")),
        "{}",
        status.all()
    );
    assert!(
        status.stdout.contains("store version:  0"),
        "{}",
        status.all()
    );
    assert!(
        status
            .stdout
            .contains(&format!("binary version: {SCHEMA_VERSION}")),
        "{}",
        status.all()
    );
    assert!(status.stdout.contains("  0001 initial"), "{}", status.all());
    assert!(!db.exists(), "status must not create the file");

    let check = migrate(dir.path(), &args("check"), &[]);
    assert_eq!(check.code, 3, "{}", check.all());
    assert!(
        check.stderr.contains("is behind this binary's version"),
        "{}",
        check.all()
    );
    assert!(!db.exists(), "check must not create the file");

    let up = migrate(dir.path(), &args("up"), &[]);
    assert_eq!(up.code, 0, "{}", up.all());
    assert!(
        up.stdout
            .contains(&format!("migrated from version 0 to {SCHEMA_VERSION}")),
        "{}",
        up.all()
    );
    assert!(up.stdout.contains("0001 initial"), "{}", up.all());
    assert_eq!(user_version(&db), SCHEMA_VERSION);

    let check = migrate(dir.path(), &args("check"), &[]);
    assert_eq!(check.code, 0, "{}", check.all());
    let status = migrate(dir.path(), &args("status"), &[]);
    assert_eq!(status.code, 0, "{}", status.all());
    assert!(
        status.stdout.contains("pending steps:  none"),
        "{}",
        status.all()
    );

    let again = migrate(dir.path(), &args("up"), &[]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("nothing to apply"), "{}", again.all());
    assert_eq!(user_version(&db), SCHEMA_VERSION);
}

#[test]
fn four_concurrent_ups_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("race.db");
    let store = sqlite_url(&db);
    let outcomes = migrate_concurrently(4, dir.path(), &["up", "--store", &store]);
    assert_all_up_with_one_applier(&outcomes);
    assert_eq!(user_version(&db), SCHEMA_VERSION);
    assert_eq!(
        migrate(dir.path(), &["check", "--store", &store], &[]).code,
        0
    );
}

#[test]
fn a_store_ahead_is_refused_by_every_command_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ahead.db");
    let store = sqlite_url(&db);
    assert_eq!(migrate(dir.path(), &["up", "--store", &store], &[]).code, 0);
    Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let before = fingerprint(&db);

    let expected = format!(
        "task store schema version {} is ahead of this binary's version {SCHEMA_VERSION}",
        SCHEMA_VERSION + 1
    );
    for command in ["check", "up", "status"] {
        let outcome = migrate(dir.path(), &[command, "--store", &store], &[]);
        assert_eq!(outcome.code, 4, "{command}: {}", outcome.all());
        assert!(
            outcome.stderr.contains(&expected),
            "{command}: {}",
            outcome.all()
        );
        assert_eq!(fingerprint(&db), before, "{command} changed the store");
    }
    let status = migrate(dir.path(), &["status", "--store", &store], &[]);
    assert!(
        status
            .stdout
            .contains(&format!("store version:  {}", SCHEMA_VERSION + 1)),
        "{}",
        status.all()
    );
}

#[test]
fn a_foreign_sqlite_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("someone-else.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY); INSERT INTO invoices VALUES (1);",
        )
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    for command in ["up", "status", "check"] {
        let outcome = migrate(dir.path(), &[command, "--store", &sqlite_url(&db)], &[]);
        assert_eq!(outcome.code, 1, "{command}: {}", outcome.all());
        assert!(
            outcome.stderr.contains("error: not a miroir task store:"),
            "{}",
            outcome.all()
        );
        assert!(
            outcome.stderr.contains("someone-else.db"),
            "{}",
            outcome.all()
        );
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn no_arguments_use_the_default_store_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let up = migrate(dir.path(), &["up"], &[]);
    assert_eq!(up.code, 0, "{}", up.all());
    assert!(
        up.stdout.contains("store: sqlite://./.miroir/tasks.db"),
        "{}",
        up.all()
    );
    let db = dir.path().join(".miroir").join("tasks.db");
    assert!(db.is_file(), "{}", up.all());
    assert_eq!(user_version(&db), SCHEMA_VERSION);
    assert_eq!(migrate(dir.path(), &["check"], &[]).code, 0);
}

/// A file a version-1 binary left (made by step 1 alone) holding jobs in every state: `status`
/// shows steps 2 to 4 pending, `up` applies them alone, the jobs in progress get the claim
/// tokens 1 and 2 in enqueue order while the others get none, the index records table is
/// there, empty, and the API keys table holds Meilisearch's four default keys.
#[test]
fn a_version_1_store_holding_jobs_is_upgraded_by_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v1.db");
    let store = sqlite_url(&db);
    let connection = Connection::open(&db).unwrap();
    connection
        .execute_batch(&format!(
            "BEGIN; {} PRAGMA user_version = 1; COMMIT;",
            miroir_store::schema::MIGRATIONS[0].sqlite_sql
        ))
        .unwrap();
    connection
        .execute_batch(
            "INSERT INTO jobs (id, type, params, state, claimed_by, claim_expires_at, progress, \
             attempts, max_attempts, last_error, run_after, created_at, updated_at) VALUES \
             ('queued', 'reindex', '{}', 'queued', NULL, NULL, 'null', 0, 3, NULL, 1, 1, 1), \
             ('running-b', 'reindex', '{}', 'in_progress', 'pod-b', 9999999999999, 'null', 1, 3, \
              NULL, 1, 1, 1), \
             ('done', 'dump_import', '{}', 'completed', NULL, NULL, '7', 1, 3, NULL, 1, 1, 1), \
             ('running-a', 'reindex', '{}', 'in_progress', 'pod-a', 9999999999999, 'null', 2, 3, \
              'claim expired', 1, 1, 1), \
             ('failed', 'reindex', '{}', 'failed', NULL, NULL, 'null', 3, 3, 'boom', 1, 1, 1);",
        )
        .unwrap();
    drop(connection);

    let status = migrate(dir.path(), &["status", "--store", &store], &[]);
    assert_eq!(status.code, 0, "{}", status.all());
    assert!(
        status.stdout.contains("store version:  1"),
        "{}",
        status.all()
    );
    assert!(
        status.stdout.contains(
            "pending steps:  3\n  0002 job_claim_tokens\n  0003 index_records\n  0004 api_keys"
        ),
        "{}",
        status.all()
    );
    assert_eq!(
        migrate(dir.path(), &["check", "--store", &store], &[]).code,
        3
    );
    let up = migrate(dir.path(), &["up", "--store", &store], &[]);
    assert_eq!(up.code, 0, "{}", up.all());
    assert!(
        up.stdout.contains(
            "migrated from version 1 to 4; applied 0002 job_claim_tokens, 0003 index_records, \
             0004 api_keys"
        ),
        "{}",
        up.all()
    );
    assert_eq!(user_version(&db), SCHEMA_VERSION);

    let connection = Connection::open(&db).unwrap();
    let tokens: Vec<(String, String, Option<i64>)> = connection
        .prepare("SELECT id, state, claim_token FROM jobs ORDER BY seq")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [
        ("queued", "queued", None),
        ("running-b", "in_progress", Some(1)),
        ("done", "completed", None),
        ("running-a", "in_progress", Some(2)),
        ("failed", "failed", None),
    ];
    assert_eq!(
        tokens,
        expected.map(|(id, state, token)| (id.to_owned(), state.to_owned(), token))
    );
    let last: i64 = connection
        .query_row("SELECT last_token FROM job_claim_sequence", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(last, 2);
    let indexes: i64 = connection
        .query_row("SELECT COUNT(*) FROM indexes", [], |row| row.get(0))
        .unwrap();
    assert_eq!(indexes, 0);
    let keys: Vec<(String, String)> = connection
        .prepare("SELECT name, uid FROM api_keys ORDER BY created_at DESC, uid DESC")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let names: Vec<&str> = keys.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Default Search API Key",
            "Default Admin API Key",
            "Default Read-Only Admin API Key",
            "Default Chat API Key"
        ]
    );
    for (_, uid) in &keys {
        assert!(is_uuid_v4(uid), "{uid}");
    }
    assert_ne!(keys[0].1, keys[1].1);
    assert_eq!(
        migrate(dir.path(), &["check", "--store", &store], &[]).code,
        0
    );
}
