//! Merging the answers of a covering set into one Meilisearch search response (plan §3 "Result
//! merger").
//!
//! # Order
//!
//! Hits are ordered by `_rankingScore` descending, then by shard ascending, then by their position
//! in the node's answer. Replicas of a shard receive the same writes in the same order, so a
//! shard's tied hits come out in the same order from every replica: the order depends on the
//! data, not on which replica or group answered, and consecutive pages never overlap or skip.
//!
//! # Truncation
//!
//! A node asked for `n` hits that returns `n` may hold more. Its missing hits score at most its
//! last returned score, and a missing hit of that same score may belong to a lower shard and so
//! come earlier. [`Merged::incomplete_nodes`] names the nodes whose missing hits could still
//! enter the requested window; the caller asks them again with a larger limit.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The reserved fields Miroir adds to documents; never shown to clients.
pub const SHARD_FIELD: &str = "_miroir_shard";

/// The ranking score field Meilisearch adds with `showRankingScore`.
pub const SCORE_FIELD: &str = "_rankingScore";

/// One node's search answer.
#[derive(Clone, Debug)]
pub struct NodeAnswer {
    /// The node's response object (`hits`, `estimatedTotalHits` or `totalHits`,
    /// `facetDistribution`, `facetStats`, `processingTimeMs`).
    pub response: Map<String, Value>,
    /// How many hits the node was asked for.
    pub requested: usize,
}

impl NodeAnswer {
    fn hits(&self) -> &[Value] {
        self.response
            .get("hits")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// True when the node may hold more matching hits than it returned.
    pub fn truncated(&self) -> bool {
        self.hits().len() >= self.requested && self.total() > self.hits().len() as u64
    }

    /// The node's count of matching documents (`totalHits` or `estimatedTotalHits`).
    pub fn total(&self) -> u64 {
        ["totalHits", "estimatedTotalHits"]
            .iter()
            .find_map(|key| self.response.get(*key).and_then(Value::as_u64))
            .unwrap_or(0)
    }
}

/// A hit's place in the merged order.
#[derive(Clone, Copy, Debug)]
struct Ranked {
    score: f64,
    shard: u64,
    position: usize,
    node: usize,
}

fn score_of(hit: &Value) -> f64 {
    hit.get(SCORE_FIELD).and_then(Value::as_f64).unwrap_or(0.0)
}

fn shard_of(hit: &Value) -> u64 {
    hit.get(SHARD_FIELD)
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX)
}

fn order(a: &Ranked, b: &Ranked) -> Ordering {
    b.score
        .partial_cmp(&a.score)
        .unwrap_or(Ordering::Equal)
        .then(a.shard.cmp(&b.shard))
        .then(a.position.cmp(&b.position))
        .then(a.node.cmp(&b.node))
}

/// The covering set's answers in merged order.
#[derive(Debug)]
pub struct Merged<'a> {
    answers: &'a [NodeAnswer],
    ranked: Vec<Ranked>,
}

impl<'a> Merged<'a> {
    /// Orders every hit of `answers`.
    pub fn new(answers: &'a [NodeAnswer]) -> Self {
        let mut ranked: Vec<Ranked> = answers
            .iter()
            .enumerate()
            .flat_map(|(node, answer)| {
                answer
                    .hits()
                    .iter()
                    .enumerate()
                    .map(move |(position, hit)| Ranked {
                        score: score_of(hit),
                        shard: shard_of(hit),
                        position,
                        node,
                    })
            })
            .collect();
        ranked.sort_by(order);
        Self { answers, ranked }
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
            .enumerate()
            .filter(|(_, answer)| answer.truncated())
            .filter(|(_, answer)| {
                let last = answer.hits().last().map_or(f64::INFINITY, score_of);
                // The window's last hit must beat every hit this node may still hold.
                boundary.is_none_or(|hit| hit.score <= last)
            })
            .map(|(index, _)| index)
            .collect()
    }

    /// Number of merged hits.
    pub fn len(&self) -> usize {
        self.ranked.len()
    }

    /// True when no node returned a hit.
    pub fn is_empty(&self) -> bool {
        self.ranked.is_empty()
    }

    /// The hits at merged positions `offset..offset + limit`, cleaned for the client: reserved
    /// fields removed, `_rankingScore` kept only if `keep_score`.
    pub fn page(&self, offset: usize, limit: usize, keep_score: bool) -> Vec<Value> {
        self.ranked
            .iter()
            .skip(offset)
            .take(limit)
            .map(|ranked| {
                let mut hit = self.answers[ranked.node].hits()[ranked.position].clone();
                clean_document(&mut hit);
                if !keep_score && let Some(object) = hit.as_object_mut() {
                    object.remove(SCORE_FIELD);
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
        NodeAnswer {
            response: json!({"hits": hits, "estimatedTotalHits": total, "processingTimeMs": total})
                .as_object()
                .unwrap()
                .clone(),
            requested,
        }
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
        let merged = Merged::new(&answers);
        let page = merged.page(0, 10, false);
        let ids: Vec<u64> = page.iter().map(|hit| hit["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, [3, 1, 4, 2]);
        assert_eq!(page[0], json!({"id": 3}));
        assert_eq!(
            merged.page(1, 1, true),
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
        let merged = Merged::new(&answers);
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
        assert!(Merged::new(&answers).incomplete_nodes(1).is_empty());
        assert_eq!(Merged::new(&answers).incomplete_nodes(2), vec![0]);
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
