//! Kafka batches back from the rows of a decoded chunk.
//!
//! A chunk ([`crate::layout::FileLayout::decode_chunk`]) holds whole Kafka batches: the
//! consecutive rows sharing a `batch_base_offset`. [`kafka_batches_from`] re-encodes them as
//! uncompressed v2 batches with every header field the consumer or a replica can observe
//! (base offset, lastOffsetDelta, partition leader epoch, LogAppendTime and max timestamp,
//! transactional and control bits, producer id, epoch and base sequence) and every record's
//! offset, timestamp, key, value and headers. What is not kept: the compression codec (the
//! batches come back uncompressed), the base timestamp (the first record's timestamp is
//! used; consumers only see absolute timestamps), the create times stored in the records of
//! LogAppendTime batches (consumers see the batch's max timestamp instead, and so do the
//! rebuilt records) and the delete-horizon attribute.
//!
//! [`first_at_or_after`] and [`max_timestamp_record`] answer ListOffsets within a chunk.
//! Rows are validated (types, nulls, offsets within their batch) into
//! [`TieringError::Corrupt`].

use std::ops::Range;

use arrow_array::{
    Array, BinaryArray, BooleanArray, Int16Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, TimestampMillisecondArray,
};
use bytes::{Bytes, BytesMut};
use weir_protocol::records::{encode_batch_with, BatchFields, LogRecord};

use crate::error::{Result, TieringError};
use crate::schema;

/// Typed, validated columns of a chunk.
struct Rows<'a> {
    len: usize,
    offset: &'a Int64Array,
    timestamp: &'a TimestampMillisecondArray,
    key: &'a BinaryArray,
    value: &'a BinaryArray,
    header_offsets: &'a [i32],
    header_keys: &'a StringArray,
    header_values: &'a BinaryArray,
    /// `raw_header_keys`: per row, null or every header key as sent.
    raw_header_keys: &'a ListArray,
    raw_keys: &'a BinaryArray,
    base_offset: &'a Int64Array,
    last_offset_delta: &'a Int32Array,
    max_timestamp: &'a Int64Array,
    log_append_time: &'a BooleanArray,
    producer_id: &'a Int64Array,
    producer_epoch: &'a Int16Array,
    base_sequence: &'a Int32Array,
    partition_leader_epoch: &'a Int32Array,
    transactional: &'a BooleanArray,
    control: &'a BooleanArray,
}

fn column<T: Array + 'static>(rows: &RecordBatch, index: usize) -> Result<&T> {
    let name = schema::log_schema()
        .fields()
        .get(index)
        .map_or_else(|| index.to_string(), |f| f.name().clone());
    rows.columns()
        .get(index)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| TieringError::corrupt(format!("column {name} is missing or mistyped")))
}

fn non_null<T: Array + 'static>(rows: &RecordBatch, index: usize) -> Result<&T> {
    let array = column::<T>(rows, index)?;
    if array.null_count() > 0 {
        return Err(TieringError::corrupt(format!(
            "nulls in non-null column {index}"
        )));
    }
    Ok(array)
}

/// Whether a list column's `offsets` describe `rows` lists over `items` values: one more
/// offset than rows, none past the values, never decreasing.
fn list_offsets_fit(offsets: &[i32], rows: usize, items: usize) -> bool {
    offsets.len() == rows + 1
        && offsets
            .iter()
            .all(|&o| usize::try_from(o).is_ok_and(|o| o <= items))
        && offsets.windows(2).all(|w| w[0] <= w[1])
}

