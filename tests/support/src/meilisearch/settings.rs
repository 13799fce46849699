//! Index settings: Meilisearch's defaults, validation of an update at enqueue time, and how an
//! update is merged into the current settings when its task is processed.
//!
//! An index always holds its full settings object (defaults included), so `GET …/settings` is a
//! copy. An update replaces each key it names; `null` resets that key to its default; the object
//! settings `typoTolerance`, `faceting` and `pagination` are merged key by key (as Meilisearch
//! does). `filterableAttributes`, `sortableAttributes` and `stopWords` are returned sorted and
//! deduplicated, like Meilisearch's sets.

use serde_json::{Map, Value, json};

use super::error::{ApiError, describe};

/// The settings sub-routes (`/indexes/{uid}/settings/<route>`) and the key each one stands for.
const SUB_ROUTES: &[(&str, &str)] = &[
    ("displayed-attributes", "displayedAttributes"),
    ("searchable-attributes", "searchableAttributes"),
    ("filterable-attributes", "filterableAttributes"),
    ("sortable-attributes", "sortableAttributes"),
    ("ranking-rules", "rankingRules"),
    ("stop-words", "stopWords"),
    ("non-separator-tokens", "nonSeparatorTokens"),
    ("separator-tokens", "separatorTokens"),
    ("dictionary", "dictionary"),
    ("synonyms", "synonyms"),
    ("distinct-attribute", "distinctAttribute"),
    ("proximity-precision", "proximityPrecision"),
    ("typo-tolerance", "typoTolerance"),
    ("faceting", "faceting"),
    ("pagination", "pagination"),
    ("embedders", "embedders"),
    ("search-cutoff-ms", "searchCutoffMs"),
    ("localized-attributes", "localizedAttributes"),
    ("facet-search", "facetSearch"),
    ("prefix-search", "prefixSearch"),
];

/// Keys whose object value is merged key by key instead of replaced.
const MERGED_KEYS: &[&str] = &["typoTolerance", "faceting", "pagination"];

/// Keys whose value is a set: sorted and deduplicated when stored.
const SET_KEYS: &[&str] = &["filterableAttributes", "sortableAttributes", "stopWords"];

/// The setting key of sub-route `route` (`filterable-attributes` → `filterableAttributes`).
pub(crate) fn key_of_route(route: &str) -> Option<&'static str> {
    SUB_ROUTES
        .iter()
        .find(|(name, _)| *name == route)
        .map(|(_, key)| *key)
}

