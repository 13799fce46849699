//! `POST /multi-search`: several searches in one request, each on its own scatter path, at most
//! [`CONCURRENT_QUERIES`] at a time; the first failing query (in query order) fails the request,
//! its message prefixed with its position, as in Meilisearch. A request with more queries than
//! `scatter.max_multi_search_queries` is refused before any node is called
//! (`miroir_too_many_search_queries`). Federated search is not supported.

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt};
use miroir_core::routing::Shard;
use miroir_core::{ApiError, Code};
use miroir_http::AppState;
use serde_json::{Map, Value};

use crate::execute;
use crate::request::SearchRequest;
use crate::response::MultiSearchResponse;

/// How many queries of one multi-search are scattered at once. Each query fans out to a covering
/// set of nodes, so this bounds one request's share of the node connections (8 × the nodes of a
/// covering set) while keeping a request of a few queries fully concurrent.
pub(crate) const CONCURRENT_QUERIES: usize = 8;

/// One query of a multi-search.
#[derive(Debug)]
pub(crate) struct Query {
    /// The index uid as the client named it (echoed as `indexUid`).
    index_uid: String,
    /// The search.
    request: SearchRequest,
}

/// Refuses the multi-search (403 `invalid_api_key`, as Meilisearch) when the request's API key
/// does not allow one of the queries' indexes.
pub(crate) fn check_indexes(
    queries: &[Query],
    auth: &miroir_http::api_keys::ClientAuth,
) -> Result<(), ApiError> {
    match queries
        .iter()
        .all(|query| auth.allows_index(&query.index_uid))
    {
        true => Ok(()),
        false => Err(miroir_http::api_keys::refused()),
    }
}

/// `error` as the failure of query `position`: `Inside \`.queries[N]\`: …`.
fn inside(position: usize, mut error: ApiError) -> ApiError {
    error.message = format!("Inside `.queries[{position}]`: {}", error.message);
    error
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, message)
}

/// The queries of a multi-search body, every one validated before any node is called; more than
/// `max_queries` are refused with `miroir_too_many_search_queries` before any is parsed.
pub(crate) fn parse(
    mut body: Map<String, Value>,
    max_queries: usize,
) -> Result<Vec<Query>, ApiError> {
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
                miroir_http::describe(&other)
            )));
        }
    };
    if queries.len() > max_queries {
        return Err(ApiError::new(
            Code::MiroirTooManySearchQueries,
            format!(
                "Too many queries: this multi-search has {} queries and Miroir accepts at most \
                 {max_queries} in one request (`scatter.max_multi_search_queries`). Split the \
                 queries over several requests.",
                queries.len()
            ),
        ));
    }
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
            miroir_http::describe(&query)
        )));
    };
    let index_uid = match query.remove("indexUid") {
        Some(Value::String(uid)) => uid,
        None | Some(Value::Null) => return Err(bad_request("Missing field `indexUid`")),
        Some(other) => {
            return Err(bad_request(format!(
                "Invalid value type at `.indexUid`: expected a string, but found {}",
                miroir_http::describe(&other)
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

/// Runs the queries, [`CONCURRENT_QUERIES`] at a time: the results in query order and the union
/// of the shards any of them had to leave out. The first failing query in query order is the
/// answer; the queries after it are not started (or are dropped if running).
pub(crate) async fn run(
    state: &AppState,
    queries: Vec<Query>,
    pinned_group: Option<u32>,
) -> Result<(MultiSearchResponse, BTreeSet<Shard>), ApiError> {
    // The searches are created up front (a future does nothing until polled; a closure over
    // borrowed queries in `StreamExt::map` would not be `Send` for every lifetime). `buffered`
    // polls at most `CONCURRENT_QUERIES` of them at a time, only those that were woken, and
    // yields their outcomes in query order.
    let searches: Vec<_> = queries
        .iter()
        .map(|query| execute::run(state, &query.index_uid, &query.request, pinned_group))
        .collect();
    let mut outcomes = stream::iter(searches).buffered(CONCURRENT_QUERIES);
    let mut results = Vec::with_capacity(queries.len());
    let mut degraded = BTreeSet::new();
    let mut position = 0;
    while let Some(outcome) = outcomes.next().await {
        let mut outcome = outcome.map_err(|error| inside(position, error))?;
        outcome.response.index_uid = queries.get(position).map(|query| query.index_uid.clone());
        degraded.extend(outcome.degraded);
        results.push(outcome.response);
        position += 1;
    }
    Ok((MultiSearchResponse { results }, degraded))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refusal(body: Value) -> String {
        parse(body.as_object().unwrap().clone(), 100)
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
            100,
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
                    .clone(),
                100
            )
            .is_ok()
        );
    }

    #[test]
    fn more_queries_than_the_bound_are_refused_before_any_is_parsed() {
        let queries = |count: usize| {
            json!({"queries": vec![json!({"indexUid": "a"}); count]})
                .as_object()
                .unwrap()
                .clone()
        };
        assert_eq!(parse(queries(3), 3).unwrap().len(), 3);
        let error = parse(queries(4), 3).unwrap_err();
        assert_eq!(error.code, Code::MiroirTooManySearchQueries);
        assert_eq!(error.status(), 400);
        assert!(error.message.contains("has 4 queries"), "{}", error.message);
        assert!(error.message.contains("at most 3"), "{}", error.message);
        // The count is checked first: a bad query past the bound is not what is reported.
        let mut body = queries(4);
        body["queries"][3] = json!(42);
        assert_eq!(
            parse(body, 3).unwrap_err().code,
            Code::MiroirTooManySearchQueries
        );
    }
}
