//! Search: query parameters, matching, ranking score, sorting, facets and paging.
//!
//! Matching is naive but deterministic. The query and the searchable attributes (in
//! `searchableAttributes` order; with `*`, every attribute in alphabetical order, nested values
//! included) are split into lower-cased alphanumeric words; query stop words are dropped and each
//! query word also matches its one-word synonyms. A query word matches a document word when they
//! are equal, or, for the last query word, when it is a prefix of the document word. A document
//! matches when at least one query word does; its score is
//! `0.9 × matched words / query words + 0.1 / (1 + position of the first matched word)`, in
//! (0, 1]; with an empty query every document matches with score 1.
//!
//! Order: score descending, then the `sort` rules, then the custom ranking rules
//! (`attribute:asc|desc` in `rankingRules`, in their order), then insertion order (internal id
//! ascending), so ties are always broken the same way. With `showRankingScoreDetails` each hit
//! carries that order as Meilisearch writes it: `words` with the score, then one entry per sort
//! and custom rule with its `value` (numbers as floats, strings lower-cased, `null` when
//! missing). Hits are capped by `pagination.maxTotalHits`
//! (`estimatedTotalHits` and `totalHits` too). Facets count every matching document; values are
//! grouped case-insensitively and printed as Meilisearch prints them (numbers through `f64`,
//! booleans `true`/`false`). Not supported: typos, highlighting and cropping, `distinctAttribute`,
//! geo search, vector search, matching strategies.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::error::{ApiError, describe};
use super::fields::{leaves, lookup, number_text, select, tokenize};
use super::filter::{self, Filter};
use super::settings;
use super::state::Index;

/// The search parameters the node understands (others are accepted and ignored).
#[derive(Clone, Debug, Default)]
pub(crate) struct SearchQuery {
    q: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
    page: Option<usize>,
    hits_per_page: Option<usize>,
    filter: Value,
    facets: Option<Vec<String>>,
    attributes_to_retrieve: Option<Vec<String>>,
    show_ranking_score: bool,
    show_ranking_score_details: bool,
    sort: Option<Vec<String>>,
}

fn type_error(key: &str, code: &str, expected: &str, value: &Value) -> ApiError {
    ApiError::new(
        code,
        format!(
            "Invalid value type at `.{key}`: expected {expected}, but found {}",
            describe(value)
        ),
    )
}

fn integer(body: &Map<String, Value>, key: &str, code: &str) -> Result<Option<usize>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|number| usize::try_from(number).ok())
            .map(Some)
            .ok_or_else(|| type_error(key, code, "a positive integer", value)),
    }
}

fn strings(
    body: &Map<String, Value>,
    key: &str,
    code: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| type_error(key, code, "a string", item))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(value) => Err(type_error(key, code, "an array", value)),
    }
}

impl SearchQuery {
    /// The parameters of a JSON body (`POST …/search`, one query of `/multi-search`).
    pub(crate) fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let q = match body.get("q") {
            None | Some(Value::Null) => None,
            Some(Value::String(q)) => Some(q.clone()),
            Some(value) => return Err(type_error("q", "invalid_search_q", "a string", value)),
        };
        let flag = |key: &str, code: &str| match body.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(show)) => Ok(*show),
            Some(value) => Err(type_error(key, code, "a boolean", value)),
        };
        let show_ranking_score = flag("showRankingScore", "invalid_search_show_ranking_score")?;
        let show_ranking_score_details = flag(
            "showRankingScoreDetails",
            "invalid_search_show_ranking_score_details",
        )?;
        Ok(Self {
            q,
            offset: integer(body, "offset", "invalid_search_offset")?,
            limit: integer(body, "limit", "invalid_search_limit")?,
            page: integer(body, "page", "invalid_search_page")?,
            hits_per_page: integer(body, "hitsPerPage", "invalid_search_hits_per_page")?,
            filter: body.get("filter").cloned().unwrap_or(Value::Null),
            facets: strings(body, "facets", "invalid_search_facets")?,
            attributes_to_retrieve: strings(
                body,
                "attributesToRetrieve",
                "invalid_search_attributes_to_retrieve",
            )?,
            show_ranking_score,
            show_ranking_score_details,
            sort: strings(body, "sort", "invalid_search_sort")?,
        })
    }

    /// The parameters of `GET …/search` (lists comma-separated).
    pub(crate) fn from_params(params: &[(String, String)]) -> Result<Self, ApiError> {
        let mut body = Map::new();
        for (name, value) in params {
            let converted = match name.as_str() {
                "q" | "filter" => Value::String(value.clone()),
                "offset" | "limit" | "page" | "hitsPerPage" => {
                    let number: u64 = value.trim().parse().map_err(|_| {
                        ApiError::new(
                            format!("invalid_search_{}", snake_case(name)),
                            format!(
                                "Invalid value in parameter `{name}`: could not parse `{value}` \
                                 as a positive integer"
                            ),
                        )
                    })?;
                    json!(number)
                }
                "facets" | "attributesToRetrieve" | "sort" => Value::Array(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| Value::String(item.to_owned()))
                        .collect(),
                ),
                "showRankingScore" | "showRankingScoreDetails" => match value.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => {
                        return Err(ApiError::new(
                            format!("invalid_search_{}", snake_case(name)),
                            format!(
                                "Invalid value in parameter `{name}`: could not parse \
                                 `{value}` as a boolean, expected either `true` or `false`"
                            ),
                        ));
                    }
                },
                _ => continue,
            };
            body.insert(name.clone(), converted);
        }
        Self::from_body(&body)
    }
}

