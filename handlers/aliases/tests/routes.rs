//! The alias routes without a server (tower `oneshot`), behind the production layers with an
//! admin key configured, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every response body is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both
//! backends: a body that differs between them fails one of the two runs. Dates are checked to be
//! RFC 3339 and redacted.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use miroir_core::Config;
use miroir_core::config::Secret;
use miroir_handler_aliases::{MAX_NAME_BYTES, MAX_TARGETS};
use miroir_http::{AppState, apply_layers};
use miroir_store::{DynStore, RolloverPolicy};
use miroir_test_support::route_kit::{Reply, Snapshot};
use serde_json::{Value, json};
use tower::ServiceExt;

miroir_test_support::route_suite!(
    prefix: "aliases-routes",
    app: crate::App::new,
    cases: [
        list_of_an_empty_store,
        create_single_and_multi,
        create_an_existing_name,
        bad_creates_change_nothing,
        names_at_the_size_limit,
        aliases_do_not_chain,
        flip_with_and_without_expected_version,
        history_is_bounded_by_the_retention,
        bad_flips_change_nothing,
        multi_target_aliases_are_managed_by_ilm,
        get_and_delete,
        the_layers_guard_the_routes,
        racing_flips_never_lose_an_update,
    ],
);

const ADMIN_KEY: &str = "alias-admin-key";

/// The default configuration with an admin key and `retention` history entries per alias.
fn config(retention: u32) -> Config {
    let mut config = Config::default();
    config.admin.api_key = Secret::new(ADMIN_KEY);
    config.aliases.history_retention = retention;
    config
}

/// The alias routes behind the production layers, on one store.
#[derive(Clone)]
struct App {
    layered: Router,
    store: DynStore,
}

impl App {
    async fn new(store: DynStore) -> Self {
        Self::with_config(store, config(10)).await
    }

    async fn with_config(store: DynStore, config: Config) -> Self {
        let state = AppState::start(store.clone(), config, Duration::from_secs(60)).await;
        Self {
            layered: apply_layers(miroir_handler_aliases::router(state.clone()), &state),
            store,
        }
    }

