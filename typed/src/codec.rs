//! [`ValueCodec`]: checks produced JSON values against a declared schema and turns stored
//! values into an Arrow struct column, both with `arrow-json`'s decoder.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StructArray, UInt32Array};
use arrow_json::reader::Decoder;
use arrow_json::ReaderBuilder;
use arrow_schema::ArrowError;

use arrow_schema::{DataType, Fields};
use serde_json::{Map, Value};

use crate::{bounded, TypedError, ValueSchema};

fn mismatch(path: &str, expected: &str, got: &Value) -> TypedError {
    TypedError::Value(bounded(format!(
        "field '{path}' must be {expected} (value.schema); this record has {got}"
    )))
}

fn check_fields(path: &str, fields: &Fields, map: &Map<String, Value>) -> Result<(), TypedError> {
    for (name, value) in map {
        let field_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let Some((_, field)) = fields.find(name) else {
            return Err(TypedError::Value(bounded(format!(
                "field '{field_path}' is not in value.schema"
            ))));
        };
        check_value(&field_path, field.data_type(), value)?;
    }
    Ok(())
}

fn check_value(path: &str, data_type: &DataType, value: &Value) -> Result<(), TypedError> {
    if value.is_null() {
        return Ok(());
    }
    let fits = match data_type {
        DataType::Int32 => value.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
        DataType::Int64 => value.is_i64(),
        DataType::Float32 | DataType::Float64 => value.is_number(),
        DataType::Utf8 => value.is_string(),
        DataType::Boolean => value.is_boolean(),
        DataType::Timestamp(..) => {
            value.is_i64()
                || value
                    .as_str()
                    .is_some_and(|s| arrow_cast::parse::string_to_timestamp_nanos(s).is_ok())
        }
        DataType::List(item) => match value {
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    check_value(&format!("{path}[{i}]"), item.data_type(), v)?;
                }
                true
            }
            _ => false,
        },
        DataType::Struct(fields) => match value {
            Value::Object(map) => {
                check_fields(path, fields, map)?;
                true
            }
            _ => false,
        },
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(mismatch(path, &crate::schema::type_name(data_type), value))
    }
}

/// Decodes JSON values of one schema.
#[derive(Debug, Clone)]
pub struct ValueCodec {
    schema: ValueSchema,
}

fn value_error(e: ArrowError) -> TypedError {
    let message = match e {
        ArrowError::JsonError(m) => m,
        other => other.to_string(),
    };
    let message = message
        .strip_prefix("whilst decoding field ")
        .map(|rest| format!("field {rest}"))
        .unwrap_or(message);
    TypedError::Value(bounded(format!(
        "value does not match value.schema: {message}"
    )))
}

impl ValueCodec {
    /// A codec for `schema`.
    pub fn new(schema: ValueSchema) -> ValueCodec {
        ValueCodec { schema }
    }

    /// The schema.
    pub fn schema(&self) -> &ValueSchema {
        &self.schema
    }

    fn decoder(&self, strict: bool, rows: usize) -> Result<Decoder, ArrowError> {
        ReaderBuilder::new(self.schema.arrow_schema())
            .with_batch_size(rows.max(1))
            .with_strict_mode(strict)
            .with_ignore_type_conflicts(!strict)
            .build_decoder()
    }

    /// Decodes `values` (each one JSON object) into one batch of exactly `values.len()` rows.
    fn decode(&self, values: &[&[u8]], strict: bool) -> Result<RecordBatch, TypedError> {
        let mut decoder = self.decoder(strict, values.len()).map_err(value_error)?;
        for value in values {
            let mut rest: &[u8] = value;
            while !rest.is_empty() {
                let used = decoder.decode(rest).map_err(value_error)?;
                if used == 0 {
                    break;
                }
                rest = &rest[used..];
            }
            // A value that leaves a document open would swallow the next one.
            if decoder.has_partial_record() {
                return Err(TypedError::Value(
                    "value does not match value.schema: the value is not one complete JSON object"
                        .into(),
                ));
            }
        }
        let batch = decoder
            .flush()
            .map_err(value_error)?
            .unwrap_or_else(|| RecordBatch::new_empty(self.schema.arrow_schema()));
        if batch.num_rows() != values.len() {
            return Err(TypedError::Value(
                "value does not match value.schema: a value is not exactly one JSON object".into(),
            ));
        }
        Ok(batch)
    }

