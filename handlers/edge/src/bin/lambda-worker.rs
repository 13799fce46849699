//! `lambda-worker`: the scheduled worker function. Configured like `miroir` (`MIROIR_CONFIG`
//! and the `MIROIR_*` variables); each scheduled invocation runs one bounded background pass
//! (`miroir_edge::worker`). Canary searches go through the same routes `miroir` serves, in
//! process.

use std::process::ExitCode;
use std::sync::Arc;

use lambda_http::lambda_runtime::{self, service_fn};
use miroir_background::{Background, pod_id};
use miroir_core::ProcessEnv;
use miroir_http::startup::{self, StartError};

fn main() -> ExitCode {
    startup::run("lambda-worker", None, |state| async move {
        let id = pod_id(&state.config.background.pod_id, &ProcessEnv);
        let background = Arc::new(Background::new(
            state.clone(),
            miroir_edge::app(&state),
            &id,
        ));
        lambda_runtime::run(service_fn(move |event| {
            let background = background.clone();
            async move { miroir_edge::worker::handle(&background, event).await }
        }))
        .await
        .map_err(|error| StartError::failed(format!("the Lambda runtime stopped: {error}")))
    })
}
