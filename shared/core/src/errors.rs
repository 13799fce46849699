//! The one table of error codes Miroir answers with, and the Meilisearch error shape.
//!
//! Every error a client sees is `{"message", "code", "type", "link"}` (Meilisearch's shape). Each
//! [`Code`] is declared once below with its wire name, error type and HTTP status; handlers build
//! an [`ApiError`] from a code and a message and never pick a status themselves.

use std::fmt;

use miroir_store::StoreError;
use serde::Serialize;

/// The `type` field of an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The request is wrong; retrying it unchanged fails again.
    InvalidRequest,
    /// Miroir failed.
    Internal,
    /// Credentials are missing or wrong.
    Auth,
    /// A dependency (task store, nodes) is unavailable; retrying later may succeed.
    System,
}

impl ErrorType {
    /// Every type.
    pub const ALL: &'static [ErrorType] = &[
        ErrorType::InvalidRequest,
        ErrorType::Internal,
        ErrorType::Auth,
        ErrorType::System,
    ];

    /// The wire name (the `type` field).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request",
            ErrorType::Internal => "internal",
            ErrorType::Auth => "auth",
            ErrorType::System => "system",
        }
    }
}

macro_rules! codes {
    ($($variant:ident => ($name:literal, $error_type:ident, $status:literal)),+ $(,)?) => {
        /// Every error code Miroir answers with (Meilisearch's and Miroir's own).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($status), ")")]
                $variant,
            )+
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),+];

            /// The snake-case wire name.
            pub const fn name(self) -> &'static str {
                match self { $(Code::$variant => $name),+ }
            }

            /// The error type.
            pub const fn error_type(self) -> ErrorType {
                match self { $(Code::$variant => ErrorType::$error_type),+ }
            }

            /// The HTTP status.
            pub const fn status(self) -> u16 {
                match self { $(Code::$variant => $status),+ }
            }
        }
    };
}

