//! The value typing of a table topic (`value.format=json`): checks produced values against
//! the declared `value.schema`, or infers the schema from the records and widens it
//! (see `weir_typed::infer`), and gives the schema that typed Arrow output uses.
//!
//! An inferred schema belongs to the topic: its partitions share one [`ValueTyping`], so a
//! record is checked against what every partition has seen. Each partition stores the
//! topic's inferred schema in its state store with every apply that widens it (atomically
//! with the records that did), and a restart merges what the partitions stored.

use bytes::Bytes;
use weir_storage::table::{RefusedRecord, Row};
use weir_typed::{infer, ValueCodec, ValueSchema};

use crate::topic_config::TableSettings;

/// The store metadata entry holding the inferred schema.
pub const INFERRED_SCHEMA_META: &str = "value_schema";

/// Inferred value schema of one table topic, shared by its partitions.
#[derive(Default)]
pub struct ValueTyping {
    inferred: parking_lot::Mutex<Option<ValueSchema>>,
}

/// The refusal of a key that is not UTF-8 under `key.format=string`.
const KEY_NOT_UTF8: &str = "key.format=string: this record's key is not UTF-8";

impl ValueTyping {
    /// The inferred schema so far (empty before any record).
    pub fn inferred(&self) -> ValueSchema {
        self.inferred
            .lock()
            .clone()
            .unwrap_or_else(|| ValueSchema::from_fields(Default::default()))
    }

    /// Merges a schema a partition stored (at open). A stored schema that conflicts with
    /// another partition's is logged and left out: records stay readable as raw bytes.
    pub fn merge_stored(&self, table: &str, doc: &[u8]) {
        let Some(schema) = std::str::from_utf8(doc)
            .ok()
            .and_then(|d| ValueSchema::parse(d).ok())
        else {
            tracing::warn!(
                table,
                "the stored inferred value schema does not parse; ignored"
            );
            return;
        };
        let mut inferred = self.inferred.lock();
        let current = inferred
            .clone()
            .unwrap_or_else(|| ValueSchema::from_fields(Default::default()));
        match infer::merge_schemas(&current, &schema) {
            Ok(merged) => *inferred = Some(merged),
            Err(e) => tracing::warn!(table, error = %e, "stored inferred value schemas conflict"),
        }
    }

    /// Checks the values of one produced batch (`rows` in batch order) against the topic's
    /// typing. With an inferred schema, the schema widens to take them and the wider
    /// schema is returned, to be stored with the apply; refused records name the field.
    pub fn check(
        &self,
        settings: &TableSettings,
        rows: &[Row],
    ) -> Result<Option<ValueSchema>, Vec<RefusedRecord>> {
        let mut refused = Vec::new();
        if settings.string_keys {
            for (batch_index, r) in rows.iter().enumerate() {
                if std::str::from_utf8(&r.key).is_err() {
                    refused.push(RefusedRecord {
                        batch_index,
                        message: KEY_NOT_UTF8.into(),
                    });
                }
            }
        }
        if !settings.json_values {
            return if refused.is_empty() {
                Ok(None)
            } else {
                Err(refused)
            };
        }
        let values = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.value.as_ref().map(|v| (i, v)));
        if let Some(schema) = &settings.value_schema {
            let codec = ValueCodec::new(schema.clone());
            for (batch_index, v) in values {
                if let Err((_, e)) = codec.check(&[v]) {
                    refused.push(RefusedRecord {
                        batch_index,
                        message: e.to_string(),
                    });
                }
            }
            return if refused.is_empty() {
                Ok(None)
            } else {
                Err(refused)
            };
        }
        let mut inferred = self.inferred.lock();
        let start = inferred
            .clone()
            .unwrap_or_else(|| ValueSchema::from_fields(Default::default()));
        let mut schema = start.clone();
        for (batch_index, v) in values {
            match infer::widen(&schema, v) {
                Ok(Some(wider)) => schema = wider,
                Ok(None) => {}
                Err(e) => refused.push(RefusedRecord {
                    batch_index,
                    message: e.to_string(),
                }),
            }
        }
        if !refused.is_empty() {
            return Err(refused);
        }
        if schema == start {
            return Ok(None);
        }
        // Widened before the apply commits: a schema wider than the records need is
        // harmless, and every partition's later check sees it.
        *inferred = Some(schema.clone());
        Ok(Some(schema))
    }

    /// The inferred schema widened by stored values (replay): values that do not fit are
    /// passed over (they were stored before the table was typed).
    pub fn widen_stored(&self, values: impl Iterator<Item = Bytes>) -> Option<ValueSchema> {
        let mut inferred = self.inferred.lock();
        let start = inferred
            .clone()
            .unwrap_or_else(|| ValueSchema::from_fields(Default::default()));
        let mut schema = start.clone();
        for v in values {
            if let Ok(Some(wider)) = infer::widen(&schema, &v) {
                schema = wider;
            }
        }
        (schema != start).then(|| {
            *inferred = Some(schema.clone());
            schema
        })
    }

    /// The schema typed output uses: the declared one, else the inferred one; `None` for
    /// raw values.
    pub fn output_schema(&self, settings: &TableSettings) -> Option<ValueSchema> {
        if !settings.json_values {
            return None;
        }
        settings
            .value_schema
            .clone()
            .or_else(|| Some(self.inferred()))
    }
}
