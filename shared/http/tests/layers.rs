//! The shared layers on a stand-in router: readiness gate, auth, body limit.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use miroir_core::Config;
use miroir_core::config::Secret;
use miroir_http::{AppState, JsonBody, apply_layers};
use miroir_store::{DynStore, SCHEMA_VERSION};
use serde_json::{Value, json};
use tower::ServiceExt;

/// A typed body.
#[derive(serde::Deserialize)]
struct Typed {
    limit: u32,
}

/// Routes standing in for the handler crates' (which depend on this crate).
fn routes() -> Router {
    Router::new()
        .route("/health", get(|| async { "up" }))
        .route("/tasks", get(|| async { "tasks" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/json",
            post(|JsonBody(value): JsonBody<Value>| async move { axum::Json(value) }),
        )
        .route(
            "/typed",
            post(|JsonBody(value): JsonBody<Typed>| async move { value.limit.to_string() }),
        )
        .route("/_miroir/ready", get(|| async { "ready" }))
        .route("/_miroir/metrics", get(|| async { "metrics" }))
        .route("/_miroir/leases", get(|| async { "leases" }))
        .route("/_miroir/aliases", post(|body: Bytes| async move { body }))
        .route(
            "/_miroir/admin/login",
            post(|body: Bytes| async move { body }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "late"
            }),
        )
}

async fn store(migrated: bool) -> DynStore {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    if migrated {
        store.migrate().await.unwrap();
    }
    store
}

async fn state(store: DynStore, config: Config, recheck: Duration) -> AppState {
    AppState::start(store, config, recheck).await
}

fn keyed(master: &str, admin: &str) -> Config {
    let mut config = Config {
        master_key: Secret::new(master),
        ..Config::default()
    };
    config.admin.api_key = Secret::new(admin);
    config
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Option<Value>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let is_json = response
        .headers()
        .get("content-type")
        .is_some_and(|value| value == "application/json");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if is_json {
        Some(serde_json::from_slice(&bytes).unwrap())
    } else {
        None
    };
    (status, body)
}

fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

fn code(body: &Option<Value>) -> &str {
    body.as_ref()
        .and_then(|body| body["code"].as_str())
        .unwrap_or("<no json body>")
}

#[tokio::test]
async fn an_unmigrated_store_closes_the_gate_until_it_is_migrated_from_outside() {
    let store = store(false).await;
    let state = state(store.clone(), Config::default(), Duration::from_millis(50)).await;
    let app = apply_layers(routes(), &state);

    let (status, body) = call(&app, get_with("/tasks", &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body = body.unwrap();
    assert_eq!(body["code"], "miroir_schema_mismatch");
    assert_eq!(body["type"], "system");
    assert_eq!(
        body["link"],
        "https://docs.meilisearch.com/errors#miroir_schema_mismatch"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("version 0") && message.contains(&format!("version {SCHEMA_VERSION}")),
        "{message}"
    );
    assert_eq!(
        call(&app, get_with("/_miroir/ready", &[])).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(call(&app, get_with("/health", &[])).await.0, StatusCode::OK);

    // The migration job runs elsewhere; the same router opens within the re-check interval.
    store.migrate().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = call(&app, get_with("/tasks", &[])).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the gate never opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(state.readiness.is_ready());
    assert_eq!(state.readiness.status().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        call(&app, get_with("/_miroir/ready", &[])).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn client_routes_need_the_master_key() {
    let state = state(
        store(true).await,
        keyed("master-key", "admin-key"),
        Duration::from_secs(60),
    )
    .await;
    let app = apply_layers(routes(), &state);

    let (status, body) = call(&app, get_with("/tasks", &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body.unwrap(),
        json!({
            "message": "The Authorization header is missing. It must use the bearer authorization method.",
            "code": "missing_authorization_header",
            "type": "auth",
            "link": "https://docs.meilisearch.com/errors#missing_authorization_header"
        })
    );
    let (status, body) = call(
        &app,
        get_with("/tasks", &[("authorization", "Bearer nope")]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body.unwrap(),
        json!({
            "message": "The provided API key is invalid.",
            "code": "invalid_api_key",
            "type": "auth",
            "link": "https://docs.meilisearch.com/errors#invalid_api_key"
        })
    );
    // The admin key is not a client key.
    let (status, _) = call(
        &app,
        get_with("/tasks", &[("authorization", "Bearer admin-key")]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &app,
        get_with("/tasks", &[("authorization", "Bearer master-key")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // /health is always open.
    assert_eq!(call(&app, get_with("/health", &[])).await.0, StatusCode::OK);
}

#[tokio::test]
async fn operator_routes_need_the_admin_key() {
    let state = state(
        store(true).await,
        keyed("master-key", "admin-key"),
        Duration::from_secs(60),
    )
    .await;
    let app = apply_layers(routes(), &state);

    for headers in [
        &[][..],
        &[("authorization", "Bearer wrong")][..],
        &[("x-admin-key", "wrong")][..],
        &[("authorization", "Bearer master-key")][..],
    ] {
        let (status, body) = call(&app, get_with("/_miroir/leases", headers)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
        let body = body.unwrap();
        assert_eq!(body["code"], "miroir_invalid_auth");
        assert_eq!(body["type"], "auth");
        assert!(!body["message"].as_str().unwrap().contains("admin-key\""));
    }
    for headers in [
        &[("authorization", "Bearer admin-key")][..],
        &[("x-admin-key", "admin-key")][..],
    ] {
        assert_eq!(
            call(&app, get_with("/_miroir/leases", headers)).await.0,
            StatusCode::OK,
            "{headers:?}"
        );
    }
    // Probes carry no key: readiness is open, like /health.
    assert_eq!(
        call(&app, get_with("/_miroir/ready", &[])).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_an_admin_key_the_master_key_guards_the_operator_api() {
    let state = state(
        store(true).await,
        keyed("master-key", ""),
        Duration::from_secs(60),
    )
    .await;
    let app = apply_layers(routes(), &state);
    for path in ["/_miroir/leases", "/_miroir/metrics"] {
        for headers in [&[][..], &[("authorization", "Bearer wrong")][..]] {
            let (status, body) = call(&app, get_with(path, headers)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {headers:?}");
            assert_eq!(code(&body), "miroir_invalid_auth");
        }
        for headers in [
            &[("authorization", "Bearer master-key")][..],
            &[("x-admin-key", "master-key")][..],
        ] {
            assert_eq!(
                call(&app, get_with(path, headers)).await.0,
                StatusCode::OK,
                "{path} {headers:?}"
            );
        }
    }
    let flip = Request::post("/_miroir/aliases")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(call(&app, flip).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&app, get_with("/_miroir/ready", &[])).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_disabled_operator_api_keeps_only_readiness_and_metrics() {
    let mut config = keyed("master-key", "admin-key");
    config.admin.enabled = false;
    let state = state(store(true).await, config, Duration::from_secs(60)).await;
    let app = apply_layers(routes(), &state);
    let admin = [("authorization", "Bearer admin-key")];
    for request in [
        get_with("/_miroir/leases", &admin),
        get_with("/_miroir/leases", &[]),
        Request::post("/_miroir/aliases")
            .header("authorization", "Bearer admin-key")
            .body(Body::from("{}"))
            .unwrap(),
        Request::post("/_miroir/admin/login")
            .body(Body::from(r#"{"adminKey":"admin-key"}"#))
            .unwrap(),
    ] {
        let path = request.uri().path().to_owned();
        let (status, body) = call(&app, request).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    assert_eq!(
        call(&app, get_with("/_miroir/ready", &[])).await.0,
        StatusCode::OK
    );
    // Metrics stay, still behind the admin credential.
    assert_eq!(
        call(&app, get_with("/_miroir/metrics", &[])).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, get_with("/_miroir/metrics", &admin)).await.0,
        StatusCode::OK
    );
    // The client API is untouched.
    assert_eq!(
        call(
            &app,
            get_with("/tasks", &[("authorization", "Bearer master-key")])
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn operator_bodies_have_their_own_small_limit() {
    let mut config = Config::default();
    config.server.max_body_bytes = 1_000_000;
    config.admin.max_body_bytes = 64;
    let state = state(store(true).await, config, Duration::from_secs(60)).await;
    let app = apply_layers(routes(), &state);
    let big = "z".repeat(65);
    for path in ["/_miroir/aliases", "/_miroir/admin/login"] {
        // Declared: refused before the handler; streamed without a length: cut at the limit.
        let declared = Request::post(path)
            .header("content-length", "65")
            .body(Body::from(big.clone()))
            .unwrap();
        let streamed = Request::post(path).body(Body::from(big.clone())).unwrap();
        for request in [declared, streamed] {
            let (status, body) = call(&app, request).await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
            let message = body.unwrap()["message"].as_str().unwrap().to_owned();
            assert!(message.contains("64 bytes"), "{message}");
        }
        let fits = Request::post(path)
            .body(Body::from("z".repeat(64)))
            .unwrap();
        assert_eq!(call(&app, fits).await.0, StatusCode::OK, "{path}");
    }
    // The client API keeps `server.max_body_bytes`.
    let request = Request::post("/echo").body(Body::from(big)).unwrap();
    assert_eq!(call(&app, request).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_request_over_the_time_limit_gets_a_408() {
    let mut config = Config::default();
    config.server.request_timeout_ms = 100;
    let state = state(store(true).await, config, Duration::from_secs(60)).await;
    let app = apply_layers(routes(), &state);
    let started = Instant::now();
    let (status, body) = call(&app, get_with("/slow", &[])).await;
    assert!(started.elapsed() < Duration::from_millis(350));
    assert_eq!(
        (status, code(&body)),
        (StatusCode::REQUEST_TIMEOUT, "miroir_request_timeout")
    );
    assert!(
        body.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("100 ms")
    );
    assert_eq!(call(&app, get_with("/tasks", &[])).await.0, StatusCode::OK);
}

#[tokio::test]
async fn without_keys_everything_is_open() {
    let state = state(
        store(true).await,
        Config::default(),
        Duration::from_secs(60),
    )
    .await;
    let app = apply_layers(routes(), &state);
    assert_eq!(call(&app, get_with("/tasks", &[])).await.0, StatusCode::OK);
    assert_eq!(
        call(
            &app,
            get_with("/tasks", &[("authorization", "Bearer anything")])
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, get_with("/_miroir/ready", &[])).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bodies_over_the_limit_get_a_meilisearch_413() {
    let mut config = Config::default();
    config.server.max_body_bytes = 8;
    let state = state(store(true).await, config, Duration::from_secs(60)).await;
    let app = apply_layers(routes(), &state);

    // Declared too large: refused before the handler.
    let request = Request::post("/echo")
        .header("content-length", "20")
        .body(Body::from("x".repeat(20)))
        .unwrap();
    let (status, body) = call(&app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&body), "payload_too_large");
    assert_eq!(body.unwrap()["type"], "invalid_request");

    // Not declared: caught while reading, same shape.
    let request = Request::post("/echo")
        .body(Body::from("y".repeat(20)))
        .unwrap();
    let (status, body) = call(&app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&body), "payload_too_large");

    let request = Request::post("/echo").body(Body::from("small")).unwrap();
    assert_eq!(call(&app, request).await.0, StatusCode::OK);
}

fn post_json(uri: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post(uri);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(body.into()).unwrap()
}

#[tokio::test]
async fn bad_json_bodies_get_meilisearch_errors() {
    let mut config = Config::default();
    config.server.max_body_bytes = 4096;
    let state = state(store(true).await, config, Duration::from_secs(60)).await;
    let app = apply_layers(routes(), &state);
    let json = Some("application/json");
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            post_json("/json", json, r#"{"a": 1,"#),
            StatusCode::BAD_REQUEST,
            "malformed_payload",
        ),
        (
            post_json("/json", json, "not json"),
            StatusCode::BAD_REQUEST,
            "malformed_payload",
        ),
        (
            post_json("/json", json, nested),
            StatusCode::BAD_REQUEST,
            "malformed_payload",
        ),
        (
            post_json("/typed", json, r#"{"limit": "ten"}"#),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            post_json("/typed", json, r#"{}"#),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            post_json("/json", None, "{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "missing_content_type",
        ),
        (
            post_json("/json", Some("text/plain"), "{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_content_type",
        ),
        (
            post_json("/json", json, format!("[{}1]", "1,".repeat(3000))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (request, expected_status, expected_code) in cases {
        let (status, body) = call(&app, request).await;
        assert_eq!(
            (status, code(&body)),
            (expected_status, expected_code),
            "{body:?}"
        );
        let body = body.unwrap();
        assert_eq!(
            body["link"],
            format!("https://docs.meilisearch.com/errors#{expected_code}")
        );
        if expected_code == "payload_too_large" {
            assert!(
                body["message"].as_str().unwrap().contains("4096 bytes"),
                "{body}"
            );
        }
    }
    let (status, body) = call(&app, post_json("/json", json, r#"{"a": [1, {"b": null}]}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.unwrap(), json!({"a": [1, {"b": null}]}));
    let (status, _) = call(&app, post_json("/typed", json, r#"{"limit": 10}"#)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_meilisearch_errors() {
    let state = state(
        store(true).await,
        Config::default(),
        Duration::from_secs(60),
    )
    .await;
    let app = apply_layers(routes(), &state);
    let (status, body) = call(&app, get_with("/nope", &[])).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let request = Request::delete("/tasks").body(Body::empty()).unwrap();
    let (status, body) = call(&app, request).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "miroir_method_not_allowed")
    );
}
