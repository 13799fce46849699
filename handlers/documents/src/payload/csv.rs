//! `text/csv` payloads, turned into the JSON objects Meilisearch 1.50 builds from them:
//!
//! - the first row names the fields; a name may end in a type, `name:number`, `name:boolean` or
//!   `name:string` (split at the last `:`, the type case-sensitive; any other suffix is part of
//!   the name). Untyped fields are strings. Two columns of one name give one field, the later
//!   column's value.
//! - every other row is a document with every field: an empty cell is `null` (a `:number` or
//!   `:boolean` cell of only spaces too); a `:number` cell (spaces trimmed) is an integer if it
//!   reads as an `i64`, else a float (`1` is `1`, `1.0` is `1.0`, `1e3` is `1000.0`; `inf`, `NaN`
//!   and floats out of range are `null`, as JSON has no such numbers); a `:boolean` cell is
//!   exactly `true` or `false`; a string cell is kept as it is, spaces included.
//! - the reader is the `csv` crate's default one with the delimiter: RFC 4180 quoting with `""`
//!   for a quote, quoted delimiters and line breaks, `\n`, `\r\n` or `\r` line ends, blank lines
//!   skipped, a UTF-8 byte order mark dropped, and every row as long as the header row.
//!
//! Anything else is Meilisearch's 400 `malformed_payload`, worded as it words it: the `csv`
//! crate's own error (a row of another length, invalid UTF-8), or a cell that is not of its
//! column's type, numbered by document (the first row after the header is line 1).

use std::num::ParseFloatError;
use std::str::ParseBoolError;

use ::csv::{ReaderBuilder, StringRecord};
use miroir_core::{ApiError, Code};
use serde_json::{Map, Value};

/// The type a header gives its column's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColumnType {
    String,
    Boolean,
    Number,
}

/// A header cell: the field name and the type of its values.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Column {
    field: String,
    column_type: ColumnType,
}

impl Column {
    fn from_header(header: &str) -> Self {
        let typed = header
            .rsplit_once(':')
            .and_then(|(field, annotation)| match annotation {
                "string" => Some((field, ColumnType::String)),
                "boolean" => Some((field, ColumnType::Boolean)),
                "number" => Some((field, ColumnType::Number)),
                _ => None,
            });
        let (field, column_type) = typed.unwrap_or((header, ColumnType::String));
        Self {
            field: field.to_owned(),
            column_type,
        }
    }

    /// The JSON value of `cell` in this column, in document `line`.
    fn value(&self, cell: &str, line: usize) -> Result<Value, ApiError> {
        let trimmed = cell.trim();
        match self.column_type {
            ColumnType::String if cell.is_empty() => Ok(Value::Null),
            ColumnType::String => Ok(Value::String(cell.to_owned())),
            ColumnType::Number | ColumnType::Boolean if trimmed.is_empty() => Ok(Value::Null),
            ColumnType::Number => match trimmed.parse::<i64>() {
                Ok(integer) => Ok(Value::from(integer)),
                // `Value::from` an infinite or NaN float is `null`.
                Err(_) => trimmed
                    .parse::<f64>()
                    .map(Value::from)
                    .map_err(|error| not_a_number(cell, line, &error)),
            },
            ColumnType::Boolean => trimmed
                .parse::<bool>()
                .map(Value::Bool)
                .map_err(|error| not_a_boolean(cell, line, &error)),
        }
    }
}

/// The documents of a CSV `body` whose fields are separated by `delimiter`.
pub(super) fn read_documents(
    body: &[u8],
    delimiter: u8,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    let mut reader = ReaderBuilder::new().delimiter(delimiter).from_reader(body);
    let columns: Vec<Column> = reader
        .headers()
        .map_err(|error| malformed(&error))?
        .iter()
        .map(Column::from_header)
        .collect();
    let mut documents = Vec::new();
    let mut record = StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|error| malformed(&error))?
    {
        let line = documents.len() + 1;
        let mut document = Map::new();
        // The reader refuses a row whose length is not the header's, so the two zip exactly.
        for (column, cell) in columns.iter().zip(record.iter()) {
            document.insert(column.field.clone(), column.value(cell, line)?);
        }
        documents.push(document);
    }
    Ok(documents)
}

