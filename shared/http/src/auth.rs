//! Authentication (plan §5, §9 "CSRF posture"): the master key for the client API; for
//! `/_miroir/*` the admin credential or an admin session cookie; nothing for `GET /health`,
//! `GET /_miroir/ready` and `POST /_miroir/admin/login` (the login handler checks the key in its
//! body itself).
//!
//! # The admin credential
//!
//! The admin API's key is `admin.api_key`, or, when that is empty, the master key: as in
//! Meilisearch, the master key is the root credential ([`miroir_core::Config::admin_credential`]).
//! Only when both are empty is the admin API open (warned once at start).
//!
//! # Admin requests
//!
//! With an admin credential, a request to the admin API is authenticated by, in this order:
//!
//! 1. the admin credential, as `Authorization: Bearer <key>` or `X-Admin-Key: <key>`. A key that is
//!    given but wrong is refused (401 `miroir_invalid_auth`) even when a cookie is also sent.
//!    Key-authenticated requests need no CSRF token: a browser never attaches these headers to a
//!    cross-site request on its own.
//! 2. else the session cookie `miroir_admin_session` issued by `POST /_miroir/admin/login`:
//!    - an `Origin` header, when present, must be this server's origin: its host and port
//!      (default port of its scheme when absent) must equal those of the `Host` header (or, on
//!      HTTP/2, the request's `:authority`); the scheme is not compared, TLS may end in front of
//!      Miroir. `Origin: null` and any other origin are refused with 403
//!      `miroir_origin_not_allowed`, before the session is looked up;
//!    - the session, looked up in the store on every request (one read, no per-replica cache,
//!      so a logout on any replica is refused by every replica on its very next request), must
//!      exist, be unexpired, unrevoked, and have been opened with the admin credential configured
//!      now (changing it ends every session); else 401 `miroir_invalid_auth`;
//!    - a request with a method other than GET, HEAD, OPTIONS and TRACE must carry
//!      `X-CSRF-Token` equal to the token the login returned (compared in constant time against
//!      the stored sha256), else 403 `miroir_csrf_mismatch`.
//! 3. else 401 `miroir_invalid_auth`.
//!
//! The layer records how the request was authenticated as an [`AdminAuth`] request extension.
//! Without an admin credential the admin API is open and login is refused.

use std::sync::Once;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use miroir_core::config::Secret;
use miroir_core::{ApiError, Code, keys};
use miroir_store::{AdminSession, DynStore, Timestamp};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api_keys::{ClientAuth, is_expired};
use crate::error::error_response;
use crate::state::AppState;

/// Which credentials a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScope {
    /// `GET /health` and `POST /_miroir/admin/login`: none from this layer.
    Open,
    /// `/_miroir/*`: the admin key or an admin session cookie.
    Admin,
    /// Everything else (the Meilisearch API): the master key or an API key allowing the route.
    Client,
}

/// The path of the admin login, the one `/_miroir/` route open to requests without a key.
pub const ADMIN_LOGIN_PATH: &str = "/_miroir/admin/login";

/// The readiness route, open like `/health` so that Kubernetes probes (which cannot carry a
/// secret) can call it; it reveals only whether the store is at this binary's schema version.
pub(crate) const READY_PATH: &str = "/_miroir/ready";

/// The Prometheus scrape route: admin-scoped, and kept when the operator API is switched off.
pub(crate) const METRICS_PATH: &str = "/_miroir/metrics";

/// The name of the admin session cookie.
pub const ADMIN_SESSION_COOKIE: &str = "miroir_admin_session";

/// The header carrying a session's CSRF token on cookie-authenticated mutations.
pub const CSRF_TOKEN_HEADER: &str = "x-csrf-token";

/// The scope of a request to `method path`.
pub fn scope_of(method: &Method, path: &str) -> AuthScope {
    let probe = (path == "/health" || path == READY_PATH)
        && (method == Method::GET || method == Method::HEAD);
    let login = path == ADMIN_LOGIN_PATH && method == Method::POST;
    if probe || login {
        AuthScope::Open
    } else if crate::layers::is_operator_path(path) {
        AuthScope::Admin
    } else {
        AuthScope::Client
    }
}

/// How the auth layer let a request to the admin API in (a request extension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminAuth {
    /// Neither an admin key nor a master key is configured: the admin API is open.
    Open,
    /// The admin credential (the admin key, or the master key when there is none).
    Key,
    /// An admin session cookie; the session as stored.
    Session(AdminSession),
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
    if state.config.admin.enabled && state.config.admin_credential().is_empty() {
        NO_ADMIN_KEY_WARNING.call_once(|| {
            tracing::warn!(
                "neither an admin key (MIROIR_ADMIN_API_KEY) nor a master key (MIROIR_MASTER_KEY) \
                 is configured: the /_miroir API is open to anyone"
            );
        });
    }
}

