//! Records inside a v2 batch, with every header kept.
//!
//! [`kafka_protocol::records::Record`] holds headers in a map, so a record with a repeated
//! header key (which Kafka stores and delivers as sent) cannot round-trip through it. Table
//! topics re-serve records long after their batch is gone, so they need the exact record:
//! [`decode_batch`] reads the records of one batch (decompressing through the bounded
//! [`crate::compression`]) and [`encode_batch`] builds an uncompressed batch from records at
//! arbitrary offsets, as a compacted Kafka log serves them. [`decode_batch_records`] and
//! [`encode_batch_with`] are the same with every batch field (control batches included), for
//! tiered storage, which rebuilds batches from stored rows. Kafka's varints are zig-zag
//! LEB128, which is what the `integer-encoding` crate implements for signed integers.
//!
//! Decoding treats its input as untrusted (stored data can rot, and older versions stored
//! batches unchecked): every length is checked against the bytes present before anything is
//! allocated for it, and decompression stops at [`stored_batch_limit`]. Decoding one batch
//! costs memory proportional to its size plus its decompressed size.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use integer_encoding::VarInt;

use crate::compression::{self, CompressionError};
use crate::record_batch::{
    compute_crc, BatchError, BatchHeader, CONTROL_BIT, CRC_OFFSET, HEADER_SIZE, LOG_OVERHEAD,
    MAGIC_V2, TIMESTAMP_TYPE_BIT, TRANSACTIONAL_BIT,
};

/// Default of the broker's `batch.max.decompressed.bytes`: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// The smallest encoded record: length, attributes, timestamp delta, offset delta, key length,
/// value length and header count, one byte each.
pub const MIN_RECORD_SIZE: usize = 7;

/// The smallest encoded header: key length and value length, one byte each.
pub const MIN_HEADER_SIZE: usize = 2;

/// Longest Kafka varint (an int32): 5 bytes; a varlong takes up to 10.
const MAX_VARINT_LEN: usize = 5;
const MAX_VARLONG_LEN: usize = 10;

static STORED_BATCH_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_DECOMPRESSED_BYTES);

/// The decompressed size [`decode_batch`] and [`decode_batch_records`] accept: the largest of
/// [`DEFAULT_MAX_DECOMPRESSED_BYTES`] and every limit passed to [`allow_stored_batch_size`].
pub fn stored_batch_limit() -> usize {
    STORED_BATCH_LIMIT.load(Ordering::Relaxed)
}

/// Raises [`stored_batch_limit`] to at least `max` (never lowers it): the broker calls it with
/// its produce-time limit, so every batch it accepted can be decoded again later.
pub fn allow_stored_batch_size(max: usize) {
    STORED_BATCH_LIMIT.fetch_max(max, Ordering::Relaxed);
}

/// One record with its absolute offset and timestamp; headers in wire order, repeats kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Absolute offset (base offset + offset delta).
    pub offset: i64,
    /// Absolute timestamp (the batch's max timestamp for LogAppendTime batches).
    pub timestamp: i64,
    /// `None` for a null key.
    pub key: Option<Bytes>,
    /// `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// Header keys and values, as sent. Keys are bytes on the wire: clients write UTF-8
    /// (Java's are Strings), but Kafka stores whatever arrives, and so does Weir.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

/// Why the records of a batch cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The batch header itself is bad.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The codec is unknown, the payload does not decompress, or it decompresses past the cap.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// A record is malformed (lengths, varints, a null header key, wrong offset delta).
    #[error("malformed record {index} of the batch: {reason}")]
    Malformed {
        /// Position of the record in the batch.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The header's record count is not positive or disagrees with its last offset delta
    /// (Kafka's `InvalidRecordException`).
    #[error("invalid record batch: {0}")]
    InvalidCount(String),
    /// The records present disagree with the header's count, or bytes follow the last record
    /// (Kafka's corrupt record).
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
}

