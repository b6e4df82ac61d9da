//! CreateTopics, DeleteTopics and CreatePartitions. They do disk work (partition
//! directories, fsyncs, RocksDB), so `dispatch` runs them on the blocking pool. A request
//! that would create more than `max.partitions.per.request` partitions (changelogs included)
//! is refused whole with `INVALID_PARTITIONS`; each creation is checked against
//! `max.partitions` as it happens (`POLICY_VIOLATION`).
//!
//! Authorization as in Kafka: creating needs Create on the cluster or the topic, deleting
//! Delete on the topic, adding partitions Alter on it (TOPIC_AUTHORIZATION_FAILED each); a
//! created topic's configs are returned only with DescribeConfigs on it.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, ResponseKind, TopicName,
};

use weir_auth::{Operation, Resource};

use super::configs::topic_entries;
use super::str_bytes;
use crate::access::Access;
use crate::broker::Broker;
use crate::errors::{ApiError, ApiResult};
use crate::topics;

/// TOPIC_AUTHORIZATION_FAILED for `operation` on topic `name`.
fn denied(operation: Operation, name: &str) -> ApiError {
    ApiError::new(
        ResponseError::TopicAuthorizationFailed,
        format!("not authorized to {operation} topic {name}"),
    )
}

fn check_replication(
    broker: &Broker,
    replication_factor: i16,
    assigned: impl Iterator<Item = i32>,
) -> ApiResult<()> {
    if replication_factor != -1 && replication_factor != 1 {
        let message = if replication_factor < 1 {
            "Replication factor must be larger than 0, or -1 to use the default value.".to_string()
        } else {
            format!("Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only 1 broker(s) are registered.")
        };
        return Err(ApiError::new(
            ResponseError::InvalidReplicationFactor,
            message,
        ));
    }
    for id in assigned {
        if id != broker.config.node_id {
            return Err(ApiError::new(
                ResponseError::InvalidReplicaAssignment,
                format!("Replica assignment refers to broker {id}, which is not registered"),
            ));
        }
    }
    Ok(())
}

/// A topic as a CreateTopics entry asks for it: partition count and explicit configs.
struct Planned {
    partitions: i32,
    configs: BTreeMap<String, String>,
}

impl Planned {
    /// Partitions the topic would hold, changelog partitions included.
    fn logs(&self, broker: &Broker) -> usize {
        self.partitions.max(0) as usize * topics::logs_per_partition(&self.configs, &broker.config)
    }
}

fn plan(
    broker: &Broker,
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
) -> ApiResult<Planned> {
    let assigned = t
        .assignments
        .iter()
        .flat_map(|a| a.broker_ids.iter().map(|b| b.0));
    check_replication(broker, t.replication_factor, assigned)?;
    let partitions = if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ));
        }
        t.assignments.len() as i32
    } else if t.num_partitions == -1 {
        broker.config.num_partitions
    } else {
        t.num_partitions
    };
    let mut configs = BTreeMap::new();
    for c in &t.configs {
        let value = c.value.as_ref().ok_or_else(|| {
            ApiError::new(
                ResponseError::InvalidConfig,
                format!(
                    "Null value not supported for topic config {}",
                    c.name.as_str()
                ),
            )
        })?;
        configs.insert(c.name.as_str().to_string(), value.as_str().to_string());
    }
    Ok(Planned {
        partitions,
        configs,
    })
}

/// Handles CreateTopics (including `validate_only`).
pub fn create_topics(
    broker: &Arc<Broker>,
    access: &Access,
    request: CreateTopicsRequest,
    version: i16,
) -> ResponseKind {
    let cluster_create = access.quietly_allows(Operation::Create, Resource::cluster());
    let plans: Vec<ApiResult<Planned>> = request
        .topics
        .iter()
        .map(|t| {
            if !cluster_create && !access.allows(Operation::Create, Resource::topic(&t.name)) {
                return Err(denied(Operation::Create, &t.name));
            }
            plan(broker, t)
        })
        .collect();
    let creating = plans.iter().flatten().map(|p| p.logs(broker)).sum();
    let over_cap = topics::check_request_partitions(&broker.config, creating).err();
    let topics = request
        .topics
        .iter()
        .zip(plans)
        .map(|(t, planned)| {
            let r = CreatableTopicResult::default().with_name(t.name.clone());
            let created = match (planned, &over_cap) {
                (Err(e), _) => Err(e),
                (Ok(_), Some(e)) => Err(e.clone()),
                (Ok(p), None) => broker.topics.create(
                    t.name.0.as_str(),
                    p.partitions,
                    p.configs,
                    request.validate_only,
                ),
            };
            match created {
                Ok(topic) => {
                    if !request.validate_only {
                        access.audit("create topic", Resource::topic(&topic.name));
                    }
                    let mut r = r
                        .with_topic_id(topic.id)
                        .with_num_partitions(if request.validate_only {
                            if t.num_partitions == -1 {
                                broker.config.num_partitions
                            } else {
                                t.num_partitions
                            }
                        } else {
                            topic.partitions().len() as i32
                        })
                        .with_replication_factor(1);
                    let configs_visible =
                        access.allows_topic(&broker.topics, Operation::DescribeConfigs, &t.name);
                    if version >= 5 && !configs_visible {
                        r.topic_config_error_code = ResponseError::TopicAuthorizationFailed.code();
                    } else if version >= 5 {
                        let configs = topic_entries(broker, &topic.configs(), None)
                            .into_iter()
                            .map(|e| {
                                CreatableTopicConfigs::default()
                                    .with_name(e.name)
                                    .with_value(e.value)
                                    .with_read_only(e.read_only)
                                    .with_config_source(e.config_source)
                                    .with_is_sensitive(false)
                            })
                            .collect();
                        r.configs = Some(configs);
                    }
                    r
                }
                Err(e) => {
                    tracing::info!(topic = %t.name.0.as_str(), error = %e, "create topic refused");
                    r.with_error_code(e.code())
                        .with_error_message(Some(str_bytes(&e.message)))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                }
            }
        })
        .collect();
    ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(topics))
}

