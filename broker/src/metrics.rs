//! Metrics: the Prometheus recorder and the per-API request metrics.
//!
//! Metric handles are created once (per API here, per topic and partition in `topics`) so the
//! request paths only bump atomics.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use metrics::{Counter, Histogram};
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
