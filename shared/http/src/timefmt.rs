//! Dates and durations as Meilisearch writes them: RFC 3339 UTC timestamps (fractional seconds
//! only when non-zero) and ISO 8601 durations (`PT0.009S`).

use std::fmt::Write as _;

use miroir_store::Timestamp;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A parsed date-time with its offset (`time::OffsetDateTime`).
pub type Date = OffsetDateTime;

/// `timestamp` as RFC 3339 UTC, e.g. `2024-08-08T17:05:55.791Z`.
pub fn format_rfc3339(timestamp: Timestamp) -> String {
    let nanos = i128::from(timestamp.as_millis()) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|date| date.format(&Rfc3339).ok())
        .unwrap_or_else(|| timestamp.as_millis().to_string())
}

/// An RFC 3339 date (any offset) as an instant, `None` if it does not parse.
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// The last millisecond at or before `date`.
pub fn floor_millis(date: OffsetDateTime) -> Timestamp {
    let nanos = date.unix_timestamp_nanos();
    to_timestamp(nanos.div_euclid(1_000_000))
}

/// The first millisecond at or after `date`.
pub fn ceil_millis(date: OffsetDateTime) -> Timestamp {
    let nanos = date.unix_timestamp_nanos();
    let floor = nanos.div_euclid(1_000_000);
    to_timestamp(if nanos.rem_euclid(1_000_000) == 0 {
        floor
    } else {
        floor + 1
    })
}

fn to_timestamp(millis: i128) -> Timestamp {
    Timestamp::from_millis(i64::try_from(millis).unwrap_or(if millis < 0 {
        i64::MIN
    } else {
        i64::MAX
    }))
}

/// The ISO 8601 duration from `start` to `end` as Meilisearch writes it (`PT0.009S`, `PT12S`,
/// `P1DT3.5S` is written `P1DT3.500S`); `None` when `end` is before `start`.
pub fn iso8601_duration(start: Timestamp, end: Timestamp) -> Option<String> {
    let millis = end.as_millis().checked_sub(start.as_millis())?;
    if millis < 0 {
        return None;
    }
    const MILLIS_PER_DAY: i64 = 86_400_000;
    let days = millis / MILLIS_PER_DAY;
    let rest = millis % MILLIS_PER_DAY;
    let (secs, sub_millis) = (rest / 1000, rest % 1000);
    let mut text = String::from("P");
    if days != 0 {
        let _ = write!(text, "{days}D");
    }
    if rest != 0 || days == 0 {
        if sub_millis == 0 {
            let _ = write!(text, "T{secs}S");
        } else {
            let _ = write!(text, "T{secs}.{sub_millis:03}S");
        }
    }
    Some(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_fractions_when_present() {
        assert_eq!(
            format_rfc3339(Timestamp::from_millis(1_723_136_755_791)),
            "2024-08-08T17:05:55.791Z"
        );
        assert_eq!(
            format_rfc3339(Timestamp::from_millis(1_723_136_755_000)),
            "2024-08-08T17:05:55Z"
        );
    }

    #[test]
    fn parsing_rounds_outwards_to_milliseconds() {
        let date = parse_rfc3339("2024-08-08T19:05:55.7915+02:00").unwrap();
        assert_eq!(
            floor_millis(date),
            Timestamp::from_millis(1_723_136_755_791)
        );
        assert_eq!(ceil_millis(date), Timestamp::from_millis(1_723_136_755_792));
        assert!(parse_rfc3339("yesterday").is_none());
        assert!(parse_rfc3339("2024-08-08").is_none());
    }

    #[test]
    fn durations_follow_meilisearch() {
        let at = Timestamp::from_millis;
        assert_eq!(iso8601_duration(at(0), at(9)).as_deref(), Some("PT0.009S"));
        assert_eq!(
            iso8601_duration(at(0), at(12_000)).as_deref(),
            Some("PT12S")
        );
        assert_eq!(iso8601_duration(at(0), at(0)).as_deref(), Some("PT0S"));
        assert_eq!(
            iso8601_duration(at(0), at(86_400_000)).as_deref(),
            Some("P1D")
        );
        assert_eq!(
            iso8601_duration(at(0), at(86_403_500)).as_deref(),
            Some("P1DT3.500S")
        );
        assert_eq!(iso8601_duration(at(10), at(9)), None);
    }
}
