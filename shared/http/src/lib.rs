//! `miroir-http`: what every Miroir handler shares above `miroir-core`.
//!
//! - [`AppState`]: the store, the configuration, the [`Readiness`] gate and the start time;
//! - [`HttpError`]: the one conversion of an [`ApiError`] into an HTTP response;
//! - [`apply_layers`]: the shared middleware (auth, readiness gate, body limit), applied once by
//!   whoever mounts the routers;
//! - [`metrics`]: request and store-operation metrics in the Prometheus text format;
//! - [`openapi`]: the OpenAPI document assembled from the handlers' route definitions;
//! - [`JsonBody`]: the JSON body extractor with Meilisearch's 400/413/415 refusals;
//! - [`IndexPath`]: path parameters with their index uids checked (400 `invalid_index_uid`);
//! - [`QueryParams`] and [`timefmt`]: query-string and date helpers the handlers share;
//! - [`startup`]: how a server process starts (logs, config, store, readiness), shared by the
//!   container's `miroir` and every Lambda function;
//! - [`alias`]: alias names on client routes resolved to concrete index uids;
//! - [`session`]: `X-Miroir-Session` read-your-writes pins;
//! - [`write`]: the one path a client write takes to become a Miroir task (idempotency,
//!   fan-out, quorum, 202);
//! - [`serve`]: the container's server loop with graceful shutdown; [`lambda`]: the same routes
//!   as an AWS Lambda function behind an API Gateway HTTP API.
//!
//! Handler crates expose `router(state) -> axum::Router` with their routes only; they never
//! apply these layers themselves.

pub mod alias;
pub mod api_keys;
mod auth;
mod client_ip;
mod error;
mod json;
pub mod lambda;
mod layers;
pub mod metrics;
pub mod object;
pub mod openapi;
mod path;
mod query;
mod readiness;
mod request_id;
mod serve;
pub mod session;
pub mod startup;
mod state;
pub mod timefmt;
pub mod write;

pub use auth::{
    ADMIN_LOGIN_PATH, ADMIN_SESSION_COOKIE, AdminAuth, AuthScope, CSRF_TOKEN_HEADER, TOKEN_BYTES,
    admin_key_hash, admin_key_matches, check_same_origin, find_admin_session, is_token, scope_of,
    session_cookie, session_refused, sha256_hex,
};
pub use client_ip::ClientIp;
pub use error::{HttpError, HttpResult, RETRY_AFTER_SECONDS, error_response};
pub use json::{JsonBody, describe};
pub use layers::apply_layers;
pub use metrics::Metrics;
pub use path::IndexPath;
pub use query::{QueryParams, declared_names};
pub use readiness::{DEFAULT_RECHECK_INTERVAL, Readiness};
pub use request_id::REQUEST_ID_HEADER;
pub use serve::{ServeOptions, serve, serve_on, shutdown_signal};
pub use state::AppState;

pub use miroir_core::{ApiError, Code, IndexUid};
