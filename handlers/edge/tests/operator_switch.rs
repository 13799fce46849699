//! `admin.enabled: false` removes the operator API from the server and from every Lambda
//! function: each `/_miroir/` route of the OpenAPI document answers 404 `not_found`, even with the
//! admin key, except the readiness probe and the metrics (which keep needing the key).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use miroir_core::Config;
use miroir_core::config::Secret;
use miroir_http::AppState;
use serde_json::Value;
use tower::ServiceExt;

const ADMIN: &str = "admin-key";

async fn state(enabled: bool) -> AppState {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let mut config = Config {
        master_key: Secret::new("master-key"),
        ..Config::default()
    };
    config.admin.api_key = Secret::new(ADMIN);
    config.admin.enabled = enabled;
    AppState::start(store, config, Duration::from_secs(60)).await
}

/// Every operator operation of the document, path parameters filled in.
fn operator_operations() -> Vec<(String, String)> {
    let document = serde_json::to_value(miroir_edge::openapi()).unwrap();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/_miroir/") {
            continue;
        }
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_ascii_uppercase(), concrete.clone()));
        }
    }
    assert!(operations.len() > 20, "{operations:?}");
    operations
}

async fn send(app: &Router, method: &str, path: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let body = if method == "GET" || method == "DELETE" {
        Body::empty()
    } else {
        Body::from("{}")
    };
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_disabled_operator_api_answers_404_everywhere_but_ready_and_metrics() {
    let state = state(false).await;
    let app = miroir_edge::app(&state);
    for (method, path) in operator_operations() {
        let (status, body) = send(&app, &method, &path, Some(ADMIN)).await;
        match path.as_str() {
            "/_miroir/ready" | "/_miroir/metrics" => {
                assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
            }
            _ => {
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
                assert_eq!(body["code"], "not_found", "{method} {path}");
                assert!(is_no_route(&body), "{method} {path}: {body}");
            }
        }
    }
    let (status, _) = send(&app, "GET", "/_miroir/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "metrics keep their key");
    let (status, _) = send(&app, "GET", "/tasks", Some("master-key")).await;
    assert_eq!(status, StatusCode::OK, "the client API is untouched");
}

#[tokio::test]
async fn an_enabled_operator_api_serves_every_route() {
    let state = state(true).await;
    let app = miroir_edge::app(&state);
    for (method, path) in operator_operations() {
        let (_, body) = send(&app, &method, &path, Some(ADMIN)).await;
        assert!(!is_no_route(&body), "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn a_lambda_function_of_the_operator_api_is_switched_off_too() {
    let state = state(false).await;
    for router in [
        miroir_handler_aliases::router as fn(AppState) -> Router,
        miroir_handler_sessions::router,
        miroir_handler_jobs::router,
    ] {
        let app = miroir_http::lambda::app(router, &state);
        for (method, path) in [
            ("GET", "/_miroir/aliases"),
            ("POST", "/_miroir/admin/login"),
            ("GET", "/_miroir/jobs"),
        ] {
            let (status, body) = send(&app, method, path, Some(ADMIN)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
            assert!(is_no_route(&body), "{method} {path}: {body}");
        }
    }
}

/// The fallback's 404 (no such route), not a handler's (no such alias, canary, …).
fn is_no_route(body: &Value) -> bool {
    body["code"] == "not_found"
        && body["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("No route"))
}
