//! `miroir-http`: what every Miroir handler shares above `miroir-core`.
//!
//! - [`AppState`]: the store, the configuration, the [`Readiness`] gate and the start time;
//! - [`HttpError`]: the one conversion of an [`ApiError`] into an HTTP response;
//! - [`apply_layers`]: the shared middleware (auth, readiness gate, body limit), applied once by
//!   whoever mounts the routers;
//! - [`QueryParams`] and [`timefmt`]: query-string and date helpers the handlers share;
//! - [`serve`]: the container's server loop with graceful shutdown.
//!
//! Handler crates expose `router(state) -> axum::Router` with their routes only; they never
//! apply these layers themselves.

mod auth;
mod error;
mod layers;
mod query;
mod readiness;
mod serve;
mod state;
pub mod timefmt;

pub use auth::{AuthScope, scope_of};
pub use error::{HttpError, HttpResult, error_response};
pub use layers::apply_layers;
pub use query::QueryParams;
pub use readiness::{DEFAULT_RECHECK_INTERVAL, Readiness};
pub use serve::{serve, serve_on, shutdown_signal};
pub use state::AppState;

pub use miroir_core::{ApiError, Code};
