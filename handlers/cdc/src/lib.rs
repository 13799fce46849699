//! `miroir-handler-cdc`: the CDC cursor routes under `/_miroir/` (admin key), plan §4 table 10
//! and §13.13.
//!
//! A cursor is the last event sequence number a sink acknowledged on an index's change stream.
//!
//! - `GET /_miroir/cdc/cursors[?sink=NAME]` → every cursor (of one sink), ordered by sink then
//!   index: `{results: [{sink, indexUid, cursor, updatedAt}], total}`.
//! - `PUT /_miroir/cdc/cursors/{sink}/{index}` `{cursor}` → 200, the cursor. A cursor only moves
//!   forward: a smaller value than the stored one is a 409 `miroir_conflict` naming both, the same
//!   value is a 200 that changes nothing (not even `updatedAt`), a larger one (or the first value)
//!   is stored by the store's compare-and-set, so two racing writers never move it back.
//!
//! Sink names are 1 to 255 bytes of ASCII letters, digits, `-`, `_`, `.` and `:` (such as
//! `webhook:main`); index uids follow Meilisearch's rule (1 to 400 bytes of ASCII letters,
//! digits, `-` and `_`). A bad sink name is a 400 `bad_request` naming it, a bad index uid
//! Meilisearch's 400 `invalid_index_uid` (`miroir_http::IndexPath`), before the store is touched.

use axum::extract::State;
use axum::{Json, Router};
use miroir_core::{ApiError, Code, IndexUid};
use miroir_http::timefmt::format_rfc3339;
use miroir_http::{AppState, HttpResult, IndexPath, JsonBody, QueryParams};
use miroir_store::{CdcCursor, StoreError, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use miroir_http::object::Object;

/// The longest sink name, in bytes.
pub const MAX_SINK_BYTES: usize = 255;

/// The longest index uid, in bytes (Meilisearch's bound, checked by `miroir_core::IndexUid`).
pub const MAX_INDEX_UID_BYTES: usize = IndexUid::MAX_BYTES;

/// How many times a forward move is retried when another writer moved the cursor in between.
const ADVANCE_ATTEMPTS: usize = 5;

/// The CDC cursor routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_cursors))
        .routes(routes!(put_cursor))
}

/// The CDC cursor routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// Where a sink stands on an index's change stream.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CdcCursor)]
struct CursorView {
    /// The sink name.
    #[schema(example = "webhook:main")]
    sink: String,
    /// The index uid.
    #[schema(example = "movies")]
    index_uid: String,
    /// The last event sequence number the sink acknowledged.
    #[schema(example = 1042)]
    cursor: u64,
    /// RFC 3339 date of the last move.
    updated_at: String,
}

impl From<CdcCursor> for CursorView {
    fn from(cursor: CdcCursor) -> Self {
        Self {
            sink: cursor.sink_name,
            index_uid: cursor.index_uid,
            cursor: cursor.last_event_seq,
            updated_at: format_rfc3339(cursor.updated_at),
        }
    }
}

/// The body of `GET /_miroir/cdc/cursors`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CdcCursorList)]
struct CursorList {
    /// The cursors, ordered by sink, then index uid.
    results: Vec<CursorView>,
    /// How many.
    total: usize,
}

/// The body of `PUT /_miroir/cdc/cursors/{sink}/{index}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = PutCdcCursor)]
struct PutCursor {
    /// The last event sequence number the sink acknowledged: not below the stored one.
    #[schema(example = 1042)]
    cursor: u64,
}

fn bad_request(message: String) -> ApiError {
    ApiError::new(Code::BadRequest, message)
}

/// `bad_request` unless `sink` is a valid sink name.
fn check_sink(sink: &str) -> Result<(), ApiError> {
    let valid = !sink.is_empty()
        && sink.len() <= MAX_SINK_BYTES
        && sink
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte));
    if valid {
        Ok(())
    } else {
        Err(bad_request(format!(
            "Invalid sink name `{sink}`: a sink name is 1 to {MAX_SINK_BYTES} bytes of ASCII \
             letters, digits, `-`, `_`, `.` and `:`."
        )))
    }
}

/// List CDC cursors.
///
/// Every sink's cursor on every index, ordered by sink then index uid; `sink` keeps one sink's.
#[utoipa::path(
    get,
    path = "/_miroir/cdc/cursors",
    tag = "cdc",
    params(("sink" = Option<String>, Query, description = "Only this sink's cursors.")),
    responses(
        (status = 200, description = "The cursors.", body = CursorList),
        (status = 400, description = "An unknown parameter or an invalid sink name (`bad_request`)."),
    )
)]
async fn list_cursors(
    State(state): State<AppState>,
    params: QueryParams,
) -> HttpResult<Json<CursorList>> {
    params.reject_unknown(&["sink"])?;
    let cursors = match params.get("sink") {
        Some(sink) => {
            check_sink(sink)?;
            state.store.list_cdc_cursors(sink).await?
        }
        None => state.store.list_all_cdc_cursors().await?,
    };
    Ok(Json(CursorList {
        total: cursors.len(),
        results: cursors.into_iter().map(CursorView::from).collect(),
    }))
}

/// Move a CDC cursor forward.
///
/// Records that `sink` acknowledged `index`'s change stream up to `cursor`. The cursor only moves
/// forward: the same value changes nothing, a smaller one is refused.
#[utoipa::path(
    put,
    path = "/_miroir/cdc/cursors/{sink}/{index}",
    tag = "cdc",
    params(
        ("sink" = String, Path, description = "The sink name."),
        ("index" = String, Path, description = "The index uid."),
    ),
    request_body = PutCursor,
    responses(
        (status = 200, description = "The cursor, moved forward or already there.", body = CursorView),
        (status = 400, description = "An invalid index uid (`invalid_index_uid`), an invalid sink name, an unknown field, a cursor that is not an unsigned integer (`bad_request`, `malformed_payload`)."),
        (status = 409, description = "The stored cursor is ahead of `cursor`: cursors never move back (`miroir_conflict`)."),
    )
)]
async fn put_cursor(
    State(state): State<AppState>,
    IndexPath((sink, index)): IndexPath<(String, IndexUid)>,
    JsonBody(Object(body)): JsonBody<Object<PutCursor>>,
) -> HttpResult<Json<CursorView>> {
    check_sink(&sink)?;
    let index = index.into_string();
    let wanted = body.cursor;
    for _ in 0..ADVANCE_ATTEMPTS {
        let current = state.store.get_cdc_cursor(&sink, &index).await?;
        let expected = current.as_ref().map(|cursor| cursor.last_event_seq);
        match current {
            Some(cursor) if cursor.last_event_seq == wanted => return Ok(Json(cursor.into())),
            Some(cursor) if cursor.last_event_seq > wanted => {
                return Err(ApiError::new(
                    Code::MiroirConflict,
                    format!(
                        "The cursor of sink `{sink}` on index `{index}` is at {}: cursors only \
                         move forward, so {wanted} is refused.",
                        cursor.last_event_seq
                    ),
                )
                .into());
            }
            _ => {}
        }
        match state
            .store
            .advance_cdc_cursor(&sink, &index, expected, wanted, Timestamp::now())
            .await
        {
            Ok(cursor) => return Ok(Json(cursor.into())),
            // Another writer moved it since the read: read again and decide again.
            Err(StoreError::Conflict(_)) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(ApiError::new(
        Code::MiroirConflict,
        format!(
            "The cursor of sink `{sink}` on index `{index}` kept moving while it was being set; \
             retry."
        ),
    )
    .into())
}
