//! Merging the answers of a covering set to one facet search (`POST /indexes/{uid}/facet-search`)
//! into the answer of one Meilisearch node holding every document.
//!
//! # What a node answers (Meilisearch 1.50)
//!
//! A node lists the string (and boolean) values of the facet held by the documents matching `q`
//! and `filter`, once per *normalized* value ([`normalized`]: trimmed, NFKD, lowercase, cut at 468
//! bytes: `Drama`, `drama ` and `DRAMA` are one value, counted together, shown in the spelling of
//! one of its documents), at most `faceting.maxValuesPerFacet` of them (default 100), in the
//! order `faceting.sortFacetValuesBy` gives the facet (its own entry, else `*`, else `alpha`):
//!
//! - `alpha`: the first values by normalized spelling, compared by bytes. With a `facetQuery`
//!   (even empty) the node walks its facet-search dictionary instead, whose keys are *folded*
//!   ([`folded`]: accents removed, `æ`/`œ` as `ae`/`oe`, typographic apostrophes as `'`): values by
//!   folded spelling, then by normalized spelling.
//! - `count`: the values with the most documents, by count descending, then by shown value
//!   descending (bytes). The node walks the values in the `alpha` order above, keeping the best
//!   `max` in a heap where a value replaces the least kept one when its count is at least as
//!   high, so at the cut the later of equal counts win.
//!
//! # Merge
//!
//! Values are grouped by normalized spelling (the spelling shown is the first answer's), their
//! counts summed, and the union is walked, cut and ordered exactly as one node would walk, cut and
//! order it ([`merge`]). In `alpha` order that is exact: a value among the first `max` of the union
//! is among the first `max` of every node holding it, so every node listed it. In `count` order it
//! is exact when no node returned `max` values; a node that did may have left out values whose
//! count there is at most its least listed one, which the merge then counts low or misses (a
//! node's list cannot be made longer for one request: `maxValuesPerFacet` is an index setting).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Meilisearch's `MAX_FACET_VALUE_LENGTH`: a normalized facet value is cut to this many bytes (at
/// a character boundary), so values that agree up to there are one value.
const MAX_FACET_VALUE_BYTES: usize = 468;

/// Meilisearch's default `faceting.maxValuesPerFacet`.
pub const DEFAULT_MAX_VALUES_PER_FACET: usize = 100;

/// One facet value of a facet search: `{"value", "count"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetHit {
    /// The value, as one of its documents spells it.
    pub value: String,
    /// How many matching documents hold it.
    pub count: u64,
}

/// One node's facet-search answer, as far as the merge reads it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeFacetAnswer {
    /// The node's values, in its order.
    pub facet_hits: Vec<FacetHit>,
    /// The node's processing time.
    #[serde(default)]
    pub processing_time_ms: u64,
}

/// How a facet's values are ordered (`faceting.sortFacetValuesBy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FacetOrder {
    /// `alpha` (the default).
    #[default]
    Alpha,
    /// `count`.
    Count,
}

/// What the merge needs of an index's `faceting` settings for one facet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FacetCut {
    /// The facet's order.
    pub order: FacetOrder,
    /// `maxValuesPerFacet`: how many values an answer holds at most.
    pub max_values: usize,
}

impl FacetCut {
    /// The cut of facet `facet_name` in an index whose settings (`GET /indexes/{uid}/settings`,
    /// or just its `faceting` object under that key) are `settings`: `sortFacetValuesBy`'s entry
    /// for the exact name, else its `*` entry, else `alpha` (Meilisearch matches no pattern
    /// there); `maxValuesPerFacet`, else 100.
    pub fn of(settings: &Value, facet_name: &str) -> Self {
        let faceting = settings.get("faceting");
        let by = faceting.and_then(|faceting| faceting.get("sortFacetValuesBy"));
        let order = match by
            .and_then(|by| by.get(facet_name).or_else(|| by.get("*")))
            .and_then(Value::as_str)
        {
            Some("count") => FacetOrder::Count,
            _ => FacetOrder::Alpha,
        };
        let max_values = faceting
            .and_then(|faceting| faceting.get("maxValuesPerFacet"))
            .and_then(Value::as_u64)
            .map_or(DEFAULT_MAX_VALUES_PER_FACET, |max| {
                usize::try_from(max).unwrap_or(usize::MAX)
            });
        Self { order, max_values }
    }
}

