//! Merging the answers of a covering set into one Meilisearch search response (plan §3 "Result
//! merger").
//!
//! # Order
//!
//! Every node is asked for `showRankingScoreDetails`, and hits are ordered the way a node orders
//! them: rule by rule in the details' `order`, a ranking rule's `score` descending, a sort or
//! custom ranking rule's value in its direction (numbers before strings, strings by bytes,
//! missing values last, as Meilisearch sorts; geo rules by `distance`), a vector rule's
//! `similarity` descending. Then by shard ascending, then by the hit's position in its node's
//! answer. Hybrid and vector searches, whose hits a node itself ranks by `_rankingScore` alone,
//! are merged by `_rankingScore`, then shard; so is an answer without details.
//!
//! Every node breaks its last ties by shard too (Miroir's ranking rule `_miroir_shard:asc`, see
//! [`crate::reserved`]), and replicas of a shard receive the same writes in the same order, so a
//! node's order is the merge's order restricted to its hits, and it does not depend on which
//! replica or group answered: consecutive pages never overlap or skip.
//!
//! # Truncation
//!
//! A node asked for `n` hits that returns `n` may hold more. When its hits carry the shard rule,
//! every missing hit comes after its last returned hit in the merged order, so a node asked for
//! the whole window (`offset + limit`) never has to be asked again. A node without the rule (an
//! index created on the node directly, or by an older Miroir: see
//! [`crate::cluster::Cluster::repair_reserved`]) may hold a missing hit that ties its last one on
//! every rule and belongs to a lower shard. [`Merged::incomplete_nodes`] names the nodes whose
//! missing hits could still enter the requested window; the caller asks them again with a
//! larger limit.
//!
//! # Distinct
//!
//! With a `distinct` attribute each node returns its best hit per value among its shards; the
//! merge keeps the first hit per value over all nodes (hits without the attribute are all kept,
//! as in Meilisearch).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::reserved::SHARD_RULE;

/// The reserved field Miroir adds to documents; never shown to clients.
pub const SHARD_FIELD: &str = "_miroir_shard";

/// The ranking score field Meilisearch adds with `showRankingScore`.
pub const SCORE_FIELD: &str = "_rankingScore";

/// The per-rule ranking details Meilisearch adds with `showRankingScoreDetails`.
pub const DETAILS_FIELD: &str = "_rankingScoreDetails";

/// One node's search answer. Its hits stay raw JSON: the merge reads only their ranking fields
/// ([`HitKeys`]), and only the hits of the client's page are decoded whole.
#[derive(Clone, Debug)]
pub struct NodeAnswer {
    /// The node's response object without `hits` (`estimatedTotalHits` or `totalHits`,
    /// `facetDistribution`, `facetStats`, `processingTimeMs`).
    pub response: Map<String, Value>,
    /// The hits, as the node wrote them.
    pub hits: Vec<Box<RawValue>>,
    /// How many hits the node was asked for.
    pub requested: usize,
}

impl NodeAnswer {
    /// A node's search answer from its body; an error unless it is an object with a `hits`
    /// array.
    pub fn parse(body: &[u8], requested: usize) -> Result<Self, serde_json::Error> {
        let mut fields: Map<String, Value> = Map::new();
        let mut hits = None;
        for (key, value) in serde_json::from_slice::<BTreeMap<String, Box<RawValue>>>(body)? {
            if key == "hits" {
                hits = Some(serde_json::from_str::<Vec<Box<RawValue>>>(value.get())?);
            } else {
                fields.insert(key, serde_json::from_str(value.get())?);
            }
        }
        let hits = hits.ok_or_else(|| {
            <serde_json::Error as serde::de::Error>::custom("a search answer without `hits`")
        })?;
        Ok(Self {
            response: fields,
            hits,
            requested,
        })
    }

    /// True when the node may hold more matching hits than it returned.
    pub fn truncated(&self) -> bool {
        self.hits.len() >= self.requested && self.total() > self.hits.len() as u64
    }

