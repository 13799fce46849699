//! What browsers and compressing clients meet in the shared layers: CORS and compressed request
//! bodies, answered as a real Meilisearch answers them. The expected answers were read from
//! Meilisearch 1.50.0 (`../shared/tools/meilisearch`) with curl; each test says which.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::{get, post};
use futures::StreamExt;
use miroir_core::Config;
use miroir_core::config::Secret;
use miroir_http::{AppState, JsonBody, apply_layers};
use serde_json::{Value, json};
use tower::ServiceExt;

const ORIGIN: &str = "https://shop.example";

/// Routes standing in for the handler crates': `/json` reads a `JsonBody` (as search and
/// settings do), `/echo` reads raw bytes (as the document routes do).
fn routes() -> Router {
    Router::new()
        .route("/health", get(|| async { "up" }))
        .route("/tasks", get(|| async { "tasks" }))
        .route(
            "/json",
            post(|JsonBody(value): JsonBody<Value>| async move { axum::Json(value) }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/_miroir/admin/login",
            post(|body: Bytes| async move { body }),
        )
}

async fn app(config: Config, migrated: bool) -> Router {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    if migrated {
        store.migrate().await.unwrap();
    }
    let state = AppState::start(store, config, Duration::from_secs(60)).await;
    apply_layers(routes(), &state)
}

fn keyed() -> Config {
    let mut config = Config {
        master_key: Secret::new("master-key"),
        ..Config::default()
    };
    config.admin.api_key = Secret::new("admin-key");
    config
}

/// An answer: status, headers and the body as JSON (`Null` when it is not JSON).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    bytes: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }
}

async fn call(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        bytes,
    }
}

fn request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).unwrap()
}

/// A browser's preflight for `method` with `headers` requested.
fn preflight(uri: &str, method: &str, headers: &str) -> Request<Body> {
    request(
        "OPTIONS",
        uri,
        &[
            ("origin", ORIGIN),
            ("access-control-request-method", method),
            ("access-control-request-headers", headers),
        ],
        Body::empty(),
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `deflate` as HTTP means it (and actix and tower-http read it): the zlib format.
fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut writer = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
    writer.write_all(bytes).unwrap();
    writer.into_inner()
}

fn assert_meilisearch_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["code"], code, "{}", answer.body);
    assert_eq!(answer.body["type"], "invalid_request", "{}", answer.body);
    assert_eq!(
        answer.body["link"],
        format!("https://docs.meilisearch.com/errors#{code}")
    );
    assert_eq!(answer.header("content-type"), Some("application/json"));
}

