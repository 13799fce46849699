//! Reading document payloads and ids before anything reaches a node: every document must be a
//! JSON object with a valid primary key value and no reserved field, or the whole batch is
//! refused (Meilisearch-shaped 400) and nothing is written.
//!
//! A payload is read in the format its `Content-Type` names, as Meilisearch 1.50 reads it:
//! `application/json`, `application/x-ndjson` or `text/csv` (with the `csvDelimiter` query
//! parameter). Whatever the format, the nodes are sent JSON objects: a CSV row becomes the object
//! Meilisearch would have built from it ([`csv`]).

mod csv;

use std::borrow::Cow;

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use miroir_core::{ApiError, Code};
use serde_json::{Map, Value};

/// The content types a document write accepts, as Meilisearch lists them in its errors.
const ACCEPTED_CONTENT_TYPES: &str = "`application/json`, `application/x-ndjson`, `text/csv`";

/// The format a document payload is read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PayloadFormat {
    /// `application/json`: an array of objects, or one object.
    Json,
    /// `application/x-ndjson`: one object per line.
    Ndjson,
    /// `text/csv`: a header row naming (and typing) the fields, then one document per row.
    Csv {
        /// The field delimiter, `csvDelimiter` (one ASCII character, `,` by default).
        delimiter: u8,
    },
}

impl PayloadFormat {
    /// The format of a write with these `headers` and `csvDelimiter` parameter, checked in
    /// Meilisearch's order: the parameter first (400 `invalid_document_csv_delimiter`), then the
    /// content type (415 `missing_content_type` / `invalid_content_type`, also for a
    /// `csvDelimiter` given with a JSON or NDJSON body). The content type is parsed as a media
    /// type (parameters such as `charset` are ignored, type and subtype are case-insensitive);
    /// one that does not parse is named as it was sent.
    pub(crate) fn of_request(
        headers: &HeaderMap,
        csv_delimiter: Option<&str>,
    ) -> Result<Self, ApiError> {
        let delimiter = csv_delimiter.map(parse_csv_delimiter).transpose()?;
        let Some(header) = headers.get(CONTENT_TYPE) else {
            return Err(ApiError::new(
                Code::MissingContentType,
                format!(
                    "A Content-Type header is missing. Accepted values for the Content-Type \
                     header are: {ACCEPTED_CONTENT_TYPES}"
                ),
            ));
        };
        let media_type = header
            .to_str()
            .ok()
            .and_then(|text| text.parse::<mime::Mime>().ok());
        let Some(media_type) = media_type else {
            return Err(invalid_content_type(&String::from_utf8_lossy(
                header.as_bytes(),
            )));
        };
        let essence = (media_type.type_().as_str(), media_type.subtype().as_str());
        match (essence, delimiter) {
            (("application", "json"), None) => Ok(Self::Json),
            (("application", "x-ndjson"), None) => Ok(Self::Ndjson),
            (("text", "csv"), delimiter) => Ok(Self::Csv {
                delimiter: delimiter.unwrap_or(b','),
            }),
            (("application", subtype @ ("json" | "x-ndjson")), Some(_)) => Err(ApiError::new(
                Code::InvalidContentType,
                format!(
                    "The Content-Type `application/{subtype}` does not support the use of a csv \
                     delimiter. The csv delimiter can only be used with the Content-Type \
                     `text/csv`."
                ),
            )),
            ((type_, subtype), _) => Err(invalid_content_type(&format!("{type_}/{subtype}"))),
        }
    }

    /// The format's name in Meilisearch's payload errors.
    fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Csv { .. } => "csv",
        }
    }

    /// What identifies a write of this format to `path` besides its method and body, for
    /// idempotency ([`miroir_http::write::fingerprint`]): the same bytes read as CSV, or with
    /// another delimiter, are other documents. JSON and NDJSON keep the bare path, so their
    /// fingerprints stay those Miroir always computed.
    pub(crate) fn request_identity<'a>(self, path: &'a str) -> Cow<'a, str> {
        match self {
            Self::Json | Self::Ndjson => Cow::Borrowed(path),
            // A space never occurs in a node path (its segments are percent-encoded).
            Self::Csv { delimiter } => Cow::Owned(format!("{path} text/csv {delimiter}")),
        }
    }
}