    /// The node's count of matching documents (`totalHits` or `estimatedTotalHits`).
    pub fn total(&self) -> u64 {
        ["totalHits", "estimatedTotalHits"]
            .iter()
            .find_map(|key| self.response.get(*key).and_then(Value::as_u64))
            .unwrap_or(0)
    }

    /// False when the node's hits carry ranking details without Miroir's shard rule: its index
    /// there lacks the rule and should be repaired. True otherwise (no hits, or no details to
    /// tell).
    pub fn breaks_ties_by_shard(&self) -> bool {
        self.hits
            .first()
            .and_then(|hit| serde_json::from_str::<HitKeys>(hit.get()).ok())
            .and_then(|keys| keys.details)
            .is_none_or(|details| details.contains_key(SHARD_RULE))
    }
}

/// The fields of a hit the merge orders by; the rest of the hit is skipped unread.
#[derive(Debug, Default, Deserialize)]
struct HitKeys {
    #[serde(rename = "_rankingScore")]
    score: Option<f64>,
    #[serde(rename = "_rankingScoreDetails")]
    details: Option<BTreeMap<String, DetailEntry>>,
    #[serde(rename = "_miroir_shard")]
    shard: Option<u64>,
}

/// One rule's entry of `_rankingScoreDetails`, as far as ordering needs it.
#[derive(Debug, Deserialize)]
struct DetailEntry {
    order: Option<u64>,
    score: Option<f64>,
    similarity: Option<f64>,
    /// `Some(Null)` for a present `null` (a missing sort value), `None` when absent.
    #[serde(default, deserialize_with = "present")]
    value: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    distance: Option<Value>,
}

/// A field that is there, even `null`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// How the hits of a search are merged and shown.
#[derive(Clone, Debug, Default)]
pub struct MergeRules {
    /// Order by `_rankingScore` alone (hybrid and vector searches).
    pub by_score: bool,
    /// The attribute whose values the merged hits keep distinct (`distinct`), if any.
    pub distinct: Option<String>,
    /// Hits keep `_rankingScore` (the client asked `showRankingScore`).
    pub show_score: bool,
    /// Hits keep `_rankingScoreDetails`, without Miroir's rule (the client asked
    /// `showRankingScoreDetails`).
    pub show_details: bool,
    /// Top-level fields retrieved for the merge only (a `distinct` attribute the client's
    /// `attributesToRetrieve` leaves out), removed from the hits shown.
    pub hidden: Vec<String>,
}

/// A value a sort or custom ranking rule orders by, in Meilisearch's order of kinds.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum SortValue {
    Number(f64),
    Text(String),
    Missing,
}

impl SortValue {
    fn of(value: Option<&Value>) -> Self {
        match value {
            Some(Value::Number(number)) => Self::Number(number.as_f64().unwrap_or(0.0)),
            Some(Value::String(text)) => Self::Text(text.clone()),
            Some(Value::Bool(flag)) => Self::Text(flag.to_string()),
            _ => Self::Missing,
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Self::Number(_) => 0,
            Self::Text(_) => 1,
            Self::Missing => 2,
        }
    }

    /// Ascending order: numbers, then strings, then missing values.
    fn ascending(&self, other: &Self) -> Ordering {
        self.partial_cmp(other).unwrap_or(Ordering::Equal)
    }

    /// Descending order within each kind, the kinds in the same order (missing values last).
    fn descending(&self, other: &Self) -> Ordering {
        self.kind()
            .cmp(&other.kind())
            .then_with(|| other.ascending(self))
    }
}

/// One rule's contribution to a hit's place.
#[derive(Clone, Debug)]
enum Rank {
    /// A ranking rule's score, a vector similarity or the global `_rankingScore`: higher first.
    Score(f64),
    /// A sort or custom ranking rule's value.
    Sorted { value: SortValue, descending: bool },
}

