//! The error a handler reports for one topic or partition: a Kafka error code plus the message
//! clients see (where the response version has a field for it) and the log shows, and for a
//! produce the records it refused (KIP-467). Storage, table and tiering errors become Kafka
//! errors here and nowhere else.

use kafka_protocol::error::ResponseError;
use weir_storage::table::TableError;
use weir_storage::StorageError;

/// One record of a produced batch refused on its own (KIP-467's `record_errors` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRefusal {
    /// Position of the record in its batch.
    pub batch_index: i32,
    /// Why, in words.
    pub message: String,
}

/// A Kafka error code with a human-readable reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error:?}: {message}")]
pub struct ApiError {
    /// The Kafka error.
    pub error: ResponseError,
    /// Why, in words.
    pub message: String,
    /// For a produce refused because of particular records: which ones (empty otherwise).
    pub record_errors: Vec<RecordRefusal>,
}

impl ApiError {
    /// An error with an explanatory message.
    pub fn new(error: ResponseError, message: impl Into<String>) -> ApiError {
        ApiError {
            error,
            message: message.into(),
            record_errors: Vec::new(),
        }
    }

    /// INVALID_RECORD naming the refused records, with Kafka's summary message
    /// (`LogValidator.processRecordErrors`).
    pub fn invalid_records(records: Vec<RecordRefusal>) -> ApiError {
        let shown: Vec<String> = records
            .iter()
            .take(3)
            .map(|r| {
                format!(
                    "RecordError(batchIndex={}, message='{}')",
                    r.batch_index, r.message
                )
            })
            .collect();
        ApiError {
            error: ResponseError::InvalidRecord,
            message: format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                records.len(),
                shown.join(", ")
            ),
            record_errors: records,
        }
    }

    /// The numeric code for the response.
    pub fn code(&self) -> i16 {
        self.error.code()
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        let error = match &e {
            StorageError::CorruptRecord(_) => ResponseError::CorruptMessage,
            StorageError::CorruptStored(_) | StorageError::Offline(_) => {
                ResponseError::KafkaStorageError
            }
            StorageError::UnknownProducerId { .. } => ResponseError::UnknownProducerId,
            StorageError::InvalidRecord(_) => ResponseError::InvalidRecord,
            StorageError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat,
            StorageError::RecordTooLarge { .. } => ResponseError::MessageTooLarge,
            StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            StorageError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            StorageError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            StorageError::Io(_) => ResponseError::KafkaStorageError,
            #[allow(unreachable_patterns)]
            _ => ResponseError::UnknownServerError,
        };
        if matches!(
            error,
            ResponseError::KafkaStorageError | ResponseError::UnknownServerError
        ) {
            tracing::error!(error = %e, "storage failure");
        }
        ApiError::new(error, e.to_string())
    }
}

impl From<TableError> for ApiError {
    fn from(e: TableError) -> ApiError {
        match e {
            TableError::RefusedRecords { records } => ApiError::invalid_records(
                records
                    .into_iter()
                    .map(|r| RecordRefusal {
                        batch_index: i32::try_from(r.batch_index).unwrap_or(i32::MAX),
                        message: r.message,
                    })
                    .collect(),
            ),
            // Produced batches are validated before the table reads them, so records that do
            // not decode here come from the stored log.
            other => {
                tracing::error!(error = %other, "table store failure");
                ApiError::new(ResponseError::KafkaStorageError, other.to_string())
            }
        }
    }
}

impl From<weir_tiering::TieringError> for ApiError {
    fn from(e: weir_tiering::TieringError) -> ApiError {
        // Whatever fails on the tiered side (store unreachable, object missing or corrupt)
        // is a storage error for the offsets involved, as Kafka reports remote read failures.
        tracing::error!(error = %e, "tiered storage failure");
        ApiError::new(ResponseError::KafkaStorageError, e.to_string())
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
