//! `miroir-handler-sessions`: admin UI sessions (plan §13.19, §9 "CSRF posture", table 14
//! `admin_sessions`).
//!
//! - `POST /_miroir/admin/login` `{"adminKey": "…"}` (also accepted as `admin_key`, the plan's
//!   spelling; one of the two): the one `/_miroir/` route that needs no key — the key is in the
//!   body, compared in constant time with the admin credential (`admin.api_key`, or the master
//!   key when there is no admin key). Success: 200 `{csrfToken, expiresAt}` and
//!   `Set-Cookie: miroir_admin_session=<id>; HttpOnly; Secure; SameSite=Strict; Path=/_miroir;
//!   Max-Age=<admin_ui.session_ttl_s>`. The id and the CSRF token are 32 random bytes each
//!   (hex); the store keeps only their sha256, the sha256 of the credential, the source and the
//!   user agent. Refused when neither key is configured (400: the admin API is open, there is
//!   nothing to log in to).
//! - Per client ([`miroir_http::ClientIp`]: the TCP peer, or API Gateway's `sourceIp` on
//!   Lambda; the address a `server.trusted_proxies` proxy forwards for; an IPv6 client counts
//!   as its /64): at most 10 login attempts per fixed one-minute window (every request that
//!   reaches the key check or the body parsing counts), and after 5 consecutive wrong keys no
//!   login at all — not even with the right key — for 10 minutes, doubling with each further
//!   failure up to 24 hours. Both answer 429 `miroir_too_many_requests` with `Retry-After`; a
//!   successful login resets that client's counters only. Both checks run before the body is
//!   read, and the body is capped at `admin.max_body_bytes`. Counters live in the store (Redis
//!   with several replicas), so every replica sees them.
//! - `POST /_miroir/admin/logout`: revokes the session of the request's cookie (stored flag and
//!   the revocation broadcast) and clears the cookie; 204.
//! - `GET /_miroir/admin/session`: `{createdAt, expiresAt}` of the request's session cookie, or
//!   401 without a live one (even when the admin key authenticated the request).
//!
//! Cookie authentication of the other `/_miroir/` routes, with the CSRF and `Origin` checks, is
//! the shared auth layer's (`miroir_http`'s `auth` module).

use std::time::Duration;

use axum::extract::{Extension, FromRequest, Request, State};
use axum::http::header::{CACHE_CONTROL, RETRY_AFTER, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use miroir_core::{ApiError, Code};
use miroir_http::timefmt::format_rfc3339;
use miroir_http::{
    ADMIN_SESSION_COOKIE, AdminAuth, AppState, ClientIp, HttpError, HttpResult, JsonBody,
    TOKEN_BYTES, admin_key_hash, admin_key_matches, check_same_origin, error_response,
    find_admin_session, is_token, session_cookie, session_refused, sha256_hex,
};
use miroir_store::{AdminSession, BackoffPolicy, RateLimitBucket, Timestamp};
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Login attempts allowed per source IP in one window.
pub const LOGIN_ATTEMPTS_PER_WINDOW: u64 = 10;

/// The fixed window of the login rate limit.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// The longest admin key a login body may carry, in bytes.
pub const MAX_ADMIN_KEY_BYTES: usize = 4096;

/// The longest user agent kept with a session, in bytes (longer ones are cut).
const MAX_USER_AGENT_BYTES: usize = 512;

/// The rate-limit key of requests whose source address is unknown (a router called without a
/// server in front): they share one bucket.
const UNKNOWN_SOURCE: &str = "unknown";

/// The attributes of the session cookie after its value.
const COOKIE_ATTRIBUTES: &str = "HttpOnly; Secure; SameSite=Strict; Path=/_miroir";

/// The admin session routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_login))
        .routes(routes!(admin_logout))
        .routes(routes!(admin_session))
}

/// The admin session routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// The body of `POST /_miroir/admin/login`.
// `Debug` (below) never shows the key.
#[derive(Deserialize, ToSchema)]
// `expecting`: serde's refusal of another JSON type names this, not the Rust type.
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "an object with `adminKey`"
)]
struct LoginRequest {
    /// The admin API key (`MIROIR_ADMIN_API_KEY`). Also accepted as `admin_key`.
    #[serde(alias = "admin_key")]
    admin_key: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoginRequest")
            .field("admin_key", &"<redacted>")
            .finish()
    }
}

/// The answer to a successful login.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct LoginResponse {
    /// Send it as `X-CSRF-Token` with the cookie on every request that changes state.
    csrf_token: String,
    /// RFC 3339 date the session (and the cookie) ends.
    expires_at: String,
}

/// An open session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SessionView {
    /// RFC 3339 date of the login.
    created_at: String,
    /// RFC 3339 date the session ends.
    expires_at: String,
}

