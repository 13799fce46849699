//! The request body of `POST /_miroir/rollover` and the checks made on it before the store is
//! touched, and the JSON forms the policy's parts are stored in (plan §4 table 12:
//! `triggers_json {max_docs, max_age, max_size_gb}`, `retention_json {keep_indexes}`,
//! `template_json {primary_key, settings_ref}`).

use miroir_core::{ApiError, Code};
use miroir_store::RolloverPolicy;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use miroir_http::object::object;

/// The longest policy name or settings profile name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// The longest alias name or index uid, in bytes (Meilisearch's index uid bound, as enforced by
/// `GET /tasks?indexUids=`).
pub const MAX_INDEX_UID_BYTES: usize = 400;

/// The longest primary key attribute, in bytes (Meilisearch's bound).
pub const MAX_PRIMARY_KEY_BYTES: usize = 512;

/// The most digits the `*` placeholder of a pattern is counted as (a `u64` sequence number).
const STAR_DIGITS: usize = 20;

/// The body of `POST /_miroir/rollover`: the plan's `rollover_policies:` entry, in camelCase.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = RolloverPolicyBody)]
pub(crate) struct PolicyBody {
    /// The policy name: 1 to 255 bytes of ASCII letters, digits, `-` and `_`.
    #[schema(example = "logs-ilm")]
    name: String,
    /// The single-target alias writes go to; flipped to each new index.
    #[schema(example = "logs")]
    write_alias: String,
    /// The multi-target alias reads fan out over: the last `retention.keepIndexes` indexes.
    #[schema(example = "logs-search")]
    read_alias: String,
    /// The name of the indexes the policy creates: index uid characters around exactly one
    /// placeholder, `*` (a sequence number) or a date `{…}` of `YYYY`, `MM`, `DD`, `HH`
    /// separated by nothing, `-` or `_`, with `YYYY`.
    #[schema(example = "logs-{YYYY-MM-DD}")]
    pattern: String,
    /// When to roll over: at least one trigger.
    #[serde(deserialize_with = "object")]
    rollover_triggers: TriggersBody,
    /// How many indexes to keep.
    #[serde(deserialize_with = "object")]
    retention: RetentionBody,
    /// How the new indexes are created.
    #[serde(deserialize_with = "object")]
    index_template: TemplateBody,
    /// Whether the ILM job evaluates the policy (default `true`).
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// `rolloverTriggers`: any one that fires rolls the write alias over.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = RolloverTriggersBody)]
pub(crate) struct TriggersBody {
    /// Roll over once the write index holds this many documents (at least 1).
    #[serde(default)]
    #[schema(example = 10_000_000)]
    max_docs: Option<u64>,
    /// Roll over once the write index is this old: a positive whole number and a unit, `s`,
    /// `m`, `h`, `d` or `w`.
    #[serde(default)]
    #[schema(example = "7d")]
    max_age: Option<String>,
    /// Roll over once the write index is this large, in GB (more than 0).
    #[serde(default)]
    #[schema(value_type = Option<f64>, example = 50)]
    max_size_gb: Option<serde_json::Number>,
}

/// `retention`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = RolloverRetentionBody)]
pub(crate) struct RetentionBody {
    /// How many indexes to keep (at least 1); older ones are deleted.
    #[schema(example = 30)]
    keep_indexes: u32,
}

/// `indexTemplate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = RolloverIndexTemplateBody)]
pub(crate) struct TemplateBody {
    /// The primary key of every new index (Miroir routes documents by it).
    #[schema(example = "event_id")]
    primary_key: String,
    /// A named settings profile applied to every new index.
    #[serde(default)]
    #[schema(example = "logs-settings")]
    settings_ref: Option<String>,
}

/// `triggers_json` as stored.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct StoredTriggers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_docs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_age: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_size_gb: Option<serde_json::Number>,
}

/// `retention_json` as stored.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct StoredRetention {
    pub(crate) keep_indexes: u32,
}

/// `template_json` as stored.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct StoredTemplate {
    pub(crate) primary_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) settings_ref: Option<String>,
}

pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, message)
}

/// `bad_request` unless `value` is 1 to `max` bytes of ASCII letters, digits, `-` and `_`.
fn check_word(field: &str, value: &str, max: usize, what: &str) -> Result<(), ApiError> {
    let valid = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        return Ok(());
    }
    let rule = format!("1 to {max} bytes of ASCII letters, digits, `-` and `_`");
    Err(bad_request(if field.is_empty() {
        format!("Invalid {what} `{value}` in the path: a {what} is {rule}.")
    } else {
        format!("Invalid value in `{field}`: `{value}` is not a valid {what}: {rule}.")
    }))
}

