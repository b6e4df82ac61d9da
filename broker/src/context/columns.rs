//! Arrow columns of table rows, shared by the snapshot export and the point-in-time join:
//! `value` (binary, or a struct of the table's value schema when values are typed),
//! `offset`, `timestamp`, `partition` and `headers` (the same header type tiered segment
//! files use). A missing row is null in every column.

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, Int32Array, Int64Array, ListArray, StructArray,
    TimestampMillisecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, TimeUnit};
use weir_typed::ValueCodec;

use crate::tables::Found;

/// The type of a `value` column: binary, or the struct of a typed table.
pub fn value_type(codec: Option<&ValueCodec>) -> DataType {
    codec.map_or(DataType::Binary, |c| c.schema().data_type())
}

/// The type of a `headers` column.
pub fn headers_type() -> DataType {
    DataType::List(weir_tiering::schema::header_item_field())
}

/// The type of a `timestamp` column.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// The fields of the row columns, named `{prefix}value` … `{prefix}headers`, in the order
/// [`RowColumns::arrays`] gives them.
pub fn row_fields(prefix: &str, codec: Option<&ValueCodec>) -> Vec<Field> {
    vec![
        Field::new(format!("{prefix}value"), value_type(codec), true),
        Field::new(format!("{prefix}offset"), DataType::Int64, true),
        Field::new(format!("{prefix}timestamp"), timestamp_type(), true),
        Field::new(format!("{prefix}partition"), DataType::Int32, true),
        Field::new(format!("{prefix}headers"), headers_type(), true),
    ]
}

/// The row columns of some rows.
pub struct RowColumns {
    value: ArrayRef,
    offset: ArrayRef,
    timestamp: ArrayRef,
    partition: ArrayRef,
    headers: ArrayRef,
}

impl RowColumns {
    /// Columns of `rows` (`None`: no row), values typed with `codec` when given.
    pub fn new(rows: &[Option<&Found>], codec: Option<&ValueCodec>) -> RowColumns {
        let values: Vec<Option<&[u8]>> = rows
            .iter()
            .map(|r| r.and_then(|f| f.row.value.as_deref()))
            .collect();
        let value: ArrayRef = match codec {
            Some(codec) => Arc::new(codec.struct_column(&values)),
            None => Arc::new(BinaryArray::from(values)),
        };
        RowColumns {
            value,
            offset: Arc::new(Int64Array::from_iter(
                rows.iter().map(|r| r.map(|f| f.row.offset)),
            )),
            timestamp: Arc::new(TimestampMillisecondArray::from_iter(
                rows.iter().map(|r| r.map(|f| f.row.timestamp)),
            )),
            partition: Arc::new(Int32Array::from_iter(
                rows.iter().map(|r| r.map(|f| f.partition)),
            )),
            headers: headers_column(rows),
        }
    }

    /// The value column alone.
    pub fn value(&self) -> ArrayRef {
        self.value.clone()
    }

    /// Value, offset, timestamp, partition, headers (see [`row_fields`]).
    pub fn arrays(self) -> Vec<ArrayRef> {
        vec![
            self.value,
            self.offset,
            self.timestamp,
            self.partition,
            self.headers,
        ]
    }

    /// Offset, timestamp, partition, headers.
    pub fn metadata_arrays(&self) -> [ArrayRef; 4] {
        [
            self.offset.clone(),
            self.timestamp.clone(),
            self.partition.clone(),
            self.headers.clone(),
        ]
    }
}

fn headers_column(rows: &[Option<&Found>]) -> ArrayRef {
    let mut keys = StringBuilder::new();
    let mut values = BinaryBuilder::new();
    let mut offsets: Vec<i32> = Vec::with_capacity(rows.len() + 1);
    offsets.push(0);
    let mut count: i32 = 0;
    for row in rows {
        if let Some(found) = row {
            for (k, v) in &found.row.headers {
                keys.append_value(String::from_utf8_lossy(k));
                values.append_option(v.as_deref());
                count = count.saturating_add(1);
            }
        }
        offsets.push(count);
    }
    let entries = StructArray::new(
        weir_tiering::schema::header_fields(),
        vec![Arc::new(keys.finish()), Arc::new(values.finish())],
        None,
    );
    let nulls = NullBuffer::from_iter(rows.iter().map(Option::is_some));
    Arc::new(ListArray::new(
        weir_tiering::schema::header_item_field(),
        OffsetBuffer::new(offsets.into()),
        Arc::new(entries),
        Some(nulls),
    ))
}
