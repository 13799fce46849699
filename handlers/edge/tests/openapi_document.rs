//! The OpenAPI document is generated from the handlers' route definitions, and the committed
//! `docs/openapi.json` (served by `GET /_miroir/openapi.json` on every deployment) is that
//! document. After changing a route, regenerate it with
//! `MIROIR_UPDATE_OPENAPI=1 cargo test -p miroir-edge --test openapi_document`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use miroir_core::Config;
use miroir_http::AppState;
use serde_json::Value;
use tower::ServiceExt;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&miroir_edge::openapi()).unwrap();
    text.push('\n');
    text
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = generated();
    if std::env::var_os("MIROIR_UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap();
    assert!(
        committed == generated,
        "docs/openapi.json is stale; run MIROIR_UPDATE_OPENAPI=1 cargo test -p miroir-edge --test openapi_document"
    );
    assert!(
        committed == miroir_handler_admin::OPENAPI_DOCUMENT,
        "miroir-handler-admin embeds an older docs/openapi.json; run the test again to rebuild it"
    );
}

#[test]
fn every_error_response_has_the_meilisearch_shape_and_every_route_its_security() {
    let document = serde_json::to_value(miroir_edge::openapi()).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                if !status.starts_with('2') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/MeilisearchError",
                        "{method} {path} {status}"
                    );
                }
            }
            // The probes need no key (the login route declares its own security).
            let open = path == "/health" || path == "/_miroir/ready";
            assert_eq!(operation.get("security").is_none(), open, "{method} {path}");
            assert_eq!(
                responses.contains_key("503"),
                path != "/health",
                "{method} {path}"
            );
        }
    }
}

/// Each documented operation is served: with no key configured, a request reaches the handler
/// and is answered by it, never by the 404/405 fallbacks.
#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_is_served() {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let state = AppState::start(store, Config::default(), Duration::from_secs(60)).await;
    let app = miroir_edge::app(&state);
    let document = serde_json::to_value(miroir_edge::openapi()).unwrap();
    let mut count = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let mut uri = path.replace("{uid}", "1");
            if path.starts_with("/indexes/{uid}/settings/") {
                // A settings route names a setting that exists.
                uri = uri.replace("{name}", "synonyms");
            }
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(body["code"], "not_found", "{method} {path}");
            count += 1;
        }
    }
    assert!(count >= 7, "only {count} operations documented");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_served_document_is_the_generated_one() {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let state = AppState::start(store, Config::default(), Duration::from_secs(60)).await;
    let response = miroir_edge::app(&state)
        .oneshot(
            Request::get("/_miroir/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let served: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(served == serde_json::to_value(miroir_edge::openapi()).unwrap());
}