fn snake_case(name: &str) -> String {
    name.chars()
        .flat_map(|character| {
            if character.is_ascii_uppercase() {
                vec!['_', character.to_ascii_lowercase()]
            } else {
                vec![character]
            }
        })
        .collect()
}

/// One sort rule: attribute and direction.
struct SortRule {
    attribute: String,
    descending: bool,
}

impl SortRule {
    /// `attribute:asc` or `attribute:desc`, `None` for anything else.
    fn parse(rule: &str) -> Option<Self> {
        let (attribute, direction) = rule
            .rsplit_once(':')
            .filter(|(_, direction)| *direction == "asc" || *direction == "desc")?;
        Some(Self {
            attribute: attribute.to_owned(),
            descending: direction == "desc",
        })
    }

    /// The rule as Meilisearch names it in ranking details.
    fn name(&self) -> String {
        let direction = if self.descending { "desc" } else { "asc" };
        format!("{}:{direction}", self.attribute)
    }
}

/// The index's custom ranking rules (`attribute:asc|desc` in `rankingRules`).
fn custom_rules(index: &Index) -> Vec<SortRule> {
    settings::string_list(&index.settings, "rankingRules")
        .iter()
        .filter_map(|rule| SortRule::parse(rule))
        .collect()
}

fn parse_sort(index: &Index, sort: &[String]) -> Result<Vec<SortRule>, ApiError> {
    if sort.is_empty() {
        return Ok(Vec::new());
    }
    let ranking_rules = settings::string_list(&index.settings, "rankingRules");
    if !ranking_rules.iter().any(|rule| rule == "sort") {
        return Err(ApiError::new(
            "invalid_search_sort",
            "You must specify where `sort` is listed in the rankingRules setting to use the sort \
             parameter at search time.",
        ));
    }
    let sortable = settings::string_list(&index.settings, "sortableAttributes");
    sort.iter()
        .map(|rule| {
            let parsed = SortRule::parse(rule).ok_or_else(|| {
                ApiError::new(
                    "invalid_search_sort",
                    format!(
                        "Invalid syntax for the sort parameter: expected expression ending by \
                         `:asc` or `:desc`, found `{rule}`."
                    ),
                )
            })?;
            let attribute = parsed.attribute.as_str();
            if !settings::covers(&sortable, attribute) {
                let available = if sortable.is_empty() {
                    "This index does not have configured sortable attributes.".to_owned()
                } else {
                    format!(
                        "Available sortable attributes are: `{}`.",
                        sortable.join(", ")
                    )
                };
                return Err(ApiError::new(
                    "invalid_search_sort",
                    format!("Attribute `{attribute}` is not sortable. {available}"),
                ));
            }
            Ok(parsed)
        })
        .collect()
}

/// The facet attributes asked for (`*` = every filterable attribute without a wildcard).
fn facet_attributes(filterable: &[String], facets: &[String]) -> Result<Vec<String>, ApiError> {
    let mut attributes = Vec::new();
    for facet in facets {
        if facet == "*" {
            attributes.extend(
                filterable
                    .iter()
                    .filter(|pattern| !pattern.contains('*'))
                    .cloned(),
            );
        } else if settings::covers(filterable, facet) {
            attributes.push(facet.clone());
        } else {
            let message = if filterable.is_empty() {
                "Invalid facet distribution, this index does not have configured filterable \
                 attributes."
                    .to_owned()
            } else {
                format!(
                    "Invalid facet distribution, attribute `{facet}` is not filterable. The \
                     available filterable attributes are `{}`.",
                    filterable.join(", ")
                )
            };
            return Err(ApiError::new("invalid_search_facets", message));
        }
    }
    attributes.dedup();
    Ok(attributes)
}

