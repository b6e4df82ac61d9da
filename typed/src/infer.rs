//! Schema inference for `value.format=json` tables without a `value.schema`. The schema
//! starts empty and each record may only widen it:
//!
//! - a JSON integer is `int64` (one beyond the range of int64 is `float64`), another number
//!   `float64`, a string `utf8`, `true`/`false` `bool`, an object a struct, an array a list
//!   of its elements' type;
//! - `null`, an empty array and an array of nulls say nothing: such a field joins the
//!   schema when a value appears;
//! - widening: a field seen for the first time is added; `int64` becomes `float64` when a
//!   non-integer number appears (integers stay readable as floats); structs widen field by
//!   field, lists by their element type;
//! - anything else (a string where a number was, an object where a list was, …) is refused,
//!   naming the field.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields};
use serde_json::{Map, Value};

use crate::schema::item;
use crate::{bounded, TypedError, ValueSchema};

fn name_of(data_type: &DataType) -> String {
    match data_type {
        DataType::Struct(_) => "an object".into(),
        DataType::List(_) => "a list".into(),
        DataType::Utf8 => "a string".into(),
        DataType::Boolean => "a bool".into(),
        DataType::Int64 => "an int64".into(),
        DataType::Float64 => "a float64".into(),
        other => other.to_string(),
    }
}

/// The type a JSON value says, `None` when it says nothing (null, empty or all-null array).
fn type_of(path: &str, value: &Value) -> Result<Option<DataType>, TypedError> {
    Ok(match value {
        Value::Null => None,
        Value::Bool(_) => Some(DataType::Boolean),
        Value::Number(n) if n.is_i64() => Some(DataType::Int64),
        Value::Number(_) => Some(DataType::Float64),
        Value::String(_) => Some(DataType::Utf8),
        Value::Object(map) => Some(DataType::Struct(widen_fields(path, &Fields::empty(), map)?)),
        Value::Array(items) => {
            let mut element: Option<DataType> = None;
            for v in items {
                if let Some(t) = type_of(path, v)? {
                    element = Some(match element {
                        None => t,
                        Some(e) => merge(path, &e, &t)?,
                    });
                }
            }
            element.map(|e| DataType::List(item(e)))
        }
    })
}

/// The wider of two types, or why they do not meet.
fn merge(path: &str, was: &DataType, now: &DataType) -> Result<DataType, TypedError> {
    Ok(match (was, now) {
        (a, b) if a == b => a.clone(),
        (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
            DataType::Float64
        }
        (DataType::Struct(a), DataType::Struct(b)) => {
            let mut fields = a.clone();
            for f in b.iter() {
                fields = widen_field(path, &fields, f.name(), f.data_type())?;
            }
            DataType::Struct(fields)
        }
        (DataType::List(a), DataType::List(b)) => {
            DataType::List(item(merge(path, a.data_type(), b.data_type())?))
        }
        (a, b) => {
            return Err(TypedError::Value(bounded(format!(
                "field '{path}' is {} in this table's inferred schema; this record has {}",
                name_of(a),
                name_of(b)
            ))))
        }
    })
}

fn widen_field(
    path: &str,
    fields: &Fields,
    name: &str,
    data_type: &DataType,
) -> Result<Fields, TypedError> {
    let field_path = if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    };
    let mut out: Vec<Arc<Field>> = fields.iter().cloned().collect();
    match fields.find(name) {
        Some((i, existing)) => {
            let merged = merge(&field_path, existing.data_type(), data_type)?;
            if &merged != existing.data_type() {
                out[i] = Arc::new(Field::new(name, merged, true));
            }
        }
        None => out.push(Arc::new(Field::new(name, data_type.clone(), true))),
    }
    Ok(Fields::from(out))
}

fn widen_fields(
    path: &str,
    fields: &Fields,
    map: &Map<String, Value>,
) -> Result<Fields, TypedError> {
    let mut out = fields.clone();
    for (name, value) in map {
        let field_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        if let Some(t) = type_of(&field_path, value)? {
            out = widen_field(path, &out, name, &t)?;
        }
    }
    Ok(out)
}

/// The narrowest schema both `a` and `b` widen to, or why they conflict.
pub fn merge_schemas(a: &ValueSchema, b: &ValueSchema) -> Result<ValueSchema, TypedError> {
    match merge("", &a.data_type(), &b.data_type())? {
        DataType::Struct(fields) => Ok(ValueSchema::from_fields(fields)),
        _ => Ok(a.clone()),
    }
}

/// The schema after `value` (a JSON document) joins `current`: `Ok(None)` when it fits as
/// is, `Ok(Some(wider))` when it widens it, an error naming the field when it conflicts or
/// when the value is not a JSON object.
pub fn widen(current: &ValueSchema, value: &[u8]) -> Result<Option<ValueSchema>, TypedError> {
    let parsed: Value = serde_json::from_slice(value).map_err(|e| {
        TypedError::Value(bounded(format!(
            "value.format=json: the value is not JSON: {e}"
        )))
    })?;
    let Value::Object(map) = parsed else {
        return Err(TypedError::Value(
            "value.format=json: the value is not a JSON object".into(),
        ));
    };
    let fields = widen_fields("", current.fields(), &map)?;
    Ok((&fields != current.fields()).then(|| ValueSchema::from_fields(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(schema: &ValueSchema, value: &str) -> Result<ValueSchema, TypedError> {
        Ok(widen(schema, value.as_bytes())?.unwrap_or_else(|| schema.clone()))
    }

    #[test]
    fn widens_only() {
        let empty = ValueSchema::from_fields(Fields::empty());
        let s = step(&empty, r#"{"a":1,"z":null,"e":[]}"#).unwrap();
        assert_eq!(s.to_doc(), r#"{"a":"int64"}"#);
        let s = step(&s, r#"{"a":1.5,"b":"x","c":{"d":[1,2.5]}}"#).unwrap();
        assert_eq!(
            s,
            ValueSchema::parse(r#"{"a":"float64","b":"utf8","c":{"d":"list<float64>"}}"#).unwrap()
        );
        // Integers still fit a float64 field; nothing changes.
        assert!(widen(&s, br#"{"a":2}"#).unwrap().is_none());
        let err = step(&s, r#"{"a":"str"}"#).unwrap_err().to_string();
        assert!(err.contains("'a'") && err.contains("a string"), "{err}");
        let err = step(&s, r#"{"c":{"d":["x"]}}"#).unwrap_err().to_string();
        assert!(err.contains("'c.d'"), "{err}");
        assert!(step(&s, "[1]").is_err());
        assert!(step(&s, "nope").is_err());
    }
}
