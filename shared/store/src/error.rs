//! The one error type every store operation returns.

use std::fmt;

/// Result alias used across the store API.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything a store operation can fail with.
///
/// Callers map these to HTTP in one place (`miroir-core`); the store never formats responses.
/// Messages are lowercase, carry no secrets (URLs are redacted) and no backend internals beyond a
/// short cause.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store URL could not be parsed or names a backend this build does not include.
    #[error("invalid task store url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The row addressed does not exist (or has expired).
    #[error("{0} not found")]
    NotFound(String),
    /// The operation lost a race or its precondition does not hold (create-if-absent on an
    /// existing row, compare-and-set on a stale version, a lease or job held by someone else).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The arguments are invalid; nothing was written.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A write carried a fencing token older than the newest token issued for its lease scope.
    #[error("fenced: token {token} for lease `{scope}` is older than the current token {current}")]
    Fenced {
        /// The lease scope.
        scope: String,
        /// The token the caller presented.
        token: u64,
        /// The newest token issued for the scope.
        current: u64,
    },
    /// The backend did not answer in time or refused the connection. Retrying later may succeed.
    #[error("task store unavailable: {0}")]
    Unavailable(String),
    /// The store was migrated by a newer Miroir than this binary.
    #[error(
        "task store schema version {store} is ahead of this binary's version {binary}; upgrade Miroir"
    )]
    SchemaAhead {
        /// Version recorded in the store.
        store: u32,
        /// Latest version this binary knows.
        binary: u32,
    },
    /// The store has not been migrated to this binary's version yet.
    #[error(
        "task store schema version {store} is behind this binary's version {binary}; run `miroir-migrate up`"
    )]
    SchemaBehind {
        /// Version recorded in the store.
        store: u32,
        /// Latest version this binary knows.
        binary: u32,
    },
    /// The target holds data that is not a Miroir store (for example a foreign SQLite file).
    #[error("not a miroir task store: {0}")]
    NotAMiroirStore(String),
    /// A stored row could not be decoded (corrupt JSON, unknown enum value, wrong length).
    #[error("corrupt row in {table}: {reason}")]
    Corrupt {
        /// Table (or keyspace) of the row.
        table: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// An unexpected backend error that is not an outage.
    #[error("task store error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Shorthand for [`StoreError::NotFound`].
    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::NotFound(what.to_string())
    }

    /// Shorthand for [`StoreError::Conflict`].
    pub fn conflict(what: impl fmt::Display) -> Self {
        Self::Conflict(what.to_string())
    }

    /// Shorthand for [`StoreError::InvalidInput`].
    pub fn invalid(what: impl fmt::Display) -> Self {
        Self::InvalidInput(what.to_string())
    }

    /// Shorthand for [`StoreError::Corrupt`].
    pub fn corrupt(table: &'static str, reason: impl fmt::Display) -> Self {
        Self::Corrupt {
            table,
            reason: reason.to_string(),
        }
    }

    /// True when retrying the same call later may succeed (backend outage or timeout).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
