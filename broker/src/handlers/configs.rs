//! DescribeConfigs, AlterConfigs (whole-set replacement) and IncrementalAlterConfigs (set,
//! delete, append, subtract) for topics; broker configs are described, read-only. Altering
//! rewrites topic metadata and may open or drop table state, so `dispatch` runs the alter
//! handlers on the blocking pool.
//!
//! Authorization as in Kafka: DescribeConfigs on the topic or the cluster (for the broker)
//! to describe, AlterConfigs to alter; TOPIC_ / CLUSTER_AUTHORIZATION_FAILED per resource.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResult;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

use weir_auth::Operation;

use super::str_bytes;
use crate::access::Access;
use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::errors::{ApiError, ApiResult};
use crate::topic_config::{self, ConfigType, TOPIC_CONFIGS};
use crate::topics::unknown_topic;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's BROKER_LOGGER resource (authorized like the broker).
const RESOURCE_BROKER_LOGGER: i8 = 8;
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

/// The config entries of a topic with explicit `overrides`, limited to `keys` if given.
pub fn topic_entries(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
    keys: Option<&[StrBytes]>,
) -> Vec<DescribeConfigsResourceResult> {
    let b = &broker.config;
    TOPIC_CONFIGS
        .iter()
        .filter(|d| keys.is_none_or(|k| k.iter().any(|k| k.as_str() == d.name)))
        .map(|d| {
            let (value, source) = match overrides.get(d.name) {
                Some(v) => (v.clone(), SOURCE_TOPIC),
                None if d.is_broker_override(b) => (d.default_value(b), SOURCE_STATIC_BROKER),
                None => (d.default_value(b), SOURCE_DEFAULT),
            };
            DescribeConfigsResourceResult::default()
                .with_name(str_bytes(d.name))
                .with_value(Some(str_bytes(&value)))
                .with_config_source(source)
                .with_config_type(d.kind as i8)
                .with_documentation(Some(str_bytes(d.doc)))
        })
        .collect()
}

fn broker_entries(b: &BrokerConfig) -> Vec<DescribeConfigsResourceResult> {
    let entries: [(&str, String, ConfigType); 9] = [
        (
            "auto.create.topics.enable",
            b.auto_create_topics_enable.to_string(),
            ConfigType::Boolean,
        ),
        (
            "num.partitions",
            b.num_partitions.to_string(),
            ConfigType::Int,
        ),
        (
            "socket.request.max.bytes",
            b.socket_request_max_bytes.to_string(),
            ConfigType::Int,
        ),
        (
            "log.segment.bytes",
            b.log_segment_bytes.to_string(),
            ConfigType::Int,
        ),
        ("log.roll.ms", b.log_roll_ms.to_string(), ConfigType::Long),
        (
            "log.retention.ms",
            b.log_retention_ms.to_string(),
            ConfigType::Long,
        ),
        (
            "log.retention.bytes",
            b.log_retention_bytes.to_string(),
            ConfigType::Long,
        ),
        (
            "message.max.bytes",
            b.message_max_bytes.to_string(),
            ConfigType::Int,
        ),
        (
            "write.caching",
            b.write_caching.to_string(),
            ConfigType::Boolean,
        ),
    ];
    entries
        .into_iter()
        .map(|(name, value, kind)| {
            DescribeConfigsResourceResult::default()
                .with_name(str_bytes(name))
                .with_value(Some(str_bytes(&value)))
                .with_read_only(true)
                .with_config_source(SOURCE_STATIC_BROKER)
                .with_config_type(kind as i8)
        })
        .collect()
}

fn check_broker_name(broker: &Broker, name: &str) -> ApiResult<()> {
    if name.is_empty() || name == broker.config.node_id.to_string() {
        Ok(())
    } else {
        Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                broker.config.node_id
            ),
        ))
    }
}

