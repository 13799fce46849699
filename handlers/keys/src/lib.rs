//! `miroir-handler-keys`: Meilisearch's `/keys` routes over the store's API key table.
//!
//! A key's secret is derived from the master key and its uid ([`derive_key`]), as Meilisearch
//! derives it, so the store keeps only the key's description; the auth layer
//! (`miroir_http::api_keys`) enforces keys on every client route. Bodies are checked field by
//! field with Meilisearch's codes and messages.

mod body;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use miroir_core::keys::derive_key;
use miroir_core::{ApiError, Code};
use miroir_http::timefmt::format_rfc3339;
use miroir_http::{AppState, HttpResult, JsonBody, QueryParams};
use miroir_store::{ApiKeyRecord, StoreError, Timestamp};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The key routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, update_key, delete_key))
}

/// The key routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// A key as Meilisearch shows it, fields in its order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Key)]
struct KeyView {
    name: Option<String>,
    description: Option<String>,
    /// The key to send as `Authorization: Bearer <key>`.
    key: String,
    uid: String,
    actions: Vec<String>,
    indexes: Vec<String>,
    /// RFC 3339 date, or null for a key that never expires.
    expires_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl KeyView {
    fn new(state: &AppState, key: ApiKeyRecord) -> Self {
        Self {
            key: derive_key(state.config.master_key.expose(), &key.uid),
            name: key.name,
            description: key.description,
            uid: key.uid,
            actions: key.actions,
            indexes: key.indexes,
            expires_at: key.expires_at.map(format_rfc3339),
            created_at: format_rfc3339(key.created_at),
            updated_at: format_rfc3339(key.updated_at),
        }
    }
}

/// The body of `GET /keys`.
#[derive(Debug, Serialize, ToSchema)]
struct KeyList {
    results: Vec<KeyView>,
    offset: u64,
    limit: u64,
    total: u64,
}

/// Largest page of `GET /keys`: a greater `limit` is served as this many keys.
const MAX_LIMIT: u64 = 1_000;

/// List API keys.
///
/// Newest first, expired keys included. At most 1000 a page.
#[utoipa::path(
    get,
    path = "/keys",
    tag = "keys",
    params(
        ("offset" = Option<u64>, Query, description = "Keys to skip."),
        ("limit" = Option<u64>, Query, description = "Page size (default 20, at most 1000)."),
    ),
    responses(
        (status = 200, description = "One page of keys.", body = KeyList),
        (status = 400, description = "`invalid_api_key_offset`, `invalid_api_key_limit`."),
    )
)]
async fn list_keys(
    State(state): State<AppState>,
    params: QueryParams,
) -> HttpResult<Json<KeyList>> {
    params.reject_unknown(&["offset", "limit"])?;
    let number = |name: &str, code: Code, default: u64| {
        params.get(name).map_or(Ok(default), |value| {
            value.parse::<u64>().map_err(|_| {
                ApiError::new(
                    code,
                    format!(
                        "Invalid value in parameter `{name}`: could not parse `{value}` as a \
                         positive integer"
                    ),
                )
            })
        })
    };
    let offset = number("offset", Code::InvalidApiKeyOffset, 0)?;
    let limit = number("limit", Code::InvalidApiKeyLimit, 20)?;
    let page = state
        .store
        .list_api_keys(offset, limit.min(MAX_LIMIT))
        .await?;
    Ok(Json(KeyList {
        results: page
            .results
            .into_iter()
            .map(|key| KeyView::new(&state, key))
            .collect(),
        offset,
        limit,
        total: page.total,
    }))
}

/// Create an API key.
///
/// `actions`, `indexes` and `expiresAt` are required; `uid` (a UUID v4) is chosen when absent.
#[utoipa::path(
    post,
    path = "/keys",
    tag = "keys",
    request_body(content = Object, description = "`{actions, indexes, expiresAt, name?, description?, uid?}`"),
    responses(
        (status = 201, description = "The key.", body = KeyView),
        (status = 400, description = "A missing or invalid field (`missing_api_key_*`, `invalid_api_key_*`, `bad_request`)."),
        (status = 409, description = "A key with this uid exists (`api_key_already_exists`)."),
    )
)]
async fn create_key(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> HttpResult<Response> {
    let key = body::new_key(body, Timestamp::now())?;
    let uid = key.uid.clone();
    match state.store.create_api_key(key).await {
        Ok(key) => Ok((StatusCode::CREATED, Json(KeyView::new(&state, key))).into_response()),
        Err(StoreError::Conflict(_)) => Err(ApiError::new(
            Code::ApiKeyAlreadyExists,
            format!("`uid` field value `{uid}` is already an existing API key."),
        )
        .into()),
        Err(error) => Err(error.into()),
    }
}

/// Get an API key, by uid or by key.
#[utoipa::path(
    get,
    path = "/keys/{key}",
    tag = "keys",
    params(("key" = String, Path, description = "The key's uid, or the key itself.")),
    responses(
        (status = 200, description = "The key.", body = KeyView),
        (status = 404, description = "`api_key_not_found`."),
    )
)]
async fn get_key(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> HttpResult<Json<KeyView>> {
    let found = find(&state, &key).await?;
    Ok(Json(KeyView::new(&state, found)))
}

/// Change an API key's `name` or `description` (the other fields cannot change).
#[utoipa::path(
    patch,
    path = "/keys/{key}",
    tag = "keys",
    params(("key" = String, Path, description = "The key's uid, or the key itself.")),
    request_body(content = Object, description = "`{name?, description?}`"),
    responses(
        (status = 200, description = "The key.", body = KeyView),
        (status = 400, description = "Another field (`immutable_api_key_*`, `bad_request`) or a bad value."),
        (status = 404, description = "`api_key_not_found`."),
    )
)]
async fn update_key(
    State(state): State<AppState>,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> HttpResult<Json<KeyView>> {
    let change = body::change(body)?;
    let mut found = find(&state, &key).await?;
    change.apply(&mut found, Timestamp::now());
    match state.store.put_api_key(found).await {
        Ok(key) => Ok(Json(KeyView::new(&state, key))),
        Err(StoreError::NotFound(_)) => Err(not_found(&key).into()),
        Err(error) => Err(error.into()),
    }
}

/// Delete an API key: it is refused on every replica from its next request.
#[utoipa::path(
    delete,
    path = "/keys/{key}",
    tag = "keys",
    params(("key" = String, Path, description = "The key's uid, or the key itself.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`api_key_not_found`."),
    )
)]
async fn delete_key(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> HttpResult<Response> {
    let found = find(&state, &key).await?;
    if state.store.delete_api_key(&found.uid).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found(&key).into())
    }
}

/// The stored key `uid_or_key` names: its uid, or the key derived from it.
async fn find(state: &AppState, uid_or_key: &str) -> Result<ApiKeyRecord, ApiError> {
    let found = if uuid::Uuid::try_parse(uid_or_key).is_ok() {
        state
            .store
            .get_api_key(&uid_or_key.to_ascii_lowercase())
            .await?
    } else {
        state
            .keys
            .resolve(&state.store, state.config.master_key.expose(), uid_or_key)
            .await?
    };
    found.ok_or_else(|| not_found(uid_or_key))
}

fn not_found(key: &str) -> ApiError {
    ApiError::new(Code::ApiKeyNotFound, format!("API key `{key}` not found."))
}
