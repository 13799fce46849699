//! The search-UI configuration routes without a server (tower `oneshot`), behind the production
//! layers with an admin key, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every response body is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both
//! backends (clock-dependent dates redacted): a body that differs between them fails one run.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use miroir_core::Config;
use miroir_http::timefmt::format_rfc3339;
use miroir_store::DynStore;
use miroir_test_support::route_kit::{Reply, RouteApp, Routes, Snapshot, assert_error, check_auth};
use serde_json::{Value, json};

miroir_test_support::route_suite!(
    prefix: crate::PREFIX,
    app: crate::app,
    cases: [
        an_index_without_config_is_a_404,
        post_the_plans_example_then_get_it,
        a_post_replaces_the_whole_entry,
        post_errors,
        path_errors,
        layers_answer_auth_and_methods,
        bad_requests_change_nothing,
    ],
);

/// The key prefix of each Redis test.
const PREFIX: &str = "search-ui-routes";

/// Keys whose values are clock-dependent dates, redacted in snapshots.
const VOLATILE: &[&str] = &["updatedAt"];

/// The configuration of every case (the admin key is added to it).
fn base_config() -> Config {
    Config::default()
}

const PRODUCTS: &str = "/_miroir/ui/search/products/config";

/// The routes under test on one store, behind the production layers with [`ADMIN_KEY`].
type App = RouteApp;

/// This crate's routes on `store`, with [`base_config`].
async fn app(store: DynStore) -> App {
    RouteApp::new(ROUTES, store).await
}

/// The crate's router, configuration and snapshots.
const ROUTES: Routes = Routes {
    router: miroir_handler_search_ui::router,
    config: base_config,
    snapshot,
};

/// Asserts that `reply` matches `snapshots/<name>.snap`, the same file for every backend, with
/// the dates under [`VOLATILE`] redacted.
fn snapshot(name: &str, request: &str, reply: &Reply) {
    miroir_test_support::assert_route_snapshot!(name, request, Snapshot::redacted(reply, VOLATILE));
}

/// The plan's example entry (§13.21), in camelCase.
fn products() -> Value {
    json!({
        "index": "products",
        "title": "Product Catalog",
        "logoUrl": "https://cdn.example.com/logo.svg",
        "displayAttributes": ["name", "brand", "price", "image_url"],
        "searchableAttributesHint": ["name", "description"],
        "facets": [
            {"attribute": "brand", "type": "checkbox", "title": "Brand", "sort": "count_desc"},
            {"attribute": "price", "type": "range", "min": 0, "max": 10000, "step": 10, "title": "Price"},
            {"attribute": "rating", "type": "star", "title": "Rating"}
        ],
        "sortOptions": [
            {"label": "Relevance", "field": null},
            {"label": "Price: Low to High", "field": "price:asc"},
            {"label": "Price: High to Low", "field": "price:desc"},
            {"label": "Newest", "field": "created_at:desc"}
        ],
        "resultTemplate": "card",
        "primaryKeyField": "sku",
        "hitUrlTemplate": "https://shop.example.com/product/{sku}",
        "thumbnailField": "image_url",
        "instantSearch": true,
        "highlight": true,
        "typoTolerance": true,
        "perPageDefault": 24,
        "perPageOptions": [12, 24, 48],
        "emptyStateQuerySuggestions": true,
        "analyticsEnabled": false
    })
}

/// `entry` with the value at the `/`-separated `path` replaced by `value`, or removed when
/// `value` is `None`.
fn with(mut entry: Value, path: &str, value: Option<Value>) -> Value {
    let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
    let target = if parent.is_empty() {
        &mut entry
    } else {
        entry.pointer_mut(&format!("/{parent}")).unwrap()
    };
    match (target, value) {
        (Value::Object(object), Some(value)) => {
            object.insert(last.to_owned(), value);
        }
        (Value::Object(object), None) => {
            object.remove(last);
        }
        (Value::Array(items), Some(value)) => items[last.parse::<usize>().unwrap()] = value,
        (other, _) => panic!("{other}"),
    }
    entry
}

async fn post(app: &App, index: &str, body: &Value) -> Reply {
    app.call(
        Method::POST,
        &format!("/_miroir/ui/search/{index}/config"),
        Some(&body.to_string()),
    )
    .await
}

