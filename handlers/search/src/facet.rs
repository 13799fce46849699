//! `POST /indexes/{uid}/facet-search`: Meilisearch's facet search over the shards.
//!
//! The client's body goes to a covering set of nodes as it came, through the same scatter as a
//! search ([`crate::scatter::cover`]: one node per shard, other replicas and groups for nodes that
//! do not answer, the shard filter ANDed with the client's `filter` where a node holds more shards
//! than it is asked for). The nodes judge every parameter (`facetName`, `facetQuery`, `q`,
//! `filter`, `matchingStrategy`, `attributesToSearchOn`, `exhaustiveFacetCount`,
//! `rankingScoreThreshold`, `locales`, `hybrid`, `vector`, …, and ignore the ones they do not
//! know, as Meilisearch does), so a bad one comes back as their own Meilisearch error.
//!
//! Beside the scatter, one node's settings of the index are read: the facet's `faceting` cut
//! (`maxValuesPerFacet`, `sortFacetValuesBy`) for the merge ([`miroir_core::facet_hits`]), and
//! the filterable attributes for a facet search of Miroir's reserved `_miroir_shard`, which the
//! nodes would answer as their own attribute: it is answered with the client's rules alone
//! ([`miroir_core::reserved::reserved_facet_search`]), after the nodes have judged the rest of the
//! request.

use std::collections::BTreeSet;

use miroir_core::facet_hits::{self, FacetCut, NodeFacetAnswer};
use miroir_core::node::node_path;
use miroir_core::reserved::{ReservedFacetSearch, reserved_facet_search};
use miroir_core::routing::{Shard, with_shard_filter};
use miroir_core::{ApiError, Code};
use miroir_http::{AppState, alias};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::execute;
use crate::scatter::{self, ShardRead};

/// A facet search as the client sent it.
#[derive(Clone, Debug)]
pub(crate) struct FacetSearchRequest {
    /// What every node receives but the shard filter.
    base: Map<String, Value>,
    /// The client's filter, if any (the shard filter is ANDed with it).
    filter: Option<Value>,
    /// `facetName`, when it is a string.
    facet_name: Option<String>,
    /// `facetQuery`, when it is a string: echoed, and the merge walks values as a node walks
    /// them for a query.
    facet_query: Option<String>,
}

impl FacetSearchRequest {
    /// The request of `body`. Nothing is refused here: the nodes judge every parameter.
    pub(crate) fn parse(body: Map<String, Value>) -> Self {
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            filter: body.get("filter").filter(|value| !value.is_null()).cloned(),
            facet_name: text("facetName"),
            facet_query: text("facetQuery"),
            base: body,
        }
    }
}

impl ShardRead for FacetSearchRequest {
    type Answer = NodeFacetAnswer;

    const ROUTE: &'static str = "facet-search";

    fn first_window(&self) -> usize {
        0
    }

    fn node_body(&self, _window: usize, shards: Option<&[Shard]>) -> Vec<u8> {
        let mut body = self.base.clone();
        if let Some(shards) = shards {
            body.insert(
                "filter".into(),
                with_shard_filter(self.filter.as_ref(), shards),
            );
        }
        Value::Object(body).to_string().into_bytes()
    }

    fn parse_answer(body: &[u8], _window: usize) -> Result<NodeFacetAnswer, String> {
        serde_json::from_slice(body).map_err(|error| format!("not a facet-search answer: {error}"))
    }
}

/// One facet value found (Meilisearch's shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = FacetHit)]
pub(crate) struct FacetValue {
    /// The value, as one of its documents spells it.
    #[schema(example = "comedy")]
    pub(crate) value: String,
    /// How many matching documents hold it, summed over the nodes.
    #[schema(example = 42)]
    pub(crate) count: u64,
}

/// A facet-search response, in Meilisearch's key order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FacetSearchResponse)]
pub(crate) struct FacetSearchResponse {
    /// The facet's values matching `facetQuery` among the documents matching `q` and `filter`,
    /// at most `faceting.maxValuesPerFacet`, in the facet's `sortFacetValuesBy` order.
    pub(crate) facet_hits: Vec<FacetValue>,
    /// The `facetQuery` asked, `null` without one.
    pub(crate) facet_query: Option<String>,
    /// The slowest node's processing time.
    pub(crate) processing_time_ms: u64,
}

/// A merged facet search and the shards it had to leave out.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The response body.
    pub(crate) response: FacetSearchResponse,
    /// Shards no node answered for (`partial` policy only): `X-Miroir-Degraded`.
    pub(crate) degraded: BTreeSet<Shard>,
}