fn compare_ranks(a: &Rank, b: &Rank) -> Ordering {
    match (a, b) {
        (Rank::Score(a), Rank::Score(b)) => b.partial_cmp(a).unwrap_or(Ordering::Equal),
        (
            Rank::Sorted {
                value: a,
                descending,
            },
            Rank::Sorted { value: b, .. },
        ) => {
            if *descending {
                a.descending(b)
            } else {
                a.ascending(b)
            }
        }
        // Hits of one search share their rules; a mismatch has no meaningful order.
        _ => Ordering::Equal,
    }
}

/// A hit's place in the merged order.
#[derive(Clone, Debug)]
struct Ranked {
    /// The hit's ranks, rule by rule (the shard rule excluded).
    ranks: Vec<Rank>,
    /// The node broke its ties by shard (its details carry the shard rule).
    shard_ordered: bool,
    shard: u64,
    position: usize,
    node: usize,
}

impl Ranked {
    fn of(hit: &RawValue, position: usize, node: usize, rules: &MergeRules) -> Self {
        let keys: HitKeys = serde_json::from_str(hit.get()).unwrap_or_default();
        let mut ranks = Vec::new();
        let mut shard_ordered = false;
        match keys.details {
            Some(details) if !rules.by_score => {
                let mut entries: Vec<(String, DetailEntry)> = details.into_iter().collect();
                entries.sort_by_key(|(_, entry)| entry.order.unwrap_or(u64::MAX));
                for (name, entry) in entries {
                    if name == SHARD_RULE {
                        shard_ordered = true;
                    } else if let Some(rank) = rank_of(&name, entry) {
                        ranks.push(rank);
                    }
                }
            }
            _ => ranks.push(Rank::Score(keys.score.unwrap_or(0.0))),
        }
        Self {
            ranks,
            shard_ordered,
            shard: keys.shard.unwrap_or(u64::MAX),
            position,
            node,
        }
    }

    /// The order of the rules alone (ties broken by nothing).
    fn by_rules(&self, other: &Self) -> Ordering {
        self.ranks
            .iter()
            .zip(&other.ranks)
            .map(|(a, b)| compare_ranks(a, b))
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// The merged order.
    fn order(&self, other: &Self) -> Ordering {
        self.by_rules(other)
            .then(self.shard.cmp(&other.shard))
            .then(self.position.cmp(&other.position))
            .then(self.node.cmp(&other.node))
    }
}

/// The rank one entry of `_rankingScoreDetails` gives (`None` for an entry that orders nothing
/// Miroir can read).
fn rank_of(name: &str, entry: DetailEntry) -> Option<Rank> {
    let descending = name.ends_with(":desc");
    if let Some(sorted) = entry.distance.or(entry.value) {
        return Some(Rank::Sorted {
            value: SortValue::of(Some(&sorted)),
            descending,
        });
    }
    entry.similarity.or(entry.score).map(Rank::Score)
}

/// The value of `attribute` in `hit` (a top-level field, else a dotted path), as a key.
fn distinct_value(hit: &Value, attribute: &str) -> Option<String> {
    let value = hit.get(attribute).or_else(|| {
        attribute
            .split('.')
            .try_fold(hit, |value, segment| value.get(segment))
    })?;
    (!value.is_null()).then(|| value.to_string())
}

/// The covering set's answers in merged order.
#[derive(Debug)]
pub struct Merged<'a> {
    answers: &'a [NodeAnswer],
    rules: &'a MergeRules,
    ranked: Vec<Ranked>,
    /// Each answer's last hit, if it has one.
    last: Vec<Option<Ranked>>,
}