async fn an_index_without_config_is_a_404(app: App) {
    let reply = app
        .check(
            "get_not_found",
            Method::GET,
            PRODUCTS,
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_error(&reply, "miroir_search_ui_config_not_found");
}

async fn post_the_plans_example_then_get_it(app: App) {
    let posted = app
        .check(
            "post_full",
            Method::POST,
            PRODUCTS,
            Some(&products().to_string()),
            StatusCode::OK,
        )
        .await;
    // Stored and answered as sent, without `index` (the path says it).
    let expected = with(products(), "index", None);
    assert_eq!(posted.body["config"], expected);
    let stored = app
        .store
        .get_search_ui_config("products")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.config, expected);
    assert_eq!(posted.body["updatedAt"], format_rfc3339(stored.updated_at));
    let got = app
        .check("get_config", Method::GET, PRODUCTS, None, StatusCode::OK)
        .await;
    assert_eq!(got, posted);
    // Other forms the rules allow: a custom template, a path hit URL, bare facets.
    let custom = json!({
        "resultTemplate": "custom",
        "customTemplate": "<article>{{name}}{{#if price}} - {{price}}{{/if}}</article>",
        "hitUrlTemplate": "/product/{sku}?ref={brand}",
        "facets": [{"attribute": "price", "type": "range"}, {"attribute": "tags", "type": "checkbox"}],
        "sortOptions": [{"label": "Relevance"}],
        "perPageDefault": 1000
    });
    let reply = app
        .check(
            "post_custom_template",
            Method::POST,
            "/_miroir/ui/search/docs_v2/config",
            Some(&custom.to_string()),
            StatusCode::OK,
        )
        .await;
    // An absent sort field is stored as `null`, relevance, like the plan's example writes it.
    assert_eq!(
        reply.body["config"],
        with(
            custom,
            "sortOptions/0",
            Some(json!({"label": "Relevance", "field": null}))
        )
    );
    assert_eq!(app.store.list_search_ui_configs().await.unwrap().len(), 2);
}

