//! Per-partition log configuration (the Kafka topic configs the log itself honours).

/// How record timestamps are assigned (`message.timestamp.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps (default).
    #[default]
    CreateTime,
    /// Overwrite each batch's timestamp with the broker's append time.
    LogAppendTime,
}

/// Settings of one partition log. Field names mirror Kafka's topic configs.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment once it is this old (and non-empty).
    pub segment_ms: i64,
    /// `retention.ms`: delete closed segments whose newest timestamp is older; -1 = unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest closed segments while the log exceeds this; -1 = unlimited.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest accepted batch, in bytes.
    pub max_message_bytes: i32,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `write.caching`: false (default) means acks=all waits for fsync; true relies on the page
    /// cache and flushes by `flush.messages` / `flush.ms`.
    pub write_caching: bool,
    /// `flush.messages`: with write caching, fsync after this many records.
    pub flush_messages: i64,
    /// `flush.ms`: with write caching, fsync when this long has passed since the last fsync.
    pub flush_ms: i64,
    /// `index.interval.bytes`: bytes between sparse offset index entries.
    pub index_interval_bytes: u32,
    /// `remote.storage.enable`: closed segments are tiered to object storage, and local
    /// deletion follows `local_retention_*` instead of `retention_*` (and only deletes
    /// segments the caller reports as uploaded, see [`crate::PartitionLog::maintain_retaining`]).
    pub remote_storage_enable: bool,
    /// `local.retention.ms` resolved (-2 already replaced by `retention_ms`); -1 = unlimited.
    pub local_retention_ms: i64,
    /// `local.retention.bytes` resolved (-2 already replaced by `retention_bytes`); -1 = unlimited.
    pub local_retention_bytes: i64,
}

impl LogConfig {
    /// The `(ms, bytes)` limits local deletion follows: `local.retention.*` for a tiered log,
    /// `retention.*` otherwise.
    pub fn local_limits(&self) -> (i64, i64) {
        if self.remote_storage_enable {
            (self.local_retention_ms, self.local_retention_bytes)
        } else {
            (self.retention_ms, self.retention_bytes)
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 604_800_000,
            retention_ms: 604_800_000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            write_caching: false,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            index_interval_bytes: 4096,
            remote_storage_enable: false,
            local_retention_ms: 604_800_000,
            local_retention_bytes: -1,
        }
    }
}
