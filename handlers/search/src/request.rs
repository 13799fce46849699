//! One search as the client asked it: validated before any node is called, and the body each
//! node of the covering set receives.
//!
//! A node is asked for the top `window` hits of its shards (`offset: 0, limit: window`, or
//! `page: 1, hitsPerPage: window` in page mode, so it reports `totalHits` as the client expects),
//! always with `showRankingScore` and `showRankingScoreDetails` (the merge orders by them, see
//! `miroir_core::merge`), with `_miroir_shard` and the `distinct` attribute among the retrieved
//! attributes (the merge breaks ties by shard and keeps values distinct), and, when it is asked
//! for only some of the shards it holds, with a shard filter. Everything else the client sent
//! (`q`, `filter`, `facets`, `sort`, highlighting, …) goes to the nodes unchanged, and they
//! judge it: a bad value comes back as their own Meilisearch error.

use miroir_core::merge::{MergeRules, SHARD_FIELD};
use miroir_core::routing::Shard;
use miroir_core::routing::with_shard_filter;
use miroir_core::{ApiError, Code};
use serde_json::{Map, Value};

/// Hits per page when the client gives no `limit` / `hitsPerPage` (Meilisearch's default).
const DEFAULT_PAGE_SIZE: usize = 20;

/// How the client pages through the merged hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Paging {
    /// `offset` / `limit` (defaults 0 and 20): the answer has `estimatedTotalHits`.
    Offset {
        /// Merged hits skipped.
        offset: usize,
        /// Merged hits returned at most.
        limit: usize,
    },
    /// `page` / `hitsPerPage` (defaults 1 and 20), chosen when either is given: the answer has
    /// `totalHits` and `totalPages`.
    Page {
        /// 1-based page number (page 0 is always empty, as in Meilisearch).
        page: usize,
        /// Page size (0 allowed: no hits, only the counts).
        hits_per_page: usize,
    },
}

impl Paging {
    /// The merged positions the client asked for: first position and how many.
    pub(crate) fn window(self) -> (usize, usize) {
        match self {
            Paging::Offset { offset, limit } => (offset, limit),
            Paging::Page { page: 0, .. } => (0, 0),
            Paging::Page {
                page,
                hits_per_page,
            } => ((page - 1).saturating_mul(hits_per_page), hits_per_page),
        }
    }

    /// The merged position just past the client's window: how many hits each node must return
    /// at least for the window to be exact.
    pub(crate) fn end(self) -> usize {
        let (start, length) = self.window();
        start.saturating_add(length)
    }
}

/// A validated search.
#[derive(Clone, Debug)]
pub(crate) struct SearchRequest {
    /// What every node receives but the paging fields and the shard filter.
    base: Map<String, Value>,
    /// The client's filter, if any (the shard filter is ANDed with it).
    filter: Option<Value>,
    /// How the client pages.
    pub(crate) paging: Paging,
    /// How the nodes' hits are merged and shown.
    pub(crate) rules: MergeRules,
    /// The client's `q` (or `""`), echoed as `query`.
    pub(crate) query: String,
}

