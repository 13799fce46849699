//! The container's server loop: hyper's HTTP/1.1 and HTTP/2 connections with a bound on
//! connections and on how long a client may take to send its headers, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use miroir_core::config::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How the server treats connections (from `miroir.server`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// A client that has not sent a request's complete headers this long after it started is
    /// disconnected (HTTP/1.1), so a trickling client cannot hold a connection forever.
    pub header_read_timeout: Duration,
    /// Connections served at once; further clients wait in the kernel's accept queue until one
    /// ends.
    pub max_connections: usize,
}

impl ServeOptions {
    /// The options `server` configures.
    pub fn from_config(server: &ServerConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
            max_connections: usize::try_from(server.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Binds `addr` (`host:port`) and serves `router` until SIGTERM or ctrl-c, then lets in-flight
/// requests finish.
pub async fn serve(router: Router, addr: &str, options: ServeOptions) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    serve_on(router, listener, options, shutdown_signal()).await
}

/// [`serve`] on a listener already bound, until `shutdown` resolves. Handlers see the peer's
/// address as `ConnectInfo<SocketAddr>` (read by [`crate::ClientIp`]). After `shutdown`, no
/// connection is accepted, idle connections are closed, and the call returns once every
/// in-flight request has been answered.
pub async fn serve_on(
    router: Router,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "listening");
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &connections) => accepted,
        };
        let Some((stream, peer, permit)) = accepted else {
            continue;
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // hyper's header timer starts once it reads a request head, which the HTTP/1.1 vs
            // HTTP/2 detection only does after a first byte: a client that sends nothing gets
            // the same bound here.
            let mut first = [0u8; 1];
            let header_timeout = options.header_read_timeout;
            if !matches!(
                tokio::time::timeout(header_timeout, stream.peek(&mut first)).await,
                Ok(Ok(1..))
            ) {
                tracing::debug!(%peer, "no request within the header-read timeout; closed");
                return;
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// The next connection, once a connection slot is free. `None` after an accept error (logged;
/// a full file table or an aborted handshake must not stop the server).
async fn accept(
    listener: &TcpListener,
    connections: &Arc<Semaphore>,
) -> Option<(
    tokio::net::TcpStream,
    SocketAddr,
    tokio::sync::OwnedSemaphorePermit,
)> {
    let permit = Arc::clone(connections).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, peer)) => {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%peer, error = %error, "cannot set TCP_NODELAY");
            }
            Some((stream, peer, permit))
        }
        Err(error) => {
            tracing::warn!(error = %error, "accept failed");
            // EMFILE and the like: give the table a moment instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// Resolves on ctrl-c or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
