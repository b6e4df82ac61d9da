//! DeleteRecords (raise a partition's log start offset) and OffsetForLeaderEpoch (this single
//! node has led every partition since epoch 0). They need Delete and Describe on the topic
//! (TOPIC_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, ResponseKind, TopicName,
};

use futures::FutureExt;

use weir_auth::Operation;

use super::Reply;
use crate::access::Access;
use crate::broker::Broker;
use crate::errors::{ApiError, ApiResult};
use crate::topics::Partition;

/// The local part of DeleteRecords for every requested partition: (topic, partition index,
/// the partition and target offset, or the error). Deletes segment files: blocking.
type LocalResults = Vec<(TopicName, i32, ApiResult<(Arc<Partition>, i64)>)>;

/// TOPIC_AUTHORIZATION_FAILED for `operation`.
fn denied(operation: Operation) -> ApiError {
    ApiError::new(
        ResponseError::TopicAuthorizationFailed,
        format!("not authorized to {operation} the topic"),
    )
}

/// Handles DeleteRecords: offset -1 means "up to the high watermark". The local log start
/// moves now (in request order, on the blocking pool: it deletes segment files); tiered
/// segments below the offset are then deleted from the store before the answer.
pub async fn delete_records(
    broker: &Arc<Broker>,
    access: Access,
    request: DeleteRecordsRequest,
) -> Reply {
    let b = broker.clone();
    let task = move || delete_local(&b, &access, &request);
    let local = match tokio::task::spawn_blocking(task).await {
        Ok(local) => local,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => {
            tracing::error!(error = %e, "delete records cancelled");
            return futures::future::ready(None).boxed();
        }
    };
    answer(local)
}

fn delete_local(broker: &Broker, access: &Access, request: &DeleteRecordsRequest) -> LocalResults {
    let mut local = Vec::new();
    for t in &request.topics {
        let deletable = access.allows_topic(&broker.topics, Operation::Delete, &t.name);
        for p in &t.partitions {
            let authorized = if deletable {
                Ok(())
            } else {
                Err(denied(Operation::Delete))
            };
            let result = authorized
                .and_then(|_| {
                    broker
                        .topics
                        .partition(t.name.0.as_str(), p.partition_index)
                })
                .and_then(|part| {
                    let target = if p.offset == -1 {
                        part.log.log_end_offset()
                    } else {
                        p.offset
                    };
                    if target < 0 {
                        return Err(ApiError::new(
                            ResponseError::OffsetOutOfRange,
                            format!("offset {target} is negative"),
                        ));
                    }
                    // A table keeps the log it has not applied and flushed (replay needs it).
                    if let Some(table) = &part.table {
                        table.make_durable_below(&part.log, target)?;
                    }
                    part.log
                        .delete_records_before(target)
                        .map_err(ApiError::from)?;
                    part.size_gauge.set(part.log.size_bytes() as f64);
                    access.audit(
                        &format!(
                            "delete records of partition {} below {target}",
                            p.partition_index
                        ),
                        weir_auth::Resource::topic(&t.name),
                    );
                    Ok((part, target))
                });
            local.push((t.name.clone(), p.partition_index, result));
        }
    }
    local
}

/// Deletes the tiered segments below each target and builds the response.
fn answer(local: LocalResults) -> Reply {
    async move {
        let mut topics: Vec<DeleteRecordsTopicResult> = Vec::new();
        for (name, index, result) in local {
            let result = match result {
                Ok((part, target)) => low_watermark(&part, target).await,
                Err(e) => Err(e),
            };
            let r = DeleteRecordsPartitionResult::default().with_partition_index(index);
            let r = match result {
                Ok(low) => r.with_low_watermark(low),
                Err(e) => {
                    tracing::info!(topic = %name.0.as_str(), partition = index, error = %e, "delete records refused");
                    r.with_low_watermark(-1).with_error_code(e.code())
                }
            };
            match topics.iter_mut().find(|t| t.name == name) {
                Some(t) => t.partitions.push(r),
                None => topics.push(
                    DeleteRecordsTopicResult::default()
                        .with_name(name)
                        .with_partitions(vec![r]),
                ),
            }
        }
        Some(ResponseKind::DeleteRecords(
            DeleteRecordsResponse::default().with_topics(topics),
        ))
    }
    .boxed()
}

/// Applies DeleteRecords to the tiered segments and returns the new low watermark.
async fn low_watermark(part: &Partition, target: i64) -> ApiResult<i64> {
    part.tiered.delete_records_before(target).await?;
    Ok(part.log_start_offset())
}

/// Handles OffsetForLeaderEpoch: epoch 0 ends at the log end offset; later epochs do not exist.
pub fn offset_for_leader_epoch(
    broker: &Arc<Broker>,
    access: &Access,
    request: OffsetForLeaderEpochRequest,
) -> ResponseKind {
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let described = access.allows_topic(&broker.topics, Operation::Describe, &t.topic);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default().with_partition(p.partition);
                    let found = if described {
                        broker.topics.partition(t.topic.0.as_str(), p.partition)
                    } else {
                        Err(denied(Operation::Describe))
                    };
                    match found {
                        Err(e) => r
                            .with_error_code(e.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                        Ok(_) if p.current_leader_epoch > 0 => r
                            .with_error_code(ResponseError::UnknownLeaderEpoch.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                        Ok(part) if p.leader_epoch == 0 => r
                            .with_leader_epoch(0)
                            .with_end_offset(part.log.log_end_offset()),
                        Ok(_) => r.with_leader_epoch(-1).with_end_offset(-1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    ResponseKind::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse::default().with_topics(topics))
}
