//! `GET /tasks` query parameters → a [`TaskQuery`], refusing bad values with Meilisearch's codes.

use std::str::FromStr;

use miroir_core::{ApiError, Code, IndexUid};
use miroir_http::QueryParams;
use miroir_http::timefmt::{ceil_millis, floor_millis, parse_rfc3339};
use miroir_store::{TaskKind, TaskQuery, TaskStatus, TimeRange};
use utoipa::IntoParams;

/// The query parameters of `GET /tasks`: what [`parse`] accepts and what the OpenAPI document
/// lists, declared once.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Read as a declaration only: `parse` reads the values.
pub(crate) struct TaskListParameters {
    /// Task uids, comma-separated.
    uids: Option<String>,
    /// Not supported by Miroir yet (400).
    batch_uids: Option<String>,
    /// Not supported by Miroir yet (400).
    canceled_by: Option<String>,
    /// Task types, comma-separated.
    types: Option<String>,
    /// Task statuses, comma-separated.
    statuses: Option<String>,
    /// Index uids, comma-separated.
    index_uids: Option<String>,
    /// Page size (default 20). At most 1000: a greater value (up to 4294967295) is served as 1000 tasks and the answer's `limit` is 1000; a value that is not an integer from 0 to 4294967295 is refused (`invalid_task_limit`), as in Meilisearch.
    limit: Option<u32>,
    /// The uid to start the page at.
    from: Option<u64>,
    /// Oldest first when true.
    reverse: Option<bool>,
    /// RFC 3339 date, exclusive.
    before_enqueued_at: Option<String>,
    /// RFC 3339 date, exclusive.
    after_enqueued_at: Option<String>,
    /// RFC 3339 date, exclusive.
    before_started_at: Option<String>,
    /// RFC 3339 date, exclusive.
    after_started_at: Option<String>,
    /// RFC 3339 date, exclusive.
    before_finished_at: Option<String>,
    /// RFC 3339 date, exclusive.
    after_finished_at: Option<String>,
}

/// The largest page `GET /tasks` answers: a greater `limit` is served as this many tasks (and the
/// answer's `limit` says so), so that no request reads more than this many tasks from the store.
/// Meilisearch itself accepts any `u32`.
pub const MAX_LIMIT: u32 = 1_000;

/// The query `params` describe; `limit` is at most [`MAX_LIMIT`].
pub(crate) fn parse(params: &QueryParams) -> Result<TaskQuery, ApiError> {
    params.reject_undeclared::<TaskListParameters>()?;
    for unsupported in ["batchUids", "canceledBy"] {
        if list(params, unsupported).is_some() {
            return Err(ApiError::new(
                Code::BadRequest,
                format!("The parameter `{unsupported}` is not supported by Miroir yet."),
            ));
        }
    }
    let mut query = TaskQuery {
        uids: parse_list(params, "uids", Code::InvalidTaskUids, |item| {
            item.parse().map_err(|_| not_an_integer("uids", item))
        })?,
        statuses: parse_list(params, "statuses", Code::InvalidTaskStatuses, |item| {
            TaskStatus::from_str(item).map_err(|_| {
                format!(
                    "Invalid value in parameter `statuses`: `{item}` is not a valid task status. Available statuses are {}.",
                    names(TaskStatus::ALL.iter().map(|status| status.as_str()))
                )
            })
        })?,
        kinds: parse_list(params, "types", Code::InvalidTaskTypes, |item| {
            TaskKind::from_str(item).map_err(|_| {
                format!(
                    "Invalid value in parameter `types`: `{item}` is not a valid task type. Available types are {}.",
                    names(TaskKind::ALL.iter().map(|kind| kind.as_str()))
                )
            })
        })?,
        // Meilisearch answers `invalid_index_uid` here, not `invalid_task_index_uids`.
        index_uids: parse_list(params, "indexUids", Code::InvalidIndexUid, |item| {
            IndexUid::parse_at(item, "in parameter `indexUids`")
                .map(IndexUid::into_string)
                .map_err(|error| error.message)
        })?,
        enqueued: range(params, "EnqueuedAt")?,
        started: range(params, "StartedAt")?,
        finished: range(params, "FinishedAt")?,
        ..TaskQuery::default()
    };
    if let Some(limit) = params.get("limit") {
        // A value that is not a `u32` is refused as Meilisearch refuses it; a valid one above the
        // cap is clamped.
        let requested: u32 = limit
            .parse()
            .map_err(|_| ApiError::new(Code::InvalidTaskLimit, not_an_integer("limit", limit)))?;
        query.limit = requested.min(MAX_LIMIT);
    }
    if let Some(from) = params.get("from") {
        query.from = Some(
            from.parse()
                .map_err(|_| ApiError::new(Code::InvalidTaskFrom, not_an_integer("from", from)))?,
        );
    }
    if let Some(reverse) = params.get("reverse") {
        query.reverse = reverse.parse().map_err(|_| {
            ApiError::new(
                Code::InvalidTaskReverse,
                format!("Invalid value in parameter `reverse`: could not parse `{reverse}` as a boolean."),
            )
        })?;
    }
    Ok(query)
}

/// The comma-separated items of `name`; `None` when absent or when an item is `*` (all).
fn list<'a>(params: &'a QueryParams, name: &str) -> Option<Vec<&'a str>> {
    let items: Vec<&str> = params.get(name)?.split(',').map(str::trim).collect();
    (!items.contains(&"*")).then_some(items)
}

/// [`list`] with each item parsed by `parse_item`, whose error message goes out with `code`.
fn parse_list<T>(
    params: &QueryParams,
    name: &str,
    code: Code,
    parse_item: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<Vec<T>>, ApiError> {
    list(params, name)
        .map(|items| {
            items
                .into_iter()
                .map(&parse_item)
                .collect::<Result<Vec<T>, String>>()
        })
        .transpose()
        .map_err(|message| ApiError::new(code, message))
}

/// The `after…`/`before…` window of one date field (`suffix` = `EnqueuedAt`, …). Both bounds are
/// exclusive; dates are rounded outwards to the store's millisecond precision.
fn range(params: &QueryParams, suffix: &str) -> Result<TimeRange, ApiError> {
    let after = format!("after{suffix}");
    let before = format!("before{suffix}");
    Ok(TimeRange {
        after: date(params, &after)?.map(floor_millis),
        before: date(params, &before)?.map(ceil_millis),
    })
}

/// The RFC 3339 date of parameter `name`, if present.
fn date(params: &QueryParams, name: &str) -> Result<Option<miroir_http::timefmt::Date>, ApiError> {
    params
        .get(name)
        .map(|value| {
            parse_rfc3339(value).ok_or_else(|| {
                ApiError::new(
                    Code::InvalidTaskDate,
                    format!(
                        "Invalid value in parameter `{name}`: `{value}` is an invalid date-time. It should follow the RFC 3339 format, e.g. `2024-08-08T17:05:55Z`."
                    ),
                )
            })
        })
        .transpose()
}

fn not_an_integer(name: &str, value: &str) -> String {
    format!("Invalid value in parameter `{name}`: could not parse `{value}` as a positive integer")
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