/// Log in to the admin API.
///
/// Exchanges the admin key for a session cookie (`miroir_admin_session`, HttpOnly, Secure,
/// SameSite=Strict, Path=/_miroir) and a CSRF token to send as `X-CSRF-Token` on every
/// cookie-authenticated request that changes state. Needs no key in the headers. Rate-limited
/// per source IP: 10 attempts a minute, and after 5 consecutive wrong keys no login for 10
/// minutes, doubling per further failure up to 24 hours; a successful login resets both.
#[utoipa::path(
    post,
    path = "/_miroir/admin/login",
    tag = "admin-sessions",
    // Explicitly anonymous: the key is in the body.
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in.", body = LoginResponse, headers(
            ("Set-Cookie" = String, description = "`miroir_admin_session=<id>; HttpOnly; Secure; SameSite=Strict; Path=/_miroir; Max-Age=<admin_ui.session_ttl_s>`"),
        )),
        (status = 400, description = "A bad body (`bad_request`, `malformed_payload`), or no admin key is configured, so there is nothing to log in to (`bad_request`)."),
        (status = 401, description = "Wrong admin key (`miroir_invalid_auth`)."),
        (status = 403, description = "An `Origin` header that is not this server's origin (`miroir_origin_not_allowed`)."),
        (status = 429, description = "Over 10 attempts this minute from this IP, or inside the backoff after 5 consecutive failures (`miroir_too_many_requests`).", headers(
            ("Retry-After" = u64, description = "Seconds until a login may succeed."),
        )),
        (status = 503, description = "The task store is unavailable (`miroir_store_unavailable`) or not at this binary's schema version (`miroir_schema_mismatch`); retry after `Retry-After` seconds.", headers(
            ("Retry-After" = u64, description = "Seconds to wait before retrying."),
        )),
    )
)]
async fn admin_login(
    State(state): State<AppState>,
    client: ClientIp,
    request: Request,
) -> Response {
    match try_login(&state, client.limit_key(), request).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

/// A refused login: an error, and for a 429 the seconds to wait.
enum Refusal {
    Error(ApiError),
    TooMany {
        message: &'static str,
        until: Timestamp,
    },
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Self::Error(error)
    }
}

impl From<HttpError> for Refusal {
    fn from(HttpError(error): HttpError) -> Self {
        Self::Error(error)
    }
}

impl From<miroir_store::StoreError> for Refusal {
    fn from(error: miroir_store::StoreError) -> Self {
        Self::Error(error.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Error(error) => error_response(&error),
            Self::TooMany { message, until } => {
                let mut response =
                    error_response(&ApiError::new(Code::MiroirTooManyRequests, message));
                let millis = until.as_millis() - Timestamp::now().as_millis();
                let seconds = u64::try_from(millis.max(1)).unwrap_or(1).div_ceil(1000);
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(seconds));
                response
            }
        }
    }
}