/// Whether `operation` (DescribeConfigs or AlterConfigs) is allowed on a config resource:
/// the topic, or the cluster for a broker or broker logger.
fn authorize(
    broker: &Broker,
    access: &Access,
    operation: Operation,
    resource_type: i8,
    name: &str,
) -> ApiResult<()> {
    match resource_type {
        RESOURCE_TOPIC if !access.allows_topic(&broker.topics, operation, name) => {
            Err(ApiError::new(
                ResponseError::TopicAuthorizationFailed,
                format!("not authorized to {operation} of topic {name}"),
            ))
        }
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER if !access.allows_cluster(operation) => {
            Err(ApiError::new(
                ResponseError::ClusterAuthorizationFailed,
                format!("not authorized to {operation} of the broker"),
            ))
        }
        _ => Ok(()),
    }
}

/// The ACL resource of a config resource (the cluster for a broker or broker logger).
fn config_resource(resource_type: i8, name: &str) -> weir_auth::Resource<'_> {
    if resource_type == RESOURCE_TOPIC {
        weir_auth::Resource::topic(name)
    } else {
        weir_auth::Resource::cluster()
    }
}

/// Handles DescribeConfigs.
pub fn describe(
    broker: &Arc<Broker>,
    access: &Access,
    request: DescribeConfigsRequest,
    version: i16,
) -> ResponseKind {
    let results = request
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.as_str();
            let authorized = authorize(
                broker,
                access,
                Operation::DescribeConfigs,
                r.resource_type,
                name,
            );
            let entries = authorized.and_then(|_| match r.resource_type {
                RESOURCE_TOPIC => broker
                    .topics
                    .get(name)
                    .ok_or_else(|| unknown_topic(name))
                    .map(|t| topic_entries(broker, &t.configs(), r.configuration_keys.as_deref())),
                RESOURCE_BROKER => check_broker_name(broker, name).map(|_| {
                    let keys = r.configuration_keys.as_deref();
                    broker_entries(&broker.config)
                        .into_iter()
                        .filter(|e| keys.is_none_or(|k| k.contains(&e.name)))
                        .collect()
                }),
                other => Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Unsupported resource type {other}"),
                )),
            });
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match entries {
                Ok(mut entries) => {
                    for e in &mut entries {
                        if request.include_synonyms {
                            e.synonyms = vec![DescribeConfigsSynonym::default()
                                .with_name(e.name.clone())
                                .with_value(e.value.clone())
                                .with_source(e.config_source)];
                        }
                        if version < 3 || !request.include_documentation {
                            e.documentation = None;
                        }
                    }
                    result.with_configs(entries)
                }
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(&e.message))),
            }
        })
        .collect();
    ResponseKind::DescribeConfigs(DescribeConfigsResponse::default().with_results(results))
}

/// Validates `configs` and, unless `validate_only`, makes them the topic's explicit configs.
fn apply(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    configs: ApiResult<BTreeMap<String, String>>,
    validate_only: bool,
) -> ApiResult<()> {
    match resource_type {
        RESOURCE_TOPIC => {}
        RESOURCE_BROKER => {
            check_broker_name(broker, name)?;
            return Err(ApiError::new(
                ResponseError::InvalidConfig,
                "Broker configs are static in Weir: set them with flags, WEIR_* variables or the config file",
            ));
        }
        other => {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("Unsupported resource type {other}"),
            ))
        }
    }
    broker.topics.get(name).ok_or_else(|| unknown_topic(name))?;
    let configs = configs?;
    broker.topics.validate_configs(&configs)?;
    if validate_only {
        return Ok(());
    }
    broker.topics.set_configs(name, configs)?;
    tracing::info!(topic = name, "topic configs altered");
    Ok(())
}