/// Runs `request` on the index `uid` names, or on every index of the alias it names (their values
/// merged as one index's, cut as the first index's settings cut them), in `pinned_group` when a
/// session pins one. Shards no node could answer for are handled as a search handles them
/// ([`execute::require_answerable`]).
pub(crate) async fn run(
    state: &AppState,
    uid: &str,
    request: &FacetSearchRequest,
    pinned_group: Option<u32>,
) -> Result<Outcome, ApiError> {
    let facet_name = request.facet_name.as_deref().unwrap_or_default();
    let mut answers: Vec<NodeFacetAnswer> = Vec::new();
    let mut missing: BTreeSet<Shard> = BTreeSet::new();
    let mut cut: Option<FacetCut> = None;
    let mut no_values = false;
    for index in alias::read_targets(state, uid).await? {
        let seq = state.cluster.next_read();
        let settings_path = node_path(["indexes", index.as_str(), "settings"]);
        let (covered, settings) = futures::join!(
            scatter::cover(&state.cluster, &index, request, pinned_group, seq),
            state.cluster.read_any_from::<Value>(seq, &settings_path),
        );
        // The nodes' refusal of the request comes first, as on one node.
        let covered = covered?;
        let settings = match settings {
            Ok(settings) => settings,
            // No node answered at all: the shards are missing, as for a search.
            Err(_) if covered.answers.is_empty() => {
                missing.extend(covered.missing);
                continue;
            }
            Err(error) => return Err(error),
        };
        match reserved_facet_search(&settings, facet_name) {
            Some(ReservedFacetSearch::Refused(message)) => {
                return Err(ApiError::new(Code::InvalidFacetSearchFacetName, message));
            }
            Some(ReservedFacetSearch::NoValues) => no_values = true,
            None => {}
        }
        cut.get_or_insert_with(|| FacetCut::of(&settings, facet_name));
        answers.extend(covered.answers);
        missing.extend(covered.missing);
    }
    execute::require_answerable(&state.cluster, uid, !answers.is_empty(), &missing)?;
    let facet_hits = match cut {
        Some(cut) if !no_values => facet_hits::merge(&answers, cut, request.facet_query.is_some()),
        _ => Vec::new(),
    };
    Ok(Outcome {
        response: FacetSearchResponse {
            facet_hits: facet_hits
                .into_iter()
                .map(|hit| FacetValue {
                    value: hit.value,
                    count: hit.count,
                })
                .collect(),
            facet_query: request.facet_query.clone(),
            processing_time_ms: facet_hits::processing_time_ms(&answers),
        },
        degraded: missing,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(body: Value) -> FacetSearchRequest {
        FacetSearchRequest::parse(body.as_object().unwrap().clone())
    }

    fn sent(request: &FacetSearchRequest, shards: Option<&[Shard]>) -> Value {
        serde_json::from_slice(&request.node_body(0, shards)).unwrap()
    }

    #[test]
    fn the_body_goes_to_the_nodes_as_sent_with_the_shard_filter_anded() {
        let body = json!({"facetName": "genre", "facetQuery": "dr", "q": "x",
            "filter": "year > 1990", "matchingStrategy": "all", "exhaustiveFacetCount": true,
            "unknown": 1});
        let request = request(body.clone());
        assert_eq!(sent(&request, None), body);
        let mut filtered = body.clone();
        filtered["filter"] = json!(["year > 1990", "_miroir_shard IN [2, 5]"]);
        assert_eq!(sent(&request, Some(&[2, 5])), filtered);
        let unfiltered = self::request(json!({"facetName": "genre", "filter": null}));
        assert_eq!(
            sent(&unfiltered, Some(&[1]))["filter"],
            json!("_miroir_shard IN [1]")
        );
        assert_eq!(request.facet_query.as_deref(), Some("dr"));
        assert_eq!(request.facet_name.as_deref(), Some("genre"));
        let odd = self::request(json!({"facetName": 5, "facetQuery": null}));
        assert_eq!((odd.facet_name, odd.facet_query), (None, None));
    }

    #[test]
    fn the_response_keys_come_in_meilisearch_order() {
        let response = FacetSearchResponse {
            facet_hits: vec![FacetValue {
                value: "comedy".into(),
                count: 2,
            }],
            facet_query: None,
            processing_time_ms: 3,
        };
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"facetHits":[{"value":"comedy","count":2}],"facetQuery":null,"processingTimeMs":3}"#
        );
    }

    #[test]
    fn a_node_answer_is_read_or_refused() {
        let answer = FacetSearchRequest::parse_answer(
            br#"{"facetHits":[{"value":"a","count":1}],"facetQuery":null,"processingTimeMs":4}"#,
            0,
        )
        .unwrap();
        assert_eq!(answer.facet_hits.len(), 1);
        assert_eq!(answer.processing_time_ms, 4);
        assert!(FacetSearchRequest::parse_answer(br#"{"hits":[]}"#, 0).is_err());
    }
}