impl SearchRequest {
    /// Validates the parameters Miroir itself interprets (`offset`, `limit`, `page`,
    /// `hitsPerPage`, `showRankingScore`, `showRankingScoreDetails`): `bad_request` naming the
    /// parameter otherwise.
    pub(crate) fn parse(mut body: Map<String, Value>) -> Result<Self, ApiError> {
        let offset = count(&body, "offset")?;
        let limit = count(&body, "limit")?;
        let page = count(&body, "page")?;
        let hits_per_page = count(&body, "hitsPerPage")?;
        let show_score = flag(&body, "showRankingScore")?;
        let show_details = flag(&body, "showRankingScoreDetails")?;
        let paging = if page.is_some() || hits_per_page.is_some() {
            Paging::Page {
                page: page.unwrap_or(1),
                hits_per_page: hits_per_page.unwrap_or(DEFAULT_PAGE_SIZE),
            }
        } else {
            Paging::Offset {
                offset: offset.unwrap_or(0),
                limit: limit.unwrap_or(DEFAULT_PAGE_SIZE),
            }
        };
        let query = body
            .get("q")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        for key in ["offset", "limit", "page", "hitsPerPage"] {
            body.remove(key);
        }
        body.insert("showRankingScore".into(), Value::Bool(true));
        body.insert("showRankingScoreDetails".into(), Value::Bool(true));
        let distinct = body
            .get("distinct")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut hidden = Vec::new();
        if let Some(Value::Array(attributes)) = body.get_mut("attributesToRetrieve")
            && attributes.iter().all(Value::is_string)
            && !attributes.iter().any(|attribute| attribute == "*")
        {
            if !attributes.iter().any(|attribute| attribute == SHARD_FIELD) {
                attributes.push(Value::from(SHARD_FIELD));
            }
            if let Some(distinct) = &distinct
                && !attributes
                    .iter()
                    .any(|attribute| attribute == distinct.as_str())
            {
                attributes.push(Value::from(distinct.as_str()));
                hidden.push(distinct.clone());
            }
        }
        let by_score = ["hybrid", "vector"]
            .iter()
            .any(|key| body.get(*key).is_some_and(|value| !value.is_null()));
        let filter = body.get("filter").filter(|value| !value.is_null()).cloned();
        Ok(Self {
            base: body,
            filter,
            paging,
            rules: MergeRules {
                by_score,
                distinct,
                show_score,
                show_details,
                hidden,
            },
            query,
        })
    }

    /// The JSON body for a node asked for its top `window` hits, restricted to `shards` when
    /// given (the node holds more shards than it answers for).
    pub(crate) fn node_body(&self, window: usize, shards: Option<&[Shard]>) -> Vec<u8> {
        let mut body = self.base.clone();
        match self.paging {
            Paging::Offset { .. } => {
                body.insert("offset".into(), Value::from(0));
                body.insert("limit".into(), Value::from(window));
            }
            Paging::Page { .. } => {
                body.insert("page".into(), Value::from(1));
                body.insert("hitsPerPage".into(), Value::from(window));
            }
        }
        if let Some(shards) = shards {
            body.insert(
                "filter".into(),
                with_shard_filter(self.filter.as_ref(), shards),
            );
        }
        Value::Object(body).to_string().into_bytes()
    }
}

/// A non-negative integer parameter of the body, if given (`null` is absent).
fn count(body: &Map<String, Value>, key: &str) -> Result<Option<usize>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(|number| usize::try_from(number).unwrap_or(usize::MAX))
            .map(Some)
            .ok_or_else(|| type_error(key, "a positive integer", value)),
    }
}

/// A boolean parameter of the body (`null` and absent are `false`).
fn flag(body: &Map<String, Value>, key: &str) -> Result<bool, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(other) => Err(type_error(key, "a boolean", other)),
    }
}

