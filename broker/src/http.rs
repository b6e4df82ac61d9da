//! The HTTP admin listener: `GET /metrics` (Prometheus text), `GET /health` (the process is
//! up), `GET /ready` (the broker has recovered its data and accepts Kafka connections), and
//! the table lookup API (`crate::http_tables`) and the storage view (`crate::http_storage`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::http_tables::BrokerCell;

#[derive(Clone)]
struct AppState {
    prometheus: PrometheusHandle,
    ready: Arc<AtomicBool>,
}

/// Serves the admin API until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    prometheus: PrometheusHandle,
    ready: Arc<AtomicBool>,
    broker: BrokerCell,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(readiness))
        .with_state(AppState { prometheus, ready })
        .merge(crate::http_tables::routes().with_state(broker.clone()))
        .merge(crate::http_storage::routes().with_state(broker));
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "HTTP admin listener failed");
    }
}

async fn metrics(State(state): State<AppState>) -> String {
    state.prometheus.render()
}

async fn readiness(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}
