//! The settings Miroir keeps in every index on the nodes, whatever the client sets, and hides
//! from the client.
//!
//! - **`_miroir_shard` is filterable**, first among `filterableAttributes`: shard-scoped reads
//!   (a node asked for some of the shards it holds) filter on it. With granular filterable
//!   attributes the first rule matching a field applies, so a client pattern such as
//!   `{"attributePatterns": ["_*"], …}` cannot turn its filter off.
//! - **`_miroir_shard:asc` is the last ranking rule**: a node breaks the ties of every other rule
//!   by shard, as the merge does (see [`crate::merge`]), so a node's own top `offset + limit`
//!   hits are exactly the ones the merged window needs from it, and one ask per node is enough.
//!   A rule placed last changes no `_rankingScore` (seen on Meilisearch 1.50: the score is made of
//!   the rules before the first sort-like rule) and no order but that of exact ties.
//!
//! Clients never see either: [`for_clients`] removes them from a settings object, and a client's
//! own mention of `_miroir_shard` in those two settings is dropped by [`for_nodes`].

use serde_json::{Map, Value, json};

use crate::merge::SHARD_FIELD;

/// The ranking rule Miroir appends to every index's `rankingRules` on the nodes.
pub const SHARD_RULE: &str = "_miroir_shard:asc";

/// Meilisearch's default `rankingRules` (1.50), which a reset (`null`) stands for: the nodes get
/// them with [`SHARD_RULE`] appended.
pub const DEFAULT_RANKING_RULES: [&str; 7] = [
    "words",
    "typo",
    "proximity",
    "attributeRank",
    "sort",
    "wordPosition",
    "exactness",
];

/// The settings keys this module manages.
pub const KEYS: [&str; 2] = ["filterableAttributes", "rankingRules"];

/// True for a filterable attribute or ranking rule that names `_miroir_shard` (as Miroir writes
/// it, or as a client might: `_miroir_shard:desc`).
fn names_shard(item: &Value) -> bool {
    item.as_str().is_some_and(|text| {
        text == SHARD_FIELD
            || text
                .strip_prefix(SHARD_FIELD)
                .is_some_and(|rest| rest.starts_with(':'))
    })
}

/// `settings` as the nodes must receive them: a `filterableAttributes` array gets
/// `_miroir_shard` first, a `rankingRules` array gets [`SHARD_RULE`] last (any client mention of
/// `_miroir_shard` in either removed), and `null` (reset) stands for the defaults plus Miroir's
/// item. Settings that do not name these keys are unchanged; a value of another type is left to
/// the nodes to refuse.
pub fn for_nodes(settings: &mut Map<String, Value>) {
    if let Some(value) = settings.get_mut("filterableAttributes") {
        match value {
            Value::Array(attributes) => {
                attributes.retain(|attribute| !names_shard(attribute));
                attributes.insert(0, Value::from(SHARD_FIELD));
            }
            Value::Null => *value = json!([SHARD_FIELD]),
            _ => {}
        }
    }
    if let Some(value) = settings.get_mut("rankingRules") {
        match value {
            Value::Array(rules) => {
                rules.retain(|rule| !names_shard(rule));
                rules.push(Value::from(SHARD_RULE));
            }
            Value::Null => *value = default_ranking_rules(),
            _ => {}
        }
    }
}

/// The default ranking rules with [`SHARD_RULE`] last.
fn default_ranking_rules() -> Value {
    DEFAULT_RANKING_RULES
        .iter()
        .copied()
        .chain([SHARD_RULE])
        .map(Value::from)
        .collect()
}

/// A node's settings object as clients see it: without `_miroir_shard` in `filterableAttributes` and `rankingRules`.
pub fn for_clients(settings: &mut Value) {
    for key in KEYS {
        if let Some(Value::Array(items)) = settings.get_mut(key) {
            items.retain(|item| !names_shard(item));
        }
    }
}

/// The settings Miroir writes when it creates an index on the nodes: no filterable attribute but
/// `_miroir_shard`, the default ranking rules with [`SHARD_RULE`].
pub fn creation_settings() -> Map<String, Value> {
    let mut settings: Map<String, Value> = KEYS
        .iter()
        .map(|key| ((*key).to_owned(), Value::Null))
        .collect();
    for_nodes(&mut settings);
    settings
}

