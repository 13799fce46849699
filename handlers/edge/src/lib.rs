//! `miroir-edge`: every handler's routes merged into one server, the container's entrypoint
//! (bin `miroir`).

use axum::Router;
use miroir_http::{AppState, apply_layers};

/// Every handler's routes, merged, behind the shared layers (applied once, here).
pub fn app(state: &AppState) -> Router {
    let routes = Router::new()
        .merge(miroir_handler_admin::router(state.clone()))
        .merge(miroir_handler_tasks::router(state.clone()));
    apply_layers(routes, state)
}

/// The OpenAPI document of every route `app` serves, from the handlers' own definitions.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let paths = miroir_handler_admin::routes()
        .merge(miroir_handler_tasks::routes())
        .into_openapi();
    miroir_http::openapi::document(paths)
}
