//! The lease route without a server (tower `oneshot`), behind the production layers with an
//! admin key, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every response body is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both
//! backends (clock-dependent dates redacted): a body that differs between them fails one run.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::http::{Method, StatusCode};
use miroir_core::Config;
use miroir_http::timefmt::format_rfc3339;
use miroir_store::DynStore;
use miroir_test_support::route_kit::{Reply, RouteApp, Routes, Snapshot, assert_error, check_auth};

miroir_test_support::route_suite!(
    prefix: crate::PREFIX,
    app: crate::app,
    cases: [
        list_of_no_leases,
        list_shows_held_leases_by_scope,
        expired_and_released_leases_are_not_listed,
        list_errors,
        layers_answer_auth_and_methods,
        bad_requests_change_nothing,
    ],
);

/// The key prefix of each Redis test.
const PREFIX: &str = "leases-routes";

/// Keys whose values are clock-dependent dates, redacted in snapshots.
const VOLATILE: &[&str] = &["expiresAt"];

const TTL: Duration = Duration::from_secs(60);

/// The configuration of every case (the admin key is added to it).
fn base_config() -> Config {
    Config::default()
}

/// The routes under test on one store, behind the production layers with [`ADMIN_KEY`].
type App = RouteApp;

/// This crate's routes on `store`, with [`base_config`].
async fn app(store: DynStore) -> App {
    RouteApp::new(ROUTES, store).await
}

/// The crate's router, configuration and snapshots.
const ROUTES: Routes = Routes {
    router: miroir_handler_leases::router,
    config: base_config,
    snapshot,
};

/// Asserts that `reply` matches `snapshots/<name>.snap`, the same file for every backend, with
/// the dates under [`VOLATILE`] redacted.
fn snapshot(name: &str, request: &str, reply: &Reply) {
    miroir_test_support::assert_route_snapshot!(name, request, Snapshot::redacted(reply, VOLATILE));
}

async fn list_of_no_leases(app: App) {
    let reply = app
        .check(
            "list_empty",
            Method::GET,
            "/_miroir/leases",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.body["total"], 0);
}

async fn list_shows_held_leases_by_scope(app: App) {
    let store = &app.store;
    let reshard = store
        .acquire_lease("reshard:movies", "pod-a", TTL)
        .await
        .unwrap()
        .unwrap();
    let flip = store
        .acquire_lease("alias_flip:products", "pod-b", TTL)
        .await
        .unwrap()
        .unwrap();
    let ilm = store
        .acquire_lease("ilm", "pod-a", TTL)
        .await
        .unwrap()
        .unwrap();
    // A new holding after a release gets a larger fencing token.
    assert!(
        store
            .release_lease("ilm", "pod-a", ilm.token)
            .await
            .unwrap()
    );
    let ilm = store
        .acquire_lease("ilm", "pod-c", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ilm.token, 2);
    let reply = app
        .check(
            "list_leases",
            Method::GET,
            "/_miroir/leases",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.body["total"], 3);
    for (position, lease) in [&flip, &ilm, &reshard].into_iter().enumerate() {
        let listed = &reply.body["results"][position];
        assert_eq!(listed["scope"], lease.scope.as_str());
        assert_eq!(listed["holder"], lease.holder.as_str());
        assert_eq!(listed["fencingToken"], lease.token);
        assert_eq!(listed["expiresAt"], format_rfc3339(lease.expires_at));
    }
}

async fn expired_and_released_leases_are_not_listed(app: App) {
    let store = &app.store;
    store
        .acquire_lease(
            "settings_broadcast:movies",
            "pod-a",
            Duration::from_millis(200),
        )
        .await
        .unwrap()
        .unwrap();
    let released = store
        .acquire_lease("reshard:books", "pod-b", TTL)
        .await
        .unwrap()
        .unwrap();
    store
        .release_lease("reshard:books", "pod-b", released.token)
        .await
        .unwrap();
    store
        .acquire_lease("leader", "pod-c", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.get("/_miroir/leases").await.body["total"], 2);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let reply = app
        .check(
            "list_without_expired_or_released",
            Method::GET,
            "/_miroir/leases",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.body["results"][0]["scope"], "leader");
    assert_eq!(reply.body["total"], 1);
}

async fn list_errors(app: App) {
    let reply = app
        .check(
            "list_query_parameter",
            Method::GET,
            "/_miroir/leases?scope=leader",
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_error(&reply, "bad_request");
}

async fn layers_answer_auth_and_methods(app: App) {
    check_auth(&app, Method::GET, "/_miroir/leases").await;
    for (name, method, uri, status) in [
        (
            "post_leases",
            Method::POST,
            "/_miroir/leases",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "delete_leases",
            Method::DELETE,
            "/_miroir/leases",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "get_one_lease",
            Method::GET,
            "/_miroir/leases/leader",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let reply = app.check(name, method, uri, None, status).await;
        assert!(reply.body["code"].is_string());
    }
}

async fn bad_requests_change_nothing(app: App) {
    app.store
        .acquire_lease("leader", "pod-a", TTL)
        .await
        .unwrap()
        .unwrap();
    let before = app.store.list_leases().await.unwrap();
    for (method, uri, body) in [
        (Method::GET, "/_miroir/leases?all=true", None),
        (
            Method::POST,
            "/_miroir/leases",
            Some(r#"{"scope":"x","holder":"y"}"#),
        ),
        (Method::DELETE, "/_miroir/leases", None),
        (
            Method::PUT,
            "/_miroir/leases",
            Some(r#"{"scope":"leader"}"#),
        ),
        (Method::DELETE, "/_miroir/leases/leader", None),
    ] {
        let reply = app.call(method.clone(), uri, body).await;
        assert!(reply.status.is_client_error(), "{method} {uri}");
    }
    assert_eq!(app.store.list_leases().await.unwrap(), before);
}