/// Handles AlterConfigs: the given set replaces all explicit configs of the topic.
pub fn alter(broker: &Arc<Broker>, access: &Access, request: AlterConfigsRequest) -> ResponseKind {
    let responses = request
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.as_str();
            let authorized = authorize(
                broker,
                access,
                Operation::AlterConfigs,
                r.resource_type,
                name,
            );
            let configs = {
                r.configs
                    .iter()
                    .map(|c| {
                        let value = c.value.as_ref().ok_or_else(|| {
                            ApiError::new(
                                ResponseError::InvalidConfig,
                                format!(
                                    "Null value not supported for topic config {}",
                                    c.name.as_str()
                                ),
                            )
                        })?;
                        Ok((c.name.as_str().to_string(), value.as_str().to_string()))
                    })
                    .collect::<ApiResult<BTreeMap<_, _>>>()
            };
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let applied = authorized.and_then(|_| {
                apply(
                    broker,
                    r.resource_type,
                    r.resource_name.as_str(),
                    configs,
                    request.validate_only,
                )
            });
            match applied {
                Ok(()) => {
                    if !request.validate_only {
                        access.audit(
                            "alter configs",
                            config_resource(r.resource_type, &r.resource_name),
                        );
                    }
                    response
                }
                Err(e) => response
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(&e.message))),
            }
        })
        .collect();
    ResponseKind::AlterConfigs(AlterConfigsResponse::default().with_responses(responses))
}

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

fn incremental_configs(
    broker: &Broker,
    topic: &str,
    ops: &[kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig],
) -> ApiResult<BTreeMap<String, String>> {
    let current = broker
        .topics
        .get(topic)
        .ok_or_else(|| unknown_topic(topic))?;
    let mut configs = (*current.configs()).clone();
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        let name = op.name.as_str();
        if !seen.insert(name) {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("Error due to duplicate config keys: {name}"),
            ));
        }
        let def = topic_config::definition(name).ok_or_else(|| {
            ApiError::new(
                ResponseError::InvalidConfig,
                format!("Unknown topic config name: {name}"),
            )
        })?;
        let value = op.value.as_ref().map(|v| v.as_str().to_string());
        match op.config_operation {
            OP_SET => {
                let v = value.ok_or_else(|| {
                    ApiError::new(
                        ResponseError::InvalidRequest,
                        format!("Null value not supported for: {name}"),
                    )
                })?;
                configs.insert(name.to_string(), v);
            }
            OP_DELETE => {
                configs.remove(name);
            }
            OP_APPEND | OP_SUBTRACT => {
                if def.kind != ConfigType::List {
                    return Err(ApiError::new(
                        ResponseError::InvalidConfig,
                        format!("Config value append/subtract is not allowed for config key {name} which is not a list"),
                    ));
                }
                let current = topic_config::effective(name, &configs, &broker.config);
                let mut items: Vec<String> = current
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for item in value
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    if op.config_operation == OP_APPEND {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_string());
                        }
                    } else {
                        items.retain(|i| i != item);
                    }
                }
                configs.insert(name.to_string(), items.join(","));
            }
            other => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Unknown config operation {other}"),
                ))
            }
        }
    }
    Ok(configs)
}

/// Handles IncrementalAlterConfigs.
pub fn incremental_alter(
    broker: &Arc<Broker>,
    access: &Access,
    request: IncrementalAlterConfigsRequest,
) -> ResponseKind {
    let responses = request
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.as_str();
            let authorized = authorize(
                broker,
                access,
                Operation::AlterConfigs,
                r.resource_type,
                name,
            );
            let configs = match (&authorized, r.resource_type) {
                (Ok(()), RESOURCE_TOPIC) => incremental_configs(broker, name, &r.configs),
                _ => Ok(BTreeMap::new()),
            };
            let response = IncrementalResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let applied = authorized.and_then(|_| {
                apply(
                    broker,
                    r.resource_type,
                    name,
                    configs,
                    request.validate_only,
                )
            });
            match applied {
                Ok(()) => {
                    if !request.validate_only {
                        access.audit(
                            "alter configs",
                            config_resource(r.resource_type, &r.resource_name),
                        );
                    }
                    response
                }
                Err(e) => response
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(&e.message))),
            }
        })
        .collect();
    ResponseKind::IncrementalAlterConfigs(
        IncrementalAlterConfigsResponse::default().with_responses(responses),
    )
}