/// Decodes every record of the single batch at the start of `batch`. Control batches yield no
/// records (they carry transaction markers, not data).
pub fn decode_batch(batch: &[u8]) -> Result<Vec<LogRecord>, RecordError> {
    let header = BatchHeader::parse_complete(batch)?;
    if header.attributes & CONTROL_BIT != 0 {
        return Ok(Vec::new());
    }
    decode_records(&header, batch, stored_batch_limit())
}

/// Decodes the header and every record of the single batch at the start of `batch`, control
/// batches included: a control record's key is its version and type, its value the marker.
/// Timestamps are absolute, the batch's max timestamp for LogAppendTime batches. Does not
/// check the CRC (see [`crate::record_batch::verify_crc`]).
pub fn decode_batch_records(batch: &[u8]) -> Result<(BatchHeader, Vec<LogRecord>), RecordError> {
    let header = BatchHeader::parse_complete(batch)?;
    let records = decode_records(&header, batch, stored_batch_limit())?;
    Ok((header, records))
}

/// [`decode_batch`] with an explicit cap on the decompressed size (the produce path's limit).
pub fn decode_batch_with_limit(
    batch: &[u8],
    max_decompressed: usize,
) -> Result<Vec<LogRecord>, RecordError> {
    let header = BatchHeader::parse_complete(batch)?;
    if header.attributes & CONTROL_BIT != 0 {
        return Ok(Vec::new());
    }
    decode_records(&header, batch, max_decompressed)
}

/// The plain (decompressed) record bytes of a complete batch, at most `max` bytes.
pub(crate) fn plain_records(
    header: &BatchHeader,
    batch: &[u8],
    max: usize,
) -> Result<Bytes, RecordError> {
    let payload = &batch[HEADER_SIZE..header.total_size()];
    Ok(compression::decompress(header.compression(), payload, max)?)
}

fn decode_records(
    header: &BatchHeader,
    batch: &[u8],
    max: usize,
) -> Result<Vec<LogRecord>, RecordError> {
    let mut buf = plain_records(header, batch, max)?;
    let count = usize::try_from(header.records_count).map_err(|_| {
        RecordError::InvalidCount(format!("negative record count {}", header.records_count))
    })?;
    // Every record takes at least MIN_RECORD_SIZE bytes: never reserve for records that
    // cannot be there.
    let mut records = Vec::with_capacity(count.min(buf.len() / MIN_RECORD_SIZE));
    for index in 0..count {
        let record = decode_record(&mut buf, header.base_offset, header.base_timestamp)
            .map_err(|reason| RecordError::Malformed { index, reason })?;
        records.push(record);
    }
    if header.timestamp_type_is_log_append() {
        for r in &mut records {
            r.timestamp = header.max_timestamp;
        }
    }
    Ok(records)
}

fn get_varint<T: VarInt>(buf: &mut Bytes, max_len: usize, what: &str) -> Result<T, String> {
    let (value, used) = T::decode_var(buf).ok_or_else(|| format!("bad varint in {what}"))?;
    if used > max_len {
        return Err(format!("varint of {used} bytes in {what}"));
    }
    buf.advance(used);
    Ok(value)
}

/// A Kafka varint (zig-zag int32, at most 5 bytes).
pub(crate) fn get_i32(buf: &mut Bytes, what: &str) -> Result<i32, String> {
    get_varint(buf, MAX_VARINT_LEN, what)
}

/// A Kafka varlong (zig-zag int64, at most 10 bytes).
pub(crate) fn get_i64(buf: &mut Bytes, what: &str) -> Result<i64, String> {
    get_varint(buf, MAX_VARLONG_LEN, what)
}

fn read_bytes(buf: &mut Bytes, what: &str) -> Result<Option<Bytes>, String> {
    let len = get_i32(buf, what)?;
    match len {
        -1 => Ok(None),
        n if n < -1 => Err(format!("negative {what} length {n}")),
        n if n as usize > buf.remaining() => Err(format!(
            "{what} of {n} bytes but only {} remain",
            buf.remaining()
        )),
        n => Ok(Some(buf.split_to(n as usize))),
    }
}

