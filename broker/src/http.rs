//! The HTTP admin listener: `GET /metrics` (Prometheus text), `GET /health` (the process is
//! up), `GET /ready` (the broker has recovered its data and accepts Kafka connections), and
//! the table lookup API (`crate::http_tables`) and the storage view (`crate::http_storage`),
//! each request authenticated by `crate::http_auth`.
//!
//! The listener serves the axum router over hyper's HTTP/1 connection builder, which gives it
//! its limits (each counted in `weir_http_rejected_total{reason}` when it bites):
//!
//! - `http_max_connections` connections are served at once; while that many are open the
//!   acceptor waits, and further connections wait in the listen backlog (`max_connections`);
//! - a connection whose next request's headers have not all arrived within
//!   `http_header_read_timeout_ms` of starting to wait for them is closed (slowloris; an idle
//!   keep-alive connection ends the same way) (`header_timeout`); a request body that sends
//!   nothing for that long fails the request;
//! - a request body over `http_max_body_bytes` is refused with 413 (`body_too_large`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Extension;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use weir_auth::ServerTls;

use crate::config::BrokerConfig;
use crate::http_auth::{HttpSecurity, PeerAddr};
use crate::http_tables::BrokerCell;
use crate::limits::RateLimitedLog;
use crate::metrics::HttpRejection;

/// How long shutdown waits for open HTTP connections to finish their requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The limits of the HTTP listener (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed for a request's headers (and between body chunks).
    pub header_read_timeout: Duration,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// `/health`, `/ready` and `/metrics` answer unauthenticated callers.
    pub probes_open: bool,
}

impl Limits {
    /// The limits configured in `config`.
    pub fn from_config(config: &BrokerConfig) -> Self {
        Limits {
            max_connections: config.http_max_connections.clamp(1, u32::MAX as usize),
            header_read_timeout: Duration::from_millis(config.http_header_read_timeout_ms.max(1)),
            max_body_bytes: config.http_max_body_bytes,
            probes_open: config.http_probes_open,
        }
    }
}

#[derive(Clone)]
struct AppState {
    prometheus: PrometheusHandle,
    ready: Arc<AtomicBool>,
    broker: BrokerCell,
}

/// The admin API's routes with the body limits applied.
fn app(
    prometheus: PrometheusHandle,
    ready: Arc<AtomicBool>,
    broker: BrokerCell,
    limits: Limits,
    probes_open: bool,
) -> Router {
    let security = HttpSecurity {
        broker: broker.clone(),
        probes_open,
    };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(readiness))
        .with_state(AppState {
            prometheus,
            ready,
            broker: broker.clone(),
        })
        .merge(crate::http_tables::routes().with_state(broker.clone()))
        .merge(crate::http_storage::routes().with_state(broker.clone()))
        // One limit for every body, extractor or stream: tower-http's replaces axum's default.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        // The context routes stream their bodies and bound each message themselves.
        .merge(crate::http_context::routes().with_state(broker))
        .layer(axum::middleware::from_fn_with_state(
            security,
            crate::http_auth::authenticate,
        ))
        .layer(RequestBodyTimeoutLayer::new(limits.header_read_timeout))
        .layer(axum::middleware::map_response(count_refusals))
}

/// Counts the 413s of the body limit (answered by the limit layer or by an extractor that hit
/// it while reading).
async fn count_refusals(response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        HttpRejection::BodyTooLarge.count();
    }
    response
}

/// Serves the admin API (over TLS with `tls`) until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    prometheus: PrometheusHandle,
    ready: Arc<AtomicBool>,
    broker: BrokerCell,
    limits: Limits,
    tls: Option<Arc<ServerTls>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let router = app(prometheus, ready, broker, limits, limits.probes_open);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut full_log = RateLimitedLog::new(Duration::from_secs(1));
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                HttpRejection::MaxConnections.count();
                if let Some(count) = full_log.hit() {
                    tracing::warn!(
                        limit = limits.max_connections,
                        times_since_last_log = count,
                        "HTTP admin listener at http_max_connections: new connections wait"
                    );
                }
                tokio::select! {
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    _ = shutdown.changed() => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        // The outermost layer: every request of this connection carries its client address.
        let service = TowerToHyperService::new(router.clone().layer(Extension(PeerAddr(peer))));
        let http1 = http1.clone();
        let stop = shutdown.clone();
        let acceptor = tls.as_ref().map(|t| TlsAcceptor::from(t.current()));
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(&http1, TokioIo::new(stream), service, stop, peer).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => {
                            serve_connection(&http1, TokioIo::new(stream), service, stop, peer)
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "HTTP TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "HTTP TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    // Every open connection holds a slot: having them all back means all have finished.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Serves one connection's requests until it ends or `stop` fires (then lets the request in
/// flight finish).
async fn serve_connection<I, S>(
    http1: &hyper::server::conn::http1::Builder,
    io: I,
    service: S,
    mut stop: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send + 'static,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = http1.serve_connection(io, service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    match result {
        Err(e) if e.is_timeout() => {
            HttpRejection::HeaderTimeout.count();
            tracing::debug!(%peer, "HTTP connection closed: no complete request headers within the header read timeout");
        }
        Err(e) => tracing::debug!(%peer, error = %e, "HTTP connection failed"),
        Ok(()) => {}
    }
}

async fn metrics(State(state): State<AppState>) -> String {
    state.prometheus.render()
}

/// `200 ready` once the broker serves, followed by one `degraded:` line per table partition
/// whose state is behind its log (the rest of the broker serves); `503 starting` before.
async fn readiness(State(state): State<AppState>) -> (StatusCode, String) {
    if !state.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n".to_string());
    }
    let mut body = "ready\n".to_string();
    if let Some(broker) = state.broker.get() {
        for topic in broker.topics.list() {
            for p in topic.partitions().iter() {
                if let Some(fault) = p.table.as_ref().and_then(|t| t.fault()) {
                    body.push_str(&format!(
                        "degraded: table {} partition {}: {}\n",
                        topic.name,
                        p.index,
                        fault.escape_debug()
                    ));
                }
            }
        }
    }
    (StatusCode::OK, body)
}
