//! Meilisearch errors: one table from code to HTTP status and error type, and the one conversion
//! of an error into a response body `{"message","code","type","link"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error as Meilisearch reports it, in an HTTP response or in a failed task's `error` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    code: String,
    message: String,
}

/// The HTTP status and error `type` of `code`: the one table. Codes not listed are
/// `invalid_request` errors answered with 400 (every `invalid_*`, `missing_*`, `bad_request`, …).
fn status_and_type(code: &str) -> (StatusCode, &'static str) {
    match code {
        "index_not_found" | "document_not_found" | "task_not_found" | "not_found" => {
            (StatusCode::NOT_FOUND, "invalid_request")
        }
        "index_already_exists" => (StatusCode::CONFLICT, "invalid_request"),
        "payload_too_large" => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request"),
        "missing_authorization_header" => (StatusCode::UNAUTHORIZED, "auth"),
        "invalid_api_key" => (StatusCode::FORBIDDEN, "auth"),
        "internal" => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        _ => (StatusCode::BAD_REQUEST, "invalid_request"),
    }
}

impl ApiError {
    /// An error with Meilisearch code `code` and the human `message`.
    pub(crate) fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The Meilisearch error code, e.g. `index_not_found`.
    pub(crate) fn code(&self) -> &str {
        &self.code
    }

    /// The human message.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        status_and_type(&self.code).0
    }

    /// The error object `{"message","code","type","link"}`.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "message": self.message,
            "code": self.code,
            "type": status_and_type(&self.code).1,
            "link": format!("https://docs.meilisearch.com/errors#{}", self.code),
        })
    }

    /// ``Index `movies` not found.``
    pub(crate) fn index_not_found(uid: &str) -> Self {
        Self::new("index_not_found", format!("Index `{uid}` not found."))
    }

    /// 500 `internal` with `message`.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new("internal", message)
    }

    /// 400 `bad_request` with `message`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new("bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.to_json())).into_response()
    }
}

/// A short description of a JSON value's type and the value itself, for type errors:
/// ``a string: `"abc"` ``.
pub(crate) fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("{kind}: `{value}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_status_type_and_link() {
        let error = ApiError::index_not_found("movies");
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            error.to_json(),
            json!({"message": "Index `movies` not found.", "code": "index_not_found",
                   "type": "invalid_request", "link": "https://docs.meilisearch.com/errors#index_not_found"})
        );
        assert_eq!(ApiError::internal("x").to_json()["type"], "internal");
        assert_eq!(
            ApiError::new("invalid_api_key", "x").status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            ApiError::new("invalid_search_filter", "x").status(),
            StatusCode::BAD_REQUEST
        );
    }
}
