//! Connection plumbing: opening and configuring connections, refusing foreign files, running
//! operations off the async scheduler, and the mapping of SQLite errors.
//!
//! A file store has one writer connection (every write, serialized by its mutex) and
//! [`FILE_READERS`] reader connections (WAL lets them read while the writer writes); an in-memory
//! store has only the writer. Each connection is used by one operation at a time; see
//! [`SharedConnection::call`] for where operations run.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use tokio::runtime::RuntimeFlavor;

use crate::error::{StoreError, StoreResult};
use crate::schema::SQLITE_APPLICATION_ID;
use crate::store_url::{SqliteLocation, SqliteSync};

/// Reader connections of a file store.
const FILE_READERS: usize = 2;

/// Prepared statements kept per connection (`list_tasks` builds one per filter combination).
const STATEMENT_CACHE_CAPACITY: usize = 64;

impl From<rusqlite::Error> for StoreError {
    /// Lock contention (including an expired busy timeout) is an outage worth retrying; anything
    /// else is a backend error.
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(format!("sqlite: {error}"))
            }
            _ => StoreError::Backend(format!("sqlite: {error}")),
        }
    }
}

/// Runs `operation` in one `BEGIN IMMEDIATE` transaction: committed when it returns `Ok`, rolled
/// back otherwise. The write lock is taken up front, so reads inside see the latest state and no
/// other connection can write before the commit.
pub(crate) fn in_write_transaction<T>(
    connection: &mut Connection,
    operation: impl FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let output = operation(&transaction)?;
    transaction.commit()?;
    Ok(output)
}

/// Runs `operation` in one read transaction, so every query inside sees the same snapshot.
pub(crate) fn in_read_transaction<T>(
    connection: &mut Connection,
    operation: impl FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let output = operation(&transaction)?;
    transaction.commit()?;
    Ok(output)
}

/// One connection, used by one operation at a time.
///
/// An operation runs on the calling thread inside [`tokio::task::block_in_place`] when the
/// runtime is multi-threaded: the worker's other tasks move to another thread while SQLite
/// blocks, and the call costs no thread hand-off (a point read stays within a few percent of raw
/// rusqlite). On a current-thread runtime, where that is not possible, it runs on the blocking
/// pool (`spawn_blocking`). Either way no SQLite call blocks the async scheduler.
pub(crate) struct SharedConnection {
    connection: Arc<Mutex<Connection>>,
    /// Operations waiting for or holding this connection, to route reads to the least busy one.
    pending: Arc<AtomicUsize>,
}

impl SharedConnection {
    fn new(connection: Connection) -> Self {
        Self {
            connection: Arc::new(Mutex::new(connection)),
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Operations queued on or running with this connection.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Runs `operation` with this connection, off the async scheduler, and returns its result.
    pub(crate) async fn call<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        let pending = Arc::clone(&self.pending);
        pending.fetch_add(1, Ordering::Relaxed);
        let run = move || {
            // A panic inside an operation unwinds through its transaction (rolled back on drop),
            // so the connection is consistent even if the mutex was poisoned.
            let mut guard = connection.lock().unwrap_or_else(PoisonError::into_inner);
            let output = operation(&mut guard);
            drop(guard);
            pending.fetch_sub(1, Ordering::Relaxed);
            output
        };
        let multi_threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|handle| handle.runtime_flavor() == RuntimeFlavor::MultiThread);
        if multi_threaded {
            tokio::task::block_in_place(run)
        } else {
            tokio::task::spawn_blocking(run).await.map_err(|error| {
                StoreError::Backend(format!("sqlite operation aborted: {error}"))
            })?
        }
    }
}

/// The connections of one store.
pub(crate) struct Connections {
    /// Every write (and, in memory, every read).
    pub(crate) writer: SharedConnection,
    /// Read-only connections of a file store (empty in memory).
    pub(crate) readers: Vec<SharedConnection>,
}

/// How every connection is configured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionOptions {
    /// `PRAGMA synchronous`.
    pub(crate) synchronous: SqliteSync,
    /// How long a statement waits for a lock before failing with `SQLITE_BUSY`.
    pub(crate) busy_timeout: Duration,
}

impl Connections {
    /// Opens and configures the connections of `location`. Blocking.
    ///
    /// A file is created (with its parent directory) when missing. A file that is not a SQLite
    /// database, or a database of another application, is refused with `NotAMiroirStore` before
    /// anything is written to it.
    pub(crate) fn open(location: &SqliteLocation, options: ConnectionOptions) -> StoreResult<Self> {
        match location {
            SqliteLocation::Memory => {
                let writer = Connection::open_in_memory()?;
                configure(&writer, options)?;
                Ok(Self {
                    writer: SharedConnection::new(writer),
                    readers: Vec::new(),
                })
            }
            SqliteLocation::File(path) => {
                create_parent_directory(path)?;
                let writer = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_CREATE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                // Before the first read, so that a file locked by another process is waited for.
                writer.busy_timeout(options.busy_timeout)?;
                let mode = switch_to_wal(&writer, path, options.busy_timeout)?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(StoreError::Backend(format!(
                        "sqlite refused WAL mode for {} (journal mode {mode})",
                        path.display()
                    )));
                }
                configure(&writer, options)?;
                let readers = (0..FILE_READERS)
                    .map(|_| {
                        let reader = Connection::open_with_flags(
                            path,
                            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                        )?;
                        configure(&reader, options)?;
                        reader.pragma_update(None, "query_only", true)?;
                        Ok(SharedConnection::new(reader))
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(Self {
                    writer: SharedConnection::new(writer),
                    readers,
                })
            }
        }
    }

    /// The connection a read should use: the least busy reader, or the writer in memory.
    pub(crate) fn reader(&self) -> &SharedConnection {
        self.readers
            .iter()
            .min_by_key(|reader| reader.pending())
            .unwrap_or(&self.writer)
    }
}

/// Pragmas every connection gets.
fn configure(connection: &Connection, options: ConnectionOptions) -> StoreResult<()> {
    connection.busy_timeout(options.busy_timeout)?;
    let synchronous = match options.synchronous {
        SqliteSync::Normal => "NORMAL",
        SqliteSync::Full => "FULL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(())
}

fn create_parent_directory(path: &Path) -> StoreResult<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && !parent.exists() => {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError::Backend(format!(
                    "cannot create directory {}: {error}",
                    parent.display()
                ))
            })
        }
        _ => Ok(()),
    }
}

