//! Reading document payloads and ids before anything reaches a node: every document must be a
//! JSON object with a valid primary key value and no reserved field, or the whole batch is
//! refused (Meilisearch-shaped 400) and nothing is written.

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use miroir_core::merge::SHARD_FIELD;
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

/// The routing string of a document id value: integers and valid strings (Meilisearch's rule:
/// 1 to 511 of `[A-Za-z0-9_-]`), so `1` and `"1"` are the same document.
pub(crate) fn id_string(value: &Value) -> Option<String> {
    match value {
        Value::Number(number) if number.is_u64() || number.is_i64() => Some(number.to_string()),
        Value::String(text)
            if (1..=511).contains(&text.len())
                && text
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_') =>
        {
            Some(text.clone())
        }
        _ => None,
    }
}

/// The id of `document` under `primary_key`, checked.
pub(crate) fn document_id(
    document: &Map<String, Value>,
    primary_key: &str,
) -> Result<String, ApiError> {
    if document.contains_key(SHARD_FIELD) {
        return Err(ApiError::new(
            Code::MiroirReservedField,
            format!("`{SHARD_FIELD}` is a reserved field: documents must not contain it."),
        ));
    }
    match document.get(primary_key) {
        None => Err(ApiError::new(
            Code::MissingDocumentId,
            format!(
                "Document doesn't have a `{primary_key}` attribute: `{}`.",
                Value::Object(document.clone())
            ),
        )),
        Some(value) => id_string(value).ok_or_else(|| invalid_id(value)),
    }
}

/// `invalid_document_id` for `value`.
pub(crate) fn invalid_id(value: &Value) -> ApiError {
    ApiError::new(
        Code::InvalidDocumentId,
        format!(
            "Document identifier `{value}` is invalid. A document identifier can be of type \
             integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens \
             (-) and underscores (_), and can not be more than 511 bytes."
        ),
    )
}
