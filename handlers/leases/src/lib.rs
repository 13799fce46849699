//! `miroir-handler-leases`: the lease routes under `/_miroir/` (admin key), plan §4 table 7 and
//! §14.5 Mode B.
//!
//! - `GET /_miroir/leases` → every lease held now, ordered by scope:
//!   `{results: [{scope, holder, expiresAt, fencingToken}], total}`. Released and expired leases
//!   are never listed (the store's invariant, whether or not anything has cleaned them up).
//!
//! Read-only: leases are taken, renewed and released by the background workers through the store;
//! an operator only looks at who leads what.

use axum::extract::{RawQuery, State};
use axum::{Json, Router};
use miroir_core::{ApiError, Code};
use miroir_http::timefmt::format_rfc3339;
use miroir_http::{AppState, HttpResult};
use miroir_store::Lease;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The lease routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_leases))
}

/// The lease routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// A lease held now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Lease)]
struct LeaseView {
    /// What the lease guards, such as `reshard:movies` or `alias_flip:products`.
    #[schema(example = "reshard:movies")]
    scope: String,
    /// The holder (pod id).
    #[schema(example = "miroir-7d9f-abcde")]
    holder: String,
    /// RFC 3339 date: the lease is free from then on unless renewed.
    expires_at: String,
    /// The fencing token of this holding: larger than every token issued before for the scope;
    /// writes made under the lease carry it.
    fencing_token: u64,
}

impl From<Lease> for LeaseView {
    fn from(lease: Lease) -> Self {
        Self {
            scope: lease.scope,
            holder: lease.holder,
            expires_at: format_rfc3339(lease.expires_at),
            fencing_token: lease.token,
        }
    }
}

/// The body of `GET /_miroir/leases`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LeaseList)]
struct LeaseList {
    /// Every lease held now, ordered by scope.
    results: Vec<LeaseView>,
    /// How many.
    total: usize,
}

/// List leases.
///
/// Every lease held now, ordered by scope, with its holder, expiry and fencing token. Released
/// and expired leases are not listed.
#[utoipa::path(
    get,
    path = "/_miroir/leases",
    tag = "leases",
    responses(
        (status = 200, description = "Every lease held now.", body = LeaseList),
        (status = 400, description = "A query parameter was given; this route takes none (`bad_request`)."),
    )
)]
async fn list_leases(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> HttpResult<Json<LeaseList>> {
    if query.is_some_and(|query| !query.is_empty()) {
        return Err(ApiError::new(
            Code::BadRequest,
            "`GET /_miroir/leases` takes no query parameters.",
        )
        .into());
    }
    let leases = state.store.list_leases().await?;
    Ok(Json(LeaseList {
        total: leases.len(),
        results: leases.into_iter().map(LeaseView::from).collect(),
    }))
}
