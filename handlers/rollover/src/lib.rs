//! `miroir-handler-rollover`: the ILM rollover policy routes under `/_miroir/` (admin key), plan
//! §4 table 12 and §13.17. The plan names no endpoint for them; these follow the other operator
//! routes.
//!
//! A policy attached to a write alias and a read alias tells the leader-run ILM job when to create
//! the next index (`pattern`), flip the write alias to it, and delete the oldest beyond
//! `retention.keepIndexes`. This crate stores and serves the policies; the job is elsewhere.
//!
//! - `POST /_miroir/rollover` `{name, writeAlias, readAlias, pattern, rolloverTriggers: {maxDocs?,
//!   maxAge?, maxSizeGb?}, retention: {keepIndexes}, indexTemplate: {primaryKey, settingsRef?},
//!   enabled?}` → 200, the policy: created, or replaced if the name exists.
//! - `GET /_miroir/rollover` → every policy, ordered by name: `{results, total}`.
//! - `GET /_miroir/rollover/{name}` → the policy, or 404 `miroir_rollover_policy_not_found`.
//! - `DELETE /_miroir/rollover/{name}` → 204, or 404. The indexes and aliases are untouched.
//!
//! Checks (a 400 `bad_request` naming the field, before the store is touched): names of 1 to 255
//! bytes and alias names of 1 to 400 bytes of ASCII letters, digits, `-` and `_`, two different
//! aliases; a `pattern` of index uid characters around exactly one placeholder, `*` or a date
//! `{…}` of `YYYY`, `MM`, `DD`, `HH` (with `YYYY`, each once, separated by nothing, `-` or `_`),
//! with a fixed part and no longer than an index uid once filled in; at least one trigger, each
//! positive (`maxAge` like `7d`: a whole number and `s`, `m`, `h`, `d` or `w`); `keepIndexes` at
//! least 1; a primary key. Unknown fields are refused at every level.

mod body;
mod view;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use miroir_core::{ApiError, Code};
use miroir_http::{AppState, HttpResult, JsonBody};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::body::{MAX_INDEX_UID_BYTES, MAX_NAME_BYTES, MAX_PRIMARY_KEY_BYTES};
use crate::body::{PolicyBody, check_policy_name};
use crate::view::{PolicyList, PolicyView};
use miroir_http::object::Object;

/// The rollover policy routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, put_policy))
        .routes(routes!(get_policy, delete_policy))
}

/// The rollover policy routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        Code::MiroirRolloverPolicyNotFound,
        format!("Rollover policy `{name}` not found."),
    )
}

/// Create or replace a rollover policy.
///
/// Stores the policy under its name, replacing the policy of that name if there is one.
#[utoipa::path(
    post,
    path = "/_miroir/rollover",
    tag = "rollover",
    request_body = PolicyBody,
    responses(
        (status = 200, description = "The policy, as stored.", body = PolicyView),
        (status = 400, description = "A bad body: unknown field, wrong type, invalid name, alias or pattern, no trigger, a trigger or retention that is not positive (`bad_request`, `malformed_payload`)."),
    )
)]
async fn put_policy(
    State(state): State<AppState>,
    JsonBody(Object(body)): JsonBody<Object<PolicyBody>>,
) -> HttpResult<Json<PolicyView>> {
    let policy = body.into_policy()?;
    state.store.upsert_rollover_policy(policy.clone()).await?;
    Ok(Json(PolicyView::try_from(policy)?))
}

/// List rollover policies.
///
/// Every policy, ordered by name.
#[utoipa::path(
    get,
    path = "/_miroir/rollover",
    tag = "rollover",
    responses(
        (status = 200, description = "Every policy.", body = PolicyList),
    )
)]
async fn list_policies(State(state): State<AppState>) -> HttpResult<Json<PolicyList>> {
    Ok(Json(PolicyList::new(
        state.store.list_rollover_policies().await?,
    )?))
}

/// Get a rollover policy.
#[utoipa::path(
    get,
    path = "/_miroir/rollover/{name}",
    tag = "rollover",
    params(("name" = String, Path, description = "The policy name.")),
    responses(
        (status = 200, description = "The policy.", body = PolicyView),
        (status = 400, description = "The name is not a valid policy name (`bad_request`)."),
        (status = 404, description = "No policy has this name (`miroir_rollover_policy_not_found`)."),
    )
)]
async fn get_policy(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> HttpResult<Json<PolicyView>> {
    check_policy_name("", &name)?;
    match state.store.get_rollover_policy(&name).await? {
        Some(policy) => Ok(Json(PolicyView::try_from(policy)?)),
        None => Err(not_found(&name).into()),
    }
}

/// Delete a rollover policy.
///
/// The ILM job stops evaluating it; its indexes and aliases are untouched.
#[utoipa::path(
    delete,
    path = "/_miroir/rollover/{name}",
    tag = "rollover",
    params(("name" = String, Path, description = "The policy name.")),
    responses(
        (status = 204, description = "The policy was deleted."),
        (status = 400, description = "The name is not a valid policy name (`bad_request`)."),
        (status = 404, description = "No policy has this name (`miroir_rollover_policy_not_found`)."),
    )
)]
async fn delete_policy(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> HttpResult<StatusCode> {
    check_policy_name("", &name)?;
    if state.store.delete_rollover_policy(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&name).into())
    }
}
