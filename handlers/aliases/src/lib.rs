//! `miroir-handler-aliases`: the alias routes under `/_miroir/` (admin key), plan §13.7.
//!
//! An alias is a name that resolves to one index uid (single-target) or several (multi-target,
//! reads fan out, managed by ILM). Operators create, read, flip and delete them here; the data
//! path resolves them (a later issue).
//!
//! - `POST /_miroir/aliases` `{name, target}` or `{name, targets}` → 201, the alias at version 1;
//!   409 `miroir_conflict` if the name exists.
//! - `GET /_miroir/aliases` → every alias (without history), ordered by name.
//! - `GET /_miroir/aliases/{name}` → the alias, its version and flip history.
//! - `PUT /_miroir/aliases/{name}` `{target, expectedVersion?}` → 200, flipped by compare-and-set
//!   on the version: a racing flip is a 409 `miroir_conflict`, never a lost update. Without
//!   `expectedVersion` the version read just before is used (still compare-and-set). A
//!   multi-target alias is refused with 409 `miroir_multi_alias_not_writable`: plan §4/§13.17
//!   leave multi-target aliases to ILM ("direct operator edits are refused").
//! - `DELETE /_miroir/aliases/{name}` → 204; the indexes are untouched. A multi-target alias
//!   that an ILM rollover policy reads through is refused (409
//!   `miroir_multi_alias_not_writable`): delete the policy first.
//!
//! A missing alias is 404 `miroir_alias_not_found`. Names and targets follow Meilisearch's index
//! uid rule (1 to 400 bytes of ASCII alphanumerics, `-`, `_`); a bad one is a 400 `bad_request`
//! naming the field, before the store is touched. A target may not be the alias itself nor
//! another alias, and a new alias may not be named like another alias's target (aliases resolve
//! in one step); these checks read the store first and are best effort against a concurrent
//! create.
//!
//! Flip history is bounded by `aliases.history_retention`, trimmed by the store in the same
//! atomic step as the flip. With `aliases.require_target_exists` (and nodes configured), every
//! target must be an index the nodes know.

mod body;
mod view;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use miroir_core::node::node_path;
use miroir_core::{ApiError, Code};
use miroir_http::{AppState, HttpResult, JsonBody};
use miroir_store::{Alias, AliasTarget, StoreError, Timestamp};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::body::{CreateAlias, FlipAlias, NameKind, bad_request, check_name};
pub use crate::body::{MAX_NAME_BYTES, MAX_TARGETS};
use crate::view::{AliasList, AliasView};
use miroir_http::object::Object;

/// The alias routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_aliases, create_alias))
        .routes(routes!(get_alias, flip_alias, delete_alias))
}

/// The alias routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// Create an alias.
///
/// `{name, target}` creates a single-target alias, `{name, targets}` a multi-target one (reads fan
/// out over its indexes, writes are refused). The alias starts at version 1 with no history.
#[utoipa::path(
    post,
    path = "/_miroir/aliases",
    tag = "aliases",
    request_body = CreateAlias,
    responses(
        (status = 201, description = "The alias, at version 1.", body = AliasView),
        (status = 400, description = "A bad body: unknown field, wrong type, invalid or oversized name or target, both or neither of `target` and `targets`, a target that is an alias (`bad_request`, `malformed_payload`)."),
        (status = 404, description = "With `aliases.require_target_exists`, a target index the nodes do not know (`index_not_found`)."),
        (status = 409, description = "An alias with this name exists (`miroir_conflict`)."),
    )
)]
async fn create_alias(
    State(state): State<AppState>,
    JsonBody(Object(body)): JsonBody<Object<CreateAlias>>,
) -> HttpResult<(StatusCode, Json<AliasView>)> {
    let (name, target) = body.into_parts()?;
    let existing = state.store.list_aliases().await?;
    if existing.iter().any(|alias| alias.name == name) {
        return Err(already_exists(&name).into());
    }
    for uid in uids(&target) {
        if existing.iter().any(|alias| alias.name == *uid) {
            return Err(target_is_an_alias(uid).into());
        }
    }
    if let Some(alias) = existing
        .iter()
        .find(|alias| uids(&alias.target).any(|uid| *uid == name))
    {
        return Err(bad_request(format!(
            "Invalid value in `name`: `{name}` is a target of alias `{}`; aliases resolve to \
             index uids in one step.",
            alias.name
        ))
        .into());
    }
    let targets: Vec<String> = uids(&target).cloned().collect();
    check_targets_exist(&state, &targets).await?;
    match state
        .store
        .create_alias(&name, target, Timestamp::now())
        .await
    {
        Ok(alias) => Ok((StatusCode::CREATED, Json(alias.into()))),
        Err(StoreError::Conflict(_)) => Err(already_exists(&name).into()),
        Err(error) => Err(error.into()),
    }
}