/// Meilisearch's default settings of a new index (v1.12).
pub(crate) fn defaults() -> Map<String, Value> {
    let value = json!({
        "displayedAttributes": ["*"],
        "searchableAttributes": ["*"],
        "filterableAttributes": [],
        "sortableAttributes": [],
        "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"],
        "stopWords": [],
        "nonSeparatorTokens": [],
        "separatorTokens": [],
        "dictionary": [],
        "synonyms": {},
        "distinctAttribute": null,
        "proximityPrecision": "byWord",
        "typoTolerance": {
            "enabled": true,
            "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
            "disableOnWords": [],
            "disableOnAttributes": []
        },
        "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
        "pagination": {"maxTotalHits": 1000},
        "embedders": {},
        "searchCutoffMs": null,
        "localizedAttributes": null,
        "facetSearch": true,
        "prefixSearch": "indexingTime"
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The shape a setting's value must have (besides `null`, always accepted: reset).
#[derive(Clone, Copy)]
enum Shape {
    Strings,
    StringsOrObjects,
    Synonyms,
    String,
    Object,
    Integer,
    Boolean,
    Array,
}

fn shape_of(key: &str) -> Option<Shape> {
    Some(match key {
        "displayedAttributes"
        | "searchableAttributes"
        | "sortableAttributes"
        | "rankingRules"
        | "stopWords"
        | "nonSeparatorTokens"
        | "separatorTokens"
        | "dictionary" => Shape::Strings,
        "filterableAttributes" => Shape::StringsOrObjects,
        "synonyms" => Shape::Synonyms,
        "distinctAttribute" | "proximityPrecision" | "prefixSearch" => Shape::String,
        "typoTolerance" | "faceting" | "pagination" | "embedders" => Shape::Object,
        "searchCutoffMs" => Shape::Integer,
        "facetSearch" => Shape::Boolean,
        "localizedAttributes" => Shape::Array,
        _ => return None,
    })
}

fn has_shape(value: &Value, shape: Shape) -> bool {
    let all_strings = |items: &Vec<Value>| items.iter().all(Value::is_string);
    match (shape, value) {
        (_, Value::Null) => true,
        (Shape::Strings, Value::Array(items)) => all_strings(items),
        (Shape::StringsOrObjects, Value::Array(items)) => items
            .iter()
            .all(|item| item.is_string() || item.is_object()),
        (Shape::Synonyms, Value::Object(map)) => map
            .values()
            .all(|value| value.as_array().is_some_and(all_strings)),
        (Shape::String, Value::String(_))
        | (Shape::Object, Value::Object(_))
        | (Shape::Boolean, Value::Bool(_))
        | (Shape::Array, Value::Array(_)) => true,
        (Shape::Integer, Value::Number(number)) => number.is_u64(),
        _ => false,
    }
}

fn expected(shape: Shape) -> &'static str {
    match shape {
        Shape::Strings => "an array of strings",
        Shape::StringsOrObjects => "an array of strings or objects",
        Shape::Synonyms => "an object of arrays of strings",
        Shape::String => "a string",
        Shape::Object => "an object",
        Shape::Integer => "a positive integer",
        Shape::Boolean => "a boolean",
        Shape::Array => "an array",
    }
}

/// `filterableAttributes` → `filterable_attributes`.
fn snake_case(key: &str) -> String {
    let mut snake = String::new();
    for character in key.chars() {
        if character.is_ascii_uppercase() {
            snake.push('_');
            snake.push(character.to_ascii_lowercase());
        } else {
            snake.push(character);
        }
    }
    snake
}

/// Checks a settings update before it is enqueued: known keys only (else 400 `bad_request`) and
/// values of the right type (else 400 `invalid_settings_<key>`).
pub(crate) fn validate(update: &Map<String, Value>) -> Result<(), ApiError> {
    for (key, value) in update {
        let Some(shape) = shape_of(key) else {
            let known: Vec<String> = SUB_ROUTES
                .iter()
                .map(|(_, key)| format!("`{key}`"))
                .collect();
            return Err(ApiError::bad_request(format!(
                "Unknown field `{key}`: expected one of {}",
                known.join(", ")
            )));
        };
        if !has_shape(value, shape) {
            return Err(ApiError::new(
                format!("invalid_settings_{}", snake_case(key)),
                format!(
                    "Invalid value type at `.{key}`: expected {}, but found {}",
                    expected(shape),
                    describe(value)
                ),
            ));
        }
    }
    Ok(())
}

/// Every setting reset: the update `DELETE /indexes/{uid}/settings` stands for.
pub(crate) fn reset_all() -> Map<String, Value> {
    defaults()
        .keys()
        .map(|key| (key.clone(), Value::Null))
        .collect()
}

/// Merges a validated `update` into the full `current` settings.
pub(crate) fn apply(current: &mut Map<String, Value>, update: &Map<String, Value>) {
    let defaults = defaults();
    for (key, value) in update {
        let default = defaults.get(key).cloned().unwrap_or(Value::Null);
        let merged = if value.is_null() {
            default
        } else if MERGED_KEYS.contains(&key.as_str()) {
            let mut base = current.get(key).cloned().unwrap_or(default.clone());
            merge(&mut base, value, &default);
            base
        } else if SET_KEYS.contains(&key.as_str()) {
            normalize_set(value)
        } else {
            value.clone()
        };
        current.insert(key.clone(), merged);
    }
}

/// Deep merge of `patch` into `base`; a `null` in `patch` resets the key to `default`'s.
fn merge(base: &mut Value, patch: &Value, default: &Value) {
    let (Value::Object(base_map), Value::Object(patch_map)) = (&mut *base, patch) else {
        *base = patch.clone();
        return;
    };
    for (key, patch_value) in patch_map {
        let default_value = default.get(key).cloned().unwrap_or(Value::Null);
        if patch_value.is_null() {
            base_map.insert(key.clone(), default_value);
        } else if patch_value.is_object() && default_value.is_object() {
            let mut nested = base_map.get(key).cloned().unwrap_or(default_value.clone());
            merge(&mut nested, patch_value, &default_value);
            base_map.insert(key.clone(), nested);
        } else {
            base_map.insert(key.clone(), patch_value.clone());
        }
    }
}

/// A list of strings sorted and deduplicated (objects, for granular filterable attributes, are
/// kept after the strings, in their order).
fn normalize_set(value: &Value) -> Value {
    let Value::Array(items) = value else {
        return value.clone();
    };
    let mut strings: Vec<String> = items
        .iter()
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect();
    strings.sort();
    strings.dedup();
    let mut normalized: Vec<Value> = strings.into_iter().map(Value::String).collect();
    normalized.extend(items.iter().filter(|item| !item.is_string()).cloned());
    Value::Array(normalized)
}

/// The strings of list setting `key`.
pub(crate) fn string_list(settings: &Map<String, Value>, key: &str) -> Vec<String> {
    settings
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The filterable attribute patterns: the strings, plus the `attributePatterns` of granular
/// (object) entries.
pub(crate) fn filterable(settings: &Map<String, Value>) -> Vec<String> {
    let mut patterns = Vec::new();
    for item in settings
        .get("filterableAttributes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match item {
            Value::String(pattern) => patterns.push(pattern.clone()),
            Value::Object(object) => patterns.extend(
                object
                    .get("attributePatterns")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|pattern| pattern.as_str().map(str::to_owned)),
            ),
            _ => {}
        }
    }
    patterns
}

