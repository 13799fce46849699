//! Encoding of rows into hash fields and decoding of replies, shared by every table module.
//!
//! Conventions: integers and timestamps (ms) are decimal strings, enums their wire names, binary
//! hashes lowercase hex, booleans `1`/`0`, JSON payloads compact JSON. An optional field that is
//! `None` is absent from the hash. Anything that does not decode is [`StoreError::Corrupt`].

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use redis::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{StoreError, StoreResult};
use crate::time::Timestamp;

/// Serialises a value to compact JSON.
pub(super) fn to_json(value: &impl Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|error| {
        StoreError::invalid(format_args!("value cannot be stored as json: {error}"))
    })
}

/// An optional timestamp as a script argument: its milliseconds, empty for `None`.
pub(super) fn optional_millis(value: Option<Timestamp>) -> String {
    value
        .map(|time| time.as_millis().to_string())
        .unwrap_or_default()
}

/// The field/value pairs of a hash to write, plus the optional fields that are `None` (to
/// `HDEL` when a row is updated in place).
#[derive(Debug, Default)]
pub(super) struct Fields {
    pairs: Vec<(&'static str, String)>,
    absent: Vec<&'static str>,
}

impl Fields {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// A text (or already encoded) field.
    pub(super) fn text(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.pairs.push((name, value.into()));
        self
    }

    /// A number or anything whose `Display` is its stored form (enums print their wire name).
    pub(super) fn display(self, name: &'static str, value: impl Display) -> Self {
        self.text(name, value.to_string())
    }

    pub(super) fn timestamp(self, name: &'static str, value: Timestamp) -> Self {
        self.display(name, value.as_millis())
    }

    pub(super) fn flag(self, name: &'static str, value: bool) -> Self {
        self.text(name, if value { "1" } else { "0" })
    }

    pub(super) fn hex(self, name: &'static str, value: &[u8; 32]) -> Self {
        self.text(name, hex::encode(value))
    }

    pub(super) fn json(self, name: &'static str, value: &impl Serialize) -> StoreResult<Self> {
        Ok(self.text(name, to_json(value)?))
    }

    /// An optional field: written when `Some`, recorded as absent when `None`.
    pub(super) fn optional<T>(
        mut self,
        name: &'static str,
        value: Option<T>,
        encode: impl FnOnce(Self, &'static str, T) -> Self,
    ) -> Self {
        match value {
            Some(value) => encode(self, name, value),
            None => {
                self.absent.push(name);
                self
            }
        }
    }

    /// [`Fields::optional`] for a fallible encoding (JSON).
    pub(super) fn optional_json<T: Serialize>(
        mut self,
        name: &'static str,
        value: Option<&T>,
    ) -> StoreResult<Self> {
        match value {
            Some(value) => self.json(name, value),
            None => {
                self.absent.push(name);
                Ok(self)
            }
        }
    }

    /// `field value field value …` for `HSET`.
    fn pairs(&self) -> Vec<&str> {
        self.pairs
            .iter()
            .flat_map(|(name, value)| [*name, value.as_str()])
            .collect()
    }

    /// Script arguments `<pair count> field value … <absent count> field …`, the layout the Lua
    /// helper `read_fields` of `prelude.lua` reads.
    pub(super) fn script_args(&self) -> Vec<String> {
        let mut args = Vec::with_capacity(2 + 2 * self.pairs.len() + self.absent.len());
        args.push(self.pairs.len().to_string());
        for (name, value) in &self.pairs {
            args.push((*name).to_owned());
            args.push(value.clone());
        }
        args.push(self.absent.len().to_string());
        args.extend(self.absent.iter().map(|name| (*name).to_owned()));
        args
    }

    /// `HSET key …` (replacing nothing else; callers `DEL` first to replace a row).
    pub(super) fn hset(&self, key: &str) -> redis::Cmd {
        let mut command = redis::cmd("HSET");
        command.arg(key).arg(self.pairs());
        command
    }
}

/// A decoded hash (`HGETALL` or a script's flat `field value …` array) of one table.
#[derive(Debug)]
pub(super) struct Row {
    table: &'static str,
    fields: HashMap<String, Vec<u8>>,
}

impl Row {
    /// `None` for a missing key (empty reply or nil).
    pub(super) fn decode(table: &'static str, value: Value) -> StoreResult<Option<Row>> {
        let pairs: Vec<(Value, Value)> = match value {
            Value::Nil => return Ok(None),
            Value::Array(items) => {
                if items.len() % 2 != 0 {
                    return Err(StoreError::corrupt(table, "odd number of hash items"));
                }
                let mut items = items.into_iter();
                std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect()
            }
            Value::Map(pairs) => pairs,
            other => {
                return Err(StoreError::corrupt(
                    table,
                    format_args!("not a hash: {other:?}"),
                ));
            }
        };
        if pairs.is_empty() {
            return Ok(None);
        }
        let mut fields = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            let name = String::from_utf8(bytes(table, name)?)
                .map_err(|_| StoreError::corrupt(table, "field name is not utf-8"))?;
            fields.insert(name, bytes(table, value)?);
        }
        Ok(Some(Row { table, fields }))
    }

    /// Like [`Row::decode`] but a missing row is corrupt (the script just wrote it).
    pub(super) fn decode_present(table: &'static str, value: Value) -> StoreResult<Row> {
        Row::decode(table, value)?.ok_or_else(|| StoreError::corrupt(table, "row vanished"))
    }

    fn corrupt(&self, name: &str, reason: impl Display) -> StoreError {
        StoreError::corrupt(self.table, format_args!("field `{name}`: {reason}"))
    }

