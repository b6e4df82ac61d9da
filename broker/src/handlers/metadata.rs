//! Metadata: this broker as the only node and controller, every partition led by it, topic
//! ids from v10, and auto-creation of requested topics per `auto.create.topics.enable`.
//! Auto-creation does disk work, so `dispatch` runs a request that may create topics on the
//! blocking pool ([`may_create`]); it counts against the partition limits like CreateTopics.
//!
//! Authorization as in Kafka: a listing of all topics shows only those the principal may
//! Describe; a named topic without Describe answers TOPIC_AUTHORIZATION_FAILED whether or not
//! it exists; a missing topic is auto-created only with Create on the cluster or the topic
//! (TOPIC_AUTHORIZATION_FAILED otherwise); authorized operations are filled when asked.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, MetadataRequest, MetadataResponse, ResponseKind, TopicName,
};

use weir_auth::{Operation, Resource};

use super::str_bytes;
use crate::access::Access;
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
    access: &Access,
    name: &str,
    auto_create: bool,
    created: &mut usize,
) -> Result<Arc<Topic>, ResponseError> {
    if !access.allows_topic(&broker.topics, Operation::Describe, name) {
        return Err(ResponseError::TopicAuthorizationFailed);
    }
    if let Some(topic) = broker.topics.get(name) {
        return Ok(topic);
    }
    if !auto_create || !broker.config.auto_create_topics_enable {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    if !access.quietly_allows(Operation::Create, Resource::cluster())
        && !access.allows(Operation::Create, Resource::topic(name))
    {
        return Err(ResponseError::TopicAuthorizationFailed);
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
    access: &Access,
    listener: &Listener,
    request: MetadataRequest,
    version: i16,
) -> ResponseKind {
    let topic_operations = version >= 8 && request.include_topic_authorized_operations;
    let described = |topic: &Topic| {
        let mut t = describe(broker, topic);
        if topic_operations {
            t.topic_authorized_operations = access.operations(Resource::topic(&topic.name));
        }
        t
    };
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
            .filter(|t| access.quietly_allows_topic(&broker.topics, Operation::Describe, &t.name))
            .map(|t| described(t))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|t| match t.name {
                Some(name) => {
                    let name_str = name.0.as_str();
                    match lookup_or_create(broker, access, name_str, auto_create, &mut created) {
                        Ok(topic) => described(&topic),
                        Err(e) => failed(Some(name), uuid::Uuid::nil(), e),
                    }
                }
                None => match broker.topics.get_by_id(t.topic_id) {
                    Some(topic)
                        if access.allows_topic(
                            &broker.topics,
                            Operation::Describe,
                            &topic.name,
                        ) =>
                    {
                        described(&topic)
                    }
                    Some(_) => failed(None, t.topic_id, ResponseError::TopicAuthorizationFailed),
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
        .with_cluster_authorized_operations(
            if (8..=10).contains(&version) && request.include_cluster_authorized_operations {
                super::cluster::cluster_operations(access)
            } else {
                OPERATIONS_OMITTED
            },
        );
    ResponseKind::Metadata(response)
}
