//! The JSON shapes of the rollover policy routes.

use miroir_core::{ApiError, Code};
use miroir_store::RolloverPolicy;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::body::{StoredRetention, StoredTemplate, StoredTriggers};

/// A rollover policy, as `POST /_miroir/rollover` takes it (absent triggers are `null`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RolloverPolicy)]
pub(crate) struct PolicyView {
    /// The policy name.
    #[schema(example = "logs-ilm")]
    name: String,
    /// The single-target alias writes go to.
    #[schema(example = "logs")]
    write_alias: String,
    /// The multi-target alias reads fan out over.
    #[schema(example = "logs-search")]
    read_alias: String,
    /// The name of the indexes the policy creates.
    #[schema(example = "logs-{YYYY-MM-DD}")]
    pattern: String,
    /// When to roll over.
    rollover_triggers: TriggersView,
    /// How many indexes to keep.
    retention: RetentionView,
    /// How the new indexes are created.
    index_template: TemplateView,
    /// Whether the ILM job evaluates the policy.
    enabled: bool,
}

/// `rolloverTriggers`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RolloverTriggers)]
struct TriggersView {
    /// Documents in the write index.
    max_docs: Option<u64>,
    /// Age of the write index, such as `7d`.
    max_age: Option<String>,
    /// Size of the write index, in GB.
    #[schema(value_type = Option<f64>)]
    max_size_gb: Option<serde_json::Number>,
}

/// `retention`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RolloverRetention)]
struct RetentionView {
    /// How many indexes are kept.
    keep_indexes: u32,
}

/// `indexTemplate`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RolloverIndexTemplate)]
struct TemplateView {
    /// The primary key of every new index.
    primary_key: String,
    /// The settings profile applied to every new index.
    settings_ref: Option<String>,
}

/// A stored JSON part of `policy`, or a 500 naming the policy (written by something that does
/// not follow the plan's schema).
fn part<T: DeserializeOwned>(policy: &str, value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|_| {
        ApiError::new(
            Code::Internal,
            format!("Rollover policy `{policy}` is stored in a form this version cannot read."),
        )
    })
}

impl TryFrom<RolloverPolicy> for PolicyView {
    type Error = ApiError;

    fn try_from(policy: RolloverPolicy) -> Result<Self, ApiError> {
        let triggers: StoredTriggers = part(&policy.name, policy.triggers)?;
        let retention: StoredRetention = part(&policy.name, policy.retention)?;
        let template: StoredTemplate = part(&policy.name, policy.template)?;
        Ok(Self {
            name: policy.name,
            write_alias: policy.write_alias,
            read_alias: policy.read_alias,
            pattern: policy.pattern,
            rollover_triggers: TriggersView {
                max_docs: triggers.max_docs,
                max_age: triggers.max_age,
                max_size_gb: triggers.max_size_gb,
            },
            retention: RetentionView {
                keep_indexes: retention.keep_indexes,
            },
            index_template: TemplateView {
                primary_key: template.primary_key,
                settings_ref: template.settings_ref,
            },
            enabled: policy.enabled,
        })
    }
}

/// The body of `GET /_miroir/rollover`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RolloverPolicyList)]
pub(crate) struct PolicyList {
    /// Every policy, ordered by name.
    results: Vec<PolicyView>,
    /// How many.
    total: usize,
}

impl PolicyList {
    pub(crate) fn new(policies: Vec<RolloverPolicy>) -> Result<Self, ApiError> {
        let results = policies
            .into_iter()
            .map(PolicyView::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            total: results.len(),
            results,
        })
    }
}