/// The auth middleware (see the module docs).
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let verdict = match scope_of(request.method(), request.uri().path()) {
        AuthScope::Open => Ok(()),
        AuthScope::Client => {
            match check_client(&state, request.method(), request.uri(), request.headers()).await {
                Ok(auth) => {
                    request.extensions_mut().insert(auth);
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
        AuthScope::Admin => {
            match check_admin(&state, request.method(), request.uri(), request.headers()).await {
                Ok(auth) => {
                    request.extensions_mut().insert(auth);
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
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

/// The client credential of a request: the master key, or a stored API key that has not expired
/// and allows the route's action on the index its path names (Meilisearch's rules; an index
/// named in the body is the handler's to check with [`ClientAuth::allows_index`]).
async fn check_client(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<ClientAuth, ApiError> {
    let master_key = &state.config.master_key;
    if master_key.is_empty() {
        return Ok(ClientAuth::Open);
    }
    let Some(given) = bearer(headers) else {
        return Err(ApiError::new(
            Code::MissingAuthorizationHeader,
            "The Authorization header is missing. It must use the bearer authorization method.",
        ));
    };
    if keys_match(given, master_key) {
        return Ok(ClientAuth::Master);
    }
    let invalid = crate::api_keys::refused;
    let Some(key) = state
        .keys
        .resolve(&state.store, master_key.expose(), given)
        .await?
    else {
        return Err(invalid());
    };
    if is_expired(&key, Timestamp::now()) {
        return Err(invalid());
    }
    let Some(needed) = keys::requirement(method.as_str(), uri.path()) else {
        return Err(invalid());
    };
    let auth = ClientAuth::Key(key);
    let index_allowed = needed
        .index
        .as_deref()
        .is_none_or(|index| auth.allows_index(&crate::path::decode_lossy(index)));
    if auth.allows_action(needed.action) && index_allowed {
        Ok(auth)
    } else {
        Err(invalid())
    }
}

async fn check_admin(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<AdminAuth, ApiError> {
    let admin_key = state.config.admin_credential();
    if admin_key.is_empty() {
        return Ok(AdminAuth::Open);
    }
    let given = bearer(headers).or_else(|| {
        headers
            .get("x-admin-key")
            .and_then(|value| value.to_str().ok())
    });
    if let Some(given) = given {
        return if keys_match(given, admin_key) {
            Ok(AdminAuth::Key)
        } else {
            Err(ApiError::new(
                Code::MiroirInvalidAuth,
                "The provided admin key is invalid.",
            ))
        };
    }
    let Some(cookie) = session_cookie(headers) else {
        return Err(ApiError::new(
            Code::MiroirInvalidAuth,
            "The admin API needs the admin key (the master key when no admin key is set) as \
             `Authorization: Bearer <key>` or `X-Admin-Key`, or an admin session cookie from \
             `POST /_miroir/admin/login`.",
        ));
    };
    check_same_origin(headers, uri)?;
    // The store is read below: answer the readiness gate's 503 rather than a schema error.
    state.readiness.status()?;
    let session = find_admin_session(&state.store, admin_key, cookie)
        .await?
        .ok_or_else(session_refused)?;
    if !is_safe(method) {
        check_csrf_token(headers, &session)?;
    }
    Ok(AdminAuth::Session(session))
}

/// The 401 for a session cookie that names no live session.
pub fn session_refused() -> ApiError {
    ApiError::new(
        Code::MiroirInvalidAuth,
        "The admin session is unknown, expired or logged out; log in again with \
         `POST /_miroir/admin/login`.",
    )
}

/// Methods a browser may send cross-site without side effects; every other one needs the CSRF
/// token on a cookie-authenticated request.
fn is_safe(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(method)
}

fn check_csrf_token(headers: &HeaderMap, session: &AdminSession) -> Result<(), ApiError> {
    let given = headers
        .get(CSRF_TOKEN_HEADER)
        .map(|value| sha256_hex(&String::from_utf8_lossy(value.as_bytes())));
    match given {
        Some(given) if bool::from(given.as_bytes().ct_eq(session.csrf_token.as_bytes())) => Ok(()),
        Some(_) => Err(ApiError::new(
            Code::MiroirCsrfMismatch,
            "The `X-CSRF-Token` header does not match this admin session's CSRF token.",
        )),
        None => Err(ApiError::new(
            Code::MiroirCsrfMismatch,
            "A cookie-authenticated request that changes state needs the `X-CSRF-Token` header \
             with the `csrfToken` the login returned.",
        )),
    }
}

/// Refuses a request whose `Origin` header, when present, is not this server's origin (see the
/// module docs). Requests without `Origin` pass.
pub fn check_same_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = String::from_utf8_lossy(origin.as_bytes());
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| uri.authority().map(|authority| authority.as_str()));
    if host.is_some_and(|host| same_origin(&origin, host)) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::MiroirOriginNotAllowed,
            format!(
                "The Origin `{origin}` is not this server's origin: browser requests to the \
                 admin API must come from the admin UI's own origin."
            ),
        ))
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the same host and port as `host`
/// (`host[:port]`, the port defaulting to the origin scheme's).
fn same_origin(origin: &str, host: &str) -> bool {
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    if !matches!(origin.scheme(), "http" | "https")
        || origin.path() != "/"
        || host.contains(['/', '@', '?', '#'])
    {
        return false;
    }
    let Ok(server) = url::Url::parse(&format!("{}://{host}", origin.scheme())) else {
        return false;
    };
    origin.host() == server.host()
        && origin.port_or_known_default() == server.port_or_known_default()
}

/// The value of the admin session cookie among the request's `Cookie` headers (the first one).
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == ADMIN_SESSION_COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"'))
}

/// The live session `cookie` opens, or `None` when the cookie is malformed, unknown, expired,
/// revoked, or was issued for another admin key than `admin_key`. One store read.
pub async fn find_admin_session(
    store: &DynStore,
    admin_key: &Secret,
    cookie: &str,
) -> Result<Option<AdminSession>, ApiError> {
    if !is_token(cookie) {
        return Ok(None);
    }
    let Some(session) = store.get_admin_session(&sha256_hex(cookie)).await? else {
        return Ok(None);
    };
    let key_hash = admin_key_hash(admin_key);
    let same_key: bool = session.admin_key_hash.ct_eq(&key_hash).into();
    let live = !session.revoked && session.expires_at > Timestamp::now();
    Ok((live && same_key).then_some(session))
}

/// Whether `text` has the shape of a token Miroir issues: [`TOKEN_BYTES`] random bytes as
/// lower-case hex.
pub fn is_token(text: &str) -> bool {
    text.len() == TOKEN_BYTES * 2
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// Random bytes in a session id or CSRF token.
pub const TOKEN_BYTES: usize = 32;

/// Lower-case hex sha256 of `text`: how a session id (the store key) and a CSRF token are
/// stored, so a store reader never sees a usable value.
pub fn sha256_hex(text: &str) -> String {
    hex_lower(&Sha256::digest(text.as_bytes()))
}

/// The sha256 of the admin key, as stored in each session.
pub fn admin_key_hash(admin_key: &Secret) -> [u8; 32] {
    Sha256::digest(admin_key.expose().as_bytes()).into()
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|byte| {
            [
                DIGITS[usize::from(byte >> 4)],
                DIGITS[usize::from(byte & 15)],
            ]
        })
        .map(char::from)
        .collect()
}

/// Whether `given` is the admin key: compared in constant time, also independent of the
/// lengths (both sides are hashed first).
pub fn admin_key_matches(given: &str, admin_key: &Secret) -> bool {
    keys_match(given, admin_key)
}

/// Compares in constant time, also independent of the lengths (both sides are hashed first).
fn keys_match(given: &str, expected: &Secret) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.expose().as_bytes());
    given.as_slice().ct_eq(expected.as_slice()).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn login_is_the_one_open_admin_route() {
        assert_eq!(scope_of(&Method::POST, ADMIN_LOGIN_PATH), AuthScope::Open);
        assert_eq!(scope_of(&Method::GET, ADMIN_LOGIN_PATH), AuthScope::Admin);
        assert_eq!(
            scope_of(&Method::POST, "/_miroir/admin/login/x"),
            AuthScope::Admin
        );
        assert_eq!(
            scope_of(&Method::POST, "/_miroir/admin/logout"),
            AuthScope::Admin
        );
        assert_eq!(scope_of(&Method::GET, "/health"), AuthScope::Open);
        assert_eq!(scope_of(&Method::GET, READY_PATH), AuthScope::Open);
        assert_eq!(scope_of(&Method::POST, READY_PATH), AuthScope::Admin);
        assert_eq!(scope_of(&Method::GET, "/tasks"), AuthScope::Client);
    }

    #[test]
    fn same_origin_compares_host_and_port() {
        for (origin, host) in [
            ("http://localhost:7700", "localhost:7700"),
            ("https://admin.example", "admin.example"),
            ("https://admin.example", "admin.example:443"),
            ("https://Admin.Example:8443", "admin.example:8443"),
            ("http://[::1]:7700", "[::1]:7700"),
            ("http://127.0.0.1", "127.0.0.1:80"),
        ] {
            assert!(same_origin(origin, host), "{origin} vs {host}");
        }
        for (origin, host) in [
            ("http://localhost:7701", "localhost:7700"),
            ("https://evil.example", "admin.example"),
            ("https://admin.example.evil", "admin.example"),
            ("http://admin.example", "admin.example:8080"),
            ("null", "admin.example"),
            ("file://admin.example", "admin.example"),
            ("https://admin.example/path", "admin.example"),
            ("https://admin.example", "admin.example/x"),
            ("https://admin.example", "user@admin.example"),
            ("", "admin.example"),
        ] {
            assert!(!same_origin(origin, host), "{origin} vs {host}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        assert_eq!(session_cookie(&headers), None);
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark;miroir_admin_session=abc ; x=y"),
        );
        assert_eq!(session_cookie(&headers), Some("abc"));
    }

    #[test]
    fn tokens_are_64_lower_case_hex_digits() {
        let token = sha256_hex("x");
        assert!(is_token(&token));
        assert!(!is_token(&token.to_uppercase()));
        assert!(!is_token(&token[1..]));
        assert!(!is_token(""));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