/// Checks that the file is a Miroir store (or empty) and puts it in WAL mode; the journal mode
/// it reports.
///
/// Several processes opening one new file at once can be refused with "database is locked"
/// without the busy handler being called: the switch to WAL needs an exclusive lock, and SQLite
/// answers at once rather than let two connections that both read the file wait for each other.
/// Such refusals are retried until `busy_timeout` has passed, as the busy handler would have.
fn switch_to_wal(
    connection: &Connection,
    path: &Path,
    busy_timeout: Duration,
) -> StoreResult<String> {
    let deadline = std::time::Instant::now() + busy_timeout;
    loop {
        // Lock refusals come back as `Unavailable` (see `From<rusqlite::Error>`).
        let attempt =
            refuse_foreign_database(connection, path).and_then(|()| {
                Ok(connection
                    .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?)
            });
        match attempt {
            Err(StoreError::Unavailable(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// `NotAMiroirStore` unless the file is empty or carries Miroir's application id. Only reads.
fn refuse_foreign_database(connection: &Connection, path: &Path) -> StoreResult<()> {
    let not_a_database = |error: rusqlite::Error| match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            StoreError::NotAMiroirStore(format!("{} is not a sqlite database", path.display()))
        }
        _ => StoreError::from(error),
    };
    // One statement, so one read snapshot: another process's migration (which sets the id and
    // creates the tables in one transaction) is seen entirely or not at all.
    let (application_id, has_tables): (i32, bool) = connection
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id()), \
                    EXISTS (SELECT 1 FROM sqlite_master)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(not_a_database)?;
    if application_id == SQLITE_APPLICATION_ID {
        return Ok(());
    }
    if application_id != 0 {
        return Err(StoreError::NotAMiroirStore(format!(
            "{} belongs to another application (sqlite application_id {application_id})",
            path.display()
        )));
    }
    if has_tables {
        return Err(StoreError::NotAMiroirStore(format!(
            "{} is a sqlite database with tables but without miroir's application_id",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sqlite::{SqliteStore, testing};
    use crate::tasks::{NewTask, TaskKind, TaskStatus, TaskStore};
    use crate::time::Timestamp;

    fn refused(result: StoreResult<SqliteStore>) -> bool {
        matches!(result, Err(StoreError::NotAMiroirStore(_)))
    }

    #[tokio::test]
    async fn foreign_files_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("text.db");
        std::fs::write(&text, vec![b'x'; 4096]).unwrap();
        let other_app = dir.path().join("other.db");
        Connection::open(&other_app)
            .unwrap()
            .pragma_update(None, "application_id", 7)
            .unwrap();
        let tables = dir.path().join("tables.db");
        Connection::open(&tables)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        for path in [text, other_app, tables] {
            let before = std::fs::read(&path).unwrap();
            let result = SqliteStore::open(
                SqliteLocation::File(path.clone()),
                SqliteSync::Full,
                Duration::from_secs(1),
            )
            .await;
            assert!(refused(result), "{}", path.display());
            assert_eq!(std::fs::read(&path).unwrap(), before);
        }
    }

    #[tokio::test]
    async fn a_held_write_lock_past_the_busy_timeout_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        drop(testing::file(&path).await);
        let store = SqliteStore::open(
            SqliteLocation::File(path.clone()),
            SqliteSync::Normal,
            Duration::from_millis(50),
        )
        .await
        .unwrap();
        let blocker = Connection::open(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let task = NewTask {
            index_uid: None,
            kind: TaskKind::DumpCreation,
            status: TaskStatus::Enqueued,
            node_tasks: Default::default(),
            details: None,
            enqueued_at: Timestamp::now(),
        };
        let error = store.create_task(task.clone()).await.unwrap_err();
        assert!(error.is_unavailable(), "{error}");
        assert_eq!(
            store.count_tasks().await.unwrap(),
            0,
            "readers are not blocked by a writer"
        );
        blocker.execute_batch("COMMIT").unwrap();
        store.create_task(task).await.unwrap();
    }

    #[tokio::test]
    async fn reads_go_to_the_least_busy_reader() {
        let dir = tempfile::tempdir().unwrap();
        let store = testing::file(&dir.path().join("readers.db")).await;
        let connections = &store.inner.connections;
        assert_eq!(connections.readers.len(), FILE_READERS);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let busy = connections.reader().call(move |_| Ok(wait.recv().ok()));
        tokio::pin!(busy);
        assert!(futures::poll!(busy.as_mut()).is_pending());
        assert!(
            !std::ptr::eq(connections.reader(), &connections.readers[0]),
            "the busy reader is skipped"
        );
        release.send(()).unwrap();
        busy.await.unwrap();
    }
}
