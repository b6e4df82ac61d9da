//! Metrics: the Prometheus recorder and the per-API request metrics.
//!
//! Metric handles are created once (per API here, per topic and partition in `topics`) so the
//! request paths only bump atomics.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the process-wide recorder (once; later calls share it); the handle renders
/// `/metrics`.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    let mut slot = HANDLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(&[
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0, 10.0,
        ])?
        .install_recorder()?;
    *slot = Some(handle.clone());
    Ok(handle)
}

/// Request count and latency of one API.
pub struct ApiMetrics {
    requests: Counter,
    latency: Histogram,
}

impl ApiMetrics {
    /// The metrics of `key` (`weir_requests_total{api=…}`, `weir_request_duration_seconds{api=…}`).
    pub fn get(key: ApiKey) -> &'static ApiMetrics {
        static ALL: OnceLock<HashMap<ApiKey, ApiMetrics>> = OnceLock::new();
        let all = ALL.get_or_init(|| {
            ApiKey::iter()
                .map(|k| {
                    let label = [("api", format!("{k:?}"))];
                    (
                        k,
                        ApiMetrics {
                            requests: metrics::counter!("weir_requests_total", &label),
                            latency: metrics::histogram!("weir_request_duration_seconds", &label),
                        },
                    )
                })
                .collect()
        });
        // Every ApiKey is in the map: it was built from ApiKey::iter().
        &all[&key]
    }

    /// Counts one request that took `elapsed`.
    pub fn record(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.latency.record(elapsed.as_secs_f64());
    }
}

/// Why a Kafka connection was refused at accept or closed by the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionRefusal {
    /// `max.connections` reached.
    MaxConnections,
    /// `max.connections.per.ip` reached for the peer's address.
    MaxConnectionsPerIp,
}

impl ConnectionRefusal {
    /// The `reason` label (and log wording) of this refusal.
    pub fn reason(self) -> &'static str {
        match self {
            ConnectionRefusal::MaxConnections => "max_connections",
            ConnectionRefusal::MaxConnectionsPerIp => "max_connections_per_ip",
        }
    }
}

/// Metrics of the Kafka listener's connections (`weir_connections_open`,
/// `weir_connections_rejected_total{reason}`, `weir_connections_closed_total{reason}`).
pub struct ConnectionMetrics {
    /// Kafka connections open now.
    pub open: Gauge,
    rejected_max: Counter,
    rejected_per_ip: Counter,
    /// Connections closed after `connections.max.idle.ms` without activity.
    pub closed_idle: Counter,
    /// Connections closed because a frame or request could not be decoded (logged at debug:
    /// a hostile client must not flood the log).
    pub closed_bad_request: Counter,
}

impl ConnectionMetrics {
    /// The process-wide handles (registered on first use, so they show as 0 from startup
    /// when [`server`](crate::server) touches them).
    pub fn get() -> &'static ConnectionMetrics {
        static ALL: OnceLock<ConnectionMetrics> = OnceLock::new();
        ALL.get_or_init(|| ConnectionMetrics {
            open: metrics::gauge!("weir_connections_open"),
            rejected_max: metrics::counter!("weir_connections_rejected_total", "reason" => "max_connections"),
            rejected_per_ip: metrics::counter!("weir_connections_rejected_total", "reason" => "max_connections_per_ip"),
            closed_idle: metrics::counter!("weir_connections_closed_total", "reason" => "idle"),
            closed_bad_request: metrics::counter!("weir_connections_closed_total", "reason" => "bad_request"),
        })
    }

    /// Counts one connection refused at accept.
    pub fn rejected(&self, why: ConnectionRefusal) {
        match why {
            ConnectionRefusal::MaxConnections => self.rejected_max.increment(1),
            ConnectionRefusal::MaxConnectionsPerIp => self.rejected_per_ip.increment(1),
        }
    }
}

/// Why the HTTP admin listener refused or cut short a request
/// (`weir_http_rejected_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpRejection {
    /// `http_max_connections` connections were open: the acceptor waited for one to close.
    MaxConnections,
    /// The request headers did not arrive within `http_header_read_timeout_ms`.
    HeaderTimeout,
    /// The body was larger than `http_max_body_bytes` (413).
    BodyTooLarge,
    /// A batch lookup named more than `http_max_lookup_keys` keys (400).
    TooManyKeys,
}

impl HttpRejection {
    /// The `reason` label.
    pub fn reason(self) -> &'static str {
        match self {
            HttpRejection::MaxConnections => "max_connections",
            HttpRejection::HeaderTimeout => "header_timeout",
            HttpRejection::BodyTooLarge => "body_too_large",
            HttpRejection::TooManyKeys => "too_many_keys",
        }
    }

    /// Counts one rejection.
    pub fn count(self) {
        metrics::counter!("weir_http_rejected_total", "reason" => self.reason()).increment(1);
    }
}
