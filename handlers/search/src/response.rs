//! The merged search response, in Meilisearch's key order.
//!
//! The workspace's `serde_json` does not keep object key order, so the response is a struct whose
//! fields serialize in the order Meilisearch writes them: offset mode
//! `hits, query, processingTimeMs, limit, offset, estimatedTotalHits`, page mode
//! `hits, query, processingTimeMs, hitsPerPage, page, totalPages, totalHits`, then
//! `facetDistribution` and `facetStats` when facets were asked for. In a multi-search result
//! `indexUid` comes first.

use miroir_core::merge::{self, Merged, NodeAnswer};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::request::{Paging, SearchRequest};

/// A search response (Meilisearch's shape).
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SearchResponse)]
pub(crate) struct SearchResponse {
    /// The index the query ran on (multi-search results only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "movies")]
    pub(crate) index_uid: Option<String>,
    /// The matching documents of the requested window, best first. `_rankingScore` only with
    /// `showRankingScore: true`, `_rankingScoreDetails` only with `showRankingScoreDetails: true`.
    #[schema(value_type = Vec<Object>)]
    pub(crate) hits: Vec<Value>,
    /// The query string (`q`, or empty).
    pub(crate) query: String,
    /// The slowest node's processing time.
    pub(crate) processing_time_ms: u64,
    /// Offset mode: the `limit` asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limit: Option<usize>,
    /// Offset mode: the `offset` asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) offset: Option<usize>,
    /// Offset mode: matching documents, summed over the nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) estimated_total_hits: Option<u64>,
    /// Page mode: the page size asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hits_per_page: Option<usize>,
    /// Page mode: the page asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) page: Option<usize>,
    /// Page mode: `ceil(totalHits / hitsPerPage)` (0 when `hitsPerPage` is 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) total_pages: Option<u64>,
    /// Page mode: matching documents, summed over the nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) total_hits: Option<u64>,
    /// Per facet, per value: matching documents, summed over the nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) facet_distribution: Option<Value>,
    /// Per numeric facet: the smallest `min` and largest `max` over the nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) facet_stats: Option<Value>,
}

impl SearchResponse {
    /// The client's window of the covering set's `answers`, merged.
    pub(crate) fn merge(request: &SearchRequest, answers: &[NodeAnswer]) -> Self {
        let (start, length) = request.paging.window();
        let hits = Merged::new(answers, &request.rules).page(start, length);
        let total = merge::total_hits(answers);
        let mut response = Self {
            index_uid: None,
            hits,
            query: request.query.clone(),
            processing_time_ms: merge::processing_time_ms(answers),
            facet_distribution: merge::facet_distribution(answers),
            facet_stats: merge::facet_stats(answers),
            ..Self::default()
        };
        match request.paging {
            Paging::Offset { offset, limit } => {
                response.limit = Some(limit);
                response.offset = Some(offset);
                response.estimated_total_hits = Some(total);
            }
            Paging::Page {
                page,
                hits_per_page,
            } => {
                response.hits_per_page = Some(hits_per_page);
                response.page = Some(page);
                response.total_pages = Some(if hits_per_page == 0 {
                    0
                } else {
                    total.div_ceil(hits_per_page as u64)
                });
                response.total_hits = Some(total);
            }
        }
        response
    }
}

/// The body of `POST /multi-search`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = MultiSearchResponse)]
pub(crate) struct MultiSearchResponse {
    /// One search response per query, in query order, each with its `indexUid`.
    pub(crate) results: Vec<SearchResponse>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(response: Value, requested: usize) -> NodeAnswer {
        NodeAnswer::parse(response.to_string().as_bytes(), requested).unwrap()
    }

    fn request(body: Value) -> SearchRequest {
        SearchRequest::parse(body.as_object().unwrap().clone()).unwrap()
    }

    #[test]
    fn offset_mode_keys_come_in_meilisearch_order() {
        let answers = [
            answer(
                json!({"hits": [{"id": 1, "_rankingScore": 0.5, "_miroir_shard": 0}],
                       "estimatedTotalHits": 1, "processingTimeMs": 3,
                       "facetDistribution": {"genre": {"a": 1}}, "facetStats": {}}),
                1,
            ),
            answer(
                json!({"hits": [{"id": 2, "_rankingScore": 0.9, "_miroir_shard": 1}],
                       "estimatedTotalHits": 1, "processingTimeMs": 7,
                       "facetDistribution": {"genre": {"a": 2}}, "facetStats": {}}),
                1,
            ),
        ];
        let response = SearchResponse::merge(&request(json!({"q": "x", "limit": 1})), &answers);
        let text = serde_json::to_string(&response).unwrap();
        assert_eq!(
            text,
            r#"{"hits":[{"id":2}],"query":"x","processingTimeMs":7,"limit":1,"offset":0,"estimatedTotalHits":2,"facetDistribution":{"genre":{"a":3}},"facetStats":{}}"#
        );
    }

    #[test]
    fn page_mode_counts_pages() {
        let answers = [answer(
            json!({"hits": [], "totalHits": 41, "processingTimeMs": 1}),
            0,
        )];
        let response = SearchResponse::merge(&request(json!({"hitsPerPage": 20})), &answers);
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"hits":[],"query":"","processingTimeMs":1,"hitsPerPage":20,"page":1,"totalPages":3,"totalHits":41}"#
        );
        let none = SearchResponse::merge(&request(json!({"hitsPerPage": 0})), &answers);
        assert_eq!(none.total_pages, Some(0));
    }
}