/// The login, in the order that keeps an unauthenticated client cheap: origin, the source's
/// backoff and rate limit, and only then the body (at most `admin.max_body_bytes`, enforced by
/// the shared layers) and the key.
async fn try_login(
    state: &AppState,
    source: Option<String>,
    request: Request,
) -> Result<Response, Refusal> {
    let admin_key = state.config.admin_credential();
    let headers = request.headers().clone();
    check_same_origin(&headers, request.uri())?;
    if admin_key.is_empty() {
        return Err(ApiError::new(
            Code::BadRequest,
            "There is nothing to log in to: neither an admin key (`MIROIR_ADMIN_API_KEY`) nor \
             a master key (`MIROIR_MASTER_KEY`) is configured, so the admin API is open without \
             a session.",
        )
        .into());
    }
    let source = source.unwrap_or_else(|| {
        tracing::warn!("admin login without a known client address; rate-limited as `unknown`");
        UNKNOWN_SOURCE.to_owned()
    });
    let store = &state.store;
    let now = Timestamp::now();
    if let Some(until) = store
        .get_login_backoff(&source)
        .await?
        .and_then(|backoff| backoff.next_allowed_at)
        .filter(|until| *until > now)
    {
        return Err(Refusal::TooMany {
            message: "Admin logins from this address are suspended after repeated failures; \
                      retry after the `Retry-After` delay.",
            until,
        });
    }
    let hit = store
        .hit_rate_limit(RateLimitBucket::AdminLogin, &source, LOGIN_WINDOW)
        .await?;
    if hit.count > LOGIN_ATTEMPTS_PER_WINDOW {
        return Err(Refusal::TooMany {
            message: "Too many admin login attempts from this address (at most 10 a minute); \
                      retry after the `Retry-After` delay.",
            until: hit.resets_at,
        });
    }
    let JsonBody(request) = JsonBody::<LoginRequest>::from_request(request, state).await?;
    if request.admin_key.is_empty() {
        return Err(ApiError::new(Code::BadRequest, "`adminKey` must not be empty.").into());
    }
    if request.admin_key.len() > MAX_ADMIN_KEY_BYTES {
        return Err(ApiError::new(
            Code::BadRequest,
            format!("`adminKey` is longer than {MAX_ADMIN_KEY_BYTES} bytes."),
        )
        .into());
    }
    if !admin_key_matches(&request.admin_key, admin_key) {
        let policy = BackoffPolicy::default();
        let backoff = store.record_login_failure(&source, policy).await?;
        let mut message = "The provided admin key is invalid.".to_owned();
        if let Some(wait) = policy.backoff_after(backoff.failed_count) {
            message.push_str(&format!(
                " After {} consecutive failures, logins from this address are suspended for {} \
                 seconds.",
                backoff.failed_count,
                wait.as_secs()
            ));
        }
        return Err(ApiError::new(Code::MiroirInvalidAuth, message).into());
    }
    store.record_login_success(&source).await?;

    let ttl = Duration::from_secs(state.config.admin_ui.session_ttl_s);
    let (session_id, csrf_token) = (random_token(), random_token());
    let created_at = Timestamp::now();
    let session = AdminSession {
        session_id: sha256_hex(&session_id),
        csrf_token: sha256_hex(&csrf_token),
        admin_key_hash: admin_key_hash(admin_key),
        created_at,
        expires_at: created_at.plus(ttl),
        revoked: false,
        user_agent: headers
            .get(USER_AGENT)
            .map(|value| truncate(&String::from_utf8_lossy(value.as_bytes()))),
        source_ip: (source != UNKNOWN_SOURCE).then_some(source),
    };
    let expires_at = session.expires_at;
    store.create_admin_session(session).await?;
    let cookie = format!(
        "{ADMIN_SESSION_COOKIE}={session_id}; {COOKIE_ATTRIBUTES}; Max-Age={}",
        ttl.as_secs()
    );
    Ok((
        [
            (SET_COOKIE, header_value(cookie)?),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Json(LoginResponse {
            csrf_token,
            expires_at: format_rfc3339(expires_at),
        }),
    )
        .into_response())
}

/// Log out of the admin API.
///
/// Revokes the session of the request's `miroir_admin_session` cookie on every replica and
/// clears the cookie. Cookie-authenticated, it needs `X-CSRF-Token`; with the admin key it
/// revokes the cookie's session if one is sent.
#[utoipa::path(
    post,
    path = "/_miroir/admin/logout",
    tag = "admin-sessions",
    responses(
        (status = 204, description = "Logged out (also when the cookie named no live session).", headers(
            ("Set-Cookie" = String, description = "`miroir_admin_session=; HttpOnly; Secure; SameSite=Strict; Path=/_miroir; Max-Age=0`"),
        )),
    )
)]
async fn admin_logout(State(state): State<AppState>, headers: HeaderMap) -> HttpResult<Response> {
    if let Some(cookie) = session_cookie(&headers).filter(|cookie| is_token(cookie)) {
        state
            .store
            .revoke_admin_session(&sha256_hex(cookie))
            .await?;
    }
    let cleared = format!("{ADMIN_SESSION_COOKIE}=; {COOKIE_ATTRIBUTES}; Max-Age=0");
    Ok((
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, header_value(cleared)?)],
    )
        .into_response())
}

/// The current admin session.
///
/// When the session of the request's `miroir_admin_session` cookie started and ends.
#[utoipa::path(
    get,
    path = "/_miroir/admin/session",
    tag = "admin-sessions",
    responses(
        (status = 200, description = "The session.", body = SessionView),
        (status = 401, description = "No live session cookie (`miroir_invalid_auth`), even when the admin key authenticated the request."),
    )
)]
async fn admin_session(
    State(state): State<AppState>,
    auth: Option<Extension<AdminAuth>>,
    headers: HeaderMap,
) -> HttpResult<Json<SessionView>> {
    let session = match auth {
        Some(Extension(AdminAuth::Session(session))) => session,
        _ => {
            let Some(cookie) = session_cookie(&headers) else {
                return Err(ApiError::new(
                    Code::MiroirInvalidAuth,
                    "This request carries no admin session cookie (`miroir_admin_session`); \
                     log in with `POST /_miroir/admin/login`.",
                )
                .into());
            };
            find_admin_session(&state.store, state.config.admin_credential(), cookie)
                .await?
                .ok_or_else(session_refused)?
        }
    };
    Ok(Json(SessionView {
        created_at: format_rfc3339(session.created_at),
        expires_at: format_rfc3339(session.expires_at),
    }))
}

/// [`TOKEN_BYTES`] random bytes from the operating system's CSPRNG-seeded thread generator, as
/// lower-case hex.
fn random_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// `text` cut to at most [`MAX_USER_AGENT_BYTES`] on a character boundary.
fn truncate(text: &str) -> String {
    let mut end = text.len().min(MAX_USER_AGENT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn header_value(text: String) -> Result<HeaderValue, ApiError> {
    HeaderValue::try_from(text).map_err(|_| ApiError::new(Code::Internal, "internal error"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_of_the_shape_the_auth_layer_accepts() {
        let (a, b) = (random_token(), random_token());
        assert!(is_token(&a) && is_token(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn a_login_body_never_shows_its_key() {
        let body: LoginRequest = serde_json::from_str(r#"{"adminKey":"s3cret-admin"}"#).unwrap();
        let debug = format!("{body:?} {body:#?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn user_agents_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("curl/8"), "curl/8");
        let long = "é".repeat(300);
        let cut = truncate(&long);
        assert_eq!(cut.len(), 512);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