/// The documents of a request body read as `format`: 400 `missing_payload` for an empty body,
/// `malformed_payload` for one that cannot be read or holds something else than objects.
pub(crate) fn parse_documents(
    format: PayloadFormat,
    body: &[u8],
) -> Result<Vec<Map<String, Value>>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::new(
            Code::MissingPayload,
            format!("A {} payload is missing.", format.name()),
        ));
    }
    let values: Vec<Value> = match format {
        PayloadFormat::Json => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(items)) => items,
            Ok(object @ Value::Object(_)) => vec![object],
            Ok(_) => {
                return Err(malformed_json(
                    "the payload must be a JSON array of objects",
                ));
            }
            Err(error) => return Err(malformed_json(&error.to_string())),
        },
        PayloadFormat::Ndjson => body
            .split(|&byte| byte == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(|line| {
                serde_json::from_slice(line).map_err(|error| malformed_json(&error.to_string()))
            })
            .collect::<Result<_, _>>()?,
        PayloadFormat::Csv { delimiter } => return csv::read_documents(body, delimiter),
    };
    values
        .into_iter()
        .map(|value| match value {
            Value::Object(document) => Ok(document),
            other => Err(malformed_json(&format!("`{other}` is not a JSON object"))),
        })
        .collect()
}

/// `csvDelimiter` as Meilisearch reads it: exactly one character, and an ASCII one.
fn parse_csv_delimiter(value: &str) -> Result<u8, ApiError> {
    let mut characters = value.chars();
    let message = match (characters.next(), characters.next()) {
        (Some(character), None) => match u8::try_from(character) {
            Ok(byte) if byte.is_ascii() => return Ok(byte),
            _ => format!("csv delimiter must be an ascii character. Found: `{character}`"),
        },
        (None, _) => "Invalid value in parameter `csvDelimiter`: expected a string of one \
                      character, but found an empty string"
            .to_owned(),
        (Some(_), Some(_)) => format!(
            "Invalid value in parameter `csvDelimiter`: expected a string of one character, but \
             found the following string of {} characters: `{value}`",
            value.chars().count()
        ),
    };
    Err(ApiError::new(Code::InvalidDocumentCsvDelimiter, message))
}

fn invalid_content_type(content_type: &str) -> ApiError {
    ApiError::new(
        Code::InvalidContentType,
        format!(
            "The Content-Type `{content_type}` is invalid. Accepted values for the Content-Type \
             header are: {ACCEPTED_CONTENT_TYPES}"
        ),
    )
}

