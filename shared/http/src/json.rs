//! [`JsonBody`]: the JSON request-body extractor every handler uses, with Meilisearch's errors.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use miroir_core::{ApiError, Code};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::HttpError;

/// A JSON request body deserialized into `T`.
///
/// Refusals have Meilisearch's shape and change nothing: a missing `Content-Type` is 415
/// `missing_content_type`, another content type 415 `invalid_content_type`, bytes that are not
/// JSON (or nest deeper than serde_json's recursion limit of 128) 400 `malformed_payload`, JSON of
/// the wrong shape 400 `bad_request`, a body that cannot be read (corrupt compressed data) 400
/// `bad_request`, and a body over `server.max_body_bytes` 413 `payload_too_large` (see
/// [`crate::apply_layers`]).
#[derive(Clone, Debug)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(refusal(rejection, content_type.as_deref()).into()),
        }
    }
}

fn refusal(rejection: JsonRejection, content_type: Option<&str>) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => match content_type {
            None => ApiError::new(
                Code::MissingContentType,
                "A Content-Type header is missing. Accepted values for the Content-Type header \
                 are: `application/json`",
            ),
            Some(given) => ApiError::new(
                Code::InvalidContentType,
                format!(
                    "The Content-Type `{given}` is invalid. Accepted values for the Content-Type \
                     header are: `application/json`"
                ),
            ),
        },
        JsonRejection::JsonSyntaxError(error) => ApiError::new(
            Code::MalformedPayload,
            format!(
                "The json payload provided is malformed. `{}`.",
                source_text(&error)
            ),
        ),
        JsonRejection::JsonDataError(error) => ApiError::new(Code::BadRequest, source_text(&error)),
        JsonRejection::BytesRejection(rejection)
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::new(
                Code::PayloadTooLarge,
                "The provided payload reached the size limit.",
            )
        }
        // A body that failed to read (corrupt compressed data, a stream cut short). Meilisearch's
        // JSON routes answer `Error that occur during reading payload: payload reached EOF before
        // completing: Some(Custom { kind: InvalidInput, error: "invalid gzip header" })` for a
        // corrupt gzip body (Meilisearch 1.50); the same prefix, with our decoder's own words.
        JsonRejection::BytesRejection(rejection) => ApiError::new(
            Code::BadRequest,
            format!(
                "Error that occur during reading payload: {}",
                source_text(&rejection)
            ),
        ),
        other => ApiError::new(Code::BadRequest, other.body_text()),
    }
}

/// The serde error behind an axum rejection (its own text adds a generic prefix).
fn source_text(error: &dyn std::error::Error) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

/// A JSON value as Meilisearch names it in a type error (`a negative integer: \`-1\``; a
/// number that is not an integer in `i64`/`u64` is `a number`, printed as a float).
pub fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => return "null".to_owned(),
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_u64() => "a positive integer",
        Value::Number(number) if number.is_i64() => "a negative integer",
        Value::Number(number) => {
            return format!(
                "a number: `{}`",
                float_text(number.as_f64().unwrap_or(f64::NAN))
            );
        }
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("{kind}: `{value}`")
}

/// A float as Meilisearch prints it in errors: always with a fraction or an exponent (`1.0`,
/// `100.0`, `1e+30`, `1.8446744073709552e+19`).
fn float_text(number: f64) -> String {
    let text = Value::from(number).to_string();
    if text.contains(['.', 'e', 'E']) || !number.is_finite() {
        text
    } else {
        format!("{text}.0")
    }
}