/// `bad_request` naming `field` (the path when empty) unless `name` is a valid policy name.
pub(crate) fn check_policy_name(field: &str, name: &str) -> Result<(), ApiError> {
    check_word(field, name, MAX_NAME_BYTES, "policy name")
}

/// `bad_request` unless `duration` is a positive whole number and one of `s m h d w`.
fn check_duration(field: &str, duration: &str) -> Result<(), ApiError> {
    let (number, unit) = duration.split_at(duration.len().saturating_sub(1));
    let valid = matches!(unit, "s" | "m" | "h" | "d" | "w")
        && !number.is_empty()
        && number.len() <= 9
        && number.bytes().all(|byte| byte.is_ascii_digit())
        && !number.starts_with('0');
    if valid {
        Ok(())
    } else {
        Err(bad_request(format!(
            "Invalid value in `{field}`: `{duration}` is not a duration: a positive whole number \
             followed by `s`, `m`, `h`, `d` or `w`, such as `7d`."
        )))
    }
}

/// The longest index uid `pattern` can produce, or why it is not a pattern.
fn pattern_length(pattern: &str) -> Result<usize, String> {
    let mut literal = 0;
    let mut placeholders = 0;
    let mut rendered = 0;
    let mut rest = pattern;
    while let Some(character) = rest.chars().next() {
        match character {
            '*' => {
                placeholders += 1;
                rendered += STAR_DIGITS;
                rest = &rest[1..];
            }
            '{' => {
                let Some(end) = rest.find('}') else {
                    return Err("a `{` is never closed".to_owned());
                };
                placeholders += 1;
                rendered += date_length(&rest[1..end])?;
                rest = &rest[end + 1..];
            }
            '}' => return Err("a `}` closes nothing".to_owned()),
            other if other.is_ascii_alphanumeric() || other == '-' || other == '_' => {
                literal += 1;
                rest = &rest[1..];
            }
            other => {
                return Err(format!(
                    "`{other}` is not an index uid character (ASCII letters, digits, `-`, `_`)"
                ));
            }
        }
    }
    if placeholders != 1 {
        return Err(format!(
            "it has {placeholders} placeholders; it needs exactly one, `*` or a date such as \
             `{{YYYY-MM-DD}}`"
        ));
    }
    if literal == 0 {
        return Err("it has no fixed part, so it would match every index".to_owned());
    }
    Ok(literal + rendered)
}

/// The length of a date placeholder's rendering, or why it is not one.
fn date_length(format: &str) -> Result<usize, String> {
    let mut rest = format;
    let mut seen: Vec<&str> = Vec::new();
    let mut length = 0;
    let mut expect_token = true;
    while !rest.is_empty() {
        if expect_token {
            let Some(token) = ["YYYY", "MM", "DD", "HH"]
                .into_iter()
                .find(|token| rest.starts_with(token))
            else {
                return Err(format!(
                    "the date `{{{format}}}` must be made of `YYYY`, `MM`, `DD` and `HH`, \
                     separated by nothing, `-` or `_`"
                ));
            };
            if seen.contains(&token) {
                return Err(format!("the date `{{{format}}}` has `{token}` twice"));
            }
            seen.push(token);
            length += token.len();
            rest = &rest[token.len()..];
            expect_token = false;
        } else if rest.starts_with('-') || rest.starts_with('_') {
            length += 1;
            rest = &rest[1..];
            expect_token = true;
        } else {
            expect_token = true;
        }
    }
    if expect_token {
        return Err(format!(
            "the date `{{{format}}}` is empty or ends with a separator"
        ));
    }
    if !seen.contains(&"YYYY") {
        return Err(format!("the date `{{{format}}}` has no `YYYY`"));
    }
    Ok(length)
}

