//! `miroir-migrate`: the migration job. It brings a Miroir task store (SQLite or Redis) to the
//! schema version of this binary ([`miroir_store::SCHEMA_VERSION`]); handlers never migrate, they
//! only refuse to serve a store at another version.
//!
//! # Commands
//!
//! - `miroir-migrate up`: applies every missing step. Idempotent, and safe when several jobs run
//!   at once (the store applies each step exactly once between them).
//! - `miroir-migrate status`: prints the store's version, this binary's version and the pending
//!   steps by number and name. Changes nothing (a missing SQLite file is reported as version 0
//!   and not created).
//! - `miroir-migrate check`: exits 0 only when the store is exactly at this binary's version.
//!   Changes nothing.
//! - `miroir-migrate copy --from URL --to URL [--force] [--batch N]`: copies every table of one
//!   store into another ([`copy::copy_store`]), keeping task uids and the uid sequence, versions,
//!   fencing tokens, job order, job claim tokens and their sequence, and expiry times, then
//!   verifies per table that both stores hold the same rows (count and checksum). `--from`
//!   defaults to the job's store. The source must be at this binary's version; the target is
//!   migrated first and must be empty unless `--force` (the default API keys its migration
//!   created do not count: the source's keys replace them).
//!   Progress (rows and rows/s per table) is drawn on stderr when it is a terminal.
//!
//! # Moving to another store
//!
//! From SQLite (one replica) to Redis (many), or from Redis to a Redis Cluster:
//!
//! 1. Stop every writer: scale `miroir` to 0 (`kubectl scale deploy/miroir --replicas=0`, or stop
//!    the process; on Lambda, set the functions' reserved concurrency to 0) and wait until the
//!    pods are gone. Meilisearch nodes keep their data; only Miroir's state moves.
//! 2. Copy: `miroir-migrate copy --from sqlite:///data/tasks.db --to redis://redis:6379/0`. It
//!    refuses a non-empty target, prints each table's rows, then the verification table; exit 0
//!    means every table matches. If it stops half way, run it again with `--force`.
//! 3. Switch the URL: set `task_store.url` (`MIROIR_TASK_STORE_URL`, or the chart's
//!    `taskStore.backend: redis` and `taskStore.redis.url`) to the target.
//! 4. Start `miroir` again (any number of replicas on Redis). Task uids continue after the
//!    source's last uid; `GET /tasks` serves the same pages as before.
//!
//! Keep the source until the new deployment has run for a while: copying back is the same
//! command with `--from` and `--to` swapped.
//!
//! # Which store
//!
//! `--store URL`, else `MIROIR_TASK_STORE_URL`, else the config file (`--config FILE`, else
//! `MIROIR_CONFIG`) through [`miroir_core::Config`] — so its defaults and every `MIROIR_*`
//! override apply, and no argument at all means `sqlite://./.miroir/tasks.db`.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done (`up`), printed (`status`), current (`check`), copied and verified (`copy`) |
//! | 1 | any other failure: bad config or store URL, not a Miroir store, `copy` into a non-empty target without `--force` or a failed verification, unexpected store error |
//! | 2 | usage error |
//! | 3 | `check`: the store is behind this binary |
//! | 4 | any command: the store is AHEAD of this binary; nothing changed; both versions named |
//! | 5 | the store is unavailable (no answer in time, connection refused) |
//!
//! Human output goes to stdout, errors to stderr (`error: …`); store URLs are shown with their
//! password replaced by `***`.
//!
//! # On AWS Lambda
//!
//! Bin `lambda-migrate` is the same job as a one-shot function: each invocation runs [`up`] on
//! the store [`target_from_env`] names (which must be Redis there: functions share no disk) and
//! answers the [`UpReport`] as JSON, or fails with the [`Failure`]'s message.

mod cli;
mod commands;
pub mod copy;
mod exit;
mod failure;
mod output;
mod target;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;
use miroir_core::EnvSource;

pub use cli::{Cli, Command, CopyArgs};
pub use commands::UpReport;
pub use failure::Failure;
pub use miroir_core::Exit;
pub use target::{STORE_URL_VAR, Target};

/// Runs the job as the command line `args` (program name first) asks, with `env` as the
/// environment, writing human output to `stdout` and errors to `stderr`. Returns the exit code;
/// never panics on bad input and never prints a secret.
pub fn run<I, T>(
    args: I,
    env: &impl EnvSource,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let text = error.render().to_string();
            let _ = if error.use_stderr() {
                write!(stderr, "{text}")
            } else {
                write!(stdout, "{text}")
            };
            return if error.exit_code() == 0 {
                Exit::Done
            } else {
                Exit::Usage
            };
        }
    };
    match execute(&cli, env, stdout) {
        Ok(exit) => exit,
        Err(failure) => {
            let _ = writeln!(stderr, "error: {}", failure.message);
            failure.exit
        }
    }
}

/// The store the environment names, as `miroir-migrate` run without flags would pick it:
/// `MIROIR_TASK_STORE_URL`, else the config file (`MIROIR_CONFIG`, else the embedded default)
/// with every `MIROIR_*` override. Fails with [`Exit::Failed`] for a bad URL or configuration.
/// A secret reference there is resolved with the AWS SDK.
pub async fn target_from_env(env: &impl EnvSource) -> Result<Target, Failure> {
    target::resolve(None, None, env).await
}

