//! `GET /indexes/{uid}/search`: its query parameters as the JSON body `POST` takes, converted
//! the way Meilisearch converts them, so both methods then follow the same path.
//!
//! Lists are comma-separated (`sort` keeps the commas inside `_geoPoint(…)`), numbers and booleans
//! are parsed (a bad value is 400 `bad_request` naming the parameter), `filter` is read as JSON
//! when it parses as a JSON string or array and taken as an expression otherwise, and
//! `hybridEmbedder` / `hybridSemanticRatio` become `hybrid`. An unknown parameter is refused.

use miroir_core::{ApiError, Code};
use miroir_http::QueryParams;
use miroir_http::declared_names;
use serde_json::{Map, Number, Value};
use utoipa::IntoParams;

/// The query parameters `GET /indexes/{uid}/search` accepts (Meilisearch's): what [`to_body`]
/// reads and what the OpenAPI document lists, declared once.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Read as a declaration only: `to_body` reads the values.
pub(crate) struct SearchParameters {
    /// The query string.
    q: Option<String>,
    /// Hits skipped (default 0).
    offset: Option<u64>,
    /// Hits returned at most (default 20).
    limit: Option<u64>,
    /// Page mode: 1-based page.
    page: Option<u64>,
    /// Page mode: page size (default 20).
    hits_per_page: Option<u64>,
    /// A filter expression, or a JSON array of them.
    filter: Option<String>,
    /// Facet attributes, comma-separated.
    facets: Option<String>,
    /// Comma-separated.
    attributes_to_retrieve: Option<String>,
    /// Comma-separated.
    attributes_to_highlight: Option<String>,
    /// Comma-separated.
    attributes_to_crop: Option<String>,
    /// Words kept around a match.
    crop_length: Option<u64>,
    /// Sort rules, comma-separated.
    sort: Option<String>,
    /// Keep `_rankingScore` in hits.
    show_ranking_score: Option<bool>,
    /// Add `_matchesPosition`.
    show_matches_position: Option<bool>,
    /// `last`, `all` or `frequency`.
    matching_strategy: Option<String>,
    /// A query vector: numbers, comma-separated.
    vector: Option<String>,
    /// Return documents' vectors.
    retrieve_vectors: Option<bool>,
    /// The distinct attribute of this search.
    distinct: Option<String>,
    /// Add `_rankingScoreDetails`.
    show_ranking_score_details: Option<bool>,
    /// Add `performanceDetails` to the answer.
    show_performance_details: Option<bool>,
    /// Text put before a highlighted match.
    highlight_pre_tag: Option<String>,
    /// Text put after a highlighted match.
    highlight_post_tag: Option<String>,
    /// Text marking where a cropped attribute was cut.
    crop_marker: Option<String>,
    /// Attributes searched, comma-separated.
    attributes_to_search_on: Option<String>,
    /// Hybrid search: the embedder (`hybrid.embedder`).
    hybrid_embedder: Option<String>,
    /// Hybrid search: the semantic ratio, 0 to 1 (`hybrid.semanticRatio`).
    hybrid_semantic_ratio: Option<f64>,
    /// Hits below this ranking score are left out.
    ranking_score_threshold: Option<f64>,
    /// Languages of the query, comma-separated.
    locales: Option<String>,
}

/// How a parameter's text becomes a JSON value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Count,
    Flag,
    Ratio,
    List,
    Sort,
    Floats,
    Filter,
}

fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "q" | "distinct" | "highlightPreTag" | "highlightPostTag" | "cropMarker"
        | "matchingStrategy" | "hybridEmbedder" => Kind::Text,
        "offset" | "limit" | "page" | "hitsPerPage" | "cropLength" => Kind::Count,
        "retrieveVectors"
        | "showMatchesPosition"
        | "showRankingScore"
        | "showRankingScoreDetails"
        | "showPerformanceDetails" => Kind::Flag,
        "rankingScoreThreshold" | "hybridSemanticRatio" => Kind::Ratio,
        "attributesToRetrieve"
        | "attributesToCrop"
        | "attributesToHighlight"
        | "facets"
        | "attributesToSearchOn"
        | "locales" => Kind::List,
        "sort" => Kind::Sort,
        "vector" => Kind::Floats,
        "filter" => Kind::Filter,
        _ => return None,
    })
}