/// List aliases.
///
/// Every alias, ordered by name, with its current target(s) and version (without history).
#[utoipa::path(
    get,
    path = "/_miroir/aliases",
    tag = "aliases",
    responses(
        (status = 200, description = "Every alias.", body = AliasList),
    )
)]
async fn list_aliases(State(state): State<AppState>) -> HttpResult<Json<AliasList>> {
    Ok(Json(AliasList::new(state.store.list_aliases().await?)))
}

/// Get an alias.
///
/// Its current target(s), version and flip history (oldest first).
#[utoipa::path(
    get,
    path = "/_miroir/aliases/{name}",
    tag = "aliases",
    params(("name" = String, Path, description = "The alias name.")),
    responses(
        (status = 200, description = "The alias.", body = AliasView),
        (status = 400, description = "The name is not a valid alias name (`bad_request`)."),
        (status = 404, description = "No alias has this name (`miroir_alias_not_found`)."),
    )
)]
async fn get_alias(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> HttpResult<Json<AliasView>> {
    check_name("the path", NameKind::Alias, &name)?;
    Ok(Json(existing(&state, &name).await?.into()))
}

/// Flip an alias.
///
/// Points a single-target alias at a new index, atomically: the previous state joins the
/// history (bounded by `aliases.history_retention`) and the version grows by one. The flip is a
/// compare-and-set on the version: with `expectedVersion`, it happens only if the alias is still
/// at that version; without it, at the version read just before. Either way a racing flip makes
/// it a 409, never a lost update. Multi-target aliases are managed by ILM and refused.
#[utoipa::path(
    put,
    path = "/_miroir/aliases/{name}",
    tag = "aliases",
    params(("name" = String, Path, description = "The alias name.")),
    request_body = FlipAlias,
    responses(
        (status = 200, description = "The flipped alias.", body = AliasView),
        (status = 400, description = "A bad name or body, or `targets` for a single-target alias (`bad_request`, `malformed_payload`)."),
        (status = 404, description = "No alias has this name (`miroir_alias_not_found`), or, with `aliases.require_target_exists`, the new target index does not exist (`index_not_found`)."),
        (status = 409, description = "The alias is not at the expected version: another flip won (`miroir_conflict`); or it is a multi-target alias, managed by ILM (`miroir_multi_alias_not_writable`)."),
    )
)]
async fn flip_alias(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(Object(body)): JsonBody<Object<FlipAlias>>,
) -> HttpResult<Json<AliasView>> {
    check_name("the path", NameKind::Alias, &name)?;
    let target = body.target(&name)?;
    let current = existing(&state, &name).await?;
    if let AliasTarget::Multi { .. } = current.target {
        return Err(managed_by_ilm(&state, &name, "flipped").await?.into());
    }
    let Some(target) = target else {
        return Err(bad_request(format!(
            "Alias `{name}` is a single-target alias: flip it with `target`, not `targets`."
        ))
        .into());
    };
    if state.store.get_alias(target).await?.is_some() {
        return Err(target_is_an_alias(target).into());
    }
    check_targets_exist(&state, &[target.to_owned()]).await?;
    let expected = body.expected_version.unwrap_or(current.version);
    let retention = usize::try_from(state.config.aliases.history_retention).unwrap_or(usize::MAX);
    let flipped = state
        .store
        .flip_alias(
            &name,
            expected,
            AliasTarget::Single {
                uid: target.to_owned(),
            },
            retention,
            Timestamp::now(),
        )
        .await;
    match flipped {
        Ok(alias) => Ok(Json(alias.into())),
        // Another flip won, or the alias was replaced by a multi-target one in between.
        Err(StoreError::Conflict(_) | StoreError::InvalidInput(_)) => {
            let now = existing(&state, &name).await?;
            Err(ApiError::new(
                Code::MiroirConflict,
                format!(
                    "Alias `{name}` is at version {}, not {expected}: another flip came first. \
                     Read it again and retry with its current version.",
                    now.version
                ),
            )
            .into())
        }
        Err(StoreError::NotFound(_)) => Err(not_found(&name).into()),
        Err(error) => Err(error.into()),
    }
}