codes! {
    // Meilisearch's codes (reference/meilisearch-api.md).
    BadRequest => ("bad_request", InvalidRequest, 400),
    MalformedPayload => ("malformed_payload", InvalidRequest, 400),
    MissingPayload => ("missing_payload", InvalidRequest, 400),
    MissingDocumentId => ("missing_document_id", InvalidRequest, 400),
    InvalidDocumentId => ("invalid_document_id", InvalidRequest, 400),
    InvalidDocumentOffset => ("invalid_document_offset", InvalidRequest, 400),
    InvalidDocumentLimit => ("invalid_document_limit", InvalidRequest, 400),
    InvalidDocumentCsvDelimiter => ("invalid_document_csv_delimiter", InvalidRequest, 400),
    MissingTaskFilters => ("missing_task_filters", InvalidRequest, 400),
    InvalidTaskUids => ("invalid_task_uids", InvalidRequest, 400),
    InvalidTaskStatuses => ("invalid_task_statuses", InvalidRequest, 400),
    InvalidTaskTypes => ("invalid_task_types", InvalidRequest, 400),
    InvalidTaskLimit => ("invalid_task_limit", InvalidRequest, 400),
    InvalidTaskFrom => ("invalid_task_from", InvalidRequest, 400),
    InvalidTaskReverse => ("invalid_task_reverse", InvalidRequest, 400),
    InvalidTaskBeforeEnqueuedAt => ("invalid_task_before_enqueued_at", InvalidRequest, 400),
    InvalidTaskAfterEnqueuedAt => ("invalid_task_after_enqueued_at", InvalidRequest, 400),
    InvalidTaskBeforeStartedAt => ("invalid_task_before_started_at", InvalidRequest, 400),
    InvalidTaskAfterStartedAt => ("invalid_task_after_started_at", InvalidRequest, 400),
    InvalidTaskBeforeFinishedAt => ("invalid_task_before_finished_at", InvalidRequest, 400),
    InvalidTaskAfterFinishedAt => ("invalid_task_after_finished_at", InvalidRequest, 400),
    InvalidTaskCanceledBy => ("invalid_task_canceled_by", InvalidRequest, 400),
    InvalidBatchUids => ("invalid_batch_uids", InvalidRequest, 400),
    MissingIndexUid => ("missing_index_uid", InvalidRequest, 400),
    InvalidIndexUid => ("invalid_index_uid", InvalidRequest, 400),
    IndexNotFound => ("index_not_found", InvalidRequest, 404),
    // A facet search of Miroir's reserved `_miroir_shard`, refused as Meilisearch refuses an
    // attribute that is not facet-searchable (the nodes' own refusals are relayed).
    InvalidFacetSearchFacetName => ("invalid_facet_search_facet_name", InvalidRequest, 400),
    DocumentNotFound => ("document_not_found", InvalidRequest, 404),
    TaskNotFound => ("task_not_found", InvalidRequest, 404),
    BatchNotFound => ("batch_not_found", InvalidRequest, 404),
    FeatureNotEnabled => ("feature_not_enabled", InvalidRequest, 400),
    NotFound => ("not_found", InvalidRequest, 404),
    IndexAlreadyExists => ("index_already_exists", InvalidRequest, 409),
    IndexPrimaryKeyAlreadyExists => ("index_primary_key_already_exists", InvalidRequest, 400),
    IndexPrimaryKeyNoCandidateFound => ("index_primary_key_no_candidate_found", InvalidRequest, 400),
    IndexPrimaryKeyMultipleCandidatesFound => ("index_primary_key_multiple_candidates_found", InvalidRequest, 400),
    InvalidIndexPrimaryKey => ("invalid_index_primary_key", InvalidRequest, 400),
    PayloadTooLarge => ("payload_too_large", InvalidRequest, 413),
    MissingContentType => ("missing_content_type", InvalidRequest, 415),
    InvalidContentType => ("invalid_content_type", InvalidRequest, 415),
    MissingAuthorizationHeader => ("missing_authorization_header", Auth, 401),
    InvalidApiKey => ("invalid_api_key", Auth, 403),
    ApiKeyNotFound => ("api_key_not_found", InvalidRequest, 404),
    ApiKeyAlreadyExists => ("api_key_already_exists", InvalidRequest, 409),
    MissingApiKeyActions => ("missing_api_key_actions", InvalidRequest, 400),
    MissingApiKeyIndexes => ("missing_api_key_indexes", InvalidRequest, 400),
    MissingApiKeyExpiresAt => ("missing_api_key_expires_at", InvalidRequest, 400),
    InvalidApiKeyActions => ("invalid_api_key_actions", InvalidRequest, 400),
    InvalidApiKeyIndexes => ("invalid_api_key_indexes", InvalidRequest, 400),
    InvalidApiKeyExpiresAt => ("invalid_api_key_expires_at", InvalidRequest, 400),
    InvalidApiKeyName => ("invalid_api_key_name", InvalidRequest, 400),
    InvalidApiKeyDescription => ("invalid_api_key_description", InvalidRequest, 400),
    InvalidApiKeyUid => ("invalid_api_key_uid", InvalidRequest, 400),
    InvalidApiKeyOffset => ("invalid_api_key_offset", InvalidRequest, 400),
    InvalidApiKeyLimit => ("invalid_api_key_limit", InvalidRequest, 400),
    ImmutableApiKeyUid => ("immutable_api_key_uid", InvalidRequest, 400),
    ImmutableApiKeyActions => ("immutable_api_key_actions", InvalidRequest, 400),
    ImmutableApiKeyIndexes => ("immutable_api_key_indexes", InvalidRequest, 400),
    ImmutableApiKeyExpiresAt => ("immutable_api_key_expires_at", InvalidRequest, 400),
    ImmutableApiKeyKey => ("immutable_api_key_key", InvalidRequest, 400),
    ImmutableApiKeyCreatedAt => ("immutable_api_key_created_at", InvalidRequest, 400),
    ImmutableApiKeyUpdatedAt => ("immutable_api_key_updated_at", InvalidRequest, 400),
    Internal => ("internal", Internal, 500),
    // Miroir's codes (plan §5 "Error format").
    MiroirPrimaryKeyRequired => ("miroir_primary_key_required", InvalidRequest, 400),
    MiroirNetworkUnsupported => ("miroir_network_unsupported", InvalidRequest, 400),
    MiroirReservedField => ("miroir_reserved_field", InvalidRequest, 400),
    MiroirIdempotencyKeyReused => ("miroir_idempotency_key_reused", InvalidRequest, 409),
    MiroirMultiAliasNotWritable => ("miroir_multi_alias_not_writable", InvalidRequest, 409),
    MiroirConflict => ("miroir_conflict", InvalidRequest, 409),
    // A `POST /multi-search` with more queries than `scatter.max_multi_search_queries`
    // (Meilisearch has no such bound; each query is a scatter of its own).
    MiroirTooManySearchQueries => ("miroir_too_many_search_queries", InvalidRequest, 400),
    // `/_miroir/aliases/{name}` names no alias (plan §13.7); distinct from the route fallback's
    // `not_found` so scripts can tell a missing alias from a missing route.
    MiroirAliasNotFound => ("miroir_alias_not_found", InvalidRequest, 404),
    // No tenant mapping (plan §13.15), rollover policy (§13.17) or search-UI config (§13.21) has
    // the id, name, API key or index asked for; distinct from the route fallback's `not_found`.
    MiroirTenantNotFound => ("miroir_tenant_not_found", InvalidRequest, 404),
    MiroirRolloverPolicyNotFound => ("miroir_rollover_policy_not_found", InvalidRequest, 404),
    MiroirSearchUiConfigNotFound => ("miroir_search_ui_config_not_found", InvalidRequest, 404),
    MiroirInvalidAuth => ("miroir_invalid_auth", Auth, 401),
    // Admin UI sessions (plan §9 "CSRF posture", §13.19): a cookie-authenticated mutation without
    // the session's `X-CSRF-Token`, a cookie-authenticated request from a foreign `Origin`, and
    // admin logins over the per-IP rate limit or inside the failed-login backoff (`Retry-After`).
    MiroirCsrfMismatch => ("miroir_csrf_mismatch", Auth, 403),
    MiroirOriginNotAllowed => ("miroir_origin_not_allowed", Auth, 403),
    MiroirTooManyRequests => ("miroir_too_many_requests", System, 429),
    MiroirNoQuorum => ("miroir_no_quorum", System, 503),
    MiroirShardUnavailable => ("miroir_shard_unavailable", System, 503),
    MiroirSettingsVersionStale => ("miroir_settings_version_stale", System, 503),
    MiroirStoreUnavailable => ("miroir_store_unavailable", System, 503),
    // A write to an index whose deletion is being sent to the nodes (see `catalog`): nothing
    // was sent; retrying after the deletion re-creates the index where Meilisearch would.
    MiroirIndexBusy => ("miroir_index_busy", System, 503),
    MiroirSchemaMismatch => ("miroir_schema_mismatch", System, 503),
    // A known route called with a method it does not serve (Meilisearch answers 405 there too,
    // without a body; Miroir keeps the error shape on every response).
    MiroirMethodNotAllowed => ("miroir_method_not_allowed", InvalidRequest, 405),
    // A request not answered within `server.request_timeout_ms` of its headers (a client
    // trickling its body, or work that outlived the bound).
    MiroirRequestTimeout => ("miroir_request_timeout", InvalidRequest, 408),
    // A node answered something that is not a Meilisearch response (or not at all within the
    // scatter timeout) where no quorum rule applies, e.g. a single-replica document read.
    MiroirNodeUnavailable => ("miroir_node_unavailable", System, 503),
    MiroirNodeError => ("miroir_node_error", System, 502),
    // A data-path route while `miroir.nodes` is empty.
    MiroirNoNodes => ("miroir_no_nodes", System, 503),
}

