//! Fetch: whole record batches straight from the partition logs, with Kafka's long poll
//! (`max_wait_ms` / `min_bytes`), the overall `max_bytes` and per-partition limits, topic ids
//! from v13, and `OFFSET_OUT_OF_RANGE`. Offsets below the local log start of a tiered
//! partition are read from the object store. Fetch sessions are declined (session id 0),
//! which the protocol allows: clients then send full fetch requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::{select_all, FutureExt};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ResponseKind, TopicName};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Reply;
use crate::broker::Broker;
use crate::topics::{Partition, Topic};

/// One requested partition, resolved once per request.
struct Target {
    index: i32,
    fetch_offset: i64,
    max_bytes: i32,
    partition: Result<Arc<Partition>, ResponseError>,
}

struct TopicTarget {
    name: TopicName,
    id: uuid::Uuid,
    topic: Option<Arc<Topic>>,
    partitions: Vec<Target>,
}

fn resolve(broker: &Broker, request: &FetchRequest, version: i16) -> Vec<TopicTarget> {
    request
        .topics
        .iter()
        .map(|t| {
            let (topic, missing) = if version >= 13 {
                (
                    broker.topics.get_by_id(t.topic_id),
                    ResponseError::UnknownTopicId,
                )
            } else {
                (
                    broker.topics.get(t.topic.0.as_str()),
                    ResponseError::UnknownTopicOrPartition,
                )
            };
            let partitions = t
                .partitions
                .iter()
                .map(|p| Target {
                    index: p.partition,
                    fetch_offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes,
                    partition: match &topic {
                        None => Err(missing),
                        Some(topic) => topic
                            .partition(p.partition)
                            .ok_or(ResponseError::UnknownTopicOrPartition),
                    },
                })
                .collect();
            TopicTarget {
                name: t.topic.clone(),
                id: t.topic_id,
                topic,
                partitions,
            }
        })
        .collect()
}

/// Reads every target once. Returns the response, the bytes of records in it, and whether any
/// partition reported an error (which ends a long poll, as in Kafka).
async fn read_all(
    targets: &[TopicTarget],
    max_bytes: i32,
    version: i16,
) -> (FetchResponse, usize, bool) {
    let mut remaining = max_bytes.max(0) as usize;
    let mut total = 0usize;
    let mut any_error = false;
    let mut responses = Vec::with_capacity(targets.len());
    for t in targets {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        let mut topic_bytes = 0usize;
        for target in &t.partitions {
            let mut data = PartitionData::default()
                .with_partition_index(target.index)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_records(Some(Bytes::new()));
            match &target.partition {
                Err(code) => {
                    any_error = true;
                    data.error_code = code.code();
                }
                Ok(p) => {
                    let log = &p.log;
                    let start = p.log_start_offset();
                    let hw = log.log_end_offset();
                    data = data
                        .with_high_watermark(hw)
                        .with_last_stable_offset(hw)
                        .with_log_start_offset(start);
                    // Once the response is full, later partitions only report their offsets.
                    let budget = (target.max_bytes.max(0) as usize).min(remaining);
                    if budget > 0 || total == 0 {
                        let read = p.read(target.fetch_offset, budget.max(1)).await;
                        match read {
                            Ok(read) => {
                                let n = read.records.len();
                                total += n;
                                topic_bytes += n;
                                remaining = remaining.saturating_sub(n);
                                data = data
                                    .with_high_watermark(read.high_watermark)
                                    .with_last_stable_offset(read.high_watermark)
                                    .with_log_start_offset(read.log_start_offset)
                                    .with_records(Some(read.records));
                            }
                            Err(e) => {
                                any_error = true;
                                data.error_code = e.code();
                            }
                        }
                    }
                }
            }
            partitions.push(data);
        }
        if let Some(topic) = &t.topic {
            topic.metrics.bytes_out.increment(topic_bytes as u64);
        }
        let mut topic_response = FetchableTopicResponse::default().with_partitions(partitions);
        if version >= 13 {
            topic_response.topic_id = t.id;
        } else {
            topic_response.topic = t.name.clone();
        }
        responses.push(topic_response);
    }
    let response = FetchResponse::default()
        .with_session_id(0)
        .with_responses(responses);
    (response, total, any_error)
}

/// Handles a Fetch request (asynchronously: it may wait for data).
pub fn handle(broker: Arc<Broker>, request: FetchRequest, version: i16) -> Reply {
    async move {
        if request.replica_id.0 >= 0 {
            let response =
                FetchResponse::default().with_error_code(ResponseError::NotLeaderOrFollower.code());
            tracing::warn!(
                replica = request.replica_id.0,
                "replica fetch refused: single-node broker"
            );
            return Some(ResponseKind::Fetch(response));
        }
        let targets = resolve(&broker, &request, version);
        let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
        let min_bytes = request.min_bytes.max(0) as usize;
        loop {
            // Subscribe before reading so an append between the read and the wait wakes us.
            let mut watches: Vec<watch::Receiver<i64>> = targets
                .iter()
                .flat_map(|t| t.partitions.iter())
                .filter_map(|p| p.partition.as_ref().ok())
                .map(|p| p.log.end_offset_watch())
                .collect();
            for w in &mut watches {
                w.mark_unchanged();
            }
            let (response, bytes, any_error) = read_all(&targets, request.max_bytes, version).await;
            if bytes >= min_bytes || any_error || Instant::now() >= deadline || watches.is_empty() {
                return Some(ResponseKind::Fetch(response));
            }
            let changed = select_all(watches.iter_mut().map(|w| w.changed().boxed()));
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let (response, _, _) = read_all(&targets, request.max_bytes, version).await;
                return Some(ResponseKind::Fetch(response));
            }
        }
    }
    .boxed()
}
