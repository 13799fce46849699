//! `miroir-handler-tenants`: the tenant routes under `/_miroir/` (admin key), plan §4 table 11
//! and §13.15 (`tenant_affinity.mode: api_key`).
//!
//! The map resolves an inbound API key to a tenant and, optionally, the replica group its reads
//! are pinned to. Only `sha256(apiKey)` is stored; no answer ever carries the key or its hash.
//!
//! - `PUT /_miroir/tenants/{tenantId}` `{apiKey, groupId?}` → 201 for a new tenant, 200 for an
//!   update: `{tenantId, groupId}`. A tenant has exactly one key: a PUT with another key re-keys
//!   the tenant, and the old key stops resolving in the same atomic step. A key that belongs to
//!   another tenant is a 409 `miroir_conflict` (delete that tenant first). `groupId` must be
//!   below `replica_groups`; without it (or `null`) reads fall through to
//!   `hash(tenantId) % replica_groups`.
//! - `GET /_miroir/tenants/lookup` with the key in the `X-Miroir-Tenant-Api-Key` header (never in
//!   the URL: any query parameter is refused) → `{tenantId, groupId}`, or 404
//!   `miroir_tenant_not_found`.
//! - `GET /_miroir/tenants/{tenantId}` → `{tenantId, groupId}`, or 404 `miroir_tenant_not_found`.
//! - `DELETE /_miroir/tenants/{tenantId}` → 204 (the key stops resolving), or 404.
//!
//! Tenant ids are 1 to 255 bytes of ASCII letters, digits, `-`, `_` and `.`; `lookup` is taken
//! by the lookup route. API keys are 16 to 1024 visible ASCII characters (what an HTTP header
//! carries). A bad one is a 400 `bad_request` naming the field, before the store is touched.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router};
use miroir_core::{ApiError, Code};
use miroir_http::{AppState, HttpResult, JsonBody};
use miroir_store::{StoreError, TenantMapping};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use miroir_http::object::Object;

/// The header `GET /_miroir/tenants/lookup` reads the API key from.
pub const API_KEY_HEADER: &str = "X-Miroir-Tenant-Api-Key";

/// The longest tenant id, in bytes.
pub const MAX_TENANT_ID_BYTES: usize = 255;

/// The shortest API key, in bytes.
pub const MIN_API_KEY_BYTES: usize = 16;

/// The longest API key, in bytes.
pub const MAX_API_KEY_BYTES: usize = 1024;

/// The tenant routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lookup_tenant))
        .routes(routes!(get_tenant, put_tenant, delete_tenant))
}

/// The tenant routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// A tenant: never its key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Tenant)]
struct TenantView {
    /// The tenant id.
    #[schema(example = "acme")]
    tenant_id: String,
    /// The replica group the tenant's reads are pinned to; `null`: `hash(tenantId) %
    /// replica_groups`.
    #[schema(example = 1)]
    group_id: Option<u32>,
}

impl From<TenantMapping> for TenantView {
    fn from(mapping: TenantMapping) -> Self {
        Self {
            tenant_id: mapping.tenant_id,
            group_id: mapping.group_id,
        }
    }
}

/// The body of `PUT /_miroir/tenants/{tenantId}`.
// `Debug` (below) never shows the key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = PutTenant)]
struct PutTenant {
    /// The tenant's API key: 16 to 1024 visible ASCII characters. Only its sha256 is stored.
    #[schema(example = "9f2c1e0b7a4d48e6b1c3a5f7d9e0b2c4")]
    api_key: String,
    /// The replica group to pin the tenant's reads to (below `replica_groups`); absent or
    /// `null`: `hash(tenantId) % replica_groups`.
    #[serde(default)]
    #[schema(example = 1)]
    group_id: Option<u32>,
}

impl std::fmt::Debug for PutTenant {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PutTenant")
            .field("api_key", &"<redacted>")
            .field("group_id", &self.group_id)
            .finish()
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, message)
}

fn not_found(tenant_id: &str) -> ApiError {
    ApiError::new(
        Code::MiroirTenantNotFound,
        format!("Tenant `{tenant_id}` not found."),
    )
}

/// `bad_request` unless `tenant_id` is a valid tenant id.
fn check_tenant_id(tenant_id: &str) -> Result<(), ApiError> {
    let valid = !tenant_id.is_empty()
        && tenant_id.len() <= MAX_TENANT_ID_BYTES
        && tenant_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte));
    if valid {
        Ok(())
    } else {
        Err(bad_request(format!(
            "Invalid tenant id `{tenant_id}`: a tenant id is 1 to {MAX_TENANT_ID_BYTES} bytes of \
             ASCII letters, digits, `-`, `_` and `.`."
        )))
    }
}

/// `bad_request` unless `api_key` can be an API key; the message never repeats the key.
fn check_api_key(what: &str, api_key: &str) -> Result<(), ApiError> {
    let valid = (MIN_API_KEY_BYTES..=MAX_API_KEY_BYTES).contains(&api_key.len())
        && api_key.bytes().all(|byte| byte.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(invalid_key(what))
    }
}

fn invalid_key(what: &str) -> ApiError {
    bad_request(format!(
        "Invalid {what}: an API key is {MIN_API_KEY_BYTES} to {MAX_API_KEY_BYTES} visible ASCII \
         characters (no spaces)."
    ))
}

/// sha256 of the key: the only form in which it is stored or looked up.
fn key_hash(api_key: &str) -> [u8; 32] {
    Sha256::digest(api_key.as_bytes()).into()
}

