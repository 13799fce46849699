//! The server loop over loopback: slow clients are cut off by the header-read timeout, and the
//! connection bound holds further clients back until a slot frees.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use miroir_http::{ServeOptions, serve_on};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Serves a `/health` router with `options` until the returned sender is dropped.
async fn server(options: ServeOptions) -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let router = Router::new().route("/health", get(|| async { "up" }));
    tokio::spawn(serve_on(router, listener, options, async move {
        let _ = stopped.await;
    }));
    (address, stop)
}

/// Writes `head` then one more header line every 400 ms until the server closes the
/// connection; returns how long after the first byte that took (`None`: still open after 10 s).
async fn trickle(address: std::net::SocketAddr, head: &str) -> Option<Duration> {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    if !head.is_empty() {
        stream.write_all(head.as_bytes()).await.unwrap();
    }
    let mut buffer = [0u8; 1024];
    for line in 0.. {
        if started.elapsed() > Duration::from_secs(10) {
            return None;
        }
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(400)) => {
                if !head.is_empty()
                    && stream.write_all(format!("x-slow-{line}: 1\r\n").as_bytes()).await.is_err()
                {
                    return Some(started.elapsed());
                }
            }
        }
    }
    unreachable!()
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_disconnected_at_the_timeout() {
    let (address, _stop) = server(ServeOptions {
        header_read_timeout: Duration::from_secs(2),
        max_connections: 16,
    })
    .await;
    let closed = trickle(address, "GET /health HTTP/1.1\r\nhost: x\r\n").await;
    let closed = closed.expect("the slow client was never disconnected");
    assert!(
        closed >= Duration::from_millis(1900) && closed < Duration::from_secs(3),
        "closed after {closed:?}"
    );
    // A client that connects and sends nothing is cut off the same way.
    let idle = trickle(address, "")
        .await
        .expect("an idle client was never disconnected");
    assert!(idle < Duration::from_secs(3), "closed after {idle:?}");
}

#[tokio::test]
async fn the_connection_bound_holds_further_clients_back() {
    let (address, _stop) = server(ServeOptions {
        header_read_timeout: Duration::from_secs(2),
        max_connections: 2,
    })
    .await;
    // Two slow clients take both slots.
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(trickle(address, "GET /health HTTP/1.1\r\nhost: x\r\n")))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut third = TcpStream::connect(address).await.unwrap();
    third
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    third.read_to_string(&mut answer).await.unwrap();
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        waited >= Duration::from_millis(1500),
        "answered after {waited:?}, before a slot was free"
    );
    for client in slow {
        assert!(client.await.unwrap().is_some());
    }
}
