//! Validation of the record batch of a produce request before anything is written: Kafka's
//! rules for a v2 produce (exactly one batch per partition, its size, CRC-32C, not a control
//! batch) and, through [`weir_protocol::validate_records`], every record inside it with the
//! decompressed size capped.

use weir_protocol::record_batch::{self, split_batches, BatchError, BatchHeader};
use weir_protocol::records::RecordError;
use weir_protocol::validate_records::validate_batch;

use crate::error::StorageError;

/// One validated batch of a request: its header and byte range in the request buffer.
pub(crate) type ValidBatch = (BatchHeader, std::ops::Range<usize>);

/// Checks the records of one partition of a produce request: exactly one batch (Kafka:
/// produce v3+ carries one batch per partition), complete, magic 2, within
/// `max_message_bytes`, CRC-32C intact, not a control batch, and every record well formed
/// with the payload decompressing to at most `max_decompressed` bytes.
pub(crate) fn validate_request(
    records: &[u8],
    max_message_bytes: i32,
    max_decompressed: usize,
) -> Result<Vec<ValidBatch>, StorageError> {
    if records.is_empty() {
        return Err(StorageError::InvalidRecord(
            "produce request carries no record batches".into(),
        ));
    }
    let mut batches = Vec::with_capacity(1);
    for item in split_batches(records) {
        batches.push(item?);
        if batches.len() > 1 {
            return Err(StorageError::InvalidRecord(
                "a produce request must carry exactly one record batch per partition".into(),
            ));
        }
    }
    let Some((header, range)) = batches.pop() else {
        return Err(StorageError::InvalidRecord(
            "produce request carries no record batches".into(),
        ));
    };
    let size = range.len();
    if size > max_message_bytes.max(0) as usize {
        return Err(StorageError::RecordTooLarge {
            size,
            max: max_message_bytes,
        });
    }
    let batch = &records[range.clone()];
    record_batch::verify_crc(batch)?;
    if header.is_control() {
        return Err(StorageError::InvalidRecord(
            "control batches cannot be produced by clients".into(),
        ));
    }
    validate_batch(batch, max_decompressed).map_err(|e| record_error(e, max_decompressed))?;
    Ok(vec![(header, range)])
}

/// The storage error for a batch the record validator refused: batch-level rule violations
/// (counts) are INVALID_RECORD as in Kafka's `LogValidator`, malformed records, codecs and
/// payloads are CORRUPT_MESSAGE.
fn record_error(e: RecordError, max_decompressed: usize) -> StorageError {
    match e {
        RecordError::Batch(b @ BatchError::UnsupportedMagic(_)) => b.into(),
        RecordError::InvalidCount(m) => StorageError::InvalidRecord(m),
        RecordError::Compression(
            c @ weir_protocol::compression::CompressionError::TooLarge { .. },
        ) => StorageError::CorruptRecord(format!(
            "{c} (batch.max.decompressed.bytes = {max_decompressed})"
        )),
        other => StorageError::CorruptRecord(other.to_string()),
    }
}
