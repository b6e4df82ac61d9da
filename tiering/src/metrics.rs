//! Metric handles of tiering: per partition (backlog, remote size), per operation (object
//! store errors), and the upload / remote-read latency histograms.

use metrics::{Counter, Gauge, Histogram};

/// Handles of one partition, labelled `topic`, `partition`.
pub struct PartitionMetrics {
    /// `weir_tiering_pending_segments`: closed segments not yet uploaded.
    pub pending_segments: Gauge,
    /// `weir_tiering_pending_bytes`: their bytes.
    pub pending_bytes: Gauge,
    /// `weir_remote_log_segments`: segments in the manifest.
    pub remote_segments: Gauge,
    /// `weir_remote_log_bytes`: bytes of their objects.
    pub remote_bytes: Gauge,
    /// `weir_remote_log_start_offset`: first offset readable from the store (-1: none).
    pub remote_start: Gauge,
    /// `weir_remote_log_end_offset`: offset after the last tiered segment (-1: none).
    pub remote_end: Gauge,
    /// `weir_tiering_uploaded_bytes_total`: bytes of objects uploaded.
    pub uploaded_bytes: Counter,
    /// `weir_remote_read_bytes_total`: bytes of record batches served from the store.
    pub remote_read_bytes: Counter,
    /// `weir_remote_read_errors_total`: fetches the store could not serve (object missing
    /// or damaged, store unreachable).
    pub remote_read_errors: Counter,
}

impl PartitionMetrics {
    /// Registers the handles of `topic`/`partition`.
    pub fn new(topic: &str, partition: i32) -> PartitionMetrics {
        let labels = [
            ("topic", topic.to_string()),
            ("partition", partition.to_string()),
        ];
        PartitionMetrics {
            pending_segments: metrics::gauge!("weir_tiering_pending_segments", &labels),
            pending_bytes: metrics::gauge!("weir_tiering_pending_bytes", &labels),
            remote_segments: metrics::gauge!("weir_remote_log_segments", &labels),
            remote_bytes: metrics::gauge!("weir_remote_log_bytes", &labels),
            remote_start: metrics::gauge!("weir_remote_log_start_offset", &labels),
            remote_end: metrics::gauge!("weir_remote_log_end_offset", &labels),
            uploaded_bytes: metrics::counter!("weir_tiering_uploaded_bytes_total", &labels),
            remote_read_bytes: metrics::counter!("weir_remote_read_bytes_total", &labels),
            remote_read_errors: metrics::counter!("weir_remote_read_errors_total", &labels),
        }
    }
}

/// Counts a failed object-store operation (`weir_object_store_errors_total{operation}`).
pub fn object_store_error(operation: &'static str) {
    metrics::counter!("weir_object_store_errors_total", "operation" => operation).increment(1);
}

/// Counts a local segment tiering found unreadable (`weir_storage_corrupt_batches_total`, the
/// counter every reader of stored batches uses).
pub fn stored_data_fault() {
    metrics::counter!("weir_storage_corrupt_batches_total").increment(1);
}

/// `weir_tiering_upload_seconds`: converting and uploading one segment.
pub fn upload_seconds() -> Histogram {
    metrics::histogram!("weir_tiering_upload_seconds")
}

/// `weir_remote_read_seconds`: serving one fetch from the store.
pub fn remote_read_seconds() -> Histogram {
    metrics::histogram!("weir_remote_read_seconds")
}
