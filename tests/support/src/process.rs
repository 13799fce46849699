//! Helpers for tests that run Miroir's binaries as real processes and talk HTTP to them.
//!
//! - [`workspace_binary`]: the path of a workspace bin, built (or found up to date) by cargo, so a
//!   test in any crate can run `miroir` and `miroir-migrate` side by side;
//! - [`Process`]: a child killed when the test ends, however it ends;
//! - [`http`]: one HTTP/1.1 exchange over a fresh loopback connection, without a client library
//!   that could hide what the server sent;
//! - [`wait_until`] and [`loopback_port`].

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::HarnessError;

/// The path of bin `bin` of workspace package `package`, built with the profile of the running
/// test (dev, or release under `cargo test --release`) into the target directory it runs from.
/// Builds at most once per (package, bin) and test process, so the binary is never stale, and
/// costs a no-op `cargo build` when it is up to date.
pub fn workspace_binary(package: &str, bin: &str) -> Result<PathBuf, HarnessError> {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut built = built
        .lock()
        .map_err(|_| HarnessError::new("a previous build panicked"))?;
    if let Some(path) = built.get(bin) {
        return Ok(path.clone());
    }
    let profile_dir = profile_dir()?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| HarnessError::new("the test binary is not inside a target directory"))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", package, "--bin", bin]);
    // A test built with `--release` runs from target/release: build the bin there too.
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    let status = build
        .env("CARGO_TARGET_DIR", target_dir)
        .status()
        .map_err(|error| HarnessError::new(format!("cannot run cargo build: {error}")))?;
    if !status.success() {
        return Err(HarnessError::new(format!(
            "cargo build -p {package} --bin {bin} failed ({status})"
        )));
    }
    let path = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    built.insert(bin.to_owned(), path.clone());
    Ok(path)
}

/// `target/debug` (or the profile this test was built with): the parent of the `deps` folder that
/// holds the running test binary.
fn profile_dir() -> Result<PathBuf, HarnessError> {
    let exe = std::env::current_exe()
        .map_err(|error| HarnessError::new(format!("cannot locate the test binary: {error}")))?;
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .ok_or_else(|| HarnessError::new("the test binary is not inside target/<profile>/deps"))
}

/// A child process that is killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Process(Child);

impl Process {
    /// Spawns `command`.
    pub fn spawn(command: &mut Command) -> Result<Self, HarnessError> {
        command
            .spawn()
            .map(Self)
            .map_err(|error| HarnessError::new(format!("cannot spawn {command:?}: {error}")))
    }

    /// The operating-system process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`, …) with `kill(1)`.
    pub fn signal(&self, signal: &str) -> Result<(), HarnessError> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.0.id().to_string())
            .status()
            .map_err(|error| HarnessError::new(format!("cannot run kill: {error}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(HarnessError::new(format!(
                "kill -{signal} {} failed",
                self.0.id()
            )))
        }
    }

    /// Its standard output, when spawned with `Stdio::piped()` (once: later calls get `None`).
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.0.stdout.take()
    }

    /// The exit code if the process has ended, without waiting.
    pub fn exit_code(&mut self) -> Option<Option<i32>> {
        self.0.try_wait().ok().flatten().map(|status| status.code())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; bind it soon).
pub fn loopback_port() -> Result<u16, HarnessError> {
    crate::watchdog::free_port("127.0.0.1")
}

/// An HTTP response as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl HttpReply {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Sends `method path` to 127.0.0.1:`port` with the extra `headers` (name, value) and `body`,
/// with `Connection: close`, and reads the whole response (5 s read timeout). `None` while
/// nothing listens or when the response cannot be read.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<HttpReply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    parse_response(&response)
}

/// A whole HTTP/1.1 response as read off the socket (status line, headers, blank line, body
/// without chunked framing); `None` if it is cut short before the body.
pub fn parse_response(response: &str) -> Option<HttpReply> {
    let (head, body) = response.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some(HttpReply {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// `GET path` with the extra `headers` (see [`http`]).
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> Option<HttpReply> {
    http(port, "GET", path, headers, "")
}

/// Polls `done` every 20 ms until it is true; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
