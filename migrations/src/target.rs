//! Which store the job works on: `--store`, else `MIROIR_TASK_STORE_URL`, else the config.

use std::path::Path;

use miroir_core::Exit;
use miroir_core::config::references::{AwsResolver, RESOLVE_TIMEOUT, Reference, Resolver};
use miroir_core::config::{self, Config, EnvSource};
use miroir_store::StoreUrl;

use crate::failure::Failure;

/// The environment variable naming the store when `--store` is not given.
pub const STORE_URL_VAR: &str = "MIROIR_TASK_STORE_URL";

/// The store a job works on: its parsed URL and how to show it. `Debug` shows no password
/// ([`StoreUrl`]'s own `Debug` redacts it).
#[derive(Debug, Clone)]
pub struct Target {
    /// The parsed store URL.
    pub url: StoreUrl,
    /// The URL as it may be printed or logged: password replaced by `***`, Miroir parameters
    /// kept.
    pub shown: String,
}

/// Resolves the store URL: `store` (the `--store` flag), else `MIROIR_TASK_STORE_URL`, else the
/// config file (`config`, the `--config` flag, else `MIROIR_CONFIG`, else the embedded default).
/// The config file is read (and validated) only when neither names the store. A secret
/// reference (`aws-sm://…`, `aws-ssm://…`) is resolved with the AWS SDK, as `miroir` does.
pub(crate) async fn resolve(
    store: Option<&str>,
    config: Option<&Path>,
    env: &impl EnvSource,
) -> Result<Target, Failure> {
    let from_env = env.var(STORE_URL_VAR).filter(|url| !url.is_empty());
    let raw = match store.map(str::to_owned).or(from_env) {
        Some(raw) => resolve_reference(raw).await?,
        None => {
            let path = config::config_file_path(config, env);
            let mut config = Config::load(path.as_deref(), env)?;
            config.resolve_references_with_aws().await?;
            config.task_store_url()
        }
    };
    let url = StoreUrl::parse(&raw)?;
    Ok(Target {
        url,
        shown: miroir_store::store_url::redact(&raw),
    })
}

/// `raw` itself, or the value it references.
async fn resolve_reference(raw: String) -> Result<String, Failure> {
    let failed = |message: String| Failure {
        exit: Exit::Failed,
        message,
    };
    let Some(reference) = Reference::parse(&raw) else {
        return Ok(raw);
    };
    let reference = reference.map_err(|reason| failed(format!("the store url: {reason}")))?;
    let resolver = AwsResolver::from_env().await;
    match tokio::time::timeout(RESOLVE_TIMEOUT, resolver.resolve(&reference)).await {
        Ok(Ok(url)) => Ok(url),
        Ok(Err(reason)) => Err(failed(format!(
            "the store url: cannot resolve {reference}: {reason}"
        ))),
        Err(_) => Err(failed(format!(
            "the store url: cannot resolve {reference}: no answer within {} s",
            RESOLVE_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_password() {
        let raw = "redis://:s3cret-pw@127.0.0.1:6379/0";
        let target = Target {
            url: StoreUrl::parse(raw).expect("a valid url"),
            shown: miroir_store::store_url::redact(raw),
        };
        let debug = format!("{target:?}");
        assert!(!debug.contains("s3cret-pw"), "{debug}");
    }
}
