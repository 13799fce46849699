//! Raw loopback HTTP for the benchmarks: free ports, readiness polls, one-shot `GET`s.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::{ChildGuard, Result};

/// How long a server gets to answer its first 200.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?)
}

/// Polls `GET path` about every millisecond until it answers 200.
pub fn wait_for_200(child: &mut ChildGuard, addr: SocketAddr, path: &str) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match http_get(addr, path) {
            Ok((200, _)) => return Ok(()),
            Ok((status, _)) => last = format!("status {status}"),
            Err(error) => last = error.to_string(),
        }
        child.check_alive()?;
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(format!(
        "{} did not answer 200 on GET {path} within {START_TIMEOUT:?} (last: {last})",
        child.name()
    )
    .into())
}

/// One raw HTTP/1.1 `GET` with `Connection: close`: the status and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_nodelay(true)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("truncated HTTP response")?;
    let head = std::str::from_utf8(&response[..split])?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("bad HTTP status line: {head:?}"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err("chunked responses are not supported".into());
    }
    Ok((status, response[split + 4..].to_vec()))
}
