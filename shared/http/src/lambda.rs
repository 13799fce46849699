//! The AWS Lambda adapter: one handler crate's routes as a function behind an API Gateway HTTP
//! API (payload format 2.0, `$default` stage, so paths arrive without a stage prefix).
//!
//! The function starts like `miroir` does ([`crate::startup::run`]): configuration from
//! `MIROIR_CONFIG` and the `MIROIR_*` variables, the store opened once per cold start, the same
//! readiness gate and layers. Only the transport differs.

use std::process::ExitCode;

use axum::Router;

use crate::layers::apply_layers;
use crate::startup::{self, StartError};
use crate::state::AppState;

/// Runs `router` under `lambda_http` until the Lambda runtime stops the process; `program`
/// prefixes start-up errors on stderr. Meant to be the whole `main` of a handler's function bin.
pub fn run(program: &str, router: fn(AppState) -> Router) -> ExitCode {
    startup::run(program, None, |state| async move {
        lambda_http::run(app(router, &state))
            .await
            .map_err(|error| StartError::failed(format!("the Lambda runtime stopped: {error}")))
    })
}

/// `router` behind the shared layers: what a function serves for each event.
pub fn app(router: fn(AppState) -> Router, state: &AppState) -> Router {
    apply_layers(router(state.clone()), state)
}
