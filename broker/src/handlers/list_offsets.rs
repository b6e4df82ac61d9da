//! ListOffsets: earliest (-2, tiered segments included), latest (-1), max timestamp (-3,
//! v7+), earliest local (-4, v8+), latest tiered (-5, v9+: the last offset in the object
//! store, -1 if none), and the first offset at or after a timestamp, searching the tiered
//! segments before the local log. Lookups that read segment files or RocksDB run on the
//! blocking pool.

use std::sync::Arc;

use futures::FutureExt;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, ResponseKind};

use weir_auth::Operation;

use super::Reply;
use crate::access::Access;
use crate::broker::Broker;
use crate::errors::{ApiError, ApiResult};
use crate::topics::Partition;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// Runs `f` (which reads the disk) on the blocking pool.
async fn off_runtime<T: Send + 'static>(
    p: &Arc<Partition>,
    f: impl FnOnce(&Partition) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let p = p.clone();
    tokio::task::spawn_blocking(move || f(&p))
        .await
        .map_err(|e| {
            ApiError::new(
                ResponseError::UnknownServerError,
                format!("offset lookup failed: {e}"),
            )
        })?
}

/// `(timestamp, offset)` for one partition.
async fn lookup(
    broker: &Broker,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> ApiResult<(i64, i64)> {
    let p = broker.topics.partition(topic, partition)?;
    let log = &p.log;
    let local_start = log.log_start_offset();
    let tiered = (p.log_start_offset() < local_start).then_some(&p.tiered);
    Ok(match timestamp {
        LATEST => (-1, log.log_end_offset()),
        // A table topic's earliest row is found in RocksDB.
        EARLIEST if p.table.is_some() => (-1, off_runtime(&p, |p| p.earliest_offset()).await?),
        EARLIEST => (-1, p.earliest_offset()?),
        EARLIEST_LOCAL => (-1, local_start),
        LATEST_TIERED => {
            let tiered = log.config().remote_storage_enable;
            let last = p.tiered.manifest().segments.last().map(|s| s.last_offset);
            (-1, last.filter(|_| tiered).unwrap_or(-1))
        }
        MAX_TIMESTAMP => {
            let local = off_runtime(&p, |p| p.log.max_timestamp().map_err(ApiError::from)).await?;
            let remote = match tiered {
                Some(t) => t.max_timestamp_record().await?,
                None => None,
            };
            // The largest timestamp; on a tie the earlier (tiered) record.
            let best = match (remote, local) {
                (Some(r), Some(l)) if l.1 > r.1 => Some(l),
                (Some(r), _) => Some(r),
                (None, l) => l,
            };
            best.map(|(offset, ts)| (ts, offset)).unwrap_or((-1, -1))
        }
        ts => {
            let remote = match tiered {
                Some(t) => t.offset_for_timestamp(ts).await?,
                None => None,
            };
            let found = match remote {
                Some(found) => Some(found),
                None => {
                    off_runtime(&p, move |p| {
                        p.log.offset_for_timestamp(ts).map_err(ApiError::from)
                    })
                    .await?
                }
            };
            found.map(|(offset, ts)| (ts, offset)).unwrap_or((-1, -1))
        }
    })
}

/// Handles a ListOffsets request (asynchronously: tiered segments may have to be read).
/// Needs Describe on each topic (TOPIC_AUTHORIZATION_FAILED otherwise).
pub fn handle(
    broker: Arc<Broker>,
    access: Access,
    request: ListOffsetsRequest,
    version: i16,
) -> Reply {
    async move {
        // The leader epoch field exists from v4 on.
        let leader_epoch = if version >= 4 { 0 } else { -1 };
        let mut topics = Vec::with_capacity(request.topics.len());
        for t in request.topics {
            let mut partitions = Vec::with_capacity(t.partitions.len());
            let described = access.allows_topic(&broker.topics, Operation::Describe, &t.name);
            for p in &t.partitions {
                let r = ListOffsetsPartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_leader_epoch(leader_epoch);
                let found = if described {
                    lookup(&broker, t.name.0.as_str(), p.partition_index, p.timestamp).await
                } else {
                    Err(ApiError::new(
                        ResponseError::TopicAuthorizationFailed,
                        "not authorized to Describe the topic",
                    ))
                };
                partitions.push(match found {
                    // Kafka: no tiered offset comes with no leader epoch.
                    Ok((timestamp, -1)) if p.timestamp == LATEST_TIERED => r
                        .with_timestamp(timestamp)
                        .with_offset(-1)
                        .with_leader_epoch(-1),
                    Ok((timestamp, offset)) => r.with_timestamp(timestamp).with_offset(offset),
                    Err(e) => r
                        .with_error_code(e.code())
                        .with_timestamp(-1)
                        .with_offset(-1),
                });
            }
            topics.push(
                ListOffsetsTopicResponse::default()
                    .with_name(t.name)
                    .with_partitions(partitions),
            );
        }
        Some(ResponseKind::ListOffsets(
            ListOffsetsResponse::default().with_topics(topics),
        ))
    }
    .boxed()
}
