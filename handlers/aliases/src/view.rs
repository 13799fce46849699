//! The JSON shapes of the alias routes.

use miroir_http::timefmt::format_rfc3339;
use miroir_store::{Alias, AliasHistoryEntry, AliasTarget};
use serde::Serialize;
use utoipa::ToSchema;

/// A target as it appears on the wire: `target` for a single-target alias, `targets` for a
/// multi-target one.
struct Targets {
    target: Option<String>,
    targets: Option<Vec<String>>,
}

impl From<AliasTarget> for Targets {
    fn from(target: AliasTarget) -> Self {
        match target {
            AliasTarget::Single { uid } => Self {
                target: Some(uid),
                targets: None,
            },
            AliasTarget::Multi { uids } => Self {
                target: None,
                targets: Some(uids),
            },
        }
    }
}

/// An alias with its flip history (`GET`, `POST`, `PUT`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Alias)]
pub(crate) struct AliasView {
    /// The alias name.
    #[schema(example = "products")]
    name: String,
    /// `single` (one index: reads and writes) or `multi` (several: reads fan out, writes are
    /// refused; managed by ILM).
    #[schema(value_type = String, example = "single")]
    kind: &'static str,
    /// The index uid (single-target aliases only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "products_v4")]
    target: Option<String>,
    /// The index uids (multi-target aliases only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    targets: Option<Vec<String>>,
    /// Flip counter: 1 at creation, +1 per flip. Pass it as `expectedVersion` to flip.
    version: u64,
    /// RFC 3339 date.
    created_at: String,
    /// Prior states, oldest first, at most `aliases.history_retention` of them.
    history: Vec<HistoryEntryView>,
}

/// A prior state of an alias.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AliasHistoryEntry)]
pub(crate) struct HistoryEntryView {
    /// The index uid it pointed at (single-target aliases).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    target: Option<String>,
    /// The index uids it pointed at (multi-target aliases).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    targets: Option<Vec<String>>,
    /// Its version.
    version: u64,
    /// RFC 3339 date of the flip that replaced it.
    replaced_at: String,
}

impl From<AliasHistoryEntry> for HistoryEntryView {
    fn from(entry: AliasHistoryEntry) -> Self {
        let Targets { target, targets } = entry.target.into();
        Self {
            target,
            targets,
            version: entry.version,
            replaced_at: format_rfc3339(entry.replaced_at),
        }
    }
}

impl From<Alias> for AliasView {
    fn from(alias: Alias) -> Self {
        let kind = alias.target.kind_name();
        let Targets { target, targets } = alias.target.into();
        Self {
            name: alias.name,
            kind,
            target,
            targets,
            version: alias.version,
            created_at: format_rfc3339(alias.created_at),
            history: alias.history.into_iter().map(Into::into).collect(),
        }
    }
}

/// An alias without its history (`GET /_miroir/aliases`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AliasSummary)]
pub(crate) struct AliasSummary {
    /// The alias name.
    name: String,
    /// `single` or `multi`.
    #[schema(value_type = String)]
    kind: &'static str,
    /// The index uid (single-target aliases only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    target: Option<String>,
    /// The index uids (multi-target aliases only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    targets: Option<Vec<String>>,
    /// Flip counter.
    version: u64,
    /// RFC 3339 date.
    created_at: String,
}

impl From<Alias> for AliasSummary {
    fn from(alias: Alias) -> Self {
        let kind = alias.target.kind_name();
        let Targets { target, targets } = alias.target.into();
        Self {
            name: alias.name,
            kind,
            target,
            targets,
            version: alias.version,
            created_at: format_rfc3339(alias.created_at),
        }
    }
}

/// The body of `GET /_miroir/aliases`: every alias, ordered by name.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AliasList)]
pub(crate) struct AliasList {
    results: Vec<AliasSummary>,
    total: usize,
}

impl AliasList {
    pub(crate) fn new(aliases: Vec<Alias>) -> Self {
        Self {
            total: aliases.len(),
            results: aliases.into_iter().map(Into::into).collect(),
        }
    }
}