fn malformed_json(reason: &str) -> ApiError {
    ApiError::new(
        Code::MalformedPayload,
        format!("The `json` payload provided is malformed. `{reason}`."),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(content_type: Option<&[u8]>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_bytes(value).unwrap());
        }
        headers
    }

    fn format_of(content_type: &str, delimiter: Option<&str>) -> Result<PayloadFormat, ApiError> {
        PayloadFormat::of_request(&headers(Some(content_type.as_bytes())), delimiter)
    }

    fn refusal(result: Result<PayloadFormat, ApiError>) -> (&'static str, u16, String) {
        let error = result.unwrap_err();
        (error.code.name(), error.code.status(), error.message)
    }

    #[test]
    fn content_types_are_media_types_read_as_meilisearch_reads_them() {
        let csv = PayloadFormat::Csv { delimiter: b',' };
        for (content_type, format) in [
            ("application/json", PayloadFormat::Json),
            ("application/json; charset=utf-8", PayloadFormat::Json),
            ("Application/JSON", PayloadFormat::Json),
            ("application/x-ndjson", PayloadFormat::Ndjson),
            ("text/csv", csv),
            ("TEXT/CSV", csv),
            ("text/csv;", csv),
            ("text/csv; charset=latin1", csv),
        ] {
            assert_eq!(
                format_of(content_type, None).unwrap(),
                format,
                "{content_type}"
            );
        }
        // Unknown ones are named by type and subtype; unparsable ones as they were sent.
        let invalid = |named: &str| {
            (
                "invalid_content_type",
                415,
                format!(
                    "The Content-Type `{named}` is invalid. Accepted values for the Content-Type \
                     header are: `application/json`, `application/x-ndjson`, `text/csv`"
                ),
            )
        };
        for (content_type, named) in [
            ("Text/Plain; charset=x", "text/plain"),
            ("multipart/form-data; boundary=x", "multipart/form-data"),
            ("application/csv", "application/csv"),
            ("text/csvx", "text/csvx"),
            ("GARBAGE", "GARBAGE"),
            ("garbage; x=y", "garbage; x=y"),
            ("text/csv ; charset=utf-8", "text/csv ; charset=utf-8"),
            ("text/csv; =", "text/csv; ="),
            ("application/json, text/csv", "application/json, text/csv"),
            ("", ""),
        ] {
            assert_eq!(
                refusal(format_of(content_type, None)),
                invalid(named),
                "{content_type}"
            );
        }
        let not_visible_ascii = PayloadFormat::of_request(&headers(Some(b"text/\xe9")), None);
        assert_eq!(refusal(not_visible_ascii), invalid("text/\u{fffd}"));
        assert_eq!(
            refusal(PayloadFormat::of_request(&headers(None), Some(";"))),
            (
                "missing_content_type",
                415,
                "A Content-Type header is missing. Accepted values for the Content-Type header \
                 are: `application/json`, `application/x-ndjson`, `text/csv`"
                    .to_owned()
            )
        );
    }

    #[test]
    fn csv_delimiter_is_one_ascii_character_and_only_for_csv() {
        for (value, delimiter) in [(";", b';'), ("\t", b'\t'), (" ", b' '), ("\"", b'"')] {
            assert_eq!(
                format_of("text/csv", Some(value)).unwrap(),
                PayloadFormat::Csv { delimiter },
                "{value:?}"
            );
        }
        let refused = |message: &str| ("invalid_document_csv_delimiter", 400, message.to_owned());
        for (value, message) in [
            (
                "",
                "Invalid value in parameter `csvDelimiter`: expected a string of one character, \
                 but found an empty string",
            ),
            (
                "ab",
                "Invalid value in parameter `csvDelimiter`: expected a string of one character, \
                 but found the following string of 2 characters: `ab`",
            ),
            (
                "éé",
                "Invalid value in parameter `csvDelimiter`: expected a string of one character, \
                 but found the following string of 2 characters: `éé`",
            ),
            ("é", "csv delimiter must be an ascii character. Found: `é`"),
            (
                "😀",
                "csv delimiter must be an ascii character. Found: `😀`",
            ),
            (
                "\u{fffd}",
                "csv delimiter must be an ascii character. Found: `\u{fffd}`",
            ),
        ] {
            // The parameter is checked before the content type, whatever it is.
            for content_type in ["text/csv", "application/json", "text/plain"] {
                assert_eq!(
                    refusal(format_of(content_type, Some(value))),
                    refused(message),
                    "{value:?} {content_type}"
                );
            }
        }
        for content_type in ["application/json", "application/x-ndjson; charset=utf-8"] {
            let named = content_type.split(';').next().unwrap();
            assert_eq!(
                refusal(format_of(content_type, Some(";"))),
                (
                    "invalid_content_type",
                    415,
                    format!(
                        "The Content-Type `{named}` does not support the use of a csv delimiter. \
                         The csv delimiter can only be used with the Content-Type `text/csv`."
                    )
                )
            );
        }
        let (code, _, message) = refusal(format_of("text/plain", Some(";")));
        assert_eq!(code, "invalid_content_type");
        assert!(message.starts_with("The Content-Type `text/plain` is invalid."));
    }

    #[test]
    fn an_empty_body_is_a_missing_payload_of_its_format() {
        for (format, name) in [
            (PayloadFormat::Json, "json"),
            (PayloadFormat::Ndjson, "ndjson"),
            (PayloadFormat::Csv { delimiter: b';' }, "csv"),
        ] {
            let error = parse_documents(format, b"").unwrap_err();
            assert_eq!(error.code, Code::MissingPayload);
            assert_eq!(error.message, format!("A {name} payload is missing."));
        }
    }

    #[test]
    fn csv_writes_are_identified_by_their_delimiter() {
        let path = "/indexes/movies/documents?primaryKey=id";
        assert_eq!(PayloadFormat::Json.request_identity(path), path);
        assert_eq!(PayloadFormat::Ndjson.request_identity(path), path);
        let comma = PayloadFormat::Csv { delimiter: b',' }.request_identity(path);
        let semicolon = PayloadFormat::Csv { delimiter: b';' }.request_identity(path);
        assert_ne!(comma, path);
        assert_ne!(comma, semicolon);
    }
}
