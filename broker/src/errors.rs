//! The error a handler reports for one topic or partition: a Kafka error code plus the message
//! clients see (where the response version has a field for it) and the log shows.

use kafka_protocol::error::ResponseError;
use weir_storage::StorageError;

/// A Kafka error code with a human-readable reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error:?}: {message}")]
pub struct ApiError {
    /// The Kafka error.
    pub error: ResponseError,
    /// Why, in words.
    pub message: String,
}

impl ApiError {
    /// An error with an explanatory message.
    pub fn new(error: ResponseError, message: impl Into<String>) -> ApiError {
        ApiError {
            error,
            message: message.into(),
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
