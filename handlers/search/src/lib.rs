//! `miroir-handler-search`: the search routes: scatter to a covering set, merge by ranking score.
//!
//! - `POST /indexes/{uid}/search` (JSON body) and `GET /indexes/{uid}/search` (the same
//!   parameters in the query string, declared once in `query_string::SearchParameters`);
//! - `POST /multi-search {"queries": [{indexUid, …}]}` → `{"results": [response + indexUid]}`
//!   (not federated);
//! - `POST /indexes/{uid}/facet-search {facetName, facetQuery, q, filter, …}` →
//!   `{facetHits: [{value, count}], facetQuery, processingTimeMs}` (see [`facet`]).
//!
//! A search goes to one replica group (round-robin), one node per shard inside it; each node is
//! asked for the top `offset + limit` hits of its shards with `showRankingScore: true` (plus a
//! `_miroir_shard IN […]` filter when it holds more shards than it answers for), and the answers
//! are merged by `_rankingScore` (`miroir_core::merge`). Nodes that do not answer are replaced by
//! other replicas, then other groups; shards nobody answered for make the response partial with
//! `X-Miroir-Degraded: shards=…` (policy `partial`) or a 503 `miroir_shard_unavailable` (policy
//! `error`). A node's Meilisearch error is the answer, unchanged.

mod execute;
mod facet;
mod multi;
mod query_string;
mod request;
mod response;
mod scatter;

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use miroir_core::routing::Shard;
use miroir_http::object::Object;
use miroir_http::{AppState, HttpResult, IndexPath, JsonBody, QueryParams, session};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::facet::{FacetSearchRequest, FacetSearchResponse};
use crate::request::SearchRequest;
use crate::response::{MultiSearchResponse, SearchResponse};

/// The response header naming the shards a partial search left out.
pub const DEGRADED_HEADER: &str = "x-miroir-degraded";

/// The search routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_with_post, search_with_get))
        .routes(routes!(multi_search))
        .routes(routes!(facet_search))
}

/// The search routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// `body` as JSON, with `X-Miroir-Degraded` when some shards were left out.
fn respond<T: Serialize>(body: T, degraded: &BTreeSet<Shard>) -> Response {
    let mut response = Json(body).into_response();
    if let Some(value) =
        execute::degraded_header(degraded).and_then(|value| HeaderValue::from_str(&value).ok())
    {
        response.headers_mut().insert(DEGRADED_HEADER, value);
    }
    response
}

async fn search(
    state: &AppState,
    headers: &HeaderMap,
    uid: &str,
    body: Map<String, Value>,
) -> HttpResult<Response> {
    let request = SearchRequest::parse(body)?;
    let pinned = session::read_group(state, headers).await?;
    let outcome = execute::run(state, uid, &request, pinned).await?;
    Ok(respond(outcome.response, &outcome.degraded))
}

/// Search an index.
///
/// Meilisearch's search: `q, offset, limit, page, hitsPerPage, filter, facets,
/// attributesToRetrieve, attributesToHighlight, attributesToCrop, cropLength, sort,
/// showRankingScore, showMatchesPosition, matchingStrategy, …`. Scattered to one replica group's
/// covering set and merged by ranking score. When some shards had no live node and
/// `unavailable_shard_policy` is `partial`, the response holds the other shards' hits and
/// `X-Miroir-Degraded: shards=3,7,11`.
#[utoipa::path(
    post,
    path = "/indexes/{uid}/search",
    tag = "search",
    params(("uid" = String, Path, description = "The index uid.")),
    request_body(content = Object, description = "Meilisearch search parameters: `{q, offset, limit, page, hitsPerPage, filter, facets, attributesToRetrieve, sort, showRankingScore, …}`."),
    responses(
        (status = 200, description = "The merged search response: `offset`/`limit`/`estimatedTotalHits`, or `page`/`hitsPerPage`/`totalPages`/`totalHits` in page mode.", body = SearchResponse, headers(("X-Miroir-Degraded" = String, description = "`shards=3,7,11`: the shards no node could answer for (policy `partial`); absent when complete."))),
        (status = 400, description = "An index uid outside Meilisearch's rule (`invalid_index_uid`), a bad paging value or `showRankingScore` (`bad_request`), or a parameter a node refused (`invalid_search_filter`, `invalid_search_sort`, … relayed unchanged)."),
        (status = 404, description = "No such index (`index_not_found`, from the nodes)."),
        (status = 503, description = "Some shards had no live node and `unavailable_shard_policy` is `error`, or no shard had one (`miroir_shard_unavailable`); no node is configured (`miroir_no_nodes`); or the task store is unavailable or at another schema version (`miroir_store_unavailable`, `miroir_schema_mismatch`). Retry after `Retry-After` seconds.", headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
    )
)]
async fn search_with_post(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
    JsonBody(Object(body)): JsonBody<Object<Map<String, Value>>>,
) -> HttpResult<Response> {
    search(&state, &headers, uid.as_str(), body).await
}