    /// `method uri` with the admin key and, if given, a JSON `body`.
    async fn send(&self, method: Method, uri: &str, body: Option<&str>) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Body::from(body.unwrap_or_default().to_owned()))
            .unwrap();
        call(&self.layered, request).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, None).await
    }

    async fn post(&self, body: &Value) -> Reply {
        self.send(Method::POST, "/_miroir/aliases", Some(&body.to_string()))
            .await
    }

    async fn put(&self, name: &str, body: &Value) -> Reply {
        self.send(
            Method::PUT,
            &format!("/_miroir/aliases/{name}"),
            Some(&body.to_string()),
        )
        .await
    }

    /// [`App::send`], asserting `status` and that `{status, body}` matches snapshot `name`.
    async fn check(
        &self,
        name: &str,
        method: Method,
        uri: &str,
        body: Option<&str>,
        status: StatusCode,
    ) -> Reply {
        let reply = self.send(method.clone(), uri, body).await;
        assert_eq!(reply.status, status, "{method} {uri}: {}", reply.body);
        let mut request = format!("{method} {uri}");
        if let Some(body) = body {
            let shown: String = body.chars().take(160).collect();
            let more = if shown.len() < body.len() { "…" } else { "" };
            request.push_str(&format!(" {shown}{more}"));
        }
        snapshot(name, &request, &reply);
        reply
    }

    /// `POST /_miroir/aliases` with `body`, checked against `status` and snapshot `name`.
    async fn check_post(&self, name: &str, body: &Value, status: StatusCode) -> Reply {
        self.check(
            name,
            Method::POST,
            "/_miroir/aliases",
            Some(&body.to_string()),
            status,
        )
        .await
    }

    /// `PUT /_miroir/aliases/{alias}` with `body`, checked against `status` and snapshot `name`.
    async fn check_put(&self, name: &str, alias: &str, body: &Value, status: StatusCode) -> Reply {
        self.check(
            name,
            Method::PUT,
            &format!("/_miroir/aliases/{alias}"),
            Some(&body.to_string()),
            status,
        )
        .await
    }

    /// `GET uri`, checked against `status` and snapshot `name`.
    async fn check_get(&self, name: &str, uri: &str, status: StatusCode) -> Reply {
        self.check(name, Method::GET, uri, None, status).await
    }

    /// Creates `name` → `target` and returns the alias.
    async fn create(&self, name: &str, target: &str) -> Value {
        let reply = self.post(&json!({"name": name, "target": target})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// Every alias as `GET /_miroir/aliases` lists them.
    async fn list(&self) -> Reply {
        self.get("/_miroir/aliases").await
    }
}

/// Sends `request` to `router`; every non-empty answer of these routes is JSON.
async fn call(router: &Router, request: Request<Body>) -> Reply {
    Reply::read(router.clone().oneshot(request).await.unwrap()).await
}

/// Asserts that `reply` matches `snapshots/<name>.snap`, the same file for every backend, with
/// every date checked to be RFC 3339 and redacted.
fn snapshot(name: &str, request: &str, reply: &Reply) {
    let value = Snapshot::of(reply);
    let date = || {
        insta::dynamic_redaction(|value, _| {
            let text = value.as_str().unwrap();
            assert!(
                miroir_http::timefmt::parse_rfc3339(text).is_some(),
                "not RFC 3339: {text}"
            );
            "[date]"
        })
    };
    miroir_test_support::assert_route_snapshot!(name, request, value, {
        ".body.createdAt" => date(),
        ".body.history[].replacedAt" => date(),
        ".body.results[].createdAt" => date(),
    });
}

// ---------------------------------------------------------------- cases

async fn list_of_an_empty_store(app: App) {
    app.check_get("list_empty", "/_miroir/aliases", StatusCode::OK)
        .await;
}

async fn create_single_and_multi(app: App) {
    let single = app
        .check_post(
            "create_single",
            &json!({"name": "products", "target": "products_v3"}),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(single.body["version"], 1);
    let multi = app
        .check_post(
            "create_multi",
            &json!({"name": "logs-search", "targets": ["logs-20260418", "logs-20260417"]}),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(multi.body["kind"], "multi");
    // A name that is an integer is a valid index uid, hence a valid alias name.
    app.create("2026", "index_2026").await;
    let list = app
        .check_get("list_three", "/_miroir/aliases", StatusCode::OK)
        .await;
    let names: Vec<&str> = list.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alias| alias["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["2026", "logs-search", "products"]);
    let got = app
        .check_get("get_single", "/_miroir/aliases/products", StatusCode::OK)
        .await;
    assert_eq!(got.body, single.body);
    let got = app
        .check_get("get_multi", "/_miroir/aliases/logs-search", StatusCode::OK)
        .await;
    assert_eq!(got.body, multi.body);
}

async fn create_an_existing_name(app: App) {
    let created = app.create("products", "products_v3").await;
    let reply = app
        .check_post(
            "create_conflict",
            &json!({"name": "products", "target": "products_v9"}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(reply.body["code"], "miroir_conflict");
    let reply = app
        .post(&json!({"name": "products", "targets": ["a", "b"]}))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(app.get("/_miroir/aliases/products").await.body, created);
}

/// Refused `POST /_miroir/aliases` bodies: (snapshot, body, status, code).
fn bad_creates() -> Vec<(&'static str, String, StatusCode, &'static str)> {
    let long = "a".repeat(MAX_NAME_BYTES + 1);
    let too_many: Vec<String> = (0..=MAX_TARGETS).map(|i| format!("idx_{i}")).collect();
    let bad = StatusCode::BAD_REQUEST;
    let cases = [
        (
            "create_unknown_field",
            json!({"name": "a", "target": "b", "expectedVersion": 1}),
        ),
        ("create_name_missing", json!({"target": "b"})),
        (
            "create_name_not_a_string",
            json!({"name": 7, "target": "b"}),
        ),
        (
            "create_target_not_a_string",
            json!({"name": "a", "target": ["b"]}),
        ),
        (
            "create_targets_not_a_list",
            json!({"name": "a", "targets": "b"}),
        ),
        ("create_no_target", json!({"name": "a"})),
        ("create_null_target", json!({"name": "a", "target": null})),
        (
            "create_target_and_targets",
            json!({"name": "a", "target": "b", "targets": ["c"]}),
        ),
        ("create_name_empty", json!({"name": "", "target": "b"})),
        (
            "create_name_invalid",
            json!({"name": "bad name", "target": "b"}),
        ),
        ("create_name_slash", json!({"name": "a/b", "target": "b"})),
        (
            "create_name_non_ascii",
            json!({"name": "produits_é", "target": "b"}),
        ),
        (
            "create_name_oversized",
            json!({"name": long, "target": "b"}),
        ),
        ("create_target_empty", json!({"name": "a", "target": ""})),
        (
            "create_target_invalid",
            json!({"name": "a", "target": "b c"}),
        ),
        (
            "create_target_oversized",
            json!({"name": "a", "target": long}),
        ),
        (
            "create_target_is_itself",
            json!({"name": "a", "target": "a"}),
        ),
        ("create_targets_empty", json!({"name": "a", "targets": []})),
        (
            "create_targets_too_many",
            json!({"name": "a", "targets": too_many}),
        ),
        (
            "create_targets_duplicate",
            json!({"name": "a", "targets": ["b", "c", "b"]}),
        ),
        (
            "create_targets_item_invalid",
            json!({"name": "a", "targets": ["b", "c d"]}),
        ),
        (
            "create_targets_item_is_itself",
            json!({"name": "a", "targets": ["b", "a"]}),
        ),
        ("create_body_not_an_object", json!(["a", "b"])),
    ];
    let mut cases: Vec<_> = cases
        .into_iter()
        .map(|(name, body)| (name, body.to_string(), bad, "bad_request"))
        .collect();
    cases.push((
        "create_malformed_json",
        r#"{"name": "a", "target": "#.to_owned(),
        bad,
        "malformed_payload",
    ));
    cases
}

async fn bad_creates_change_nothing(app: App) {
    for (name, body, status, code) in bad_creates() {
        let reply = app
            .check(name, Method::POST, "/_miroir/aliases", Some(&body), status)
            .await;
        assert_eq!(reply.body["code"], code, "{name}");
        assert_eq!(reply.body["type"], "invalid_request", "{name}");
        assert_eq!(
            reply.body["link"],
            format!("https://docs.meilisearch.com/errors#{code}"),
            "{name}"
        );
    }
    // Without a JSON content type.
    let request = Request::post("/_miroir/aliases")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"))
        .body(Body::from(r#"{"name": "a", "target": "b"}"#))
        .unwrap();
    let reply = call(&app.layered, request).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    snapshot(
        "create_without_content_type",
        "POST /_miroir/aliases",
        &reply,
    );
    // An oversized name is not echoed.
    let long = "z".repeat(5000);
    let reply = app.post(&json!({"name": long, "target": "b"})).await;
    assert!(!reply.body["message"].as_str().unwrap().contains("zzzz"));
    assert_eq!(app.store.list_aliases().await.unwrap(), []);
    assert_eq!(app.list().await.body["total"], 0);
}

async fn names_at_the_size_limit(app: App) {
    let name = "n".repeat(MAX_NAME_BYTES);
    let target = "t".repeat(MAX_NAME_BYTES);
    app.create(&name, &target).await;
    let reply = app.get(&format!("/_miroir/aliases/{name}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["target"], target);
    let targets: Vec<String> = (0..MAX_TARGETS).map(|i| format!("idx_{i}")).collect();
    let reply = app.post(&json!({"name": "wide", "targets": targets})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["targets"], json!(targets));
    let reply = app
        .put(&name, &json!({"target": "u".repeat(MAX_NAME_BYTES)}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn aliases_do_not_chain(app: App) {
    app.create("products", "products_v1").await;
    app.create("other", "other_v1").await;
    let before = app.list().await;
    let reply = app
        .check_post(
            "create_target_is_an_alias",
            &json!({"name": "shop", "target": "products"}),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(reply.body["code"], "bad_request");
    app.check_post(
        "create_name_is_a_target",
        &json!({"name": "products_v1", "target": "x"}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let reply = app
        .post(&json!({"name": "shop", "targets": ["a", "other"]}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    app.check_put(
        "flip_target_is_an_alias",
        "products",
        &json!({"target": "other"}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    app.check_put(
        "flip_target_is_itself",
        "products",
        &json!({"target": "products"}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(app.list().await, before);
}

async fn flip_with_and_without_expected_version(app: App) {
    app.create("products", "products_v1").await;
    let reply = app
        .check_put(
            "flip_without_expected_version",
            "products",
            &json!({"target": "products_v2"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.body["version"], 2);
    let reply = app
        .check_put(
            "flip_with_expected_version",
            "products",
            &json!({"target": "products_v3", "expectedVersion": 2}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.body["version"], 3);
    let after = app.get("/_miroir/aliases/products").await;
    let reply = app
        .check_put(
            "flip_stale_version",
            "products",
            &json!({"target": "products_v4", "expectedVersion": 2}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(reply.body["code"], "miroir_conflict");
    let reply = app
        .put(
            "products",
            &json!({"target": "products_v4", "expectedVersion": 4}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::CONFLICT,
        "a version from the future"
    );
    assert_eq!(app.get("/_miroir/aliases/products").await, after);
    let got = app
        .check_get(
            "get_after_flips",
            "/_miroir/aliases/products",
            StatusCode::OK,
        )
        .await;
    let history: Vec<(&str, u64)> = got.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["target"].as_str().unwrap(),
                entry["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(history, [("products_v1", 1), ("products_v2", 2)]);
    // The list shows the current target and version, without history.
    let list = app.list().await;
    assert_eq!(list.body["results"][0]["version"], 3);
    assert_eq!(list.body["results"][0]["target"], "products_v3");
    assert!(list.body["results"][0].get("history").is_none());
}

async fn history_is_bounded_by_the_retention(app: App) {
    let app = App::with_config(app.store.clone(), config(3)).await;
    app.create("logs", "logs_1").await;
    for n in 2..=7 {
        let reply = app
            .put("logs", &json!({"target": format!("logs_{n}")}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let got = app
        .check_get(
            "get_bounded_history",
            "/_miroir/aliases/logs",
            StatusCode::OK,
        )
        .await;
    assert_eq!(got.body["version"], 7);
    let versions: Vec<u64> = got.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [4, 5, 6]);
    // Retention 0 keeps no history at all.
    let app = App::with_config(app.store.clone(), config(0)).await;
    let reply = app.put("logs", &json!({"target": "logs_8"})).await;
    assert_eq!(reply.body["version"], 8);
    assert_eq!(reply.body["history"], json!([]));
}

/// Refused `PUT /_miroir/aliases/products` bodies: (snapshot, body).
fn bad_flips() -> Vec<(&'static str, Value)> {
    let long = "a".repeat(MAX_NAME_BYTES + 1);
    vec![
        ("flip_no_target", json!({})),
        ("flip_only_expected_version", json!({"expectedVersion": 1})),
        (
            "flip_unknown_field",
            json!({"target": "b", "name": "other"}),
        ),
        ("flip_target_not_a_string", json!({"target": 5})),
        (
            "flip_expected_version_not_a_number",
            json!({"target": "b", "expectedVersion": "1"}),
        ),
        (
            "flip_expected_version_negative",
            json!({"target": "b", "expectedVersion": -1}),
        ),
        (
            "flip_expected_version_fraction",
            json!({"target": "b", "expectedVersion": 1.5}),
        ),
        ("flip_target_invalid", json!({"target": "b.c"})),
        ("flip_target_oversized", json!({"target": long})),
        (
            "flip_target_and_targets",
            json!({"target": "b", "targets": ["c"]}),
        ),
        ("flip_targets_on_single", json!({"targets": ["b", "c"]})),
    ]
}

async fn bad_flips_change_nothing(app: App) {
    app.create("products", "products_v1").await;
    let before = app.get("/_miroir/aliases/products").await;
    for (name, body) in bad_flips() {
        let reply = app
            .check_put(name, "products", &body, StatusCode::BAD_REQUEST)
            .await;
        assert_eq!(reply.body["code"], "bad_request", "{name}");
    }
    app.check_put(
        "flip_not_found",
        "absent",
        &json!({"target": "b"}),
        StatusCode::NOT_FOUND,
    )
    .await;
    app.check(
        "flip_path_invalid",
        Method::PUT,
        "/_miroir/aliases/bad%20name",
        Some(r#"{"target": "b"}"#),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let reply = app
        .send(
            Method::PUT,
            "/_miroir/aliases/products",
            Some(r#"{"target": "#),
        )
        .await;
    assert_eq!(reply.body["code"], "malformed_payload");
    let request = Request::put("/_miroir/aliases/products")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"))
        .body(Body::from(r#"{"target": "b"}"#))
        .unwrap();
    assert_eq!(
        call(&app.layered, request).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(app.get("/_miroir/aliases/products").await, before);
    assert_eq!(app.store.list_aliases().await.unwrap().len(), 1);
}

async fn multi_target_aliases_are_managed_by_ilm(app: App) {
    let created = app
        .post(&json!({"name": "logs-search", "targets": ["logs-1", "logs-2"]}))
        .await
        .body;
    let reply = app
        .check_put(
            "flip_multi_refused",
            "logs-search",
            &json!({"target": "logs-3"}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(reply.body["code"], "miroir_multi_alias_not_writable");
    let reply = app
        .put(
            "logs-search",
            &json!({"targets": ["logs-2", "logs-3"], "expectedVersion": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.body["code"], "miroir_multi_alias_not_writable");

    app.store
        .upsert_rollover_policy(RolloverPolicy {
            name: "logs-daily".to_owned(),
            write_alias: "logs".to_owned(),
            read_alias: "logs-search".to_owned(),
            pattern: "logs-{YYYY-MM-DD}".to_owned(),
            triggers: json!({"max_age": "1d"}),
            retention: json!({"keep_indexes": 2}),
            template: json!({"primary_key": "id"}),
            enabled: true,
        })
        .await
        .unwrap();
    app.check_put(
        "flip_multi_refused_naming_the_policy",
        "logs-search",
        &json!({"target": "logs-3"}),
        StatusCode::CONFLICT,
    )
    .await;
    app.check(
        "delete_multi_owned_by_a_policy",
        Method::DELETE,
        "/_miroir/aliases/logs-search",
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(app.get("/_miroir/aliases/logs-search").await.body, created);

    assert!(
        app.store
            .delete_rollover_policy("logs-daily")
            .await
            .unwrap()
    );
    let reply = app
        .send(Method::DELETE, "/_miroir/aliases/logs-search", None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(app.store.list_aliases().await.unwrap(), []);
}

async fn get_and_delete(app: App) {
    app.check_get(
        "get_not_found",
        "/_miroir/aliases/absent",
        StatusCode::NOT_FOUND,
    )
    .await;
    app.check_get(
        "get_path_invalid",
        "/_miroir/aliases/bad%20name",
        StatusCode::BAD_REQUEST,
    )
    .await;
    app.check_get(
        "get_path_oversized",
        &format!("/_miroir/aliases/{}", "a".repeat(MAX_NAME_BYTES + 1)),
        StatusCode::BAD_REQUEST,
    )
    .await;
    app.create("products", "products_v1").await;
    app.put("products", &json!({"target": "products_v2"})).await;
    app.check(
        "delete_path_invalid",
        Method::DELETE,
        "/_miroir/aliases/bad%20name",
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let reply = app
        .send(Method::DELETE, "/_miroir/aliases/products", None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.body, Value::Null, "204 has no body");
    app.check(
        "delete_not_found",
        Method::DELETE,
        "/_miroir/aliases/products",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        app.get("/_miroir/aliases/products").await.status,
        StatusCode::NOT_FOUND
    );
    // The name can be used again, from version 1 with no history.
    let again = app.create("products", "products_v9").await;
    assert_eq!(
        (again["version"].clone(), again["history"].clone()),
        (json!(1), json!([]))
    );
}

async fn the_layers_guard_the_routes(app: App) {
    let request = Request::get("/_miroir/aliases")
        .body(Body::empty())
        .unwrap();
    let reply = call(&app.layered, request).await;
    // The shared auth layer's refusal (its shape is snapshotted where it is defined).
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body["code"], "miroir_invalid_auth");
    let request = Request::post("/_miroir/aliases")
        .header("X-Admin-Key", "wrong")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name": "a", "target": "b"}"#))
        .unwrap();
    assert_eq!(
        call(&app.layered, request).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The admin key as `X-Admin-Key` works like the bearer.
    let request = Request::get("/_miroir/aliases")
        .header("X-Admin-Key", ADMIN_KEY)
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app.layered, request).await.status, StatusCode::OK);
    app.check(
        "layered_patch_alias",
        Method::PATCH,
        "/_miroir/aliases/products",
        Some(r#"{"target": "b"}"#),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    app.check(
        "layered_delete_every_alias",
        Method::DELETE,
        "/_miroir/aliases",
        None,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    assert_eq!(app.store.list_aliases().await.unwrap(), []);
}

async fn racing_flips_never_lose_an_update(app: App) {
    app.create("hot", "hot_0").await;
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let app = app.clone();
            tokio::spawn(async move {
                let (mut won, mut lost) = (0_u64, 0_u64);
                for round in 0..15 {
                    let current = app.get("/_miroir/aliases/hot").await;
                    let version = current.body["version"].as_u64().unwrap();
                    let target = format!("hot_{worker}_{round}");
                    // Odd workers leave the version to the handler: still compare-and-set.
                    let body = if worker % 2 == 0 {
                        json!({"target": target, "expectedVersion": version})
                    } else {
                        json!({"target": target})
                    };
                    let reply = app.put("hot", &body).await;
                    match reply.status {
                        StatusCode::OK => won += 1,
                        StatusCode::CONFLICT => {
                            assert_eq!(reply.body["code"], "miroir_conflict");
                            lost += 1;
                        }
                        other => panic!("unexpected {other}: {}", reply.body),
                    }
                }
                (won, lost)
            })
        })
        .collect();
    let mut won = 0;
    for worker in workers {
        let (flipped, lost) = worker.await.unwrap();
        assert_eq!(flipped + lost, 15);
        won += flipped;
    }
    let alias = app.get("/_miroir/aliases/hot").await.body;
    assert_eq!(
        alias["version"],
        1 + won,
        "every successful flip counted once"
    );
    let versions: Vec<u64> = alias["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["version"].as_u64().unwrap())
        .collect();
    let first = won.saturating_sub(10) + 1;
    assert_eq!(
        versions,
        (first..=won).collect::<Vec<_>>(),
        "gapless, newest 10"
    );
}
