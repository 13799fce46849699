//! Starting a Miroir server process the same way in the container (`miroir`) and on AWS Lambda:
//! logging, configuration, the store, the readiness gate, then whatever serves the routes.
//!
//! The store is opened without migrating it and without waiting for a network store to answer
//! (a Redis outage at start is a closed readiness gate, not a crash loop). A store AHEAD of this
//! binary is refused at start with [`Exit::Ahead`], the code `miroir-migrate` uses for it.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use miroir_core::config::config_file_path;
use miroir_core::{Config, EnvSource, Exit, ProcessEnv};
use miroir_store::{Connect, StoreError, StoreUrl, check_schema_version};

use crate::readiness::DEFAULT_RECHECK_INTERVAL;
use crate::state::AppState;

/// The variable naming how often, in milliseconds, the readiness gate re-reads the schema version.
pub const READINESS_INTERVAL_VAR: &str = "MIROIR_READINESS_INTERVAL_MS";

/// The variable holding the log filter (tracing `EnvFilter` directives, default `info`).
pub const LOG_FILTER_VAR: &str = "MIROIR_LOG";

/// Why a process could not start or stopped serving: the exit code and a message for stderr.
#[derive(Debug)]
pub struct StartError {
    /// The process exit code.
    pub exit: Exit,
    /// What went wrong, naming the key, URL or address at fault.
    pub message: String,
}

impl StartError {
    /// A [`Exit::Failed`] error with `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Failed,
            message: message.into(),
        }
    }
}

/// Runs a server process: JSON logs, the configuration (`cli_config`, else `MIROIR_CONFIG`, else
/// the embedded default, then the `MIROIR_*` overrides), the store and its readiness gate, then
/// `serve` on a multi-threaded runtime. Returns the exit code, after printing any failure as
/// `{program}: {message}` on stderr.
pub fn run<F, Fut>(program: &str, cli_config: Option<&Path>, serve: F) -> ExitCode
where
    F: FnOnce(AppState) -> Fut,
    Fut: Future<Output = Result<(), StartError>>,
{
    let env = ProcessEnv;
    init_logging(&env);
    let outcome = load(cli_config, &env).and_then(|(config, recheck)| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|error| {
                StartError::failed(format!("cannot start the async runtime: {error}"))
            })?;
        runtime.block_on(async move {
            let config = resolve_references(config).await?;
            serve(start_state(config, recheck).await?).await
        })
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{program}: {}", error.message);
            error.exit.into()
        }
    }
}

/// `config` with its secret references (`aws-sm://`, `aws-ssm://`) replaced by their values;
/// a reference that does not resolve is a start error naming the key and the reference.
pub async fn resolve_references(mut config: Config) -> Result<Config, StartError> {
    config
        .resolve_references_with_aws()
        .await
        .map_err(|error| StartError::failed(format!("invalid configuration: {error}")))?;
    Ok(config)
}

/// JSON log lines on stdout without ANSI colours, filtered by `MIROIR_LOG` (default `info`).
/// Does nothing if a global subscriber is already set.
pub fn init_logging(env: &impl EnvSource) {
    let filter = env
        .var(LOG_FILTER_VAR)
        .and_then(|directives| tracing_subscriber::EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let _already_set = tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

/// The validated configuration and the readiness re-check interval, or a [`Exit::Failed`] error
/// naming the key or variable at fault.
pub fn load(
    cli_config: Option<&Path>,
    env: &impl EnvSource,
) -> Result<(Config, Duration), StartError> {
    let path = config_file_path(cli_config, env);
    let config = Config::load(path.as_deref(), env)
        .map_err(|error| StartError::failed(format!("invalid configuration: {error}")))?;
    let recheck = match env
        .var(READINESS_INTERVAL_VAR)
        .filter(|value| !value.is_empty())
    {
        None => DEFAULT_RECHECK_INTERVAL,
        Some(value) => match value.parse::<u64>() {
            Ok(millis) if millis > 0 => Duration::from_millis(millis),
            _ => {
                return Err(StartError::failed(format!(
                    "invalid configuration: {READINESS_INTERVAL_VAR}: `{value}` is not a positive \
                     number of milliseconds"
                )));
            }
        },
    };
    Ok((config, recheck))
}

/// Opens the configured store (connecting on first use) and starts the readiness gate.
///
/// Fails with [`Exit::Failed`] for a bad URL or a file that is not a Miroir store, and with
/// [`Exit::Ahead`] when the store is at a newer schema version than this binary. A store that is
/// merely behind or unavailable starts closed and opens by itself once it is migrated or back.
pub async fn start_state(config: Config, recheck: Duration) -> Result<AppState, StartError> {
    let url = config.task_store_url();
    let store_error =
        |error: StoreError| StartError::failed(format!("cannot open the task store: {error}"));
    let parsed = StoreUrl::parse(&url).map_err(store_error)?;
    let store = miroir_store::open_url(&parsed, Connect::OnFirstUse)
        .await
        .map_err(store_error)?;
    if let Ok(version) = store.schema_version().await {
        if let Err(error @ StoreError::SchemaAhead { .. }) = check_schema_version(version) {
            return Err(StartError {
                exit: Exit::Ahead,
                message: format!("refusing to serve: {error}"),
            });
        }
    }
    Ok(AppState::start(store, config, recheck).await)
}
