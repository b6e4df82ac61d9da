//! Record batch v2 *header view*.
//!
//! Weir stores batches exactly as the producer sent them; the broker only needs to read the
//! fixed 61-byte v2 header, check the CRC-32C, and rewrite a few fields in place (base offset,
//! partition leader epoch, log-append timestamp). Record payloads are never touched here: decoding
//! records (and decompression) is left to [`kafka_protocol::records::RecordBatchDecoder`].
//!
//! Layout (all big-endian):
//!
//! | field                | type | offset |
//! |----------------------|------|--------|
//! | baseOffset           | i64  | 0      |
//! | batchLength          | i32  | 8      |
//! | partitionLeaderEpoch | i32  | 12     |
//! | magic                | i8   | 16     |
//! | crc                  | u32  | 17     |
//! | attributes           | i16  | 21     |
//! | lastOffsetDelta      | i32  | 23     |
//! | baseTimestamp        | i64  | 27     |
//! | maxTimestamp         | i64  | 35     |
//! | producerId           | i64  | 43     |
//! | producerEpoch        | i16  | 51     |
//! | baseSequence         | i32  | 53     |
//! | recordsCount         | i32  | 57     |
//!
//! `batchLength` counts the bytes after the length field (so a batch occupies
//! `batchLength + 12` bytes). The CRC-32C covers everything from `attributes` to the end of the
//! batch, so the base offset and the partition leader epoch can be rewritten without touching it.

use std::ops::Range;

/// Offset of `baseOffset` (i64).
pub const BASE_OFFSET_OFFSET: usize = 0;
/// Offset of `batchLength` (i32).
pub const BATCH_LENGTH_OFFSET: usize = 8;
/// Offset of `partitionLeaderEpoch` (i32).
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Offset of `magic` (i8).
pub const MAGIC_OFFSET: usize = 16;
/// Offset of `crc` (u32).
pub const CRC_OFFSET: usize = 17;
/// Offset of `attributes` (i16); the CRC covers from here to the end of the batch.
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Offset of `lastOffsetDelta` (i32).
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Offset of `baseTimestamp` (i64).
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Offset of `maxTimestamp` (i64).
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Offset of `producerId` (i64).
pub const PRODUCER_ID_OFFSET: usize = 43;
/// Offset of `producerEpoch` (i16).
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Offset of `baseSequence` (i32).
pub const BASE_SEQUENCE_OFFSET: usize = 53;
/// Offset of `recordsCount` (i32).
pub const RECORDS_COUNT_OFFSET: usize = 57;
/// Size of the fixed v2 batch header.
pub const HEADER_SIZE: usize = 61;
/// Bytes before the part counted by `batchLength` (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;
/// Smallest legal `batchLength`: a header with no records.
pub const MIN_BATCH_LENGTH: i32 = (HEADER_SIZE - LOG_OVERHEAD) as i32;
/// The only supported magic value.
pub const MAGIC_V2: i8 = 2;

/// Attribute bits 0..=2: compression codec.
pub const COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 3: timestamp type is LogAppendTime.
pub const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
/// Attribute bit 4: the batch is part of a transaction.
pub const TRANSACTIONAL_BIT: i16 = 1 << 4;
/// Attribute bit 5: the batch is a control batch (transaction markers).
pub const CONTROL_BIT: i16 = 1 << 5;

/// Why a buffer is not a valid v2 record batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The buffer ends before the header or the batch does.
    #[error("truncated record batch: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes needed from the start of the batch.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The magic byte is not 2.
    #[error("unsupported record batch magic {0} (only v2 is supported)")]
    UnsupportedMagic(i8),
    /// The stored CRC-32C does not match the content.
    #[error("record batch CRC-32C mismatch: stored {expected:#010x}, computed {actual:#010x}")]
    CorruptCrc {
        /// CRC stored in the header.
        expected: u32,
        /// CRC computed over the batch.
        actual: u32,
    },
    /// `batchLength` is smaller than a bare header (or negative).
    #[error("invalid record batch length {0} (minimum {MIN_BATCH_LENGTH})")]
    InvalidLength(i32),
}

