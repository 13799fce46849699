//! `miroir-handler-jobs`: the job routes under `/_miroir/` (admin key).

use axum::Router;
use miroir_http::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The job routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// The job routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}
