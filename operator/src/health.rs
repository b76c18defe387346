//! `/metrics` (Prometheus), `/healthz` (the process answers) and `/readyz` (it reached the API
//! server: it leads, or stands by for the Lease).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::metrics::Metrics;

/// Flips readiness once the controllers run.
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    pub fn ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
}

/// Starts the server.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<Health> {
    let ready = Arc::new(AtomicBool::new(false));
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(s): State<Shared>| async move { s.metrics.render() }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(s): State<Shared>| async move {
                if s.ready.load(Ordering::SeqCst) {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        )
        .with_state(Shared {
            metrics,
            ready: ready.clone(),
        });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("health server: {e}");
        }
    });
    Ok(Health { ready })
}