/// A query word and the words it also matches (its one-word synonyms).
struct QueryWord {
    alternatives: Vec<String>,
}

fn query_words(index: &Index, q: &str) -> Vec<QueryWord> {
    let stop_words: HashSet<String> = settings::string_list(&index.settings, "stopWords")
        .iter()
        .map(|word| word.to_lowercase())
        .collect();
    let synonyms = index.settings.get("synonyms").and_then(Value::as_object);
    tokenize(q)
        .into_iter()
        .filter(|word| !stop_words.contains(word))
        .map(|word| {
            let mut alternatives = vec![word.clone()];
            for (key, values) in synonyms.into_iter().flatten() {
                if key.to_lowercase() != word {
                    continue;
                }
                for value in values.as_array().into_iter().flatten() {
                    if let Some(synonym) = value.as_str().map(tokenize) {
                        if let [single] = synonym.as_slice() {
                            alternatives.push(single.clone());
                        }
                    }
                }
            }
            QueryWord { alternatives }
        })
        .collect()
}

fn push_words(value: &Value, words: &mut Vec<String>) {
    match value {
        Value::String(text) => words.extend(tokenize(text)),
        Value::Number(number) => words.extend(tokenize(&number_text(number))),
        Value::Array(items) => items.iter().for_each(|item| push_words(item, words)),
        Value::Object(object) => object.values().for_each(|item| push_words(item, words)),
        Value::Bool(_) | Value::Null => {}
    }
}

fn document_words(document: &Map<String, Value>, searchable: &[String]) -> Vec<String> {
    let mut words = Vec::new();
    if searchable.iter().any(|attribute| attribute == "*") {
        document
            .values()
            .for_each(|value| push_words(value, &mut words));
    } else {
        for attribute in searchable {
            for value in lookup(document, attribute) {
                push_words(value, &mut words);
            }
        }
    }
    words
}

/// The ranking score of `document` for `query`, or `None` if it does not match.
fn score(document: &Map<String, Value>, query: &[QueryWord], searchable: &[String]) -> Option<f64> {
    if query.is_empty() {
        return Some(1.0);
    }
    let words = document_words(document, searchable);
    let last = query.len() - 1;
    let mut matched = 0_usize;
    let mut first_position: Option<usize> = None;
    for (rank, query_word) in query.iter().enumerate() {
        let position = words.iter().position(|word| {
            query_word.alternatives.iter().any(|alternative| {
                word == alternative || (rank == last && word.starts_with(alternative.as_str()))
            })
        });
        if let Some(position) = position {
            matched += 1;
            first_position = Some(first_position.map_or(position, |first| first.min(position)));
        }
    }
    let first_position = first_position?;
    let proximity = 1.0 / (1.0 + first_position as f64);
    Some(0.9 * matched as f64 / query.len() as f64 + 0.1 * proximity)
}

/// What a document sorts by for one rule.
#[derive(PartialEq, PartialOrd)]
enum SortValue {
    Number(f64),
    Text(String),
}

fn sort_value(document: &Map<String, Value>, attribute: &str) -> Option<SortValue> {
    leaves(&lookup(document, attribute))
        .into_iter()
        .find_map(|leaf| match leaf {
            Value::Number(number) => number.as_f64().map(SortValue::Number),
            Value::String(text) => Some(SortValue::Text(text.to_lowercase())),
            _ => None,
        })
}

/// Numbers before strings, documents without the attribute last, in both directions.
fn compare_by_rule(
    left: &Map<String, Value>,
    right: &Map<String, Value>,
    rule: &SortRule,
) -> Ordering {
    match (
        sort_value(left, &rule.attribute),
        sort_value(right, &rule.attribute),
    ) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(left), Some(right)) => {
            let ordering = match (&left, &right) {
                (SortValue::Number(a), SortValue::Number(b)) => a.total_cmp(b),
                (SortValue::Text(a), SortValue::Text(b)) => a.cmp(b),
                (SortValue::Number(_), SortValue::Text(_)) => return Ordering::Less,
                (SortValue::Text(_), SortValue::Number(_)) => return Ordering::Greater,
            };
            if rule.descending {
                ordering.reverse()
            } else {
                ordering
            }
        }
    }
}

