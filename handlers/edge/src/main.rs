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
//! Exit codes: 0 after a clean shutdown, 1 for an invalid configuration or a store that cannot
//! be opened (the key or URL and the reason on stderr), 2 for bad command-line arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use clap::Parser;
use miroir_core::config::config_file_path;
use miroir_core::{Config, EnvSource, ProcessEnv};
use miroir_http::{AppState, DEFAULT_RECHECK_INTERVAL, apply_layers};

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

/// Every handler's routes, merged, behind the shared layers (applied once, here).
fn app(state: &AppState) -> Router {
    let routes = Router::new()
        .merge(miroir_handler_admin::router(state.clone()))
        .merge(miroir_handler_tasks::router(state.clone()));
    apply_layers(routes, state)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let env = ProcessEnv;
    init_logging(&env);
    let path = config_file_path(args.config.as_deref(), &env);
    let config = match Config::load(path.as_deref(), &env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("miroir: invalid configuration: {error}");
            return ExitCode::from(1);
        }
    };
    let recheck = match env
        .var("MIROIR_READINESS_INTERVAL_MS")
        .filter(|value| !value.is_empty())
    {
        None => DEFAULT_RECHECK_INTERVAL,
        Some(value) => match value.parse::<u64>() {
            Ok(millis) if millis > 0 => Duration::from_millis(millis),
            _ => {
                eprintln!(
                    "miroir: invalid configuration: MIROIR_READINESS_INTERVAL_MS: `{value}` is not a positive number of milliseconds"
                );
                return ExitCode::from(1);
            }
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("miroir: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(config, recheck))
}

async fn run(config: Config, recheck: Duration) -> ExitCode {
    let url = config.task_store_url();
    let store = match miroir_store::open(&url).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("miroir: cannot open the task store (miroir.task_store): {error}");
            return ExitCode::from(1);
        }
    };
    let addr = config.server.listen_address();
    let state = AppState::start(store, config, recheck).await;
    if let Err(error) = miroir_http::serve(app(&state), &addr).await {
        eprintln!("miroir: cannot serve on {addr}: {error}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// JSON log lines on stdout, filtered by `MIROIR_LOG` (default `info`).
fn init_logging(env: &impl EnvSource) {
    let filter = env
        .var("MIROIR_LOG")
        .and_then(|directives| tracing_subscriber::EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
}
