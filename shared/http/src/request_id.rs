//! A request id for every request: the caller's `X-Request-Id` when it is a plain token (a load
//! balancer's or a client's, 1 to 128 ASCII letters, digits, `-`, `_`, `.`), else a new UUID.
//! It is returned in the response's `X-Request-Id` header and every log line written while the
//! request is served carries it (the `request` span's `request_id` field), so a client's report
//! of a 5xx leads straight to the log line that explains it.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The request and response header carrying the id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest caller-supplied id kept; a longer one is replaced.
const MAX_ID_BYTES: usize = 128;

/// Middleware: assigns the id, runs the rest of the stack inside a `request` span carrying it,
/// and sets it on the response.
pub(crate) async fn assign(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_plain_token(value))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Whether a caller's id can be echoed and logged as is.
fn is_plain_token(value: &str) -> bool {
    (1..=MAX_ID_BYTES).contains(&value.len())
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_tokens_are_kept() {
        assert!(is_plain_token("3f2a-b_c.9"));
        assert!(is_plain_token(&"a".repeat(128)));
        assert!(!is_plain_token(&"a".repeat(129)));
        assert!(!is_plain_token(""));
        assert!(!is_plain_token("a b"));
        assert!(!is_plain_token("a\"b"));
        assert!(!is_plain_token("é"));
    }
}