/// An error as a client sees it: a code and a message, serialized in Meilisearch's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// What went wrong, from the table.
    pub code: Code,
    /// Human-readable explanation; never carries secrets or internal error text.
    pub message: String,
    /// A node's own error, relayed verbatim (see [`ApiError::relayed`]).
    relayed: Option<Box<Relayed>>,
}

/// The code, type and status of a Meilisearch error a node answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Relayed {
    code: String,
    error_type: String,
    status: u16,
}

/// The JSON body of an [`ApiError`].
#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    code: &'a str,
    #[serde(rename = "type")]
    error_type: &'a str,
    link: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            relayed: None,
        }
    }

    /// A Meilisearch error a node answered with (`invalid_search_filter`, `index_not_found`, …),
    /// passed to the client unchanged: the same status, code, type and message. Its [`Code`] is
    /// [`Code::MiroirNodeError`]; [`ApiError::code_name`] gives the node's code.
    pub fn relayed(status: u16, code: String, error_type: String, message: String) -> Self {
        Self {
            code: Code::MiroirNodeError,
            message,
            relayed: Some(Box::new(Relayed {
                code,
                error_type,
                status,
            })),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        self.relayed
            .as_ref()
            .map_or_else(|| self.code.status(), |relayed| relayed.status)
    }

    /// The wire `code`: the node's for a relayed error, else [`Code::name`].
    pub fn code_name(&self) -> &str {
        self.relayed
            .as_ref()
            .map_or_else(|| self.code.name(), |relayed| relayed.code.as_str())
    }

    /// The `type` field: the code's type, or a relayed node error's own.
    pub fn error_type(&self) -> &str {
        self.relayed.as_ref().map_or_else(
            || self.code.error_type().as_str(),
            |relayed| relayed.error_type.as_str(),
        )
    }

    /// The documentation link Meilisearch puts in `link`.
    pub fn link(&self) -> String {
        format!("https://docs.meilisearch.com/errors#{}", self.code_name())
    }

    /// The Meilisearch-shaped JSON body as a value (keys sorted); serialize the error itself
    /// for bytes in Meilisearch's key order.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl Serialize for ApiError {
    /// `{"message", "code", "type", "link"}`, in that order (Meilisearch's).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Body {
            message: &self.message,
            code: self.code_name(),
            error_type: self.error_type(),
            link: self.link(),
        }
        .serialize(serializer)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.code_name(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    /// Store errors that reach a client without a more specific mapping by the handler. Outages
    /// and version mismatches are retryable 503s; nothing internal is echoed for backend errors.
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Unavailable(_) => ApiError::new(
                Code::MiroirStoreUnavailable,
                "the task store is unavailable; retry later",
            ),
            StoreError::SchemaAhead { .. } | StoreError::SchemaBehind { .. } => {
                ApiError::new(Code::MiroirSchemaMismatch, error.to_string())
            }
            StoreError::NotFound(_) => ApiError::new(Code::NotFound, error.to_string()),
            StoreError::Conflict(_) | StoreError::Fenced { .. } => {
                ApiError::new(Code::MiroirConflict, error.to_string())
            }
            StoreError::InvalidInput(_) => ApiError::new(Code::BadRequest, error.to_string()),
            StoreError::InvalidUrl { .. }
            | StoreError::NotAMiroirStore(_)
            | StoreError::Corrupt { .. }
            | StoreError::Backend(_) => ApiError::new(Code::Internal, "internal error"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_snake_case() {
        let mut names: Vec<&str> = Code::ALL.iter().map(|code| code.name()).collect();
        assert!(
            names
                .iter()
                .all(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a code is declared twice");
    }

    #[test]
    fn the_body_has_the_meilisearch_shape() {
        let error = ApiError::new(Code::TaskNotFound, "Task `9` not found.");
        assert_eq!(error.status(), 404);
        assert_eq!(
            error.to_json(),
            serde_json::json!({
                "message": "Task `9` not found.",
                "code": "task_not_found",
                "type": "invalid_request",
                "link": "https://docs.meilisearch.com/errors#task_not_found"
            })
        );
    }

    #[test]
    fn store_outages_are_retryable_and_internals_are_not_echoed() {
        let outage = ApiError::from(StoreError::Unavailable(
            "redis: connection refused 10.0.0.5".into(),
        ));
        assert_eq!(
            (outage.code, outage.status()),
            (Code::MiroirStoreUnavailable, 503)
        );
        assert!(!outage.message.contains("10.0.0.5"));
        let backend = ApiError::from(StoreError::Backend(
            "sqlite: disk I/O error at /secret/path".into(),
        ));
        assert_eq!(backend.status(), 500);
        assert!(!backend.message.contains("/secret/path"));
        let ahead = ApiError::from(StoreError::SchemaAhead {
            store: 3,
            binary: 2,
        });
        assert!(ahead.message.contains('3') && ahead.message.contains('2'));
        assert_eq!(ahead.status(), 503);
    }
}
