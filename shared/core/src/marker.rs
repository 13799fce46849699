//! The per-task marker Miroir attaches to node writes, so a write can be traced on the nodes
//! even when the process that fanned it out died before recording its node tasks.
//!
//! Meilisearch (1.50, checked against the real server) takes a `customMetadata` query parameter
//! on the document routes only — `POST`/`PUT /indexes/{uid}/documents`,
//! `POST …/documents/delete-batch`, `POST …/documents/delete`, `DELETE …/documents/{id}` and
//! `DELETE …/documents` — and shows it as `"customMetadata"` in the enqueue answer, in
//! `GET /tasks/{uid}` and in `GET /tasks`. The index and settings routes accept the parameter
//! but drop it (it is not in their tasks), and `GET /tasks` cannot filter by it (400
//! `bad_request`, unknown parameter): [`crate::reconcile`] scans a bounded window instead.
//!
//! Miroir sends `customMetadata=miroir-<task uid>` on every document write of a task
//! ([`TaskMarker::mark`]) and nothing on the routes that drop it.

use miroir_store::{TaskKind, TaskUid};

use crate::cluster::NodeCall;

/// The query parameter Meilisearch stores on a task and shows back as `customMetadata`.
pub const MARKER_PARAM: &str = "customMetadata";

/// The marker of one Miroir task: `miroir-<uid>`. Task uids are never reused, so a node task
/// carrying it belongs to that task and to no other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskMarker(String);

impl TaskMarker {
    /// The marker of Miroir task `uid`.
    pub fn for_task(uid: TaskUid) -> Self {
        Self(format!("miroir-{uid}"))
    }

    /// The marker's text, as a node reports it in `customMetadata`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `calls` with the marker added to every call whose route records it
    /// ([`route_takes_marker`]); the others unchanged.
    pub fn mark(&self, calls: Vec<NodeCall>) -> Vec<NodeCall> {
        calls
            .into_iter()
            .map(|mut call| {
                if route_takes_marker(&call.path) {
                    call.path = self.mark_path(&call.path);
                }
                call
            })
            .collect()
    }

    /// `path_and_query` with `customMetadata=<marker>` appended (the marker is URL-safe).
    fn mark_path(&self, path_and_query: &str) -> String {
        let separator = if path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{path_and_query}{separator}{MARKER_PARAM}={}", self.0)
    }
}

/// True when Meilisearch records `customMetadata` on the task a write to `path_and_query`
/// enqueues: the document routes under `/indexes/{uid}/documents`, except the read
/// `POST …/documents/fetch`.
pub fn route_takes_marker(path_and_query: &str) -> bool {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path);
    let mut segments = path.trim_start_matches('/').split('/');
    let (Some("indexes"), Some(uid), Some("documents")) =
        (segments.next(), segments.next(), segments.next())
    else {
        return false;
    };
    !uid.is_empty() && segments.next() != Some("fetch")
}

/// True when the writes of a task of `kind` carry the marker on every node call (so the
/// task's node tasks can be found by it): document additions and deletions.
pub fn kind_takes_marker(kind: TaskKind) -> bool {
    matches!(
        kind,
        TaskKind::DocumentAdditionOrUpdate | TaskKind::DocumentDeletion
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Method;

    fn call(path: &str) -> NodeCall {
        NodeCall {
            node: 0,
            method: Method::POST,
            path: path.to_owned(),
            body: None,
        }
    }

    #[test]
    fn only_the_document_routes_are_marked() {
        let marker = TaskMarker::for_task(42);
        let marked: Vec<String> = marker
            .mark(vec![
                call("/indexes/movies/documents?primaryKey=id"),
                call("/indexes/movies/documents"),
                call("/indexes/movies/documents/delete-batch"),
                call("/indexes/movies/documents/delete"),
                call("/indexes/movies/documents/a%20b"),
                call("/indexes/movies/documents/fetch"),
                call("/indexes/movies/settings"),
                call("/indexes/movies"),
                call("/indexes"),
            ])
            .into_iter()
            .map(|call| call.path)
            .collect();
        assert_eq!(
            marked,
            [
                "/indexes/movies/documents?primaryKey=id&customMetadata=miroir-42",
                "/indexes/movies/documents?customMetadata=miroir-42",
                "/indexes/movies/documents/delete-batch?customMetadata=miroir-42",
                "/indexes/movies/documents/delete?customMetadata=miroir-42",
                "/indexes/movies/documents/a%20b?customMetadata=miroir-42",
                "/indexes/movies/documents/fetch",
                "/indexes/movies/settings",
                "/indexes/movies",
                "/indexes",
            ]
        );
        assert!(kind_takes_marker(TaskKind::DocumentDeletion));
        assert!(!kind_takes_marker(TaskKind::SettingsUpdate));
        assert!(!kind_takes_marker(TaskKind::IndexCreation));
    }
}
