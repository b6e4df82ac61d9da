//! The snapshot export: every live row of a table as of now or a timestamp, as Arrow record
//! batches of columns `partition`, `key`, `value`, `offset`, `timestamp`, `headers` — the
//! offline view of the same table the lookups serve, each partition read from one
//! consistent view of its store.

use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use weir_typed::ValueCodec;

use super::columns::{headers_type, timestamp_type, value_type, RowColumns};
use super::ContextError;
use crate::tables::{Found, TableSnapshot};
use crate::topics::Topic;

/// Rows per record batch of the export.
const ROWS_PER_BATCH: usize = 8_192;

/// The schema of a snapshot of a table whose keys are UTF-8 (`string_keys`) or bytes and
/// whose values are typed by `codec` or bytes.
pub fn schema(string_keys: bool, codec: Option<&ValueCodec>) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("partition", DataType::Int32, false),
        Field::new(
            "key",
            if string_keys {
                DataType::Utf8
            } else {
                DataType::Binary
            },
            false,
        ),
        Field::new("value", value_type(codec), true),
        Field::new("offset", DataType::Int64, false),
        Field::new("timestamp", timestamp_type(), false),
        Field::new("headers", headers_type(), false),
    ]))
}

/// Streams the snapshot of `topic` as of `as_of` (`None`: now) to `emit`, one record batch
/// at a time; stops early when `emit` returns false (the reader went away).
pub fn export(
    topic: &Topic,
    as_of: Option<i64>,
    now_ms: i64,
    string_keys: bool,
    codec: Option<&ValueCodec>,
    mut emit: impl FnMut(RecordBatch) -> bool,
) -> Result<(), ContextError> {
    let schema = schema(string_keys, codec);
    let partitions = topic.partitions();
    let mut rows = TableSnapshot::new(
        partitions
            .iter()
            .filter_map(|p| p.table.as_deref().map(|t| (p.index, t))),
        as_of,
        now_ms,
    )?;
    let mut sent_any = false;
    loop {
        let mut chunk: Vec<Found> = Vec::with_capacity(ROWS_PER_BATCH);
        while chunk.len() < ROWS_PER_BATCH {
            match rows.next_row()? {
                Some(found) => chunk.push(found),
                None => break,
            }
        }
        if chunk.is_empty() && sent_any {
            return Ok(());
        }
        let last = chunk.len() < ROWS_PER_BATCH;
        if !emit(batch(&schema, &chunk, string_keys, codec)?) || last {
            return Ok(());
        }
        sent_any = true;
    }
}

fn batch(
    schema: &SchemaRef,
    rows: &[Found],
    string_keys: bool,
    codec: Option<&ValueCodec>,
) -> Result<RecordBatch, ContextError> {
    let refs: Vec<Option<&Found>> = rows.iter().map(Some).collect();
    let columns = RowColumns::new(&refs, codec);
    let keys: ArrayRef = if string_keys {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|f| String::from_utf8_lossy(&f.row.key)),
        ))
    } else {
        Arc::new(BinaryArray::from_iter_values(
            rows.iter().map(|f| f.row.key.as_ref()),
        ))
    };
    let [offset, timestamp, partition, headers] = columns.metadata_arrays();
    Ok(RecordBatch::try_new(
        schema.clone(),
        vec![partition, keys, columns.value(), offset, timestamp, headers],
    )?)
}