/// `miroir-migrate up` on `target`: connects now and applies every missing step. Idempotent and
/// safe beside other runs. Fails with [`Exit::Ahead`] (message naming both versions) when the
/// store is ahead of this binary, leaving it untouched; with [`Exit::Unavailable`] when it does
/// not answer. Needs a multi-threaded Tokio runtime (the SQLite backend blocks in place).
pub async fn up(target: &Target) -> Result<UpReport, Failure> {
    commands::up(target).await
}

fn execute(cli: &Cli, env: &impl EnvSource, stdout: &mut dyn Write) -> Result<Exit, Failure> {
    // Multi-threaded: the SQLite backend runs blocking calls with `block_in_place`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| Failure {
            exit: Exit::Failed,
            message: format!("cannot start the async runtime: {error}"),
        })?;
    runtime.block_on(async {
        let store = match &cli.command {
            Command::Copy(args) => args.from.as_deref().or(cli.store.as_deref()),
            _ => cli.store.as_deref(),
        };
        let target = target::resolve(store, cli.config.as_deref(), env).await?;
        commands::execute(&cli.command, &target, env, stdout).await
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use miroir_store::StoreError;

    use super::*;

    fn run_with(args: &[&str], vars: &[(&str, &str)]) -> (Exit, String, String) {
        let env: BTreeMap<String, String> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let exit = run(
            std::iter::once("miroir-migrate").chain(args.iter().copied()),
            &env,
            &mut stdout,
            &mut stderr,
        );
        (
            exit,
            String::from_utf8_lossy(&stdout).into_owned(),
            String::from_utf8_lossy(&stderr).into_owned(),
        )
    }

    #[test]
    fn exit_codes_are_the_documented_numbers() {
        let codes = [
            Exit::Done,
            Exit::Failed,
            Exit::Usage,
            Exit::Behind,
            Exit::Ahead,
            Exit::Unavailable,
        ]
        .map(Exit::code);
        assert_eq!(codes, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn store_errors_map_to_their_exit_codes() {
        let cases = [
            (
                StoreError::SchemaAhead {
                    store: 9,
                    binary: 1,
                },
                Exit::Ahead,
            ),
            (
                StoreError::SchemaBehind {
                    store: 0,
                    binary: 1,
                },
                Exit::Behind,
            ),
            (StoreError::Unavailable("down".into()), Exit::Unavailable),
            (StoreError::NotAMiroirStore("x.db".into()), Exit::Failed),
            (StoreError::Backend("boom".into()), Exit::Failed),
        ];
        for (error, exit) in cases {
            assert_eq!(Failure::from(error).exit, exit);
        }
    }

    #[test]
    fn the_environment_is_injected() {
        let (exit, stdout, stderr) = run_with(&["check"], &[("MIROIR_SHARDS", "0")]);
        assert_eq!(exit, Exit::Failed, "{stdout}{stderr}");
        assert_eq!(
            stderr,
            "error: invalid configuration: miroir.shards: must be at least 1 (set by MIROIR_SHARDS)\n"
        );
        let (exit, _, stderr) = run_with(&["check"], &[(STORE_URL_VAR, "memcached://x")]);
        assert_eq!(exit, Exit::Failed);
        assert!(stderr.contains("unknown scheme `memcached`"), "{stderr}");
    }

    #[test]
    fn help_goes_to_stdout_and_usage_errors_to_stderr() {
        let (exit, stdout, _) = run_with(&["--help"], &[]);
        assert_eq!(exit, Exit::Done);
        assert!(stdout.contains("Exit codes:"), "{stdout}");
        let (exit, stdout, stderr) = run_with(&["upp"], &[]);
        assert_eq!(exit, Exit::Usage);
        assert!(stdout.is_empty() && stderr.contains("Usage:"), "{stderr}");
    }

    #[test]
    fn copy_needs_a_target_and_a_positive_batch() {
        for args in [
            &["copy"][..],
            &["copy", "--to", "sqlite::memory:", "--batch", "0"],
            &["copy", "--to", "sqlite::memory:", "--batch", "many"],
        ] {
            let (exit, _, stderr) = run_with(args, &[]);
            assert_eq!(exit, Exit::Usage, "{args:?}: {stderr}");
        }
    }

    #[test]
    fn copy_refuses_a_missing_or_behind_source_and_leaves_the_target_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let source = format!("sqlite://{}", dir.path().join("source.db").display());
        let target = dir.path().join("target.db");
        let (exit, _, stderr) = run_with(
            &[
                "copy",
                "--from",
                &source,
                "--to",
                &format!("sqlite://{}", target.display()),
            ],
            &[],
        );
        assert_eq!(exit, Exit::Failed, "{stderr}");
        assert!(stderr.contains("does not exist"), "{stderr}");
        assert!(
            !dir.path().join("source.db").exists(),
            "no source was created"
        );
        // An empty store at version 0: behind this binary.
        drop(rusqlite::Connection::open(dir.path().join("source.db")).expect("empty file"));
        let (exit, stdout, stderr) = run_with(
            &[
                "copy",
                "--from",
                &source,
                "--to",
                &format!("sqlite://{}", target.display()),
            ],
            &[],
        );
        assert_eq!(exit, Exit::Behind, "{stdout}{stderr}");
        assert!(stderr.contains("behind"), "{stderr}");
        assert!(!target.exists(), "the target was not created");
    }
}
