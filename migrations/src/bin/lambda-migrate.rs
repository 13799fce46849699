//! `lambda-migrate`: the migration job as a one-shot AWS Lambda function. Configured like
//! `miroir-migrate` without flags (`MIROIR_TASK_STORE_URL`, else `MIROIR_CONFIG` and the
//! `MIROIR_*` variables), and the store must be Redis: Lambda functions share no disk.
//!
//! Each invocation, whatever its event, runs `miroir-migrate up` ([`miroir_migrate::up`]) and
//! answers `{"fromVersion": 0, "toVersion": 1, "applied": [1]}`, or fails with an error whose
//! type says why (`StoreAhead`: the store is at a newer version than this binary, both named
//! in the message, and was left untouched; `StoreUnavailable`; `MigrationFailed`). Run it once
//! after each deployment and before routing traffic: `aws lambda invoke --function-name
//! <MigrateFunction> out.json`.

use std::process::ExitCode;

use lambda_http::lambda_runtime::{self, Diagnostic, LambdaEvent, service_fn};
use miroir_core::{EnvSource, ProcessEnv};
use miroir_migrate::{Exit, Failure, UpReport};
use miroir_store::StoreUrl;
use serde::de::IgnoredAny;

fn main() -> ExitCode {
    // Multi-threaded, as `miroir-migrate` runs: the store's blocking calls run in place.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lambda-migrate: cannot start the async runtime: {error}");
            return Exit::Failed.into();
        }
    };
    let served = runtime.block_on(lambda_runtime::run(service_fn(
        |_event: LambdaEvent<IgnoredAny>| handle(&ProcessEnv),
    )));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lambda-migrate: the Lambda runtime stopped: {error}");
            Exit::Failed.into()
        }
    }
}

/// One invocation: `up` on the store `env` names, logged on stderr (CloudWatch) either way.
async fn handle(env: &impl EnvSource) -> Result<UpReport, Diagnostic> {
    match migrate(env).await {
        Ok(report) => {
            eprintln!("lambda-migrate: {report}");
            Ok(report)
        }
        Err(failure) => {
            eprintln!("lambda-migrate: error: {failure}");
            Err(diagnostic(failure))
        }
    }
}

/// Resolves the store, refuses one Lambda functions could not share, and migrates it.
async fn migrate(env: &impl EnvSource) -> Result<UpReport, Failure> {
    let target = miroir_migrate::target_from_env(env).await?;
    if !matches!(
        target.url,
        StoreUrl::Redis { .. } | StoreUrl::RedisCluster { .. }
    ) {
        return Err(Failure {
            exit: Exit::Failed,
            message: format!(
                "the task store of a Lambda deployment must be Redis (redis://, rediss:// or redis+cluster://), \
                 since functions share no disk; {} is not (set MIROIR_TASK_STORE_URL)",
                target.shown
            ),
        });
    }
    eprintln!("lambda-migrate: store: {}", target.shown);
    miroir_migrate::up(&target).await
}

/// The invocation's error: a type naming the kind of failure and the one-line message.
fn diagnostic(failure: Failure) -> Diagnostic {
    let error_type = match failure.exit {
        Exit::Ahead => "StoreAhead",
        Exit::Unavailable => "StoreUnavailable",
        _ => "MigrationFailed",
    };
    Diagnostic {
        error_type: error_type.to_owned(),
        error_message: failure.message,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;
    use std::time::Duration;

    use miroir_store::SCHEMA_VERSION;
    use miroir_store::schema::MIGRATIONS;
    use miroir_test_support::{shared_redis, unique_prefix};
    use serde_json::json;

    use super::*;

    fn env_with_store(url: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(miroir_migrate::STORE_URL_VAR.to_owned(), url.to_owned())])
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn each_invocation_brings_the_store_to_this_version_and_reports_it() {
        let server = shared_redis();
        let prefix = unique_prefix("lambda-migrate");
        let env = env_with_store(&server.store_url(&prefix, Duration::from_secs(2)));

        let first = handle(&env).await.unwrap();
        let every_step: Vec<u32> = MIGRATIONS.iter().map(|step| step.version).collect();
        assert_eq!(
            serde_json::to_value(&first).unwrap(),
            json!({"fromVersion": 0, "toVersion": SCHEMA_VERSION, "applied": every_step})
        );
        let second = handle(&env).await.unwrap();
        assert_eq!(
            serde_json::to_value(&second).unwrap(),
            json!({"fromVersion": SCHEMA_VERSION, "toVersion": SCHEMA_VERSION, "applied": []})
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_store_ahead_is_an_error_naming_both_versions() {
        let server = shared_redis();
        let prefix = unique_prefix("lambda-migrate-ahead");
        let env = env_with_store(&server.store_url(&prefix, Duration::from_secs(2)));
        handle(&env).await.unwrap();
        let ahead = (SCHEMA_VERSION + 1).to_string();
        server
            .command(&["SET", &format!("{prefix}:{{meta}}:schema_version"), &ahead])
            .unwrap();

        let error = handle(&env).await.unwrap_err();
        assert_eq!(error.error_type, "StoreAhead");
        assert!(
            error.error_message.contains(&format!(
                "schema version {ahead} is ahead of this binary's version {SCHEMA_VERSION}"
            )),
            "{}",
            error.error_message
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_store_that_does_not_answer_is_unavailable() {
        let env = env_with_store("redis://127.0.0.1:1/0?timeout_ms=500");
        let error = handle(&env).await.unwrap_err();
        assert_eq!(error.error_type, "StoreUnavailable", "{error:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_store_lambda_functions_cannot_share_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", directory.path().join("tasks.db").display());
        let error = handle(&env_with_store(&url)).await.unwrap_err();
        assert_eq!(error.error_type, "MigrationFailed");
        assert!(
            error.error_message.contains("must be Redis"),
            "{}",
            error.error_message
        );
        assert!(
            !directory.path().join("tasks.db").exists(),
            "nothing created"
        );

        let error = handle(&BTreeMap::new()).await.unwrap_err();
        assert!(
            error.error_message.contains("must be Redis"),
            "the embedded default (SQLite) is refused too: {}",
            error.error_message
        );
    }
}
