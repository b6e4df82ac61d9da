//! Metadata: this broker as the only node and controller, every partition led by it, topic
//! ids from v10, and auto-creation of requested topics per `auto.create.topics.enable`.
//! Auto-creation does disk work, so `dispatch` runs a request that may create topics on the
//! blocking pool ([`may_create`]); it counts against the partition limits like CreateTopics.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, MetadataRequest, MetadataResponse, ResponseKind, TopicName,
};

use super::str_bytes;
use crate::broker::Broker;
use crate::listeners::Listener;
use crate::topics::{self, Topic};

/// "Authorized operations not requested", as Kafka encodes it.
const OPERATIONS_OMITTED: i32 = i32::MIN;

fn describe(broker: &Broker, topic: &Topic) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    let partitions = topic
        .partitions()
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&topic.name))))
        .with_topic_id(topic.id)
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

fn failed(name: Option<TopicName>, id: uuid::Uuid, error: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name)
        .with_topic_id(id)
        .with_error_code(error.code())
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

/// Whether the request asks for topics that do not exist and may auto-create them.
pub fn may_create(broker: &Broker, request: &MetadataRequest, version: i16) -> bool {
    auto_create(request, version)
        && broker.config.auto_create_topics_enable
        && request.topics.iter().flatten().any(|t| {
            t.name
                .as_ref()
                .is_some_and(|n| broker.topics.get(n.0.as_str()).is_none())
        })
}

/// v0 has no allow_auto_topic_creation field and always allowed it.
fn auto_create(request: &MetadataRequest, version: i16) -> bool {
    version < 4 || request.allow_auto_topic_creation
}

/// The topic `name`, auto-created if allowed. `created` counts the partitions this request
/// has created so far (for `max.partitions.per.request`).
fn lookup_or_create(
    broker: &Broker,
    name: &str,
    auto_create: bool,
    created: &mut usize,
) -> Result<Arc<Topic>, ResponseError> {
    if let Some(topic) = broker.topics.get(name) {
        return Ok(topic);
    }
    if !auto_create || !broker.config.auto_create_topics_enable {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    let configs = BTreeMap::new();
    let logs = broker.config.num_partitions.max(0) as usize
        * topics::logs_per_partition(&configs, &broker.config);
    let created_now = *created + logs;
    if let Err(e) = topics::check_request_partitions(&broker.config, created_now) {
        tracing::info!(topic = name, error = %e, "auto-creation refused");
        return Err(e.error);
    }
    match broker
        .topics
        .create(name, broker.config.num_partitions, configs, false)
        .inspect(|_| *created = created_now)
    {
        Ok(topic) => Ok(topic),
        // Another request created it first.
        Err(e) if e.error == ResponseError::TopicAlreadyExists => broker
            .topics
            .get(name)
            .ok_or(ResponseError::UnknownTopicOrPartition),
        Err(e) => {
            tracing::info!(topic = name, error = %e, "auto-creation refused");
            Err(e.error)
        }
    }
}

/// Handles a Metadata request.
pub fn handle(
    broker: &Arc<Broker>,
    listener: &Listener,
    request: MetadataRequest,
    version: i16,
) -> ResponseKind {
    // v0 asks for all topics with an empty list, v1+ with null.
    let auto_create = auto_create(&request, version);
    let mut created = 0;
    let wanted = match request.topics {
        Some(list) if !(version == 0 && list.is_empty()) => Some(list),
        _ => None,
    };
    let topics = match wanted {
        None => broker
            .topics
            .list()
            .iter()
            .map(|t| describe(broker, t))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|t| match t.name {
                Some(name) => {
                    match lookup_or_create(broker, name.0.as_str(), auto_create, &mut created) {
                        Ok(topic) => describe(broker, &topic),
                        Err(e) => failed(Some(name), uuid::Uuid::nil(), e),
                    }
                }
                None => match broker.topics.get_by_id(t.topic_id) {
                    Some(topic) => describe(broker, &topic),
                    None => failed(None, t.topic_id, ResponseError::UnknownTopicId),
                },
            })
            .collect(),
    };
    let node = BrokerId(broker.config.node_id);
    let response = MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(str_bytes(&listener.advertised_host))
            .with_port(listener.advertised_port)])
        .with_cluster_id(Some(str_bytes(&broker.cluster_id)))
        .with_controller_id(node)
        .with_topics(topics)
        .with_cluster_authorized_operations(OPERATIONS_OMITTED);
    ResponseKind::Metadata(response)
}