/// The JSON search body equivalent to `params`.
pub(crate) fn to_body(params: &QueryParams) -> Result<Map<String, Value>, ApiError> {
    params.reject_undeclared::<SearchParameters>()?;
    let mut body = Map::new();
    for name in declared_names::<SearchParameters>() {
        let name = name.as_str();
        let (Some(text), Some(kind)) = (params.get(name), kind(name)) else {
            continue;
        };
        let value = match kind {
            Kind::Text => Value::String(text.to_owned()),
            Kind::Count => Value::from(
                text.trim()
                    .parse::<u64>()
                    .map_err(|_| invalid(name, text, "a positive integer"))?,
            ),
            Kind::Flag => Value::Bool(flag(name, text)?),
            Kind::Ratio => Value::Number(float(name, text)?),
            Kind::List => strings(split(text)),
            Kind::Sort => strings(split_sort(text)),
            Kind::Floats => Value::Array(
                split(text)
                    .into_iter()
                    .map(|item| float(name, item).map(Value::Number))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Filter => filter(text),
        };
        body.insert(name.to_owned(), value);
    }
    let embedder = body.remove("hybridEmbedder");
    let ratio = body.remove("hybridSemanticRatio");
    if embedder.is_some() || ratio.is_some() {
        let mut hybrid = Map::new();
        if let Some(embedder) = embedder {
            hybrid.insert("embedder".into(), embedder);
        }
        if let Some(ratio) = ratio {
            hybrid.insert("semanticRatio".into(), ratio);
        }
        body.insert("hybrid".into(), Value::Object(hybrid));
    }
    Ok(body)
}

/// `bad_request` for a parameter whose text is not the expected kind of value.
fn invalid(name: &str, text: &str, expected: &str) -> ApiError {
    ApiError::new(
        Code::BadRequest,
        format!("Invalid value in parameter `{name}`: could not parse `{text}` as {expected}"),
    )
}

fn flag(name: &str, text: &str) -> Result<bool, ApiError> {
    match text.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::new(
            Code::BadRequest,
            format!(
                "Invalid value in parameter `{name}`: could not parse `{text}` as a boolean, \
                 expected either `true` or `false`"
            ),
        )),
    }
}

fn float(name: &str, text: &str) -> Result<Number, ApiError> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| invalid(name, text, "a number"))
}

fn strings(items: Vec<&str>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|item| Value::String(item.to_owned()))
            .collect(),
    )
}

/// A comma-separated list, items trimmed, empty items dropped.
fn split(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}

/// Sort rules, comma-separated, but `_geoPoint(lat, lng):asc` is one rule.
fn split_sort(text: &str) -> Vec<&str> {
    let mut rules = Vec::new();
    let mut depth = 0_usize;
    let mut start = 0;
    for (position, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                rules.push(text[start..position].trim());
                start = position + 1;
            }
            _ => {}
        }
    }
    rules.push(text[start..].trim());
    rules.retain(|rule| !rule.is_empty());
    rules
}

/// A filter parameter: JSON (an array, or a string) when it parses as such, else an expression.
fn filter(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Array(_) | Value::String(_))) => value,
        _ => Value::String(text.to_owned()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(query: &str) -> Result<Value, ApiError> {
        to_body(&QueryParams::parse(query)).map(Value::Object)
    }

    #[test]
    fn parameters_become_the_post_body() {
        assert_eq!(
            body(
                "q=star%20wars&offset=10&limit=5&facets=genre,%20price&showRankingScore=true\
                 &attributesToRetrieve=title,id&sort=price:asc,_geoPoint(1.5,%202):desc\
                 &rankingScoreThreshold=0.5&filter=genre%20%3D%20drama&cropLength=7"
            )
            .unwrap(),
            json!({
                "q": "star wars", "offset": 10, "limit": 5, "facets": ["genre", "price"],
                "showRankingScore": true, "attributesToRetrieve": ["title", "id"],
                "sort": ["price:asc", "_geoPoint(1.5, 2):desc"], "rankingScoreThreshold": 0.5,
                "filter": "genre = drama", "cropLength": 7,
            })
        );
        assert_eq!(
            body("filter=%5B%22a%20%3D%201%22%5D&hybridEmbedder=default&vector=1,2.5").unwrap(),
            json!({"filter": ["a = 1"], "hybrid": {"embedder": "default"}, "vector": [1.0, 2.5]})
        );
        assert_eq!(body("filter=42").unwrap(), json!({"filter": "42"}));
    }

    #[test]
    fn bad_values_and_unknown_parameters_are_refused() {
        for (query, needle) in [
            (
                "limit=-1",
                "`limit`: could not parse `-1` as a positive integer",
            ),
            ("page=x", "`page`: could not parse `x`"),
            ("showRankingScore=yes", "expected either `true` or `false`"),
            ("rankingScoreThreshold=high", "`rankingScoreThreshold`"),
            ("vector=1,a", "`vector`"),
            ("nope=1", "Unknown parameter `nope`"),
        ] {
            let error = body(query).unwrap_err();
            assert_eq!(error.code, Code::BadRequest, "{query}");
            assert!(error.message.contains(needle), "{query}: {}", error.message);
        }
    }
}
