//! `POST /multi-search`: several searches in one request, each on its own scatter path, run
//! concurrently; the first failing query (in query order) fails the request, its message prefixed
//! with its position, as in Meilisearch. Federated search is not supported.

use std::collections::BTreeSet;

use miroir_core::routing::Shard;
use miroir_core::{ApiError, Code};
use miroir_http::AppState;
use serde_json::{Map, Value};

use crate::execute;
use crate::join::join_all;
use crate::request::{SearchRequest, describe};
use crate::response::MultiSearchResponse;

/// One query of a multi-search.
#[derive(Debug)]
pub(crate) struct Query {
    /// The index uid as the client named it (echoed as `indexUid`).
    index_uid: String,
    /// The search.
    request: SearchRequest,
}

/// `error` as the failure of query `position`: `Inside \`.queries[N]\`: …`.
fn inside(position: usize, mut error: ApiError) -> ApiError {
    error.message = format!("Inside `.queries[{position}]`: {}", error.message);
    error
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, message)
}

/// The queries of a multi-search body, every one validated before any node is called.
pub(crate) fn parse(mut body: Map<String, Value>) -> Result<Vec<Query>, ApiError> {
    if let Some(unknown) = body
        .keys()
        .find(|key| !matches!(key.as_str(), "queries" | "federation"))
    {
        return Err(bad_request(format!(
            "Unknown field `{unknown}`: expected one of `queries`, `federation`"
        )));
    }
    if body.get("federation").is_some_and(|value| !value.is_null()) {
        return Err(bad_request(
            "federated multi-search is not supported by Miroir yet",
        ));
    }
    let queries = match body.remove("queries") {
        Some(Value::Array(queries)) => queries,
        None => return Err(bad_request("Missing field `queries`")),
        Some(other) => {
            return Err(bad_request(format!(
                "Invalid value type at `.queries`: expected an array, but found {}",
                describe(&other)
            )));
        }
    };
    queries
        .into_iter()
        .enumerate()
        .map(|(position, query)| parse_query(query).map_err(|error| inside(position, error)))
        .collect()
}

fn parse_query(query: Value) -> Result<Query, ApiError> {
    let Value::Object(mut query) = query else {
        return Err(bad_request(format!(
            "Invalid value type: expected an object, but found {}",
            describe(&query)
        )));
    };
    let index_uid = match query.remove("indexUid") {
        Some(Value::String(uid)) => uid,
        None | Some(Value::Null) => return Err(bad_request("Missing field `indexUid`")),
        Some(other) => {
            return Err(bad_request(format!(
                "Invalid value type at `.indexUid`: expected a string, but found {}",
                describe(&other)
            )));
        }
    };
    if query
        .get("federationOptions")
        .is_some_and(|value| !value.is_null())
    {
        return Err(bad_request(
            "Using `federationOptions` is not allowed in a non-federated search.",
        ));
    }
    query.remove("federationOptions");
    Ok(Query {
        index_uid,
        request: SearchRequest::parse(query)?,
    })
}

/// Runs every query concurrently: the results in query order and the union of the shards any
/// of them had to leave out.
pub(crate) async fn run(
    state: &AppState,
    queries: Vec<Query>,
    pinned_group: Option<u32>,
) -> Result<(MultiSearchResponse, BTreeSet<Shard>), ApiError> {
    let outcomes = join_all(
        queries
            .iter()
            .map(|query| execute::run(state, &query.index_uid, &query.request, pinned_group))
            .collect(),
    )
    .await;
    let mut results = Vec::with_capacity(outcomes.len());
    let mut degraded = BTreeSet::new();
    for (position, (query, outcome)) in queries.into_iter().zip(outcomes).enumerate() {
        let mut outcome = outcome.map_err(|error| inside(position, error))?;
        outcome.response.index_uid = Some(query.index_uid);
        degraded.extend(outcome.degraded);
        results.push(outcome.response);
    }
    Ok((MultiSearchResponse { results }, degraded))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refusal(body: Value) -> String {
        parse(body.as_object().unwrap().clone())
            .unwrap_err()
            .message
    }

    #[test]
    fn queries_are_validated_with_their_position() {
        let queries = parse(
            json!({"queries": [{"indexUid": "a", "q": "x"}, {"indexUid": "b", "federationOptions": null}]})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
        assert_eq!(queries.len(), 2);
        assert_eq!(queries[1].index_uid, "b");
        assert_eq!(
            refusal(json!({"queries": [{"indexUid": "a"}, {"q": "x"}]})),
            "Inside `.queries[1]`: Missing field `indexUid`"
        );
        assert_eq!(
            refusal(json!({"queries": [{"indexUid": "a", "limit": -2}]})),
            "Inside `.queries[0]`: Invalid value type at `.limit`: expected a positive integer, \
             but found a negative integer: `-2`"
        );
        assert!(refusal(json!({"queries": [[]]})).contains("expected an object"));
        assert!(refusal(json!({"queries": {}})).contains("expected an array"));
        assert_eq!(refusal(json!({})), "Missing field `queries`");
        assert!(refusal(json!({"queries": [], "x": 1})).contains("Unknown field `x`"));
    }

    #[test]
    fn federation_is_refused() {
        assert_eq!(
            refusal(json!({"queries": [], "federation": {}})),
            "federated multi-search is not supported by Miroir yet"
        );
        assert!(
            parse(
                json!({"queries": [], "federation": null})
                    .as_object()
                    .unwrap()
                    .clone()
            )
            .is_ok()
        );
    }
}
