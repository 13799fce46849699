//! The shared middleware stack, applied once to the merged routers.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use http_body_util::Limited;
use miroir_core::{ApiError, Code};

use crate::auth::{METRICS_PATH, READY_PATH, authenticate, warn_if_open};
use crate::error::error_response;
use crate::metrics;
use crate::readiness::Readiness;
use crate::state::AppState;
use crate::{client_ip, request_id};

/// Gives `router` Meilisearch-shaped answers for unknown routes (404 `not_found`) and known
/// routes called with another method (405), then wraps it in, from the outside in: the request
/// id (`X-Request-Id`, on every response and log line), request metrics, the request timeout (`server.request_timeout_ms`, 408 `miroir_request_timeout`),
/// the client address ([`crate::ClientIp`]), the operator-API switch
/// (`admin.enabled: false` answers 404 on `/_miroir/*` but `ready` and `metrics`),
/// authentication, the readiness gate, the body limit (`admin.max_body_bytes` on `/_miroir/*`,
/// `server.max_body_bytes` elsewhere, answered with a Meilisearch-shaped 413
/// `payload_too_large`).
///
/// Call it once, on the merged router (handler crates do not call it).
pub fn apply_layers(router: Router, state: &AppState) -> Router {
    warn_if_open(state);
    let limits = BodyLimits {
        client: usize::try_from(state.config.server.max_body_bytes).unwrap_or(usize::MAX),
        operator: usize::try_from(state.config.admin.max_body_bytes).unwrap_or(usize::MAX),
    };
    let operator_api = state.config.admin.enabled;
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The limit is `limit_body`'s, per namespace, so axum's own (2 MB) is off.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(limits, limit_body))
        .layer(middleware::from_fn_with_state(
            state.readiness.clone(),
            gate,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            operator_api,
            operator_api_switch,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            client_ip::record,
        ))
        .layer(middleware::from_fn_with_state(
            Duration::from_millis(state.config.server.request_timeout_ms),
            time_limit,
        ))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::record,
        ))
        .layer(middleware::from_fn(request_id::assign))
}

/// Answers 408 `miroir_request_timeout` when the rest of the stack has not answered within
/// `limit` (dropping the handler's future: what it did not record is not done).
async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error_response(&ApiError::new(
            Code::MiroirRequestTimeout,
            format!(
                "The request was not completed within {} ms (`server.request_timeout_ms`).",
                limit.as_millis()
            ),
        )),
    }
}

/// Whether `path` belongs to the operator API's namespace, `/_miroir/*`.
pub(crate) fn is_operator_path(path: &str) -> bool {
    path == "/_miroir" || path.starts_with("/_miroir/")
}

/// The `/_miroir/` routes served even with `admin.enabled: false`: the readiness probe and the
/// metrics (still behind the admin credential).
fn survives_disabled_admin(path: &str) -> bool {
    path == READY_PATH || path == METRICS_PATH
}

/// With the operator API switched off, answers every `/_miroir/` route but the readiness probe
/// and the metrics as if it did not exist.
async fn operator_api_switch(
    State(enabled): State<bool>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !enabled && is_operator_path(path) && !survives_disabled_admin(path) {
        return not_found(request).await;
    }
    next.run(request).await
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

/// The body limits of the two namespaces.
#[derive(Clone, Copy, Debug)]
struct BodyLimits {
    /// The Meilisearch API's (`server.max_body_bytes`).
    client: usize,
    /// The operator API's (`admin.max_body_bytes`), login included.
    operator: usize,
}

/// Refuses a declared `Content-Length` over the request's limit before any handler runs, caps
/// what an extractor may read of a body without one (a chunked body is cut at the limit, never
/// buffered whole), and gives any other 413 the Meilisearch shape with the limit.
async fn limit_body(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    let operator = is_operator_path(request.uri().path());
    let limit = if operator {
        limits.operator
    } else {
        limits.client
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if declared.is_some_and(|length| length > limit_u64) {
        return error_response(&too_large(limit));
    }
    let request = request.map(|body| Body::new(Limited::new(body, limit)));
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
