//! Rendering table changes as changelog records, and finding how far the changelog got.
//!
//! Raw format: one record per change, key = primary key, value = row image, headers
//! `weir.op` (`+I`, `-U`, `+U`, `-D`) and `weir.source.offset` (and `weir.expired=true` on
//! the `-D` of a row whose TTL ended). Debezium format: one record
//! per logical change, value `{"before":…,"after":…,"op":"c|u|d","ts_ms":…}` (an update's
//! `-U`/`+U` pair becomes one `u` record), with the same `weir.source.offset` header.
//! The changes of one apply are written in one append, cut into batches of at most the
//! changelog's `max.message.bytes` (so consumers sized for it can read them) but never inside
//! the changes of one source record: a torn write loses a suffix of whole source records, so
//! the recovery's "last source offset in the changelog" is exact.

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use weir_protocol::records::{decode_batch, encode_batch, LogRecord};
use weir_storage::table::{Change, ChangeOp, EXPIRED_HEADER};
use weir_storage::PartitionLog;

use crate::errors::{ApiError, ApiResult};
use crate::topic_config::ChangelogFormat;

/// Header holding the change kind.
pub const OP_HEADER: &str = "weir.op";
/// Header holding the offset of the write in the table topic.
pub const SOURCE_OFFSET_HEADER: &str = "weir.source.offset";

fn record(index: usize, change: &Change, value: Option<Bytes>, op: Option<&str>) -> LogRecord {
    let mut headers = Vec::with_capacity(2);
    if let Some(op) = op {
        headers.push((
            Bytes::from_static(OP_HEADER.as_bytes()),
            Some(Bytes::copy_from_slice(op.as_bytes())),
        ));
    }
    headers.push((
        Bytes::from_static(SOURCE_OFFSET_HEADER.as_bytes()),
        Some(Bytes::from(change.source_offset.to_string())),
    ));
    // A delete the broker wrote when the row's TTL ended says so.
    if let Some(expired) = change
        .headers
        .iter()
        .find(|(k, _)| k.as_ref() == EXPIRED_HEADER.as_bytes())
    {
        headers.push(expired.clone());
    }
    LogRecord {
        offset: index as i64,
        timestamp: change.timestamp,
        key: Some(change.key.clone()),
        value,
        headers,
    }
}

fn json_image(value: &Option<Bytes>) -> serde_json::Value {
    value
        .as_ref()
        .and_then(|v| serde_json::from_slice(v).ok())
        .unwrap_or(serde_json::Value::Null)
}

fn envelope(before: &Option<Bytes>, after: &Option<Bytes>, op: &str, ts: i64) -> Bytes {
    let v = serde_json::json!({
        "before": json_image(before),
        "after": json_image(after),
        "op": op,
        "ts_ms": ts,
    });
    Bytes::from(v.to_string())
}

/// Bytes a record can take in a batch, at most: its key, value and header bytes plus the
/// largest varints of its framing.
fn encoded_size_bound(r: &LogRecord) -> usize {
    let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
    let headers: usize = r.headers.iter().map(|(k, v)| 10 + k.len() + len(v)).sum();
    41 + len(&r.key) + len(&r.value) + headers
}

/// The changes rendered as changelog records, each with the source offset it derives from.
fn render(changes: &[&Change], format: ChangelogFormat) -> Vec<(i64, LogRecord)> {
    let mut records = Vec::with_capacity(changes.len());
    match format {
        ChangelogFormat::Raw => {
            for c in changes {
                let r = record(records.len(), c, c.value.clone(), Some(c.op.as_str()));
                records.push((c.source_offset, r));
            }
        }
        ChangelogFormat::DebeziumJson => {
            let mut i = 0;
            while i < changes.len() {
                let c = changes[i];
                let value = match c.op {
                    ChangeOp::Insert => envelope(&None, &c.value, "c", c.timestamp),
                    ChangeOp::Delete => envelope(&c.value, &None, "d", c.timestamp),
                    ChangeOp::UpdateBefore => {
                        let after = changes
                            .get(i + 1)
                            .filter(|n| n.op == ChangeOp::UpdateAfter && n.key == c.key);
                        i += usize::from(after.is_some());
                        envelope(
                            &c.value,
                            &after.and_then(|a| a.value.clone()),
                            "u",
                            c.timestamp,
                        )
                    }
                    ChangeOp::UpdateAfter => envelope(&None, &c.value, "u", c.timestamp),
                };
                let r = record(records.len(), c, Some(value), None);
                records.push((c.source_offset, r));
                i += 1;
            }
        }
    }
    records
}