/// The fields of one record as they are on the wire (deltas not yet made absolute).
pub(crate) struct WireRecord {
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// Reads one length-prefixed record from `buf`, passing each header to `on_header`. The
/// record's length must lie within `buf`, and its fields must fill exactly that length (as
/// Kafka's `DefaultRecord.readFrom` requires); a header key may not be null.
pub(crate) fn read_record(
    buf: &mut Bytes,
    mut on_header: impl FnMut(Bytes, Option<Bytes>),
) -> Result<WireRecord, String> {
    let len = get_i32(buf, "record length")?;
    if len < 0 || len as usize > buf.remaining() {
        return Err(format!(
            "record length {len} with {} bytes left",
            buf.remaining()
        ));
    }
    let mut body = buf.split_to(len as usize);
    if body.remaining() < 1 {
        return Err("record without attributes".into());
    }
    body.advance(1); // attributes: unused in v2
    let timestamp_delta = get_i64(&mut body, "timestamp delta")?;
    let offset_delta = get_i32(&mut body, "offset delta")?;
    let key = read_bytes(&mut body, "key")?;
    let value = read_bytes(&mut body, "value")?;
    let count = get_i32(&mut body, "header count")?;
    if count < 0 {
        return Err(format!("negative header count {count}"));
    }
    if count as usize > body.remaining() / MIN_HEADER_SIZE {
        return Err(format!(
            "{count} headers cannot fit in the {} bytes left",
            body.remaining()
        ));
    }
    for _ in 0..count {
        let name = read_bytes(&mut body, "header key")?.ok_or("null header key")?;
        on_header(name, read_bytes(&mut body, "header value")?);
    }
    if body.has_remaining() {
        return Err(format!(
            "{} bytes left over after the record's fields",
            body.remaining()
        ));
    }
    Ok(WireRecord {
        timestamp_delta,
        offset_delta,
        key,
        value,
    })
}

/// Decodes one record (length-prefixed) relative to `base_offset` / `base_timestamp`.
pub fn decode_record(
    buf: &mut Bytes,
    base_offset: i64,
    base_timestamp: i64,
) -> Result<LogRecord, String> {
    let mut headers = Vec::new();
    let wire = read_record(buf, |k, v| headers.push((k, v)))?;
    Ok(LogRecord {
        offset: base_offset.saturating_add(i64::from(wire.offset_delta)),
        timestamp: base_timestamp.saturating_add(wire.timestamp_delta),
        key: wire.key,
        value: wire.value,
        headers,
    })
}

fn write_bytes(out: &mut BytesMut, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.put_slice(b);
        }
    }
}

fn put_varint<T: VarInt>(out: &mut BytesMut, v: T) {
    let mut buf = [0u8; 10];
    let used = v.encode_var(&mut buf);
    out.put_slice(&buf[..used]);
}

/// Encodes one record (length-prefixed) relative to `base_offset` / `base_timestamp`.
/// The offset delta must fit an i32; [`encode_batch`] guarantees it.
pub fn encode_record(
    out: &mut BytesMut,
    record: &LogRecord,
    base_offset: i64,
    base_timestamp: i64,
) {
    let mut body = BytesMut::new();
    body.put_i8(0);
    put_varint(&mut body, record.timestamp.wrapping_sub(base_timestamp));
    put_varint(&mut body, (record.offset - base_offset) as i32);
    write_bytes(&mut body, record.key.as_deref());
    write_bytes(&mut body, record.value.as_deref());
    put_varint(&mut body, record.headers.len() as i32);
    for (name, value) in &record.headers {
        write_bytes(&mut body, Some(name));
        write_bytes(&mut body, value.as_deref());
    }
    put_varint(out, body.len() as i32);
    out.put_slice(&body);
}

