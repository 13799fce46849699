//! The shared middleware stack, applied once to the merged routers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use http_body_util::{BodyExt, Limited};
use miroir_core::{ApiError, Code};
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
use tower_http::decompression::RequestDecompressionLayer;

use crate::auth::{METRICS_PATH, READY_PATH, authenticate, warn_if_open};
use crate::error::error_response;
use crate::readiness::Readiness;
use crate::state::AppState;
use crate::{client_ip, metrics, request_id, session, write};

/// Gives `router` Meilisearch-shaped answers for unknown routes (404 `not_found`) and known
/// routes called with another method (405), then wraps it in, from the outside in:
///
/// 1. the request id (`X-Request-Id`, on every response and log line);
/// 2. request metrics;
/// 3. CORS as Meilisearch answers it (`cors_layer`): `Access-Control-Allow-Origin: *` on
///    every answer to a request with an `Origin` (tower-http also adds it where there is none,
///    and nobody reads it), and a preflight (`OPTIONS` with `Access-Control-Request-Method`)
///    answered 200 here, before the timeout, authentication and the readiness gate (a browser's
///    preflight carries no `Authorization` header). It sits outside everything that can refuse
///    a request, so 401, 404, 408, 413 and the readiness 503 carry the headers too and a browser
///    can read the error; but inside the request id and the metrics, which only decorate and
///    count: a preflight gets its `X-Request-Id`, is logged under it, and is counted (method
///    `OPTIONS`): browsers send one before most cross-origin API calls, cached per URL for at
///    most a day, load an operator should see. Never `Access-Control-Allow-Credentials`: a
///    wildcard origin with credentials is refused by browsers and by tower-http itself (it
///    panics), so a cross-origin page can neither read an answer sent with the admin console's
///    cookie nor get a credentialed preflight through;
/// 4. the request timeout (`server.request_timeout_ms`, 408 `miroir_request_timeout`);
/// 5. the client address ([`crate::ClientIp`]);
/// 6. the operator-API switch (`admin.enabled: false` answers 404 on `/_miroir/*` but `ready`
///    and `metrics`);
/// 7. authentication;
/// 8. the readiness gate;
/// 9. request-body decompression: `Content-Encoding: gzip`, `deflate` (zlib) or `br`, in any
///    letter case, is inflated while the handler reads the body; any other encoding is read as is,
///    like Meilisearch (actix) does, so a body that is really compressed otherwise fails as
///    malformed JSON;
/// 10. the body limit (`admin.max_body_bytes` on `/_miroir/*`, `server.max_body_bytes`
///     elsewhere, answered with a Meilisearch-shaped 413 `payload_too_large`), counted on the
///     *decompressed* bytes, as Meilisearch does, and enforced while they are inflated: a small
///     compressed bomb is cut at the limit, never inflated whole. A body that cannot be read
///     (corrupt compressed data, a truncated stream) gets Meilisearch's 400 `bad_request`.
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
        // gzip, deflate and br are the encodings compiled in (tower-http features); any other
        // passes through untouched instead of tower-http's empty 415.
        .layer(RequestDecompressionLayer::new().pass_through_unaccepted(true))
        .layer(middleware::from_fn(lowercase_content_encoding))
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
        .layer(middleware::from_fn_with_state(cors_layer(), cross_origin))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::record,
        ))
        .layer(middleware::from_fn(request_id::assign))
}

/// Meilisearch's CORS (actix-cors `Cors::default().send_wildcard().allow_any_header()
/// .allow_any_origin().allow_any_method().max_age(86_400)`) in tower-http's terms: origin `*`;
/// a preflight allows the method and headers it asks for (mirrored: a wildcard
/// `Access-Control-Allow-Headers: *` would not cover `Authorization`) for 24 hours; no
/// credentials, ever (see [`apply_layers`]).
///
/// Meilisearch exposes no response header; Miroir exposes its own, which a browser client
/// otherwise cannot read: `X-Request-Id` (to report a failure), `X-Miroir-Degraded` (a partial
/// answer), `X-Miroir-Session` and `Retry-After` (on a 503).
fn cors_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(86_400))
        .expose_headers([
            HeaderName::from_static(request_id::REQUEST_ID_HEADER),
            HeaderName::from_static(write::DEGRADED),
            HeaderName::from_static(session::SESSION_HEADER),
            header::RETRY_AFTER,
        ])
}

/// Runs the request through `cors`, except an `OPTIONS` request that is not a preflight (no
/// `Access-Control-Request-Method`): tower-http answers every `OPTIONS` as a preflight, but
/// actix-cors (Meilisearch) passes those to the routes (a 405 here, as on Meilisearch), adding
/// only `Access-Control-Allow-Origin` when the request has an `Origin`.
async fn cross_origin(State(cors): State<CorsLayer>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if request.method() == Method::OPTIONS
        && !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let has_origin = headers.contains_key(header::ORIGIN);
        let mut response = next.run(request).await;
        if has_origin {
            response.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        return response;
    }
    let Ok(response) = cors.layer(next).oneshot(request).await;
    response
}

/// Lowercases `Content-Encoding` for the decompression layer, which only knows `gzip`, `deflate`
/// and `br` in lowercase; actix (Meilisearch) reads `GZIP` as `gzip`.
async fn lowercase_content_encoding(mut request: Request, next: Next) -> Response {
    let lowered = request
        .headers()
        .get(header::CONTENT_ENCODING)
        .filter(|value| value.as_bytes().iter().any(u8::is_ascii_uppercase))
        .and_then(|value| HeaderValue::from_bytes(&value.as_bytes().to_ascii_lowercase()).ok());
    if let Some(lowered) = lowered {
        request
            .headers_mut()
            .insert(header::CONTENT_ENCODING, lowered);
    }
    next.run(request).await
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
/// what an extractor may read of a body without one (a chunked or decompressed body is cut at
/// the limit, never buffered whole), and gives any other 413 the Meilisearch shape with the
/// limit. A body that failed to read (corrupt compressed data, a stream cut short) is answered
/// like Meilisearch's `Payload` extractor answers it, 400 `bad_request` "The provided payload is
/// incomplete and cannot be parsed", unless the handler already gave a Meilisearch-shaped client
/// error ([`crate::JsonBody`] answers as Meilisearch's JSON routes do).
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
    // Set when reading the body fails for another reason than the limit (which `Limited`,
    // outside this watch, reports itself).
    let unreadable = Arc::new(AtomicBool::new(false));
    let watch = Arc::clone(&unreadable);
    let request = request.map(|body| {
        let watched = body.map_err(move |error| {
            watch.store(true, Ordering::Relaxed);
            error
        });
        Body::new(Limited::new(watched, limit))
    });
    let response = next.run(request).await;
    if unreadable.load(Ordering::Relaxed) && !is_meilisearch_client_error(&response) {
        return error_response(&ApiError::new(
            Code::BadRequest,
            "The provided payload is incomplete and cannot be parsed",
        ));
    }
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return error_response(&too_large(limit));
    }
    response
}

/// Whether `response` is already a 4xx in Meilisearch's JSON shape (what [`error_response`]
/// makes), rather than, say, axum's plain-text rejection of a body it could not buffer.
fn is_meilisearch_client_error(response: &Response) -> bool {
    response.status().is_client_error()
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|value| value == "application/json")
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        format!(
            "The provided payload reached the size limit. The maximum accepted payload size is {limit} bytes."
        ),
    )
}