/// `bad_request` for a parameter of the wrong type, worded as Meilisearch words it.
fn type_error(key: &str, expected: &str, value: &Value) -> ApiError {
    ApiError::new(
        Code::BadRequest,
        format!(
            "Invalid value type at `.{key}`: expected {expected}, but found {}",
            miroir_http::describe(value)
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value) -> Result<SearchRequest, ApiError> {
        SearchRequest::parse(body.as_object().unwrap().clone())
    }

    fn sent(request: &SearchRequest, window: usize, shards: Option<&[Shard]>) -> Value {
        serde_json::from_slice(&request.node_body(window, shards)).unwrap()
    }

    #[test]
    fn offset_mode_asks_every_node_for_offset_plus_limit() {
        let request = parse(json!({"q": "x", "offset": 30, "limit": 10})).unwrap();
        assert_eq!(
            request.paging,
            Paging::Offset {
                offset: 30,
                limit: 10
            }
        );
        assert_eq!(request.paging.end(), 40);
        assert_eq!(
            sent(&request, 40, None),
            json!({"q": "x", "offset": 0, "limit": 40, "showRankingScore": true,
                   "showRankingScoreDetails": true})
        );
        assert!(!request.rules.show_score && !request.rules.show_details);
        assert!(!request.rules.by_score && request.rules.distinct.is_none());
        assert_eq!(request.query, "x");
        let defaults = parse(json!({})).unwrap();
        assert_eq!(defaults.paging.window(), (0, 20));
        assert_eq!(defaults.query, "");
    }

    #[test]
    fn page_mode_wins_when_page_or_hits_per_page_is_given() {
        let request = parse(json!({"page": 3, "offset": 5, "showRankingScore": true})).unwrap();
        assert_eq!(
            request.paging,
            Paging::Page {
                page: 3,
                hits_per_page: 20
            }
        );
        assert_eq!(request.paging.window(), (40, 20));
        assert!(request.rules.show_score);
        assert_eq!(
            sent(&request, 60, None),
            json!({"page": 1, "hitsPerPage": 60, "showRankingScore": true,
                   "showRankingScoreDetails": true})
        );
        let empty = parse(json!({"hitsPerPage": 0})).unwrap();
        assert_eq!(empty.paging.window(), (0, 0));
        assert_eq!(parse(json!({"page": 0})).unwrap().paging.end(), 0);
    }

    #[test]
    fn bad_paging_values_are_refused_by_name() {
        for (key, value, found) in [
            ("offset", json!(-1), "a negative integer: `-1`"),
            ("limit", json!("5"), "a string: `\"5\"`"),
            ("page", json!(1.5), "a number: `1.5`"),
            ("hitsPerPage", json!(true), "a boolean: `true`"),
        ] {
            let error = parse(json!({ key: value })).unwrap_err();
            assert_eq!(error.code, Code::BadRequest);
            assert_eq!(
                error.message,
                format!(
                    "Invalid value type at `.{key}`: expected a positive integer, but found {found}"
                )
            );
        }
        let error = parse(json!({"showRankingScore": "yes"})).unwrap_err();
        assert!(error.message.contains("`.showRankingScore`"), "{error:?}");
        let error = parse(json!({"showRankingScoreDetails": 1})).unwrap_err();
        assert!(
            error.message.contains("`.showRankingScoreDetails`"),
            "{error:?}"
        );
    }

    #[test]
    fn retrieved_attributes_always_include_the_shard() {
        let request = parse(json!({"attributesToRetrieve": ["title"]})).unwrap();
        assert_eq!(
            sent(&request, 1, None)["attributesToRetrieve"],
            json!(["title", "_miroir_shard"])
        );
        let all = parse(json!({"attributesToRetrieve": ["*"]})).unwrap();
        assert_eq!(sent(&all, 1, None)["attributesToRetrieve"], json!(["*"]));
    }

    #[test]
    fn a_distinct_attribute_is_retrieved_for_the_merge_and_hidden_after() {
        let request =
            parse(json!({"distinct": "genre", "attributesToRetrieve": ["title"]})).unwrap();
        assert_eq!(
            sent(&request, 1, None)["attributesToRetrieve"],
            json!(["title", "_miroir_shard", "genre"])
        );
        assert_eq!(request.rules.distinct.as_deref(), Some("genre"));
        assert_eq!(request.rules.hidden, ["genre"]);
        let shown = parse(json!({"distinct": "genre", "attributesToRetrieve": ["genre"]})).unwrap();
        assert!(shown.rules.hidden.is_empty());
        let hybrid = parse(json!({"q": "x", "hybrid": {"embedder": "default"}})).unwrap();
        assert!(hybrid.rules.by_score);
    }

    #[test]
    fn the_shard_filter_is_added_only_when_asked() {
        let request = parse(json!({"filter": "genre = drama"})).unwrap();
        assert_eq!(sent(&request, 5, None)["filter"], json!("genre = drama"));
        assert_eq!(
            sent(&request, 5, Some(&[1, 4]))["filter"],
            json!(["genre = drama", "_miroir_shard IN [1, 4]"])
        );
    }
}
