//! `miroir-handler-documents`: the document routes (plan §2 write path, §3 "Document
//! lifecycle", §5 "Routing by operation type").
//!
//! - Writes (`POST`/`PUT /indexes/{uid}/documents`, deletions) become one Miroir task through
//!   [`miroir_http::write::accept_write`]: the body is read as JSON, NDJSON or CSV by its
//!   `Content-Type`, as Meilisearch reads it (`payload`), documents are checked first (primary
//!   key value present and valid, no reserved `_miroir_shard`), tagged with their shard, batched
//!   per node and sent as JSON to their shard's nodes in every group in parallel.
//! - Reads (`GET …/documents/{id}`, `GET …/documents`, `POST …/documents/fetch`) see no
//!   `_miroir_*` field. A list answers at most [`MAX_LIMIT`] (1000) documents: a greater `limit`
//!   is clamped; an `offset` or `limit` that is not an integer from 0 to `u64::MAX` is refused
//!   with Meilisearch's `invalid_document_offset` / `invalid_document_limit`.

mod payload;
mod read;
mod write;

use axum::Router;
use miroir_core::catalog::Catalog;
use miroir_core::node::node_path;
use miroir_core::{ApiError, Code};
use miroir_http::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::read::MAX_LIMIT;

/// The document routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            write::replace_documents,
            write::update_documents,
            read::list_documents,
            write::delete_all
        ))
        .routes(routes!(read::fetch))
        .routes(routes!(write::delete_batch))
        .routes(routes!(write::delete_by_filter))
        .routes(routes!(read::get_document, write::delete_document))
}

/// The document routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// The node path `/indexes/{uid}/documents`, then `more` segments.
fn documents_path(uid: &str, more: &[&str]) -> String {
    node_path(["indexes", uid, "documents"].iter().chain(more))
}

/// The primary key documents of `uid` are routed by: the index's own (from its state record,
/// else from the nodes), else the `primaryKey` parameter (the index is then created or given
/// it); `None` when neither says (the write infers it from its documents). A parameter naming
/// another key than the index's is refused. The write's task checks the record again
/// ([`Catalog::prepare_documents`]).
async fn index_primary_key(
    state: &AppState,
    uid: &str,
    requested: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let known = Catalog::new(state.store.as_ref(), &state.cluster)
        .primary_key(uid)
        .await?;
    match (known, requested) {
        (Some(key), Some(requested)) if key != requested => Err(ApiError::new(
            Code::BadRequest,
            format!(
                "Index `{uid}` already has the primary key `{key}`; the `primaryKey` parameter \
                 `{requested}` does not match it."
            ),
        )),
        (Some(key), _) => Ok(Some(key)),
        (None, Some(requested)) if !requested.is_empty() => Ok(Some(requested.to_owned())),
        (None, _) => Ok(None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_limit_is_the_applied_one() {
        let document = serde_json::to_value(routes().into_openapi()).unwrap();
        let paths = &document["paths"];
        let list = paths["/indexes/{uid}/documents"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|parameter| parameter["name"] == "limit")
            .unwrap();
        let fetch = &paths["/indexes/{uid}/documents/fetch"]["post"]["requestBody"];
        for described in [&list["description"], &fetch["description"]] {
            let text = described.as_str().unwrap().to_lowercase();
            assert!(text.contains(&format!("at most {MAX_LIMIT}")), "{text}");
            assert!(text.contains(&format!("served as {MAX_LIMIT}")), "{text}");
        }
    }
}
