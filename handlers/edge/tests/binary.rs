//! The real `miroir` binary in its own process: readiness before and after an outside migration,
//! and an invalid configuration.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn miroir() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_miroir"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MIROIR_") {
            command.env_remove(name);
        }
    }
    command
}

/// `GET path` over raw HTTP/1.1: (status, body), or `None` while nothing listens.
fn get(port: u16, path: &str, headers: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())?;
    Some((status, body))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_gate_opens_after_an_outside_migration() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let port = free_port();
    let _server = Server(
        miroir()
            .env("MIROIR_TASK_STORE_URL", &url)
            .env("MIROIR_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("MIROIR_ADMIN_API_KEY", "admin-secret")
            .env("MIROIR_READINESS_INTERVAL_MS", "200")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let admin = "X-Admin-Key: admin-secret\r\n";

    wait_for("the listener", || get(port, "/health", "").is_some());
    let (status, body) = get(port, "/health", "").unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"status":"available"}"#));
    let (status, body) = get(port, "/_miroir/ready", admin).unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("miroir_schema_mismatch"), "{body}");
    assert_eq!(get(port, "/_miroir/ready", "").unwrap().0, 401);
    assert_eq!(get(port, "/tasks", "").unwrap().0, 503);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = miroir_store::open(&url).await.unwrap();
        store.migrate().await.unwrap();
    });

    wait_for("the gate to open", || {
        get(port, "/_miroir/ready", admin).is_some_and(|(status, _)| status == 200)
    });
    let (_, body) = get(port, "/_miroir/ready", admin).unwrap();
    assert!(body.contains(r#""status":"ready""#), "{body}");
    let (status, body) = get(port, "/tasks", "").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""results":[]"#), "{body}");
}

#[test]
fn an_invalid_configuration_exits_1_naming_the_key() {
    let output = miroir().env("MIROIR_SHARDS", "0").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("miroir.shards"), "{stderr}");
}