/// The decoded fixed header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    /// Leader epoch stamped by the broker.
    pub partition_leader_epoch: i32,
    /// Format version (2).
    pub magic: i8,
    /// CRC-32C from `attributes` to the end.
    pub crc: u32,
    /// Compression, timestamp type, transactional and control flags.
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record (the base for record timestamp deltas).
    pub base_timestamp: i64,
    /// Largest record timestamp (or the log-append time).
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub records_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// [`BatchHeader::parse`], and checks that `buf` holds the whole batch.
    pub fn parse_complete(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        let header = BatchHeader::parse(buf)?;
        if buf.len() < header.total_size() {
            return Err(BatchError::Truncated {
                needed: header.total_size(),
                available: buf.len(),
            });
        }
        Ok(header)
    }

    /// Parses the 61-byte header at the start of `buf` (which may hold more). Checks the magic
    /// byte and the minimum length; does not check that the whole batch is present or the CRC.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < HEADER_SIZE {
            // Report the magic first when we can see it: a v0/v1 message set may be shorter.
            if buf.len() > MAGIC_OFFSET && buf[MAGIC_OFFSET] as i8 != MAGIC_V2 {
                return Err(BatchError::UnsupportedMagic(buf[MAGIC_OFFSET] as i8));
            }
            return Err(BatchError::Truncated {
                needed: HEADER_SIZE,
                available: buf.len(),
            });
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let batch_length = be_i32(buf, BATCH_LENGTH_OFFSET);
        if batch_length < MIN_BATCH_LENGTH {
            return Err(BatchError::InvalidLength(batch_length));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, BASE_OFFSET_OFFSET),
            batch_length,
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_OFFSET),
            magic,
            crc: be_u32(buf, CRC_OFFSET),
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_OFFSET),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, PRODUCER_ID_OFFSET),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_OFFSET),
            base_sequence: be_i32(buf, BASE_SEQUENCE_OFFSET),
            records_count: be_i32(buf, RECORDS_COUNT_OFFSET),
        })
    }

    /// Bytes the whole batch occupies (`batch_length + 12`).
    pub fn total_size(&self) -> usize {
        self.batch_length.max(0) as usize + LOG_OVERHEAD
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    /// Whether the timestamps are log-append times (attribute bit 3).
    pub fn timestamp_type_is_log_append(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    /// Whether the batch belongs to a transaction (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// Whether the batch is a control batch (attribute bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Sequence number of the last record, wrapping past `i32::MAX` to 0 as Kafka does; -1 when
    /// the batch carries no sequence.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
}

/// CRC-32C of a whole batch as it should be stored (bytes from `attributes` to the end).
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..])
}

/// Checks the batch at the start of `batch` is complete and its CRC-32C matches. `batch` may
/// hold more bytes than the batch; only `total_size()` bytes are checked.
pub fn verify_crc(batch: &[u8]) -> Result<(), BatchError> {
    let header = BatchHeader::parse_complete(batch)?;
    let size = header.total_size();
    let actual = compute_crc(&batch[..size]);
    if actual != header.crc {
        return Err(BatchError::CorruptCrc {
            expected: header.crc,
            actual,
        });
    }
    Ok(())
}

/// Rewrites the base offset (not covered by the CRC). Panics only if `batch` is shorter than a
/// header, which callers rule out by parsing first.
pub fn set_base_offset(batch: &mut [u8], offset: i64) {
    batch[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&offset.to_be_bytes());
}

/// Rewrites the partition leader epoch (not covered by the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&epoch.to_be_bytes());
}

/// Marks the batch as LogAppendTime with timestamp `ts`: sets attribute bit 3, writes `ts` as
/// maxTimestamp (baseTimestamp is left alone, as Kafka does) and rewrites the CRC. `batch` must
/// be exactly one complete batch (or start with one).
pub fn set_log_append_time(batch: &mut [u8], ts: i64) -> Result<(), BatchError> {
    let header = BatchHeader::parse(batch)?;
    let size = header.total_size();
    if batch.len() < size {
        return Err(BatchError::Truncated {
            needed: size,
            available: batch.len(),
        });
    }
    let attributes = header.attributes | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&ts.to_be_bytes());
    let crc = compute_crc(&batch[..size]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Iterates the concatenated batches in `buf`, yielding each header and its byte range. Stops
/// after the first error. Does not check CRCs (use [`verify_crc`] on each range).
pub fn split_batches(buf: &[u8]) -> BatchIter<'_> {
    BatchIter {
        buf,
        pos: 0,
        failed: false,
    }
}