/// Handles DeleteTopics, by name (all versions) or by topic id (v6+).
pub fn delete_topics(
    broker: &Arc<Broker>,
    access: &Access,
    request: DeleteTopicsRequest,
    version: i16,
) -> ResponseKind {
    let targets: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        request
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.as_ref().map(|n| n.0.as_str().to_string()),
                    t.topic_id,
                )
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.0.as_str().to_string()), uuid::Uuid::nil()))
            .collect()
    };
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let name = match name {
                Some(n) => Ok(n),
                None => broker
                    .topics
                    .get_by_id(id)
                    .map(|t| t.name.clone())
                    .ok_or_else(|| {
                        ApiError::new(
                            ResponseError::UnknownTopicId,
                            format!("Topic id {id} not found"),
                        )
                    }),
            };
            let result = name.clone().and_then(|n| {
                if !access.allows_topic(&broker.topics, Operation::Delete, &n) {
                    return Err(denied(Operation::Delete, &n));
                }
                broker.topics.delete(&n)
            });
            let mut r = DeletableTopicResult::default().with_topic_id(id);
            if let Ok(n) = &name {
                r.name = Some(TopicName(str_bytes(n)));
            }
            match result {
                Ok(topic) => {
                    access.audit("delete topic", Resource::topic(&topic.name));
                    r.with_topic_id(topic.id)
                }
                Err(e) => {
                    let r = r.with_error_code(e.code());
                    if version >= 5 {
                        r.with_error_message(Some(str_bytes(&e.message)))
                    } else {
                        r
                    }
                }
            }
        })
        .collect();
    ResponseKind::DeleteTopics(DeleteTopicsResponse::default().with_responses(responses))
}

/// Partitions a CreatePartitions entry would add, changelog partitions included (0 when the
/// entry is invalid: it will be refused on its own).
fn adding(broker: &Broker, topic: &CreatePartitionsTopic) -> usize {
    let Some(current) = broker.topics.get(topic.name.0.as_str()) else {
        return 0;
    };
    let have = current.partitions().len();
    let count = usize::try_from(topic.count).unwrap_or(0);
    count.saturating_sub(have) * topics::logs_per_partition(&current.configs(), &broker.config)
}

/// Handles CreatePartitions.
pub fn create_partitions(
    broker: &Arc<Broker>,
    access: &Access,
    request: CreatePartitionsRequest,
) -> ResponseKind {
    let creating = request.topics.iter().map(|t| adding(broker, t)).sum();
    let over_cap = topics::check_request_partitions(&broker.config, creating).err();
    let results = request
        .topics
        .iter()
        .map(|t| {
            if let Some(e) = &over_cap {
                return CreatePartitionsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(&e.message)));
            }
            let assigned = t
                .assignments
                .iter()
                .flatten()
                .flat_map(|a| a.broker_ids.iter().map(|b| b.0));
            let authorized = if access.allows_topic(&broker.topics, Operation::Alter, &t.name) {
                Ok(())
            } else {
                Err(denied(Operation::Alter, &t.name))
            };
            let result = authorized
                .and_then(|_| check_replication(broker, 1, assigned))
                .and_then(|_| {
                    broker
                        .topics
                        .add_partitions(t.name.0.as_str(), t.count, request.validate_only)
                });
            let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            match result {
                Ok(()) => {
                    if !request.validate_only {
                        access.audit("create partitions", Resource::topic(&t.name));
                    }
                    r
                }
                Err(e) => r
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(&e.message))),
            }
        })
        .collect();
    ResponseKind::CreatePartitions(CreatePartitionsResponse::default().with_results(results))
}
