//! CreateTopics, DeleteTopics and CreatePartitions.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, ResponseKind, TopicName,
};

use super::configs::topic_entries;
use super::str_bytes;
use crate::broker::Broker;
use crate::errors::{ApiError, ApiResult};
use crate::topics::Topic;

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

fn create_one(
    broker: &Broker,
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
    validate_only: bool,
) -> ApiResult<Arc<Topic>> {
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
    broker
        .topics
        .create(t.name.0.as_str(), partitions, configs, validate_only)
}

/// Handles CreateTopics (including `validate_only`).
pub fn create_topics(
    broker: &Arc<Broker>,
    request: CreateTopicsRequest,
    version: i16,
) -> ResponseKind {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let r = CreatableTopicResult::default().with_name(t.name.clone());
            match create_one(broker, t, request.validate_only) {
                Ok(topic) => {
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
                    if version >= 5 {
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
            let result = name.clone().and_then(|n| broker.topics.delete(&n));
            let mut r = DeletableTopicResult::default().with_topic_id(id);
            if let Ok(n) = &name {
                r.name = Some(TopicName(str_bytes(n)));
            }
            match result {
                Ok(topic) => r.with_topic_id(topic.id),
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

/// Handles CreatePartitions.
pub fn create_partitions(broker: &Arc<Broker>, request: CreatePartitionsRequest) -> ResponseKind {
    let results = request
        .topics
        .iter()
        .map(|t| {
            let assigned = t
                .assignments
                .iter()
                .flatten()
                .flat_map(|a| a.broker_ids.iter().map(|b| b.0));
            let result = check_replication(broker, 1, assigned).and_then(|_| {
                broker
                    .topics
                    .add_partitions(t.name.0.as_str(), t.count, request.validate_only)
            });
            let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            match result {
                Ok(()) => r,
                Err(e) => r
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(&e.message))),
            }
        })
        .collect();
    ResponseKind::CreatePartitions(CreatePartitionsResponse::default().with_results(results))
}
