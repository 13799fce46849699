//! The bodies of `POST /keys` and `PATCH /keys/{key}`, checked field by field with Meilisearch's
//! codes and messages (as a real Meilisearch 1.50 answers them).

use miroir_core::keys::{ACTIONS, is_index_pattern};
use miroir_core::{ApiError, Code};
use miroir_http::describe;
use miroir_http::timefmt::floor_millis;
use miroir_store::{ApiKeyRecord, Timestamp};
use serde_json::{Map, Value};

/// The fields of `POST /keys`, in Meilisearch's order.
const CREATE_FIELDS: [&str; 6] = [
    "description",
    "name",
    "uid",
    "actions",
    "indexes",
    "expiresAt",
];

/// The new key `body` describes, created at `now`.
pub(crate) fn new_key(body: Value, now: Timestamp) -> Result<ApiKeyRecord, ApiError> {
    let fields = object(body)?;
    if let Some(unknown) = fields
        .keys()
        .find(|name| !CREATE_FIELDS.contains(&name.as_str()))
    {
        return Err(unknown_field(unknown, &CREATE_FIELDS));
    }
    let description = optional_string(&fields, "description", Code::InvalidApiKeyDescription)?;
    let name = optional_string(&fields, "name", Code::InvalidApiKeyName)?;
    let uid = match fields.get("uid") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(text)) => uuid::Uuid::try_parse(text)
            .map_err(|error| {
                ApiError::new(
                    Code::InvalidApiKeyUid,
                    format!("Invalid value at `.uid`: {error}"),
                )
            })?
            .to_string(),
        Some(other) => return Err(wrong_type("uid", "a string", other, Code::InvalidApiKeyUid)),
    };
    let actions = strings(
        &fields,
        "actions",
        Code::MissingApiKeyActions,
        Code::InvalidApiKeyActions,
        |index, action| {
            ACTIONS.contains(&action).then_some(()).ok_or_else(|| {
                let expected: Vec<String> =
                    ACTIONS.iter().map(|name| format!("`{name}`")).collect();
                format!(
                    "Unknown value `{action}` at `.actions[{index}]`: expected one of {}",
                    expected.join(", ")
                )
            })
        },
    )?;
    let indexes = strings(
        &fields,
        "indexes",
        Code::MissingApiKeyIndexes,
        Code::InvalidApiKeyIndexes,
        |index, pattern| {
            is_index_pattern(pattern).then_some(()).ok_or_else(|| {
                format!(
                    "Invalid value at `.indexes[{index}]`: `{pattern}` is not a valid index uid \
                 pattern. Index uid patterns can be an integer or a string containing only \
                 alphanumeric characters, hyphens (-), underscores (_), and optionally end with a \
                 star (*)."
                )
            })
        },
    )?;
    let expires_at = match fields.get("expiresAt") {
        None => {
            return Err(ApiError::new(
                Code::MissingApiKeyExpiresAt,
                "Missing field `expiresAt`",
            ));
        }
        Some(Value::Null) => None,
        Some(Value::String(text)) => Some(
            parse_expiry(text)
                .filter(|expiry| *expiry > now)
                .ok_or_else(|| {
                    ApiError::new(
                        Code::InvalidApiKeyExpiresAt,
                        format!(
                            "Invalid value at `.expiresAt`: `{text}` is not a valid date. It \
                             should follow the RFC 3339 format to represents a date or datetime \
                             in the future or specified as a null value. e.g. 'YYYY-MM-DD' or \
                             'YYYY-MM-DD HH:MM:SS'.\n"
                        ),
                    )
                })?,
        ),
        Some(other) => {
            return Err(wrong_type(
                "expiresAt",
                "a string",
                other,
                Code::InvalidApiKeyExpiresAt,
            ));
        }
    };
    Ok(ApiKeyRecord {
        uid,
        name,
        description,
        actions,
        indexes,
        expires_at,
        created_at: now,
        updated_at: now,
    })
}

/// What `PATCH /keys/{key}` changes.
#[derive(Debug)]
pub(crate) struct Change {
    name: Option<Option<String>>,
    description: Option<Option<String>>,
}

