//! The admin session routes and cookie authentication without a server (tower `oneshot`),
//! behind the production layers, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every response body is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both
//! backends (random tokens and dates redacted). Besides the session routes, the router under
//! test has `/_miroir/probe` (any method), which answers how the auth layer let the request in:
//! it stands for every other admin route.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Extension};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::routing::any;
use miroir_core::Config;
use miroir_core::config::{Secret, TrustedProxies};
use miroir_http::{AdminAuth, AppState, apply_layers, sha256_hex};
use miroir_store::{AdminSession, DynStore, RateLimitBucket, Timestamp};
use miroir_test_support::route_kit::{Snapshot, Wire};
use serde_json::{Value, json};
use tower::ServiceExt;

miroir_test_support::route_suite!(
    prefix: "sessions-routes",
    app: |store| crate::App::new(store, crate::ADMIN_KEY),
    cases: [
        login_opens_a_session_stored_by_hash,
        login_accepts_the_plan_spelling,
        a_session_cookie_authenticates_admin_routes,
        mutations_need_the_csrf_token,
        a_foreign_origin_is_refused,
        an_expired_session_is_refused,
        logout_revokes_the_session,
        a_revoked_session_is_refused,
        a_new_admin_key_ends_every_session,
        a_wrong_key_is_refused,
        login_without_an_admin_key_is_refused,
        the_eleventh_attempt_in_a_minute_is_throttled,
        five_failures_suspend_logins_even_with_the_right_key,
        a_success_resets_the_failure_count,
        session_needs_a_live_cookie,
        bad_login_bodies_change_nothing,
        layers_answer_other_methods,
        on_lambda_the_source_is_the_gateway_source_ip,
        behind_a_trusted_proxy_each_client_has_its_own_limit,
        forwarding_headers_are_ignored_unless_the_proxy_is_trusted,
        ipv6_clients_share_a_limit_per_64,
        without_an_admin_key_the_master_key_logs_in,
    ],
);

const ADMIN_KEY: &str = "admin-secret";

/// The session routes plus the probe, behind the production layers, with `admin_key`.
struct App {
    router: Router,
    store: DynStore,
}

/// How the auth layer let a request in, as the probe reports it.
async fn probe(auth: Option<Extension<AdminAuth>>) -> axum::Json<Value> {
    let auth = match auth {
        Some(Extension(AdminAuth::Open)) => "open",
        Some(Extension(AdminAuth::Key)) => "key",
        Some(Extension(AdminAuth::Session(_))) => "session",
        None => "none",
    };
    axum::Json(json!({ "auth": auth }))
}

impl App {
    async fn new(store: DynStore, admin_key: &str) -> Self {
        let mut config = Config::default();
        config.admin.api_key = Secret::new(admin_key);
        Self::with_config(store, config).await
    }

    async fn with_config(store: DynStore, config: Config) -> Self {
        let state = AppState::start(store.clone(), config, Duration::from_secs(60)).await;
        let routes = miroir_handler_sessions::router(state.clone())
            .merge(Router::new().route("/_miroir/probe", any(probe)));
        Self {
            router: apply_layers(routes, &state),
            store,
        }
    }

    async fn send(&self, request: Req) -> Reply {
        let mut builder = Request::builder()
            .method(request.method.clone())
            .uri(request.uri);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut http = builder
            .body(request.body.map_or_else(Body::empty, Body::from))
            .unwrap();
        http.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(request.ip, 50_000)));
        let response = self.router.clone().oneshot(http).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        if !bytes.is_empty() {
            assert_eq!(headers["content-type"], "application/json");
        }
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            wire: serde_json::from_slice(&bytes).unwrap_or(Wire::Null),
        }
    }

    /// [`App::send`], asserting `status` and that `{status, body}` matches snapshot `name`.
    async fn check(&self, name: &str, request: Req, status: StatusCode) -> Reply {
        let described = format!("{} {}", request.method, request.uri);
        let reply = self.send(request).await;
        assert_eq!(reply.status, status, "{described}: {}", reply.body);
        snapshot(
            name,
            &described,
            &Snapshot {
                status: reply.status.as_u16(),
                body: Cow::Borrowed(&reply.wire),
            },
        );
        reply
    }

    /// A successful login from `ip`.
    async fn login(&self, ip: IpAddr) -> Login {
        let reply = self.send(login_request(ADMIN_KEY).from(ip)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        Login::of(&reply)
    }
}