/// Appends one uncompressed CreateTime batch holding `records` (ascending offsets, gaps
/// allowed, all within `i32::MAX` of the first) to `out`: base offset = the first record's,
/// `lastOffsetDelta` = the last record's, no producer id. Does nothing for no records.
pub fn encode_batch(out: &mut BytesMut, records: &[LogRecord]) {
    let Some(first) = records.first() else {
        return;
    };
    let base_offset = first.offset;
    let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
    let last_delta = records.last().map_or(0, |r| r.offset - base_offset) as i32;
    let fields = BatchFields {
        base_offset,
        last_offset_delta: last_delta,
        max_timestamp,
        ..BatchFields::default()
    };
    encode_batch_with(out, &fields, records);
}

/// Recomputes the CRC-32C of the complete batch at the start of `batch` and stores it, after
/// a CRC-covered field was edited in place (or a batch was assembled by hand).
pub fn rewrite_crc(batch: &mut [u8]) -> Result<(), BatchError> {
    let header = BatchHeader::parse_complete(batch)?;
    let size = header.total_size();
    let crc = compute_crc(&batch[..size]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// The header fields of a v2 batch that [`encode_batch_with`] takes from the caller (the rest,
/// lengths, CRC, base timestamp and record count, follow from the records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchFields {
    /// Offset of the batch; record offset deltas are relative to it.
    pub base_offset: i64,
    /// Offset of the batch's last offset relative to `base_offset` (may lie past the last
    /// record when compaction removed records).
    pub last_offset_delta: i32,
    /// Leader epoch stamped by the broker.
    pub partition_leader_epoch: i32,
    /// The batch's max timestamp, written as is (the log-append time for LogAppendTime).
    pub max_timestamp: i64,
    /// Sets the LogAppendTime attribute (bit 3).
    pub log_append_time: bool,
    /// Sets the transactional attribute (bit 4).
    pub transactional: bool,
    /// Sets the control attribute (bit 5).
    pub control: bool,
    /// Producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none.
    pub base_sequence: i32,
}

impl Default for BatchFields {
    /// A CreateTime batch at offset 0 with no producer, leader epoch -1 and no timestamp.
    fn default() -> BatchFields {
        BatchFields {
            base_offset: 0,
            last_offset_delta: 0,
            partition_leader_epoch: -1,
            max_timestamp: -1,
            log_append_time: false,
            transactional: false,
            control: false,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }
}

impl BatchFields {
    /// The fields of a parsed header (the compression codec and the delete-horizon bit are
    /// not kept).
    pub fn from_header(header: &BatchHeader) -> BatchFields {
        BatchFields {
            base_offset: header.base_offset,
            last_offset_delta: header.last_offset_delta,
            partition_leader_epoch: header.partition_leader_epoch,
            max_timestamp: header.max_timestamp,
            log_append_time: header.timestamp_type_is_log_append(),
            transactional: header.is_transactional(),
            control: header.is_control(),
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
        }
    }
}

/// Appends one uncompressed batch with the header `fields` holding `records` (ascending
/// offsets within `fields.base_offset ..= base_offset + last_offset_delta`; gaps allowed) to
/// `out`. The base timestamp is the first record's timestamp (-1 without records); record
/// timestamps are written relative to it, so consumers see them as given (for LogAppendTime
/// batches they see `max_timestamp`). The CRC-32C is computed.
pub fn encode_batch_with(out: &mut BytesMut, fields: &BatchFields, records: &[LogRecord]) {
    let base_offset = fields.base_offset;
    let base_timestamp = records.first().map_or(-1, |r| r.timestamp);
    let mut attributes = 0i16; // no compression
    if fields.log_append_time {
        attributes |= TIMESTAMP_TYPE_BIT;
    }
    if fields.transactional {
        attributes |= TRANSACTIONAL_BIT;
    }
    if fields.control {
        attributes |= CONTROL_BIT;
    }
    let start = out.len();
    out.put_i64(base_offset);
    out.put_i32(0); // batchLength, patched below
    out.put_i32(fields.partition_leader_epoch);
    out.put_i8(MAGIC_V2);
    out.put_u32(0); // crc, patched below
    out.put_i16(attributes);
    out.put_i32(fields.last_offset_delta);
    out.put_i64(base_timestamp);
    out.put_i64(fields.max_timestamp);
    out.put_i64(fields.producer_id);
    out.put_i16(fields.producer_epoch);
    out.put_i32(fields.base_sequence);
    out.put_i32(records.len() as i32);
    for r in records {
        encode_record(out, r, base_offset, base_timestamp);
    }
    let batch = &mut out[start..];
    let length = (batch.len() - LOG_OVERHEAD) as i32;
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_batch::verify_crc;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    fn record(offset: i64, ts: i64, key: &str, value: Option<&str>) -> LogRecord {
        LogRecord {
            offset,
            timestamp: ts,
            key: Some(Bytes::from(key.to_string())),
            value: value.map(|v| Bytes::from(v.to_string())),
            headers: vec![
                (Bytes::from_static(b"h"), Some(Bytes::from_static(b"1"))),
                (Bytes::from_static(b"h"), Some(Bytes::from_static(b"2"))),
                (Bytes::from_static(b"n"), None),
            ],
        }
    }

    #[test]
    fn header_keys_are_kept_as_bytes() {
        let mut r = record(3, 9, "k", Some("v"));
        r.headers = vec![
            (Bytes::from_static(b"\xff\xfe"), None),
            (Bytes::from_static(b"ok"), Some(Bytes::from_static(b"1"))),
        ];
        let mut out = BytesMut::new();
        encode_batch(&mut out, std::slice::from_ref(&r));
        assert_eq!(decode_batch(&out).unwrap(), vec![r]);
    }

    #[test]
    fn encoded_batches_decode_with_gaps_and_repeated_headers() {
        let records = vec![
            record(7, 5_000, "a", Some("x")),
            record(9, 4_000, "b", None),
            record(30, 6_000, "c", Some("")),
        ];
        let mut out = BytesMut::new();
        encode_batch(&mut out, &records);
        verify_crc(&out).unwrap();
        let header = BatchHeader::parse(&out).unwrap();
        assert_eq!(
            (
                header.base_offset,
                header.last_offset(),
                header.max_timestamp
            ),
            (7, 30, 6_000)
        );
        assert_eq!(decode_batch(&out).unwrap(), records);
        // The crate's decoder agrees on offsets, timestamps, keys and values.
        let mut bytes = out.freeze();
        let decoded = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        let got: Vec<_> = decoded[0]
            .records
            .iter()
            .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
            .collect();
        let want: Vec<_> = records
            .iter()
            .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn decodes_every_codec() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let rec = |i: i64| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: -1,
                timestamp: 100 + i,
                key: Some(Bytes::from(format!("k{i}"))),
                value: (i != 1).then(|| Bytes::from(format!("v{i}"))),
                headers: Default::default(),
                delete_horizon: false,
            };
            let mut buf = BytesMut::new();
            RecordBatchEncoder::encode(
                &mut buf,
                &[rec(0), rec(1), rec(2)],
                &RecordEncodeOptions {
                    version: 2,
                    compression,
                },
            )
            .unwrap();
            // The encoder may split records into several batches.
            let mut got = Vec::new();
            for item in crate::record_batch::split_batches(&buf) {
                let (_, range) = item.unwrap();
                got.extend(decode_batch(&buf[range]).unwrap());
            }
            let summary: Vec<_> = got
                .iter()
                .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
                .collect();
            assert_eq!(
                summary,
                vec![
                    (0, 100, Some(Bytes::from("k0")), Some(Bytes::from("v0"))),
                    (1, 101, Some(Bytes::from("k1")), None),
                    (2, 102, Some(Bytes::from("k2")), Some(Bytes::from("v2"))),
                ],
                "{compression:?}"
            );
        }
    }

    #[test]
    fn malformed_records_are_errors() {
        let mut out = BytesMut::new();
        encode_batch(&mut out, &[record(0, 1, "a", Some("x"))]);
        // Claim two records where there is one.
        let mut bad = out.to_vec();
        bad[57..61].copy_from_slice(&2i32.to_be_bytes());
        assert!(matches!(
            decode_batch(&bad),
            Err(RecordError::Malformed { index: 1, .. })
        ));
        let mut bad = out.to_vec();
        bad[22] = 7; // codec id 7
        assert!(matches!(
            decode_batch(&bad),
            Err(RecordError::Compression(CompressionError::UnknownCodec(7)))
        ));
    }

    fn control_batch() -> BytesMut {
        let marker = Record {
            transactional: true,
            control: true,
            partition_leader_epoch: 4,
            producer_id: 77,
            producer_epoch: 3,
            timestamp_type: TimestampType::Creation,
            offset: 40,
            sequence: -1,
            timestamp: 9_000,
            // Control record key: version 0, type 1 (commit); value: version 0, epoch 12.
            key: Some(Bytes::from_static(&[0, 0, 0, 1])),
            value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 12])),
            headers: Default::default(),
            delete_horizon: false,
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &[marker],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf
    }

    #[test]
    fn control_records_only_from_decode_batch_records() {
        let buf = control_batch();
        assert!(decode_batch(&buf).unwrap().is_empty());
        let (header, records) = decode_batch_records(&buf).unwrap();
        assert!(header.is_control() && header.is_transactional());
        assert_eq!(
            records,
            vec![LogRecord {
                offset: 40,
                timestamp: 9_000,
                key: Some(Bytes::from_static(&[0, 0, 0, 1])),
                value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 12])),
                headers: vec![],
            }]
        );
    }

    #[test]
    fn encode_batch_with_keeps_every_field() {
        let original = control_batch();
        let (header, records) = decode_batch_records(&original).unwrap();
        let mut out = BytesMut::new();
        encode_batch_with(&mut out, &BatchFields::from_header(&header), &records);
        verify_crc(&out).unwrap();
        // Uncompressed, same base timestamp: byte-identical.
        assert_eq!(out, original);

        let mut edited = out.to_vec();
        edited[crate::record_batch::PRODUCER_EPOCH_OFFSET + 1] = 9;
        assert!(verify_crc(&edited).is_err());
        rewrite_crc(&mut edited).unwrap();
        verify_crc(&edited).unwrap();
        assert!(rewrite_crc(&mut edited[..40]).is_err());

        let fields = BatchFields {
            base_offset: 100,
            last_offset_delta: 9,
            partition_leader_epoch: 2,
            max_timestamp: 55_555,
            log_append_time: true,
            transactional: true,
            control: false,
            producer_id: 8,
            producer_epoch: 1,
            base_sequence: 30,
        };
        let records = vec![record(100, 1, "a", Some("x")), record(109, 2, "b", None)];
        let mut out = BytesMut::new();
        encode_batch_with(&mut out, &fields, &records);
        verify_crc(&out).unwrap();
        let (header, got) = decode_batch_records(&out).unwrap();
        assert_eq!(BatchFields::from_header(&header), fields);
        assert_eq!(header.records_count, 2);
        // LogAppendTime: every record reads as the max timestamp.
        assert!(got.iter().all(|r| r.timestamp == 55_555));
        assert_eq!(got[1].headers, records[1].headers);
        // kafka-protocol reports the stored record timestamp even for LogAppendTime.
        let decoded = RecordBatchDecoder::decode(&mut out.freeze()).unwrap();
        let r = &decoded.records[1];
        assert_eq!(
            (
                r.offset,
                r.timestamp,
                r.timestamp_type,
                r.sequence,
                r.producer_id
            ),
            (109, 2, TimestampType::LogAppend, 39, 8)
        );
        assert!(r.transactional && !r.control);
    }
}