impl Change {
    /// Applies the change to `key` at `now`.
    pub(crate) fn apply(self, key: &mut ApiKeyRecord, now: Timestamp) {
        if let Some(name) = self.name {
            key.name = name;
        }
        if let Some(description) = self.description {
            key.description = description;
        }
        key.updated_at = now;
    }
}

/// The change `body` describes: only `name` and `description` can change.
pub(crate) fn change(body: Value) -> Result<Change, ApiError> {
    let fields = object(body)?;
    let mutable = ["description", "name"];
    for name in fields.keys() {
        let code = match name.as_str() {
            "description" | "name" => continue,
            "uid" => Code::ImmutableApiKeyUid,
            "actions" => Code::ImmutableApiKeyActions,
            "indexes" => Code::ImmutableApiKeyIndexes,
            "expiresAt" => Code::ImmutableApiKeyExpiresAt,
            "key" => Code::ImmutableApiKeyKey,
            "createdAt" => Code::ImmutableApiKeyCreatedAt,
            "updatedAt" => Code::ImmutableApiKeyUpdatedAt,
            _ => return Err(unknown_field(name, &mutable)),
        };
        return Err(ApiError::new(
            code,
            format!("Immutable field `{name}`: expected one of `description`, `name`"),
        ));
    }
    let present = |name: &str, code| {
        fields
            .contains_key(name)
            .then(|| optional_string(&fields, name, code))
            .transpose()
    };
    Ok(Change {
        description: present("description", Code::InvalidApiKeyDescription)?,
        name: present("name", Code::InvalidApiKeyName)?,
    })
}

/// An RFC 3339 date, a `YYYY-MM-DD` day or a `YYYY-MM-DD HH:MM:SS` time (UTC), as Meilisearch
/// accepts for `expiresAt`.
fn parse_expiry(text: &str) -> Option<Timestamp> {
    if let Some(date) = miroir_http::timefmt::parse_rfc3339(text) {
        return Some(floor_millis(date));
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    let moment = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text, &moment)
        .ok()
        .or_else(|| time::Date::parse(text, &day).ok().map(time::Date::midnight))
        .map(|moment| floor_millis(moment.assume_utc()))
}

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(fields) => Ok(fields),
        other => Err(ApiError::new(
            Code::BadRequest,
            format!(
                "Invalid value type: expected an object, but found {}",
                describe(&other)
            ),
        )),
    }
}

fn unknown_field(name: &str, expected: &[&str]) -> ApiError {
    let expected: Vec<String> = expected.iter().map(|name| format!("`{name}`")).collect();
    ApiError::new(
        Code::BadRequest,
        format!(
            "Unknown field `{name}`: expected one of {}",
            expected.join(", ")
        ),
    )
}

fn wrong_type(field: &str, expected: &str, found: &Value, code: Code) -> ApiError {
    ApiError::new(
        code,
        format!(
            "Invalid value type at `.{field}`: expected {expected}, but found {}",
            describe(found)
        ),
    )
}

fn optional_string(
    fields: &Map<String, Value>,
    name: &str,
    code: Code,
) -> Result<Option<String>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(wrong_type(name, "a string", other, code)),
    }
}