impl<'a> Merged<'a> {
    /// Orders every hit of `answers` by `rules`, keeping the first hit per `distinct` value.
    pub fn new(answers: &'a [NodeAnswer], rules: &'a MergeRules) -> Self {
        let mut last = Vec::with_capacity(answers.len());
        let mut ranked = Vec::new();
        for (node, answer) in answers.iter().enumerate() {
            let hits = &answer.hits;
            ranked.extend(
                hits.iter()
                    .enumerate()
                    .map(|(position, hit)| Ranked::of(hit, position, node, rules)),
            );
            last.push(
                hits.len()
                    .checked_sub(1)
                    .map(|_| ranked[ranked.len() - 1].clone()),
            );
        }
        ranked.sort_by(Ranked::order);
        if let Some(attribute) = &rules.distinct {
            let mut seen = HashSet::new();
            ranked.retain(|place| {
                let hit = &answers[place.node].hits[place.position];
                serde_json::from_str::<Value>(hit.get())
                    .ok()
                    .and_then(|hit| distinct_value(&hit, attribute))
                    .is_none_or(|value| seen.insert(value))
            });
        }
        Self {
            answers,
            rules,
            ranked,
            last,
        }
    }

    /// Indexes (into the answers) of the truncated nodes whose missing hits could come before
    /// merged position `end` (exclusive), so the window `..end` is not yet exact.
    pub fn incomplete_nodes(&self, end: usize) -> Vec<usize> {
        if end == 0 {
            return Vec::new();
        }
        // `None`: fewer than `end` hits so far, so every truncated node may fill the gap.
        let boundary = self.ranked.get(end - 1);
        self.answers
            .iter()
            .zip(&self.last)
            .enumerate()
            .filter(|(_, (answer, _))| answer.truncated())
            .filter(|(_, (_, last))| {
                let (Some(boundary), Some(last)) = (boundary, last) else {
                    return true;
                };
                if last.shard_ordered {
                    // Missing hits come after `last`: they matter only if the window does.
                    boundary.order(last).is_gt()
                } else {
                    // Missing hits may tie `last` on every rule and come earlier by shard.
                    boundary.by_rules(last).is_ge()
                }
            })
            .map(|(index, _)| index)
            .collect()
    }

    /// The hits at merged positions `offset..offset + limit`, as the client sees them: reserved
    /// fields and [`MergeRules::hidden`] fields removed, the score and details kept as asked.
    pub fn page(&self, offset: usize, limit: usize) -> Vec<Value> {
        self.ranked
            .iter()
            .skip(offset)
            .take(limit)
            .map(|place| {
                let raw = &self.answers[place.node].hits[place.position];
                let mut hit: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
                clean_document(&mut hit);
                if let Some(object) = hit.as_object_mut() {
                    for field in &self.rules.hidden {
                        object.remove(field);
                    }
                    if !self.rules.show_score {
                        object.remove(SCORE_FIELD);
                    }
                    if !self.rules.show_details {
                        object.remove(DETAILS_FIELD);
                    } else if let Some(details) =
                        object.get_mut(DETAILS_FIELD).and_then(Value::as_object_mut)
                    {
                        details.remove(SHARD_RULE);
                    }
                }
                hit
            })
            .collect()
    }
}

/// Removes every reserved `_miroir_*` field from a document (top level, and from the
/// `_formatted` copy Meilisearch adds with highlighting).
pub fn clean_document(document: &mut Value) {
    if let Some(object) = document.as_object_mut() {
        object.retain(|key, _| !key.starts_with("_miroir_"));
        if let Some(formatted) = object.get_mut("_formatted").and_then(Value::as_object_mut) {
            formatted.retain(|key, _| !key.starts_with("_miroir_"));
        }
    }
}

/// The sum of every node's match count.
pub fn total_hits(answers: &[NodeAnswer]) -> u64 {
    answers.iter().map(NodeAnswer::total).sum()
}

/// The largest `processingTimeMs` of the answers.
pub fn processing_time_ms(answers: &[NodeAnswer]) -> u64 {
    answers
        .iter()
        .filter_map(|answer| {
            answer
                .response
                .get("processingTimeMs")
                .and_then(Value::as_u64)
        })
        .max()
        .unwrap_or(0)
}

