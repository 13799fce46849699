//! The one place an [`ApiError`] becomes an HTTP response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use miroir_core::ApiError;
use miroir_store::StoreError;

/// An [`ApiError`] as an axum response: the status from its code, its Meilisearch-shaped JSON
/// body and `Content-Type: application/json`.
///
/// Handlers return `HttpResult<T>` and use `?` on `ApiError` and `StoreError` alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError(pub ApiError);

/// The result type of handlers.
pub type HttpResult<T> = Result<T, HttpError>;

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl From<StoreError> for HttpError {
    fn from(error: StoreError) -> Self {
        Self(ApiError::from(error))
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}

/// Seconds a client should wait before retrying a 503 (`Retry-After`): about one readiness
/// re-check or one store reconnection attempt.
pub const RETRY_AFTER_SECONDS: u32 = 2;

/// The response for `error` (see [`HttpError`]); a 503 also carries `Retry-After`.
pub fn error_response(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body_bytes(error)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    response
}

/// The error serialized in Meilisearch's key order (`message, code, type, link`).
fn body_bytes(error: &ApiError) -> Vec<u8> {
    serde_json::to_vec(error).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use miroir_core::Code;

    use super::*;

    #[test]
    fn the_body_is_to_json_in_meilisearch_order() {
        for code in Code::ALL {
            let error = ApiError::new(*code, "Something `x` happened.");
            let bytes = body_bytes(&error);
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(value, error.to_json());
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.starts_with(r#"{"message":"#), "{text}");
            let positions: Vec<usize> = [r#""code""#, r#""type""#, r#""link""#]
                .iter()
                .map(|key| text.find(key).unwrap())
                .collect();
            assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
            assert_eq!(error_response(&error).status().as_u16(), code.status());
        }
    }
}