/// A facet value as Meilisearch stores it (its `normalize_facet`, then the key length cut): the
/// value trimmed, each character in compatibility decomposition (NFKD), lowercased, cut to
/// [`MAX_FACET_VALUE_BYTES`] at a character boundary. Two spellings are one value exactly when
/// their normalized forms are equal.
pub fn normalized(value: &str) -> String {
    let decomposed: String = value
        .trim()
        .chars()
        .flat_map(|character| std::iter::once(character).nfkd())
        .collect();
    let mut lowered = decomposed.to_lowercase();
    if lowered.len() > MAX_FACET_VALUE_BYTES {
        let mut end = MAX_FACET_VALUE_BYTES;
        while !lowered.is_char_boundary(end) {
            end -= 1;
        }
        lowered.truncate(end);
    }
    lowered
}

/// A normalized value as the keys of a node's facet-search dictionary spell it (the lossy part of
/// Meilisearch's normalizer, for text in Latin letters): combining marks removed (`é` → `e`),
/// `æ` → `ae`, `œ` → `oe`, `’` `‘` `‛` → `'`. Values with letters of another script are left
/// as they are (Meilisearch's normalizers for other scripts are not reproduced).
pub fn folded(normalized: &str) -> String {
    let latin = normalized.chars().all(|character| {
        !character.is_alphabetic()
            || (character as u32) < 0x0250
            || (0x1E00..=0x1EFF).contains(&(character as u32))
    });
    if !latin {
        return normalized.to_owned();
    }
    let mut folded = String::with_capacity(normalized.len());
    for character in normalized.chars() {
        match character {
            character if is_combining_mark(character) => {}
            'æ' => folded.push_str("ae"),
            'œ' => folded.push_str("oe"),
            '’' | '‘' | '‛' => folded.push('\''),
            character => folded.push(character),
        }
    }
    folded
}

/// The facet hits of `answers` merged as one node holding all their documents answers (see the
/// module docs): values grouped by [`normalized`] spelling with their counts summed, walked in the
/// node's order (by [`folded`] then normalized spelling when `with_query`, the request having a
/// `facetQuery`; by normalized spelling otherwise), cut and ordered by `cut`.
pub fn merge(answers: &[NodeFacetAnswer], cut: FacetCut, with_query: bool) -> Vec<FacetHit> {
    let mut values: BTreeMap<(String, String), FacetHit> = BTreeMap::new();
    for hit in answers.iter().flat_map(|answer| &answer.facet_hits) {
        let normalized = normalized(&hit.value);
        let walk = if with_query {
            folded(&normalized)
        } else {
            String::new()
        };
        values
            .entry((walk, normalized))
            .and_modify(|kept| kept.count += hit.count)
            .or_insert_with(|| hit.clone());
    }
    let walked = values.into_values();
    match cut.order {
        FacetOrder::Alpha => walked.take(cut.max_values).collect(),
        FacetOrder::Count => {
            let mut kept: BinaryHeap<Reverse<(u64, String)>> = BinaryHeap::new();
            for hit in walked {
                if kept.len() < cut.max_values {
                    kept.push(Reverse((hit.count, hit.value)));
                } else if let Some(mut least) = kept.peek_mut()
                    && least.0.0 <= hit.count
                {
                    *least = Reverse((hit.count, hit.value));
                }
            }
            kept.into_sorted_vec()
                .into_iter()
                .map(|Reverse((count, value))| FacetHit { value, count })
                .collect()
        }
    }
}

