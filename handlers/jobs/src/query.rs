//! `GET /_miroir/jobs` query parameters → a [`JobQuery`], refusing bad values with
//! `bad_request` naming the parameter.

use std::str::FromStr;

use miroir_core::{ApiError, Code};
use miroir_http::QueryParams;
use miroir_store::{JobKind, JobQuery, JobState};
use utoipa::IntoParams;

/// The query parameters of `GET /_miroir/jobs`: what [`parse`] accepts and what the OpenAPI
/// document lists, declared once.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read as a declaration only: `parse` reads the values.
pub(crate) struct JobListParameters {
    /// `queued`, `in_progress`, `completed` or `failed`.
    state: Option<String>,
    /// `dump_import`, `reshard_backfill` or `reindex`.
    #[param(rename = "type")]
    kind: Option<String>,
    /// Page size, 1 to 1000 (default 20).
    limit: Option<u32>,
    /// The job id to start the page at (a previous page's `next`).
    from: Option<String>,
}

/// Page size without `limit`.
pub const DEFAULT_LIMIT: u64 = 20;

/// The largest `limit`.
pub const MAX_LIMIT: u64 = 1000;

/// The query `params` describe.
pub(crate) fn parse(params: &QueryParams) -> Result<JobQuery, ApiError> {
    params.reject_undeclared::<JobListParameters>()?;
    let state = params
        .get("state")
        .map(|state| {
            JobState::from_str(state).map_err(|_| {
                invalid(
                    "state",
                    state,
                    &format!(
                        "a job state: one of {}",
                        names(JobState::ALL.iter().map(|state| state.as_str()))
                    ),
                )
            })
        })
        .transpose()?;
    let kind = params
        .get("type")
        .map(|kind| {
            JobKind::from_str(kind).map_err(|_| {
                invalid(
                    "type",
                    kind,
                    &format!(
                        "a job type: one of {}",
                        names(JobKind::ALL.iter().map(|kind| kind.as_str()))
                    ),
                )
            })
        })
        .transpose()?;
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(limit) => limit
            .parse::<u64>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| invalid("limit", limit, &format!("an integer from 1 to {MAX_LIMIT}")))?,
    };
    let from = params
        .get("from")
        .map(|from| {
            if is_job_id(from) {
                Ok(from.to_owned())
            } else {
                Err(invalid("from", from, "a job id (a UUID)"))
            }
        })
        .transpose()?;
    Ok(JobQuery {
        state,
        kind,
        from,
        limit,
    })
}

/// The refusal of a `from` that names no job.
pub(crate) fn unknown_from(from: &str) -> ApiError {
    ApiError::new(
        Code::BadRequest,
        format!("Invalid value in parameter `from`: no job has the id `{from}`."),
    )
}

/// `bad_request` unless `id` has the shape of a job id (ids are UUIDs).
pub(crate) fn check_job_id(id: &str) -> Result<(), ApiError> {
    if is_job_id(id) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::BadRequest,
            format!(
                "`{}` is not a job id: job ids are UUIDs such as `0b0e5f7e-4c1a-4c57-9a47-2f1d3c5e8a90`.",
                shorten(id)
            ),
        ))
    }
}

/// A UUID in its hyphenated form: 8-4-4-4-12 hexadecimal digits.
fn is_job_id(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.bytes().all(|byte| byte.is_ascii_hexdigit())
        })
}

fn invalid(name: &str, value: &str, expected: &str) -> ApiError {
    ApiError::new(
        Code::BadRequest,
        format!(
            "Invalid value in parameter `{name}`: `{}` is not {expected}.",
            shorten(value)
        ),
    )
}

/// `text`, cut to 64 characters so that an error never echoes a huge value.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_hyphenated_uuids() {
        assert!(is_job_id("0b0e5f7e-4c1a-4c57-9a47-2f1d3c5e8a90"));
        assert!(is_job_id("0B0E5F7E-4C1A-4C57-9A47-2F1D3C5E8A90"));
        for bad in [
            "",
            "abc",
            "0b0e5f7e4c1a4c579a472f1d3c5e8a90",
            "0b0e5f7e-4c1a-4c57-9a47-2f1d3c5e8a9",
            "0b0e5f7e-4c1a-4c57-9a47-2f1d3c5e8a90-",
            "0b0e5f7g-4c1a-4c57-9a47-2f1d3c5e8a90",
        ] {
            assert!(!is_job_id(bad), "{bad}");
        }
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let long = "x".repeat(500);
        let message = invalid("from", &long, "a job id").message;
        assert!(message.len() < 150, "{message}");
        assert_eq!(shorten("é".repeat(3).as_str()), "ééé");
    }
}
