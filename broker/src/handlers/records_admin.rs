//! DeleteRecords (raise a partition's log start offset) and OffsetForLeaderEpoch (this single
//! node has led every partition since epoch 0).

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
    OffsetForLeaderEpochResponse, ResponseKind,
};

use crate::broker::Broker;
use crate::errors::ApiError;

/// Handles DeleteRecords: offset -1 means "up to the high watermark".
pub fn delete_records(broker: &Arc<Broker>, request: DeleteRecordsRequest) -> ResponseKind {
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
                    let result = broker.topics.partition(t.name.0.as_str(), p.partition_index).and_then(|part| {
                        let target = if p.offset == -1 { part.log.log_end_offset() } else { p.offset };
                        if target < 0 {
                            return Err(ApiError::new(ResponseError::OffsetOutOfRange, format!("offset {target} is negative")));
                        }
                        let low = part.log.delete_records_before(target).map_err(ApiError::from)?;
                        part.size_gauge.set(part.log.size_bytes() as f64);
                        Ok(low)
                    });
                    match result {
                        Ok(low) => r.with_low_watermark(low),
                        Err(e) => {
                            tracing::info!(topic = %t.name.0.as_str(), partition = p.partition_index, error = %e, "delete records refused");
                            r.with_low_watermark(-1).with_error_code(e.code())
                        }
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    ResponseKind::DeleteRecords(DeleteRecordsResponse::default().with_topics(topics))
}

/// Handles OffsetForLeaderEpoch: epoch 0 ends at the log end offset; later epochs do not exist.
pub fn offset_for_leader_epoch(
    broker: &Arc<Broker>,
    request: OffsetForLeaderEpochRequest,
) -> ResponseKind {
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default().with_partition(p.partition);
                    match broker.topics.partition(t.topic.0.as_str(), p.partition) {
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
