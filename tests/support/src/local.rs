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
        let path_dirs = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default();
        path_dirs
            .into_iter()
            .chain(["/usr/bin", "/usr/local/bin", "/usr/sbin"].map(PathBuf::from))
            .map(|dir| dir.join("redis-server"))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| HarnessError::new(NO_REDIS))
    }

    /// Starts a server on a free port.
    pub(crate) fn start(options: RedisOptions) -> Result<Self, HarnessError> {
        let binary = Self::binary()?;
        let data_dir = tempfile::Builder::new()
            .prefix("miroir-redis-")
            .tempdir()
            .map_err(|error| HarnessError::new(format!("cannot create a data dir: {error}")))?;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port("127.0.0.1")?;
            match spawn(&binary, &options, data_dir.path(), port) {
                Ok(running) => {
                    return Ok(Self {
                        binary,
                        options,
                        data_dir,
                        port,
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

    /// Kills the server if it runs, then starts it again on the same port and data directory.
    pub(crate) fn restart(&mut self) -> Result<(), HarnessError> {
        self.kill()?;
        match spawn(&self.binary, &self.options, self.data_dir.path(), self.port) {
            Ok(running) => {
                self.running = Some(running);
                Ok(())
            }
            Err(StartError::PortTaken) => Err(HarnessError::new(format!(
                "cannot restart redis: port {} was taken by another process",
                self.port
            ))),
            Err(StartError::Other(error)) => Err(error),
        }
    }
}

/// Spawns the server and its watchdog and waits for `PING`.
fn spawn(
    binary: &Path,
    options: &RedisOptions,
    data_dir: &Path,
    port: u16,
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
}
