//! The Arrow schema of a tiered segment file.
//!
//! One row per Kafka record (control records included), in offset order. The first five
//! columns are what a consumer sees; the `batch_*` and flag columns repeat, on every row of a
//! Kafka batch, the batch header fields needed to rebuild that batch faithfully:
//!
//! | # | column                    | type                                       | null |
//! |---|---------------------------|--------------------------------------------|------|
//! | 0 | `offset`                  | int64                                      | no   |
//! | 1 | `timestamp`               | timestamp\[ms\] (no time zone, epoch ms)    | no   |
//! | 2 | `key`                     | binary                                     | yes  |
//! | 3 | `value`                   | binary                                     | yes  |
//! | 4 | `headers`                 | list<item: struct<key: utf8, value: binary?>> | no |
//! | 5 | `batch_base_offset`       | int64                                      | no   |
//! | 6 | `batch_last_offset_delta` | int32                                      | no   |
//! | 7 | `batch_max_timestamp`     | int64 (raw header field, -1 = none)        | no   |
//! | 8 | `log_append_time`         | bool                                       | no   |
//! | 9 | `producer_id`             | int64                                      | no   |
//! |10 | `producer_epoch`          | int16                                      | no   |
//! |11 | `base_sequence`           | int32                                      | no   |
//! |12 | `partition_leader_epoch`  | int32                                      | no   |
//! |13 | `is_transactional`        | bool                                       | no   |
//! |14 | `is_control`              | bool                                       | no   |
//! |15 | `raw_header_keys`         | list<item: binary>                          | yes  |
//! |16 | `op` (changelogs only)    | utf8, from the record header `weir.op`     | yes  |
//!
//! A typed table topic's files (`value.format=json`, see [`typed_schema`]) name column 3
//! `value_raw` and add a last column `value`: the value decoded as a struct.
//!
//! `timestamp` is the record's absolute timestamp as a consumer sees it (the batch max
//! timestamp for LogAppendTime batches). `batch_max_timestamp` is an `int64` rather than a
//! timestamp because it is the raw header field, which may be -1 (no timestamp). Headers keep
//! their order and repeated keys; the list items are non-null, header keys non-null. Kafka
//! header keys are bytes on the wire and almost always UTF-8; for a record with a key that
//! is not, `headers.key` holds it with invalid sequences replaced (U+FFFD) and
//! `raw_header_keys` every key of the record as sent (null for all other records), so the
//! record is rebuilt exactly. `op` is
//! the value of the record's first `weir.op` header (which also stays in `headers`), null
//! when there is none or its value is null or not UTF-8.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Index of the `offset` column.
pub const OFFSET: usize = 0;
/// Index of the `timestamp` column.
pub const TIMESTAMP: usize = 1;
/// Index of the `key` column.
pub const KEY: usize = 2;
/// Index of the `value` column.
pub const VALUE: usize = 3;
/// Index of the `headers` column.
pub const HEADERS: usize = 4;
/// Index of the `batch_base_offset` column.
pub const BATCH_BASE_OFFSET: usize = 5;
/// Index of the `batch_last_offset_delta` column.
pub const BATCH_LAST_OFFSET_DELTA: usize = 6;
/// Index of the `batch_max_timestamp` column.
pub const BATCH_MAX_TIMESTAMP: usize = 7;
/// Index of the `log_append_time` column.
pub const LOG_APPEND_TIME: usize = 8;
/// Index of the `producer_id` column.
pub const PRODUCER_ID: usize = 9;
/// Index of the `producer_epoch` column.
pub const PRODUCER_EPOCH: usize = 10;
/// Index of the `base_sequence` column.
pub const BASE_SEQUENCE: usize = 11;
/// Index of the `partition_leader_epoch` column.
pub const PARTITION_LEADER_EPOCH: usize = 12;
/// Index of the `is_transactional` column.
pub const IS_TRANSACTIONAL: usize = 13;
/// Index of the `is_control` column.
pub const IS_CONTROL: usize = 14;
/// Index of the `raw_header_keys` column.
pub const RAW_HEADER_KEYS: usize = 15;
/// Index of the `op` column (changelog schema only).
pub const OP: usize = 16;

/// The record header whose value fills the `op` column of a changelog (`+I -U +U -D`).
pub const OP_HEADER: &str = "weir.op";

/// The fields of one header: `struct<key: utf8 not null, value: binary>`.
pub fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Binary, true),
    ])
}

/// The list item field of the `headers` column (named `item`, non-null).
pub fn header_item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(header_fields()), false))
}

/// The list item field of the `raw_header_keys` column (named `item`, non-null binary).
pub fn raw_header_key_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Binary, false))
}

