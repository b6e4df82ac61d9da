//! Validation of the record batches of a produce request before anything is written.

use weir_protocol::record_batch::{self, split_batches, BatchHeader};

use crate::error::StorageError;

/// One validated batch of a request: its header and byte range in the request buffer.
pub(crate) type ValidBatch = (BatchHeader, std::ops::Range<usize>);

/// Splits `records` into batches and checks every one: complete, magic 2, length sane, CRC-32C,
/// `records_count == last_offset_delta + 1 >= 1`, size within `max_message_bytes`, and not a
/// control batch. Returns all batches or the first problem.
pub(crate) fn validate_request(
    records: &[u8],
    max_message_bytes: i32,
) -> Result<Vec<ValidBatch>, StorageError> {
    if records.is_empty() {
        return Err(StorageError::InvalidRecord(
            "produce request carries no record batches".into(),
        ));
    }
    let mut out = Vec::new();
    for item in split_batches(records) {
        let (header, range) = item?;
        let size = range.len();
        if size > max_message_bytes.max(0) as usize {
            return Err(StorageError::RecordTooLarge {
                size,
                max: max_message_bytes,
            });
        }
        record_batch::verify_crc(&records[range.clone()])?;
        if header.records_count <= 0 {
            return Err(StorageError::InvalidRecord(format!(
                "batch at byte {} has records_count {}",
                range.start, header.records_count
            )));
        }
        if i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1 {
            return Err(StorageError::InvalidRecord(format!(
                "batch at byte {}: records_count {} does not match last_offset_delta {}",
                range.start, header.records_count, header.last_offset_delta
            )));
        }
        if header.is_control() {
            return Err(StorageError::InvalidRecord(
                "control batches cannot be produced by clients".into(),
            ));
        }
        out.push((header, range));
    }
    Ok(out)
}
