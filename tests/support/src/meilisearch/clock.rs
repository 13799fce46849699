//! Timestamps and durations as Meilisearch writes them: RFC 3339 in UTC with microseconds
//! (`2024-08-08T17:05:55.791772Z`) and ISO 8601 durations (`PT0.009330S`).

use time::OffsetDateTime;

/// The current time in UTC, to the microsecond: the precision [`rfc3339`] shows, so a time
/// read back from an answer (e.g. an `afterEnqueuedAt` bound) compares equal to the stored one.
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.microsecond() * 1_000)
        .unwrap_or(now)
}

/// `moment` (taken in UTC) as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(crate) fn rfc3339(moment: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        moment.year(),
        u8::from(moment.month()),
        moment.day(),
        moment.hour(),
        moment.minute(),
        moment.second(),
        moment.microsecond()
    )
}

/// The time from `start` to `end` as `PT<seconds>.<microseconds>S` (never negative).
pub(crate) fn iso8601_duration(start: OffsetDateTime, end: OffsetDateTime) -> String {
    let micros = (end - start).whole_microseconds().max(0);
    format!("PT{}.{:06}S", micros / 1_000_000, micros % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_meilisearch() {
        let start = OffsetDateTime::from_unix_timestamp_nanos(1_723_136_755_791_772_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(rfc3339(start), "2024-08-08T17:05:55.791772Z");
        let end = start + time::Duration::microseconds(9_330);
        assert_eq!(iso8601_duration(start, end), "PT0.009330S");
        assert_eq!(iso8601_duration(end, start), "PT0.000000S");
    }
}
