//! What background jobs and the routes that enqueue them share: each job type's parameters, checked once so that a queued job always has parameters its worker can run.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::IndexUid;
use crate::errors::{ApiError, Code};

/// Default documents copied per step of a reindex.
pub const DEFAULT_REINDEX_BATCH: u32 = 1000;
/// Largest `batchSize` of a reindex.
pub const MAX_REINDEX_BATCH: u32 = 10_000;

/// Parameters of a `reindex` job (the blue-green reindex of plan §13.7): create `target` with
/// the primary key and settings of `source` (then `settings` on top), copy every document of
/// `source` into it through the write path, wait until every node applied the copy, then point
/// the single-target alias `alias` at `target` (creating it if absent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReindexParams {
    /// The index copied from (a concrete uid).
    pub source: String,
    /// The new index (a concrete uid, not `source`).
    pub target: String,
    /// The alias flipped to `target` once the copy is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Settings applied to `target` over those copied from `source` (Meilisearch's settings
    /// object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Map<String, Value>>,
    /// Documents copied per step, 1 to 10000 (default 1000): the unit of progress a crashed
    /// worker's successor resumes from.
    #[serde(default = "default_batch")]
    pub batch_size: u32,
}

fn default_batch() -> u32 {
    DEFAULT_REINDEX_BATCH
}

impl ReindexParams {
    /// Checks `params` (the `params` of a job), naming the offending key in a `bad_request`.
    pub fn parse(params: Value) -> Result<Self, ApiError> {
        let params: Self = serde_path_to_error::deserialize(params).map_err(|error| {
            let path = error.path().to_string();
            let reason = error.into_inner();
            let at = if path == "." {
                String::new()
            } else {
                format!(" at `params.{path}`")
            };
            ApiError::new(
                Code::BadRequest,
                format!("Invalid reindex parameters{at}: {reason}."),
            )
        })?;
        IndexUid::parse_at(&params.source, "at `params.source`")?;
        IndexUid::parse_at(&params.target, "at `params.target`")?;
        if params.source == params.target {
            return Err(ApiError::new(
                Code::BadRequest,
                "Invalid reindex parameters: `params.target` must differ from `params.source`.",
            ));
        }
        if let Some(alias) = &params.alias {
            IndexUid::parse_at(alias, "at `params.alias`").map_err(|_| {
                ApiError::new(
                    Code::BadRequest,
                    format!("Invalid reindex parameters: `params.alias` `{alias}` is not a valid alias name."),
                )
            })?;
        }
        if !(1..=MAX_REINDEX_BATCH).contains(&params.batch_size) {
            return Err(ApiError::new(
                Code::BadRequest,
                format!(
                    "Invalid reindex parameters: `params.batchSize` must be between 1 and {MAX_REINDEX_BATCH}, found {}.",
                    params.batch_size
                ),
            ));
        }
        Ok(params)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reindex_params_are_checked_key_by_key() {
        let params = ReindexParams::parse(
            json!({"source": "movies_v1", "target": "movies_v2", "alias": "movies"}),
        )
        .unwrap();
        assert_eq!(params.batch_size, DEFAULT_REINDEX_BATCH);
        assert_eq!(params.alias.as_deref(), Some("movies"));
        for (bad, message) in [
            (json!({"source": "a"}), "missing field `target`"),
            (json!({"source": "a", "target": "a"}), "must differ"),
            (
                json!({"source": "a", "target": "b", "batchSize": 0}),
                "between 1 and",
            ),
            (
                json!({"source": "a", "target": "b", "extra": 1}),
                "unknown field `extra`",
            ),
            (
                json!({"source": "a", "target": "b", "batchSize": "x"}),
                "params.batchSize",
            ),
            (
                json!({"source": "a b", "target": "b"}),
                "not a valid index uid",
            ),
            (
                json!({"source": "a", "target": "b", "alias": "x y"}),
                "not a valid alias",
            ),
        ] {
            let error = ReindexParams::parse(bad.clone()).unwrap_err();
            assert!(error.message.contains(message), "{bad}: {}", error.message);
        }
    }
}