impl<'a> Rows<'a> {
    fn new(rows: &'a RecordBatch) -> Result<Rows<'a>> {
        let headers = non_null::<ListArray>(rows, schema::HEADERS)?;
        let items = headers
            .values()
            .as_any()
            .downcast_ref::<StructArray>()
            .filter(|s| s.null_count() == 0 && s.num_columns() == 2)
            .ok_or_else(|| TieringError::corrupt("bad headers column"))?;
        let header_keys = items
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .filter(|k| k.null_count() == 0)
            .ok_or_else(|| TieringError::corrupt("bad header keys"))?;
        let header_values = items
            .column(1)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(|| TieringError::corrupt("bad header values"))?;
        let header_offsets = headers.value_offsets();
        if !list_offsets_fit(header_offsets, rows.num_rows(), header_keys.len())
            || header_values.len() != header_keys.len()
        {
            return Err(TieringError::corrupt("bad header offsets"));
        }
        let raw_header_keys = column::<ListArray>(rows, schema::RAW_HEADER_KEYS)?;
        let raw_keys = raw_header_keys
            .values()
            .as_any()
            .downcast_ref::<BinaryArray>()
            .filter(|k| k.null_count() == 0)
            .ok_or_else(|| TieringError::corrupt("bad raw header keys"))?;
        if !list_offsets_fit(
            raw_header_keys.value_offsets(),
            rows.num_rows(),
            raw_keys.len(),
        ) {
            return Err(TieringError::corrupt("bad raw header key offsets"));
        }
        Ok(Rows {
            len: rows.num_rows(),
            offset: non_null(rows, schema::OFFSET)?,
            timestamp: non_null(rows, schema::TIMESTAMP)?,
            key: column(rows, schema::KEY)?,
            value: column(rows, schema::VALUE)?,
            header_offsets,
            header_keys,
            header_values,
            raw_header_keys,
            raw_keys,
            base_offset: non_null(rows, schema::BATCH_BASE_OFFSET)?,
            last_offset_delta: non_null(rows, schema::BATCH_LAST_OFFSET_DELTA)?,
            max_timestamp: non_null(rows, schema::BATCH_MAX_TIMESTAMP)?,
            log_append_time: non_null(rows, schema::LOG_APPEND_TIME)?,
            producer_id: non_null(rows, schema::PRODUCER_ID)?,
            producer_epoch: non_null(rows, schema::PRODUCER_EPOCH)?,
            base_sequence: non_null(rows, schema::BASE_SEQUENCE)?,
            partition_leader_epoch: non_null(rows, schema::PARTITION_LEADER_EPOCH)?,
            transactional: non_null(rows, schema::IS_TRANSACTIONAL)?,
            control: non_null(rows, schema::IS_CONTROL)?,
        })
    }

    fn fields(&self, row: usize) -> BatchFields {
        BatchFields {
            base_offset: self.base_offset.value(row),
            last_offset_delta: self.last_offset_delta.value(row),
            partition_leader_epoch: self.partition_leader_epoch.value(row),
            max_timestamp: self.max_timestamp.value(row),
            log_append_time: self.log_append_time.value(row),
            transactional: self.transactional.value(row),
            control: self.control.value(row),
            producer_id: self.producer_id.value(row),
            producer_epoch: self.producer_epoch.value(row),
            base_sequence: self.base_sequence.value(row),
        }
    }

    /// The Kafka batches of the chunk: header fields and row range, in order, validated
    /// (same fields on every row of a batch, offsets ascending within
    /// `base..=base + lastOffsetDelta`, batches ascending).
    fn batches(&self) -> Result<Vec<(BatchFields, Range<usize>)>> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut previous_last: Option<i64> = None;
        while start < self.len {
            let fields = self.fields(start);
            let base = fields.base_offset;
            let last = i64::from(fields.last_offset_delta)
                .checked_add(base)
                .filter(|_| fields.last_offset_delta >= 0)
                .ok_or_else(|| {
                    TieringError::corrupt(format!("batch at {base}: bad lastOffsetDelta"))
                })?;
            if previous_last.is_some_and(|p| base <= p) {
                return Err(TieringError::corrupt(format!(
                    "batch at {base} overlaps the one before"
                )));
            }
            let mut end = start;
            let mut previous = None;
            while end < self.len && self.base_offset.value(end) == base {
                if self.fields(end) != fields {
                    return Err(TieringError::corrupt(format!(
                        "batch at {base}: fields differ between rows"
                    )));
                }
                let offset = self.offset.value(end);
                if offset < base || offset > last || previous.is_some_and(|p| offset <= p) {
                    return Err(TieringError::corrupt(format!(
                        "batch at {base}: record offset {offset} out of order or outside ..={last}"
                    )));
                }
                previous = Some(offset);
                end += 1;
            }
            out.push((fields, start..end));
            previous_last = Some(last);
            start = end;
        }
        Ok(out)
    }

