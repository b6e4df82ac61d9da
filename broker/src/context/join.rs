//! The point-in-time join: for each input row (key, timestamp, other columns passed
//! through), each table's row as of that timestamp — exactly what a lookup with `?as_of=`
//! returns — appended as columns `{table}__value`, `__offset`, `__timestamp`,
//! `__partition`, `__headers` (null when the key had no row then). Batches are joined one
//! at a time, in input order; the rows of a large batch are split across threads.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use weir_typed::ValueCodec;

use super::columns::{row_fields, RowColumns};
use super::ContextError;
use crate::tables::{AsOf, Found, TableReader};
use crate::topics::Topic;

/// One table of a join.
pub struct JoinTable {
    /// The table topic.
    pub topic: Arc<Topic>,
    /// How its values are typed, when they are.
    pub codec: Option<ValueCodec>,
}

/// What to join: the input's key and timestamp columns and the tables.
pub struct Join {
    /// Name of the key column.
    pub key_column: String,
    /// Name of the timestamp column.
    pub timestamp_column: String,
    /// The tables, in output column order.
    pub tables: Vec<JoinTable>,
}

/// Rows per thread below which a batch is not split.
const ROWS_PER_THREAD: usize = 8_192;

fn column_index(schema: &Schema, name: &str, role: &str) -> Result<usize, ContextError> {
    schema.index_of(name).map_err(|_| {
        let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        ContextError::BadRequest(format!(
            "the input has no {role} column {name:?} (its columns: {})",
            have.join(", ")
        ))
    })
}

/// The key column as bytes per row (integers as decimal text).
fn keys(column: &ArrayRef, name: &str) -> Result<Vec<Option<Vec<u8>>>, ContextError> {
    let bytes = |v: Option<&[u8]>| v.map(<[u8]>::to_vec);
    Ok(match column.data_type() {
        DataType::Utf8 => column
            .as_string::<i32>()
            .iter()
            .map(|v| bytes(v.map(str::as_bytes)))
            .collect(),
        DataType::LargeUtf8 => column
            .as_string::<i64>()
            .iter()
            .map(|v| bytes(v.map(str::as_bytes)))
            .collect(),
        DataType::Utf8View => column
            .as_string_view()
            .iter()
            .map(|v| bytes(v.map(str::as_bytes)))
            .collect(),
        DataType::Binary => column.as_binary::<i32>().iter().map(bytes).collect(),
        DataType::LargeBinary => column.as_binary::<i64>().iter().map(bytes).collect(),
        DataType::BinaryView => column.as_binary_view().iter().map(bytes).collect(),
        DataType::Int64 => column
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(|n| n.to_string().into_bytes()))
            .collect(),
        DataType::Int32 => column
            .as_primitive::<Int32Type>()
            .iter()
            .map(|v| v.map(|n| n.to_string().into_bytes()))
            .collect(),
        other => {
            return Err(ContextError::BadRequest(format!(
                "key column {name:?} is {other}; expected utf8, binary, int32 or int64"
            )))
        }
    })
}

/// The timestamp column as epoch milliseconds per row (finer units floored).
fn timestamps(column: &ArrayRef, name: &str) -> Result<Vec<Option<i64>>, ContextError> {
    let floor = |v: Option<i64>, per_ms: i64| v.map(|n| n.div_euclid(per_ms));
    Ok(match column.data_type() {
        DataType::Int64 => column.as_primitive::<Int64Type>().iter().collect(),
        DataType::Timestamp(TimeUnit::Millisecond, _) => column
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .collect(),
        DataType::Timestamp(TimeUnit::Second, _) => column
            .as_primitive::<TimestampSecondType>()
            .iter()
            .map(|v| v.map(|s| s.saturating_mul(1000)))
            .collect(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => column
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .map(|v| floor(v, 1_000))
            .collect(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => column
            .as_primitive::<TimestampNanosecondType>()
            .iter()
            .map(|v| floor(v, 1_000_000))
            .collect(),
        other => {
            return Err(ContextError::BadRequest(format!(
                "timestamp column {name:?} is {other}; expected int64 (epoch ms) or a timestamp"
            )))
        }
    })
}

impl Join {
    /// The output schema for input of `input` schema: the input's columns, then each
    /// table's. Refuses inputs without the key or timestamp column, and output names that
    /// collide.
    pub fn output_schema(&self, input: &Schema) -> Result<SchemaRef, ContextError> {
        column_index(input, &self.key_column, "key")?;
        column_index(input, &self.timestamp_column, "timestamp")?;
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        for table in &self.tables {
            for field in row_fields(&format!("{}__", table.topic.name), table.codec.as_ref()) {
                if fields.iter().any(|f| f.name() == field.name()) {
                    return Err(ContextError::BadRequest(format!(
                        "output column {:?} would appear twice (an input column has that name, or a table is named twice)",
                        field.name()
                    )));
                }
                fields.push(field);
            }
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    /// Joins one input batch; `schema` is [`Join::output_schema`] of its schema.
    pub fn join_batch(
        &self,
        batch: &RecordBatch,
        schema: &SchemaRef,
        now_ms: i64,
    ) -> Result<RecordBatch, ContextError> {
        let input = batch.schema();
        let key_at = column_index(&input, &self.key_column, "key")?;
        let ts_at = column_index(&input, &self.timestamp_column, "timestamp")?;
        let keys = keys(batch.column(key_at), &self.key_column)?;
        let timestamps = timestamps(batch.column(ts_at), &self.timestamp_column)?;
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for table in &self.tables {
            let found = lookup_rows(&table.topic, &keys, &timestamps, now_ms)?;
            let refs: Vec<Option<&Found>> = found.iter().map(Option::as_ref).collect();
            columns.extend(RowColumns::new(&refs, table.codec.as_ref()).arrays());
        }
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

/// Each (key, timestamp)'s row of `topic`, in order; the rows are split across threads.
fn lookup_rows(
    topic: &Topic,
    keys: &[Option<Vec<u8>>],
    timestamps: &[Option<i64>],
    now_ms: i64,
) -> Result<Vec<Option<Found>>, ContextError> {
    let partitions = topic.partitions();
    let tables: Vec<_> = partitions
        .iter()
        .filter_map(|p| p.table.as_deref().map(|t| (p.index, t)))
        .collect();
    let lookup = |range: std::ops::Range<usize>| -> Result<Vec<Option<Found>>, ContextError> {
        let mut reader = TableReader::new(tables.iter().copied(), now_ms)?;
        range
            .map(|i| match (&keys[i], timestamps[i]) {
                (Some(key), Some(ts)) => Ok(reader.get(key, AsOf::Timestamp(ts))?),
                _ => Ok(None),
            })
            .collect()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(keys.len() / ROWS_PER_THREAD)
        .max(1);
    if threads == 1 {
        return lookup(0..keys.len());
    }
    let chunk = keys.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk).min(keys.len())..((t + 1) * chunk).min(keys.len());
                scope.spawn(move || lookup(range))
            })
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for h in handles {
            out.extend(
                h.join().map_err(|_| {
                    ContextError::Unavailable("a join worker thread failed".into())
                })??,
            );
        }
        Ok(out)
    })
}
