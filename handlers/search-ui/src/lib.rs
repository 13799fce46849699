//! `miroir-handler-search-ui`: the search-UI configuration routes under `/_miroir/` (admin key),
//! plan §4 table 13 and §13.21.
//!
//! Each index's end-user search UI is configured by one entry of the plan's `search_ui:` list,
//! sent here in camelCase:
//!
//! - `POST /_miroir/ui/search/{index}/config` `{title?, logoUrl?, displayAttributes?,
//!   searchableAttributesHint?, facets?: [{attribute, type, title?, sort?, min?, max?, step?}],
//!   sortOptions?: [{label, field?}], resultTemplate?, customTemplate?, primaryKeyField?,
//!   hitUrlTemplate?, thumbnailField?, instantSearch?, highlight?, typoTolerance?,
//!   perPageDefault?, perPageOptions?, emptyStateQuerySuggestions?, analyticsEnabled?}` → 200
//!   `{indexUid, config, updatedAt}`: the entry replaces the index's previous one as a whole.
//!   `index` may be given too (the YAML entry has it) but must be the path's.
//! - `GET /_miroir/ui/search/{index}/config` → the same, or 404
//!   `miroir_search_ui_config_not_found`.
//!
//! The path's `{index}` follows Meilisearch's index uid rule; another value is Meilisearch's 400
//! `invalid_index_uid` (`miroir_http::IndexPath`).
//!
//! Every field is optional (the SPA applies defaults to absent ones); unknown fields are refused
//! at every level. Each given field is checked against the plan's meaning, and a bad one is a
//! 400 `bad_request` naming it (`facets[2].max`), before the store is touched: texts of 1 to 200
//! characters; attribute names of 1 to 512 bytes; distinct attribute lists of at most 100; URLs
//! `http(s)` only (a hit URL template may also be a `/` path, with `{attribute}` placeholders);
//! facet `type` `checkbox`, `range` or `star`, `sort` (`count_desc`, `count_asc`, `alpha_asc`,
//! `alpha_desc`) on checkboxes only, `min` < `max` and `step` > 0 on ranges only; sort fields
//! `attribute:asc|desc`; `resultTemplate` `card`, `list`, `grid`, `table` or `custom`, and
//! `customTemplate` (at most 32 KiB) exactly when `custom`; page sizes 1 to 1000, options
//! increasing, the default among them.

mod body;

use axum::extract::State;
use axum::{Json, Router};
use miroir_core::{ApiError, Code};
use miroir_http::timefmt::format_rfc3339;
use miroir_http::{AppState, HttpResult, IndexPath, JsonBody};
use miroir_store::{SearchUiConfig, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::body::ConfigBody;
pub use crate::body::{
    MAX_ATTRIBUTE_BYTES, MAX_ATTRIBUTES, MAX_FACETS, MAX_INDEX_UID_BYTES, MAX_PAGE_SIZE,
    MAX_PAGE_SIZES, MAX_SORT_OPTIONS, MAX_TEMPLATE_BYTES, MAX_TITLE_CHARS, MAX_URL_BYTES,
};
use miroir_http::object::Object;

/// The search UI config routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_config, put_config))
}

/// The search UI config routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// An index's search-UI configuration.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SearchUiConfig)]
struct ConfigView {
    /// The index uid.
    #[schema(example = "products")]
    index_uid: String,
    /// The entry, as stored (absent fields left out).
    #[schema(value_type = ConfigBody)]
    config: serde_json::Value,
    /// RFC 3339 date of the last write.
    updated_at: String,
}

impl From<SearchUiConfig> for ConfigView {
    fn from(config: SearchUiConfig) -> Self {
        Self {
            index_uid: config.index_uid,
            config: config.config,
            updated_at: format_rfc3339(config.updated_at),
        }
    }
}

/// Set an index's search-UI configuration.
///
/// Replaces the index's configuration as a whole with this entry (plan §13.21's `search_ui:`
/// entry, in camelCase).
#[utoipa::path(
    post,
    path = "/_miroir/ui/search/{index}/config",
    tag = "search-ui",
    params(("index" = String, Path, description = "The index uid.")),
    request_body = ConfigBody,
    responses(
        (status = 200, description = "The configuration, as stored.", body = ConfigView),
        (status = 400, description = "An invalid index uid (`invalid_index_uid`), an unknown field, a wrong type or a value outside the field's rule (`bad_request`, `malformed_payload`)."),
    )
)]
async fn put_config(
    State(state): State<AppState>,
    IndexPath(index): IndexPath,
    JsonBody(Object(body)): JsonBody<Object<ConfigBody>>,
) -> HttpResult<Json<ConfigView>> {
    let config = SearchUiConfig {
        config: body.checked(index.as_str())?,
        index_uid: index.into_string(),
        updated_at: Timestamp::now(),
    };
    state.store.put_search_ui_config(config.clone()).await?;
    Ok(Json(config.into()))
}

/// Get an index's search-UI configuration.
#[utoipa::path(
    get,
    path = "/_miroir/ui/search/{index}/config",
    tag = "search-ui",
    params(("index" = String, Path, description = "The index uid.")),
    responses(
        (status = 200, description = "The configuration.", body = ConfigView),
        (status = 400, description = "The index uid is invalid (`invalid_index_uid`)."),
        (status = 404, description = "The index has no search-UI configuration (`miroir_search_ui_config_not_found`)."),
    )
)]
async fn get_config(
    State(state): State<AppState>,
    IndexPath(index): IndexPath,
) -> HttpResult<Json<ConfigView>> {
    match state.store.get_search_ui_config(index.as_str()).await? {
        Some(config) => Ok(Json(config.into())),
        None => Err(ApiError::new(
            Code::MiroirSearchUiConfigNotFound,
            format!("Index `{index}` has no search UI configuration."),
        )
        .into()),
    }
}