/// A matching document.
struct Candidate<'a> {
    score: f64,
    internal_id: u64,
    document: &'a Map<String, Value>,
}

/// The documents of `index` matching `filter` (already parsed) and the query `q`, with their
/// scores, in insertion order.
fn matching<'a>(index: &'a Index, filter: Option<&Filter>, q: &str) -> Vec<Candidate<'a>> {
    let words = query_words(index, q);
    let searchable = settings::string_list(&index.settings, "searchableAttributes");
    index
        .documents
        .iter()
        .filter(|(_, document)| filter.is_none_or(|filter| filter.matches(document)))
        .filter_map(|(internal_id, document)| {
            score(document, &words, &searchable).map(|score| Candidate {
                score,
                internal_id,
                document,
            })
        })
        .collect()
}

/// Runs `query` on `index`: the search response (without `indexUid`).
pub(crate) fn search(index: &Index, query: &SearchQuery) -> Result<Value, ApiError> {
    let started = Instant::now();
    let filterable = settings::filterable(&index.settings);
    let filter: Option<Filter> = filter::parse(&query.filter, Some(filterable.as_slice()))
        .map_err(|message| ApiError::new("invalid_search_filter", message))?;
    let facets = query
        .facets
        .as_deref()
        .map(|facets| facet_attributes(&filterable, facets))
        .transpose()?;
    let mut sort_rules = parse_sort(index, query.sort.as_deref().unwrap_or_default())?;
    sort_rules.extend(custom_rules(index));

    let mut candidates = matching(
        index,
        filter.as_ref(),
        query.q.as_deref().unwrap_or_default(),
    );
    candidates.sort_by(|left, right| {
        right
            .score
            .total_cmp(&left.score)
            .then_with(|| {
                sort_rules.iter().fold(Ordering::Equal, |ordering, rule| {
                    ordering.then_with(|| compare_by_rule(left.document, right.document, rule))
                })
            })
            .then(left.internal_id.cmp(&right.internal_id))
    });

    let reachable = candidates
        .len()
        .min(settings::max_total_hits(&index.settings));
    let mut response = Map::new();
    let (start, end) = if query.page.is_some() || query.hits_per_page.is_some() {
        let hits_per_page = query.hits_per_page.unwrap_or(20);
        let page = query.page.unwrap_or(1);
        let total_pages = if hits_per_page == 0 {
            0
        } else {
            reachable.div_ceil(hits_per_page)
        };
        response.insert("hitsPerPage".into(), json!(hits_per_page));
        response.insert("page".into(), json!(page));
        response.insert("totalPages".into(), json!(total_pages));
        response.insert("totalHits".into(), json!(reachable));
        let start = page.saturating_sub(1).saturating_mul(hits_per_page);
        let end = if page == 0 {
            start
        } else {
            start.saturating_add(hits_per_page)
        };
        (start, end)
    } else {
        let offset = query.offset.unwrap_or(0);
        let limit = query.limit.unwrap_or(20);
        response.insert("offset".into(), json!(offset));
        response.insert("limit".into(), json!(limit));
        response.insert("estimatedTotalHits".into(), json!(reachable));
        (offset, offset.saturating_add(limit))
    };
    let (start, end) = (start.min(reachable), end.min(reachable));

    let displayed = settings::string_list(&index.settings, "displayedAttributes");
    let hits: Vec<Value> = candidates[start..end]
        .iter()
        .map(|candidate| {
            let visible = select(candidate.document, Some(displayed.as_slice()));
            let mut hit = select(&visible, query.attributes_to_retrieve.as_deref());
            if query.show_ranking_score {
                hit.insert("_rankingScore".into(), json!(candidate.score));
            }
            if query.show_ranking_score_details {
                hit.insert(
                    "_rankingScoreDetails".into(),
                    details(candidate, &sort_rules),
                );
            }
            Value::Object(hit)
        })
        .collect();
    response.insert("hits".into(), Value::Array(hits));
    response.insert(
        "query".into(),
        Value::String(query.q.clone().unwrap_or_default()),
    );
    if let Some(facets) = facets {
        let (distribution, stats) = facet_distribution(index, &candidates, &facets);
        response.insert("facetDistribution".into(), distribution);
        response.insert("facetStats".into(), stats);
    }
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    response.insert("processingTimeMs".into(), json!(elapsed));
    Ok(Value::Object(response))
}

