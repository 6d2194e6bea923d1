//! The HTTP endpoints of `tiered run` (axum): `/metrics` (OpenMetrics text), `/healthz`
//! (200 while the process serves, 503 with the reason once a controller task failed) and `/readyz` (see [`crate::runtime::health`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::runtime::health::Health;
use crate::runtime::metrics::Metrics;

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// Health flags.
    pub health: Arc<Health>,
}

/// The router with every endpoint.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    // Read at each scrape from the health flags the elector keeps, so the gauge cannot
    // lag behind a takeover or a lost lease.
    state.metrics.set_leader(state.health.leads());
    match state.metrics.encode() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "failed to encode metrics\n".to_owned(),
        ),
    }
}

async fn healthz(State(state): State<HttpState>) -> (StatusCode, String) {
    match state.health.failure() {
        None => (StatusCode::OK, "ok\n".to_owned()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("failing: {reason}\n"),
        ),
    }
}

async fn readyz(State(state): State<HttpState>) -> (StatusCode, String) {
    let leader = state.health.leader();
    let synced = state.health.caches_synced();
    let body = format!("leader: {leader:?}\ncaches synced: {synced}\n");
    if state.health.ready() {
        (StatusCode::OK, body)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

/// Errors of [`BoundServer::bind`] and [`BoundServer::serve`].
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address could not be bound.
    #[error("failed to bind the metrics address {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("failed to serve HTTP")]
    Serve(#[source] std::io::Error),
}

/// A bound HTTP server, not yet serving (so the caller learns the port first).
#[derive(Debug)]
pub struct BoundServer {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl BoundServer {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr, state: HttpState) -> Result<Self, HttpError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        Ok(Self {
            listener,
            router: router(state),
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `stop` resolves.
    pub async fn serve(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), HttpError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(stop)
            .await
            .map_err(HttpError::Serve)
    }
}
