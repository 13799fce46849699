//! Row decoding and value encoding shared by every table module.
//!
//! Reads go through [`Columns`], which turns any value that does not fit its Rust type (a NULL
//! where one is not allowed, a negative count, bad JSON, an unknown enum name, a hash of the wrong
//! length) into `StoreError::Corrupt` naming the table and column — never a panic.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Params, Row, Statement};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{StoreError, StoreResult};
use crate::time::{Timestamp, ttl_millis};

/// Typed access to the columns of one row of `table`.
pub(crate) struct Columns<'row, 'stmt> {
    row: &'row Row<'stmt>,
    table: &'static str,
}

impl<'row, 'stmt> Columns<'row, 'stmt> {
    /// Reads `row`, a row of `table` (named in errors).
    pub(crate) fn new(table: &'static str, row: &'row Row<'stmt>) -> Self {
        Self { row, table }
    }

    fn corrupt(&self, index: usize, reason: impl Display) -> StoreError {
        let column = self.row.as_ref().column_name(index).unwrap_or("?");
        StoreError::corrupt(self.table, format!("column `{column}`: {reason}"))
    }

    fn value(&self, index: usize) -> StoreResult<ValueRef<'row>> {
        Ok(self.row.get_ref(index)?)
    }

    fn required<T>(&self, index: usize, value: Option<T>) -> StoreResult<T> {
        value.ok_or_else(|| self.corrupt(index, "unexpected null"))
    }

    /// An integer or NULL.
    pub(crate) fn opt_i64(&self, index: usize) -> StoreResult<Option<i64>> {
        self.value(index)?
            .as_i64_or_null()
            .map_err(|error| self.corrupt(index, error))
    }

    /// A non-null integer.
    pub(crate) fn i64(&self, index: usize) -> StoreResult<i64> {
        let value = self.opt_i64(index)?;
        self.required(index, value)
    }

    /// A `u64` stored by [`u64_to_sql`], or NULL.
    pub(crate) fn opt_u64(&self, index: usize) -> StoreResult<Option<u64>> {
        Ok(self.opt_i64(index)?.map(|value| value as u64))
    }

    /// A non-null `u64` stored by [`u64_to_sql`].
    pub(crate) fn u64(&self, index: usize) -> StoreResult<u64> {
        let value = self.opt_u64(index)?;
        self.required(index, value)
    }

    /// An integer in `u32` range or NULL.
    pub(crate) fn opt_u32(&self, index: usize) -> StoreResult<Option<u32>> {
        self.opt_i64(index)?
            .map(|value| {
                u32::try_from(value)
                    .map_err(|_| self.corrupt(index, format!("value {value} out of range")))
            })
            .transpose()
    }

    /// A non-null integer in `u32` range.
    pub(crate) fn u32(&self, index: usize) -> StoreResult<u32> {
        let value = self.opt_u32(index)?;
        self.required(index, value)
    }

    /// A 0/1 flag.
    pub(crate) fn bool(&self, index: usize) -> StoreResult<bool> {
        match self.i64(index)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.corrupt(index, format!("flag {other} is neither 0 nor 1"))),
        }
    }

    /// Milliseconds since the epoch or NULL.
    pub(crate) fn opt_timestamp(&self, index: usize) -> StoreResult<Option<Timestamp>> {
        Ok(self.opt_i64(index)?.map(Timestamp::from_millis))
    }

    /// Non-null milliseconds since the epoch.
    pub(crate) fn timestamp(&self, index: usize) -> StoreResult<Timestamp> {
        Ok(Timestamp::from_millis(self.i64(index)?))
    }

    /// Text or NULL, borrowed from the row.
    pub(crate) fn opt_str(&self, index: usize) -> StoreResult<Option<&'row str>> {
        self.value(index)?
            .as_str_or_null()
            .map_err(|error| self.corrupt(index, error))
    }

    /// Text or NULL.
    pub(crate) fn opt_string(&self, index: usize) -> StoreResult<Option<String>> {
        Ok(self.opt_str(index)?.map(str::to_owned))
    }

    /// Non-null text.
    pub(crate) fn string(&self, index: usize) -> StoreResult<String> {
        let value = self.opt_string(index)?;
        self.required(index, value)
    }

    /// A value stored as its name (`FromStr`), e.g. a status.
    pub(crate) fn parse<T: FromStr>(&self, index: usize) -> StoreResult<T>
    where
        T::Err: Display,
    {
        let text = self.opt_str(index)?;
        let text = self.required(index, text)?;
        text.parse().map_err(|error| self.corrupt(index, error))
    }

    /// JSON text or NULL.
    pub(crate) fn opt_json<T: DeserializeOwned>(&self, index: usize) -> StoreResult<Option<T>> {
        self.opt_str(index)?
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|error| self.corrupt(index, format!("bad json: {error}")))
            })
            .transpose()
    }

    /// Non-null JSON text.
    pub(crate) fn json<T: DeserializeOwned>(&self, index: usize) -> StoreResult<T> {
        let value = self.opt_json(index)?;
        self.required(index, value)
    }

    /// A non-null blob, borrowed from the row.
    pub(crate) fn blob(&self, index: usize) -> StoreResult<&'row [u8]> {
        let value = self
            .value(index)?
            .as_blob_or_null()
            .map_err(|error| self.corrupt(index, error))?;
        self.required(index, value)
    }

    /// A 32-byte hash.
    pub(crate) fn hash(&self, index: usize) -> StoreResult<[u8; 32]> {
        let bytes = self.blob(index)?;
        bytes.try_into().map_err(|_| {
            self.corrupt(
                index,
                format!("hash of {} bytes instead of 32", bytes.len()),
            )
        })
    }
}

