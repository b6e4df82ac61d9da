//! Topic-level configuration: the Kafka config names Weir understands, their defaults (taken
//! from the broker configuration), validation, and the translation into the storage layer's
//! [`LogConfig`].

use std::collections::BTreeMap;

use weir_storage::{LogConfig, TimestampType};

use crate::config::BrokerConfig;

/// Kafka's config value types, as reported by DescribeConfigs v3+.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    List = 7,
}

/// One supported topic config.
pub struct ConfigDef {
    /// Kafka name, e.g. `retention.ms`.
    pub name: &'static str,
    /// Value type.
    pub kind: ConfigType,
    /// One-line documentation.
    pub doc: &'static str,
    /// Default value, possibly from a broker setting.
    default: fn(&BrokerConfig) -> String,
    /// Whether the default was changed from Kafka's by a broker setting.
    broker_override: fn(&BrokerConfig) -> bool,
    /// Checks a proposed value.
    validate: fn(&str) -> Result<(), String>,
}

impl ConfigDef {
    /// The value a topic without an explicit setting has.
    pub fn default_value(&self, broker: &BrokerConfig) -> String {
        (self.default)(broker)
    }

    /// Whether the default comes from an explicit broker setting rather than Kafka's default.
    pub fn is_broker_override(&self, broker: &BrokerConfig) -> bool {
        (self.broker_override)(broker)
    }
}

fn long_at_least(min: i64) -> impl Fn(&str) -> Result<(), String> {
    move |v| match v.trim().parse::<i64>() {
        Ok(n) if n >= min => Ok(()),
        Ok(n) => Err(format!("value {n} must be at least {min}")),
        Err(_) => Err(format!("value {v:?} is not a valid long")),
    }
}

fn int_at_least(min: i64) -> impl Fn(&str) -> Result<(), String> {
    move |v| match v.trim().parse::<i32>() {
        Ok(n) if i64::from(n) >= min => Ok(()),
        Ok(n) => Err(format!("value {n} must be at least {min}")),
        Err(_) => Err(format!("value {v:?} is not a valid int")),
    }
}

fn boolean(v: &str) -> Result<(), String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "false" => Ok(()),
        _ => Err(format!("value {v:?} is not a boolean (true or false)")),
    }
}

fn timestamp_type(v: &str) -> Result<(), String> {
    match v.trim() {
        "CreateTime" | "LogAppendTime" => Ok(()),
        _ => Err(format!("value {v:?} must be CreateTime or LogAppendTime")),
    }
}

fn cleanup_policy(v: &str) -> Result<(), String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.is_empty() || parts.iter().any(|p| *p != "delete" && *p != "compact") {
        return Err(format!("value {v:?} must be a list of delete and compact"));
    }
    Ok(())
}

