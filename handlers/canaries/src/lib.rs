//! `miroir-handler-canaries`: synthetic canary queries with golden assertions (plan §13.18),
//! under `/_miroir/` (admin key).
//!
//! - `POST /_miroir/canaries`: create (201) or modify (200) a canary; the body is one entry of
//!   the plan's `canaries:` YAML schema as JSON, with its snake_case keys (`name`, `index`,
//!   `interval_s`, `enabled`, `query`, `assertions`); `query` is a Meilisearch search body
//!   (Meilisearch's camelCase parameter names);
//! - `GET /_miroir/canaries/status`: every canary with its last runs, pass/fail counts and the
//!   last failure;
//! - `DELETE /_miroir/canaries/{name}`: a canary and its runs.
//!
//! A canary's `name` is its identifier (the store's `id`). Runs are recorded by the canary runner
//! (not part of this crate), bounded per canary by `canary_runner.run_history_per_canary`.

mod spec;
mod view;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use futures::{StreamExt, TryStreamExt};
use miroir_core::{ApiError, Code};
use miroir_http::{AppState, HttpResult, JsonBody};
use miroir_store::{Canary, Timestamp};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::spec::{
    ASSERTION_TYPES, DEFAULT_INTERVAL_S, DEFAULT_QUERY_LIMIT, MAX_ASSERTIONS, MAX_IDS,
    MAX_INTERVAL_S, MAX_NAME_BYTES, MAX_P95_MS, MAX_Q_CHARS, MAX_QUERY_LIMIT, MIN_INTERVAL_S,
    QUERY_PARAMETERS, RESERVED_NAMES,
};
use crate::view::{CanaryStatusList, CanaryStatusView, CanaryView};

/// Store reads of run histories in flight at once while building the status view.
const STATUS_READS_IN_FLIGHT: usize = 8;

/// The canary routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_canary))
        .routes(routes!(canary_status))
        .routes(routes!(delete_canary))
}

/// The canary routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// Create or modify a canary.
///
/// The body is one entry of the `canaries:` schema (plan §13.18) as JSON: `name` (its
/// identifier: 1 to 128 ASCII letters, digits, `-`, `_`; not `status` or `capture`), `index`,
/// `interval_s` (10 to 86400, default 60), `enabled` (default true), `query` (a Meilisearch
/// search body: `q`, `limit` 1 to 1000, `offset`, `filter`, `sort`, `matchingStrategy`,
/// `attributesToSearchOn`) and 1 to 50 `assertions`, each `{"type": …}` with its parameters:
/// `top_hit_id {value}`, `top_k_contains {k, ids}` (k at most the query's limit),
/// `min_hits {value}`, `max_p95_ms {value}`, `settings_version_at_least {value}`,
/// `must_not_contain_id {ids}`. A canary with the same name is replaced (its creation time
/// kept).
#[utoipa::path(
    post,
    path = "/_miroir/canaries",
    tag = "canaries",
    request_body(content = spec::Body, description = "A canary definition (plan §13.18 schema, snake_case keys)."),
    responses(
        (status = 201, description = "The canary was created.", body = CanaryView),
        (status = 200, description = "The canary was modified.", body = CanaryView),
        (status = 400, description = "A bad definition; the message names the key (`bad_request`, `malformed_payload`)."),
    )
)]
async fn put_canary(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> HttpResult<(StatusCode, Json<CanaryView>)> {
    let spec = spec::parse(body)?;
    let existing = state.store.get_canary(&spec.name).await?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let canary = Canary {
        id: spec.name.clone(),
        name: spec.name,
        index_uid: spec.index,
        interval_s: spec.interval_s,
        query: spec.query,
        assertions: spec.assertions,
        enabled: spec.enabled,
        created_at: existing.map_or_else(Timestamp::now, |canary| canary.created_at),
    };
    state.store.upsert_canary(canary.clone()).await?;
    Ok((status, Json(CanaryView::from(canary))))
}

/// Canary status.
///
/// Every canary (by name) with its last runs, newest first (at most
/// `canary_runner.run_history_per_canary`), the pass/fail/error counts among them and the newest
/// run that did not pass. Takes no parameters.
#[utoipa::path(
    get,
    path = "/_miroir/canaries/status",
    tag = "canaries",
    responses(
        (status = 200, description = "Every canary with its recent runs.", body = CanaryStatusList),
        (status = 400, description = "A query parameter was given (`bad_request`)."),
    )
)]
async fn canary_status(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> HttpResult<Json<CanaryStatusList>> {
    if let Some(query) = query.filter(|query| !query.is_empty()) {
        let name = query.split(['&', '=']).next().unwrap_or_default();
        let name: String = name.chars().take(64).collect();
        return Err(ApiError::new(
            Code::BadRequest,
            format!(
                "Unknown parameter `{name}`: `GET /_miroir/canaries/status` takes no parameters."
            ),
        )
        .into());
    }
    let history = state.config.canary_runner.run_history_per_canary;
    let keep = usize::try_from(history).unwrap_or(usize::MAX);
    let canaries = state.store.list_canaries().await?;
    let store = &state.store;
    let views: Vec<CanaryStatusView> = futures::stream::iter(canaries)
        .map(|canary| async move {
            let runs = store.list_canary_runs(&canary.id, keep).await?;
            Ok::<_, miroir_store::StoreError>(CanaryStatusView::new(canary, runs))
        })
        .buffered(STATUS_READS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(Json(CanaryStatusList::new(history, views)))
}

/// Delete a canary.
///
/// The canary and its run history.
#[utoipa::path(
    delete,
    path = "/_miroir/canaries/{name}",
    tag = "canaries",
    params(("name" = String, Path, description = "The canary's name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "Not a canary name (`bad_request`)."),
        (status = 404, description = "No canary has this name (`not_found`)."),
    )
)]
async fn delete_canary(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> HttpResult<StatusCode> {
    spec::check_name("name", &name)?;
    if state.store.delete_canary(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(Code::NotFound, format!("Canary `{name}` not found.")).into())
    }
}