fn log_fields() -> Vec<Field> {
    vec![
        Field::new("offset", DataType::Int64, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("key", DataType::Binary, true),
        Field::new("value", DataType::Binary, true),
        Field::new("headers", DataType::List(header_item_field()), false),
        Field::new("batch_base_offset", DataType::Int64, false),
        Field::new("batch_last_offset_delta", DataType::Int32, false),
        Field::new("batch_max_timestamp", DataType::Int64, false),
        Field::new("log_append_time", DataType::Boolean, false),
        Field::new("producer_id", DataType::Int64, false),
        Field::new("producer_epoch", DataType::Int16, false),
        Field::new("base_sequence", DataType::Int32, false),
        Field::new("partition_leader_epoch", DataType::Int32, false),
        Field::new("is_transactional", DataType::Boolean, false),
        Field::new("is_control", DataType::Boolean, false),
        Field::new(
            "raw_header_keys",
            DataType::List(raw_header_key_field()),
            true,
        ),
    ]
}

/// Schema of a tiered segment of an ordinary topic (columns 0..=15).
pub fn log_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| Arc::new(Schema::new(log_fields())))
        .clone()
}

/// Schema of a tiered segment of a table changelog: [`log_schema`] plus a nullable `op`
/// column (column 16).
pub fn changelog_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields = log_fields();
            fields.push(Field::new("op", DataType::Utf8, true));
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// The schema for `changelog` (see [`log_schema`], [`changelog_schema`]).
pub fn schema_for(changelog: bool) -> SchemaRef {
    if changelog {
        changelog_schema()
    } else {
        log_schema()
    }
}

/// The name of the raw value column in a typed segment file.
pub const VALUE_RAW: &str = "value_raw";

/// Schema of a tiered segment of a typed table topic (`value.format=json`): column 3 holds
/// the raw value bytes under the name `value_raw`, and a last column `value` holds the value
/// decoded as a struct of `value_type` (null for deletes and for values that do not decode),
/// so DuckDB, Polars and pyarrow query `value.field` directly.
pub fn typed_schema(changelog: bool, value_type: DataType) -> SchemaRef {
    let mut fields: Vec<Field> = schema_for(changelog)
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[VALUE] = Field::new(VALUE_RAW, DataType::Binary, true);
    fields.push(Field::new("value", value_type, true));
    Arc::new(Schema::new(fields))
}

/// Which of the schemas `schema` is (`Some(true)` for a changelog), comparing fields
/// (names, types, nullability) and ignoring schema metadata; a [`typed_schema`] counts as
/// the schema it extends. `None` if none.
pub fn is_changelog_schema(schema: &Schema) -> Option<bool> {
    let fields = schema.fields();
    let untyped: Vec<Field> = match fields.last() {
        Some(last)
            if last.name() == "value"
                && matches!(last.data_type(), DataType::Struct(_))
                && fields.get(VALUE).is_some_and(|f| f.name() == VALUE_RAW) =>
        {
            let mut base: Vec<Field> = fields[..fields.len() - 1]
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            base[VALUE] = Field::new("value", DataType::Binary, true);
            base
        }
        _ => fields.iter().map(|f| f.as_ref().clone()).collect(),
    };
    let same = |schema: SchemaRef| {
        schema.fields().len() == untyped.len()
            && schema
                .fields()
                .iter()
                .zip(&untyped)
                .all(|(a, b)| a.as_ref() == b)
    };
    if same(changelog_schema()) {
        Some(true)
    } else if same(log_schema()) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_indexes_match_names() {
        let schema = changelog_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names[OFFSET], "offset");
        assert_eq!(names[TIMESTAMP], "timestamp");
        assert_eq!(names[KEY], "key");
        assert_eq!(names[VALUE], "value");
        assert_eq!(names[HEADERS], "headers");
        assert_eq!(names[BATCH_BASE_OFFSET], "batch_base_offset");
        assert_eq!(names[BATCH_LAST_OFFSET_DELTA], "batch_last_offset_delta");
        assert_eq!(names[BATCH_MAX_TIMESTAMP], "batch_max_timestamp");
        assert_eq!(names[LOG_APPEND_TIME], "log_append_time");
        assert_eq!(names[PRODUCER_ID], "producer_id");
        assert_eq!(names[PRODUCER_EPOCH], "producer_epoch");
        assert_eq!(names[BASE_SEQUENCE], "base_sequence");
        assert_eq!(names[PARTITION_LEADER_EPOCH], "partition_leader_epoch");
        assert_eq!(names[IS_TRANSACTIONAL], "is_transactional");
        assert_eq!(names[IS_CONTROL], "is_control");
        assert_eq!(names[RAW_HEADER_KEYS], "raw_header_keys");
        assert_eq!(names[OP], "op");
        assert_eq!(names.len(), OP + 1);
        assert_eq!(log_schema().fields().len(), OP);
    }

    #[test]
    fn recognises_both_schemas() {
        assert_eq!(is_changelog_schema(&log_schema()), Some(false));
        assert_eq!(is_changelog_schema(&changelog_schema()), Some(true));
        let other = Schema::new(vec![Field::new("offset", DataType::Int64, false)]);
        assert_eq!(is_changelog_schema(&other), None);
        let value = DataType::Struct(Fields::from(vec![Field::new("x", DataType::Int64, true)]));
        assert_eq!(
            is_changelog_schema(&typed_schema(false, value.clone())),
            Some(false)
        );
        assert_eq!(is_changelog_schema(&typed_schema(true, value)), Some(true));
    }
}
