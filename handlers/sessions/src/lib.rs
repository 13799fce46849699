//! `miroir-handler-sessions`: the admin session routes under `/_miroir/` (admin key).

use axum::Router;
use miroir_http::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The admin session routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// The admin session routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}
