//! Authentication (plan §5): the master key for the client API, the admin key for `/_miroir/*`,
//! nothing for `GET /health`.

use std::sync::Once;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use miroir_core::config::Secret;
use miroir_core::{ApiError, Code};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::error_response;
use crate::state::AppState;

/// Which credentials a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScope {
    /// `GET /health`: none, ever.
    Open,
    /// `/_miroir/*`: the admin key.
    Admin,
    /// Everything else (the Meilisearch API): the master key.
    Client,
}

/// The scope of a request to `method path`.
pub fn scope_of(method: &Method, path: &str) -> AuthScope {
    if path == "/health" && (method == Method::GET || method == Method::HEAD) {
        AuthScope::Open
    } else if path == "/_miroir" || path.starts_with("/_miroir/") {
        AuthScope::Admin
    } else {
        AuthScope::Client
    }
}

static NO_MASTER_KEY_WARNING: Once = Once::new();
static NO_ADMIN_KEY_WARNING: Once = Once::new();

/// Logs, once per process, which APIs run without a key.
pub(crate) fn warn_if_open(state: &AppState) {
    if state.config.master_key.is_empty() {
        NO_MASTER_KEY_WARNING.call_once(|| {
            tracing::warn!(
                "no master key configured (MIROIR_MASTER_KEY): the client API is open to anyone"
            );
        });
    }
    if state.config.admin.api_key.is_empty() {
        NO_ADMIN_KEY_WARNING.call_once(|| {
            tracing::warn!(
                "no admin key configured (MIROIR_ADMIN_API_KEY): the /_miroir API is open to anyone"
            );
        });
    }
}

/// The auth middleware (see the module docs).
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let verdict = match scope_of(request.method(), request.uri().path()) {
        AuthScope::Open => Ok(()),
        AuthScope::Client => check_client(&state.config.master_key, request.headers()),
        AuthScope::Admin => check_admin(&state.config.admin.api_key, request.headers()),
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(error) => error_response(&error),
    }
}

/// The key of `Authorization: Bearer <key>`, if that header is present and well-formed.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim())
        .filter(|key| !key.is_empty())
}

fn check_client(master_key: &Secret, headers: &HeaderMap) -> Result<(), ApiError> {
    if master_key.is_empty() {
        return Ok(());
    }
    let Some(given) = bearer(headers) else {
        return Err(ApiError::new(
            Code::MissingAuthorizationHeader,
            "The Authorization header is missing. It must use the bearer authorization method.",
        ));
    };
    if keys_match(given, master_key) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::InvalidApiKey,
            "The provided API key is invalid.",
        ))
    }
}

fn check_admin(admin_key: &Secret, headers: &HeaderMap) -> Result<(), ApiError> {
    if admin_key.is_empty() {
        return Ok(());
    }
    let given = bearer(headers).or_else(|| {
        headers
            .get("x-admin-key")
            .and_then(|value| value.to_str().ok())
    });
    match given {
        Some(given) if keys_match(given, admin_key) => Ok(()),
        Some(_) => Err(ApiError::new(
            Code::MiroirInvalidAuth,
            "The provided admin key is invalid.",
        )),
        None => Err(ApiError::new(
            Code::MiroirInvalidAuth,
            "The admin API needs the admin key as `Authorization: Bearer <key>` or `X-Admin-Key`.",
        )),
    }
}

/// Compares in constant time, also independent of the lengths (both sides are hashed first).
fn keys_match(given: &str, expected: &Secret) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.expose().as_bytes());
    given.as_slice().ct_eq(expected.as_slice()).into()
}
