//! The embedded SQLite backend, for a single Miroir replica.
//!
//! One module per table group holds that group's SQL and its `impl …Store for SqliteStore`; the
//! schema itself is this crate's `migrations/sqlite/`. Connection handling is in [`connection`], row decoding
//! in [`rows`].

mod admin_sessions;
mod aliases;
mod api_keys;
mod canaries;
mod cdc;
mod connection;
mod copy;
mod idempotency;
mod indexes;
mod jobs;
mod leases;
mod maintenance;
mod node_settings;
mod rate_limits;
mod rollover;
mod rows;
mod schema;
mod search_ui;
mod sessions;
mod tasks;
mod tenants;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::broadcast;

use crate::error::{StoreError, StoreResult};
use crate::store_url::{SqliteLocation, SqliteSync};
use crate::{Backend, Store};

use self::connection::{ConnectionOptions, Connections, in_write_transaction};

/// Revocations buffered per subscriber before it lags (and gets a `Resync`).
const REVOCATION_BUFFER: usize = 1024;

/// A store in one SQLite file (or in memory, for tests). Cheap to clone: clones share the
/// connections.
///
/// No operation blocks the async scheduler (see `connection::SharedConnection::call`): writes
/// use the single writer connection (so they are serialized), reads one of the reader
/// connections of a WAL-mode file. A read issued after a write returned sees that write.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    location: SqliteLocation,
    connections: Connections,
    /// Admin-session revocations made through this store, for
    /// `subscribe_admin_session_revocations`.
    revocations: broadcast::Sender<String>,
}

impl SqliteStore {
    /// Opens (creating when missing) the store at `location`, without migrating it.
    ///
    /// Files are put in WAL mode with the given `synchronous` level; every connection waits up
    /// to `busy_timeout` for a lock held by another process before failing with `Unavailable`.
    /// A file that is not a SQLite database, or one with tables but not Miroir's application id,
    /// is refused with `NotAMiroirStore` and left untouched.
    pub async fn open(
        location: SqliteLocation,
        synchronous: SqliteSync,
        busy_timeout: Duration,
    ) -> StoreResult<SqliteStore> {
        let options = ConnectionOptions {
            synchronous,
            busy_timeout,
        };
        let opened_location = location.clone();
        let connections =
            tokio::task::spawn_blocking(move || Connections::open(&opened_location, options))
                .await
                .map_err(|error| {
                    StoreError::Backend(format!("opening sqlite store failed: {error}"))
                })??;
        let (revocations, _) = broadcast::channel(REVOCATION_BUFFER);
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                location,
                connections,
                revocations,
            }),
        })
    }

    /// Runs a read on a reader connection.
    async fn read<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        self.inner.connections.reader().call(operation).await
    }

    /// Runs a write on the writer connection. For one statement (atomic by itself); use
    /// [`SqliteStore::write_transaction`] when the write depends on what it reads.
    async fn write<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        self.inner.connections.writer.call(operation).await
    }

    /// Runs `operation` on the writer connection inside one `BEGIN IMMEDIATE` transaction.
    async fn write_transaction<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.write(move |connection| in_write_transaction(connection, operation))
            .await
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SqliteStore")
            .field("location", &self.inner.location)
            .field("readers", &self.inner.connections.readers.len())
            .finish()
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod testing {
    //! Store factories for the unit tests of this backend.

    use std::path::Path;
    use std::time::Duration;

    use super::SqliteStore;
    use crate::schema::SchemaStore;
    use crate::store_url::{SqliteLocation, SqliteSync};

    /// A migrated in-memory store.
    pub(crate) async fn memory() -> SqliteStore {
        migrated(SqliteLocation::Memory).await
    }

    /// A migrated store in the file at `path` (opened, not recreated, if it exists).
    pub(crate) async fn file(path: &Path) -> SqliteStore {
        migrated(SqliteLocation::File(path.to_owned())).await
    }

    /// A store at `location`, not migrated.
    pub(crate) async fn open(location: SqliteLocation) -> SqliteStore {
        SqliteStore::open(location, SqliteSync::Normal, Duration::from_secs(5))
            .await
            .unwrap()
    }

    async fn migrated(location: SqliteLocation) -> SqliteStore {
        let store = open(location).await;
        store.migrate().await.unwrap();
        store
    }
}