/// The largest `processingTimeMs` of the answers.
pub fn processing_time_ms(answers: &[NodeFacetAnswer]) -> u64 {
    answers
        .iter()
        .map(|answer| answer.processing_time_ms)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(hits: &[(&str, u64)]) -> NodeFacetAnswer {
        NodeFacetAnswer {
            facet_hits: hits
                .iter()
                .map(|&(value, count)| FacetHit {
                    value: value.to_owned(),
                    count,
                })
                .collect(),
            processing_time_ms: 0,
        }
    }

    fn pairs(hits: &[FacetHit]) -> Vec<(&str, u64)> {
        hits.iter()
            .map(|hit| (hit.value.as_str(), hit.count))
            .collect()
    }

    fn cut(order: FacetOrder, max_values: usize) -> FacetCut {
        FacetCut { order, max_values }
    }

    #[test]
    fn values_are_normalized_as_meilisearch_stores_them() {
        assert_eq!(normalized("  DRAMA "), "drama");
        assert_eq!(normalized("Éclair"), "e\u{301}clair");
        assert_eq!(normalized("ﬁsh"), "fish");
        assert_eq!(folded(&normalized("Éclair")), "eclair");
        assert_eq!(folded(&normalized("Æon")), "aeon");
        assert_eq!(folded(&normalized("Œuf")), "oeuf");
        assert_eq!(folded(&normalized("L’Oréal")), "l'oreal");
        assert_eq!(folded(&normalized("Ωmega")), "ωmega");
        // Seen on Meilisearch 1.50: values equal up to byte 468 of their normalized form are one.
        let long = "x".repeat(467);
        assert_eq!(
            normalized(&format!("{long}é1")),
            normalized(&format!("{long}é2"))
        );
        assert_eq!(normalized(&format!("{long}é1")).len(), 468);
        assert_ne!(
            normalized(&format!("{long}a")),
            normalized(&format!("{long}b"))
        );
    }

    #[test]
    fn alpha_order_sums_spellings_and_cuts_the_union() {
        // Seen on one Meilisearch 1.50 node holding all of them: comedy 2, Drama 4, eclair,
        // Éclair, ﬁsh 2, horror, true, x1, Zulu.
        let answers = [
            answer(&[("Drama", 2), ("eclair", 1), ("ﬁsh", 1), ("true", 1)]),
            answer(&[("comedy", 2), ("drama", 2), ("Éclair", 1), ("fish", 1)]),
            answer(&[("horror", 1), ("x1", 1), ("Zulu", 1)]),
        ];
        let merged = merge(&answers, cut(FacetOrder::Alpha, 100), false);
        assert_eq!(
            pairs(&merged),
            [
                ("comedy", 2),
                ("Drama", 4),
                ("eclair", 1),
                ("Éclair", 1),
                ("ﬁsh", 2),
                ("horror", 1),
                ("true", 1),
                ("x1", 1),
                ("Zulu", 1)
            ]
        );
        let cut_short = merge(&answers, cut(FacetOrder::Alpha, 2), false);
        assert_eq!(pairs(&cut_short), [("comedy", 2), ("Drama", 4)]);
        assert!(merge(&answers, cut(FacetOrder::Alpha, 0), false).is_empty());
    }

    #[test]
    fn a_facet_query_walks_folded_spellings() {
        // Seen on Meilisearch 1.50: `facetQuery: "a"` → aeon, Æon, afa; no query → aeon, afa, …, Æon.
        let answers = [answer(&[("afa", 1), ("Æon", 1)]), answer(&[("aeon", 1)])];
        assert_eq!(
            pairs(&merge(&answers, cut(FacetOrder::Alpha, 10), true)),
            [("aeon", 1), ("Æon", 1), ("afa", 1)]
        );
        assert_eq!(
            pairs(&merge(&answers, cut(FacetOrder::Alpha, 10), false)),
            [("aeon", 1), ("afa", 1), ("Æon", 1)]
        );
    }

    #[test]
    fn count_order_keeps_the_later_of_equal_counts_at_the_cut() {
        // Seen on Meilisearch 1.50 with `maxValuesPerFacet: 3`: B 2, zeta 1, a 1 (Alpha left out);
        // with 100: B 2, zeta 1, a 1, Alpha 1.
        let answers = [
            answer(&[("B", 1), ("a", 1), ("Alpha", 1)]),
            answer(&[("b", 1), ("zeta", 1)]),
        ];
        assert_eq!(
            pairs(&merge(&answers, cut(FacetOrder::Count, 3), false)),
            [("B", 2), ("zeta", 1), ("a", 1)]
        );
        assert_eq!(
            pairs(&merge(&answers, cut(FacetOrder::Count, 100), false)),
            [("B", 2), ("zeta", 1), ("a", 1), ("Alpha", 1)]
        );
        assert!(merge(&answers, cut(FacetOrder::Count, 0), false).is_empty());
    }

    #[test]
    fn the_cut_comes_from_the_faceting_settings() {
        let settings = json!({"faceting": {"maxValuesPerFacet": 7,
            "sortFacetValuesBy": {"*": "alpha", "genre": "count", "gen*": "alpha"}}});
        assert_eq!(FacetCut::of(&settings, "genre"), cut(FacetOrder::Count, 7));
        assert_eq!(FacetCut::of(&settings, "genres"), cut(FacetOrder::Alpha, 7));
        let star = json!({"faceting": {"sortFacetValuesBy": {"*": "count"}}});
        assert_eq!(FacetCut::of(&star, "x"), cut(FacetOrder::Count, 100));
        assert_eq!(FacetCut::of(&json!({}), "x"), cut(FacetOrder::Alpha, 100));
    }

    #[test]
    fn the_slowest_node_gives_the_time() {
        let mut slow = answer(&[]);
        slow.processing_time_ms = 9;
        assert_eq!(processing_time_ms(&[answer(&[]), slow]), 9);
        assert_eq!(processing_time_ms(&[]), 0);
    }
}
