//! `GET /tasks` query parameters → a [`TaskQuery`], refusing bad values with Meilisearch's codes.

use std::str::FromStr;

use miroir_core::{ApiError, Code, IndexUid};
use miroir_http::QueryParams;
use miroir_http::timefmt::{ceil_millis, floor_millis, parse_rfc3339};
use miroir_store::{TaskKind, TaskQuery, TaskStatus, TimeRange};
use utoipa::IntoParams;

/// The filters of `DELETE /tasks` and `POST /tasks/cancel`: what [`parse_selection`] accepts and
/// what the OpenAPI document lists, declared once, in Meilisearch's order.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Read as a declaration only: `parse_selection` reads the values.
pub(crate) struct TaskFilterParameters {
    /// Task uids, comma-separated.
    uids: Option<String>,
    /// Batch uids, comma-separated (Miroir's batch of a task has the task's uid).
    batch_uids: Option<String>,
    /// Not supported by Miroir yet (400).
    canceled_by: Option<String>,
    /// Task types, comma-separated.
    types: Option<String>,
    /// Task statuses, comma-separated.
    statuses: Option<String>,
    /// Index uids, comma-separated.
    index_uids: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    after_enqueued_at: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    before_enqueued_at: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    after_started_at: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    before_started_at: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    after_finished_at: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    before_finished_at: Option<String>,
}

/// The query parameters of `GET /tasks`: what [`parse`] accepts and what the OpenAPI document
/// lists, declared once, in Meilisearch's order.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Read as a declaration only: `parse` reads the values.
pub(crate) struct TaskListParameters {
    /// Page size (default 20). At most 1000: a greater value (up to 4294967295) is served as 1000 tasks and the answer's `limit` is 1000; a value that is not an integer from 0 to 4294967295 is refused (`invalid_task_limit`), as in Meilisearch.
    limit: Option<u32>,
    /// The uid to start the page at.
    from: Option<u64>,
    /// Oldest first when true.
    reverse: Option<bool>,
    /// Batch uids, comma-separated (Miroir's batch of a task has the task's uid).
    batch_uids: Option<String>,
    /// Task uids, comma-separated.
    uids: Option<String>,
    /// Not supported by Miroir yet (400).
    canceled_by: Option<String>,
    /// Task types, comma-separated.
    types: Option<String>,
    /// Task statuses, comma-separated.
    statuses: Option<String>,
    /// Index uids, comma-separated.
    index_uids: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    after_enqueued_at: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    before_enqueued_at: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    after_started_at: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    before_started_at: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    after_finished_at: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339 date, exclusive.
    before_finished_at: Option<String>,
}

/// The largest page `GET /tasks` answers: a greater `limit` is served as this many tasks (and the
/// answer's `limit` says so), so that no request reads more than this many tasks from the store.
/// Meilisearch itself accepts any `u32`.
pub const MAX_LIMIT: u32 = 1_000;

/// What `DELETE /tasks` or `POST /tasks/cancel` acts on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Verb {
    Delete,
    Cancel,
}

/// The tasks `DELETE /tasks` or `POST /tasks/cancel` select: at least one filter is required
/// (`missing_task_filters`, as in Meilisearch; `*` counts as a filter).
pub(crate) fn parse_selection(params: &QueryParams, verb: Verb) -> Result<TaskQuery, ApiError> {
    params.reject_undeclared::<TaskFilterParameters>()?;
    if params.is_empty() {
        return Err(ApiError::new(
            Code::MissingTaskFilters,
            format!(
                "Query parameters to filter the tasks to {} are missing. Available query \
                 parameters are: {}.",
                match verb {
                    Verb::Delete => "delete",
                    Verb::Cancel => "cancel",
                },
                names(FILTERS.iter().copied())
            ),
        ));
    }
    filters(params)
}