/// A candidate's `_rankingScoreDetails`: its score, then each sort and custom rule's value.
fn details(candidate: &Candidate<'_>, rules: &[SortRule]) -> Value {
    let mut details = Map::new();
    details.insert(
        "words".into(),
        json!({"order": 0, "score": candidate.score}),
    );
    for (order, rule) in rules.iter().enumerate() {
        let value = match sort_value(candidate.document, &rule.attribute) {
            Some(SortValue::Number(number)) => json!(number),
            Some(SortValue::Text(text)) => json!(text),
            None => Value::Null,
        };
        details.insert(rule.name(), json!({"order": order + 1, "value": value}));
    }
    Value::Object(details)
}

/// `facetDistribution` and `facetStats` over every candidate.
fn facet_distribution(
    index: &Index,
    candidates: &[Candidate<'_>],
    facets: &[String],
) -> (Value, Value) {
    let max_values = settings::max_values_per_facet(&index.settings);
    let mut distribution = Map::new();
    let mut stats = Map::new();
    for attribute in facets {
        // normalized value → (value as first seen, count)
        let mut counts: HashMap<String, (String, u64)> = HashMap::new();
        let mut range: Option<(f64, f64)> = None;
        for candidate in candidates {
            let mut seen = HashSet::new();
            for leaf in leaves(&lookup(candidate.document, attribute)) {
                let text = match leaf {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => {
                        if let Some(value) = number.as_f64() {
                            range = Some(range.map_or((value, value), |(min, max)| {
                                (min.min(value), max.max(value))
                            }));
                        }
                        number_text(number)
                    }
                    Value::Bool(value) => value.to_string(),
                    _ => continue,
                };
                let normalized = text.to_lowercase();
                if seen.insert(normalized.clone()) {
                    counts.entry(normalized).or_insert((text, 0)).1 += 1;
                }
            }
        }
        let by_count = sorts_by_count(index, attribute);
        let mut values: Vec<(String, u64)> = counts.into_values().collect();
        values.sort_by(|(left_text, left_count), (right_text, right_count)| {
            if by_count {
                right_count.cmp(left_count).then(left_text.cmp(right_text))
            } else {
                left_text.cmp(right_text)
            }
        });
        values.truncate(max_values);
        let values: BTreeMap<String, u64> = values.into_iter().collect();
        distribution.insert(attribute.clone(), json!(values));
        if let Some((min, max)) = range {
            stats.insert(attribute.clone(), json!({"min": min, "max": max}));
        }
    }
    (Value::Object(distribution), Value::Object(stats))
}

/// `POST /indexes/{uid}/facet-search`: the string and boolean values of `facetName` among the
/// documents matching `q` and `filter` (grouped case-insensitively, each shown as first seen)
/// whose lower-cased form starts with the lower-cased `facetQuery`, with how many documents hold
/// each; in `faceting.sortFacetValuesBy` order (`alpha`: lower-cased value; `count`: count
/// descending, then value descending), at most `maxValuesPerFacet`. No typo tolerance, no
/// Unicode normalization; other parameters are accepted and ignored.
pub(crate) fn facet_search(index: &Index, body: &Map<String, Value>) -> Result<Value, ApiError> {
    let started = Instant::now();
    let text = |key: &str, code: &str| match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(value) => Err(type_error(key, code, "a string", value)),
    };
    let facet_name = match body.get("facetName") {
        None => {
            return Err(ApiError::new(
                "missing_facet_search_facet_name",
                "Missing field `facetName`",
            ));
        }
        Some(Value::String(name)) => name.clone(),
        Some(value) => {
            return Err(type_error(
                "facetName",
                "invalid_facet_search_facet_name",
                "a string",
                value,
            ));
        }
    };
    let facet_query = text("facetQuery", "invalid_facet_search_query")?;
    let q = text("q", "invalid_search_q")?.unwrap_or_default();
    let filterable = settings::filterable(&index.settings);
    let filter: Option<Filter> = filter::parse(
        body.get("filter").unwrap_or(&Value::Null),
        Some(filterable.as_slice()),
    )
    .map_err(|message| ApiError::new("invalid_search_filter", message))?;
    if !settings::covers(&filterable, &facet_name) {
        let available = if filterable.is_empty() {
            "This index does not have configured facet-searchable attributes.".to_owned()
        } else {
            let mut listed = filterable.clone();
            listed.sort();
            listed.dedup();
            format!(
                "Available facet-searchable attributes patterns are: `{}`.",
                listed.join(", ")
            )
        };
        return Err(ApiError::new(
            "invalid_facet_search_facet_name",
            format!(
                "Attribute `{facet_name}` is not facet-searchable. {available} To make it \
                 facet-searchable add it to the `filterableAttributes` index settings."
            ),
        ));
    }
    let prefix = facet_query.as_deref().unwrap_or_default().to_lowercase();
    // lower-cased value → (value as first seen, count)
    let mut counts: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for candidate in matching(index, filter.as_ref(), &q) {
        let mut seen = HashSet::new();
        for leaf in leaves(&lookup(candidate.document, &facet_name)) {
            let text = match leaf {
                Value::String(text) => text.clone(),
                Value::Bool(value) => value.to_string(),
                _ => continue,
            };
            let normalized = text.to_lowercase();
            if normalized.starts_with(&prefix) && seen.insert(normalized.clone()) {
                counts.entry(normalized).or_insert((text, 0)).1 += 1;
            }
        }
    }
    let mut values: Vec<(String, u64)> = counts.into_values().collect();
    if sorts_by_count(index, &facet_name) {
        values.sort_by(|(left_text, left_count), (right_text, right_count)| {
            right_count.cmp(left_count).then(right_text.cmp(left_text))
        });
    }
    values.truncate(settings::max_values_per_facet(&index.settings));
    let hits: Vec<Value> = values
        .into_iter()
        .map(|(value, count)| json!({"value": value, "count": count}))
        .collect();
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(json!({"facetHits": hits, "facetQuery": facet_query, "processingTimeMs": elapsed}))
}

