//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3, v7+), earliest local (-4, v8+;
//! equal to earliest while nothing is tiered), and the first offset at or after a timestamp.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, ResponseKind};

use crate::broker::Broker;
use crate::errors::{ApiError, ApiResult};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

fn lookup(broker: &Broker, topic: &str, partition: i32, timestamp: i64) -> ApiResult<(i64, i64)> {
    let p = broker.topics.partition(topic, partition)?;
    let log = &p.log;
    Ok(match timestamp {
        LATEST => (-1, log.log_end_offset()),
        EARLIEST => match &p.table {
            Some(t) => (-1, t.earliest_offset(log.log_start_offset())?),
            None => (-1, log.log_start_offset()),
        },
        EARLIEST_LOCAL => (-1, log.log_start_offset()),
        MAX_TIMESTAMP => log
            .max_timestamp()
            .map_err(ApiError::from)?
            .map(|(offset, ts)| (ts, offset))
            .unwrap_or((-1, -1)),
        ts => log
            .offset_for_timestamp(ts)
            .map_err(ApiError::from)?
            .map(|(offset, ts)| (ts, offset))
            .unwrap_or((-1, -1)),
    })
}

/// Handles a ListOffsets request.
pub fn handle(broker: &Arc<Broker>, request: ListOffsetsRequest, version: i16) -> ResponseKind {
    // The leader epoch field exists from v4 on.
    let leader_epoch = if version >= 4 { 0 } else { -1 };
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_leader_epoch(leader_epoch);
                    match lookup(broker, t.name.0.as_str(), p.partition_index, p.timestamp) {
                        Ok((timestamp, offset)) => r.with_timestamp(timestamp).with_offset(offset),
                        Err(e) => r
                            .with_error_code(e.code())
                            .with_timestamp(-1)
                            .with_offset(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ResponseKind::ListOffsets(ListOffsetsResponse::default().with_topics(topics))
}