/// The query `params` describe; `limit` is at most [`MAX_LIMIT`].
pub(crate) fn parse(params: &QueryParams) -> Result<TaskQuery, ApiError> {
    params.reject_undeclared::<TaskListParameters>()?;
    let mut query = filters(params)?;
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

/// The filter parameters, in Meilisearch's order (as its `missing_task_filters` lists them).
const FILTERS: [&str; 11] = [
    "uids",
    "indexUids",
    "statuses",
    "types",
    "canceledBy",
    "beforeEnqueuedAt",
    "afterEnqueuedAt",
    "beforeStartedAt",
    "afterStartedAt",
    "beforeFinishedAt",
    "afterFinishedAt",
];

/// The filters every task route shares.
fn filters(params: &QueryParams) -> Result<TaskQuery, ApiError> {
    let positive = |name: &'static str, code: Code| {
        parse_list(params, name, code, move |item| {
            item.parse().map_err(|_| not_an_integer(name, item))
        })
    };
    let uids: Option<Vec<u64>> = positive("uids", Code::InvalidTaskUids)?;
    // Miroir's batch of a task is the task alone, with the task's uid.
    let batch_uids: Option<Vec<u64>> = positive("batchUids", Code::InvalidBatchUids)?;
    if positive("canceledBy", Code::InvalidTaskCanceledBy)?.is_some() {
        return Err(ApiError::new(
            Code::BadRequest,
            "The parameter `canceledBy` is not supported by Miroir yet.",
        ));
    }
    Ok(TaskQuery {
        uids: match (uids, batch_uids) {
            (Some(uids), Some(batches)) => Some(
                uids.into_iter()
                    .filter(|uid| batches.contains(uid))
                    .collect(),
            ),
            (uids, batches) => uids.or(batches),
        },
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
        enqueued: range(
            params,
            "EnqueuedAt",
            [
                Code::InvalidTaskAfterEnqueuedAt,
                Code::InvalidTaskBeforeEnqueuedAt,
            ],
        )?,
        started: range(
            params,
            "StartedAt",
            [
                Code::InvalidTaskAfterStartedAt,
                Code::InvalidTaskBeforeStartedAt,
            ],
        )?,
        finished: range(
            params,
            "FinishedAt",
            [
                Code::InvalidTaskAfterFinishedAt,
                Code::InvalidTaskBeforeFinishedAt,
            ],
        )?,
        ..TaskQuery::default()
    })
}

/// Narrows `query` to the statuses in `allowed` (those it asked for among them, or all of
/// them when it asked for none): an empty result selects nothing.
pub(crate) fn only_statuses(query: &mut TaskQuery, allowed: &[TaskStatus]) {
    query.statuses = Some(match query.statuses.take() {
        Some(wanted) => allowed
            .iter()
            .copied()
            .filter(|status| wanted.contains(status))
            .collect(),
        None => allowed.to_vec(),
    });
}

/// The comma-separated items of `name`; `None` when absent or when an item is `*` (all).
fn list<'a>(params: &'a QueryParams, name: &str) -> Option<Vec<&'a str>> {
    // Empty items (`1,,2`, or an empty value) are skipped, as Meilisearch skips them.
    let items: Vec<&str> = params
        .get(name)?
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect();
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

/// The `after…`/`before…` window of one date field (`suffix` = `EnqueuedAt`, …), refused with
/// `codes` (`[after, before]`). Both bounds are exclusive; dates are rounded outwards to the
/// store's millisecond precision. A bare `YYYY-MM-DD` is a whole day, as in Meilisearch: after it
/// means from the next midnight (UTC), before it means before its midnight. `*` is no bound.
fn range(params: &QueryParams, suffix: &str, codes: [Code; 2]) -> Result<TimeRange, ApiError> {
    let [after_code, before_code] = codes;
    let after = date(params, &format!("after{suffix}"), after_code)?;
    let before = date(params, &format!("before{suffix}"), before_code)?;
    Ok(TimeRange {
        after: after.map(|(date, whole_day)| {
            floor_millis(if whole_day {
                date + time::Duration::DAY
            } else {
                date
            })
        }),
        before: before.map(|(date, _)| ceil_millis(date)),
    })
}

/// The date of parameter `name`, if present and not `*`, with whether it was a bare day.
fn date(
    params: &QueryParams,
    name: &str,
    code: Code,
) -> Result<Option<(miroir_http::timefmt::Date, bool)>, ApiError> {
    match params.get(name) {
        None | Some("*") => Ok(None),
        Some(value) => parse_rfc3339(value)
            .map(|date| (date, false))
            .or_else(|| parse_day(value).map(|date| (date, true)))
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    code,
                    format!(
                        "Invalid value in parameter `{name}`: `{value}` is an invalid date-time. \
                         It should follow the YYYY-MM-DD or RFC 3339 date-time format."
                    ),
                )
            }),
    }
}

/// Midnight UTC of a `YYYY-MM-DD` day.
fn parse_day(value: &str) -> Option<miroir_http::timefmt::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .ok()
        .map(|day| day.midnight().assume_utc())
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
