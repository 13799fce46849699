//! The shared middleware stack, applied once to the merged routers.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use miroir_core::{ApiError, Code};

use crate::auth::{authenticate, warn_if_open};
use crate::error::error_response;
use crate::metrics;
use crate::readiness::Readiness;
use crate::state::AppState;

/// Gives `router` Meilisearch-shaped answers for unknown routes (404 `not_found`) and known
/// routes called with another method (405), then wraps it in, from the outside in: request
/// metrics, authentication, the readiness gate, the body limit (`server.max_body_bytes`, answered with a
/// Meilisearch-shaped 413 `payload_too_large`).
///
/// Call it once, on the merged router (handler crates do not call it).
pub fn apply_layers(router: Router, state: &AppState) -> Router {
    warn_if_open(state);
    let limit = usize::try_from(state.config.server.max_body_bytes).unwrap_or(usize::MAX);
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(limit, limit_body))
        .layer(middleware::from_fn_with_state(
            state.readiness.clone(),
            gate,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::record,
        ))
}

/// The answer for a path no route serves.
async fn not_found(request: Request) -> Response {
    error_response(&ApiError::new(
        Code::NotFound,
        format!("No route `{}` exists.", request.uri().path()),
    ))
}

/// The answer for a route called with a method it does not serve.
async fn method_not_allowed(request: Request) -> Response {
    error_response(&ApiError::new(
        Code::MiroirMethodNotAllowed,
        format!(
            "The route `{}` does not accept the method `{}`.",
            request.uri().path(),
            request.method()
        ),
    ))
}

/// True for the one route the readiness gate lets through whatever the store: `GET /health`.
pub(crate) fn bypasses_gate(method: &Method, path: &str) -> bool {
    path == "/health" && (method == Method::GET || method == Method::HEAD)
}

/// The readiness gate: 503 on everything but `GET /health` while the store's schema does not
/// match.
async fn gate(State(readiness): State<Readiness>, request: Request, next: Next) -> Response {
    if !bypasses_gate(request.method(), request.uri().path()) {
        if let Err(error) = readiness.status() {
            return error_response(&error);
        }
    }
    next.run(request).await
}

/// Refuses a declared `Content-Length` over the limit before any handler runs, and gives any
/// other 413 (a streamed body caught by an extractor) the Meilisearch shape with the limit.
async fn limit_body(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if declared.is_some_and(|length| length > limit_u64) {
        return error_response(&too_large(limit));
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return error_response(&too_large(limit));
    }
    response
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        format!(
            "The provided payload reached the size limit. The maximum accepted payload size is {limit} bytes."
        ),
    )
}
