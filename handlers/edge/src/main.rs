//! `miroir`: the edge router. Loads the configuration, opens the task store (never migrating
//! it), mounts every handler's routes behind the shared layers and serves them until SIGTERM or
//! ctrl-c, running the background work (task poller, pruner, job worker, canary runner; see
//! `miroir_background`) beside them unless `background.enabled` is false.
//!
//! Configuration: `--config FILE` or `MIROIR_CONFIG`, environment overrides as documented in
//! `miroir_core::config`; `MIROIR_HTTP_ADDR` (default `127.0.0.1:7700`),
//! `MIROIR_TASK_STORE_URL`, `MIROIR_MASTER_KEY`, `MIROIR_ADMIN_API_KEY`. Also
//! `MIROIR_READINESS_INTERVAL_MS` (how often the schema version is re-read, default 2000),
//! `MIROIR_LOG` (a tracing filter, default `info`) and `POD_NAME` (this replica's id among its
//! peers, unless `background.pod_id` is set). Logs are JSON lines on stdout.
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
use std::sync::Arc;

use clap::Parser;
use miroir_background::{Background, pod_id};
use miroir_core::ProcessEnv;
use miroir_http::startup::{self, StartError};
use miroir_http::{ServeOptions, shutdown_signal};

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
        let app = miroir_edge::app(&state);
        let background = state.config.background.enabled.then(|| {
            let id = pod_id(&state.config.background.pod_id, &ProcessEnv);
            let background = Arc::new(Background::new(state.clone(), app.clone(), &id));
            tokio::spawn(async move { background.run(shutdown_signal()).await })
        });
        let options = ServeOptions::from_config(&state.config.server);
        let served = miroir_http::serve(app, &addr, options).await;
        if let Some(background) = background {
            if served.is_err() {
                background.abort();
            }
            // After a shutdown signal the background loop leaves the peer set and releases its
            // leases before the process exits.
            let _stopped = background.await;
        }
        served.map_err(|error| StartError::failed(format!("cannot serve on {addr}: {error}")))
    })
}
