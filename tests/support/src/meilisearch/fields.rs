//! Attribute paths in documents: what `genre` or `author.name` designates in a document, for
//! filters, facets, sorting and field selection.
//!
//! A path is looked up as Meilisearch flattens documents: `a.b` is the key `a.b` itself or the key
//! `b` inside the object `a`; arrays on the way are traversed element by element.

use serde_json::{Map, Value};

/// Every value at `path` in `document` (empty when the attribute does not exist). Arrays met on
/// the way are traversed; an array found at the end is returned as one value.
pub(crate) fn lookup<'a>(document: &'a Map<String, Value>, path: &str) -> Vec<&'a Value> {
    let mut found = Vec::new();
    lookup_in_object(document, path, &mut found);
    found
}

fn lookup_in_object<'a>(object: &'a Map<String, Value>, path: &str, found: &mut Vec<&'a Value>) {
    if let Some(value) = object.get(path) {
        found.push(value);
    }
    for (split, _) in path.match_indices('.') {
        let (head, rest) = (&path[..split], &path[split + 1..]);
        if let Some(value) = object.get(head) {
            lookup_in_value(value, rest, found);
        }
    }
}

fn lookup_in_value<'a>(value: &'a Value, path: &str, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(object) => lookup_in_object(object, path, found),
        Value::Array(items) => {
            for item in items {
                lookup_in_value(item, path, found);
            }
        }
        _ => {}
    }
}

/// The scalar values among `values`, arrays flattened (nested arrays too); objects are skipped.
pub(crate) fn leaves<'a>(values: &[&'a Value]) -> Vec<&'a Value> {
    let mut flat = Vec::new();
    for value in values {
        push_leaves(value, &mut flat);
    }
    flat
}

fn push_leaves<'a>(value: &'a Value, flat: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                push_leaves(item, flat);
            }
        }
        Value::Object(_) => {}
        scalar => flat.push(scalar),
    }
}

/// `document` restricted to the top-level attributes `fields` names (`*` = all); `None` keeps
/// every attribute. A name `a.b` keeps the top-level attribute `a.b` or the nested field `b` of
/// object `a`.
pub(crate) fn select(
    document: &Map<String, Value>,
    fields: Option<&[String]>,
) -> Map<String, Value> {
    let Some(fields) = fields else {
        return document.clone();
    };
    if fields.iter().any(|field| field == "*") {
        return document.clone();
    }
    let mut selected = Map::new();
    for field in fields {
        if let Some(value) = document.get(field) {
            selected.insert(field.clone(), value.clone());
            continue;
        }
        if let Some((head, rest)) = field.split_once('.') {
            if let Some(Value::Object(inner)) = document.get(head) {
                let nested = select(inner, Some(&[rest.to_owned()]));
                if !nested.is_empty() {
                    let entry = selected
                        .entry(head.to_owned())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(entry) = entry {
                        entry.extend(nested);
                    }
                }
            }
        }
    }
    selected
}

/// A number as Meilisearch prints a facet value: through `f64` (`1.0` → `1`, `1.5` → `1.5`).
pub(crate) fn number_text(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(float) => float.to_string(),
        None => number.to_string(),
    }
}

/// Lower-cases `text` and splits it into words of alphanumeric characters.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    text.split(|character: char| !character.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn paths_reach_nested_values_through_arrays() {
        let document = object(json!({
            "genres": ["a", ["b"]],
            "author": {"name": "Ann"},
            "cast": [{"name": "X"}, {"name": "Y"}],
            "a.b": 1
        }));
        assert_eq!(lookup(&document, "author.name"), vec![&json!("Ann")]);
        assert_eq!(
            lookup(&document, "cast.name"),
            vec![&json!("X"), &json!("Y")]
        );
        assert_eq!(lookup(&document, "a.b"), vec![&json!(1)]);
        assert!(lookup(&document, "missing").is_empty());
        assert_eq!(
            leaves(&lookup(&document, "genres")),
            vec![&json!("a"), &json!("b")]
        );
    }

    #[test]
    fn selection_keeps_named_fields() {
        let document = object(json!({"id": 1, "title": "T", "meta": {"year": 2000, "x": 1}}));
        let fields = vec![
            "title".to_owned(),
            "meta.year".to_owned(),
            "nope".to_owned(),
        ];
        assert_eq!(
            Value::Object(select(&document, Some(&fields))),
            json!({"title": "T", "meta": {"year": 2000}})
        );
        assert_eq!(select(&document, None), document);
    }

    #[test]
    fn words_and_numbers() {
        assert_eq!(tokenize("Hello, World-42!"), vec!["hello", "world", "42"]);
        assert_eq!(number_text(&serde_json::Number::from(3)), "3");
        let float = serde_json::Number::from_f64(1.0).unwrap_or(serde_json::Number::from(0));
        assert_eq!(number_text(&float), "1");
    }
}
