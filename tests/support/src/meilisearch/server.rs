//! The HTTP side: the axum router of every route, the layers around it (request log and latency
//! fault outside everything; authentication and the reject-writes fault on matched routes), the
//! 404 fallback, and a listener that can be closed and reopened on the same port.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::error::ApiError;
use super::routes::{Shared, documents, indexes, search, settings, system};

/// Meilisearch's default payload limit (100 MB).
const BODY_LIMIT: usize = 100 * 1024 * 1024;

/// The router of every route the node serves.
pub(crate) fn router(node: Shared) -> Router {
    let routes = Router::new()
        .route("/health", get(system::health))
        .route("/version", get(system::version))
        .route("/stats", get(system::stats))
        .route("/tasks", get(system::list_tasks))
        .route("/tasks/{uid}", get(system::get_task))
        .route("/multi-search", post(search::multi))
        .route("/indexes", get(indexes::list).post(indexes::create))
        .route(
            "/indexes/{uid}",
            get(indexes::get)
                .patch(indexes::update)
                .delete(indexes::delete),
        )
        .route("/indexes/{uid}/stats", get(indexes::stats))
        .route(
            "/indexes/{uid}/settings",
            get(settings::get_all)
                .patch(settings::update_all)
                .delete(settings::reset_all),
        )
        .route(
            "/indexes/{uid}/settings/{setting}",
            get(settings::get_one)
                .put(settings::update_one)
                .patch(settings::update_one)
                .delete(settings::reset_one),
        )
        .route(
            "/indexes/{uid}/documents",
            get(documents::list)
                .post(documents::add_or_replace)
                .put(documents::add_or_update)
                .delete(documents::delete_all),
        )
        .route("/indexes/{uid}/documents/fetch", post(documents::fetch))
        .route(
            "/indexes/{uid}/documents/delete-batch",
            post(documents::delete_batch),
        )
        .route(
            "/indexes/{uid}/documents/delete",
            post(documents::delete_by_filter),
        )
        .route(
            "/indexes/{uid}/documents/{id}",
            get(documents::get_one).delete(documents::delete_one),
        )
        .route("/indexes/{uid}/search", get(search::get).post(search::post))
        .route("/indexes/{uid}/facet-search", post(search::facet))
        .route_layer(middleware::from_fn_with_state(node.clone(), guard));
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(node.clone(), observe))
        .with_state(node)
}

/// 404 `not_found` for every unknown route (and known routes with another method).
async fn not_found() -> Response {
    ApiError::new("not_found", "Not Found.").into_response()
}

/// Records the request, lets it be handled, then applies the latency fault.
async fn observe(State(node): State<Shared>, request: Request, next: Next) -> Response {
    node.record_request(request.method().as_str(), request.uri().path());
    tracing::debug!(method = %request.method(), path = request.uri().path(), "request");
    let response = shape_errors(next.run(request).await).await;
    let latency = node.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    response
}

/// Gives axum's own rejections (plain-text 4xx/5xx, e.g. an undecodable path parameter)
/// Meilisearch's error shape, so no failure escapes it.
async fn shape_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::INTERNAL_SERVER_ERROR => "internal",
        _ => "bad_request",
    };
    ApiError::new(code, text).into_response()
}

/// Whether a request is a write (it would enqueue a task).
fn is_write(method: &Method, path: &str) -> bool {
    let reading_post =
        path.ends_with("/search") || path == "/multi-search" || path.ends_with("/documents/fetch");
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => false,
        Method::POST => !reading_post,
        _ => true,
    }
}

/// The master key (every route but `/health`), then the reject-writes fault.
async fn guard(State(node): State<Shared>, request: Request, next: Next) -> Response {
    if let Some(master_key) = &node.master_key {
        if request.uri().path() != "/health" {
            let token = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim);
            match token {
                None => {
                    return ApiError::new(
                        "missing_authorization_header",
                        "The Authorization header is missing. It must use the bearer \
                         authorization method.",
                    )
                    .into_response();
                }
                Some(token) if token != master_key => {
                    return ApiError::new("invalid_api_key", "The provided API key is invalid.")
                        .into_response();
                }
                Some(_) => {}
            }
        }
    }
    if node.faults.reject_writes() && is_write(request.method(), request.uri().path()) {
        return ApiError::internal(
            "simulated internal error: the node rejects writes (reject_writes fault)",
        )
        .into_response();
    }
    next.run(request).await
}

/// A running listener: closing it refuses new connections.
#[derive(Debug)]
pub(crate) struct Listener {
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// How long [`Listener::close`] lets in-flight requests finish before cutting them.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

impl Listener {
    /// Binds `address` (with `SO_REUSEADDR`, so a closed port can be bound again at once) and
    /// serves `node` on it; the bound address.
    pub(crate) async fn open(
        node: Shared,
        address: SocketAddr,
    ) -> std::io::Result<(Self, SocketAddr)> {
        let socket = if address.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(address)?;
        let listener = socket.listen(1024)?;
        let bound = listener.local_addr()?;
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = axum::serve(listener, router(node)).with_graceful_shutdown(async move {
            let _ = signal.await;
        });
        let task = tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::warn!(%error, "test node server stopped");
            }
        });
        Ok((
            Self {
                shutdown: Some(shutdown),
                task,
            },
            bound,
        ))
    }

    /// Stops accepting (the port refuses connections when this returns), closes idle
    /// connections, and waits up to 5 s for in-flight requests before cutting them.
    pub(crate) async fn close(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if tokio::time::timeout(CLOSE_GRACE, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_the_routes_that_enqueue() {
        assert!(is_write(&Method::POST, "/indexes/movies/documents"));
        assert!(is_write(&Method::DELETE, "/indexes/movies"));
        assert!(is_write(&Method::PATCH, "/indexes/movies/settings"));
        assert!(!is_write(&Method::POST, "/indexes/movies/search"));
        assert!(!is_write(&Method::POST, "/multi-search"));
        assert!(!is_write(&Method::POST, "/indexes/movies/documents/fetch"));
        assert!(!is_write(&Method::GET, "/indexes/movies/documents"));
    }
}
