//! `miroir-migrate`'s command line: usage errors, help, where the store URL comes from, and
//! configuration errors.
#![allow(clippy::unwrap_used)]

mod common;

use common::{migrate, sqlite_url};

#[test]
fn usage_errors_exit_2_and_help_documents_the_exit_codes() {
    let cwd = tempfile::tempdir().unwrap();
    for args in [&[][..], &["frobnicate"][..], &["up", "--colour"][..]] {
        let outcome = migrate(cwd.path(), args, &[]);
        assert_eq!(outcome.code, 2, "{args:?}: {}", outcome.all());
        assert!(outcome.stderr.contains("Usage:"), "{}", outcome.all());
    }
    let help = migrate(cwd.path(), &["--help"], &[]);
    assert_eq!(help.code, 0, "{}", help.all());
    for needle in [
        "Exit codes:",
        "3  check: the store is behind",
        "4  the store is AHEAD",
        "5  the store is unavailable",
        "MIROIR_TASK_STORE_URL",
        "MIROIR_CONFIG",
    ] {
        assert!(help.stdout.contains(needle), "{needle}: {}", help.all());
    }
    assert!(!cwd.path().join(".miroir").exists());
}

#[test]
fn the_store_comes_from_the_flag_then_the_environment_then_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let (from_config, from_env, from_flag) = (
        dir.path().join("config.db"),
        dir.path().join("env.db"),
        dir.path().join("flag.db"),
    );
    let config = dir.path().join("miroir.yaml");
    std::fs::write(
        &config,
        format!(
            "miroir:\n  task_store:\n    path: {}\n",
            from_config.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let env_url = sqlite_url(&from_env);
    let env = [
        ("MIROIR_TASK_STORE_URL", env_url.as_str()),
        ("MIROIR_CONFIG", config),
    ];

    let flag_url = sqlite_url(&from_flag);
    assert_eq!(
        migrate(dir.path(), &["up", "--store", &flag_url], &env).code,
        0
    );
    assert!(from_flag.exists() && !from_env.exists() && !from_config.exists());

    assert_eq!(migrate(dir.path(), &["up"], &env).code, 0);
    assert!(from_env.exists() && !from_config.exists());

    assert_eq!(
        migrate(dir.path(), &["up"], &[("MIROIR_CONFIG", config)]).code,
        0
    );
    assert!(from_config.exists());

    std::fs::remove_file(&from_config).unwrap();
    assert_eq!(
        migrate(dir.path(), &["up", "--config", config], &[]).code,
        0
    );
    assert!(from_config.exists(), "--config works like MIROIR_CONFIG");
    assert!(
        !dir.path().join(".miroir").exists(),
        "the default store was never used"
    );
}

#[test]
fn overrides_of_the_config_apply_to_the_store_location() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("override.db");
    let db_path = db.to_str().unwrap();
    let outcome = migrate(dir.path(), &["up"], &[("MIROIR_TASK_STORE__PATH", db_path)]);
    assert_eq!(outcome.code, 0, "{}", outcome.all());
    assert!(db.exists());
}

#[test]
fn an_invalid_config_exits_1_naming_the_key_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    let config_arg = config.to_str().unwrap();
    let cases = [
        (
            "miroir:\n  shards: 0\n",
            "error: invalid configuration: miroir.shards: must be at least 1",
        ),
        (
            "miroir:\n  shardz: 64\n",
            "error: invalid configuration: miroir.shardz: unknown key",
        ),
        (
            "miroir:\n  task_store:\n    backend: redis\n",
            "error: invalid configuration: miroir.task_store.backend: redis requires task_store.url",
        ),
        ("miroir: [\n", "error: config file"),
    ];
    for (text, expected) in cases {
        std::fs::write(&config, text).unwrap();
        for outcome in [
            migrate(dir.path(), &["check", "--config", config_arg], &[]),
            migrate(dir.path(), &["up"], &[("MIROIR_CONFIG", config_arg)]),
        ] {
            assert_eq!(outcome.code, 1, "{text:?}: {}", outcome.all());
            assert!(
                outcome.stderr.starts_with(expected),
                "{text:?}: {}",
                outcome.all()
            );
        }
    }
    let missing = migrate(dir.path(), &["up", "--config", "absent.yaml"], &[]);
    assert_eq!(missing.code, 1, "{}", missing.all());
    assert!(
        missing
            .stderr
            .contains("cannot read config file absent.yaml"),
        "{}",
        missing.all()
    );
    let from_env = migrate(dir.path(), &["up"], &[("MIROIR_SHARDS", "0")]);
    assert_eq!(from_env.code, 1, "{}", from_env.all());
    assert!(
        from_env
            .stderr
            .contains("miroir.shards: must be at least 1 (set by MIROIR_SHARDS)"),
        "{}",
        from_env.all()
    );
    assert!(!dir.path().join(".miroir").exists(), "nothing was created");
}

#[test]
fn an_invalid_store_url_exits_1_without_the_password() {
    let cwd = tempfile::tempdir().unwrap();
    let outcome = migrate(
        cwd.path(),
        &["up", "--store", "postgres://admin:hunter2@db/x"],
        &[],
    );
    assert_eq!(outcome.code, 1, "{}", outcome.all());
    assert!(
        outcome.stderr.contains("invalid task store url"),
        "{}",
        outcome.all()
    );
    assert!(
        outcome.stderr.contains("unknown scheme `postgres`"),
        "{}",
        outcome.all()
    );
    assert!(!outcome.all().contains("hunter2"), "{}", outcome.all());
}
