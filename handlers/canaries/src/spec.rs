//! The body of `POST /_miroir/canaries`: one entry of plan §13.18's `canaries:` YAML schema, as
//! JSON with the same snake_case keys, checked key by key. Every refusal is `bad_request`
//! naming the offending key path (`assertions[1].k`, `query.limit`, …).

use std::collections::BTreeSet;
use std::fmt::Display;

use miroir_core::{ApiError, Code, IndexUid};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Shortest `interval_s`.
pub const MIN_INTERVAL_S: u64 = 10;
/// Longest `interval_s` (one day).
pub const MAX_INTERVAL_S: u64 = 86_400;
/// Longest canary name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most assertions per canary.
pub const MAX_ASSERTIONS: usize = 50;
/// Most document ids in one assertion's `ids`.
pub const MAX_IDS: usize = 100;
/// Largest `query.limit` (and so `top_k_contains.k`).
pub const MAX_QUERY_LIMIT: u64 = 1000;
/// Meilisearch's default `limit`, used when the query has none.
pub const DEFAULT_QUERY_LIMIT: u64 = 20;
/// Longest `query.q`, in characters.
pub const MAX_Q_CHARS: usize = 1000;
/// Largest `max_p95_ms` threshold (ten minutes).
pub const MAX_P95_MS: u64 = 600_000;

/// Names that would collide with the fixed routes beside `/_miroir/canaries/{name}`.
pub const RESERVED_NAMES: &[&str] = &["status", "capture"];

/// The search parameters a canary's `query` may hold (Meilisearch's names, camelCase).
pub const QUERY_PARAMETERS: &[&str] = &[
    "q",
    "limit",
    "offset",
    "filter",
    "sort",
    "matchingStrategy",
    "attributesToSearchOn",
];

/// Every assertion type of plan §13.18 and the parameters it takes (all required).
pub const ASSERTION_TYPES: &[(&str, &[&str])] = &[
    ("top_hit_id", &["value"]),
    ("top_k_contains", &["k", "ids"]),
    ("min_hits", &["value"]),
    ("max_p95_ms", &["value"]),
    ("settings_version_at_least", &["value"]),
    ("must_not_contain_id", &["ids"]),
];

/// A canary definition: one entry of plan §13.18's `canaries:` schema. (`query` and
/// `assertions` are checked by hand, to name the paths of bad values.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CanaryDefinition)]
pub(crate) struct Body {
    /// The canary's identifier: 1 to 128 ASCII letters, digits, `-` and `_`; not `status` or
    /// `capture`.
    name: String,
    /// The index (or alias) to query.
    index: String,
    /// Seconds between runs, 10 to 86400 (default 60).
    #[serde(default)]
    #[schema(value_type = Option<u32>, minimum = 10, maximum = 86400)]
    interval_s: Option<Value>,
    /// Whether the runner schedules it (default true).
    #[serde(default = "default_enabled")]
    #[schema(default = true)]
    enabled: bool,
    /// A Meilisearch search body: `q`, `limit` (1 to 1000), `offset`, `filter`, `sort`,
    /// `matchingStrategy`, `attributesToSearchOn`.
    #[schema(value_type = Object)]
    query: Value,
    /// 1 to 50 assertions, each `{"type": …}` with its parameters: `top_hit_id {value}`,
    /// `top_k_contains {k, ids}`, `min_hits {value}`, `max_p95_ms {value}`,
    /// `settings_version_at_least {value}`, `must_not_contain_id {ids}`.
    #[schema(value_type = Vec<Object>)]
    assertions: Value,
}

/// `interval_s` when the body has none.
pub const DEFAULT_INTERVAL_S: u64 = 60;

fn default_enabled() -> bool {
    true
}

/// A checked canary definition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CanarySpec {
    pub(crate) name: String,
    pub(crate) index: String,
    pub(crate) interval_s: u32,
    pub(crate) enabled: bool,
    pub(crate) query: Value,
    pub(crate) assertions: Value,
}

