//! Unauthenticated clients cannot exhaust a `miroir` process: 50 concurrent clients each posting
//! a 100 MB body to the admin login (half with a declared length, half chunked) and 50 more to
//! an operator route are refused with 413 or 429 after at most `admin.max_body_bytes` read, while
//! `miroir`'s peak RSS stays under 256 MiB (`server.max_body_bytes` is left at its 100 MiB
//! default, the bound the login used to read up to); and a client trickling its headers is
//! disconnected at `server.header_read_timeout_ms` (2 s here).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use miroir_system_tests::command;
use miroir_test_support::process::{
    Process, http, loopback_port, parse_response, wait_until, workspace_binary,
};

use crate::fuzz::memory_kib;
use crate::report;

const ADMIN_KEY: &str = "resources-admin-key";
const BODY_BYTES: usize = 100 * 1024 * 1024;
const CLIENTS: usize = 50;
const PEAK_RSS_BOUND_KIB: u64 = 256 * 1024;

#[test]
fn big_unauthenticated_bodies_and_slow_clients_do_not_exhaust_miroir() {
    workspace_binary("miroir-migrate", "miroir-migrate").unwrap();
    workspace_binary("miroir-edge", "miroir").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let migrated = Command::new(workspace_binary("miroir-migrate", "miroir-migrate").unwrap())
        .args(["up", "--store", &store_url])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(migrated.success());
    let port = loopback_port().unwrap();
    let miroir = Process::spawn(
        command("miroir-edge", "miroir")
            .env("MIROIR_TASK_STORE_URL", &store_url)
            .env("MIROIR_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("MIROIR_ADMIN_API_KEY", ADMIN_KEY)
            .env("MIROIR_SERVER__HEADER_READ_TIMEOUT_MS", "2000")
            .env("MIROIR_BACKGROUND__ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .unwrap();
    wait_until("miroir to be ready", Duration::from_secs(30), || {
        http(port, "GET", "/_miroir/ready", &[], "").is_some_and(|reply| reply.status == 200)
    });
    let pid = miroir.id();
    let rss_before = memory_kib(pid, "VmRSS");

    let started = Instant::now();
    let clients: Vec<_> = (0..2 * CLIENTS)
        .map(|client| {
            std::thread::spawn(move || {
                let (path, key) = if client < CLIENTS {
                    ("/_miroir/admin/login", None)
                } else {
                    ("/_miroir/aliases", Some(ADMIN_KEY))
                };
                post_big(port, path, key, client % 2 == 0)
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut sent_mib = 0;
    for client in clients {
        let (status, sent) = client.join().unwrap();
        *statuses.entry(status).or_default() += 1;
        sent_mib += sent / (1024 * 1024);
    }
    let elapsed = started.elapsed();
    let rss_peak = memory_kib(pid, "VmHWM");
    for status in statuses.keys() {
        assert!(
            [413, 429].contains(status),
            "a 100 MB operator body was answered {status}: {statuses:?}"
        );
    }
    assert!(
        rss_peak < PEAK_RSS_BOUND_KIB,
        "miroir's peak RSS {rss_peak} KiB is over {PEAK_RSS_BOUND_KIB} KiB"
    );

    let closed = trickle(port).expect("a client trickling its headers was never disconnected");
    assert!(
        closed < Duration::from_secs(3),
        "disconnected after {closed:?}"
    );

    report(&format!(
        "resources: {} clients × 100 MB to /_miroir (login and aliases, declared and chunked) → \
         {statuses:?} in {:.1} s, {sent_mib} MiB accepted by the socket in all; miroir RSS {} MiB \
         before, peak {} MiB (bound {} MiB); a trickling client cut after {:.2} s (timeout 2 s)",
        2 * CLIENTS,
        elapsed.as_secs_f64(),
        rss_before / 1024,
        rss_peak / 1024,
        PEAK_RSS_BOUND_KIB / 1024,
        closed.as_secs_f64(),
    ));
}

/// Posts a 100 MB body (`chunked`, or with its length declared) from a reused 1 MiB buffer until
/// the server answers or closes; the status and how many bytes the socket took.
fn post_big(port: u16, path: &str, key: Option<&str>, chunked: bool) -> (u16, usize) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {BODY_BYTES}")
    };
    let auth = key.map_or_else(String::new, |key| format!("X-Admin-Key: {key}\r\n"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         {auth}{framing}\r\nConnection: close\r\n\r\n"
    );
    let sender = std::thread::spawn(move || {
        let chunk = vec![b' '; 1024 * 1024];
        let mut sent = 0;
        if writer.write_all(head.as_bytes()).is_err() {
            return sent;
        }
        while sent < BODY_BYTES {
            let written = if chunked {
                writer
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .and_then(|()| writer.write_all(&chunk))
                    .and_then(|()| writer.write_all(b"\r\n"))
            } else {
                writer.write_all(&chunk)
            };
            if written.is_err() {
                return sent;
            }
            sent += chunk.len();
        }
        if chunked {
            let _ = writer.write_all(b"0\r\n\r\n");
        }
        sent
    });
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    // The answer is in: stop the writer if the server did not already close on it.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let sent = sender.join().unwrap();
    let status =
        parse_response(&String::from_utf8_lossy(&response)).map_or(0, |reply| reply.status);
    (status, sent)
}

/// Sends a request head one header line every 400 ms; how long until the server closed the
/// connection (`None`: still open after 10 s).
fn trickle(port: u16) -> Option<Duration> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let started = Instant::now();
    let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n");
    let mut buffer = [0u8; 256];
    for line in 0.. {
        if started.elapsed() > Duration::from_secs(10) {
            return None;
        }
        match stream.read(&mut buffer) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if stream
                    .write_all(format!("X-Slow-{line}: 1\r\n").as_bytes())
                    .is_err()
                {
                    return Some(started.elapsed());
                }
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
    unreachable!()
}
