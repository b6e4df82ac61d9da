//! Committed offsets: OffsetCommit, OffsetFetch (single group, and the v8+ multi-group form)
//! and OffsetDelete.
//!
//! Authorization as in Kafka: committing needs Read on the group (GROUP_AUTHORIZATION_FAILED
//! for every partition) and Read on each topic (TOPIC_AUTHORIZATION_FAILED); fetching needs
//! Describe on the group and on each named topic (a fetch of all topics leaves out those the
//! principal may not Describe); deleting needs Delete on the group and Read on each topic.

use std::sync::Arc;

use futures::future::FutureExt;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;

use weir_auth::{Operation, Resource};

use super::{now_ms, ready, str_bytes, Reply};
use crate::access::Access;
use crate::broker::Broker;
use crate::groups::store::StoredOffset;

/// Kafka's `offset.metadata.max.bytes` default.
const MAX_METADATA_BYTES: usize = 4096;

/// Handles OffsetCommit: per-partition checks, then one durable write for the rest.
pub fn commit(
    broker: &Arc<Broker>,
    access: &Access,
    request: OffsetCommitRequest,
    version: i16,
) -> Reply {
    let group_readable = access.allows(Operation::Read, Resource::group(&request.group_id));
    let readable: Vec<bool> = request
        .topics
        .iter()
        .map(|t| group_readable && access.allows_topic(&broker.topics, Operation::Read, &t.name))
        .collect();
    let broker = broker.clone();
    async move {
        let now = now_ms();
        // (topic index, partition index, error) for partitions refused up front.
        let mut errors: Vec<Vec<Option<ResponseError>>> = Vec::new();
        let mut accepted = Vec::new();
        for (t, readable) in request.topics.iter().zip(readable) {
            let topic = t.name.0.as_str();
            let mut row = Vec::new();
            for p in &t.partitions {
                let metadata = p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.as_str().to_string());
                let error = if !group_readable {
                    Some(ResponseError::GroupAuthorizationFailed)
                } else if !readable {
                    Some(ResponseError::TopicAuthorizationFailed)
                } else if broker.topics.partition(topic, p.partition_index).is_err() {
                    Some(ResponseError::UnknownTopicOrPartition)
                } else if metadata
                    .as_ref()
                    .is_some_and(|m| m.len() > MAX_METADATA_BYTES)
                {
                    Some(ResponseError::OffsetMetadataTooLarge)
                } else {
                    accepted.push((
                        topic.to_string(),
                        p.partition_index,
                        StoredOffset {
                            offset: p.committed_offset,
                            leader_epoch: if version >= 6 {
                                p.committed_leader_epoch
                            } else {
                                -1
                            },
                            metadata,
                            commit_ms: now,
                        },
                    ));
                    None
                };
                row.push(error);
            }
            errors.push(row);
        }
        let group_error = if accepted.is_empty() {
            None
        } else {
            broker
                .groups
                .commit(
                    request.group_id.0.as_str(),
                    request.member_id.as_str(),
                    request.group_instance_id.as_ref().map(|s| s.as_str()),
                    request.generation_id_or_member_epoch,
                    accepted,
                )
                .await
                .err()
        };
        let topics = request
            .topics
            .iter()
            .zip(errors)
            .map(|(t, row)| {
                let partitions = t
                    .partitions
                    .iter()
                    .zip(row)
                    .map(|(p, e)| {
                        let e = e.or(group_error);
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(e.map(|e| e.code()).unwrap_or(0))
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        Some(ResponseKind::OffsetCommit(
            OffsetCommitResponse::default().with_topics(topics),
        ))
    }
    .boxed()
}

type Fetched = Vec<(String, i32, Option<StoredOffset>)>;
/// Committed offsets of one topic: (partition, offset if any).
type TopicOffsets = (String, Vec<(i32, Option<StoredOffset>)>);

fn group_by_topic(rows: Fetched) -> Vec<TopicOffsets> {
    let mut out: Vec<TopicOffsets> = Vec::new();
    for (topic, p, o) in rows {
        match out.last_mut() {
            Some((t, v)) if *t == topic => v.push((p, o)),
            _ => out.push((topic, vec![(p, o)])),
        }
    }
    out
}

/// (offset, leader epoch, metadata) as OffsetFetch reports it; -1 and "" when nothing is committed.
fn reported(o: Option<StoredOffset>) -> (i64, i32, String) {
    match o {
        Some(o) => (o.offset, o.leader_epoch, o.metadata.unwrap_or_default()),
        None => (-1, -1, String::new()),
    }
}

/// One group's committed offsets as the principal may see them: `Err` when it may not
/// Describe the group; per topic, TOPIC_AUTHORIZATION_FAILED for a named topic it may not
/// Describe, and topics it may not Describe left out of a fetch of all.
fn visible_offsets(
    broker: &Broker,
    access: &Access,
    group: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Vec<(TopicOffsets, Option<ResponseError>)>, ResponseError> {
    if !access.allows(Operation::Describe, Resource::group(group)) {
        return Err(ResponseError::GroupAuthorizationFailed);
    }
    let named = wanted.is_some();
    Ok(group_by_topic(broker.groups.fetch_offsets(group, wanted))
        .into_iter()
        .filter_map(|(topic, parts)| {
            let allowed = if named {
                access.allows_topic(&broker.topics, Operation::Describe, &topic)
            } else {
                access.quietly_allows_topic(&broker.topics, Operation::Describe, &topic)
            };
            match (allowed, named) {
                (true, _) => Some(((topic, parts), None)),
                (false, true) => {
                    let hidden = parts.into_iter().map(|(p, _)| (p, None)).collect();
                    Some((
                        (topic, hidden),
                        Some(ResponseError::TopicAuthorizationFailed),
                    ))
                }
                (false, false) => None,
            }
        })
        .collect())
}

fn error_code(e: Option<ResponseError>) -> i16 {
    e.map(|e| e.code()).unwrap_or(0)
}

/// Handles OffsetFetch.
pub fn fetch(
    broker: &Arc<Broker>,
    access: &Access,
    request: OffsetFetchRequest,
    version: i16,
) -> ResponseKind {
    if version >= 8 {
        let groups = request
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.as_str().to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let response =
                    OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                let visible = match visible_offsets(broker, access, g.group_id.0.as_str(), wanted) {
                    Ok(visible) => visible,
                    Err(e) => return response.with_error_code(e.code()),
                };
                let topics = visible
                    .into_iter()
                    .map(|((topic, parts), error)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(str_bytes(&topic)))
                            .with_partitions(
                                parts
                                    .into_iter()
                                    .map(|(p, o)| {
                                        let (offset, epoch, metadata) = reported(o);
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(epoch)
                                            .with_metadata(Some(str_bytes(&metadata)))
                                            .with_error_code(error_code(error))
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                response.with_topics(topics)
            })
            .collect();
        return ResponseKind::OffsetFetch(OffsetFetchResponse::default().with_groups(groups));
    }
    let wanted = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.as_str().to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let visible = match visible_offsets(broker, access, request.group_id.0.as_str(), wanted) {
        Ok(visible) => visible,
        Err(e) => {
            return ResponseKind::OffsetFetch(
                OffsetFetchResponse::default().with_error_code(e.code()),
            )
        }
    };
    let topics = visible
        .into_iter()
        .map(|((topic, parts), error)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(&topic)))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, o)| {
                            let (offset, epoch, metadata) = reported(o);
                            let r = OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_metadata(Some(str_bytes(&metadata)))
                                .with_error_code(error_code(error));
                            if version >= 5 {
                                r.with_committed_leader_epoch(epoch)
                            } else {
                                r
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    ResponseKind::OffsetFetch(OffsetFetchResponse::default().with_topics(topics))
}

/// Handles OffsetDelete.
pub fn delete(broker: &Arc<Broker>, access: &Access, request: OffsetDeleteRequest) -> Reply {
    if !access.allows(Operation::Delete, Resource::group(&request.group_id)) {
        return ready(ResponseKind::OffsetDelete(
            OffsetDeleteResponse::default()
                .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        ));
    }
    let readable: Vec<bool> = request
        .topics
        .iter()
        .map(|t| access.allows_topic(&broker.topics, Operation::Read, &t.name))
        .collect();
    let broker = broker.clone();
    async move {
        let partitions: Vec<(String, i32)> = request
            .topics
            .iter()
            .zip(&readable)
            .filter(|(_, readable)| **readable)
            .flat_map(|(t, _)| {
                t.partitions
                    .iter()
                    .map(move |p| (t.name.0.as_str().to_string(), p.partition_index))
            })
            .collect();
        let mut response = OffsetDeleteResponse::default();
        match broker
            .groups
            .delete_offsets(request.group_id.0.as_str(), partitions)
            .await
        {
            Err(e) => response.error_code = e.code(),
            Ok(results) => {
                let mut results = results.into_iter();
                response.topics = request
                    .topics
                    .iter()
                    .zip(&readable)
                    .map(|(t, readable)| {
                        let partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                let e = if *readable {
                                    results.next().flatten()
                                } else {
                                    Some(ResponseError::TopicAuthorizationFailed)
                                };
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(e.map(|e| e.code()).unwrap_or(0))
                            })
                            .collect();
                        OffsetDeleteResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(partitions)
                    })
                    .collect();
            }
        }
        Some(ResponseKind::OffsetDelete(response))
    }
    .boxed()
}
