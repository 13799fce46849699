//! `miroir-edge`: every handler's routes merged into one server, the container's entrypoint
//! (bin `miroir`), and the scheduled worker function (bin `lambda-worker`, [`worker`]).

pub mod worker;

use axum::Router;
use miroir_http::{AppState, apply_layers};
use utoipa_axum::router::OpenApiRouter;

/// Every handler crate's route definitions, merged (each route is defined in exactly one).
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(miroir_handler_admin::routes())
        .merge(miroir_handler_tasks::routes())
        .merge(miroir_handler_aliases::routes())
        .merge(miroir_handler_sessions::routes())
        .merge(miroir_handler_canaries::routes())
        .merge(miroir_handler_jobs::routes())
        .merge(miroir_handler_tenants::routes())
        .merge(miroir_handler_keys::routes())
        .merge(miroir_handler_rollover::routes())
        .merge(miroir_handler_search_ui::routes())
        .merge(miroir_handler_leases::routes())
        .merge(miroir_handler_indexes::routes())
        .merge(miroir_handler_documents::routes())
        .merge(miroir_handler_search::routes())
        .merge(miroir_handler_settings::routes())
        .merge(miroir_handler_cdc::routes())
}

/// Every handler's routes, merged, behind the shared layers (applied once, here).
pub fn app(state: &AppState) -> Router {
    let (routes, _) = routes().split_for_parts();
    apply_layers(routes.with_state(state.clone()), state)
}

/// The OpenAPI document of every route `app` serves, from the handlers' own definitions.
pub fn openapi() -> utoipa::openapi::OpenApi {
    miroir_http::openapi::document(routes().into_openapi())
}