/// Every topic config Weir understands, in the order DescribeConfigs lists them.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    ConfigDef {
        name: "cleanup.policy",
        kind: ConfigType::List,
        doc: "delete: remove old segments by retention; compact: a table topic (latest record per key); compact,delete: a table whose rows expire retention.ms after their last write",
        default: |_| "delete".into(),
        broker_override: |_| false,
        validate: cleanup_policy,
    },
    ConfigDef {
        name: "retention.ms",
        kind: ConfigType::Long,
        doc: "Delete segments whose newest record is older than this (-1: keep forever)",
        default: |b| b.log_retention_ms.to_string(),
        broker_override: |b| b.log_retention_ms != 604_800_000,
        validate: |v| long_at_least(-1)(v),
    },
    ConfigDef {
        name: "retention.bytes",
        kind: ConfigType::Long,
        doc: "Delete the oldest segments while the partition is larger than this (-1: no limit)",
        default: |b| b.log_retention_bytes.to_string(),
        broker_override: |b| b.log_retention_bytes != -1,
        validate: |v| long_at_least(-1)(v),
    },
    ConfigDef {
        name: "segment.bytes",
        kind: ConfigType::Int,
        doc: "Roll to a new segment file once the active one reaches this size",
        default: |b| b.log_segment_bytes.to_string(),
        broker_override: |b| b.log_segment_bytes != 1 << 30,
        validate: |v| int_at_least(14)(v),
    },
    ConfigDef {
        name: "segment.ms",
        kind: ConfigType::Long,
        doc: "Roll to a new segment once the active one is this old",
        default: |b| b.log_roll_ms.to_string(),
        broker_override: |b| b.log_roll_ms != 604_800_000,
        validate: |v| long_at_least(1)(v),
    },
    ConfigDef {
        name: "max.message.bytes",
        kind: ConfigType::Int,
        doc: "Largest record batch accepted, in bytes",
        default: |b| b.message_max_bytes.to_string(),
        broker_override: |b| b.message_max_bytes != 1_048_588,
        validate: |v| int_at_least(0)(v),
    },
    ConfigDef {
        name: "message.timestamp.type",
        kind: ConfigType::String,
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's time",
        default: |_| "CreateTime".into(),
        broker_override: |_| false,
        validate: timestamp_type,
    },
    ConfigDef {
        name: "write.caching",
        kind: ConfigType::Boolean,
        doc: "true: acknowledge acks=all once written to the OS; false: after fsync (group commit)",
        default: |b| b.write_caching.to_string(),
        broker_override: |b| b.write_caching,
        validate: boolean,
    },
    ConfigDef {
        name: "flush.messages",
        kind: ConfigType::Long,
        doc: "With write.caching, fsync after this many messages",
        default: |_| i64::MAX.to_string(),
        broker_override: |_| false,
        validate: |v| long_at_least(1)(v),
    },
    ConfigDef {
        name: "flush.ms",
        kind: ConfigType::Long,
        doc: "With write.caching, fsync at least this often",
        default: |_| i64::MAX.to_string(),
        broker_override: |_| false,
        validate: |v| long_at_least(0)(v),
    },
    ConfigDef {
        name: "index.interval.bytes",
        kind: ConfigType::Int,
        doc: "Bytes between entries of the sparse offset index",
        default: |_| "4096".into(),
        broker_override: |_| false,
        validate: |v| int_at_least(0)(v),
    },
    ConfigDef {
        name: "remote.storage.enable",
        kind: ConfigType::Boolean,
        doc: "Tier closed segments to the object store; consumers read them back transparently",
        default: |b| b.remote_storage_enable.to_string(),
        broker_override: |b| !b.remote_storage_enable,
        validate: boolean,
    },
    ConfigDef {
        name: "local.retention.ms",
        kind: ConfigType::Long,
        doc: "Tiered topics: delete uploaded local segments older than this (-2: retention.ms)",
        default: |_| "-2".into(),
        broker_override: |_| false,
        validate: |v| long_at_least(-2)(v),
    },
    ConfigDef {
        name: "local.retention.bytes",
        kind: ConfigType::Long,
        doc: "Tiered topics: delete the oldest uploaded local segments while the local log is larger than this (-2: retention.bytes)",
        default: |_| "-2".into(),
        broker_override: |_| false,
        validate: |v| long_at_least(-2)(v),
    },
    ConfigDef {
        name: "delete.retention.ms",
        kind: ConfigType::Long,
        doc: "Table topics: how long a delete (tombstone) stays readable in compacted reads",
        default: |_| "86400000".into(),
        broker_override: |_| false,
        validate: |v| long_at_least(0)(v),
    },
    ConfigDef {
        name: "table.changelog.format",
        kind: ConfigType::String,
        doc: "Table topics: raw (row images with weir.op headers) or debezium-json (JSON object values only)",
        default: |_| "raw".into(),
        broker_override: |_| false,
        validate: changelog_format,
    },
    ConfigDef {
        name: "value.format",
        kind: ConfigType::String,
        doc: "Table topics: raw (values are bytes) or json (values are JSON objects, typed by value.schema or by inference)",
        default: |_| "raw".into(),
        broker_override: |_| false,
        validate: |v| match v.trim() {
            "raw" | "json" => Ok(()),
            _ => Err(format!("value {v:?} must be raw or json")),
        },
    },
    ConfigDef {
        name: "key.format",
        kind: ConfigType::String,
        doc: "Table topics: raw (keys are bytes) or string (keys must be UTF-8; Arrow key columns are utf8)",
        default: |_| "raw".into(),
        broker_override: |_| false,
        validate: |v| match v.trim() {
            "raw" | "string" => Ok(()),
            _ => Err(format!("value {v:?} must be raw or string")),
        },
    },
    ConfigDef {
        name: "value.schema",
        kind: ConfigType::String,
        doc: "Table topics with value.format=json: the value's fields and their Arrow types as a JSON object (empty: inferred from the records)",
        default: |_| "".into(),
        broker_override: |_| false,
        validate: |v| {
            if v.trim().is_empty() {
                return Ok(());
            }
            weir_typed::ValueSchema::parse(v)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    },
];