fn not_a_number(cell: &str, line: usize, error: &ParseFloatError) -> ApiError {
    malformed(&format!(
        "Error parsing number {cell:?} at line {line}: {error}"
    ))
}

fn not_a_boolean(cell: &str, line: usize, error: &ParseBoolError) -> ApiError {
    malformed(&format!(
        "Error parsing boolean {cell:?} at line {line}: {error}"
    ))
}

fn malformed(reason: &dyn std::fmt::Display) -> ApiError {
    ApiError::new(
        Code::MalformedPayload,
        format!("The `csv` payload provided is malformed: `{reason}`."),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(body: &str) -> Vec<Value> {
        read_with(body, b',')
    }

    fn read_with(body: &str, delimiter: u8) -> Vec<Value> {
        read_documents(body.as_bytes(), delimiter)
            .unwrap()
            .into_iter()
            .map(Value::Object)
            .collect()
    }

    /// The `malformed_payload` message of `body`, which must be refused.
    fn refusal(body: &[u8]) -> String {
        let error = read_documents(body, b',').unwrap_err();
        assert_eq!(error.code, Code::MalformedPayload);
        error.message
    }

    #[test]
    fn headers_name_and_type_the_fields() {
        let columns: Vec<Column> = [
            "id",
            "price:number",
            "ok:boolean",
            "tag:string",
            "b:c:number",
            "d:NUMBER",
            ":string",
            "f:boolean ",
            "url:https",
        ]
        .into_iter()
        .map(Column::from_header)
        .collect();
        let expected = [
            ("id", ColumnType::String),
            ("price", ColumnType::Number),
            ("ok", ColumnType::Boolean),
            ("tag", ColumnType::String),
            ("b:c", ColumnType::Number),
            ("d:NUMBER", ColumnType::String),
            ("", ColumnType::String),
            ("f:boolean ", ColumnType::String),
            ("url:https", ColumnType::String),
        ]
        .map(|(field, column_type)| Column {
            field: field.to_owned(),
            column_type,
        });
        assert_eq!(columns, expected);
    }

    #[test]
    fn cells_take_their_column_type_and_empty_cells_are_null() {
        let body = "id,title,price:number,ok:boolean,tag:string,n:number\n\
                    1,Hello,1.0,true,x,1\n\
                    2,,2,false,,3.5\n\
                    3,\"a, \"\"quoted\"\"\nline\",  7 , true , ,1e3\n\
                    4, ,-0,,\"\",1.5e400\n";
        assert_eq!(
            read(body),
            [
                json!({"id": "1", "title": "Hello", "price": 1.0, "ok": true, "tag": "x", "n": 1}),
                json!({"id": "2", "title": null, "price": 2, "ok": false, "tag": null, "n": 3.5}),
                json!({"id": "3", "title": "a, \"quoted\"\nline", "price": 7, "ok": true, "tag": " ", "n": 1000.0}),
                json!({"id": "4", "title": " ", "price": 0, "ok": null, "tag": null, "n": null}),
            ]
        );
    }

    #[test]
    fn numbers_are_integers_when_they_can_be_and_floats_otherwise() {
        let body = "id:number,n:number\n1,inf\n2,NaN\n3,+5\n4,99999999999999999999\n\
                    5,-infinity\n6,.5\n7,5.\n8,-9223372036854775808\n9,1E2\n10, \n";
        let values: Vec<Value> = read(body)
            .iter()
            .map(|document| document["n"].clone())
            .collect();
        let expected = [
            json!(null),
            json!(null),
            json!(5),
            json!(1e20),
            json!(null),
            json!(0.5),
            json!(5.0),
            json!(i64::MIN),
            json!(100.0),
            json!(null),
        ];
        assert_eq!(values, expected);
        // `1` and `1.0` stay apart: an integer and a float, as Meilisearch stores them.
        assert!(values[2].is_i64());
        assert!(values[6].is_f64());
        assert_eq!(read("id:number\n1\n")[0]["id"], json!(1));
    }

    #[test]
    fn cells_not_of_their_type_are_refused_as_meilisearch_words_it() {
        assert_eq!(
            refusal(b"id:number,n:number\n1,2\n2, 12abc \n"),
            "The `csv` payload provided is malformed: `Error parsing number \" 12abc \" at line \
             2: invalid float literal`."
        );
        assert_eq!(
            refusal(b"id,n:number\n1,1_000\n"),
            "The `csv` payload provided is malformed: `Error parsing number \"1_000\" at line \
             1: invalid float literal`."
        );
        // The line counts documents, not physical lines: a quoted line break does not count.
        assert_eq!(
            refusal(b"id,a,ok:boolean\n1,\"x\ny\",true\n2,z, TRUE \n"),
            "The `csv` payload provided is malformed: `Error parsing boolean \" TRUE \" at line \
             2: provided string was not `true` or `false``."
        );
        assert_eq!(
            refusal(b"id,ok:boolean\n1,yes\n"),
            "The `csv` payload provided is malformed: `Error parsing boolean \"yes\" at line 1: \
             provided string was not `true` or `false``."
        );
    }

    #[test]
    fn rows_must_have_the_header_length() {
        assert_eq!(
            refusal(b"id,a,b\n1,x\n"),
            "The `csv` payload provided is malformed: `CSV error: record 1 (line: 2, byte: 7): \
             found record with 2 fields, but the previous record has 3 fields`."
        );
        assert_eq!(
            refusal(b"id,a\n1,x\n2,y,z\n"),
            "The `csv` payload provided is malformed: `CSV error: record 2 (line: 3, byte: 9): \
             found record with 3 fields, but the previous record has 2 fields`."
        );
    }

    #[test]
    fn invalid_utf8_is_refused_with_the_readers_words() {
        assert_eq!(
            refusal(b"id,a\n1,\xff\xfe\n"),
            "The `csv` payload provided is malformed: `CSV parse error: record 1 (line 2, field: \
             1, byte: 5): invalid utf-8: invalid UTF-8 in field 1 near byte index 0`."
        );
    }

    #[test]
    fn byte_order_marks_line_ends_and_blank_lines_are_the_readers() {
        assert_eq!(
            read("\u{feff}id,a\r\n1,x\r\n\r\n2,y\r\n\n\n"),
            [json!({"id": "1", "a": "x"}), json!({"id": "2", "a": "y"})]
        );
        assert_eq!(read("id,a\r1,x"), [json!({"id": "1", "a": "x"})]);
        // A header alone, with or without a line end, or only blank lines: no documents.
        for body in ["id,a", "id,a\n", "\n", " "] {
            assert_eq!(read(body), Vec::<Value>::new(), "{body:?}");
        }
    }

    #[test]
    fn quotes_are_read_leniently_as_meilisearch_reads_them() {
        assert_eq!(
            read("id,a\n1,ab\"c\"d\n2,\"x\"y\n"),
            [
                json!({"id": "1", "a": "ab\"c\"d"}),
                json!({"id": "2", "a": "xy"})
            ]
        );
        // An unclosed quote runs to the end of the body.
        assert_eq!(
            read("id,a\n1,\"unclosed\n2,y\n"),
            [json!({"id": "1", "a": "unclosed\n2,y\n"})]
        );
    }

    #[test]
    fn a_repeated_field_keeps_its_last_column() {
        assert_eq!(
            read("id,a,a:number\n1,x,5\n2,y,\n"),
            [json!({"id": "1", "a": 5}), json!({"id": "2", "a": null})]
        );
    }

    #[test]
    fn the_delimiter_separates_fields_and_can_be_quoted() {
        assert_eq!(
            read_with("id;a;n:number\n1;\"x;y\";2\n", b';'),
            [json!({"id": "1", "a": "x;y", "n": 2})]
        );
        assert_eq!(
            read_with("id\ta\n1\tx,y\n", b'\t'),
            [json!({"id": "1", "a": "x,y"})]
        );
        // Another delimiter than the body's: one field named after the whole header.
        assert_eq!(read("id;a\n1;x\n"), [json!({"id;a": "1;x"})]);
    }
}