    fn record(&self, row: usize) -> Result<LogRecord> {
        let bytes =
            |a: &BinaryArray, i: usize| (!a.is_null(i)).then(|| Bytes::copy_from_slice(a.value(i)));
        let (from, to) = match self.header_offsets.get(row..row + 2) {
            Some(&[from, to]) => (from as usize, to as usize),
            _ => {
                return Err(TieringError::corrupt(format!(
                    "row {row}: bad header offsets"
                )))
            }
        };
        let raw = if self.raw_header_keys.is_valid(row) {
            let offsets = self.raw_header_keys.value_offsets();
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            if end - start != to - from {
                return Err(TieringError::corrupt(format!(
                    "row {row}: {} raw header keys for {} headers",
                    end - start,
                    to - from
                )));
            }
            Some(start)
        } else {
            None
        };
        let headers = (from..to)
            .map(|j| {
                let key = match raw {
                    Some(start) => Bytes::copy_from_slice(self.raw_keys.value(start + j - from)),
                    None => Bytes::copy_from_slice(self.header_keys.value(j).as_bytes()),
                };
                (key, bytes(self.header_values, j))
            })
            .collect();
        Ok(LogRecord {
            offset: self.offset.value(row),
            timestamp: self.timestamp.value(row),
            key: bytes(self.key, row),
            value: bytes(self.value, row),
            headers,
        })
    }

    /// `(offset, timestamp)` of the data (non-control) rows, in order.
    fn data_rows(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        (0..self.len)
            .filter(|&i| !self.control.value(i))
            .map(|i| (self.offset.value(i), self.timestamp.value(i)))
    }
}

/// Uncompressed v2 batches (CRC-32C computed) for the Kafka batches of the chunk `rows`,
/// starting with the one holding `from_offset` (batches whose last offset is below it are
/// skipped). Whole batches only; stops before going over `max_bytes`, but returns at least
/// one batch when one qualifies. Empty when no batch ends at or after `from_offset`.
pub fn kafka_batches_from(rows: &RecordBatch, from_offset: i64, max_bytes: usize) -> Result<Bytes> {
    let view = Rows::new(rows)?;
    let mut out = BytesMut::new();
    let mut records = Vec::new();
    for (fields, range) in view.batches()? {
        let last = fields.base_offset + i64::from(fields.last_offset_delta);
        if last < from_offset {
            continue;
        }
        records.clear();
        for row in range {
            records.push(view.record(row)?);
        }
        let mark = out.len();
        encode_batch_with(&mut out, &fields, &records);
        if out.len() > max_bytes && mark > 0 {
            out.truncate(mark);
            break;
        }
        if out.len() >= max_bytes {
            break;
        }
    }
    Ok(out.freeze())
}

/// Every Kafka batch of the chunk as header fields and records (control records included),
/// for readers that want records rather than wire bytes.
pub fn batch_records(rows: &RecordBatch) -> Result<Vec<(BatchFields, Vec<LogRecord>)>> {
    let view = Rows::new(rows)?;
    view.batches()?
        .into_iter()
        .map(|(fields, range)| {
            let records = range
                .map(|row| view.record(row))
                .collect::<Result<Vec<_>>>()?;
            Ok((fields, records))
        })
        .collect()
}

/// `(offset, timestamp)` of the first data record (control records excluded), in offset
/// order, whose timestamp is `>= ts`.
pub fn first_at_or_after(rows: &RecordBatch, ts: i64) -> Result<Option<(i64, i64)>> {
    let view = Rows::new(rows)?;
    let found = view.data_rows().find(|&(_, t)| t >= ts);
    Ok(found)
}

/// `(offset, timestamp)` of the data record with the largest timestamp (the first one on
/// ties), control records excluded.
pub fn max_timestamp_record(rows: &RecordBatch) -> Result<Option<(i64, i64)>> {
    let view = Rows::new(rows)?;
    let mut best: Option<(i64, i64)> = None;
    for (offset, ts) in view.data_rows() {
        if best.is_none_or(|(_, b)| ts > b) {
            best = Some((offset, ts));
        }
    }
    Ok(best)
}