/// Record batches (offsets from 0 in each; the log assigns the real ones) holding `changes`,
/// concatenated. Each batch stays within `max_batch_bytes` unless one source record's changes
/// alone are larger (they are never split).
pub fn encode_changes(
    changes: &[&Change],
    format: ChangelogFormat,
    max_batch_bytes: usize,
) -> Bytes {
    let mut out = BytesMut::new();
    let mut batch: Vec<LogRecord> = Vec::new();
    let mut batch_bytes = weir_protocol::record_batch::HEADER_SIZE;
    let mut last_source = None;
    for (source, mut r) in render(changes, format) {
        let size = encoded_size_bound(&r);
        let new_source = last_source != Some(source);
        if new_source && !batch.is_empty() && batch_bytes + size > max_batch_bytes {
            encode_batch(&mut out, &batch);
            batch.clear();
            batch_bytes = weir_protocol::record_batch::HEADER_SIZE;
        }
        r.offset = batch.len() as i64;
        batch.push(r);
        batch_bytes += size;
        last_source = Some(source);
    }
    if !batch.is_empty() {
        encode_batch(&mut out, &batch);
    }
    out.freeze()
}

/// The `weir.source.offset` of every record of the batches read at `offset`.
fn source_offsets_at(changelog: &PartitionLog, offset: i64) -> ApiResult<Vec<i64>> {
    let read = changelog.read(offset, 1 << 20)?;
    let unreadable = |e: &dyn std::fmt::Display| {
        ApiError::new(
            ResponseError::CorruptMessage,
            format!("changelog unreadable at offset {offset}: {e}"),
        )
    };
    let mut out = Vec::new();
    for item in weir_protocol::record_batch::split_batches(&read.records) {
        let (_, range) = item.map_err(|e| unreadable(&e))?;
        let records = decode_batch(&read.records[range]).map_err(|e| unreadable(&e))?;
        out.extend(records.iter().map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == SOURCE_OFFSET_HEADER.as_bytes())
                .and_then(|(_, v)| v.as_ref())
                .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
                .unwrap_or(-1)
        }));
    }
    Ok(out)
}

/// The highest `weir.source.offset` in the changelog's last batch, or -1 when it is empty.
pub fn last_source_offset(changelog: &PartitionLog) -> ApiResult<i64> {
    let end = changelog.log_end_offset();
    if end <= changelog.log_start_offset() {
        return Ok(-1);
    }
    Ok(source_offsets_at(changelog, end - 1)?
        .into_iter()
        .max()
        .unwrap_or(-1))
}

/// The source offset of the oldest change still retained in the changelog: older changes
/// have left the changelog's retention. 0 while nothing has been deleted from it.
pub fn first_retained_source_offset(changelog: &PartitionLog) -> ApiResult<i64> {
    let start = changelog.log_start_offset();
    if start == 0 {
        return Ok(0);
    }
    if start >= changelog.log_end_offset() {
        return Ok(i64::MAX);
    }
    Ok(source_offsets_at(changelog, start)?
        .into_iter()
        .find(|o| *o >= 0)
        .unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_protocol::record_batch::split_batches;

    fn change(op: ChangeOp, source_offset: i64, key: &str, value: &str) -> Change {
        Change {
            op,
            source_offset,
            timestamp: 1_700_000_000_000 + source_offset,
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: Vec::new(),
        }
    }

    /// Inserts, then an update (a -U/+U pair) for every key.
    fn changes(keys: usize) -> Vec<Change> {
        let mut out: Vec<Change> = (0..keys)
            .map(|i| change(ChangeOp::Insert, i as i64, &format!("k{i}"), "a"))
            .collect();
        for i in 0..keys {
            let at = (keys + i) as i64;
            out.push(change(ChangeOp::UpdateBefore, at, &format!("k{i}"), "a"));
            out.push(change(ChangeOp::UpdateAfter, at, &format!("k{i}"), "b"));
        }
        out
    }

    #[test]
    fn batches_stay_within_the_limit_and_never_split_a_source_record() {
        let all = changes(5_000);
        let refs: Vec<&Change> = all.iter().collect();
        for format in [ChangelogFormat::Raw, ChangelogFormat::DebeziumJson] {
            for limit in [200, 4_096, 65_536, 1 << 20] {
                let bytes = encode_changes(&refs, format, limit);
                let mut sources = Vec::new();
                let mut batches = 0;
                for item in split_batches(&bytes) {
                    let (_, range) = item.unwrap();
                    assert!(range.len() <= limit.max(200), "{} > {limit}", range.len());
                    let records = decode_batch(&bytes[range]).unwrap();
                    assert_eq!(
                        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
                        (0..records.len() as i64).collect::<Vec<_>>()
                    );
                    let first_source = source_of(&records[0]);
                    // A batch never starts in the middle of a source record's changes.
                    assert!(sources.last() != Some(&first_source));
                    sources.extend(records.iter().map(source_of));
                    batches += 1;
                }
                let want: Vec<i64> = match format {
                    ChangelogFormat::Raw => all.iter().map(|c| c.source_offset).collect(),
                    // One record per logical change: the -U/+U pair is one "u".
                    ChangelogFormat::DebeziumJson => (0..10_000).collect(),
                };
                assert_eq!(sources, want, "{format:?} limit {limit}");
                assert!(limit >= 1 << 20 || batches > 1);
            }
        }
    }

    fn source_of(r: &LogRecord) -> i64 {
        let (_, v) = r
            .headers
            .iter()
            .find(|(k, _)| k == SOURCE_OFFSET_HEADER.as_bytes())
            .unwrap();
        std::str::from_utf8(v.as_ref().unwrap())
            .unwrap()
            .parse()
            .unwrap()
    }
}