/// `facetDistribution` summed value by value over the answers (`None` when no answer has one),
/// without the reserved attributes.
pub fn facet_distribution(answers: &[NodeAnswer]) -> Option<Value> {
    let mut sums: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut seen = false;
    for answer in answers {
        let Some(distribution) = answer
            .response
            .get("facetDistribution")
            .and_then(Value::as_object)
        else {
            continue;
        };
        seen = true;
        for (attribute, values) in distribution {
            if attribute.starts_with("_miroir_") {
                continue;
            }
            let counts = sums.entry(attribute.clone()).or_default();
            for (value, count) in values.as_object().into_iter().flatten() {
                *counts.entry(value.clone()).or_default() += count.as_u64().unwrap_or(0);
            }
        }
    }
    seen.then(|| serde_json::to_value(sums).unwrap_or(Value::Null))
}

/// `facetStats` combined over the answers: the smallest `min` and the largest `max`.
pub fn facet_stats(answers: &[NodeAnswer]) -> Option<Value> {
    let mut stats: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut seen = false;
    for answer in answers {
        let Some(all) = answer.response.get("facetStats").and_then(Value::as_object) else {
            continue;
        };
        seen = true;
        for (attribute, value) in all {
            let (Some(min), Some(max)) = (
                value.get("min").and_then(Value::as_f64),
                value.get("max").and_then(Value::as_f64),
            ) else {
                continue;
            };
            stats
                .entry(attribute.clone())
                .and_modify(|(low, high)| {
                    *low = low.min(min);
                    *high = high.max(max);
                })
                .or_insert((min, max));
        }
    }
    seen.then(|| {
        Value::Object(
            stats
                .into_iter()
                .map(|(attribute, (min, max))| {
                    (attribute, serde_json::json!({"min": min, "max": max}))
                })
                .collect(),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(hits: Value, total: u64, requested: usize) -> NodeAnswer {
        let body = json!({"hits": hits, "estimatedTotalHits": total, "processingTimeMs": total});
        NodeAnswer::parse(body.to_string().as_bytes(), requested).unwrap()
    }

    fn ids(hits: &[Value]) -> Vec<u64> {
        hits.iter().map(|hit| hit["id"].as_u64().unwrap()).collect()
    }

    /// A hit as a node answers with details: `ranks` are `(rule, entry)` in rule order.
    fn detailed(id: u64, shard: u64, ranks: &[(&str, Value)]) -> Value {
        let mut details = Map::new();
        for (order, (rule, entry)) in ranks.iter().enumerate() {
            let mut entry = entry.clone();
            entry["order"] = json!(order);
            details.insert((*rule).to_owned(), entry);
        }
        json!({"id": id, "_miroir_shard": shard, "_rankingScoreDetails": details})
    }

    #[test]
    fn details_order_rule_by_rule_as_a_node_does() {
        // words, then `year:asc` (numbers, then strings, then missing), then the shard rule.
        let hit = |id, shard, words: f64, year: Value| {
            detailed(
                id,
                shard,
                &[
                    ("words", json!({"score": words})),
                    ("year:asc", json!({"value": year})),
                    (SHARD_RULE, json!({"value": shard})),
                ],
            )
        };
        let answers = [
            answer(
                json!([
                    hit(1, 0, 1.0, json!(2001)),
                    hit(2, 0, 1.0, json!("x")),
                    hit(3, 0, 0.5, json!(1990))
                ]),
                3,
                10,
            ),
            answer(
                json!([
                    hit(4, 1, 1.0, json!(1999)),
                    hit(5, 1, 1.0, json!(2001)),
                    hit(6, 1, 1.0, json!(null))
                ]),
                3,
                10,
            ),
        ];
        let rules = MergeRules::default();
        let merged = Merged::new(&answers, &rules);
        assert_eq!(ids(&merged.page(0, 10)), [4, 1, 5, 2, 6, 3]);
        assert_eq!(merged.page(0, 1), [json!({"id": 4})]);
        let shown = MergeRules {
            show_details: true,
            ..MergeRules::default()
        };
        let details = &Merged::new(&answers, &shown).page(0, 1)[0]["_rankingScoreDetails"];
        assert!(details.get("year:asc").is_some() && details.get(SHARD_RULE).is_none());
    }

    #[test]
    fn descending_values_keep_numbers_first_and_missing_last() {
        let hit = |id, value: Value| detailed(id, id, &[("rank:desc", json!({"value": value}))]);
        let answers = [answer(
            json!([
                hit(1, json!("b")),
                hit(2, json!(3)),
                hit(3, json!(null)),
                hit(4, json!(10)),
                hit(5, json!("c"))
            ]),
            5,
            10,
        )];
        let rules = MergeRules::default();
        assert_eq!(
            ids(&Merged::new(&answers, &rules).page(0, 10)),
            [4, 2, 5, 1, 3]
        );
        let geo = |id, distance: Value| {
            detailed(
                id,
                0,
                &[(
                    "_geoPoint(0, 0):asc",
                    json!({"value": null, "distance": distance}),
                )],
            )
        };
        let answers = [answer(
            json!([
                geo(1, json!(null)),
                geo(2, json!(400.5)),
                geo(3, json!(12.0))
            ]),
            3,
            10,
        )];
        assert_eq!(ids(&Merged::new(&answers, &rules).page(0, 10)), [3, 2, 1]);
    }

    #[test]
    fn a_node_that_breaks_ties_by_shard_is_never_asked_again_for_its_window() {
        let hit = |id, shard| {
            detailed(
                id,
                shard,
                &[
                    ("words", json!({"score": 1.0})),
                    (SHARD_RULE, json!({"value": shard})),
                ],
            )
        };
        // Node 0 holds shard 3 and more hits than it returned; all tie.
        let answers = [
            answer(json!([hit(1, 3), hit(2, 3)]), 50, 2),
            answer(json!([hit(3, 0)]), 1, 2),
        ];
        let rules = MergeRules::default();
        let merged = Merged::new(&answers, &rules);
        assert!(merged.incomplete_nodes(2).is_empty());
        assert!(answers[0].breaks_ties_by_shard());
        // Without the rule, node 0's missing ties may be of a lower shard than its last hit.
        let bare = |id, shard| detailed(id, shard, &[("words", json!({"score": 1.0}))]);
        let answers = [
            answer(json!([bare(1, 3), bare(2, 3)]), 50, 2),
            answer(json!([bare(3, 0)]), 1, 2),
        ];
        assert_eq!(Merged::new(&answers, &rules).incomplete_nodes(2), vec![0]);
        assert!(!answers[0].breaks_ties_by_shard());
    }

    #[test]
    fn distinct_keeps_the_first_hit_per_value_over_all_nodes() {
        let hit = |id, shard, genre: Value, score: f64| {
            let mut hit = detailed(
                id,
                shard,
                &[
                    ("words", json!({"score": score})),
                    (SHARD_RULE, json!({"value": shard})),
                ],
            );
            hit["genre"] = genre;
            hit
        };
        let answers = [
            answer(
                json!([
                    hit(1, 0, json!("drama"), 0.9),
                    hit(2, 0, json!("comedy"), 0.5)
                ]),
                2,
                2,
            ),
            answer(
                json!([
                    hit(3, 1, json!("comedy"), 0.8),
                    hit(4, 1, json!(null), 0.7),
                    hit(5, 1, json!("drama"), 0.6)
                ]),
                5,
                3,
            ),
        ];
        let rules = MergeRules {
            distinct: Some("genre".into()),
            hidden: vec!["genre".into()],
            ..MergeRules::default()
        };
        let merged = Merged::new(&answers, &rules);
        assert_eq!(ids(&merged.page(0, 10)), [1, 3, 4]);
        assert_eq!(merged.page(0, 1), [json!({"id": 1})]);
        // Node 1 returned 3 of its 5: its missing hits could fill a window of 4.
        assert_eq!(merged.incomplete_nodes(4), vec![1]);
        assert!(merged.incomplete_nodes(3).is_empty());
    }

    #[test]
    fn hits_merge_by_score_then_shard_and_lose_reserved_fields() {
        let answers = [
            answer(
                json!([{"id": 1, "_rankingScore": 0.9, "_miroir_shard": 2},
                       {"id": 2, "_rankingScore": 0.5, "_miroir_shard": 2}]),
                2,
                10,
            ),
            answer(
                json!([{"id": 3, "_rankingScore": 0.9, "_miroir_shard": 1},
                       {"id": 4, "_rankingScore": 0.7, "_miroir_shard": 1}]),
                2,
                10,
            ),
        ];
        let hidden = MergeRules::default();
        let merged = Merged::new(&answers, &hidden);
        let page = merged.page(0, 10);
        assert_eq!(ids(&page), [3, 1, 4, 2]);
        assert_eq!(page[0], json!({"id": 3}));
        let shown = MergeRules {
            show_score: true,
            ..MergeRules::default()
        };
        assert_eq!(
            Merged::new(&answers, &shown).page(1, 1),
            [json!({"id": 1, "_rankingScore": 0.9})]
        );
        assert_eq!(total_hits(&answers), 4);
        assert_eq!(processing_time_ms(&answers), 2);
        assert!(merged.incomplete_nodes(4).is_empty());
    }

    #[test]
    fn a_truncated_node_with_ties_at_the_boundary_must_be_asked_again() {
        let answers = [
            answer(
                json!([{"id": 1, "_rankingScore": 1.0, "_miroir_shard": 3}]),
                5,
                1,
            ),
            answer(
                json!([{"id": 2, "_rankingScore": 1.0, "_miroir_shard": 0}]),
                1,
                1,
            ),
        ];
        let rules = MergeRules::default();
        let merged = Merged::new(&answers, &rules);
        assert_eq!(merged.incomplete_nodes(1), vec![0]);
        let answers = [
            answer(
                json!([{"id": 1, "_rankingScore": 0.5, "_miroir_shard": 3}]),
                5,
                1,
            ),
            answer(
                json!([{"id": 2, "_rankingScore": 1.0, "_miroir_shard": 0}]),
                1,
                1,
            ),
        ];
        assert!(
            Merged::new(&answers, &MergeRules::default())
                .incomplete_nodes(1)
                .is_empty()
        );
        assert_eq!(
            Merged::new(&answers, &MergeRules::default()).incomplete_nodes(2),
            vec![0]
        );
    }

    #[test]
    fn facets_sum_and_stats_widen() {
        let mut a = answer(json!([]), 0, 1);
        a.response.insert(
            "facetDistribution".into(),
            json!({"genre": {"drama": 2, "horror": 1}, "_miroir_shard": {"1": 3}}),
        );
        a.response.insert(
            "facetStats".into(),
            json!({"price": {"min": 3.0, "max": 9.0}}),
        );
        let mut b = answer(json!([]), 0, 1);
        b.response
            .insert("facetDistribution".into(), json!({"genre": {"drama": 5}}));
        b.response.insert(
            "facetStats".into(),
            json!({"price": {"min": 1.0, "max": 4.0}}),
        );
        let answers = [a, b];
        assert_eq!(
            facet_distribution(&answers).unwrap(),
            json!({"genre": {"drama": 7, "horror": 1}})
        );
        assert_eq!(
            facet_stats(&answers).unwrap(),
            json!({"price": {"min": 1.0, "max": 9.0}})
        );
        assert!(facet_distribution(&[answer(json!([]), 0, 1)]).is_none());
    }
}
