//! The three subcommands over an opened store. Human output goes to `out`; every non-zero exit
//! is a [`Failure`] whose message the caller prints on stderr. `up` is also the library's
//! [`crate::up`], which the `lambda-migrate` function runs.

use std::fmt;
use std::io::Write;

use miroir_store::schema::MIGRATIONS;
use miroir_store::{
    Connect, SCHEMA_VERSION, SqliteLocation, StoreUrl, check_schema_version, pending_steps,
};

use serde::Serialize;

use crate::cli::Command;
use crate::failure::Failure;
use crate::output::say;
use crate::target::Target;
use miroir_core::{EnvSource, Exit};

/// Runs `command` on the store `target` names (for `copy`, the store copied from; the one
/// copied into is resolved from the arguments with `env`).
pub(crate) async fn execute(
    command: &Command,
    target: &Target,
    env: &impl EnvSource,
    out: &mut dyn Write,
) -> Result<Exit, Failure> {
    let single = |out: &mut dyn Write| say(out, format_args!("store: {}", target.shown));
    match command {
        Command::Up => {
            single(out);
            let report = up(target).await?;
            say(out, format_args!("{report}"));
            Ok(Exit::Done)
        }
        Command::Status => {
            single(out);
            status(read_version(target).await?, out)
        }
        Command::Check => {
            single(out);
            check(read_version(target).await?, out)
        }
        Command::Copy(args) => {
            let to = crate::target::resolve(Some(&args.to), None, env).await?;
            let options = crate::copy::CopyOptions {
                force: args.force,
                batch: args.batch,
                progress: true,
            };
            crate::copy::run(target, &to, options, out).await
        }
    }
}

/// What `up` did to a store. Serialized (for the `lambda-migrate` function's answer) as
/// `{"fromVersion": 0, "toVersion": 1, "applied": [1]}`; displayed as the line
/// `miroir-migrate up` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpReport {
    /// The store's schema version before.
    pub from_version: u32,
    /// The store's schema version after: always this binary's [`SCHEMA_VERSION`].
    pub to_version: u32,
    /// The steps this run applied, by number, in order; empty when the store was already
    /// current or another process applied them meanwhile.
    pub applied: Vec<u32>,
}

impl fmt::Display for UpReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from_version == self.to_version {
            write!(
                formatter,
                "already at version {}; nothing to apply",
                self.to_version
            )
        } else if self.applied.is_empty() {
            write!(
                formatter,
                "now at version {} (from {}); another process applied the steps",
                self.to_version, self.from_version
            )
        } else {
            let applied: Vec<String> = self
                .applied
                .iter()
                .map(|version| step_label(*version))
                .collect();
            write!(
                formatter,
                "migrated from version {} to {}; applied {}",
                self.from_version,
                self.to_version,
                applied.join(", ")
            )
        }
    }
}

/// `up`: connects to the store now and applies every missing step (see [`crate::up`]).
pub(crate) async fn up(target: &Target) -> Result<UpReport, Failure> {
    let store = miroir_store::open_url(&target.url, Connect::Now).await?;
    let report = store.migrate().await?;
    Ok(UpReport {
        from_version: report.from,
        to_version: report.to,
        applied: report.applied,
    })
}

fn status(version: StoreVersion, out: &mut dyn Write) -> Result<Exit, Failure> {
    let note = if version.exists {
        ""
    } else {
        " (the file does not exist yet)"
    };
    say(
        out,
        format_args!("store version:  {}{note}", version.number),
    );
    say(out, format_args!("binary version: {SCHEMA_VERSION}"));
    let pending = pending_steps(version.number)?;
    if pending.is_empty() {
        say(out, format_args!("pending steps:  none"));
    } else {
        say(out, format_args!("pending steps:  {}", pending.len()));
        for step in pending {
            say(out, format_args!("  {}", step_label(step.version)));
        }
    }
    Ok(Exit::Done)
}

fn check(version: StoreVersion, out: &mut dyn Write) -> Result<Exit, Failure> {
    check_schema_version(version.number)?;
    say(
        out,
        format_args!(
            "store at version {}, the version of this binary",
            version.number
        ),
    );
    Ok(Exit::Done)
}

/// A store's schema version, as read by the commands that change nothing.
struct StoreVersion {
    number: u32,
    /// False for a SQLite file that does not exist: version 0, and it was not created.
    exists: bool,
}

/// Reads the version without creating anything: a missing SQLite file is version 0.
async fn read_version(target: &Target) -> Result<StoreVersion, Failure> {
    if let StoreUrl::Sqlite {
        location: SqliteLocation::File(path),
        ..
    } = &target.url
    {
        if !path.exists() {
            return Ok(StoreVersion {
                number: 0,
                exists: false,
            });
        }
    }
    let store = miroir_store::open_url(&target.url, Connect::Now).await?;
    Ok(StoreVersion {
        number: store.schema_version().await?,
        exists: true,
    })
}

/// `0001 initial`: a step's number and name.
fn step_label(version: u32) -> String {
    match MIGRATIONS.iter().find(|step| step.version == version) {
        Some(step) => format!("{:04} {}", step.version, step.name),
        None => format!("{version:04}"),
    }
}