/// Look a tenant up by API key.
///
/// The tenant (and pinned group) of the API key sent in the `X-Miroir-Tenant-Api-Key` header.
/// The key is never accepted in the URL.
#[utoipa::path(
    get,
    path = "/_miroir/tenants/lookup",
    tag = "tenants",
    params(("X-Miroir-Tenant-Api-Key" = String, Header, description = "The API key to resolve.")),
    responses(
        (status = 200, description = "The key's tenant.", body = TenantView),
        (status = 400, description = "The header is missing or is not an API key, or a query parameter was given (`bad_request`)."),
        (status = 404, description = "No tenant has this key (`miroir_tenant_not_found`)."),
    )
)]
async fn lookup_tenant(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> HttpResult<Json<TenantView>> {
    if query.is_some_and(|query| !query.is_empty()) {
        return Err(bad_request(format!(
            "`GET /_miroir/tenants/lookup` takes no query parameters: send the API key in the \
             `{API_KEY_HEADER}` header."
        ))
        .into());
    }
    let what = format!("`{API_KEY_HEADER}` header");
    let values: Vec<_> = headers.get_all(API_KEY_HEADER).iter().collect();
    let api_key = match values.as_slice() {
        [] => {
            return Err(bad_request(format!(
                "The `{API_KEY_HEADER}` header is missing: it carries the API key to look up."
            ))
            .into());
        }
        [value] => value.to_str().map_err(|_| invalid_key(&what))?,
        _ => {
            return Err(bad_request(format!(
                "The `{API_KEY_HEADER}` header is given more than once."
            ))
            .into());
        }
    };
    check_api_key(&what, api_key)?;
    match state.store.get_tenant(&key_hash(api_key)).await? {
        Some(mapping) => Ok(Json(mapping.into())),
        None => {
            Err(ApiError::new(Code::MiroirTenantNotFound, "No tenant has this API key.").into())
        }
    }
}

/// Get a tenant.
///
/// The tenant's pinned replica group (never its key).
#[utoipa::path(
    get,
    path = "/_miroir/tenants/{tenantId}",
    tag = "tenants",
    params(("tenantId" = String, Path, description = "The tenant id.")),
    responses(
        (status = 200, description = "The tenant.", body = TenantView),
        (status = 400, description = "The tenant id is invalid (`bad_request`)."),
        (status = 404, description = "No tenant has this id (`miroir_tenant_not_found`)."),
    )
)]
async fn get_tenant(
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
) -> HttpResult<Json<TenantView>> {
    check_tenant_id(&tenant_id)?;
    match state.store.get_tenant_by_id(&tenant_id).await? {
        Some(mapping) => Ok(Json(mapping.into())),
        None => Err(not_found(&tenant_id).into()),
    }
}

/// Create or update a tenant.
///
/// Maps the API key (stored as its sha256) to the tenant, pinned to `groupId` if given. A tenant
/// has one key: another key replaces the tenant's previous one, which stops resolving at once.
#[utoipa::path(
    put,
    path = "/_miroir/tenants/{tenantId}",
    tag = "tenants",
    params(("tenantId" = String, Path, description = "The tenant id.")),
    request_body = PutTenant,
    responses(
        (status = 200, description = "The tenant was updated (its group, or its key).", body = TenantView),
        (status = 201, description = "The tenant was created.", body = TenantView),
        (status = 400, description = "An invalid tenant id, API key or group, an unknown field, a wrong type (`bad_request`, `malformed_payload`)."),
        (status = 409, description = "The API key belongs to another tenant (`miroir_conflict`)."),
    )
)]
async fn put_tenant(
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    JsonBody(Object(body)): JsonBody<Object<PutTenant>>,
) -> HttpResult<(StatusCode, Json<TenantView>)> {
    check_tenant_id(&tenant_id)?;
    check_api_key("`apiKey`", &body.api_key)?;
    let groups = state.config.replica_groups;
    if let Some(group) = body.group_id.filter(|&group| group >= groups) {
        return Err(bad_request(format!(
            "Invalid `groupId` {group}: it must be below `replica_groups` ({groups})."
        ))
        .into());
    }
    let mapping = TenantMapping {
        api_key_hash: key_hash(&body.api_key),
        tenant_id,
        group_id: body.group_id,
    };
    let view = TenantView {
        tenant_id: mapping.tenant_id.clone(),
        group_id: mapping.group_id,
    };
    match state.store.put_tenant(mapping).await {
        Ok(None) => Ok((StatusCode::CREATED, Json(view))),
        Ok(Some(_)) => Ok((StatusCode::OK, Json(view))),
        Err(StoreError::Conflict(_)) => Err(ApiError::new(
            Code::MiroirConflict,
            format!(
                "This API key belongs to another tenant; delete that tenant first or give \
                 `{}` another key.",
                view.tenant_id
            ),
        )
        .into()),
        Err(error) => Err(error.into()),
    }
}

/// Delete a tenant.
///
/// Its key stops resolving.
#[utoipa::path(
    delete,
    path = "/_miroir/tenants/{tenantId}",
    tag = "tenants",
    params(("tenantId" = String, Path, description = "The tenant id.")),
    responses(
        (status = 204, description = "The tenant was deleted."),
        (status = 400, description = "The tenant id is invalid (`bad_request`)."),
        (status = 404, description = "No tenant has this id (`miroir_tenant_not_found`)."),
    )
)]
async fn delete_tenant(
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
) -> HttpResult<StatusCode> {
    check_tenant_id(&tenant_id)?;
    if state.store.delete_tenant_by_id(&tenant_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&tenant_id).into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_body_never_shows_its_key() {
        let body: PutTenant =
            serde_json::from_str(r#"{"apiKey":"s3cret-tenant-key-0123","groupId":1}"#).unwrap();
        let debug = format!("{body:?} {body:#?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("group_id: Some(1)"), "{debug}");
    }
}
