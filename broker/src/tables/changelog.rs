//! Rendering table changes as changelog records, and finding how far the changelog got.
//!
//! Raw format: one record per change, key = primary key, value = row image, headers
//! `weir.op` (`+I`, `-U`, `+U`, `-D`) and `weir.source.offset`. Debezium format: one record
//! per logical change, value `{"before":…,"after":…,"op":"c|u|d","ts_ms":…}` (an update's
//! `-U`/`+U` pair becomes one `u` record), with the same `weir.source.offset` header.
//! The changes of one apply always go into one batch, so a torn write loses all of them or
//! none, and the recovery's "last source offset in the changelog" is exact.

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use weir_protocol::records::{decode_batch, encode_batch, LogRecord};
use weir_storage::table::{Change, ChangeOp};
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

/// One record batch (offsets from 0; the log assigns the real ones) holding `changes`.
pub fn encode_changes(changes: &[&Change], format: ChangelogFormat) -> ApiResult<Bytes> {
    let mut records = Vec::with_capacity(changes.len());
    match format {
        ChangelogFormat::Raw => {
            for c in changes {
                records.push(record(
                    records.len(),
                    c,
                    c.value.clone(),
                    Some(c.op.as_str()),
                ));
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
                records.push(record(records.len(), c, Some(value), None));
                i += 1;
            }
        }
    }
    if records.len() > i32::MAX as usize {
        return Err(ApiError::new(
            ResponseError::MessageTooLarge,
            "too many changes for one changelog batch",
        ));
    }
    let mut buf = BytesMut::new();
    encode_batch(&mut buf, &records);
    Ok(buf.freeze())
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
