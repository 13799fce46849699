//! A `redis-server` child process on a free loopback port, with a watchdog that kills it when the
//! test process is gone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::HarnessError;
use crate::resp;
use crate::server::{RedisOptions, SHUTDOWN_TIMEOUT, wait_until_ping};
use crate::watchdog::{Watchdog, free_port, reap};

/// Attempts at finding a port nobody takes between our probe and the server's `bind`.
const PORT_ATTEMPTS: usize = 8;

/// `cluster-node-timeout` of cluster-mode servers, in milliseconds: short, but long enough that
/// a node starved of CPU by a parallel build is not marked failing (which would take the whole
/// cluster down, as no node has a replica).
const CLUSTER_NODE_TIMEOUT_MS: &str = "5000";

/// Message of the error when no `redis-server` binary exists.
const NO_REDIS: &str = "no redis for tests: install the Debian package `redis-server` (or set \
    MIROIR_REDIS_SERVER to a redis-server binary), or run a Docker engine so testcontainers can \
    start the `redis` image";

/// A running (or stopped) local server; its data directory lives as long as the value.
#[derive(Debug)]
pub(crate) struct LocalRedis {
    binary: PathBuf,
    options: RedisOptions,
    data_dir: TempDir,
    port: u16,
    /// The cluster bus port, for a server in cluster mode.
    cluster_port: Option<u16>,
    running: Option<Running>,
}

/// The server process and the watchdog that kills it if the test process dies.
#[derive(Debug)]
struct Running {
    server: Child,
    watchdog: Watchdog,
}

/// Why a start attempt failed.
enum StartError {
    /// Someone took the port first: try another.
    PortTaken,
    Other(HarnessError),
}

impl From<HarnessError> for StartError {
    fn from(error: HarnessError) -> Self {
        Self::Other(error)
    }
}

impl LocalRedis {
    /// The `redis-server` binary: `$MIROIR_REDIS_SERVER`, else the first one on `PATH` or in the
    /// usual directories.
    pub(crate) fn binary() -> Result<PathBuf, HarnessError> {
        if let Some(path) = std::env::var_os("MIROIR_REDIS_SERVER") {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(HarnessError::new(format!(
                    "MIROIR_REDIS_SERVER={} is not a file",
                    path.display()
                )))
            };
        }
        find_on_path("redis-server").ok_or_else(|| HarnessError::new(NO_REDIS))
    }

    /// Starts a server on a free port.
    pub(crate) fn start(options: RedisOptions) -> Result<Self, HarnessError> {
        Self::start_mode(options, false)
    }

    /// Starts a server in cluster mode (default options, no persistence) on a free port, with
    /// its cluster bus on a second free port and `nodes.conf` in its data directory. The node
    /// knows no other node and serves no slot until a cluster is created with it.
    pub(crate) fn start_cluster_node() -> Result<Self, HarnessError> {
        Self::start_mode(RedisOptions::default(), true)
    }

    fn start_mode(options: RedisOptions, cluster: bool) -> Result<Self, HarnessError> {
        let binary = Self::binary()?;
        let data_dir = tempfile::Builder::new()
            .prefix("miroir-redis-")
            .tempdir()
            .map_err(|error| HarnessError::new(format!("cannot create a data dir: {error}")))?;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port("127.0.0.1")?;
            let cluster_port = if cluster {
                match free_port("127.0.0.1")? {
                    // The OS handed out the same port twice: draw both again.
                    same if same == port => continue,
                    other => Some(other),
                }
            } else {
                None
            };
            match spawn(&binary, &options, data_dir.path(), port, cluster_port) {
                Ok(running) => {
                    return Ok(Self {
                        binary,
                        options,
                        data_dir,
                        port,
                        cluster_port,
                        running: Some(running),
                    });
                }
                Err(StartError::PortTaken) => continue,
                Err(StartError::Other(error)) => return Err(error),
            }
        }
        Err(HarnessError::new(format!(
            "redis-server found no free port in {PORT_ATTEMPTS} attempts"
        )))
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The cluster bus port of a cluster-mode server; it stays the same across restarts.
    #[cfg(test)]
    pub(crate) fn cluster_port(&self) -> Option<u16> {
        self.cluster_port
    }

    /// `SIGKILL`s the server (and its watchdog) and reaps it.
    pub(crate) fn kill(&mut self) -> Result<(), HarnessError> {
        if let Some(mut running) = self.running.take() {
            // The watchdog goes first so it can never signal a reused pid.
            running.watchdog.disarm();
            reap(&mut running.server);
        }
        Ok(())
    }

    /// Asks the server to `SHUTDOWN` (flushing persistence) and waits for it to exit; kills it if
    /// it does not within [`SHUTDOWN_TIMEOUT`].
    pub(crate) fn shutdown(&mut self) -> Result<(), HarnessError> {
        let Some(running) = self.running.as_mut() else {
            return Ok(());
        };
        // On success the server closes the connection without replying, so the reply is an error.
        let _ = resp::command("127.0.0.1", self.port, &["SHUTDOWN"], SHUTDOWN_TIMEOUT);
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        while running
            .server
            .try_wait()
            .map_err(io("wait for redis-server"))?
            .is_none()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill()
    }

    /// Kills the server if it runs, then starts it again on the same port(s) and data directory
    /// (a cluster node keeps its `nodes.conf`, hence its identity and slots).
    pub(crate) fn restart(&mut self) -> Result<(), HarnessError> {
        self.kill()?;
        match spawn(
            &self.binary,
            &self.options,
            self.data_dir.path(),
            self.port,
            self.cluster_port,
        ) {
            Ok(running) => {
                self.running = Some(running);
                Ok(())
            }
            Err(StartError::PortTaken) => Err(HarnessError::new(format!(
                "cannot restart redis: port {}{} was taken by another process",
                self.port,
                self.cluster_port
                    .map(|bus| format!(" or cluster bus port {bus}"))
                    .unwrap_or_default()
            ))),
            Err(StartError::Other(error)) => Err(error),
        }
    }
}

