//! Helpers of the workspace-level tests in `tests/`: a fleet of Meilisearch-compatible test
//! nodes ([`Fleet`]) or of real Meilisearch servers ([`RealNodes`]), and a `miroir` process in
//! front of either ([`Miroir`]), driven over HTTP.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::process::{Command, Stdio};
use std::time::Duration;

use miroir_test_support::meilisearch::{TestNode, TestNodeOptions};
use miroir_test_support::process::{
    HttpReply, Process, http, loopback_port, wait_until, workspace_binary,
};
use miroir_test_support::real_meilisearch::RealMeilisearch;
use serde_json::Value;
use tokio::runtime::Runtime;

/// Workspace bin `bin` of `package` (built on demand), with every inherited `MIROIR_*` variable
/// removed so only what the test sets configures it.
pub fn command(package: &str, bin: &str) -> Command {
    let mut command = Command::new(workspace_binary(package, bin).unwrap());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MIROIR_") {
            command.env_remove(name);
        }
    }
    command
}

/// Three test nodes served by their own runtime, so the test body can block on HTTP.
pub struct Fleet {
    runtime: Runtime,
    /// The nodes, `meili-0`, `meili-1`, … in order.
    pub nodes: Vec<TestNode>,
    /// Replica group of each node.
    pub groups: Vec<u32>,
}

impl Fleet {
    /// `count` nodes, all in group 0 (change [`Fleet::groups`] before starting `miroir`).
    pub fn start(count: usize) -> Self {
        let runtime = Runtime::new().unwrap();
        let nodes = runtime.block_on(async {
            let mut nodes = Vec::new();
            for _ in 0..count {
                nodes.push(TestNode::start(TestNodeOptions::default()).await.unwrap());
            }
            nodes
        });
        Self {
            runtime,
            groups: vec![0; count],
            nodes,
        }
    }

    /// Stops node `index`: connections to it are refused.
    pub fn stop(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        self.runtime.block_on(node.stop());
    }
}

/// Nodes a `miroir` can front.
pub trait Nodes {
    /// `miroir.nodes` for these nodes, in their groups.
    fn nodes_yaml(&self) -> String;
    /// How many replica groups the nodes form.
    fn replica_groups(&self) -> u32;
}

impl Nodes for Fleet {
    fn nodes_yaml(&self) -> String {
        let entries: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                format!(
                    "{{id: meili-{index}, address: \"{}\", replica_group: {}}}",
                    node.url(),
                    self.groups[index]
                )
            })
            .collect();
        format!("[{}]", entries.join(", "))
    }

    fn replica_groups(&self) -> u32 {
        self.groups.iter().max().unwrap() + 1
    }
}

/// Real Meilisearch servers (the binary `MIROIR_MEILISEARCH_BIN` names, e.g. the 1.50 of
/// `../shared/tools/meilisearch/`), each with its own port and data directory, in group 0;
/// stopped when dropped.
pub struct RealNodes {
    nodes: Vec<RealMeilisearch>,
    _data: tempfile::TempDir,
}

impl RealNodes {
    /// `count` real nodes, answering `/health`; `None` when `MIROIR_MEILISEARCH_BIN` is unset,
    /// after printing that the calling test skipped.
    pub fn start(count: usize) -> Option<Self> {
        let Some(binary) = std::env::var_os("MIROIR_MEILISEARCH_BIN") else {
            eprintln!(
                "skipped: MIROIR_MEILISEARCH_BIN is not set (the path of a real meilisearch)"
            );
            return None;
        };
        let data = tempfile::tempdir().unwrap();
        let nodes = (0..count)
            .map(|index| {
                let dir = data.path().join(format!("node-{index}"));
                RealMeilisearch::start(binary.as_ref(), &dir, &["--env", "development"]).unwrap()
            })
            .collect();
        Some(Self { nodes, _data: data })
    }

    /// Node `index`'s port on 127.0.0.1.
    pub fn port(&self, index: usize) -> u16 {
        self.nodes[index].port()
    }

