//! The command line, parsed by clap.

use std::fmt;
use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};

use miroir_store::store_url::redact;

use crate::exit::HELP_FOOTER;

/// Miroir's migration job: brings a task store to this binary's schema version.
///
/// `Debug` redacts the password of every store URL.
#[derive(Parser)]
#[command(name = "miroir-migrate", version, after_help = HELP_FOOTER)]
pub struct Cli {
    /// Store URL (sqlite:///abs.db, sqlite://rel.db, redis://host:port/db, rediss://...);
    /// wins over MIROIR_TASK_STORE_URL and the config file.
    #[arg(long, global = true, value_name = "URL")]
    pub store: Option<String>,
    /// Config file (plan §4 YAML) whose task_store is used; default MIROIR_CONFIG.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Apply every missing migration step. Idempotent; safe to run from several processes at once.
    Up,
    /// Print the store's version, this binary's version and the pending steps. Changes nothing.
    Status,
    /// Exit 0 only if the store is exactly at this binary's version (3 behind, 4 ahead).
    /// Changes nothing.
    Check,
    /// Copy every table of one store into another (e.g. SQLite to Redis, Redis to Redis
    /// Cluster), keeping task uids, the uid sequence, versions, fencing tokens, job claim tokens
    /// and expiry, then verify counts and checksums. Stop every writer first.
    Copy(CopyArgs),
}

/// Arguments of `copy`. `Debug` redacts the password of both store URLs.
#[derive(Clone, PartialEq, Eq, Args)]
pub struct CopyArgs {
    /// The store to copy from; default the job's store (--store, MIROIR_TASK_STORE_URL, config).
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    /// The store to copy into (migrated to this binary's version first).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Delete every row of a non-empty target first (without it, a non-empty target is refused).
    #[arg(long)]
    pub force: bool,
    /// Rows per page read from the source.
    #[arg(long, value_name = "ROWS", default_value_t = crate::copy::DEFAULT_BATCH,
          value_parser = clap::value_parser!(u32).range(1..=100_000).map(|rows| rows as usize))]
    pub batch: usize,
}

impl fmt::Debug for Cli {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Cli")
            .field("store", &self.store.as_deref().map(redact))
            .field("config", &self.config)
            .field("command", &self.command)
            .finish()
    }
}

impl fmt::Debug for CopyArgs {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("CopyArgs")
            .field("from", &self.from.as_deref().map(redact))
            .field("to", &redact(&self.to))
            .field("force", &self.force)
            .field("batch", &self.batch)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn debug_redacts_every_store_url() {
        let cli = Cli::parse_from([
            "miroir-migrate",
            "--store",
            "redis://:s3cret-from@127.0.0.1:6379/0",
            "copy",
            "--from",
            "rediss://user:s3cret-from@cache:6380/0",
            "--to",
            "redis+cluster://:s3cret-to@h1:7000,h2:7001",
        ]);
        let debug = format!("{cli:?} {cli:#?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("127.0.0.1:6379"), "{debug}");
    }
}