/// Search an index (query string).
///
/// The same search as `POST`, its parameters in the query string: lists comma-separated,
/// `filter` an expression (or a JSON array), `hybridEmbedder`/`hybridSemanticRatio` for `hybrid`.
#[utoipa::path(
    get,
    path = "/indexes/{uid}/search",
    tag = "search",
    params(
        ("uid" = String, Path, description = "The index uid."),
        query_string::SearchParameters,
    ),
    responses(
        (status = 200, description = "The merged search response (as for `POST`).", body = SearchResponse, headers(("X-Miroir-Degraded" = String, description = "`shards=3,7,11`: the shards no node could answer for (policy `partial`); absent when complete."))),
        (status = 400, description = "An index uid outside Meilisearch's rule (`invalid_index_uid`), an unknown parameter or a value that does not parse (`bad_request`), or a parameter a node refused (relayed unchanged)."),
        (status = 404, description = "No such index (`index_not_found`, from the nodes)."),
        (status = 503, description = "Some shards had no live node and `unavailable_shard_policy` is `error`, or no shard had one (`miroir_shard_unavailable`); no node is configured (`miroir_no_nodes`); or the task store is unavailable or at another schema version (`miroir_store_unavailable`, `miroir_schema_mismatch`). Retry after `Retry-After` seconds.", headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
    )
)]
async fn search_with_get(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
    params: QueryParams,
) -> HttpResult<Response> {
    let body = query_string::to_body(&params)?;
    search(&state, &headers, uid.as_str(), body).await
}

/// Search several indexes.
///
/// `{"queries": [{indexUid, q, …}]}`: each query is a search of its own (scattered and merged
/// separately, 8 at a time); the answer lists their responses in order, each with its
/// `indexUid`. The first failing query fails the request, its message prefixed with
/// ``Inside `.queries[N]`:``. At most `scatter.max_multi_search_queries` queries (default 100)
/// per request: more are refused before any node is called. Federated search (`federation`) is
/// not supported.
#[utoipa::path(
    post,
    path = "/multi-search",
    tag = "search",
    request_body(content = Object, description = "`{queries: [{indexUid, …search parameters}]}`."),
    responses(
        (status = 200, description = "One search response per query, each with `indexUid`.", body = MultiSearchResponse, headers(("X-Miroir-Degraded" = String, description = "`shards=3,7,11`: the shards left out of any query (policy `partial`); absent when every query was complete."))),
        (status = 400, description = "A bad body, a `federation` (not supported), or a query's error (`bad_request`, or relayed from the nodes); more queries than `scatter.max_multi_search_queries` (default 100; `miroir_too_many_search_queries`)."),
        (status = 404, description = "A query's index does not exist (`index_not_found`)."),
        (status = 503, description = "Some shards had no live node and `unavailable_shard_policy` is `error`, or no shard had one (`miroir_shard_unavailable`); no node is configured (`miroir_no_nodes`); or the task store is unavailable or at another schema version (`miroir_store_unavailable`, `miroir_schema_mismatch`). Retry after `Retry-After` seconds.", headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
    )
)]
async fn multi_search(
    State(state): State<AppState>,
    auth: miroir_http::api_keys::ClientAuth,
    headers: HeaderMap,
    JsonBody(Object(body)): JsonBody<Object<Map<String, Value>>>,
) -> HttpResult<Response> {
    let max = usize::try_from(state.config.scatter.max_multi_search_queries).unwrap_or(usize::MAX);
    let queries = multi::parse(body, max)?;
    multi::check_indexes(&queries, &auth)?;
    let pinned = session::read_group(&state, &headers).await?;
    let (response, degraded) = multi::run(&state, queries, pinned).await?;
    Ok(respond(response, &degraded))
}