fn changelog_format(v: &str) -> Result<(), String> {
    match v.trim() {
        "raw" | "debezium-json" => Ok(()),
        _ => Err(format!("value {v:?} must be raw or debezium-json")),
    }
}

/// How a table topic's changes are rendered in its changelog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangelogFormat {
    /// One record per change, the row image as value, `weir.op` header.
    Raw,
    /// One Debezium envelope per change (updates folded into one `u` record).
    DebeziumJson,
}

/// Table semantics of a topic, from `cleanup.policy` and the table configs; `None` for a plain
/// log topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSettings {
    /// How changes are rendered in `T.changelog`.
    pub format: ChangelogFormat,
    /// `delete.retention.ms`: how long tombstones stay in compacted reads.
    pub delete_retention_ms: i64,
    /// Row TTL (`cleanup.policy=compact,delete`): rows expire this long after their last
    /// write; `None` for rows that live until deleted.
    pub row_ttl_ms: Option<i64>,
    /// `value.format=json`: values are JSON objects, typed.
    pub json_values: bool,
    /// `value.schema`, when declared (with `json_values` and none declared, it is inferred).
    pub value_schema: Option<weir_typed::ValueSchema>,
    /// `key.format=string`: keys are UTF-8.
    pub string_keys: bool,
}

/// The table settings of a topic with explicit `overrides`, if it is a table topic.
pub fn table_settings(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> Option<TableSettings> {
    let policy = effective("cleanup.policy", overrides, broker);
    let parts: Vec<&str> = policy.split(',').map(str::trim).collect();
    if !parts.contains(&"compact") {
        return None;
    }
    let long = |name: &str, fallback: i64| {
        effective(name, overrides, broker)
            .trim()
            .parse::<i64>()
            .unwrap_or(fallback)
    };
    Some(TableSettings {
        format: if effective("table.changelog.format", overrides, broker).trim() == "debezium-json"
        {
            ChangelogFormat::DebeziumJson
        } else {
            ChangelogFormat::Raw
        },
        delete_retention_ms: long("delete.retention.ms", 86_400_000),
        row_ttl_ms: parts
            .contains(&"delete")
            .then(|| long("retention.ms", -1))
            .filter(|ms| *ms >= 0),
        json_values: effective("value.format", overrides, broker).trim() == "json",
        value_schema: Some(effective("value.schema", overrides, broker))
            .filter(|doc| !doc.trim().is_empty())
            .and_then(|doc| weir_typed::ValueSchema::parse(&doc).ok()),
        string_keys: effective("key.format", overrides, broker).trim() == "string",
    })
}

/// The configs a table topic's changelog takes from the table topic (the rest are the
/// broker's defaults).
pub const CHANGELOG_INHERITED: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "remote.storage.enable",
    "local.retention.ms",
    "local.retention.bytes",
];

