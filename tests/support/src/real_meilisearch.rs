//! A real Meilisearch server as a child process, for the tests and benchmarks that compare
//! Miroir with the server it fronts (its binary comes from `MIROIR_MEILISEARCH_BIN`, e.g. the
//! output of `../shared/tools/meilisearch/meilisearch --print-path`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::HarnessError;
use crate::process::{Process, http, loopback_port};

/// How long a new server gets to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A real Meilisearch on a loopback port, answering `/health`; killed when dropped.
#[derive(Debug)]
pub struct RealMeilisearch {
    process: Process,
    port: u16,
}

impl RealMeilisearch {
    /// Starts `binary` with its data in `data_dir`, no analytics, logs at `WARN` on stderr, plus
    /// `extra_args`; returns once it answers `GET /health` with 200 (an error if it exits or
    /// does not answer within 30 s).
    pub fn start(
        binary: &Path,
        data_dir: &Path,
        extra_args: &[&str],
    ) -> Result<Self, HarnessError> {
        let port = loopback_port()?;
        let mut process = Process::spawn(
            Command::new(binary)
                .arg("--http-addr")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--db-path")
                .arg(data_dir)
                .args(["--no-analytics", "--log-level", "WARN"])
                .args(extra_args)
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        )?;
        let deadline = Instant::now() + START_TIMEOUT;
        while http(port, "GET", "/health", &[], "").is_none_or(|reply| reply.status != 200) {
            if let Some(code) = process.exit_code() {
                return Err(HarnessError::new(format!(
                    "meilisearch on port {port} exited ({code:?}) before answering"
                )));
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::new(format!(
                    "meilisearch on port {port} did not answer /health within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { process, port })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The exit code if the server has ended, without waiting.
    pub fn exit_code(&mut self) -> Option<Option<i32>> {
        self.process.exit_code()
    }

    /// Kills the server (`SIGKILL`) and waits until it has exited: connections to its port are
    /// refused from then on, like a node that crashed.
    pub fn kill(&mut self) -> Result<(), HarnessError> {
        self.process.signal("KILL")?;
        let deadline = Instant::now() + START_TIMEOUT;
        while self.process.exit_code().is_none() {
            if Instant::now() >= deadline {
                return Err(HarnessError::new(format!(
                    "meilisearch on port {} did not exit after SIGKILL",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}
