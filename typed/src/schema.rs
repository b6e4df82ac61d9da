//! [`ValueSchema`]: the fields of a typed value, parsed from and written back to the
//! `value.schema` document: a JSON object mapping each field name to a type —
//! `"int32"`, `"int64"`, `"float32"`, `"float64"`, `"utf8"` (or `"string"`), `"bool"` (or
//! `"boolean"`), `"timestamp"` (milliseconds), `"list<T>"` for a list of `T`, a nested object
//! for a struct, or a one-element array `[T]` for a list of `T` (how a list of structs is
//! written). Every field is nullable.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde_json::{Map, Value};

use crate::TypedError;

/// Deepest nesting of structs and lists a schema may have.
const MAX_DEPTH: usize = 32;
/// Most fields a schema may have, nested ones included.
const MAX_FIELDS: usize = 10_000;

/// The fields of a typed value (an Arrow struct).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueSchema {
    fields: Fields,
}

fn invalid(message: impl Into<String>) -> TypedError {
    TypedError::Schema(message.into())
}

/// The list item field every list uses.
pub(crate) fn item(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", data_type, true))
}

struct Parser {
    fields_seen: usize,
}

impl Parser {
    fn type_of(&mut self, path: &str, spec: &Value, depth: usize) -> Result<DataType, TypedError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "field {path:?} is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        match spec {
            Value::String(name) => self.named(path, name.trim(), depth),
            Value::Object(fields) => Ok(DataType::Struct(self.fields(path, fields, depth + 1)?)),
            Value::Array(items) if items.len() == 1 => Ok(DataType::List(item(self.type_of(
                path,
                &items[0],
                depth + 1,
            )?))),
            other => Err(invalid(format!(
                "field {path:?} has type {other}; expected a type name, an object (struct) or [type] (list)"
            ))),
        }
    }

    fn named(&mut self, path: &str, name: &str, depth: usize) -> Result<DataType, TypedError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "field {path:?} is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(match name {
            "int32" => DataType::Int32,
            "int64" => DataType::Int64,
            "float32" => DataType::Float32,
            "float64" => DataType::Float64,
            "utf8" | "string" => DataType::Utf8,
            "bool" | "boolean" => DataType::Boolean,
            "timestamp" => DataType::Timestamp(TimeUnit::Millisecond, None),
            _ => match name.strip_prefix("list<").and_then(|n| n.strip_suffix('>')) {
                Some(inner) => DataType::List(item(self.named(path, inner.trim(), depth + 1)?)),
                None => {
                    return Err(invalid(format!(
                        "field {path:?} has unknown type {name:?}; known: int32, int64, float32, float64, utf8, bool, timestamp, list<T>, an object (struct)"
                    )))
                }
            },
        })
    }

    fn fields(
        &mut self,
        path: &str,
        spec: &Map<String, Value>,
        depth: usize,
    ) -> Result<Fields, TypedError> {
        let mut out = Vec::with_capacity(spec.len().min(MAX_FIELDS));
        for (name, type_spec) in spec {
            self.fields_seen += 1;
            if self.fields_seen > MAX_FIELDS {
                return Err(invalid(format!("more than {MAX_FIELDS} fields")));
            }
            if name.is_empty() {
                return Err(invalid("a field name is empty"));
            }
            let field_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            let data_type = self.type_of(&field_path, type_spec, depth)?;
            out.push(Field::new(name, data_type, true));
        }
        Ok(Fields::from(out))
    }
}

fn type_doc(data_type: &DataType) -> Value {
    match data_type {
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Float64 => "float64".into(),
        DataType::Utf8 => "utf8".into(),
        DataType::Boolean => "bool".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Struct(fields) => fields_doc(fields),
        DataType::List(item) => match type_doc(item.data_type()) {
            Value::String(name) => Value::String(format!("list<{name}>")),
            other => Value::Array(vec![other]),
        },
        other => Value::String(other.to_string()),
    }
}

/// How a type is written in `value.schema` (`int64`, `list<float32>`, `an object`).
pub(crate) fn type_name(data_type: &DataType) -> String {
    match type_doc(data_type) {
        Value::String(name) => name,
        Value::Array(_) => "a list".into(),
        _ => "an object".into(),
    }
}

fn fields_doc(fields: &Fields) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|f| (f.name().clone(), type_doc(f.data_type())))
            .collect(),
    )
}

impl ValueSchema {
    /// Parses a `value.schema` document.
    pub fn parse(doc: &str) -> Result<ValueSchema, TypedError> {
        let value: Value =
            serde_json::from_str(doc).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(invalid(
                "expected a JSON object mapping field names to types",
            ));
        };
        let fields = Parser { fields_seen: 0 }.fields("", &fields, 1)?;
        Ok(ValueSchema { fields })
    }

    /// A schema of `fields` (all nullable, as [`ValueSchema::parse`] makes them).
    pub fn from_fields(fields: Fields) -> ValueSchema {
        ValueSchema { fields }
    }

    /// The schema as a `value.schema` document (parses back to the same schema).
    pub fn to_doc(&self) -> String {
        fields_doc(&self.fields).to_string()
    }

    /// The fields.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The Arrow type of a value: a struct of the fields.
    pub fn data_type(&self) -> DataType {
        DataType::Struct(self.fields.clone())
    }

    /// The fields as an Arrow schema (for decoders).
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.fields.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_type_and_round_trips() {
        let doc = r#"{"risk":"float64","n":"int64","small":"int32","f":"float32","s":"string",
            "ok":"boolean","at":"timestamp","emb":"list<float32>","nested":{"a":"utf8","b":["bool"]},
            "people":[{"name":"utf8"}],"grid":"list<list<int64>>"}"#;
        let schema = ValueSchema::parse(doc).unwrap();
        assert_eq!(schema.fields().len(), 11);
        assert_eq!(
            schema.fields().find("emb").unwrap().1.data_type(),
            &DataType::List(item(DataType::Float32))
        );
        assert_eq!(ValueSchema::parse(&schema.to_doc()).unwrap(), schema);
    }

    #[test]
    fn refuses_what_is_not_a_schema() {
        for doc in [
            "",
            "[]",
            "5",
            r#"{"a":"decimal"}"#,
            r#"{"a":5}"#,
            r#"{"a":[]}"#,
            r#"{"a":["int64","utf8"]}"#,
            r#"{"":"int64"}"#,
            r#"{"a":"list<nope>"}"#,
        ] {
            assert!(
                matches!(ValueSchema::parse(doc), Err(TypedError::Schema(_))),
                "{doc}"
            );
        }
        let deep = format!("{}\"int64\"{}", "{\"a\":".repeat(40), "}".repeat(40));
        assert!(ValueSchema::parse(&deep).is_err());
        let deep_list = format!(
            "{{\"a\":\"{}int64{}\"}}",
            "list<".repeat(100_000),
            ">".repeat(100_000)
        );
        assert!(ValueSchema::parse(&deep_list).is_err());
    }
}