/// Whether `faceting.sortFacetValuesBy` asks for `count` order for `attribute` (else `alpha`).
fn sorts_by_count(index: &Index, attribute: &str) -> bool {
    let by = index
        .settings
        .get("faceting")
        .and_then(|faceting| faceting.get("sortFacetValuesBy"));
    let order = by
        .and_then(|by| by.get(attribute).or_else(|| by.get("*")))
        .and_then(Value::as_str);
    order == Some("count")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meilisearch::documents::WriteMethod;

    fn index_with(documents: Value, settings_update: Value) -> Index {
        let mut index = Index::new(
            "movies",
            Some("id".into()),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        let documents: Vec<Map<String, Value>> = documents
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|document| document.as_object().cloned())
            .collect();
        assert_eq!(
            index.documents.add(&documents, "id", WriteMethod::Replace),
            Ok(())
        );
        if let Value::Object(update) = settings_update {
            settings::apply(&mut index.settings, &update);
        }
        index
    }

    fn run(index: &Index, body: Value) -> Value {
        let body = body.as_object().cloned().unwrap_or_default();
        match SearchQuery::from_body(&body).and_then(|query| search(index, &query)) {
            Ok(response) => response,
            Err(error) => error.to_json(),
        }
    }

    fn ids(response: &Value) -> Vec<i64> {
        response["hits"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|hit| hit["id"].as_i64())
            .collect()
    }

    #[test]
    fn ranking_prefers_more_words_then_earlier_words_then_insertion() {
        let index = index_with(
            json!([
                {"id": 1, "title": "a quick fox"},
                {"id": 2, "title": "the quick brown fox"},
                {"id": 3, "title": "brown dog"},
                {"id": 4, "title": "quick brown"},
                {"id": 5, "title": "quick brown"}
            ]),
            json!({"searchableAttributes": ["title"]}),
        );
        let response = run(&index, json!({"q": "quick bro", "showRankingScore": true}));
        assert_eq!(ids(&response), vec![4, 5, 2, 3, 1]);
        assert_eq!(response["hits"][0]["_rankingScore"], json!(1.0));
        assert_eq!(response["estimatedTotalHits"], json!(5));
    }

    #[test]
    fn sort_orders_numbers_before_strings_and_missing_last() {
        let index = index_with(
            json!([{"id": 1, "p": "b"}, {"id": 2, "p": 3}, {"id": 3}, {"id": 4, "p": 1}]),
            json!({"sortableAttributes": ["p"]}),
        );
        assert_eq!(
            ids(&run(&index, json!({"sort": ["p:asc"]}))),
            vec![4, 2, 1, 3]
        );
        assert_eq!(
            ids(&run(&index, json!({"sort": ["p:desc"]}))),
            vec![2, 4, 1, 3]
        );
        assert_eq!(
            run(&index, json!({"sort": ["id:asc"]}))["code"],
            json!("invalid_search_sort")
        );
    }
}