/// Checks a request body.
pub(crate) fn parse(body: Value) -> Result<CanarySpec, ApiError> {
    if !body.is_object() {
        return Err(ApiError::new(
            Code::BadRequest,
            format!(
                "Invalid canary: expected a JSON object, found {}.",
                describe(&body)
            ),
        ));
    }
    let body: Body = serde_path_to_error::deserialize(body).map_err(|error| {
        let path = error.path().to_string();
        let reason = error.into_inner().to_string();
        if path == "." || reason.starts_with("unknown field") {
            ApiError::new(Code::BadRequest, format!("Invalid canary: {reason}."))
        } else {
            refuse(&path, reason)
        }
    })?;
    check_name("name", &body.name)?;
    check_index_uid(&body.index)?;
    let interval_s = match &body.interval_s {
        None => DEFAULT_INTERVAL_S,
        Some(seconds) => integer("interval_s", seconds, MIN_INTERVAL_S, MAX_INTERVAL_S)?,
    };
    let limit = check_query(&body.query)?;
    check_assertions(&body.assertions, limit)?;
    Ok(CanarySpec {
        name: body.name,
        index: body.index,
        interval_s: u32::try_from(interval_s).unwrap_or(u32::MAX),
        enabled: body.enabled,
        query: body.query,
        assertions: body.assertions,
    })
}

