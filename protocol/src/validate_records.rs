//! Kafka-grade validation of one produced record batch (the checks of Kafka's `LogValidator`
//! and `DefaultRecord.readFrom` that concern the bytes of a v2 batch), before it is stored.
//!
//! [`validate_batch`] accepts a batch only if: it is complete and its magic is 2; its codec is
//! one Kafka defines (none, gzip, snappy, lz4, zstd); `records_count >= 1` and
//! `records_count == last_offset_delta + 1`; its payload decompresses to at most the cap; and
//! exactly `records_count` records fill that payload with no byte left over, the record at
//! position `i` having offset delta `i`, every length and count inside the bytes that remain,
//! no null header key, and every record's fields filling exactly its declared length.
//!
//! It walks the records without building them, so validating a batch costs its decompressed
//! size in memory and nothing per record. It does not check the CRC (see
//! [`crate::record_batch::verify_crc`]) or the producer fields.

use crate::compression::codec_name;
use crate::record_batch::{BatchError, BatchHeader};
use crate::records::{plain_records, read_record, RecordError};

/// What validation learned about a valid batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidBatch {
    /// The batch header.
    pub header: BatchHeader,
    /// Bytes of the records once decompressed.
    pub decompressed_bytes: usize,
}

/// Checks the single batch that `batch` holds exactly (see the module docs for the rules).
/// `max_decompressed` caps the size of the records once decompressed.
pub fn validate_batch(batch: &[u8], max_decompressed: usize) -> Result<ValidBatch, RecordError> {
    let header = BatchHeader::parse_complete(batch)?;
    if batch.len() != header.total_size() {
        return Err(RecordError::Batch(BatchError::Truncated {
            needed: header.total_size(),
            available: batch.len(),
        }));
    }
    codec_name(header.compression()).ok_or(crate::compression::CompressionError::UnknownCodec(
        header.compression(),
    ))?;
    if header.records_count <= 0 {
        return Err(RecordError::InvalidCount(format!(
            "record count {} (a batch holds at least one record)",
            header.records_count
        )));
    }
    if i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1 {
        return Err(RecordError::InvalidCount(format!(
            "record count {} does not match last offset delta {}",
            header.records_count, header.last_offset_delta
        )));
    }
    let mut buf = plain_records(&header, batch, max_decompressed)?;
    let decompressed_bytes = buf.len();
    for index in 0..header.records_count {
        if buf.is_empty() {
            return Err(RecordError::Corrupt(format!(
                "the batch claims {} records but holds {index}",
                header.records_count
            )));
        }
        let record = read_record(&mut buf, |_, _| {}).map_err(|reason| RecordError::Malformed {
            index: index as usize,
            reason,
        })?;
        if record.offset_delta != index {
            return Err(RecordError::Malformed {
                index: index as usize,
                reason: format!("offset delta {} (expected {index})", record.offset_delta),
            });
        }
    }
    if !buf.is_empty() {
        return Err(RecordError::Corrupt(format!(
            "{} bytes follow the last of the {} records",
            buf.len(),
            header.records_count
        )));
    }
    Ok(ValidBatch {
        header,
        decompressed_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::CompressionError;
    use crate::records::{encode_batch, rewrite_crc, LogRecord};
    use bytes::{Bytes, BytesMut};

    fn batch(n: i64) -> Vec<u8> {
        let records: Vec<_> = (0..n)
            .map(|i| LogRecord {
                offset: i,
                timestamp: 10 + i,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from_static(b"v")),
                headers: vec![(Bytes::from_static(b"h"), None)],
            })
            .collect();
        let mut out = BytesMut::new();
        encode_batch(&mut out, &records);
        out.to_vec()
    }

    fn set_i32(b: &mut [u8], at: usize, v: i32) {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        rewrite_crc(b).unwrap();
    }

    #[test]
    fn accepts_a_plain_batch() {
        let b = batch(3);
        let v = validate_batch(&b, 1 << 20).unwrap();
        assert_eq!(v.header.records_count, 3);
        assert_eq!(v.decompressed_bytes, b.len() - 61);
    }

    #[test]
    fn count_rules() {
        // Claims 5 records (offsets consistent) but holds 3.
        let mut b = batch(3);
        set_i32(&mut b, 57, 5);
        set_i32(&mut b, 23, 4);
        assert!(matches!(
            validate_batch(&b, 1 << 20),
            Err(RecordError::Corrupt(m)) if m.contains("claims 5 records but holds 3")
        ));
        // Claims 2 records, holds 3: trailing bytes.
        let mut b = batch(3);
        set_i32(&mut b, 57, 2);
        set_i32(&mut b, 23, 1);
        assert!(matches!(
            validate_batch(&b, 1 << 20),
            Err(RecordError::Corrupt(m)) if m.contains("follow the last")
        ));
        // Count and last offset delta disagree.
        let mut b = batch(3);
        set_i32(&mut b, 23, 7);
        assert!(matches!(
            validate_batch(&b, 1 << 20),
            Err(RecordError::InvalidCount(_))
        ));
    }

    #[test]
    fn offset_deltas_must_be_dense() {
        let records: Vec<_> = [0i64, 2]
            .iter()
            .map(|&o| LogRecord {
                offset: o,
                timestamp: 1,
                key: None,
                value: None,
                headers: vec![],
            })
            .collect();
        let mut out = BytesMut::new();
        encode_batch(&mut out, &records);
        // encode_batch writes last_offset_delta 2 for 2 records: fix it so only deltas differ.
        let mut b = out.to_vec();
        set_i32(&mut b, 23, 1);
        assert!(matches!(
            validate_batch(&b, 1 << 20),
            Err(RecordError::Malformed { index: 1, reason }) if reason.contains("offset delta 2")
        ));
    }

    #[test]
    fn codec_and_cap() {
        let mut b = batch(1);
        b[22] = 5;
        rewrite_crc(&mut b).unwrap();
        assert!(matches!(
            validate_batch(&b, 1 << 20),
            Err(RecordError::Compression(CompressionError::UnknownCodec(5)))
        ));
        let b = batch(3);
        assert!(matches!(
            validate_batch(&b, 10),
            Err(RecordError::Compression(CompressionError::TooLarge {
                max: 10,
                ..
            }))
        ));
    }

    #[test]
    fn huge_header_count_is_refused_without_allocating() {
        // One record whose header count varint claims 2^30 headers.
        let mut b = batch(1);
        // Record layout after the 61-byte header: len, attrs, ts, off, key(len 2 + "k0"),
        // value(len 1 + "v"), header count (1), header...
        let count_at = 61 + 1 + 1 + 1 + 1 + 3 + 2;
        assert_eq!(b[count_at], 2); // zig-zag 1
        let mut record = b[61..count_at].to_vec();
        record.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]); // zig-zag 2^30
        record.extend_from_slice(&b[count_at + 1..]);
        record[0] = ((record.len() - 1) * 2) as u8; // re-length (small record: one byte)
        b.truncate(61);
        b.extend_from_slice(&record);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        rewrite_crc(&mut b).unwrap();
        assert!(matches!(
            validate_batch(&b, 1 << 20),
            Err(RecordError::Malformed { index: 0, reason }) if reason.contains("1073741824 headers")
        ));
    }
}
