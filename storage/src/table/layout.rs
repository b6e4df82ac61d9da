//! How the table store lays its data out in RocksDB: column family names and the byte
//! encodings of their keys and values. Integers are big-endian so that keys sort in numeric
//! order; row payloads reuse the Kafka record encoding (key, value, headers with repeats).

use bytes::{BufMut, Bytes, BytesMut};
use weir_protocol::records::{decode_record, encode_record, LogRecord};

use super::{Row, TableError};

/// Latest row per key: key -> [`encode_row`].
pub const STATE: &str = "state";
/// Offset of every row in `state` (tombstones included): offset -> key.
pub const BY_OFFSET: &str = "by_offset";
/// Every change of every key: [`history_key`] -> [`encode_history`].
pub const HISTORY: &str = "history";
/// Tombstones by time, for `delete.retention.ms`: [`time_key`] -> key.
pub const TOMBSTONES: &str = "tombstones";
/// Applied offset and live row count.
pub const META: &str = "meta";
/// Live rows by the time of their write, for row TTL (`cleanup.policy=compact,delete`):
/// [`time_key`] -> key.
pub const LIVE_BY_TIME: &str = "live_by_time";
/// Every column family the store opens.
pub const COLUMN_FAMILIES: [&str; 6] = [STATE, BY_OFFSET, HISTORY, TOMBSTONES, META, LIVE_BY_TIME];

/// `meta` key of the last applied source offset (i64).
pub const APPLIED: &[u8] = b"applied";
/// `meta` key of the number of live (non-tombstone) rows (i64).
pub const LIVE_ROWS: &[u8] = b"live_rows";

/// `meta` key of a named entry the broker stores (`n:` ++ name, apart from the fixed keys).
pub fn named_meta_key(name: &str) -> Vec<u8> {
    let mut k = b"n:".to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

/// What a history entry records about a write that changed a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    /// The key had no live row before.
    Insert = 0,
    /// The key had a different value before.
    Update = 1,
    /// The key was deleted.
    Delete = 2,
    /// The key was written with the value it already had: no change, but the write is the
    /// row's latest (its offset, timestamp and headers; the start of its TTL).
    Touch = 3,
}

fn corrupt(what: &'static str, reason: impl Into<String>) -> TableError {
    TableError::Corrupt {
        what,
        reason: reason.into(),
    }
}

/// Reads an i64 stored big-endian.
pub fn decode_i64(what: &'static str, bytes: &[u8]) -> Result<i64, TableError> {
    let raw: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt(what, format!("{} bytes, expected 8", bytes.len())))?;
    Ok(i64::from_be_bytes(raw))
}

/// Orders signed timestamps correctly as unsigned big-endian bytes.
fn ordered_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// `tombstones` and `live_by_time` key: ordered timestamp ++ offset.
pub fn time_key(timestamp: i64, offset: i64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&ordered_i64(timestamp));
    k[8..].copy_from_slice(&offset.to_be_bytes());
    k
}

/// The timestamp part of a `tombstones` key.
pub fn time_key_timestamp(key: &[u8]) -> Result<i64, TableError> {
    let raw: [u8; 8] = key
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| corrupt("tombstone key", "shorter than 8 bytes"))?;
    Ok((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

/// The prefix of every `history` key of `key`: key length (u32) ++ key.
pub fn history_prefix(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + key.len() + 8);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// `history` key: [`history_prefix`] ++ source offset.
pub fn history_key(key: &[u8], offset: i64) -> Vec<u8> {
    let mut k = history_prefix(key);
    k.extend_from_slice(&offset.to_be_bytes());
    k
}

/// The source offset at the end of a `history` key.
pub fn history_key_offset(key: &[u8]) -> Result<i64, TableError> {
    let tail = key
        .len()
        .checked_sub(8)
        .ok_or_else(|| corrupt("history key", "shorter than 8 bytes"))?;
    decode_i64("history key", &key[tail..])
}

fn encode_payload(out: &mut BytesMut, row: &Row) {
    let record = LogRecord {
        offset: row.offset,
        timestamp: row.timestamp,
        key: None,
        value: row.value.clone(),
        headers: row.headers.clone(),
    };
    encode_record(out, &record, row.offset, row.timestamp);
}

fn decode_payload(
    what: &'static str,
    mut payload: Bytes,
    key: &[u8],
    offset: i64,
    timestamp: i64,
) -> Result<Row, TableError> {
    let record =
        decode_record(&mut payload, offset, timestamp).map_err(|reason| corrupt(what, reason))?;
    Ok(Row {
        offset,
        timestamp,
        key: Bytes::copy_from_slice(key),
        value: record.value,
        headers: record.headers,
    })
}

/// `state` value: offset ++ timestamp ++ record (value and headers).
pub fn encode_row(row: &Row) -> Bytes {
    let mut out = BytesMut::with_capacity(16 + row.value.as_ref().map_or(0, |v| v.len()) + 16);
    out.put_i64(row.offset);
    out.put_i64(row.timestamp);
    encode_payload(&mut out, row);
    out.freeze()
}

/// Decodes a `state` value of `key`.
pub fn decode_row(key: &[u8], value: &[u8]) -> Result<Row, TableError> {
    if value.len() < 16 {
        return Err(corrupt("row", "shorter than 16 bytes"));
    }
    let offset = decode_i64("row", &value[..8])?;
    let timestamp = decode_i64("row", &value[8..16])?;
    decode_payload(
        "row",
        Bytes::copy_from_slice(&value[16..]),
        key,
        offset,
        timestamp,
    )
}

/// `history` value: kind ++ timestamp ++ record (the new image: value and headers).
pub fn encode_history(kind: HistoryKind, row: &Row) -> Bytes {
    let mut out = BytesMut::with_capacity(9 + row.value.as_ref().map_or(0, |v| v.len()) + 16);
    out.put_u8(kind as u8);
    out.put_i64(row.timestamp);
    encode_payload(&mut out, row);
    out.freeze()
}

/// Decodes a `history` value of `key` at source offset `offset`.
pub fn decode_history(
    key: &[u8],
    offset: i64,
    value: &[u8],
) -> Result<(HistoryKind, Row), TableError> {
    if value.len() < 9 {
        return Err(corrupt("history entry", "shorter than 9 bytes"));
    }
    let kind = match value[0] {
        0 => HistoryKind::Insert,
        1 => HistoryKind::Update,
        2 => HistoryKind::Delete,
        3 => HistoryKind::Touch,
        other => return Err(corrupt("history entry", format!("kind {other}"))),
    };
    let timestamp = decode_i64("history entry", &value[1..9])?;
    let row = decode_payload(
        "history entry",
        Bytes::copy_from_slice(&value[9..]),
        key,
        offset,
        timestamp,
    )?;
    Ok((kind, row))
}