    /// Checks each value is one JSON object matching the schema: no field outside it, every
    /// field of its type (integers for int fields, within range; a number for floats; a
    /// string, a bool; epoch milliseconds or an RFC 3339 string for timestamps; an array for
    /// lists, an object for structs); a missing field or `null` is null. On failure, the index
    /// of the first value refused and why, naming the field by its path (`a.b[2]`).
    pub fn check(&self, values: &[&[u8]]) -> Result<(), (usize, TypedError)> {
        for (i, value) in values.iter().enumerate() {
            let parsed: Value = serde_json::from_slice(value).map_err(|e| {
                (
                    i,
                    TypedError::Value(bounded(format!(
                        "value.format=json: the value is not JSON: {e}"
                    ))),
                )
            })?;
            let Value::Object(map) = &parsed else {
                return Err((
                    i,
                    TypedError::Value("value.format=json: the value is not a JSON object".into()),
                ));
            };
            check_fields("", self.schema.fields(), map).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// The values as a struct column of the schema's type: a null row for `None` and for a
    /// stored value that does not decode (one written before the schema changed); a field of
    /// the wrong type is null.
    pub fn struct_column(&self, values: &[Option<&[u8]>]) -> StructArray {
        let present: Vec<&[u8]> = values.iter().flatten().copied().collect();
        let (decoded, rows): (StructArray, Vec<Option<u32>>) = match self.decode(&present, false) {
            Ok(batch) => {
                let mut next = 0u32;
                let rows = values
                    .iter()
                    .map(|v| {
                        v.map(|_| {
                            next += 1;
                            next - 1
                        })
                    })
                    .collect();
                (StructArray::from(batch), rows)
            }
            Err(_) => {
                // Decode one by one, leaving out the values that fail.
                let mut good: Vec<&[u8]> = Vec::new();
                let rows = values
                    .iter()
                    .map(|v| {
                        let v = (*v)?;
                        self.decode(&[v], false).ok()?;
                        good.push(v);
                        Some(good.len() as u32 - 1)
                    })
                    .collect();
                let batch = self
                    .decode(&good, false)
                    .unwrap_or_else(|_| RecordBatch::new_empty(self.schema.arrow_schema()));
                (StructArray::from(batch), rows)
            }
        };
        let indices = UInt32Array::from(rows);
        let taken: ArrayRef =
            arrow_select::take::take(&decoded, &indices, None).unwrap_or_else(|_| {
                arrow_array::new_null_array(&self.schema.data_type(), values.len())
            });
        taken
            .as_any()
            .downcast_ref::<StructArray>()
            .cloned()
            .unwrap_or_else(|| StructArray::new_null(self.schema.fields().clone(), values.len()))
    }

    /// A column of `len` null values.
    pub fn null_column(&self, len: usize) -> ArrayRef {
        Arc::new(StructArray::new_null(self.schema.fields().clone(), len))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};

    use super::*;

    fn codec() -> ValueCodec {
        ValueCodec::new(
            ValueSchema::parse(r#"{"risk":"float64","n":"int64","tags":"list<utf8>"}"#).unwrap(),
        )
    }

    #[test]
    fn check_names_the_field() {
        let c = codec();
        assert!(c
            .check(&[br#"{"risk":0.5,"n":3}"#, br#"{"tags":["a"]}"#])
            .is_ok());
        let (i, e) = c
            .check(&[br#"{"risk":0.5}"#, br#"{"risk":"high"}"#])
            .unwrap_err();
        assert_eq!(i, 1);
        assert!(e.to_string().contains("'risk'"), "{e}");
        let (_, e) = c.check(&[br#"{"other":1}"#]).unwrap_err();
        assert!(e.to_string().contains("'other'"), "{e}");
        let (_, e) = c.check(&[br#"{"n":1.5}"#]).unwrap_err();
        assert!(e.to_string().contains("'n'"), "{e}");
        for bad in [&b"5"[..], b"[1]", b"{", b"{}{}", b"", b"\"x\"", b"nul"] {
            assert!(
                c.check(&[bad]).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn struct_column_keeps_positions_and_nulls() {
        let c = codec();
        let col = c.struct_column(&[
            Some(br#"{"risk":0.25,"n":1}"#),
            None,
            Some(b"not json"),
            Some(br#"{"n":7}"#),
        ]);
        assert_eq!(col.len(), 4);
        assert!(col.is_valid(0) && col.is_null(1) && col.is_null(2) && col.is_valid(3));
        let risk = col
            .column_by_name("risk")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(risk.value(0), 0.25);
        let n = col.column_by_name("n").unwrap().as_primitive::<Int64Type>();
        assert_eq!(n.value(3), 7);
    }
}

#[cfg(test)]
mod hostile {
    use proptest::prelude::*;

    use super::*;

    fn codec() -> ValueCodec {
        ValueCodec::new(
            ValueSchema::parse(
                r#"{"a":"int32","b":"list<float32>","c":{"d":"timestamp","e":["bool"]},"s":"utf8"}"#,
            )
            .unwrap(),
        )
    }

    proptest! {
        /// Whatever bytes a producer sends (or a file holds), checking and decoding them
        /// never panics, and every value gets exactly one row.
        #[test]
        fn arbitrary_values_never_panic(values in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                "[{}\\[\\]\":,a-e0-9 .tfnulrse-]{0,64}".prop_map(String::into_bytes),
            ],
            0..16,
        )) {
            let c = codec();
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let _ = c.check(&refs);
            let column = c.struct_column(&refs.iter().map(|v| Some(*v)).collect::<Vec<_>>());
            prop_assert_eq!(column.len(), values.len());
            for v in &refs {
                let _ = crate::infer::widen(c.schema(), v);
            }
        }
    }
}
