//! A minimal blocking RESP2 client: enough to PING, SET/GET and SHUTDOWN a test server.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::HarnessError;

/// A RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`, `+PONG` …
    Simple(String),
    /// `-ERR …`
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$n` bulk string; `None` for the nil bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` for the nil array.
    Array(Option<Vec<Reply>>),
}

/// Resolves `host:port` to one socket address.
fn address(host: &str, port: u16) -> Result<SocketAddr, HarnessError> {
    (host, port)
        .to_socket_addrs()
        .map_err(|error| HarnessError::new(format!("cannot resolve {host}:{port}: {error}")))?
        .next()
        .ok_or_else(|| HarnessError::new(format!("{host}:{port} resolves to no address")))
}

/// Sends one command and reads its reply, each step bounded by `timeout`.
pub(crate) fn command(
    host: &str,
    port: u16,
    args: &[&str],
    timeout: Duration,
) -> Result<Reply, HarnessError> {
    let io_error = |error: std::io::Error| {
        HarnessError::new(format!(
            "redis at {host}:{port} ({}): {error}",
            args.join(" ")
        ))
    };
    let stream = TcpStream::connect_timeout(&address(host, port)?, timeout).map_err(io_error)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    (&stream).write_all(&request).map_err(io_error)?;
    read_reply(&mut BufReader::new(&stream)).map_err(io_error)
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line
        .split_at_checked(1)
        .ok_or_else(|| invalid("empty reply line"))?;
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| invalid("bad length or integer"))
    };
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Integer(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Reply::Bulk(None),
            Ok(length) => {
                let mut data = vec![0; length + 2];
                reader.read_exact(&mut data)?;
                data.truncate(length);
                Reply::Bulk(Some(data))
            }
        },
        "*" => match usize::try_from(number()?) {
            Err(_) => Reply::Array(None),
            Ok(count) => Reply::Array(Some(
                (0..count)
                    .map(|_| read_reply(reader))
                    .collect::<std::io::Result<_>>()?,
            )),
        },
        _ => return Err(invalid("unknown reply type")),
    })
}

/// True when the server at `host:port` answers `PING` with `PONG` (not while loading its data).
pub(crate) fn answers_ping(host: &str, port: u16) -> bool {
    matches!(
        command(host, port, &["PING"], Duration::from_millis(500)),
        Ok(Reply::Simple(pong)) if pong == "PONG"
    )
}

/// True when a TCP connection to `host:port` is refused or times out.
pub(crate) fn refuses_connections(host: &str, port: u16) -> bool {
    match address(host, port) {
        Ok(address) => TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_err(),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_reply_type() {
        let wire = b"*5\r\n+OK\r\n-ERR no\r\n:42\r\n$3\r\na\r\n\r\n$-1\r\n*-1\r\n".to_vec();
        let mut reader = std::io::Cursor::new(wire);
        assert_eq!(
            read_reply(&mut reader).ok(),
            Some(Reply::Array(Some(vec![
                Reply::Simple("OK".into()),
                Reply::Error("ERR no".into()),
                Reply::Integer(42),
                Reply::Bulk(Some(b"a\r\n".to_vec())),
                Reply::Bulk(None),
            ])))
        );
        assert_eq!(read_reply(&mut reader).ok(), Some(Reply::Array(None)));
    }
}