/// What a node whose index has `current` settings (its full settings object, or `None` when the
/// index does not exist there) must also receive so both reserved items hold after an update
/// that changes `update` (the client's settings): each reserved key the update does not name
/// and the node lacks, with the node's value and Miroir's item (the defaults when the index does
/// not exist yet, since the update creates it). Empty when nothing is missing.
pub fn missing(current: Option<&Value>, update: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for key in KEYS {
        if update.contains_key(key) {
            continue;
        }
        let value = match current {
            None => Value::Null,
            Some(settings) => match settings.get(key) {
                Some(Value::Array(items)) if !holds_reserved(key, items) => {
                    Value::Array(items.clone())
                }
                _ => continue,
            },
        };
        patch.insert(key.to_owned(), value);
    }
    for_nodes(&mut patch);
    patch
}

/// True when `items` (the node's value of reserved `key`) holds Miroir's item where it must be:
/// `_miroir_shard` first among the filterable attributes, [`SHARD_RULE`] last among the rules.
fn holds_reserved(key: &str, items: &[Value]) -> bool {
    match key {
        "filterableAttributes" => items.iter().any(|item| item.as_str() == Some(SHARD_FIELD)),
        _ => items.last().and_then(Value::as_str) == Some(SHARD_RULE),
    }
}

/// How a facet search of a name under `_miroir_shard` is answered in the client's view of an
/// index (see [`reserved_facet_search`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReservedFacetSearch {
    /// The client's own filterable attributes make the name facet-searchable, and no document of
    /// the client's holds the field: no values.
    NoValues,
    /// Meilisearch's `invalid_facet_search_facet_name` refusal, with this message.
    Refused(String),
}

/// The answer to a facet search of `facet_name` on an index whose node settings are `settings`
/// (`GET /indexes/{uid}/settings` of a node), when the name is `_miroir_shard` or a field nested
/// under it: the nodes would search it as Miroir's own filterable attribute (rule #0 there), so
/// it is answered as Meilisearch answers it with the client's rules alone
/// ([`for_clients`]): the first rule matching the name decides (a plain attribute name matches
/// itself and the fields nested under it and enables facet search; `attributePatterns` match `*`,
/// `prefix*`, `*suffix`, `*infix*` or the exact name, and enable it with
/// `features.facetSearch: true`). `None` for any other name: the nodes' answer stands.
pub fn reserved_facet_search(settings: &Value, facet_name: &str) -> Option<ReservedFacetSearch> {
    if !is_nested_in(facet_name, SHARD_FIELD) {
        return None;
    }
    let mut client = settings.clone();
    for_clients(&mut client);
    let rules: &[Value] = client
        .get("filterableAttributes")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let matched = rules
        .iter()
        .enumerate()
        .find(|(_, rule)| rule_matches(rule, facet_name));
    let refusal = match matched {
        Some((_, rule)) if enables_facet_search(rule) => {
            return Some(ReservedFacetSearch::NoValues);
        }
        Some((position, _)) => format!(
            "Note: this attribute matches rule #{position} in filterableAttributes, but this rule \
             does not enable facetSearch.\nHint: enable facetSearch in rule #{position} by adding \
             `\"facetSearch\": true` to the rule.\nHint: prepend another rule matching \
             {facet_name} with facetSearch: true before rule #{position}"
        ),
        None => {
            let (shown, hidden) =
                facet_searchable_patterns(rules, client.get("displayedAttributes"));
            if shown.is_empty() {
                "This index does not have configured facet-searchable attributes. To make it \
                 facet-searchable add it to the `filterableAttributes` index settings."
                    .to_owned()
            } else {
                let list: Vec<&str> = shown.iter().map(String::as_str).collect();
                format!(
                    "Available facet-searchable attributes patterns are: `{}{}`. To make it \
                     facet-searchable add it to the `filterableAttributes` index settings.",
                    list.join(", "),
                    if hidden {
                        ", <..hidden-attributes>"
                    } else {
                        ""
                    }
                )
            }
        }
    };
    Some(ReservedFacetSearch::Refused(format!(
        "Attribute `{facet_name}` is not facet-searchable. {refusal}"
    )))
}

