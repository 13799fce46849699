//! `/indexes/{uid}/search` (POST and GET) and `/multi-search`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde_json::{Map, Value, json};

use super::{Answer, Shared, object_body, ok, params};
use crate::meilisearch::error::{ApiError, describe};
use crate::meilisearch::search::{SearchQuery, facet_search, search};
use crate::meilisearch::state::{Node, validate_index_uid};

fn run(node: &Node, uid: &str, query: &SearchQuery) -> Result<Value, ApiError> {
    validate_index_uid(uid)?;
    let state = node.lock();
    search(state.index(uid)?, query)
}

/// `POST /indexes/{uid}/search`.
pub(crate) async fn post(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let query = SearchQuery::from_body(&object_body(body)?)?;
    ok(run(&node, &uid, &query)?)
}

/// `POST /indexes/{uid}/facet-search`.
pub(crate) async fn facet(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = object_body(body)?;
    validate_index_uid(&uid)?;
    let state = node.lock();
    ok(facet_search(state.index(&uid)?, &body)?)
}

/// `GET /indexes/{uid}/search?q&offset&limit&page&hitsPerPage&filter&facets&…`.
pub(crate) async fn get(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let query = SearchQuery::from_params(&params(query)?)?;
    ok(run(&node, &uid, &query)?)
}

/// `POST /multi-search {"queries": [{indexUid, …}]}`: one response per query, with `indexUid`;
/// the first failing query fails the whole request (its message prefixed with its position).
/// Federated search is not supported (400).
pub(crate) async fn multi(
    State(node): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = object_body(body)?;
    if body
        .get("federation")
        .is_some_and(|federation| !federation.is_null())
    {
        return Err(ApiError::bad_request(
            "federated search is not supported by the test node",
        ));
    }
    let queries = match body.get("queries") {
        Some(Value::Array(queries)) => queries,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid value type at `.queries`: expected an array, but found {}",
                describe(other)
            )));
        }
        None => return Err(ApiError::bad_request("Missing field `queries`")),
    };
    let mut results = Vec::with_capacity(queries.len());
    for (position, query) in queries.iter().enumerate() {
        let in_query = |error: ApiError| {
            ApiError::new(
                error.code(),
                format!("Inside `.queries[{position}]`: {}", error.message()),
            )
        };
        let Value::Object(query) = query else {
            return Err(in_query(ApiError::bad_request(format!(
                "Invalid value type: expected an object, but found {}",
                describe(query)
            ))));
        };
        let uid = match query.get("indexUid") {
            Some(Value::String(uid)) => uid.clone(),
            _ => {
                return Err(in_query(ApiError::new(
                    "missing_index_uid",
                    "Missing field `indexUid`",
                )));
            }
        };
        let parsed = SearchQuery::from_body(query).map_err(in_query)?;
        let response = run(&node, &uid, &parsed).map_err(in_query)?;
        let mut with_uid = Map::new();
        with_uid.insert("indexUid".into(), json!(uid));
        if let Value::Object(response) = response {
            with_uid.extend(response);
        }
        results.push(Value::Object(with_uid));
    }
    ok(json!({"results": results}))
}