/// Search facet values.
///
/// Meilisearch's facet search: the values of `facetName` matching `facetQuery` (prefix, typo
/// tolerant) among the documents matching `q`, `filter` (and `matchingStrategy`,
/// `attributesToSearchOn`, `rankingScoreThreshold`, `locales`, `hybrid`, …), with how many of
/// them hold each (`exhaustiveFacetCount: true` for exact counts). Scattered like a search to one
/// replica group's covering set; counts are summed per value over the nodes, and the values cut
/// and ordered as one node orders them (`faceting.sortFacetValuesBy`, at most
/// `faceting.maxValuesPerFacet`). With `sortFacetValuesBy: count`, a node holding more matching
/// values than `maxValuesPerFacet` leaves its rarest out, so a value may be counted low (see the
/// README). When some shards had no live node and `unavailable_shard_policy` is `partial`, the
/// response counts the other shards' documents and carries `X-Miroir-Degraded: shards=3,7,11`.
#[utoipa::path(
    post,
    path = "/indexes/{uid}/facet-search",
    tag = "search",
    params(("uid" = String, Path, description = "The index uid.")),
    request_body(content = Object, description = "Meilisearch facet-search parameters: `{facetName, facetQuery, q, filter, matchingStrategy, attributesToSearchOn, exhaustiveFacetCount, rankingScoreThreshold, locales, hybrid, vector}`; `facetName` is required."),
    responses(
        (status = 200, description = "The merged facet values.", body = FacetSearchResponse, headers(("X-Miroir-Degraded" = String, description = "`shards=3,7,11`: the shards no node could answer for (policy `partial`); absent when complete."))),
        (status = 400, description = "An index uid outside Meilisearch's rule (`invalid_index_uid`); no `facetName` (`missing_facet_search_facet_name`); an attribute that is not facet-searchable, `_miroir_shard` included (`invalid_facet_search_facet_name`); facet search disabled on the index (`facet_search_disabled`); or another parameter the nodes refused (`invalid_search_filter`, `invalid_facet_search_query`, … relayed unchanged)."),
        (status = 404, description = "No such index (`index_not_found`, from the nodes)."),
        (status = 503, description = "Some shards had no live node and `unavailable_shard_policy` is `error`, or no shard had one (`miroir_shard_unavailable`); no node answered for the index's settings (`miroir_node_unavailable`); no node is configured (`miroir_no_nodes`); or the task store is unavailable or at another schema version (`miroir_store_unavailable`, `miroir_schema_mismatch`). Retry after `Retry-After` seconds.", headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
    )
)]
async fn facet_search(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
    JsonBody(Object(body)): JsonBody<Object<Map<String, Value>>>,
) -> HttpResult<Response> {
    let request = FacetSearchRequest::parse(body);
    let pinned = session::read_group(&state, &headers).await?;
    let outcome = facet::run(&state, uid.as_str(), &request, pinned).await?;
    Ok(respond(outcome.response, &outcome.degraded))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        let document = serde_json::to_value(routes().into_openapi()).unwrap();
        let paths = document["paths"].as_object().unwrap();
        let operations: Vec<String> = paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| format!("{method} {path}"))
            })
            .collect();
        assert_eq!(
            operations,
            [
                "post /indexes/{uid}/facet-search",
                "get /indexes/{uid}/search",
                "post /indexes/{uid}/search",
                "post /multi-search"
            ]
        );
    }
}