/// A canary name: 1 to [`MAX_NAME_BYTES`] ASCII letters, digits, `-` and `_`, not reserved.
/// `what` names the value in the error (`name`, or the path parameter).
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if !valid {
        return Err(refuse(
            what,
            format!(
                "`{}` is not a canary name: 1 to {MAX_NAME_BYTES} ASCII letters, digits, hyphens (-) and underscores (_)",
                shorten(name)
            ),
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(refuse(
            what,
            format!(
                "`{name}` is reserved: {} are routes under `/_miroir/canaries/`",
                names(RESERVED_NAMES)
            ),
        ));
    }
    Ok(())
}

/// Meilisearch's index uid rule: 1 to 400 bytes of ASCII letters, digits, `-` and `_`.
fn check_index_uid(uid: &str) -> Result<(), ApiError> {
    if IndexUid::is_valid(uid) {
        Ok(())
    } else {
        Err(refuse(
            "index",
            format!(
                "`{}` is not a valid index uid: 1 to 400 ASCII letters, digits, hyphens (-) and underscores (_)",
                shorten(uid)
            ),
        ))
    }
}

/// Checks the search body and returns its effective `limit`.
fn check_query(query: &Value) -> Result<u64, ApiError> {
    let Value::Object(query) = query else {
        return Err(refuse(
            "query",
            format!("expected a search object, found {}", describe(query)),
        ));
    };
    if let Some(unknown) = query
        .keys()
        .find(|key| !QUERY_PARAMETERS.contains(&key.as_str()))
    {
        return Err(refuse(
            &format!("query.{}", shorten(unknown)),
            format!(
                "unknown search parameter, expected one of {}",
                names(QUERY_PARAMETERS)
            ),
        ));
    }
    match query.get("q") {
        None | Some(Value::Null) => {}
        Some(Value::String(q)) if q.chars().count() <= MAX_Q_CHARS => {}
        Some(Value::String(_)) => {
            return Err(refuse(
                "query.q",
                format!("longer than {MAX_Q_CHARS} characters"),
            ));
        }
        Some(other) => {
            return Err(refuse(
                "query.q",
                format!("expected a string or null, found {}", describe(other)),
            ));
        }
    }
    let limit = match query.get("limit") {
        None => DEFAULT_QUERY_LIMIT,
        Some(limit) => integer("query.limit", limit, 1, MAX_QUERY_LIMIT)?,
    };
    if let Some(offset) = query.get("offset") {
        integer("query.offset", offset, 0, u64::from(u32::MAX))?;
    }
    match query.get("filter") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Array(items)) => {
            for (position, item) in items.iter().enumerate() {
                let path = format!("query.filter[{position}]");
                match item {
                    Value::String(_) => {}
                    Value::Array(inner) => {
                        for (inner_position, value) in inner.iter().enumerate() {
                            if !value.is_string() {
                                return Err(refuse(
                                    &format!("{path}[{inner_position}]"),
                                    format!("expected a string, found {}", describe(value)),
                                ));
                            }
                        }
                    }
                    other => {
                        return Err(refuse(
                            &path,
                            format!(
                                "expected a string or an array of strings, found {}",
                                describe(other)
                            ),
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(refuse(
                "query.filter",
                format!(
                    "expected a filter string, an array of filters or null, found {}",
                    describe(other)
                ),
            ));
        }
    }
    for name in ["sort", "attributesToSearchOn"] {
        string_list(query, name)?;
    }
    match query.get("matchingStrategy") {
        None | Some(Value::Null) => {}
        Some(Value::String(strategy))
            if ["last", "all", "frequency"].contains(&strategy.as_str()) => {}
        Some(other) => {
            return Err(refuse(
                "query.matchingStrategy",
                format!(
                    "expected one of `last`, `all`, `frequency`, found {}",
                    describe(other)
                ),
            ));
        }
    }
    Ok(limit)
}

/// `query.<name>`, if present, is null or an array of non-empty strings.
fn string_list(query: &Map<String, Value>, name: &str) -> Result<(), ApiError> {
    match query.get(name) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) => {
            for (position, item) in items.iter().enumerate() {
                match item {
                    Value::String(text) if !text.is_empty() => {}
                    other => {
                        return Err(refuse(
                            &format!("query.{name}[{position}]"),
                            format!("expected a non-empty string, found {}", describe(other)),
                        ));
                    }
                }
            }
            Ok(())
        }
        Some(other) => Err(refuse(
            &format!("query.{name}"),
            format!(
                "expected an array of strings or null, found {}",
                describe(other)
            ),
        )),
    }
}

/// Checks every assertion against plan §13.18's types; `limit` is the query's page size.
fn check_assertions(assertions: &Value, limit: u64) -> Result<(), ApiError> {
    let Value::Array(assertions) = assertions else {
        return Err(refuse(
            "assertions",
            format!(
                "expected an array of assertions, found {}",
                describe(assertions)
            ),
        ));
    };
    if assertions.is_empty() || assertions.len() > MAX_ASSERTIONS {
        return Err(refuse(
            "assertions",
            format!(
                "expected 1 to {MAX_ASSERTIONS} assertions, found {}",
                assertions.len()
            ),
        ));
    }
    for (position, assertion) in assertions.iter().enumerate() {
        check_assertion(&format!("assertions[{position}]"), assertion, limit)?;
    }
    Ok(())
}

fn check_assertion(path: &str, assertion: &Value, limit: u64) -> Result<(), ApiError> {
    let Value::Object(fields) = assertion else {
        return Err(refuse(
            path,
            format!(
                "expected an assertion object, found {}",
                describe(assertion)
            ),
        ));
    };
    let type_names = || names(ASSERTION_TYPES.iter().map(|(name, _)| name));
    let kind = match fields.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => {
            return Err(refuse(
                &format!("{path}.type"),
                format!(
                    "expected an assertion type, one of {}, found {}",
                    type_names(),
                    describe(other)
                ),
            ));
        }
        None => {
            return Err(refuse(
                &format!("{path}.type"),
                format!("missing; expected one of {}", type_names()),
            ));
        }
    };
    let Some((_, parameters)) = ASSERTION_TYPES.iter().find(|(name, _)| *name == kind) else {
        return Err(refuse(
            &format!("{path}.type"),
            format!(
                "unknown assertion type `{}`, expected one of {}",
                shorten(kind),
                type_names()
            ),
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|key| *key != "type" && !parameters.contains(&key.as_str()))
    {
        return Err(refuse(
            &format!("{path}.{}", shorten(unknown)),
            format!(
                "unknown parameter for `{kind}`, which takes {}",
                names(*parameters)
            ),
        ));
    }
    let parameter = |name: &str| {
        fields.get(name).ok_or_else(|| {
            refuse(
                &format!("{path}.{name}"),
                format!("missing; `{kind}` takes {}", names(*parameters)),
            )
        })
    };
    let at = |name: &str| format!("{path}.{name}");
    match kind {
        "top_hit_id" => document_id(&at("value"), parameter("value")?),
        "top_k_contains" => {
            let k = parameter("k")?;
            if let Some(k) = k.as_u64().filter(|k| *k > limit) {
                return Err(refuse(
                    &at("k"),
                    format!(
                        "{k} is more than the query's limit ({limit}): the canary sees only {limit} hits"
                    ),
                ));
            }
            let k = integer(&at("k"), k, 1, limit)?;
            document_ids(&at("ids"), parameter("ids")?, k, " (at most `k`)")
        }
        "min_hits" => integer(&at("value"), parameter("value")?, 1, u64::MAX).map(drop),
        "max_p95_ms" => integer(&at("value"), parameter("value")?, 1, MAX_P95_MS).map(drop),
        "settings_version_at_least" => {
            integer(&at("value"), parameter("value")?, 0, u64::MAX).map(drop)
        }
        _ => document_ids(&at("ids"), parameter("ids")?, MAX_IDS as u64, ""),
    }
}

/// A JSON integer from `min` to `max`.
fn integer(path: &str, value: &Value, min: u64, max: u64) -> Result<u64, ApiError> {
    match value.as_u64() {
        Some(number) if (min..=max).contains(&number) => Ok(number),
        _ => {
            let range = if max == u64::MAX && min == 0 {
                "a non-negative integer".to_owned()
            } else if max == u64::MAX {
                format!("an integer of at least {min}")
            } else {
                format!("an integer from {min} to {max}")
            };
            Err(refuse(
                path,
                format!("expected {range}, found {}", describe(value)),
            ))
        }
    }
}

/// A Meilisearch document id: a non-negative integer, or 1 to 511 bytes of ASCII letters,
/// digits, `-` and `_`.
fn document_id(path: &str, value: &Value) -> Result<(), ApiError> {
    let valid = match value {
        Value::Number(number) => number.is_u64(),
        Value::String(id) => {
            !id.is_empty()
                && id.len() <= 511
                && id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(refuse(
            path,
            format!(
                "expected a document id (an integer, or 1 to 511 ASCII letters, digits, hyphens and underscores), found {}",
                describe(value)
            ),
        ))
    }
}

/// A non-empty array of at most `max` distinct document ids; `bound` explains `max`.
fn document_ids(path: &str, value: &Value, max: u64, bound: &str) -> Result<(), ApiError> {
    let Value::Array(ids) = value else {
        return Err(refuse(
            path,
            format!(
                "expected an array of document ids, found {}",
                describe(value)
            ),
        ));
    };
    if ids.is_empty() || ids.len() as u64 > max {
        return Err(refuse(
            path,
            format!(
                "expected 1 to {max} document ids{bound}, found {}",
                ids.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (position, id) in ids.iter().enumerate() {
        let item = format!("{path}[{position}]");
        document_id(&item, id)?;
        if !seen.insert(id.to_string()) {
            return Err(refuse(&item, format!("{id} is listed twice")));
        }
    }
    Ok(())
}

/// `bad_request`: "Invalid value at `path`: reason."
fn refuse(path: &str, reason: impl Display) -> ApiError {
    ApiError::new(
        Code::BadRequest,
        format!("Invalid value at `{path}`: {reason}."),
    )
}

/// A JSON value's kind, with the value when short.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => format!("a boolean: `{flag}`"),
        Value::Number(number) => format!("a number: `{number}`"),
        Value::String(text) => format!("a string: `{}`", shorten(&format!("{text:?}"))),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// `text`, cut to 64 characters so that an error never echoes a huge value.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn names<T: Display>(names: impl IntoIterator<Item = T>) -> String {
    names
        .into_iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
