//! The route handlers, one module per resource, and what they share: JSON bodies parsed into
//! Meilisearch errors, query parameters as pairs, and the 202 answer of an enqueued task.

pub(crate) mod documents;
pub(crate) mod indexes;
pub(crate) mod search;
pub(crate) mod settings;
pub(crate) mod system;

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::state::{Node, validate_index_uid};
use super::tasks::Operation;

/// The shared state of every handler.
pub(crate) type Shared = Arc<Node>;

/// What a handler answers: a response, or a Meilisearch error.
pub(crate) type Answer = Result<Response, ApiError>;

/// Query parameters as (name, value) pairs, or the 400 `bad_request` of an unreadable query.
pub(crate) fn params(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    query
        .map(|Query(pairs)| pairs)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

/// The value of parameter `name`, if given.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// A request body as JSON: 413 `payload_too_large` past the body limit, 400 `missing_payload`
/// when empty, 400 `malformed_payload` when not JSON.
pub(crate) fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                "payload_too_large",
                "The provided payload reached the size limit.",
            )
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            "missing_payload",
            "A json payload is missing.",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::new(
            "malformed_payload",
            format!("The json payload provided is malformed. `{error}`."),
        )
    })
}

/// A request body that must be a JSON object.
pub(crate) fn object_body(
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, ApiError> {
    match json_body(body)? {
        Value::Object(object) => Ok(object),
        other => Err(ApiError::bad_request(format!(
            "Invalid value type: expected an object, but found {}",
            super::error::describe(&other)
        ))),
    }
}

/// 200 with a JSON body.
pub(crate) fn ok(value: Value) -> Answer {
    Ok((StatusCode::OK, Json(value)).into_response())
}

/// Validates `index_uid`, enqueues `operation` on it, wakes the processor and answers 202 with
/// the summarized task.
pub(crate) fn enqueue(node: &Node, index_uid: &str, operation: Operation) -> Answer {
    enqueue_with_metadata(node, index_uid, operation, None)
}

/// [`enqueue`] for a route that takes `customMetadata` (the document writes): the task keeps
/// and shows the write's `custom_metadata`.
pub(crate) fn enqueue_with_metadata(
    node: &Node,
    index_uid: &str,
    operation: Operation,
    custom_metadata: Option<String>,
) -> Answer {
    validate_index_uid(index_uid)?;
    let summary = node.lock().enqueue(index_uid, operation, custom_metadata);
    node.wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(summary)).into_response())
}
