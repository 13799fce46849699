//! A Meilisearch-compatible test node: an in-memory server speaking the subset of the Meilisearch
//! v1.x REST API Miroir uses, with Meilisearch's exact JSON shapes, so that Miroir (and unmodified
//! SDKs) cannot tell it from Meilisearch on these routes. A test fixture, never shipped.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use miroir_test_support::meilisearch::{TestNode, TestNodeOptions};
//! let mut node = TestNode::start(TestNodeOptions::default()).await?;
//! let url = node.url(); // http://127.0.0.1:PORT, talk to it with any HTTP client
//! node.faults().set_latency(std::time::Duration::from_millis(200)); // a slow node
//! node.stop().await; // connections refused: a node down
//! node.restart().await?; // same port, same data
//! # Ok(()) }
//! ```
//!
//! Routes: `GET /health`, `GET /version`, `GET /stats`, `GET /tasks`, `GET /tasks/{uid}`,
//! `GET|POST /indexes`, `GET|PATCH|DELETE /indexes/{uid}`, `GET /indexes/{uid}/stats`,
//! `GET|PATCH|DELETE /indexes/{uid}/settings` and `GET|PUT|PATCH|DELETE
//! /indexes/{uid}/settings/{filterable-attributes,sortable-attributes,…}`, the documents routes
//! (add/replace, add/update, list, fetch, get one, delete one/batch/by filter/all),
//! `GET|POST /indexes/{uid}/search`, `POST /indexes/{uid}/facet-search` (prefix match, no typo
//! tolerance or Unicode normalization) and `POST /multi-search`. Anything else is a Meilisearch-shaped
//! 404. Writes are asynchronous tasks processed one at a time in uid order (see [`Faults`] for the
//! processing delay); failures are failed tasks, as in Meilisearch.
//!
//! What the node guarantees: deterministic answers (same requests, same responses but for
//! timestamps and `processingTimeMs`), no panic on any input, and Meilisearch's error shape on
//! every failure. What it does not do: API keys other than the master key, task cancelation and
//! deletion, swaps, dumps, snapshots, NDJSON/CSV payloads, typo tolerance, highlighting, distinct,
//! geo and vector search (see the `search` module for the naive ranking).

mod apply;
mod clock;
mod documents;
mod error;
mod faults;
mod fields;
mod filter;
mod routes;
mod search;
mod server;
mod settings;
mod state;
mod tasks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinHandle;

pub use faults::Faults;

use server::Listener;
use state::Node;

/// How a [`TestNode`] starts.
#[derive(Clone, Debug)]
pub struct TestNodeOptions {
    /// The master key every route but `GET /health` requires (`Authorization: Bearer <key>`);
    /// `None`: no authentication.
    pub master_key: Option<String>,
    /// How long each task stays `processing` (changeable later with
    /// [`Faults::set_task_delay`]).
    pub task_delay: Duration,
}

impl Default for TestNodeOptions {
    /// No master key, 2 ms per task.
    fn default() -> Self {
        Self {
            master_key: None,
            task_delay: Duration::from_millis(2),
        }
    }
}

/// A running test node. Dropping it stops the server and the task processor.
#[derive(Debug)]
pub struct TestNode {
    node: Arc<Node>,
    address: SocketAddr,
    listener: Option<Listener>,
    processor: JoinHandle<()>,
}

impl TestNode {
    /// Starts a node on a free port of 127.0.0.1.
    pub async fn start(options: TestNodeOptions) -> std::io::Result<TestNode> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), options).await
    }

    /// Starts a node listening on `address` (port 0: a free port).
    pub async fn start_on(
        address: SocketAddr,
        options: TestNodeOptions,
    ) -> std::io::Result<TestNode> {
        let node = Arc::new(Node::new(
            options.master_key,
            Faults::new(options.task_delay),
        ));
        let (listener, address) = Listener::open(node.clone(), address).await?;
        node.set_serving(true);
        let processor = tokio::spawn(tasks::process(node.clone()));
        Ok(TestNode {
            node,
            address,
            listener: Some(listener),
            processor,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address the node listens on (also while stopped: the one it will listen on again).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The live fault switches.
    pub fn faults(&self) -> &Faults {
        &self.node.faults
    }

    /// Closes the listener: connections are refused from when this returns (in-flight requests
    /// get up to 5 s to finish), and the task processor pauses (its queue is kept). A no-op when
    /// already stopped.
    pub async fn stop(&mut self) {
        if let Some(listener) = self.listener.take() {
            self.node.set_serving(false);
            listener.close().await;
        }
    }

    /// Listens again on the same port with the same data, and resumes task processing. A no-op
    /// when running.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        if self.listener.is_none() {
            let (listener, _) = Listener::open(self.node.clone(), self.address).await?;
            self.listener = Some(listener);
            self.node.set_serving(true);
        }
        Ok(())
    }

    /// Whether the node is listening.
    pub fn is_running(&self) -> bool {
        self.listener.is_some()
    }

    /// How many documents index `index` holds (0 if it does not exist).
    pub fn document_count(&self, index: &str) -> usize {
        self.node
            .lock()
            .indexes
            .get(index)
            .map_or(0, |index| index.documents.len())
    }

    /// The documents of index `index` in insertion order (empty if it does not exist).
    pub fn documents(&self, index: &str) -> Vec<Value> {
        self.node
            .lock()
            .indexes
            .get(index)
            .map(|index| {
                index
                    .documents
                    .iter()
                    .map(|(_, document)| Value::Object(document.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The full settings object of index `index`, if it exists.
    pub fn settings(&self, index: &str) -> Option<Value> {
        self.node
            .lock()
            .indexes
            .get(index)
            .map(|index| Value::Object(index.settings.clone()))
    }

    /// How many requests with `method` (case-insensitive) and a path (without query string)
    /// starting with `path_prefix` the node received, whatever their answer.
    pub fn request_count(&self, method: &str, path_prefix: &str) -> usize {
        self.node.request_count(method, path_prefix)
    }

    /// Waits until no task is enqueued or processing; `false` if `timeout` passed first.
    pub async fn wait_for_tasks(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let busy = {
                let state = self.node.lock();
                state.tasks.values().any(|task| task.finished_at.is_none())
            };
            if !busy {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.processor.abort();
        self.node.set_serving(false);
    }
}