/// Whether `attribute` is covered by one of `patterns`: equal, `*`, a parent object (`a` covers
/// `a.b`), or a pattern with a leading or trailing `*` (`*_id`, `price*`).
pub(crate) fn covers(patterns: &[String], attribute: &str) -> bool {
    patterns.iter().any(|pattern| {
        if pattern == "*" || pattern == attribute {
            return true;
        }
        if attribute
            .strip_prefix(pattern.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
        {
            return true;
        }
        if let Some(suffix) = pattern.strip_prefix('*') {
            return attribute.ends_with(suffix);
        }
        if let Some(prefix) = pattern.strip_suffix('*') {
            return attribute.starts_with(prefix);
        }
        false
    })
}

/// The `maxValuesPerFacet` and `maxTotalHits` limits.
pub(crate) fn max_values_per_facet(settings: &Map<String, Value>) -> usize {
    nested_usize(settings, "faceting", "maxValuesPerFacet", 100)
}

/// `pagination.maxTotalHits`: how many ranked documents a search can ever reach.
pub(crate) fn max_total_hits(settings: &Map<String, Value>) -> usize {
    nested_usize(settings, "pagination", "maxTotalHits", 1000)
}

fn nested_usize(settings: &Map<String, Value>, key: &str, field: &str, default: usize) -> usize {
    settings
        .get(key)
        .and_then(|object| object.get(field))
        .and_then(Value::as_u64)
        .and_then(|value| usize::try_from(value).ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn updates_replace_merge_and_reset() {
        let mut settings = defaults();
        let update = object(json!({
            "filterableAttributes": ["genre", "year", "genre"],
            "pagination": {"maxTotalHits": 50},
            "typoTolerance": {"minWordSizeForTypos": {"oneTypo": 4}}
        }));
        assert_eq!(validate(&update), Ok(()));
        apply(&mut settings, &update);
        assert_eq!(settings["filterableAttributes"], json!(["genre", "year"]));
        assert_eq!(max_total_hits(&settings), 50);
        assert_eq!(
            settings["typoTolerance"]["minWordSizeForTypos"],
            json!({"oneTypo": 4, "twoTypos": 9})
        );
        apply(&mut settings, &reset_all());
        assert_eq!(settings, defaults());
    }

    #[test]
    fn validation_names_the_setting() {
        let error = validate(&object(json!({"filterableAttributes": "genre"})));
        assert_eq!(
            error.map_err(|error| error.code().to_owned()),
            Err("invalid_settings_filterable_attributes".to_owned())
        );
        let error = validate(&object(json!({"nope": 1})));
        assert_eq!(
            error.map_err(|error| error.code().to_owned()),
            Err("bad_request".to_owned())
        );
    }

    #[test]
    fn patterns_cover_attributes() {
        let patterns = vec!["genre".to_owned(), "*_id".to_owned(), "meta".to_owned()];
        assert!(covers(&patterns, "genre"));
        assert!(covers(&patterns, "author_id"));
        assert!(covers(&patterns, "meta.year"));
        assert!(!covers(&patterns, "genres"));
        assert!(!covers(&patterns, "metadata"));
    }
}