/// Delete an alias.
///
/// The alias only: the indexes it points at are untouched. A multi-target alias that an ILM
/// rollover policy reads through is refused; delete the policy first.
#[utoipa::path(
    delete,
    path = "/_miroir/aliases/{name}",
    tag = "aliases",
    params(("name" = String, Path, description = "The alias name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "The name is not a valid alias name (`bad_request`)."),
        (status = 404, description = "No alias has this name (`miroir_alias_not_found`)."),
        (status = 409, description = "A rollover policy reads through this multi-target alias (`miroir_multi_alias_not_writable`)."),
    )
)]
async fn delete_alias(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> HttpResult<StatusCode> {
    check_name("the path", NameKind::Alias, &name)?;
    let current = existing(&state, &name).await?;
    let owner = match current.target {
        AliasTarget::Multi { .. } => owning_policy(&state, &name).await?,
        AliasTarget::Single { .. } => None,
    };
    if let Some(policy) = owner {
        return Err(ApiError::new(
            Code::MiroirMultiAliasNotWritable,
            format!(
                "Alias `{name}` is the read alias of rollover policy `{policy}` and cannot be \
                 deleted directly: delete the policy first."
            ),
        )
        .into());
    }
    if state.store.delete_alias(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&name).into())
    }
}

/// The alias `name`, or 404.
async fn existing(state: &AppState, name: &str) -> Result<Alias, ApiError> {
    state
        .store
        .get_alias(name)
        .await?
        .ok_or_else(|| not_found(name))
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        Code::MiroirAliasNotFound,
        format!("Alias `{name}` not found."),
    )
}

fn already_exists(name: &str) -> ApiError {
    ApiError::new(
        Code::MiroirConflict,
        format!("Alias `{name}` already exists."),
    )
}

fn target_is_an_alias(uid: &str) -> ApiError {
    bad_request(format!(
        "Invalid target: `{uid}` is an alias; an alias points at index uids, not at other \
         aliases."
    ))
}

/// The index uids of `target`.
fn uids(target: &AliasTarget) -> impl Iterator<Item = &String> {
    match target {
        AliasTarget::Single { uid } => std::slice::from_ref(uid).iter(),
        AliasTarget::Multi { uids } => uids.iter(),
    }
}

/// The name of the rollover policy whose read alias is `name`, if any.
async fn owning_policy(state: &AppState, name: &str) -> Result<Option<String>, ApiError> {
    Ok(state
        .store
        .list_rollover_policies()
        .await?
        .into_iter()
        .find(|policy| policy.read_alias == name)
        .map(|policy| policy.name))
}

/// The refusal of a direct edit (`action`) of the multi-target alias `name`, naming its rollover
/// policy when one reads through it.
async fn managed_by_ilm(state: &AppState, name: &str, action: &str) -> Result<ApiError, ApiError> {
    let owner = match owning_policy(state, name).await? {
        Some(policy) => format!("rollover policy `{policy}`"),
        None => "index lifecycle management (ILM)".to_owned(),
    };
    Ok(ApiError::new(
        Code::MiroirMultiAliasNotWritable,
        format!(
            "Alias `{name}` is a multi-target alias managed by {owner}; it cannot be {action} \
             directly."
        ),
    ))
}

/// With `aliases.require_target_exists` and nodes configured, every target must be an index the
/// nodes know: the nodes' `index_not_found` (404) otherwise, 503 when no node answers. Without
/// nodes there is nothing to ask, and targets are taken as given.
async fn check_targets_exist(state: &AppState, uids: &[String]) -> Result<(), ApiError> {
    if !state.config.aliases.require_target_exists || state.cluster.topology().is_empty() {
        return Ok(());
    }
    for uid in uids {
        let path = node_path(["indexes", uid.as_str()]);
        state.cluster.read_any::<serde_json::Value>(&path).await?;
    }
    Ok(())
}