    /// Kills node `index` (`SIGKILL`): connections to it are refused from then on.
    pub fn stop(&mut self, index: usize) {
        self.nodes[index].kill().unwrap();
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl Nodes for RealNodes {
    fn nodes_yaml(&self) -> String {
        let entries: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(index, node)| format!("{{id: real-{index}, address: \"{}\"}}", node.url()))
            .collect();
        format!("[{}]", entries.join(", "))
    }

    fn replica_groups(&self) -> u32 {
        1
    }
}

/// A running `miroir` and its port.
pub struct Miroir {
    process: Process,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
}

impl Miroir {
    /// `miroir` over `store_url` in front of `fleet` with `replication_factor`, ready.
    pub fn start(fleet: &impl Nodes, store_url: &str, replication_factor: u32) -> Self {
        Self::start_with(fleet, store_url, replication_factor, &[])
    }

    /// [`Miroir::start`] with more environment variables (set last, so they win).
    pub fn start_with(
        fleet: &impl Nodes,
        store_url: &str,
        replication_factor: u32,
        env: &[(&str, &str)],
    ) -> Self {
        let migrate = Command::new(workspace_binary("miroir-migrate", "miroir-migrate").unwrap())
            .args(["up", "--store", store_url])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(migrate.success());
        let port = loopback_port().unwrap();
        let mut command = command("miroir-edge", "miroir");
        let process = Process::spawn(
            command
                .env("MIROIR_TASK_STORE_URL", store_url)
                .env("MIROIR_HTTP_ADDR", format!("127.0.0.1:{port}"))
                .env("MIROIR_NODES", fleet.nodes_yaml())
                .env("MIROIR_REPLICA_GROUPS", fleet.replica_groups().to_string())
                .env("MIROIR_SHARDS", "8")
                .env("MIROIR_REPLICATION_FACTOR", replication_factor.to_string())
                .env("MIROIR_SCATTER__NODE_TIMEOUT_MS", "2000")
                .env("MIROIR_LOG", "warn")
                .envs(env.iter().copied())
                .stdout(Stdio::null()),
        )
        .unwrap();
        wait_until("miroir to be ready", Duration::from_secs(20), || {
            http(port, "GET", "/_miroir/ready", &[], "").is_some_and(|reply| reply.status == 200)
        });
        Self { process, port }
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        self.process.signal(signal).unwrap();
    }

    /// The Prometheus text of `GET /_miroir/metrics`.
    pub fn metrics(&self) -> String {
        let reply = self.call("GET", "/_miroir/metrics", &Value::Null);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    /// The value of the sample `name{labels}` (labels exactly as rendered, e.g.
    /// `scope="maintenance"`; empty for none), 0 when absent.
    pub fn metric(&self, name: &str, labels: &str) -> f64 {
        let series = if labels.is_empty() {
            format!("{name} ")
        } else {
            format!("{name}{{{labels}}} ")
        };
        self.metrics()
            .lines()
            .find_map(|line| line.strip_prefix(&series))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// One request; `Value::Null` sends no body.
    pub fn call(&self, method: &str, path: &str, body: &Value) -> HttpReply {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        http(self.port, method, path, &[], &body).unwrap()
    }

    /// One request expected to succeed, its body as JSON.
    pub fn json(&self, method: &str, path: &str, body: &Value) -> Value {
        let reply = self.call(method, path, body);
        assert!(
            reply.status < 300,
            "{method} {path}: {} {}",
            reply.status,
            reply.body
        );
        serde_json::from_str(&reply.body).unwrap()
    }

    /// Polls task `uid` until it is terminal; returns it.
    pub fn wait_task(&self, uid: u64) -> Value {
        let mut task = Value::Null;
        wait_until(&format!("task {uid}"), Duration::from_secs(20), || {
            task = self.json("GET", &format!("/tasks/{uid}"), &Value::Null);
            matches!(
                task["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            )
        });
        task
    }

    /// Sends a write, expects 202, waits for success.
    pub fn write(&self, method: &str, path: &str, body: &Value) -> Value {
        let reply = self.call(method, path, body);
        assert_eq!(reply.status, 202, "{method} {path}: {}", reply.body);
        let uid = serde_json::from_str::<Value>(&reply.body).unwrap()["taskUid"]
            .as_u64()
            .unwrap();
        let task = self.wait_task(uid);
        assert_eq!(task["status"], "succeeded", "{task}");
        task
    }

    /// `POST /indexes/{index}/search`.
    pub fn search(&self, index: &str, body: Value) -> Value {
        self.json("POST", &format!("/indexes/{index}/search"), &body)
    }
}