impl PolicyBody {
    /// The policy, once every field is checked: `bad_request` naming the first bad one.
    pub(crate) fn into_policy(self) -> Result<RolloverPolicy, ApiError> {
        check_policy_name("name", &self.name)?;
        check_word(
            "writeAlias",
            &self.write_alias,
            MAX_INDEX_UID_BYTES,
            "alias name",
        )?;
        check_word(
            "readAlias",
            &self.read_alias,
            MAX_INDEX_UID_BYTES,
            "alias name",
        )?;
        if self.write_alias == self.read_alias {
            return Err(bad_request(format!(
                "Invalid value in `readAlias`: `{}` is also the `writeAlias`; writes go to one \
                 index and reads span several, so they need two aliases.",
                self.read_alias
            )));
        }
        let longest = pattern_length(&self.pattern).map_err(|reason| {
            bad_request(format!(
                "Invalid value in `pattern`: `{}` is not an index name pattern: {reason}.",
                self.pattern
            ))
        })?;
        if longest > MAX_INDEX_UID_BYTES {
            return Err(bad_request(format!(
                "Invalid value in `pattern`: `{}` can make index uids of {longest} bytes, over \
                 the {MAX_INDEX_UID_BYTES} an index uid may have.",
                self.pattern
            )));
        }
        let triggers = self.rollover_triggers;
        if triggers.max_docs.is_none()
            && triggers.max_age.is_none()
            && triggers.max_size_gb.is_none()
        {
            return Err(bad_request(
                "Invalid value in `rolloverTriggers`: give at least one of `maxDocs`, `maxAge` \
                 and `maxSizeGb`.",
            ));
        }
        if triggers.max_docs == Some(0) {
            return Err(bad_request(
                "Invalid value in `rolloverTriggers.maxDocs`: 0; it must be at least 1.",
            ));
        }
        if let Some(age) = &triggers.max_age {
            check_duration("rolloverTriggers.maxAge", age)?;
        }
        if let Some(size) = &triggers.max_size_gb {
            if size.as_f64().is_none_or(|size| size <= 0.0) {
                return Err(bad_request(format!(
                    "Invalid value in `rolloverTriggers.maxSizeGb`: {size}; it must be more \
                     than 0."
                )));
            }
        }
        if self.retention.keep_indexes == 0 {
            return Err(bad_request(
                "Invalid value in `retention.keepIndexes`: 0; at least 1 index must be kept.",
            ));
        }
        let template = self.index_template;
        check_word(
            "indexTemplate.primaryKey",
            &template.primary_key,
            MAX_PRIMARY_KEY_BYTES,
            "primary key",
        )?;
        if let Some(settings) = &template.settings_ref {
            check_word(
                "indexTemplate.settingsRef",
                settings,
                MAX_NAME_BYTES,
                "settings profile name",
            )?;
        }
        Ok(RolloverPolicy {
            name: self.name,
            write_alias: self.write_alias,
            read_alias: self.read_alias,
            pattern: self.pattern,
            triggers: to_json(&StoredTriggers {
                max_docs: triggers.max_docs,
                max_age: triggers.max_age,
                max_size_gb: triggers.max_size_gb,
            })?,
            retention: to_json(&StoredRetention {
                keep_indexes: self.retention.keep_indexes,
            })?,
            template: to_json(&StoredTemplate {
                primary_key: template.primary_key,
                settings_ref: template.settings_ref,
            })?,
            enabled: self.enabled,
        })
    }
}

fn to_json(value: &impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::new(Code::Internal, "internal error"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn patterns_have_one_placeholder_and_a_fixed_part() {
        for (pattern, longest) in [
            ("logs-{YYYY-MM-DD}", 15),
            ("logs-{YYYYMMDD}", 13),
            ("{YYYY_MM}_audit", 13),
            ("logs-{YYYY-MM-DD-HH}", 18),
            ("logs-*", 25),
            ("a*", 21),
        ] {
            assert_eq!(pattern_length(pattern), Ok(longest), "{pattern}");
        }
        for pattern in [
            "logs",
            "*",
            "{YYYY}",
            "logs-**",
            "logs-{YYYY}-*",
            "logs-{YYYY",
            "logs-YYYY}",
            "logs-{}",
            "logs-{MM-DD}",
            "logs-{YYYY-YYYY}",
            "logs-{YYYY-}",
            "logs-{-YYYY}",
            "logs-{YYYY--MM}",
            "logs-{YYYY.MM}",
            "logs-{yyyy}",
            "logs.{YYYY}",
            "logs {YYYY}",
            "",
        ] {
            assert!(pattern_length(pattern).is_err(), "{pattern}");
        }
    }

    #[test]
    fn durations_are_a_positive_number_and_a_unit() {
        for duration in ["7d", "1s", "90m", "12h", "2w", "999999999d"] {
            assert!(check_duration("f", duration).is_ok(), "{duration}");
        }
        for duration in [
            "",
            "d",
            "0d",
            "07d",
            "7",
            "7y",
            "-7d",
            "7 d",
            "1.5d",
            "1000000000d",
            "7D",
        ] {
            assert!(check_duration("f", duration).is_err(), "{duration}");
        }
    }
}