/// The required array of strings `name`, each checked by `check` (its message goes out with
/// `invalid`).
fn strings(
    fields: &Map<String, Value>,
    name: &str,
    missing: Code,
    invalid: Code,
    check: impl Fn(usize, &str) -> Result<(), String>,
) -> Result<Vec<String>, ApiError> {
    let items = match fields.get(name) {
        None => return Err(ApiError::new(missing, format!("Missing field `{name}`"))),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong_type(name, "an array", other, invalid)),
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(text) => check(index, text)
                .map(|()| text.clone())
                .map_err(|message| ApiError::new(invalid, message)),
            other => Err(wrong_type(
                &format!("{name}[{index}]"),
                "a string",
                other,
                invalid,
            )),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_millis(1_765_000_000_000)
    }

    /// The answers of a real Meilisearch 1.50.
    #[test]
    fn refusals_are_meilisearchs() {
        let refused = |body: Value| new_key(body, now()).unwrap_err();
        let missing = refused(json!({}));
        assert_eq!(
            (missing.code, missing.message.as_str()),
            (Code::MissingApiKeyActions, "Missing field `actions`")
        );
        let missing = refused(json!({"actions": ["search"], "expiresAt": null}));
        assert_eq!(missing.code, Code::MissingApiKeyIndexes);
        let missing = refused(json!({"actions": ["search"], "indexes": ["*"]}));
        assert_eq!(missing.code, Code::MissingApiKeyExpiresAt);
        let wrong = refused(json!({"actions": "search", "indexes": ["*"], "expiresAt": null}));
        assert_eq!(
            wrong.message,
            "Invalid value type at `.actions`: expected an array, but found a string: `\"search\"`"
        );
        let unknown = refused(json!({"actions": ["bogus"], "indexes": ["*"], "expiresAt": null}));
        assert_eq!(unknown.code, Code::InvalidApiKeyActions);
        assert!(unknown.message.starts_with(
            "Unknown value `bogus` at `.actions[0]`: expected one of `*`, `search`, `documents.*`,"
        ));
        let pattern =
            refused(json!({"actions": ["search"], "indexes": ["bad index!"], "expiresAt": null}));
        assert_eq!(pattern.code, Code::InvalidApiKeyIndexes);
        let past = refused(
            json!({"actions": ["search"], "indexes": ["*"], "expiresAt": "2020-01-01T00:00:00Z"}),
        );
        assert_eq!(past.code, Code::InvalidApiKeyExpiresAt);
        assert!(past.message.ends_with("'YYYY-MM-DD HH:MM:SS'.\n"));
        let field =
            refused(json!({"actions": ["search"], "indexes": ["*"], "expiresAt": null, "foo": 1}));
        assert_eq!(
            field.message,
            "Unknown field `foo`: expected one of `description`, `name`, `uid`, `actions`, `indexes`, `expiresAt`"
        );
        let name =
            refused(json!({"actions": ["search"], "indexes": ["*"], "expiresAt": null, "name": 5}));
        assert_eq!(
            (name.code, name.message.as_str()),
            (
                Code::InvalidApiKeyName,
                "Invalid value type at `.name`: expected a string, but found a positive integer: `5`"
            )
        );
    }

    #[test]
    fn accepted_dates_and_uids() {
        let key = new_key(
            json!({"actions": ["search"], "indexes": ["mov*"], "expiresAt": "2030-01-01 10:00:00",
                   "uid": "877E1AFA-2C4C-4AD8-B66A-2C1B54C88E7F", "name": "n"}),
            now(),
        )
        .unwrap();
        assert_eq!(key.uid, "877e1afa-2c4c-4ad8-b66a-2c1b54c88e7f");
        assert_eq!(key.expires_at, parse_expiry("2030-01-01T10:00:00Z"));
        assert_eq!(
            parse_expiry("2030-01-01"),
            parse_expiry("2030-01-01T00:00:00Z")
        );
        let fresh = new_key(
            json!({"actions": [], "indexes": [], "expiresAt": null}),
            now(),
        )
        .unwrap();
        assert_eq!(
            uuid::Uuid::parse_str(&fresh.uid).unwrap().get_version_num(),
            4
        );
    }

    #[test]
    fn only_name_and_description_change() {
        let immutable = change(json!({"expiresAt": null})).unwrap_err();
        assert_eq!(
            (immutable.code, immutable.message.as_str()),
            (
                Code::ImmutableApiKeyExpiresAt,
                "Immutable field `expiresAt`: expected one of `description`, `name`"
            )
        );
        let unknown = change(json!({"foo": 1})).unwrap_err();
        assert_eq!(
            unknown.message,
            "Unknown field `foo`: expected one of `description`, `name`"
        );
        let mut key = new_key(json!({"actions": [], "indexes": [], "expiresAt": null, "name": "a", "description": "d"}), now()).unwrap();
        change(json!({"name": "b"})).unwrap().apply(&mut key, now());
        assert_eq!(
            (key.name.as_deref(), key.description.as_deref()),
            (Some("b"), Some("d"))
        );
        change(json!({"description": null}))
            .unwrap()
            .apply(&mut key, now());
        assert_eq!(key.description, None);
    }
}
