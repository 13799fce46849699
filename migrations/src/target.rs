//! Which store the job works on: `--store`, else `MIROIR_TASK_STORE_URL`, else the config.

use miroir_core::config::{self, Config, EnvSource};
use miroir_store::StoreUrl;

use crate::cli::Cli;
use crate::failure::Failure;

/// The environment variable naming the store when `--store` is not given.
pub const STORE_URL_VAR: &str = "MIROIR_TASK_STORE_URL";

/// A parsed store URL and how to show it (password redacted, Miroir parameters kept).
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) url: StoreUrl,
    pub(crate) shown: String,
}

/// Resolves the store URL. The config file is read (and validated) only when neither `--store`
/// nor `MIROIR_TASK_STORE_URL` names the store.
pub(crate) fn resolve(cli: &Cli, env: &impl EnvSource) -> Result<Target, Failure> {
    let from_env = env.var(STORE_URL_VAR).filter(|url| !url.is_empty());
    let raw = match cli.store.clone().or(from_env) {
        Some(raw) => raw,
        None => {
            let path = config::config_file_path(cli.config.as_deref(), env);
            Config::load(path.as_deref(), env)?.task_store_url()
        }
    };
    let url = StoreUrl::parse(&raw)?;
    Ok(Target {
        url,
        shown: miroir_store::store_url::redact(&raw),
    })
}
