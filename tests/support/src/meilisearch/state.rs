//! The node's memory: indexes (documents and settings), the task queue, and the log of received
//! requests, behind one mutex that is never held across an `.await`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::clock::rfc3339;
use super::documents::DocumentStore;
use super::error::ApiError;
use super::faults::Faults;
use super::settings;
use super::tasks::{Task, TaskStatus};

/// Everything one node shares between its server, its task processor and its [`TestNode`]
/// handle.
///
/// [`TestNode`]: super::TestNode
#[derive(Debug)]
pub(crate) struct Node {
    state: Mutex<State>,
    requests: Mutex<Vec<(String, String)>>,
    /// The live faults.
    pub(crate) faults: Faults,
    /// The key every route but `/health` requires, if any.
    pub(crate) master_key: Option<String>,
    /// Wakes the task processor (a task was enqueued, or the node serves again).
    pub(crate) wake: Notify,
    /// Whether the node is up (listening); the processor only works while it is.
    serving: AtomicBool,
}

impl Node {
    pub(crate) fn new(master_key: Option<String>, faults: Faults) -> Self {
        Self {
            state: Mutex::new(State::default()),
            requests: Mutex::new(Vec::new()),
            faults,
            master_key,
            wake: Notify::new(),
            serving: AtomicBool::new(false),
        }
    }

    /// The state, locked (a panic while locked cannot poison it for good: the data is a fixture).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one received request.
    pub(crate) fn record_request(&self, method: &str, path: &str) {
        self.requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((method.to_owned(), path.to_owned()));
    }

    /// How many requests with `method` and a path starting with `path_prefix` were received.
    pub(crate) fn request_count(&self, method: &str, path_prefix: &str) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .filter(|(received_method, path)| {
                received_method.eq_ignore_ascii_case(method) && path.starts_with(path_prefix)
            })
            .count()
    }

    /// Marks the node up or down and wakes the processor.
    pub(crate) fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Whether the node is up.
    pub(crate) fn is_serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }
}

/// Indexes and tasks.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The indexes by uid.
    pub(crate) indexes: BTreeMap<String, Index>,
    /// Every task by uid.
    pub(crate) tasks: BTreeMap<u64, Task>,
    /// The uid the next task gets.
    pub(crate) next_task_uid: u64,
}

impl State {
    /// The index `uid`, or `index_not_found`.
    pub(crate) fn index(&self, uid: &str) -> Result<&Index, ApiError> {
        self.indexes
            .get(uid)
            .ok_or_else(|| ApiError::index_not_found(uid))
    }

    /// Whether a task of index `uid` is enqueued or processing.
    pub(crate) fn is_indexing(&self, uid: &str) -> bool {
        self.tasks.values().any(|task| {
            task.index_uid.as_deref() == Some(uid)
                && matches!(task.status, TaskStatus::Enqueued | TaskStatus::Processing)
        })
    }

    /// `GET /indexes/{uid}/stats` of index `index`.
    pub(crate) fn index_stats(&self, index: &Index) -> Value {
        let mut field_distribution: BTreeMap<&str, u64> = BTreeMap::new();
        let mut raw_size = 0_usize;
        for (_, document) in index.documents.iter() {
            raw_size += Value::Object(document.clone()).to_string().len();
            for key in document.keys() {
                *field_distribution.entry(key).or_default() += 1;
            }
        }
        let count = index.documents.len();
        json!({
            "numberOfDocuments": count,
            "rawDocumentDbSize": raw_size,
            "avgDocumentSize": raw_size.checked_div(count).unwrap_or(0),
            "isIndexing": self.is_indexing(&index.uid),
            "numberOfEmbeddings": 0,
            "numberOfEmbeddedDocuments": 0,
            "fieldDistribution": field_distribution,
        })
    }

    /// `GET /stats`.
    pub(crate) fn global_stats(&self) -> Value {
        let mut indexes = Map::new();
        let mut database_size = 0_u64;
        for index in self.indexes.values() {
            let stats = self.index_stats(index);
            database_size += stats["rawDocumentDbSize"].as_u64().unwrap_or(0);
            indexes.insert(index.uid.clone(), stats);
        }
        let last_update = self
            .tasks
            .values()
            .filter_map(|task| task.finished_at)
            .max()
            .map(rfc3339);
        json!({
            "databaseSize": database_size,
            "usedDatabaseSize": database_size,
            "lastUpdate": last_update,
            "indexes": indexes,
        })
    }
}

/// One index.
#[derive(Clone, Debug)]
pub(crate) struct Index {
    /// Its uid.
    pub(crate) uid: String,
    /// Its primary key, once known.
    pub(crate) primary_key: Option<String>,
    /// When it was created.
    pub(crate) created_at: OffsetDateTime,
    /// When a task last changed it.
    pub(crate) updated_at: OffsetDateTime,
    /// Its documents.
    pub(crate) documents: DocumentStore,
    /// Its full settings object.
    pub(crate) settings: Map<String, Value>,
}

impl Index {
    pub(crate) fn new(uid: &str, primary_key: Option<String>, now: OffsetDateTime) -> Self {
        Self {
            uid: uid.to_owned(),
            primary_key,
            created_at: now,
            updated_at: now,
            documents: DocumentStore::default(),
            settings: settings::defaults(),
        }
    }

    /// The index object `{"uid","primaryKey","createdAt","updatedAt"}`.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "uid": self.uid,
            "primaryKey": self.primary_key,
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
        })
    }
}

/// Checks an index uid: `[A-Za-z0-9_-]{1,400}`, else 400 `invalid_index_uid`.
pub(crate) fn validate_index_uid(uid: &str) -> Result<(), ApiError> {
    let valid = !uid.is_empty()
        && uid.len() <= 400
        && uid
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            "invalid_index_uid",
            format!(
                "`{uid}` is not a valid index uid. Index uid can be an integer or a string \
                 containing only alphanumeric characters, hyphens (-) and underscores (_), and \
                 can not be more than 400 bytes."
            ),
        ))
    }
}
