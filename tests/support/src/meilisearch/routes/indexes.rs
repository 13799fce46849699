//! `/indexes`, `/indexes/{uid}` and `/indexes/{uid}/stats`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde_json::{Map, Value, json};

use super::{Answer, Shared, enqueue, object_body, ok, param, params};
use crate::meilisearch::error::{ApiError, describe};
use crate::meilisearch::state::validate_index_uid;
use crate::meilisearch::tasks::Operation;

/// Refuses fields of `body` other than `allowed` (400 `bad_request`, as Meilisearch).
fn only_fields(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match body.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(unknown) => {
            let expected: Vec<String> = allowed.iter().map(|name| format!("`{name}`")).collect();
            Err(ApiError::bad_request(format!(
                "Unknown field `{unknown}`: expected one of {}",
                expected.join(", ")
            )))
        }
        None => Ok(()),
    }
}

/// The optional `primaryKey` of a body: null or a string.
fn primary_key(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("primaryKey") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(key)) => Ok(Some(key.clone())),
        Some(other) => Err(ApiError::new(
            "invalid_index_primary_key",
            format!(
                "Invalid value type at `.primaryKey`: expected a string, but found {}",
                describe(other)
            ),
        )),
    }
}

/// A paging parameter (`offset`, `limit`) of `/indexes`.
fn paging(params: &[(String, String)], name: &str, default: usize) -> Result<usize, ApiError> {
    match param(params, name) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| {
            ApiError::new(
                format!("invalid_index_{name}"),
                format!(
                    "Invalid value in parameter `{name}`: could not parse `{value}` as a positive \
                     integer"
                ),
            )
        }),
    }
}

/// `POST /indexes {"uid", "primaryKey"}`: enqueues an indexCreation.
pub(crate) async fn create(
    State(node): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = object_body(body)?;
    only_fields(&body, &["uid", "primaryKey"])?;
    let uid = match body.get("uid") {
        Some(Value::String(uid)) => uid.clone(),
        Some(other) => {
            return Err(ApiError::new(
                "invalid_index_uid",
                format!(
                    "Invalid value type at `.uid`: expected a string, but found {}",
                    describe(other)
                ),
            ));
        }
        None => return Err(ApiError::new("missing_index_uid", "Missing field `uid`")),
    };
    validate_index_uid(&uid)?;
    let primary_key = primary_key(&body)?;
    enqueue(&node, &uid, Operation::IndexCreation { primary_key })
}

/// `GET /indexes?offset&limit`: indexes sorted by uid.
pub(crate) async fn list(
    State(node): State<Shared>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let params = params(query)?;
    let offset = paging(&params, "offset", 0)?;
    let limit = paging(&params, "limit", 20)?;
    let state = node.lock();
    let results: Vec<Value> = state
        .indexes
        .values()
        .skip(offset)
        .take(limit)
        .map(|index| index.to_json())
        .collect();
    ok(json!({
        "results": results,
        "offset": offset,
        "limit": limit,
        "total": state.indexes.len(),
    }))
}

/// `GET /indexes/{uid}`.
pub(crate) async fn get(State(node): State<Shared>, Path(uid): Path<String>) -> Answer {
    validate_index_uid(&uid)?;
    ok(node.lock().index(&uid)?.to_json())
}

/// `PATCH /indexes/{uid} {"primaryKey"}`: enqueues an indexUpdate.
pub(crate) async fn update(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = object_body(body)?;
    only_fields(&body, &["primaryKey"])?;
    let primary_key = primary_key(&body)?;
    enqueue(&node, &uid, Operation::IndexUpdate { primary_key })
}

/// `DELETE /indexes/{uid}`: enqueues an indexDeletion.
pub(crate) async fn delete(State(node): State<Shared>, Path(uid): Path<String>) -> Answer {
    enqueue(&node, &uid, Operation::IndexDeletion)
}

/// `GET /indexes/{uid}/stats`.
pub(crate) async fn stats(State(node): State<Shared>, Path(uid): Path<String>) -> Answer {
    validate_index_uid(&uid)?;
    let state = node.lock();
    let index = state.index(&uid)?;
    ok(state.index_stats(index))
}