    pub(super) fn opt_text(&self, name: &str) -> StoreResult<Option<String>> {
        self.fields
            .get(name)
            .map(|raw| String::from_utf8(raw.clone()).map_err(|_| self.corrupt(name, "not utf-8")))
            .transpose()
    }

    pub(super) fn text(&self, name: &str) -> StoreResult<String> {
        self.opt_text(name)?
            .ok_or_else(|| self.corrupt(name, "missing"))
    }

    /// An optional field parsed with `FromStr` (numbers, wire-named enums).
    pub(super) fn opt_parse<T>(&self, name: &str) -> StoreResult<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.opt_text(name)?
            .map(|text| {
                text.parse()
                    .map_err(|error| self.corrupt(name, format_args!("`{text}`: {error}")))
            })
            .transpose()
    }

    pub(super) fn parse<T>(&self, name: &str) -> StoreResult<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.opt_parse(name)?
            .ok_or_else(|| self.corrupt(name, "missing"))
    }

    pub(super) fn opt_timestamp(&self, name: &str) -> StoreResult<Option<Timestamp>> {
        Ok(self.opt_parse::<i64>(name)?.map(Timestamp::from_millis))
    }

    pub(super) fn timestamp(&self, name: &str) -> StoreResult<Timestamp> {
        Ok(Timestamp::from_millis(self.parse(name)?))
    }

    pub(super) fn flag(&self, name: &str) -> StoreResult<bool> {
        match self.text(name)?.as_str() {
            "1" => Ok(true),
            "0" => Ok(false),
            other => Err(self.corrupt(name, format_args!("`{other}` is not 0 or 1"))),
        }
    }

    pub(super) fn hex32(&self, name: &str) -> StoreResult<[u8; 32]> {
        let mut out = [0; 32];
        hex::decode_to_slice(self.text(name)?, &mut out)
            .map_err(|error| self.corrupt(name, error))?;
        Ok(out)
    }

    pub(super) fn opt_json<T: DeserializeOwned>(&self, name: &str) -> StoreResult<Option<T>> {
        self.fields
            .get(name)
            .map(|raw| serde_json::from_slice(raw).map_err(|error| self.corrupt(name, error)))
            .transpose()
    }

    pub(super) fn json<T: DeserializeOwned>(&self, name: &str) -> StoreResult<T> {
        self.opt_json(name)?
            .ok_or_else(|| self.corrupt(name, "missing"))
    }
}

/// The bytes of a bulk or simple string reply.
pub(super) fn bytes(table: &'static str, value: Value) -> StoreResult<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(text) => Ok(text.into_bytes()),
        Value::Int(number) => Ok(number.to_string().into_bytes()),
        other => Err(StoreError::corrupt(
            table,
            format_args!("expected a string, got {other:?}"),
        )),
    }
}

/// A UTF-8 string reply.
pub(super) fn text(table: &'static str, value: Value) -> StoreResult<String> {
    String::from_utf8(bytes(table, value)?).map_err(|_| StoreError::corrupt(table, "not utf-8"))
}

/// A JSON document stored as a string (a list element or sorted-set member).
pub(super) fn json<T: DeserializeOwned>(table: &'static str, value: Value) -> StoreResult<T> {
    serde_json::from_slice(&bytes(table, value)?)
        .map_err(|error| StoreError::corrupt(table, format_args!("json: {error}")))
}

/// An integer reply (or a decimal string).
pub(super) fn integer<T: FromStr>(table: &'static str, value: Value) -> StoreResult<T> {
    let text = text(table, value)?;
    text.parse()
        .map_err(|_| StoreError::corrupt(table, format_args!("`{text}` is not a valid number")))
}

/// The items of an array reply (nil = empty).
pub(super) fn array(table: &'static str, value: Value) -> StoreResult<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(StoreError::corrupt(
            table,
            format_args!("expected an array, got {other:?}"),
        )),
    }
}

/// Splits a `"<number> <timestamp>"` pair stored in one hash field.
pub(super) fn number_and_time(table: &'static str, raw: &str) -> StoreResult<(u64, Timestamp)> {
    let corrupt =
        || StoreError::corrupt(table, format_args!("`{raw}` is not `<number> <timestamp>`"));
    let (number, time) = raw.split_once(' ').ok_or_else(corrupt)?;
    Ok((
        number.parse().map_err(|_| corrupt())?,
        Timestamp::from_millis(time.parse().map_err(|_| corrupt())?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn rows_decode_from_flat_arrays_and_report_corruption_with_the_table() {
        let row = Row::decode(
            "tasks",
            Value::Array(vec![bulk("uid"), bulk("7"), bulk("kind"), bulk("x")]),
        )
        .ok()
        .flatten()
        .expect("a row");
        assert_eq!(row.parse::<u64>("uid").ok(), Some(7));
        assert!(row.opt_text("missing").is_ok_and(|value| value.is_none()));
        assert!(matches!(
            row.parse::<u64>("kind"),
            Err(StoreError::Corrupt { table: "tasks", .. })
        ));
        assert!(matches!(
            Row::decode("tasks", Value::Array(vec![])),
            Ok(None)
        ));
        assert!(matches!(Row::decode("tasks", Value::Nil), Ok(None)));
    }

    #[test]
    fn script_args_list_pairs_then_absent_names() {
        let fields = Fields::new()
            .text("a", "1")
            .optional("b", None::<u64>, Fields::display)
            .optional("c", Some(3), Fields::display);
        assert_eq!(fields.script_args(), ["2", "a", "1", "c", "3", "1", "b"]);
    }
}
