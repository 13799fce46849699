//! The container's server loop.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// Binds `addr` (`host:port`) and serves `router` until SIGTERM or ctrl-c, then lets in-flight
/// requests finish.
pub async fn serve(router: Router, addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    serve_on(router, listener).await
}

/// [`serve`] on a listener already bound. Handlers see the peer's address as
/// `ConnectInfo<SocketAddr>` (read by [`crate::ClientIp`]).
pub async fn serve_on(router: Router, listener: TcpListener) -> std::io::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("stopped");
    Ok(())
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