/// Meilisearch, master key set, `OPTIONS /indexes/movies/search` with `Origin`,
/// `Access-Control-Request-Method: POST` and `-Headers: authorization, content-type,
/// x-meilisearch-client`: 200, empty, `access-control-allow-origin: *`, the requested headers
/// allowed, `access-control-max-age: 86400`, no credentials. (It lists every method in
/// `allow-methods`; Miroir names the requested one, which a browser reads the same way.)
#[tokio::test]
async fn a_preflight_needs_no_key_and_allows_what_it_asks_for() {
    let app = app(keyed(), true).await;
    let answer = call(
        &app,
        preflight(
            "/json",
            "POST",
            "authorization, content-type, x-meilisearch-client",
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.bytes.is_empty());
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(answer.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(
        answer.header("access-control-allow-headers"),
        Some("authorization, content-type, x-meilisearch-client")
    );
    assert_eq!(answer.header("access-control-max-age"), Some("86400"));
    assert_eq!(answer.header("access-control-allow-credentials"), None);
    // Seen by the request id and the metrics, which sit outside CORS.
    assert!(answer.header("x-request-id").is_some());

    // The operator API's login, whose answer sets the admin console's cookie: a preflight is
    // answered too, but never with credentials, so a cross-origin page cannot send a
    // credentialed request there, nor read one.
    let answer = call(
        &app,
        preflight("/_miroir/admin/login", "POST", "content-type, x-csrf-token"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(answer.header("access-control-allow-credentials"), None);

    // The key is still needed for the request itself.
    let post = request(
        "POST",
        "/json",
        &[("origin", ORIGIN), ("content-type", "application/json")],
        "{}",
    );
    assert_eq!(call(&app, post).await.status, StatusCode::UNAUTHORIZED);
}

/// A preflight is answered before the readiness gate, whose 503 would fail it.
#[tokio::test]
async fn a_preflight_is_answered_while_the_gate_is_closed() {
    let app = app(Config::default(), false).await;
    let answer = call(&app, preflight("/tasks", "GET", "authorization")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));

    // The request itself meets the gate, and a browser can read why.
    let answer = call(
        &app,
        request("GET", "/tasks", &[("origin", ORIGIN)], Body::empty()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["code"], "miroir_schema_mismatch");
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    let exposed = answer.header("access-control-expose-headers").unwrap();
    assert!(exposed.contains("retry-after"), "{exposed}");
}

/// Meilisearch, `GET /indexes` with `Origin` and no key: 401 `missing_authorization_header`
/// with `access-control-allow-origin: *`; an unknown route's 404 has it too.
#[tokio::test]
async fn errors_carry_the_allow_origin_header() {
    let mut config = keyed();
    config.server.max_body_bytes = 8;
    let app = app(config, true).await;

    let answer = call(
        &app,
        request("GET", "/tasks", &[("origin", ORIGIN)], Body::empty()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body["code"], "missing_authorization_header");
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(answer.header("access-control-allow-credentials"), None);
    // Miroir's own headers are readable by a browser (Meilisearch exposes none).
    let exposed = answer.header("access-control-expose-headers").unwrap();
    for name in ["x-request-id", "x-miroir-degraded", "x-miroir-session"] {
        assert!(exposed.contains(name), "{exposed}");
    }

    let authorized = [("origin", ORIGIN), ("authorization", "Bearer master-key")];
    let answer = call(&app, request("GET", "/nope", &authorized, Body::empty())).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));

    let answer = call(&app, request("POST", "/echo", &authorized, "x".repeat(20))).await;
    assert_meilisearch_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));

    let answer = call(&app, request("GET", "/tasks", &authorized, Body::empty())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
}

/// Meilisearch (actix-cors) takes an `OPTIONS` for a preflight only with
/// `Access-Control-Request-Method`; without it the routes answer (405 on `/indexes`, with
/// `access-control-allow-origin: *` when an `Origin` was sent). tower-http alone would answer
/// 200.
#[tokio::test]
async fn an_options_request_that_is_not_a_preflight_reaches_the_routes() {
    let app = app(Config::default(), true).await;
    let answer = call(
        &app,
        request("OPTIONS", "/tasks", &[("origin", ORIGIN)], Body::empty()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(answer.header("access-control-max-age"), None);
    let answer = call(&app, request("OPTIONS", "/tasks", &[], Body::empty())).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.header("access-control-allow-origin"), None);
}

/// Meilisearch reads `gzip`, `deflate` (zlib) and `br` bodies, the encoding's name in any case,
/// and reads a body under any other name (`zstd`, `x-gzip`, `gzip, identity`) as it is.
#[tokio::test]
async fn compressed_bodies_are_read_as_sent() {
    let app = app(Config::default(), true).await;
    let document = json!({"q": "shoes", "filter": ["size = 42"], "limit": 3});
    let plain = serde_json::to_vec(&document).unwrap();
    for (encoding, bytes) in [
        ("gzip", gzip(&plain)),
        ("deflate", deflate(&plain)),
        ("br", brotli(&plain)),
        ("GZIP", gzip(&plain)),
        ("zstd", plain.clone()),
        ("identity", plain.clone()),
    ] {
        let length = bytes.len().to_string();
        let headers = [
            ("content-type", "application/json"),
            ("content-encoding", encoding),
            ("content-length", length.as_str()),
        ];
        let answer = call(&app, request("POST", "/json", &headers, bytes.clone())).await;
        assert_eq!(answer.status, StatusCode::OK, "{encoding}: {}", answer.body);
        assert_eq!(answer.body, document, "{encoding}");
        let answer = call(&app, request("POST", "/echo", &headers, bytes)).await;
        assert_eq!(answer.status, StatusCode::OK, "{encoding}");
        assert_eq!(answer.bytes, plain, "{encoding}");
    }
    // A name Meilisearch does not know leaves compressed bytes compressed: malformed JSON, as
    // Meilisearch answers `Content-Encoding: x-gzip`.
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "x-gzip"),
    ];
    let answer = call(&app, request("POST", "/json", &headers, gzip(&plain))).await;
    assert_meilisearch_error(&answer, StatusCode::BAD_REQUEST, "malformed_payload");
}

/// 16 MiB of zeros in about 16 KiB of gzip, sent in 256-byte chunks, against a 64 KiB limit:
/// Meilisearch (`--http-payload-size-limit 100000`) answers such a body 413 `payload_too_large`,
/// counting decompressed bytes. Miroir must too, and stop reading (and inflating) at the limit.
#[tokio::test]
async fn a_gzip_bomb_is_refused_at_the_limit_without_being_inflated() {
    let mut config = Config::default();
    config.server.max_body_bytes = 64 * 1024;
    let app = app(config, true).await;
    let bomb = gzip(&vec![b'0'; 16 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let chunks: Vec<Vec<u8>> = bomb.chunks(256).map(<[u8]>::to_vec).collect();
    let total = chunks.len();
    for uri in ["/json", "/echo"] {
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&sent);
        let stream = futures::stream::iter(chunks.clone()).map(move |chunk| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok::<_, std::io::Error>(chunk)
        });
        let headers = [
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ];
        let answer = call(
            &app,
            request("POST", uri, &headers, Body::from_stream(stream)),
        )
        .await;
        assert_meilisearch_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        let message = answer.body["message"].as_str().unwrap();
        assert!(message.contains("65536 bytes"), "{message}");
        let sent = sent.load(Ordering::Relaxed);
        assert!(sent < total / 4, "{uri}: read {sent} of {total} chunks");

        // A declared length (the compressed one, under the limit) does not let it through.
        let length = bomb.len().to_string();
        let headers = [
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
            ("content-length", length.as_str()),
        ];
        let answer = call(&app, request("POST", uri, &headers, bomb.clone())).await;
        assert_meilisearch_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    }
}

/// Meilisearch 1.50, a body that is not gzip sent as `Content-Encoding: gzip` (also a truncated
/// gzip stream, and likewise `deflate` and `br`):
/// - on `POST /indexes/movies/documents` (its `Payload` extractor): 400 `bad_request`, "The
///   provided payload is incomplete and cannot be parsed";
/// - on `POST /indexes/movies/search` (its JSON extractor): 400 `bad_request`, "Error that occur
///   during reading payload: payload reached EOF before completing: Some(Custom { kind:
///   InvalidInput, error: \"invalid gzip header\" })". The tail is actix's and flate2's
///   wording; Miroir keeps the prefix and gives its decoder's.
#[tokio::test]
async fn a_corrupt_compressed_body_gets_meilisearch_400() {
    let app = app(Config::default(), true).await;
    let plain = br#"{"q": "shoes"}"#;
    let whole = gzip(plain);
    let truncated = whole[..whole.len() / 2].to_vec();
    for (encoding, bytes) in [
        ("gzip", b"this is not gzip at all".to_vec()),
        ("gzip", truncated),
        ("deflate", plain.to_vec()),
        ("br", plain.to_vec()),
    ] {
        let headers = [
            ("content-type", "application/json"),
            ("content-encoding", encoding),
        ];
        let answer = call(&app, request("POST", "/echo", &headers, bytes.clone())).await;
        assert_meilisearch_error(&answer, StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(
            answer.body["message"], "The provided payload is incomplete and cannot be parsed",
            "{encoding}"
        );
        let answer = call(&app, request("POST", "/json", &headers, bytes)).await;
        assert_meilisearch_error(&answer, StatusCode::BAD_REQUEST, "bad_request");
        let message = answer.body["message"].as_str().unwrap();
        assert!(
            message.starts_with("Error that occur during reading payload: ")
                && message.len() > "Error that occur during reading payload: ".len(),
            "{encoding}: {message}"
        );
    }
}