/// Iterator returned by [`split_batches`].
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl BatchIter<'_> {
    /// Byte position of the next batch (after iteration ends without error, the length of the
    /// valid prefix).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for BatchIter<'_> {
    type Item = Result<(BatchHeader, Range<usize>), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let header = match BatchHeader::parse(rest) {
            Ok(h) => h,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let size = header.total_size();
        if rest.len() < size {
            self.failed = true;
            return Some(Err(BatchError::Truncated {
                needed: size,
                available: rest.len(),
            }));
        }
        let range = self.pos..self.pos + size;
        self.pos += size;
        Some(Ok((header, range)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };
    use proptest::prelude::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn record(offset: i64, ts: i64, value: &[u8], pid: i64, seq: i32) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: if pid >= 0 { 0 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: seq,
            timestamp: ts,
            key: Some(Bytes::from(format!("k{offset}"))),
            value: Some(Bytes::copy_from_slice(value)),
            headers: Default::default(),
        }
    }

    fn batch(codec: Compression, timestamps: &[i64], pid: i64, base_seq: i32) -> Vec<u8> {
        let records: Vec<Record> = timestamps
            .iter()
            .enumerate()
            .map(|(i, ts)| {
                // The encoder groups records into one batch while `offset - sequence` stays
                // constant, so sequences must advance even without a producer id.
                let seq = base_seq.wrapping_add(i as i32);
                record(i as i64, *ts, format!("value-{i}").as_bytes(), pid, seq)
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: codec,
            },
        )
        .unwrap();
        buf.to_vec()
    }

    #[test]
    fn parses_real_batches_of_every_codec() {
        for codec in CODECS {
            let b = batch(codec, &[100, 50, 300], 7, 10);
            let h = BatchHeader::parse(&b).unwrap();
            assert_eq!(h.total_size(), b.len());
            assert_eq!(h.magic, 2);
            assert_eq!(h.base_offset, 0);
            assert_eq!(h.last_offset(), 2);
            assert_eq!(h.records_count, 3);
            assert_eq!(h.compression(), codec as i16);
            assert_eq!(h.base_timestamp, 50);
            assert_eq!(h.max_timestamp, 300);
            assert_eq!(h.producer_id, 7);
            assert_eq!(h.producer_epoch, 0);
            assert_eq!(h.base_sequence, 10);
            assert_eq!(h.last_sequence(), 12);
            assert!(!h.is_control() && !h.is_transactional());
            assert!(!h.timestamp_type_is_log_append());
            verify_crc(&b).unwrap();
        }
    }

    #[test]
    fn flipped_byte_is_a_crc_error() {
        for codec in CODECS {
            let mut b = batch(codec, &[1, 2], -1, -1);
            let last = b.len() - 1;
            b[last] ^= 0x40;
            assert!(matches!(verify_crc(&b), Err(BatchError::CorruptCrc { .. })));
        }
    }

    #[test]
    fn rewrite_offsets_and_epoch_keeps_crc() {
        for codec in CODECS {
            let mut b = batch(codec, &[5, 6, 7], -1, -1);
            set_base_offset(&mut b, 1000);
            set_partition_leader_epoch(&mut b, 9);
            verify_crc(&b).unwrap();
            let h = BatchHeader::parse(&b).unwrap();
            assert_eq!(h.base_offset, 1000);
            assert_eq!(h.partition_leader_epoch, 9);
            let set = RecordBatchDecoder::decode(&mut Bytes::from(b)).unwrap();
            let offsets: Vec<i64> = set.records.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, vec![1000, 1001, 1002]);
        }
    }

    #[test]
    fn log_append_time_rewrite() {
        for codec in CODECS {
            let mut b = batch(codec, &[5, 9], -1, -1);
            set_log_append_time(&mut b, 123_456).unwrap();
            verify_crc(&b).unwrap();
            let h = BatchHeader::parse(&b).unwrap();
            assert!(h.timestamp_type_is_log_append());
            assert_eq!(h.max_timestamp, 123_456);
            assert_eq!(h.base_timestamp, 5);
            assert_eq!(h.compression(), codec as i16);
            let set = RecordBatchDecoder::decode(&mut Bytes::from(b)).unwrap();
            assert_eq!(set.records.len(), 2);
            assert_eq!(set.records[0].timestamp_type, TimestampType::LogAppend);
        }
    }

    #[test]
    fn split_concatenated_and_errors() {
        let a = batch(Compression::None, &[1], -1, -1);
        let b = batch(Compression::Gzip, &[2, 3], -1, -1);
        let mut all = a.clone();
        all.extend_from_slice(&b);
        let parts: Vec<_> = split_batches(&all).map(|r| r.unwrap()).collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].1, 0..a.len());
        assert_eq!(parts[1].1, a.len()..all.len());
        assert_eq!(parts[1].0.records_count, 2);

        // Truncated in the middle of the second batch.
        let cut = &all[..all.len() - 3];
        let res: Vec<_> = split_batches(cut).collect();
        assert!(res[0].is_ok());
        assert!(matches!(res[1], Err(BatchError::Truncated { .. })));
        assert_eq!(res.len(), 2);

        // Truncated inside a header.
        let res: Vec<_> = split_batches(&all[..30]).collect();
        assert!(matches!(res[0], Err(BatchError::Truncated { .. })));

        // Wrong magic.
        let mut bad = a.clone();
        bad[MAGIC_OFFSET] = 1;
        assert_eq!(
            split_batches(&bad).next(),
            Some(Err(BatchError::UnsupportedMagic(1)))
        );

        // Too-small length.
        let mut bad = a.clone();
        bad[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(
            split_batches(&bad).next(),
            Some(Err(BatchError::InvalidLength(10)))
        );
        let mut bad = a;
        bad[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(BatchHeader::parse(&bad), Err(BatchError::InvalidLength(-5)));

        assert_eq!(split_batches(&[]).count(), 0);
    }

    #[test]
    fn last_sequence_wraps() {
        let mut b = batch(Compression::None, &[1, 2, 3], 1, 0);
        b[BASE_SEQUENCE_OFFSET..BASE_SEQUENCE_OFFSET + 4]
            .copy_from_slice(&(i32::MAX - 1).to_be_bytes());
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.base_sequence, i32::MAX - 1);
        assert_eq!(h.last_sequence(), 0);
    }

    proptest! {
        #[test]
        fn prop_roundtrip(
            codec_idx in 0usize..5,
            timestamps in proptest::collection::vec(0i64..1_000_000, 1..20),
            new_base in 0i64..(i64::MAX / 2),
            flip_at in any::<prop::sample::Index>(),
            flip_bit in 0u8..8,
        ) {
            let codec = CODECS[codec_idx];
            let mut b = batch(codec, &timestamps, -1, -1);
            let h = BatchHeader::parse(&b).unwrap();
            prop_assert_eq!(h.total_size(), b.len());
            prop_assert_eq!(h.records_count as usize, timestamps.len());
            prop_assert_eq!(h.max_timestamp, *timestamps.iter().max().unwrap());
            verify_crc(&b).unwrap();

            set_base_offset(&mut b, new_base);
            verify_crc(&b).unwrap();
            let set = RecordBatchDecoder::decode(&mut Bytes::from(b.clone())).unwrap();
            for (i, r) in set.records.iter().enumerate() {
                prop_assert_eq!(r.offset, new_base + i as i64);
                prop_assert_eq!(r.timestamp, timestamps[i]);
            }

            // Any flipped bit in the CRC-covered region is detected.
            let covered = b.len() - ATTRIBUTES_OFFSET;
            let at = ATTRIBUTES_OFFSET + flip_at.index(covered);
            b[at] ^= 1 << flip_bit;
            prop_assert!(
                matches!(verify_crc(&b), Err(BatchError::CorruptCrc { .. })),
                "flip at {} not detected", at
            );
        }
    }
}
