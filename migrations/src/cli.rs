//! The command line, parsed by clap.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::exit::HELP_FOOTER;

/// Miroir's migration job: brings a task store to this binary's schema version.
#[derive(Debug, Parser)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Apply every missing migration step. Idempotent; safe to run from several processes at once.
    Up,
    /// Print the store's version, this binary's version and the pending steps. Changes nothing.
    Status,
    /// Exit 0 only if the store is exactly at this binary's version (3 behind, 4 ahead).
    /// Changes nothing.
    Check,
}