async fn a_post_replaces_the_whole_entry(app: App) {
    assert_eq!(
        post(&app, "products", &products()).await.status,
        StatusCode::OK
    );
    let minimal = app
        .check(
            "post_minimal",
            Method::POST,
            PRODUCTS,
            Some(r#"{"title":"Books","facets":null}"#),
            StatusCode::OK,
        )
        .await;
    assert_eq!(minimal.body["config"], json!({"title": "Books"}));
    let empty = app
        .check(
            "post_empty",
            Method::POST,
            PRODUCTS,
            Some("{}"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(empty.body["config"], json!({}));
    assert_eq!(app.get(PRODUCTS).await.body["config"], json!({}));
}

/// Every refused body: (snapshot, body).
fn bad_bodies() -> Vec<(&'static str, Value)> {
    let base = products;
    let many: Vec<String> = (0..101).map(|n| format!("field_{n}")).collect();
    vec![
        (
            "post_index_mismatch",
            with(base(), "index", Some(json!("books"))),
        ),
        (
            "post_title_blank",
            with(base(), "title", Some(json!("   "))),
        ),
        (
            "post_title_too_long",
            with(base(), "title", Some(json!("t".repeat(201)))),
        ),
        (
            "post_title_control_character",
            with(base(), "title", Some(json!("Product\nCatalog"))),
        ),
        (
            "post_title_not_a_string",
            with(base(), "title", Some(json!(42))),
        ),
        (
            "post_logo_url_javascript",
            with(base(), "logoUrl", Some(json!("javascript:alert(1)"))),
        ),
        (
            "post_logo_url_relative",
            with(base(), "logoUrl", Some(json!("/logo.svg"))),
        ),
        (
            "post_display_attributes_duplicate",
            with(base(), "displayAttributes/2", Some(json!("name"))),
        ),
        (
            "post_display_attributes_blank",
            with(base(), "displayAttributes/1", Some(json!(""))),
        ),
        (
            "post_display_attributes_too_many",
            with(base(), "displayAttributes", Some(json!(many))),
        ),
        (
            "post_display_attributes_not_a_list",
            with(base(), "displayAttributes", Some(json!("name"))),
        ),
        (
            "post_hint_too_long",
            with(
                base(),
                "searchableAttributesHint/0",
                Some(json!("a".repeat(513))),
            ),
        ),
        (
            "post_facet_type_unknown",
            with(base(), "facets/0/type", Some(json!("dropdown"))),
        ),
        (
            "post_facet_attribute_missing",
            with(base(), "facets/2/attribute", None),
        ),
        (
            "post_facet_sort_on_range",
            with(base(), "facets/1/sort", Some(json!("count_desc"))),
        ),
        (
            "post_facet_sort_unknown",
            with(base(), "facets/0/sort", Some(json!("random"))),
        ),
        (
            "post_facet_min_on_checkbox",
            with(base(), "facets/0/min", Some(json!(1))),
        ),
        (
            "post_facet_min_above_max",
            with(base(), "facets/1/min", Some(json!(20000))),
        ),
        (
            "post_facet_step_zero",
            with(base(), "facets/1/step", Some(json!(0))),
        ),
        (
            "post_facet_duplicate",
            with(base(), "facets/2/attribute", Some(json!("brand"))),
        ),
        (
            "post_facet_unknown_field",
            with(base(), "facets/2/icon", Some(json!("star"))),
        ),
        (
            "post_facet_not_an_object",
            with(base(), "facets/0", Some(json!(["brand", "checkbox"]))),
        ),
        (
            "post_sort_field_direction",
            with(base(), "sortOptions/1/field", Some(json!("price:up"))),
        ),
        (
            "post_sort_field_without_direction",
            with(base(), "sortOptions/1/field", Some(json!("price"))),
        ),
        (
            "post_sort_label_missing",
            with(base(), "sortOptions/0/label", None),
        ),
        (
            "post_result_template_unknown",
            with(base(), "resultTemplate", Some(json!("carousel"))),
        ),
        (
            "post_custom_without_template",
            with(base(), "resultTemplate", Some(json!("custom"))),
        ),
        (
            "post_template_without_custom",
            with(base(), "customTemplate", Some(json!("<p>{{name}}</p>"))),
        ),
        (
            "post_hit_url_javascript",
            with(
                base(),
                "hitUrlTemplate",
                Some(json!("javascript:alert({sku})")),
            ),
        ),
        (
            "post_hit_url_protocol_relative",
            with(
                base(),
                "hitUrlTemplate",
                Some(json!("//evil.example/{sku}")),
            ),
        ),
        (
            "post_hit_url_backslash",
            with(
                base(),
                "hitUrlTemplate",
                Some(json!("/\\evil.example/{sku}")),
            ),
        ),
        (
            "post_hit_url_unclosed",
            with(base(), "hitUrlTemplate", Some(json!("/product/{sku"))),
        ),
        (
            "post_hit_url_empty_placeholder",
            with(base(), "hitUrlTemplate", Some(json!("/product/{}"))),
        ),
        (
            "post_per_page_default_zero",
            with(base(), "perPageDefault", Some(json!(0))),
        ),
        (
            "post_per_page_default_not_offered",
            with(base(), "perPageDefault", Some(json!(30))),
        ),
        (
            "post_per_page_default_too_large",
            with(
                with(base(), "perPageOptions", None),
                "perPageDefault",
                Some(json!(1001)),
            ),
        ),
        (
            "post_per_page_options_decreasing",
            with(base(), "perPageOptions", Some(json!([48, 24, 12]))),
        ),
        (
            "post_per_page_options_empty",
            with(base(), "perPageOptions", Some(json!([]))),
        ),
        (
            "post_instant_search_not_a_bool",
            with(base(), "instantSearch", Some(json!("yes"))),
        ),
        (
            "post_unknown_field",
            with(
                base(),
                "logo_url",
                Some(json!("https://cdn.example.com/logo.svg")),
            ),
        ),
        ("post_not_an_object", json!([{"title": "Products"}])),
    ]
}

async fn post_errors(app: App) {
    for (name, body) in bad_bodies() {
        let reply = app
            .check(
                name,
                Method::POST,
                PRODUCTS,
                Some(&body.to_string()),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_error(&reply, "bad_request");
    }
    let reply = app
        .check(
            "post_malformed",
            Method::POST,
            PRODUCTS,
            Some(r#"{"title":"#),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_error(&reply, "malformed_payload");
    let large = with(
        with(products(), "resultTemplate", Some(json!("custom"))),
        "customTemplate",
        Some(json!("x".repeat(32_769))),
    );
    assert_error(&post(&app, "products", &large).await, "bad_request");
}

async fn path_errors(app: App) {
    for (name, method, index, body) in [
        ("get_index_invalid", Method::GET, "my%20index", None),
        ("post_index_invalid", Method::POST, "my%20index", Some("{}")),
        // Dot segments, as sent and percent-encoded (axum decodes path parameters).
        ("get_index_dot_dot", Method::GET, "..", None),
        ("post_index_encoded_dot", Method::POST, "%2E", Some("{}")),
    ] {
        let reply = app
            .check(
                name,
                method,
                &format!("/_miroir/ui/search/{index}/config"),
                body,
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_error(&reply, "invalid_index_uid");
    }
    let long = "i".repeat(401);
    assert_error(&post(&app, &long, &json!({})).await, "invalid_index_uid");
    assert_eq!(
        post(&app, &"i".repeat(400), &json!({})).await.status,
        StatusCode::OK
    );
}

async fn layers_answer_auth_and_methods(app: App) {
    check_auth(&app, Method::GET, PRODUCTS).await;
    check_auth(&app, Method::POST, PRODUCTS).await;
    for (name, method, uri, status) in [
        (
            "put_config",
            Method::PUT,
            PRODUCTS,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "delete_config",
            Method::DELETE,
            PRODUCTS,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "get_index_root",
            Method::GET,
            "/_miroir/ui/search/products",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let reply = app.check(name, method, uri, None, status).await;
        assert!(reply.body["code"].is_string());
    }
}

async fn bad_requests_change_nothing(app: App) {
    assert_eq!(
        post(&app, "products", &products()).await.status,
        StatusCode::OK
    );
    let before = app.store.list_search_ui_configs().await.unwrap();
    for (name, body) in bad_bodies() {
        assert!(
            post(&app, "products", &body).await.status.is_client_error(),
            "{name}"
        );
        assert!(
            post(&app, "movies", &body).await.status.is_client_error(),
            "{name}"
        );
    }
    assert!(
        post(&app, "my%20index", &json!({}))
            .await
            .status
            .is_client_error()
    );
    let unauthenticated = Request::builder()
        .method(Method::POST)
        .uri(PRODUCTS)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(
        app.send(unauthenticated).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.store.list_search_ui_configs().await.unwrap(), before);
}
