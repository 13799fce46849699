//! `miroir`: the edge router. Loads the configuration, opens the task store (never migrating
//! it), mounts every handler's routes behind the shared layers and serves them until SIGTERM or
//! ctrl-c.
//!
//! Configuration: `--config FILE` or `MIROIR_CONFIG`, environment overrides as documented in
//! `miroir_core::config`; `MIROIR_HTTP_ADDR` (default `127.0.0.1:7700`),
//! `MIROIR_TASK_STORE_URL`, `MIROIR_MASTER_KEY`, `MIROIR_ADMIN_API_KEY`. Also
//! `MIROIR_READINESS_INTERVAL_MS` (how often the schema version is re-read, default 2000) and
//! `MIROIR_LOG` (a tracing filter, default `info`). Logs are JSON lines on stdout.
//!
//! A store that is behind this binary or unavailable does not stop the start: the server answers
//! 503 (except `GET /health`) until `miroir-migrate up` has run or the store is back.
//!
//! Exit codes (`miroir_core::Exit`): 0 after a clean shutdown; 1 for an invalid configuration, a
//! bad store URL, a file that is not a Miroir store or an address that cannot be bound (the key,
//! URL or address and the reason on stderr); 2 for bad command-line arguments; 4 when the store
//! is AHEAD of this binary (migrated by a newer Miroir).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use miroir_http::startup::{self, StartError};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "miroir",
    version,
    about = "Miroir: a fleet of Meilisearch nodes as one Meilisearch"
)]
struct Args {
    /// The YAML config file (default: `MIROIR_CONFIG`, else the embedded default).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    startup::run("miroir", args.config.as_deref(), |state| async move {
        let addr = state.config.server.listen_address();
        miroir_http::serve(miroir_edge::app(&state), &addr)
            .await
            .map_err(|error| StartError::failed(format!("cannot serve on {addr}: {error}")))
    })
}