/// Looks up a supported config by name.
pub fn definition(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks one `name=value` pair; the error text is what the client sees.
pub fn validate(name: &str, value: Option<&str>) -> Result<(), String> {
    // Client strings are escaped: they end up in log lines.
    let def = definition(name)
        .ok_or_else(|| format!("Unknown topic config name: {}", name.escape_debug()))?;
    let value = value.ok_or_else(|| format!("Null value not supported for topic config {name}"))?;
    (def.validate)(value).map_err(|e| {
        format!(
            "Invalid value {} for configuration {name}: {e}",
            value.escape_debug()
        )
    })
}

/// Checks what single values cannot: on a tiered topic (`remote.storage.enable=true`), as
/// Kafka does, `local.retention.bytes` / `local.retention.ms` may not be -1 (keep forever)
/// or larger than `retention.bytes` / `retention.ms` when those are bounded (-2, the default,
/// follows them). Values must already have passed [`validate`].
pub fn validate_combination(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> Result<(), String> {
    let typed = ["value.format", "key.format", "value.schema"]
        .into_iter()
        .find(|name| overrides.contains_key(*name));
    if let Some(name) = typed {
        if table_settings(overrides, broker).is_none() {
            return Err(format!(
                "{name} applies to table topics only (cleanup.policy=compact or compact,delete)"
            ));
        }
    }
    let schema = effective("value.schema", overrides, broker);
    if !schema.trim().is_empty() && effective("value.format", overrides, broker).trim() != "json" {
        return Err("value.schema requires value.format=json".into());
    }
    let remote = effective("remote.storage.enable", overrides, broker);
    if !remote.trim().eq_ignore_ascii_case("true") {
        return Ok(());
    }
    let long = |name: &str| effective(name, overrides, broker).trim().parse::<i64>();
    for (whole, local) in [
        ("retention.bytes", "local.retention.bytes"),
        ("retention.ms", "local.retention.ms"),
    ] {
        let (Ok(whole_value), Ok(local_value)) = (long(whole), long(local)) else {
            continue;
        };
        if whole_value < 0 || local_value == -2 {
            continue;
        }
        let why = if local_value == -1 {
            format!("Value must not be -1 as {whole} value is set as {whole_value}.")
        } else if local_value > whole_value {
            format!("Value must not be more than {whole} property value: {whole_value}")
        } else {
            continue;
        };
        return Err(format!(
            "Invalid value {local_value} for configuration {local}: {why}"
        ));
    }
    Ok(())
}

/// The effective value of `name` for a topic with explicit `overrides`.
pub fn effective(
    name: &str,
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> String {
    match overrides.get(name) {
        Some(v) => v.clone(),
        None => definition(name)
            .map(|d| d.default_value(broker))
            .unwrap_or_default(),
    }
}

/// Builds the storage configuration of a topic (values are validated before they are stored).
pub fn log_config(overrides: &BTreeMap<String, String>, broker: &BrokerConfig) -> LogConfig {
    let get = |name: &str| effective(name, overrides, broker);
    let long = |name: &str, fallback: i64| get(name).trim().parse::<i64>().unwrap_or(fallback);
    let defaults = LogConfig::default();
    let retention_ms = long("retention.ms", defaults.retention_ms);
    let retention_bytes = long("retention.bytes", defaults.retention_bytes);
    // -2 means "the same as the whole log's retention". Local retention never outlasts a
    // bounded whole-log retention ([`validate_combination`] refuses that for a topic; a
    // changelog's inherited local.retention.* meet the broker's retention.* here).
    let local = |name: &str, whole: i64| match long(name, -2) {
        -2 => whole,
        v if whole >= 0 && (v < 0 || v > whole) => whole,
        v => v,
    };
    LogConfig {
        segment_bytes: long("segment.bytes", defaults.segment_bytes as i64).max(14) as u64,
        segment_ms: long("segment.ms", defaults.segment_ms),
        retention_ms,
        retention_bytes,
        remote_storage_enable: get("remote.storage.enable")
            .trim()
            .eq_ignore_ascii_case("true"),
        local_retention_ms: local("local.retention.ms", retention_ms),
        local_retention_bytes: local("local.retention.bytes", retention_bytes),
        max_message_bytes: long("max.message.bytes", i64::from(defaults.max_message_bytes))
            .clamp(0, i64::from(i32::MAX)) as i32,
        message_timestamp_type: if get("message.timestamp.type").trim() == "LogAppendTime" {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        write_caching: get("write.caching").trim().eq_ignore_ascii_case("true"),
        flush_messages: long("flush.messages", defaults.flush_messages),
        flush_ms: long("flush.ms", defaults.flush_ms),
        index_interval_bytes: long(
            "index.interval.bytes",
            i64::from(defaults.index_interval_bytes),
        )
        .clamp(0, i64::from(u32::MAX)) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BrokerConfig, ServeArgs};

    #[test]
    fn validates_and_translates() {
        let broker = BrokerConfig::resolve(ServeArgs::default()).unwrap();
        assert!(validate("retention.ms", Some("-1")).is_ok());
        assert!(validate("retention.ms", Some("-2")).is_err());
        assert!(validate("segment.bytes", Some("abc")).is_err());
        assert!(validate("no.such.config", Some("1"))
            .unwrap_err()
            .contains("Unknown"));
        assert!(validate("cleanup.policy", Some("compact")).is_ok());
        assert!(validate("cleanup.policy", Some("compact,delete")).is_ok());
        assert!(validate("cleanup.policy", Some("purge")).is_err());
        let mut overrides = BTreeMap::new();
        overrides.insert("segment.bytes".to_string(), "1024".to_string());
        overrides.insert(
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        );
        let c = log_config(&overrides, &broker);
        assert_eq!(c.segment_bytes, 1024);
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(c.retention_ms, 604_800_000);
        assert!(!c.write_caching);
        assert!(c.remote_storage_enable);
        assert_eq!(c.local_retention_ms, 604_800_000);
        assert_eq!(c.local_retention_bytes, -1);
        overrides.insert("local.retention.bytes".to_string(), "1".to_string());
        overrides.insert("remote.storage.enable".to_string(), "false".to_string());
        let c = log_config(&overrides, &broker);
        assert_eq!(c.local_retention_bytes, 1);
        assert!(!c.remote_storage_enable);
        assert!(validate("local.retention.ms", Some("-3")).is_err());
        // A changelog's inherited local.retention.ms meets the broker's retention.ms.
        let mut inherited = BTreeMap::new();
        inherited.insert("local.retention.ms".to_string(), "-1".to_string());
        assert_eq!(
            log_config(&inherited, &broker).local_retention_ms,
            604_800_000
        );
        inherited.insert("local.retention.ms".to_string(), "1000".to_string());
        assert_eq!(log_config(&inherited, &broker).local_retention_ms, 1000);
    }

    #[test]
    fn local_retention_stays_within_retention_on_tiered_topics() {
        let broker = BrokerConfig::resolve(ServeArgs::default()).unwrap();
        let check = |pairs: &[(&str, &str)]| {
            let overrides: BTreeMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            validate_combination(&overrides, &broker)
        };
        assert_eq!(check(&[("local.retention.bytes", "1")]), Ok(()));
        assert_eq!(
            check(&[("retention.bytes", "100"), ("local.retention.bytes", "100")]),
            Ok(())
        );
        assert_eq!(
            check(&[("retention.bytes", "100"), ("local.retention.bytes", "101")]),
            Err("Invalid value 101 for configuration local.retention.bytes: Value must not be more than retention.bytes property value: 100".into())
        );
        assert_eq!(
            check(&[("retention.bytes", "100"), ("local.retention.bytes", "-1")]),
            Err("Invalid value -1 for configuration local.retention.bytes: Value must not be -1 as retention.bytes value is set as 100.".into())
        );
        // retention.ms is bounded by default (7 days).
        assert_eq!(
            check(&[("local.retention.ms", "604800001")]),
            Err("Invalid value 604800001 for configuration local.retention.ms: Value must not be more than retention.ms property value: 604800000".into())
        );
        assert_eq!(
            check(&[("retention.ms", "-1"), ("local.retention.ms", "604800001")]),
            Ok(())
        );
        // Not tiered: local.retention.* do not apply.
        assert_eq!(
            check(&[
                ("remote.storage.enable", "false"),
                ("retention.bytes", "100"),
                ("local.retention.bytes", "101"),
            ]),
            Ok(())
        );
    }
}
