//! The request bodies of the alias routes and the checks made on them before the store is
//! touched.

use std::collections::HashSet;

use miroir_core::{ApiError, Code, IndexUid};
use miroir_store::AliasTarget;
use serde::Deserialize;
use utoipa::ToSchema;

/// The longest alias name or index uid, in bytes (Meilisearch's index uid bound, as enforced by
/// `GET /tasks?indexUids=`).
pub const MAX_NAME_BYTES: usize = IndexUid::MAX_BYTES;

/// The most index uids a multi-target alias may name.
pub const MAX_TARGETS: usize = 100;

/// The body of `POST /_miroir/aliases`: exactly one of `target` and `targets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = CreateAlias)]
pub(crate) struct CreateAlias {
    /// The alias name: 1 to 400 bytes of ASCII letters, digits, `-` and `_`.
    #[schema(example = "products")]
    pub(crate) name: String,
    /// The index uid of a single-target alias.
    #[serde(default)]
    #[schema(example = "products_v3")]
    pub(crate) target: Option<String>,
    /// The index uids of a multi-target alias (1 to 100, distinct).
    #[serde(default)]
    pub(crate) targets: Option<Vec<String>>,
}

/// The body of `PUT /_miroir/aliases/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = FlipAlias)]
pub(crate) struct FlipAlias {
    /// The new index uid.
    #[serde(default)]
    #[schema(example = "products_v4")]
    pub(crate) target: Option<String>,
    /// Accepted only to refuse it: multi-target aliases are managed by ILM (409).
    #[serde(default)]
    pub(crate) targets: Option<Vec<String>>,
    /// Flip only if the alias is still at this version (compare-and-set); without it, the
    /// version read just before the flip is used, so a racing flip is still a 409.
    #[serde(default)]
    pub(crate) expected_version: Option<u64>,
}

/// What a name is checked as, for the message.
#[derive(Clone, Copy)]
pub(crate) enum NameKind {
    Alias,
    Index,
}

impl NameKind {
    fn noun(self) -> &'static str {
        match self {
            Self::Alias => "alias name",
            Self::Index => "index uid",
        }
    }

    fn rule(self) -> String {
        let noun = match self {
            Self::Alias => "An alias name",
            Self::Index => "An index uid",
        };
        format!(
            "{noun} can be an integer or a string containing only alphanumeric characters, \
             hyphens (-) and underscores (_), and can not be more than {MAX_NAME_BYTES} bytes."
        )
    }
}

/// Meilisearch's index uid rule, for alias names and their targets alike: 1 to 400 bytes of
/// ASCII alphanumerics, `-` and `_`. `field` names where the value came from (`` `name` ``,
/// `the path`, …); an oversized value is not echoed.
pub(crate) fn check_name(field: &str, kind: NameKind, value: &str) -> Result<(), ApiError> {
    let shown = if value.len() > MAX_NAME_BYTES {
        format!(
            "the {} is {} bytes long, more than {MAX_NAME_BYTES}",
            kind.noun(),
            value.len()
        )
    } else if value.is_empty() {
        format!("the {} is empty", kind.noun())
    } else if IndexUid::is_valid(value) {
        return Ok(());
    } else {
        format!("`{value}` is not a valid {}", kind.noun())
    };
    Err(bad_request(format!(
        "Invalid value in {field}: {shown}. {}",
        kind.rule()
    )))
}

/// A `bad_request` error.
pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, message)
}

impl CreateAlias {
    /// The checked name and target, or the first problem.
    pub(crate) fn into_parts(self) -> Result<(String, AliasTarget), ApiError> {
        check_name("`name`", NameKind::Alias, &self.name)?;
        let target = match (self.target, self.targets) {
            (Some(_), Some(_)) => {
                return Err(bad_request(
                    "Give either `target` (a single-target alias) or `targets` (a multi-target \
                     alias), not both.",
                ));
            }
            (None, None) => {
                return Err(bad_request(
                    "Missing field `target` (a single-target alias) or `targets` (a multi-target \
                     alias).",
                ));
            }
            (Some(uid), None) => {
                check_target(&self.name, "`target`", &uid)?;
                AliasTarget::Single { uid }
            }
            (None, Some(uids)) => {
                check_targets(&self.name, &uids)?;
                AliasTarget::Multi { uids }
            }
        };
        Ok((self.name, target))
    }
}

/// A target uid: a valid index uid other than the alias itself.
pub(crate) fn check_target(alias: &str, field: &str, uid: &str) -> Result<(), ApiError> {
    check_name(field, NameKind::Index, uid)?;
    if uid == alias {
        return Err(bad_request(format!(
            "Invalid value in {field}: alias `{alias}` cannot point at itself."
        )));
    }
    Ok(())
}

/// The uids of a multi-target alias: 1 to [`MAX_TARGETS`] distinct valid targets.
fn check_targets(alias: &str, uids: &[String]) -> Result<(), ApiError> {
    if uids.is_empty() {
        return Err(bad_request(
            "Invalid value in `targets`: a multi-target alias needs at least one index uid.",
        ));
    }
    if uids.len() > MAX_TARGETS {
        return Err(bad_request(format!(
            "Invalid value in `targets`: {} index uids, more than {MAX_TARGETS}.",
            uids.len()
        )));
    }
    let mut seen = HashSet::with_capacity(uids.len());
    for (position, uid) in uids.iter().enumerate() {
        check_target(alias, &format!("`targets[{position}]`"), uid)?;
        if !seen.insert(uid.as_str()) {
            return Err(bad_request(format!(
                "Invalid value in `targets[{position}]`: `{uid}` is named twice."
            )));
        }
    }
    Ok(())
}

impl FlipAlias {
    /// The checked new target, or the first problem. `Ok(None)` when the body names `targets`
    /// (a multi-target flip), refused once the alias's kind is known.
    pub(crate) fn target(&self, alias: &str) -> Result<Option<&str>, ApiError> {
        match (&self.target, &self.targets) {
            (Some(_), Some(_)) => Err(bad_request(
                "Give either `target` (a single-target alias) or `targets` (a multi-target \
                 alias), not both.",
            )),
            (None, None) => Err(bad_request("Missing field `target`.")),
            (Some(uid), None) => {
                check_target(alias, "`target`", uid)?;
                Ok(Some(uid))
            }
            (None, Some(uids)) => {
                check_targets(alias, uids)?;
                Ok(None)
            }
        }
    }
}