/// The first file called `name` (`redis-server`, `redis-cli` …) in a `PATH` directory or, after
/// them, in `/usr/bin`, `/usr/local/bin` or `/usr/sbin`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(["/usr/bin", "/usr/local/bin", "/usr/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The cluster-mode arguments of a server whose cluster bus listens on `cluster_port`. The bus
/// port is explicit because the default (port + 10000) may be taken or exceed 65535.
fn cluster_args(cluster_port: u16) -> Vec<String> {
    [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-port",
        &cluster_port.to_string(),
        "--cluster-node-timeout",
        CLUSTER_NODE_TIMEOUT_MS,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Spawns the server (in cluster mode when `cluster_port` is set) and its watchdog and waits for
/// `PING`.
fn spawn(
    binary: &Path,
    options: &RedisOptions,
    data_dir: &Path,
    port: u16,
    cluster_port: Option<u16>,
) -> Result<Running, StartError> {
    let log_path = data_dir.join("redis.log");
    let mut server = Command::new(binary)
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--daemonize", "no"])
        .arg("--dir")
        .arg(data_dir)
        .arg("--logfile")
        .arg(&log_path)
        .args(options.server_args())
        .args(cluster_port.map(cluster_args).unwrap_or_default())
        .current_dir(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io("spawn redis-server"))?;
    let watchdog = match Watchdog::spawn("kill -9", &server.id().to_string()) {
        Ok(watchdog) => watchdog,
        Err(error) => {
            reap(&mut server);
            return Err(error.into());
        }
    };
    let mut running = Running { server, watchdog };
    let ready = wait_until_ping("127.0.0.1", port, || {
        match running
            .server
            .try_wait()
            .map_err(io("wait for redis-server"))?
        {
            None => Ok(()),
            Some(status) => Err(HarnessError::new(format!(
                "redis-server exited ({status}) on port {port}: {}",
                log_tail(&log_path)
            ))),
        }
    });
    match ready {
        Ok(()) => Ok(running),
        Err(error) => {
            running.watchdog.disarm();
            reap(&mut running.server);
            if log_tail(&log_path).contains("Address already in use") {
                Err(StartError::PortTaken)
            } else {
                Err(StartError::Other(error))
            }
        }
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The last lines of the server log, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> HarnessError {
    move |error| HarnessError::new(format!("cannot {what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_kills_the_server_when_its_pipe_closes() {
        let mut server = LocalRedis::start(RedisOptions::default()).expect("redis-server starts");
        let mut running = server.running.take().expect("the server runs");
        running.watchdog.fire();
        running
            .server
            .wait()
            .expect("the watchdog kills redis-server");
        assert!(resp::refuses_connections("127.0.0.1", server.port()));
    }

    fn node_command(server: &LocalRedis, args: &[&str]) -> resp::Reply {
        resp::command("127.0.0.1", server.port(), args, Duration::from_secs(5))
            .expect("the cluster node answers")
    }

    #[test]
    fn cluster_node_listens_on_its_bus_port_and_restart_keeps_ports_and_identity() {
        let mut node =
            LocalRedis::start_cluster_node().expect("a cluster-mode redis-server starts");
        let (port, bus) = (
            node.port(),
            node.cluster_port().expect("a cluster node has a bus port"),
        );
        assert_ne!(port, bus);
        assert!(!resp::refuses_connections("127.0.0.1", bus));
        let bus_config = resp::Reply::Array(Some(vec![
            resp::Reply::Bulk(Some(b"cluster-port".to_vec())),
            resp::Reply::Bulk(Some(bus.to_string().into_bytes())),
        ]));
        assert_eq!(
            node_command(&node, &["CONFIG", "GET", "cluster-port"]),
            bus_config
        );
        let id = node_command(&node, &["CLUSTER", "MYID"]);
        assert!(
            matches!(&id, resp::Reply::Bulk(Some(id)) if id.len() == 40),
            "{id:?}"
        );

        node.restart().expect("the cluster node restarts");
        assert_eq!((node.port(), node.cluster_port()), (port, Some(bus)));
        assert_eq!(
            node_command(&node, &["CONFIG", "GET", "cluster-port"]),
            bus_config
        );
        assert_eq!(node_command(&node, &["CLUSTER", "MYID"]), id);
    }
}
