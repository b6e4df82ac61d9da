//! Storage errors. Each variant maps to one Kafka error code in the broker.

use weir_protocol::record_batch::BatchError;

/// Everything a partition log operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem operation failed (-> KAFKA_STORAGE_ERROR).
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The log went offline after a failed fsync and serves nothing until a restart
    /// (-> KAFKA_STORAGE_ERROR).
    #[error("log offline: {0}")]
    Offline(String),
    /// Bad CRC, truncated batch or bad length (-> CORRUPT_MESSAGE).
    #[error("corrupt record batch: {0}")]
    CorruptRecord(String),
    /// Data read back from a segment does not decode (bit rot, a file from an older version):
    /// the range cannot be served (-> KAFKA_STORAGE_ERROR).
    #[error("unreadable stored data: {0}")]
    CorruptStored(String),
    /// Structurally valid but not acceptable, e.g. records_count / last_offset_delta mismatch or a
    /// control batch from a client (-> INVALID_RECORD).
    #[error("invalid record batch: {0}")]
    InvalidRecord(String),
    /// Magic other than 2 (-> UNSUPPORTED_FOR_MESSAGE_FORMAT).
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// A batch larger than `max.message.bytes` (-> MESSAGE_TOO_LARGE).
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    RecordTooLarge {
        /// Size of the offending batch.
        size: usize,
        /// The configured limit.
        max: i32,
    },
    /// Requested offset outside `[log_start, log_end]` (-> OFFSET_OUT_OF_RANGE).
    #[error("offset {requested} out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: i64,
        /// Current log start offset.
        log_start: i64,
        /// Current log end offset.
        log_end: i64,
    },
    /// Idempotent producer sequence gap (-> OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {got}")]
    OutOfOrderSequence {
        /// The producer.
        producer_id: i64,
        /// The sequence the log expected next.
        expected: i32,
        /// The batch's base sequence.
        got: i32,
    },
    /// A batch whose producer id was never handed out by InitProducerId (-> UNKNOWN_PRODUCER_ID).
    #[error("unknown producer id {producer_id}: producer ids come from InitProducerId")]
    UnknownProducerId {
        /// The batch's producer id.
        producer_id: i64,
    },
    /// A batch from an older producer epoch (-> INVALID_PRODUCER_EPOCH).
    #[error("stale epoch for producer {producer_id}: current {current}, got {got}")]
    InvalidProducerEpoch {
        /// The producer.
        producer_id: i64,
        /// The epoch on record.
        current: i16,
        /// The batch's epoch.
        got: i16,
    },
}

impl From<BatchError> for StorageError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::UnsupportedMagic(m) => StorageError::UnsupportedMagic(m),
            other => StorageError::CorruptRecord(other.to_string()),
        }
    }
}