/// True when `field` is `parent` or a field nested under it (`parent.child`), Meilisearch's
/// `is_faceted_by`.
fn is_nested_in(field: &str, parent: &str) -> bool {
    field
        .strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Whether a `filterableAttributes` rule matches `field` (Meilisearch's `match_str` giving
/// `Match`): an attribute name matches itself and what is nested under it; a pattern matches as
/// Meilisearch's `match_pattern`.
fn rule_matches(rule: &Value, field: &str) -> bool {
    match rule {
        Value::String(name) => is_nested_in(field, name),
        Value::Object(_) => rule_patterns(rule).any(|pattern| pattern_matches(pattern, field)),
        _ => false,
    }
}

/// The `attributePatterns` of a granular rule.
fn rule_patterns(rule: &Value) -> impl Iterator<Item = &str> {
    rule.get("attributePatterns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Meilisearch's `match_pattern` giving `Match`.
fn pattern_matches(pattern: &str, field: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) => field.contains(&pattern[1..pattern.len() - 1]),
        (Some(suffix), None) => field.ends_with(suffix),
        (None, Some(prefix)) => field.starts_with(prefix),
        (None, None) => pattern == field,
    }
}

/// Whether a rule enables facet search: always for an attribute name, for a granular rule when
/// its `features.facetSearch` is true (Meilisearch's default for granular rules is false).
fn enables_facet_search(rule: &Value) -> bool {
    match rule {
        Value::String(_) => true,
        _ => rule
            .get("features")
            .and_then(|features| features.get("facetSearch"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

/// The names and patterns of the facet-searchable rules that Meilisearch lists in a refusal
/// (sorted, each once), without those `displayedAttributes` hides, and whether any was hidden.
fn facet_searchable_patterns(
    rules: &[Value],
    displayed: Option<&Value>,
) -> (std::collections::BTreeSet<String>, bool) {
    let mut patterns = std::collections::BTreeSet::new();
    for rule in rules.iter().filter(|rule| enables_facet_search(rule)) {
        match rule {
            Value::String(name) => {
                patterns.insert(name.clone());
            }
            _ => patterns.extend(rule_patterns(rule).map(str::to_owned)),
        }
    }
    let listed: Option<Vec<&str>> = displayed
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .filter(|items: &Vec<&str>| !items.contains(&"*"));
    let Some(listed) = listed else {
        return (patterns, false);
    };
    let count = patterns.len();
    patterns.retain(|pattern| listed.contains(&pattern.as_str()));
    let hidden = patterns.len() < count;
    (patterns, hidden)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn the_shard_field_is_kept_first_and_once() {
        let mut settings = object(json!({"filterableAttributes": ["genre", SHARD_FIELD, "year"]}));
        for_nodes(&mut settings);
        assert_eq!(
            settings["filterableAttributes"],
            json!([SHARD_FIELD, "genre", "year"])
        );
        let mut granular = object(json!({"filterableAttributes": [
            {"attributePatterns": ["_*"], "features": {"filter": {"equality": false}}}
        ]}));
        for_nodes(&mut granular);
        assert_eq!(granular["filterableAttributes"][0], json!(SHARD_FIELD));
        let mut reset = object(json!({"filterableAttributes": null}));
        for_nodes(&mut reset);
        assert_eq!(reset["filterableAttributes"], json!([SHARD_FIELD]));
        let mut other = object(json!({"synonyms": {"a": ["b"]}}));
        for_nodes(&mut other);
        assert_eq!(other, object(json!({"synonyms": {"a": ["b"]}})));
    }

    #[test]
    fn the_shard_rule_is_kept_last_and_once() {
        let mut settings = object(json!({"rankingRules": [
            "_miroir_shard:desc", "words", "year:desc", SHARD_RULE, "exactness"
        ]}));
        for_nodes(&mut settings);
        assert_eq!(
            settings["rankingRules"],
            json!(["words", "year:desc", "exactness", SHARD_RULE])
        );
        let mut reset = object(json!({"rankingRules": null}));
        for_nodes(&mut reset);
        assert_eq!(
            reset["rankingRules"],
            json!([
                "words",
                "typo",
                "proximity",
                "attributeRank",
                "sort",
                "wordPosition",
                "exactness",
                SHARD_RULE
            ])
        );
        let mut wrong = object(json!({"rankingRules": "words"}));
        for_nodes(&mut wrong);
        assert_eq!(wrong["rankingRules"], json!("words"));
    }

    #[test]
    fn clients_never_see_either() {
        let mut settings = json!({
            "filterableAttributes": [SHARD_FIELD, "genre"],
            "rankingRules": ["words", SHARD_RULE],
        });
        for_clients(&mut settings);
        assert_eq!(
            settings,
            json!({"filterableAttributes": ["genre"], "rankingRules": ["words"]})
        );
    }

    #[test]
    fn creation_sets_both() {
        let settings = creation_settings();
        assert_eq!(settings["filterableAttributes"], json!([SHARD_FIELD]));
        assert_eq!(settings["rankingRules"].as_array().unwrap().len(), 8);
    }

    #[test]
    fn a_node_missing_an_item_gets_it_with_its_own_values() {
        let update = object(json!({"synonyms": {}}));
        let node = json!({"filterableAttributes": ["genre"], "rankingRules": ["words", "typo"]});
        assert_eq!(
            Value::Object(missing(Some(&node), &update)),
            json!({
                "filterableAttributes": [SHARD_FIELD, "genre"],
                "rankingRules": ["words", "typo", SHARD_RULE],
            })
        );
        let healthy =
            json!({"filterableAttributes": [SHARD_FIELD], "rankingRules": ["words", SHARD_RULE]});
        assert!(missing(Some(&healthy), &update).is_empty());
        // A key the update names is the update's business.
        let naming = object(json!({"rankingRules": ["words"]}));
        assert_eq!(
            Value::Object(missing(Some(&node), &naming)),
            json!({"filterableAttributes": [SHARD_FIELD, "genre"]})
        );
        // No index yet: the update creates it, with both defaults.
        assert_eq!(missing(None, &update), creation_settings());
    }

    #[test]
    fn only_names_under_the_shard_field_are_answered_here() {
        let settings = json!({"filterableAttributes": [SHARD_FIELD, "genre"]});
        assert_eq!(reserved_facet_search(&settings, "genre"), None);
        assert_eq!(reserved_facet_search(&settings, "_miroir_shards"), None);
        assert_eq!(reserved_facet_search(&settings, "_miroir"), None);
        assert!(reserved_facet_search(&settings, "_miroir_shard").is_some());
        assert!(reserved_facet_search(&settings, "_miroir_shard.x").is_some());
    }

    #[test]
    fn the_shard_field_is_refused_as_meilisearch_refuses_an_attribute_it_does_not_know() {
        let refused = |settings: Value| match reserved_facet_search(&settings, SHARD_FIELD) {
            Some(ReservedFacetSearch::Refused(message)) => message,
            other => panic!("{other:?}"),
        };
        // Meilisearch 1.50's words, with the client's own rules only.
        assert_eq!(
            refused(
                json!({"filterableAttributes": [SHARD_FIELD, "year", "genre",
                {"attributePatterns": ["tag*", "genre"], "features": {"facetSearch": true}},
                {"attributePatterns": ["off*"], "features": {"facetSearch": false}}],
                "displayedAttributes": ["*"]})
            ),
            "Attribute `_miroir_shard` is not facet-searchable. Available facet-searchable \
             attributes patterns are: `genre, tag*, year`. To make it facet-searchable add it to \
             the `filterableAttributes` index settings."
        );
        assert_eq!(
            refused(json!({"filterableAttributes": [SHARD_FIELD]})),
            "Attribute `_miroir_shard` is not facet-searchable. This index does not have \
             configured facet-searchable attributes. To make it facet-searchable add it to the \
             `filterableAttributes` index settings."
        );
        assert_eq!(
            refused(
                json!({"filterableAttributes": [SHARD_FIELD, "genre", "year"],
                "displayedAttributes": ["genre", "title"]})
            ),
            "Attribute `_miroir_shard` is not facet-searchable. Available facet-searchable \
             attributes patterns are: `genre, <..hidden-attributes>`. To make it \
             facet-searchable add it to the `filterableAttributes` index settings."
        );
        // A rule of the client's matches without enabling facet search: named by the client's
        // number (the nodes' #2).
        assert_eq!(
            refused(json!({"filterableAttributes": [SHARD_FIELD, "genre",
                {"attributePatterns": ["_*"], "features": {"facetSearch": false}}]})),
            "Attribute `_miroir_shard` is not facet-searchable. Note: this attribute matches \
             rule #1 in filterableAttributes, but this rule does not enable facetSearch.\nHint: \
             enable facetSearch in rule #1 by adding `\"facetSearch\": true` to the rule.\nHint: \
             prepend another rule matching _miroir_shard with facetSearch: true before rule #1"
        );
    }

    #[test]
    fn a_client_rule_enabling_facet_search_of_the_name_finds_no_values() {
        for rules in [
            json!([SHARD_FIELD, {"attributePatterns": ["*"], "features": {"facetSearch": true}}]),
            json!([SHARD_FIELD, {"attributePatterns": ["*shard"], "features": {"facetSearch": true}}]),
            json!([SHARD_FIELD, {"attributePatterns": ["*miroir*"], "features": {"facetSearch": true}}]),
            json!([SHARD_FIELD, {"attributePatterns": ["_miroir_shard"], "features": {"facetSearch": true}}]),
        ] {
            let settings = json!({"filterableAttributes": rules});
            assert_eq!(
                reserved_facet_search(&settings, SHARD_FIELD),
                Some(ReservedFacetSearch::NoValues),
                "{settings}"
            );
        }
        // A plain name is an attribute, not a pattern.
        let star = json!({"filterableAttributes": [SHARD_FIELD, "*"]});
        assert!(matches!(
            reserved_facet_search(&star, SHARD_FIELD),
            Some(ReservedFacetSearch::Refused(_))
        ));
    }
}