/// Runs a query and decodes its first row, if any.
pub(crate) fn query_optional<T>(
    statement: &mut Statement<'_>,
    params: impl Params,
    decode: impl FnOnce(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut rows = statement.query(params)?;
    rows.next()?.map(decode).transpose()
}

/// Runs a query and decodes every row.
pub(crate) fn query_all<T>(
    statement: &mut Statement<'_>,
    params: impl Params,
    mut decode: impl FnMut(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut rows = statement.query(params)?;
    let mut decoded = Vec::new();
    while let Some(row) = rows.next()? {
        decoded.push(decode(row)?);
    }
    Ok(decoded)
}

/// A `u64` as stored in an INTEGER column: the `i64` with the same bits, so that every `u64`
/// round-trips. Values above `i64::MAX` look negative to SQL, so SQL never orders or compares
/// such columns except for equality; the Rust code does.
pub(crate) const fn u64_to_sql(value: u64) -> i64 {
    value as i64
}

/// A count, offset or cursor as a SQL integer, saturating at `i64::MAX` (which is past every
/// row).
pub(crate) fn saturating_i64(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

/// A value as JSON text.
pub(crate) fn to_json(what: &str, value: &impl Serialize) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::invalid(format!("{what} is not valid json: {error}")))
}

/// [`to_json`] of an optional value: `None` stays `None` (a SQL `NULL`).
pub(crate) fn to_json_opt(
    what: &str,
    value: Option<&impl Serialize>,
) -> StoreResult<Option<String>> {
    value.map(|value| to_json(what, value)).transpose()
}

/// The instant `ttl` after `now` (at least 1 ms later, so a TTL never means "already expired").
pub(crate) fn expiry(now: Timestamp, ttl: Duration) -> Timestamp {
    Timestamp::from_millis(now.as_millis().saturating_add(ttl_millis(ttl)))
}

/// `InvalidInput` unless `expires_at` is after `now`.
pub(crate) fn require_future(what: &str, expires_at: Timestamp, now: Timestamp) -> StoreResult<()> {
    if expires_at <= now {
        return Err(StoreError::invalid(format!(
            "{what} expires_at is not in the future"
        )));
    }
    Ok(())
}