/// A request under construction.
struct Req {
    method: Method,
    uri: &'static str,
    headers: Vec<(String, String)>,
    body: Option<String>,
    ip: IpAddr,
}

const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, 1));
const OTHER_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, 2));

fn req(method: Method, uri: &'static str) -> Req {
    Req {
        method,
        uri,
        headers: vec![("host".into(), "admin.example:7700".into())],
        body: None,
        ip: IP,
    }
}

fn login_request(key: &str) -> Req {
    req(Method::POST, "/_miroir/admin/login").json(&json!({ "adminKey": key }).to_string())
}

impl Req {
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn json(self, body: &str) -> Self {
        self.raw(body).header("content-type", "application/json")
    }

    fn raw(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    fn from(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    fn cookie(self, login: &Login) -> Self {
        self.header(
            "cookie",
            &format!("theme=dark; miroir_admin_session={}", login.cookie),
        )
    }

    fn csrf(self, login: &Login) -> Self {
        self.header("x-csrf-token", &login.csrf_token)
    }

    fn key(self) -> Self {
        self.header("x-admin-key", ADMIN_KEY)
    }
}

/// One answer: status, headers and the JSON body (`Null` when empty), parsed twice: as a
/// [`Value`] to query, and as [`Wire`] to snapshot with its keys in the order they were sent.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    wire: Wire,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// `Retry-After` in seconds.
    fn retry_after(&self) -> u64 {
        self.header("retry-after").unwrap().parse().unwrap()
    }
}

/// What a login gave the browser.
#[derive(Clone, Debug)]
struct Login {
    cookie: String,
    csrf_token: String,
}

impl Login {
    fn of(reply: &Reply) -> Self {
        let set_cookie = reply.header("set-cookie").unwrap();
        let (cookie, attributes) = set_cookie
            .strip_prefix("miroir_admin_session=")
            .unwrap()
            .split_once("; ")
            .unwrap();
        assert_eq!(
            attributes,
            "HttpOnly; Secure; SameSite=Strict; Path=/_miroir; Max-Age=3600"
        );
        Self {
            cookie: cookie.to_owned(),
            csrf_token: reply.body["csrfToken"].as_str().unwrap().to_owned(),
        }
    }
}

/// Asserts that `value` matches `snapshots/<name>.snap`, the same file for every backend, with
/// the random token and the dates redacted.
fn snapshot(name: &str, request: &str, value: &Snapshot<'_>) {
    miroir_test_support::assert_route_snapshot!(name, request, value, {
        ".body.csrfToken" => "[csrf token]",
        ".body.createdAt" => "[date]",
        ".body.expiresAt" => "[date]",
    });
}

/// Asserts that an RFC 3339 date is `seconds` from now, give or take a few seconds.
fn assert_in(date: &Value, seconds: i64) {
    let date = miroir_http::timefmt::parse_rfc3339(date.as_str().unwrap()).unwrap();
    let millis = (date.unix_timestamp_nanos() / 1_000_000) as i64;
    let expected = Timestamp::now().as_millis() + seconds * 1000;
    assert!(
        (millis - expected).abs() < 5_000,
        "{date} is not {seconds}s from now"
    );
}

// ---------------------------------------------------------------- login

async fn login_opens_a_session_stored_by_hash(app: App) {
    let reply = app
        .check(
            "login_success",
            login_request(ADMIN_KEY).header("user-agent", "Mozilla/5.0 (test)"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_in(&reply.body["expiresAt"], 3600);
    let login = Login::of(&reply);
    for token in [&login.cookie, &login.csrf_token] {
        assert!(miroir_http::is_token(token), "{token}");
    }
    assert_ne!(login.cookie, login.csrf_token);

    // The store holds hashes only: nothing it holds opens the session.
    assert_eq!(
        app.store.get_admin_session(&login.cookie).await.unwrap(),
        None
    );
    let stored = app
        .store
        .get_admin_session(&sha256_hex(&login.cookie))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.csrf_token, sha256_hex(&login.csrf_token));
    assert_eq!(
        stored.admin_key_hash,
        miroir_http::admin_key_hash(&Secret::new(ADMIN_KEY))
    );
    assert_eq!(stored.source_ip.as_deref(), Some("10.1.0.1"));
    assert_eq!(stored.user_agent.as_deref(), Some("Mozilla/5.0 (test)"));
    assert!(!stored.revoked);
    assert_eq!(
        stored.expires_at.as_millis() - stored.created_at.as_millis(),
        3_600_000
    );

    // Each login is a new session with a new CSRF token.
    let again = app.login(IP).await;
    assert_ne!(again.cookie, login.cookie);
    assert_ne!(again.csrf_token, login.csrf_token);
}

async fn login_accepts_the_plan_spelling(app: App) {
    let reply = app
        .send(req(Method::POST, "/_miroir/admin/login").json(r#"{"admin_key": "admin-secret"}"#))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Login::of(&reply);
    // A key needs no other header, and an admin key header does not replace the body.
    app.check(
        "login_without_body_key",
        req(Method::POST, "/_miroir/admin/login").key().json("{}"),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn a_wrong_key_is_refused(app: App) {
    let reply = app
        .check(
            "login_wrong_key",
            login_request("guess"),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    assert_eq!(reply.code(), "miroir_invalid_auth");
    assert_eq!(reply.header("set-cookie"), None);
    let backoff = app
        .store
        .get_login_backoff("10.1.0.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((backoff.failed_count, backoff.next_allowed_at), (1, None));
}

async fn login_without_an_admin_key_is_refused(app: App) {
    let open = App::new(app.store.clone(), "").await;
    let reply = open
        .check(
            "login_without_admin_key",
            login_request("anything"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(reply.header("set-cookie"), None);
    // Without a key the admin API is open: the probe needs nothing.
    let probe = open.send(req(Method::POST, "/_miroir/probe")).await;
    assert_eq!(probe.body, json!({"auth": "open"}));
    assert_eq!(
        open.store.get_login_backoff("10.1.0.1").await.unwrap(),
        None
    );
}

/// 4 wrong keys and 6 bad bodies are 10 attempts; the 11th, with the right key, is refused
/// until the window ends. Other addresses are not affected.
async fn the_eleventh_attempt_in_a_minute_is_throttled(app: App) {
    for _ in 0..4 {
        let reply = app.send(login_request("guess")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }
    for _ in 0..6 {
        let reply = app
            .send(req(Method::POST, "/_miroir/admin/login").json(r#"{"adminKey": ""}"#))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    }
    let reply = app
        .check(
            "login_rate_limited",
            login_request(ADMIN_KEY),
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    assert!(
        (1..=60).contains(&reply.retry_after()),
        "{:?}",
        reply.headers
    );
    assert_eq!(reply.header("set-cookie"), None);
    app.login(OTHER_IP).await;
    // Still refused: the refused attempt counted too.
    let reply = app.send(login_request(ADMIN_KEY)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn five_failures_suspend_logins_even_with_the_right_key(app: App) {
    for attempt in 1..=5 {
        let name = format!("login_failure_{attempt}");
        let reply = app
            .check(&name, login_request("guess"), StatusCode::UNAUTHORIZED)
            .await;
        assert_eq!(reply.code(), "miroir_invalid_auth");
    }
    let reply = app
        .check(
            "login_suspended",
            login_request(ADMIN_KEY),
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    assert!(
        (590..=600).contains(&reply.retry_after()),
        "{:?}",
        reply.headers
    );
    assert_eq!(reply.header("set-cookie"), None);
    // The next failure (once allowed) doubles the wait: the store's policy, shown by the message.
    let backoff = app
        .store
        .get_login_backoff("10.1.0.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(backoff.failed_count, 5);
    app.login(OTHER_IP).await;
}

async fn a_success_resets_the_failure_count(app: App) {
    for round in 0..2 {
        for _ in 0..4 {
            let reply = app.send(login_request("guess")).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "round {round}");
            assert!(
                !reply.body["message"]
                    .as_str()
                    .unwrap()
                    .contains("suspended")
            );
        }
        app.login(IP).await;
        assert_eq!(app.store.get_login_backoff("10.1.0.1").await.unwrap(), None);
    }
    // The login counter was reset too: 10 more attempts fit in this minute.
    let hit = app
        .store
        .hit_rate_limit(
            RateLimitBucket::AdminLogin,
            "10.1.0.1",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(hit.count, 1);
}

const PROXY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 9, 0, 1));

/// `app`'s store behind a load balancer at [`PROXY`], trusted (or not).
async fn behind_proxy(app: &App, trusted: bool) -> App {
    let mut config = Config::default();
    config.admin.api_key = Secret::new(ADMIN_KEY);
    if trusted {
        config.server.trusted_proxies = TrustedProxies::new(vec!["10.9.0.0/16".parse().unwrap()]);
    }
    App::with_config(app.store.clone(), config).await
}

fn forwarded_login(key: &str, client: &str) -> Req {
    login_request(key)
        .from(PROXY)
        .header("x-forwarded-for", client)
}

/// Five wrong keys from one client behind the balancer suspend that client only; another
/// client's successful login resets nothing of the first.
async fn behind_a_trusted_proxy_each_client_has_its_own_limit(app: App) {
    let app = behind_proxy(&app, true).await;
    for _ in 0..5 {
        let reply = app.send(forwarded_login("guess", "198.51.100.1")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }
    let suspended = app.send(forwarded_login(ADMIN_KEY, "198.51.100.1")).await;
    assert_eq!(suspended.status, StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..2 {
        let other = app.send(forwarded_login(ADMIN_KEY, "198.51.100.2")).await;
        assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    }
    let backoff = app.store.get_login_backoff("198.51.100.1").await.unwrap();
    assert_eq!(backoff.unwrap().failed_count, 5);
    assert_eq!(app.store.get_login_backoff("10.9.0.1").await.unwrap(), None);
    let still = app.send(forwarded_login(ADMIN_KEY, "198.51.100.1")).await;
    assert_eq!(still.status, StatusCode::TOO_MANY_REQUESTS);
}

/// With no trusted proxy (the default), a client cannot pick its bucket with a header: every
/// request through the balancer counts as the balancer's.
async fn forwarding_headers_are_ignored_unless_the_proxy_is_trusted(app: App) {
    let app = behind_proxy(&app, false).await;
    for client in 1..=5 {
        let reply = app
            .send(forwarded_login("guess", &format!("198.51.100.{client}")))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }
    let reply = app.send(forwarded_login(ADMIN_KEY, "198.51.100.9")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let backoff = app.store.get_login_backoff("10.9.0.1").await.unwrap();
    assert_eq!(backoff.unwrap().failed_count, 5);
}

/// Addresses of one /64 are one client; the next /64 is another.
async fn ipv6_clients_share_a_limit_per_64(app: App) {
    for host in 1..=5 {
        let ip: IpAddr = format!("2001:db8:7:1::{host}").parse().unwrap();
        let reply = app.send(login_request("guess").from(ip)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }
    let same_64: IpAddr = "2001:db8:7:1:ffff::1".parse().unwrap();
    let reply = app.send(login_request(ADMIN_KEY).from(same_64)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let backoff = app
        .store
        .get_login_backoff("2001:db8:7:1::/64")
        .await
        .unwrap();
    assert_eq!(backoff.unwrap().failed_count, 5);
    app.login("2001:db8:7:2::1".parse().unwrap()).await;
}

/// Meilisearch's rule: with no admin key the master key is the root credential, for logins
/// as for headers.
async fn without_an_admin_key_the_master_key_logs_in(app: App) {
    let config = Config {
        master_key: Secret::new("master-secret"),
        ..Config::default()
    };
    let app = App::with_config(app.store.clone(), config).await;
    let probe = app.send(req(Method::GET, "/_miroir/probe")).await;
    assert_eq!(probe.status, StatusCode::UNAUTHORIZED);
    let reply = app.send(login_request("master-secret")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let login = Login::of(&reply);
    let probe = app
        .send(req(Method::GET, "/_miroir/probe").cookie(&login))
        .await;
    assert_eq!(probe.body, json!({"auth": "session"}));
    let probe = app
        .send(req(Method::GET, "/_miroir/probe").header("authorization", "Bearer master-secret"))
        .await;
    assert_eq!(probe.body, json!({"auth": "key"}));
    let wrong = app.send(login_request(ADMIN_KEY).from(OTHER_IP)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
}

/// Every refused login body: (snapshot, content type, body, status).
const BAD_BODIES: &[(&str, Option<&str>, &str, StatusCode)] = &[
    (
        "login_unknown_field",
        Some("application/json"),
        r#"{"adminKey": "admin-secret", "remember": true}"#,
        StatusCode::BAD_REQUEST,
    ),
    (
        "login_key_not_a_string",
        Some("application/json"),
        r#"{"adminKey": 42}"#,
        StatusCode::BAD_REQUEST,
    ),
    (
        "login_missing_key",
        Some("application/json"),
        "{}",
        StatusCode::BAD_REQUEST,
    ),
    (
        "login_both_spellings",
        Some("application/json"),
        r#"{"adminKey": "admin-secret", "admin_key": "admin-secret"}"#,
        StatusCode::BAD_REQUEST,
    ),
    (
        "login_empty_key",
        Some("application/json"),
        r#"{"adminKey": ""}"#,
        StatusCode::BAD_REQUEST,
    ),
    (
        "login_malformed_json",
        Some("application/json"),
        r#"{"adminKey": "#,
        StatusCode::BAD_REQUEST,
    ),
    (
        "login_not_json",
        Some("text/plain"),
        "admin-secret",
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    ),
    (
        "login_no_content_type",
        None,
        r#"{"adminKey": "admin-secret"}"#,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    ),
];

async fn bad_login_bodies_change_nothing(app: App) {
    for (index, (name, content_type, body, status)) in BAD_BODIES.iter().enumerate() {
        // One address per case keeps every case under the rate limit.
        let ip = IpAddr::from([10, 2, 0, u8::try_from(index).unwrap()]);
        let mut request = req(Method::POST, "/_miroir/admin/login").raw(body).from(ip);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let reply = app.check(name, request, *status).await;
        assert_eq!(reply.header("set-cookie"), None, "{name}");
        assert_eq!(
            app.store.get_login_backoff(&ip.to_string()).await.unwrap(),
            None,
            "{name}: a bad body is not a failed login"
        );
    }
    let oversized = json!({ "adminKey": "k".repeat(4097) }).to_string();
    let reply = app
        .check(
            "login_key_too_long",
            req(Method::POST, "/_miroir/admin/login").json(&oversized),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(reply.header("set-cookie"), None);
    assert_eq!(app.store.get_login_backoff("10.1.0.1").await.unwrap(), None);
}

// ---------------------------------------------------------------- cookie authentication

async fn a_session_cookie_authenticates_admin_routes(app: App) {
    let login = app.login(IP).await;
    let reply = app
        .check(
            "session_of_cookie",
            req(Method::GET, "/_miroir/admin/session").cookie(&login),
            StatusCode::OK,
        )
        .await;
    assert_in(&reply.body["createdAt"], 0);
    assert_in(&reply.body["expiresAt"], 3600);
    for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
        let reply = app
            .send(req(method.clone(), "/_miroir/probe").cookie(&login))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{method}");
    }
    let reply = app
        .send(req(Method::GET, "/_miroir/probe").cookie(&login))
        .await;
    assert_eq!(reply.body, json!({"auth": "session"}));
    // The key wins over a cookie, and a wrong key is refused whatever the cookie.
    let reply = app
        .send(req(Method::GET, "/_miroir/probe").cookie(&login).key())
        .await;
    assert_eq!(reply.body, json!({"auth": "key"}));
    let reply = app
        .send(
            req(Method::GET, "/_miroir/probe")
                .cookie(&login)
                .header("authorization", "Bearer wrong"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // Cookies that name no session.
    for cookie in [
        "miroir_admin_session=".to_owned(),
        "miroir_admin_session=not-a-token".to_owned(),
        format!("miroir_admin_session={}", "0".repeat(64)),
        format!("miroir_admin_session={}", login.cookie.to_uppercase()),
        format!("other_cookie={}", login.cookie),
    ] {
        let reply = app
            .send(req(Method::GET, "/_miroir/probe").header("cookie", &cookie))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{cookie}");
        assert_eq!(reply.code(), "miroir_invalid_auth", "{cookie}");
    }
    app.check(
        "unknown_session_cookie",
        req(Method::GET, "/_miroir/probe").header(
            "cookie",
            &format!("miroir_admin_session={}", "0".repeat(64)),
        ),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.check(
        "no_credentials",
        req(Method::GET, "/_miroir/probe"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn mutations_need_the_csrf_token(app: App) {
    let login = app.login(IP).await;
    let other = app.login(OTHER_IP).await;
    app.check(
        "csrf_missing",
        req(Method::POST, "/_miroir/probe").cookie(&login),
        StatusCode::FORBIDDEN,
    )
    .await;
    app.check(
        "csrf_wrong",
        req(Method::POST, "/_miroir/probe")
            .cookie(&login)
            .header("x-csrf-token", "0123"),
        StatusCode::FORBIDDEN,
    )
    .await;
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let missing = app
            .send(req(method.clone(), "/_miroir/probe").cookie(&login))
            .await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{method}");
        assert_eq!(missing.code(), "miroir_csrf_mismatch", "{method}");
        // Another session's token is not this session's.
        let foreign = app
            .send(
                req(method.clone(), "/_miroir/probe")
                    .cookie(&login)
                    .csrf(&other),
            )
            .await;
        assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{method}");
        let right = app
            .send(
                req(method.clone(), "/_miroir/probe")
                    .cookie(&login)
                    .csrf(&login),
            )
            .await;
        assert_eq!(right.status, StatusCode::OK, "{method}");
        assert_eq!(right.body, json!({"auth": "session"}));
        // Key-authenticated requests need no token.
        let keyed = app.send(req(method.clone(), "/_miroir/probe").key()).await;
        assert_eq!(keyed.body, json!({"auth": "key"}), "{method}");
    }
    // The token alone authenticates nothing.
    let reply = app
        .send(req(Method::POST, "/_miroir/probe").csrf(&login))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

async fn a_foreign_origin_is_refused(app: App) {
    let login = app.login(IP).await;
    app.check(
        "origin_foreign",
        req(Method::POST, "/_miroir/probe")
            .cookie(&login)
            .csrf(&login)
            .header("origin", "https://evil.example"),
        StatusCode::FORBIDDEN,
    )
    .await;
    for origin in [
        "null",
        "http://admin.example:7701",
        "http://admin.example",
        "https://admin.example:7700.evil.example",
    ] {
        for method in [Method::GET, Method::POST] {
            let reply = app
                .send(
                    req(method.clone(), "/_miroir/probe")
                        .cookie(&login)
                        .csrf(&login)
                        .header("origin", origin),
                )
                .await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {origin}");
            assert_eq!(reply.code(), "miroir_origin_not_allowed", "{origin}");
        }
    }
    for origin in ["http://admin.example:7700", "https://ADMIN.example:7700"] {
        let reply = app
            .send(
                req(Method::POST, "/_miroir/probe")
                    .cookie(&login)
                    .csrf(&login)
                    .header("origin", origin),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{origin}: {}", reply.body);
    }
    // The admin key is not a browser credential: no Origin check.
    let reply = app
        .send(
            req(Method::POST, "/_miroir/probe")
                .key()
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Nor is a login from another origin accepted.
    let reply = app
        .check(
            "login_origin_foreign",
            login_request(ADMIN_KEY).header("origin", "https://evil.example"),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(reply.header("set-cookie"), None);
    let reply = app
        .send(login_request(ADMIN_KEY).header("origin", "http://admin.example:7700"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

async fn an_expired_session_is_refused(app: App) {
    let cookie = "e".repeat(64);
    let csrf = "c".repeat(64);
    let now = Timestamp::now();
    app.store
        .create_admin_session(AdminSession {
            session_id: sha256_hex(&cookie),
            csrf_token: sha256_hex(&csrf),
            admin_key_hash: miroir_http::admin_key_hash(&Secret::new(ADMIN_KEY)),
            created_at: now,
            expires_at: now.plus(Duration::from_millis(400)),
            revoked: false,
            user_agent: None,
            source_ip: None,
        })
        .await
        .unwrap();
    let login = Login {
        cookie,
        csrf_token: csrf,
    };
    let reply = app
        .send(
            req(Method::POST, "/_miroir/probe")
                .cookie(&login)
                .csrf(&login),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    tokio::time::sleep(Duration::from_millis(600)).await;
    app.check(
        "session_expired",
        req(Method::GET, "/_miroir/probe").cookie(&login),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let reply = app
        .send(req(Method::GET, "/_miroir/admin/session").cookie(&login))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

async fn logout_revokes_the_session(app: App) {
    let login = app.login(IP).await;
    let survivor = app.login(IP).await;
    // A logout is a mutation: without the token it is refused and changes nothing.
    let reply = app
        .send(req(Method::POST, "/_miroir/admin/logout").cookie(&login))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = app
        .send(req(Method::GET, "/_miroir/admin/session").cookie(&login))
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    let reply = app
        .send(
            req(Method::POST, "/_miroir/admin/logout")
                .cookie(&login)
                .csrf(&login),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(reply.body, Value::Null);
    assert_eq!(
        reply.header("set-cookie"),
        Some("miroir_admin_session=; HttpOnly; Secure; SameSite=Strict; Path=/_miroir; Max-Age=0")
    );
    let stored = app
        .store
        .get_admin_session(&sha256_hex(&login.cookie))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked);

    app.check(
        "session_logged_out",
        req(Method::GET, "/_miroir/admin/session").cookie(&login),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let reply = app
        .send(
            req(Method::POST, "/_miroir/admin/logout")
                .cookie(&login)
                .csrf(&login),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "a revoked cookie cannot log out again"
    );
    // The other session lives on.
    let reply = app
        .send(req(Method::GET, "/_miroir/admin/session").cookie(&survivor))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    // With the key, logout revokes the cookie's session if one is sent, and always clears it.
    let reply = app
        .send(
            req(Method::POST, "/_miroir/admin/logout")
                .key()
                .cookie(&survivor),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let reply = app
        .send(req(Method::GET, "/_miroir/probe").cookie(&survivor))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = app
        .send(req(Method::POST, "/_miroir/admin/logout").key())
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
}

async fn a_revoked_session_is_refused(app: App) {
    let login = app.login(IP).await;
    // Revoked by another replica, straight in the store.
    assert!(
        app.store
            .revoke_admin_session(&sha256_hex(&login.cookie))
            .await
            .unwrap()
    );
    app.check(
        "session_revoked",
        req(Method::POST, "/_miroir/probe")
            .cookie(&login)
            .csrf(&login),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn a_new_admin_key_ends_every_session(app: App) {
    let login = app.login(IP).await;
    let rotated = App::new(app.store.clone(), "new-admin-secret").await;
    let reply = rotated
        .send(req(Method::GET, "/_miroir/probe").cookie(&login))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = app
        .send(req(Method::GET, "/_miroir/probe").cookie(&login))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

async fn session_needs_a_live_cookie(app: App) {
    app.check(
        "session_with_key_only",
        req(Method::GET, "/_miroir/admin/session").key(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let login = app.login(IP).await;
    let reply = app
        .send(
            req(Method::GET, "/_miroir/admin/session")
                .key()
                .cookie(&login),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn layers_answer_other_methods(app: App) {
    // Only POST /_miroir/admin/login is open; another method needs credentials first.
    let reply = app.send(req(Method::GET, "/_miroir/admin/login")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    app.check(
        "login_get",
        req(Method::GET, "/_miroir/admin/login").key(),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    app.check(
        "session_delete",
        req(Method::DELETE, "/_miroir/admin/session").key(),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

// ---------------------------------------------------------------- OpenAPI

#[test]
fn the_document_leaves_login_open_and_offers_the_cookie_elsewhere() {
    let document = miroir_http::openapi::document(miroir_handler_sessions::routes().into_openapi());
    let value = serde_json::to_value(&document).unwrap();
    let paths = &value["paths"];
    let login = &paths["/_miroir/admin/login"]["post"];
    // Explicitly anonymous (`[{}]`): the key is in the body.
    assert_eq!(login["security"], json!([{}]), "{login}");
    assert!(login["responses"].get("429").is_some());
    assert!(login["responses"].get("503").is_some());
    let logout = &paths["/_miroir/admin/logout"]["post"];
    assert_eq!(
        logout["security"],
        json!([
            {"adminKeyBearer": []},
            {"adminKeyHeader": []},
            {"adminSessionCookie": [], "csrfToken": []},
        ])
    );
    assert_eq!(
        paths["/_miroir/admin/session"]["get"]["security"][2],
        json!({"adminSessionCookie": []})
    );
    let schemes = &value["components"]["securitySchemes"];
    assert_eq!(
        schemes["adminSessionCookie"],
        json!({
            "type": "apiKey",
            "in": "cookie",
            "name": "miroir_admin_session",
            "description": "The admin session cookie set by `POST /_miroir/admin/login`."
        })
    );
}

// ---------------------------------------------------------------- AWS Lambda

/// An API Gateway HTTP API (payload 2.0) event for `POST /_miroir/admin/login` from
/// `source_ip`, claiming another address in `X-Forwarded-For`.
fn login_event(source_ip: &str, key: &str) -> lambda_http::request::LambdaRequest {
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/_miroir/admin/login",
        "rawQueryString": "",
        "headers": {
            "host": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
            "content-type": "application/json",
            "user-agent": "Mozilla/5.0 (lambda)",
            "x-forwarded-for": "198.51.100.9",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": "POST",
                "path": "/_miroir/admin/login",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "Mozilla/5.0 (lambda)",
            },
            "requestId": "CqFKphVBjoEEJdQ=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:15:40:02 +0000",
            "timeEpoch": 1_795_714_802_000_u64,
        },
        "body": json!({ "adminKey": key }).to_string(),
        "isBase64Encoded": false,
    }))
    .unwrap()
}

/// The function's answer to `event`, as API Gateway receives it.
async fn through_lambda(app: &App, event: lambda_http::request::LambdaRequest) -> Value {
    use lambda_http::lambda_runtime::{Context, LambdaEvent, Service};
    let mut config = Config::default();
    config.admin.api_key = Secret::new(ADMIN_KEY);
    let state = AppState::start(app.store.clone(), config, Duration::from_secs(60)).await;
    let function = miroir_http::lambda::app(miroir_handler_sessions::router, &state);
    let mut adapter = lambda_http::Adapter::from(function);
    let response = adapter
        .ready()
        .await
        .unwrap()
        .call(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    serde_json::to_value(&response).unwrap()
}

/// On Lambda the rate limits and the session use API Gateway's `sourceIp`, never
/// `X-Forwarded-For`; the cookie reaches API Gateway in the response's `cookies`.
async fn on_lambda_the_source_is_the_gateway_source_ip(app: App) {
    let failed = through_lambda(&app, login_event("203.0.113.7", "guess")).await;
    assert_eq!(failed["statusCode"], 401, "{failed}");
    let backoff = app.store.get_login_backoff("203.0.113.7").await.unwrap();
    assert_eq!(backoff.map(|backoff| backoff.failed_count), Some(1));
    assert_eq!(
        app.store.get_login_backoff("198.51.100.9").await.unwrap(),
        None
    );

    let response = through_lambda(&app, login_event("203.0.113.7", ADMIN_KEY)).await;
    assert_eq!(response["statusCode"], 200, "{response}");
    let cookies = response["cookies"].as_array().unwrap();
    assert_eq!(cookies.len(), 1, "{response}");
    let cookie = cookies[0].as_str().unwrap();
    let id = cookie
        .strip_prefix("miroir_admin_session=")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let stored = app
        .store
        .get_admin_session(&sha256_hex(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.source_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(stored.user_agent.as_deref(), Some("Mozilla/5.0 (lambda)"));
    assert_eq!(
        app.store.get_login_backoff("203.0.113.7").await.unwrap(),
        None
    );
}

// ---------------------------------------------------------------- readiness

/// A store behind this binary's schema: the gate's 503, never a lookup in a missing table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_gate_answers_before_any_session_lookup() {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    let app = App::new(store, ADMIN_KEY).await;
    let cookie = format!("miroir_admin_session={}", "a".repeat(64));
    for request in [
        req(Method::GET, "/_miroir/probe").header("cookie", &cookie),
        login_request(ADMIN_KEY),
    ] {
        let reply = app.send(request).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert_eq!(reply.code(), "miroir_schema_mismatch");
    }
}
