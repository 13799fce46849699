//! Reading document payloads and ids before anything reaches a node: every document must be a
//! JSON object with a valid primary key value and no reserved field, or the whole batch is
//! refused (Meilisearch-shaped 400) and nothing is written.

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use miroir_core::{ApiError, Code};
use serde_json::{Map, Value};

/// The documents of a request body: a JSON array of objects (`application/json`) or one object
/// per line (`application/x-ndjson`).
pub(crate) fn parse_documents(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<Map<String, Value>>, ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let values: Vec<Value> = match content_type.as_deref() {
        Some("application/json") => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(items)) => items,
            Ok(object @ Value::Object(_)) => vec![object],
            Ok(_) => return Err(malformed("the payload must be a JSON array of objects")),
            Err(error) => return Err(malformed(&error.to_string())),
        },
        Some("application/x-ndjson") => body
            .split(|&byte| byte == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(|line| serde_json::from_slice(line).map_err(|error| malformed(&error.to_string())))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::new(
                Code::InvalidContentType,
                format!(
                    "The Content-Type `{other}` is invalid. Accepted values for the Content-Type \
                     header are: `application/json`, `application/x-ndjson`"
                ),
            ));
        }
        None => {
            return Err(ApiError::new(
                Code::MissingContentType,
                "A Content-Type header is missing. Accepted values for the Content-Type header \
                 are: `application/json`, `application/x-ndjson`",
            ));
        }
    };
    values
        .into_iter()
        .map(|value| match value {
            Value::Object(document) => Ok(document),
            other => Err(malformed(&format!("`{other}` is not a JSON object"))),
        })
        .collect()
}

fn malformed(reason: &str) -> ApiError {
    ApiError::new(
        Code::MalformedPayload,
        format!("The `json` payload provided is malformed. `{reason}`."),
    )
}
