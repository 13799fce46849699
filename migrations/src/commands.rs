//! The three subcommands over an opened store. Human output goes to `out`; every non-zero exit
//! is a [`Failure`] whose message the caller prints on stderr.

use std::io::Write;

use miroir_store::schema::MIGRATIONS;
use miroir_store::{
    Connect, DynStore, SCHEMA_VERSION, SqliteLocation, StoreUrl, check_schema_version,
    pending_steps,
};

use crate::cli::Command;
use crate::failure::Failure;
use crate::target::Target;
use miroir_core::Exit;

/// Runs `command` on the store `target` names.
pub(crate) async fn execute(
    command: Command,
    target: &Target,
    out: &mut dyn Write,
) -> Result<Exit, Failure> {
    say(out, format_args!("store: {}", target.shown));
    match command {
        Command::Up => {
            up(
                &miroir_store::open_url(&target.url, Connect::Now).await?,
                out,
            )
            .await
        }
        Command::Status => status(read_version(target).await?, out),
        Command::Check => check(read_version(target).await?, out),
    }
}

async fn up(store: &DynStore, out: &mut dyn Write) -> Result<Exit, Failure> {
    let report = store.migrate().await?;
    if report.from == report.to {
        say(
            out,
            format_args!("already at version {}; nothing to apply", report.to),
        );
    } else if report.applied.is_empty() {
        say(
            out,
            format_args!(
                "now at version {} (from {}); another process applied the steps",
                report.to, report.from
            ),
        );
    } else {
        let applied: Vec<String> = report
            .applied
            .iter()
            .map(|version| step_label(*version))
            .collect();
        say(
            out,
            format_args!(
                "migrated from version {} to {}; applied {}",
                report.from,
                report.to,
                applied.join(", ")
            ),
        );
    }
    Ok(Exit::Done)
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

/// One line of human output. A closed stdout does not change the exit code.
fn say(out: &mut dyn Write, line: std::fmt::Arguments<'_>) {
    let _ = writeln!(out, "{line}");
}
