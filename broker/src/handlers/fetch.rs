//! Fetch: whole record batches straight from the partition logs, with Kafka's long poll
//! (`max_wait_ms` / `min_bytes`), topic ids from v13, and `OFFSET_OUT_OF_RANGE`. Offsets
//! below the local log start of a tiered partition are read from the object store. Fetch
//! sessions are declined (session id 0), which the protocol allows: clients then send full
//! fetch requests.
//!
//! Sizes follow KIP-74 as Kafka's `ReplicaManager.readFromLog` applies them: the response's
//! record bytes stay within `max_bytes`, itself capped by the broker's `fetch.max.bytes`
//! whatever the client asks, and each partition's within its `partition_max_bytes` and what
//! the response has left — except that, until some partition has returned data, the first
//! batch of the partition being read is returned even when it alone exceeds both, so a
//! consumer always makes progress. Batches are whole: one that does not fit is left for the
//! next fetch (Kafka may send a truncated tail, which clients discard). A partition reached
//! after the budget is spent reports its offsets (and `OFFSET_OUT_OF_RANGE`) without reading.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::{select_all, FutureExt};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ResponseKind, TopicName};
use tokio::sync::watch;
use tokio::time::Instant;

use weir_auth::Operation;

use super::Reply;
use crate::access::Access;
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

/// Each requested partition, or why it cannot be read: an unknown topic, or no Read right on
/// it (TOPIC_AUTHORIZATION_FAILED; for a topic id, only once the id is known, as in Kafka).
fn resolve(
    broker: &Broker,
    access: &Access,
    request: &FetchRequest,
    version: i16,
) -> Vec<TopicTarget> {
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
            let name = match &topic {
                Some(topic) => topic.name.as_str(),
                None if version < 13 => t.topic.0.as_str(),
                None => "",
            };
            let readable = (version >= 13 && topic.is_none())
                || access.allows_topic(&broker.topics, Operation::Read, name);
            let partitions = t
                .partitions
                .iter()
                .map(|p| Target {
                    index: p.partition,
                    fetch_offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes,
                    partition: match &topic {
                        _ if !readable => Err(ResponseError::TopicAuthorizationFailed),
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

/// The longest prefix of whole batches of `records` within `budget` bytes; with `min_one`, at
/// least the first batch whatever its size. Framing the storage already checked cannot fail
/// here; if it does, the batches before the damage are kept — with `min_one` and damage in the
/// first batch, all of what was read (the read bounded it), so the consumer sees the
/// corruption instead of an endless empty read.
fn fit(records: Bytes, budget: usize, min_one: bool) -> Bytes {
    let mut end = 0usize;
    for batch in weir_protocol::record_batch::split_batches(&records) {
        let Ok((_, range)) = batch else {
            if end == 0 && min_one {
                return records;
            }
            break;
        };
        if range.end > budget && !(min_one && end == 0) {
            break;
        }
        end = range.end;
    }
    records.slice(..end)
}

/// Reads every target once, `max_bytes` of records at most (see the module docs). Returns the
/// response, the bytes of records in it, and whether any partition reported an error (which
/// ends a long poll, as in Kafka).
async fn read_all(
    targets: &[TopicTarget],
    max_bytes: usize,
    version: i16,
) -> (FetchResponse, usize, bool) {
    let mut remaining = max_bytes;
    // KIP-74: until a partition returns data, its first batch may exceed the limits.
    let mut min_one = true;
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
                    let budget = (target.max_bytes.max(0) as usize).min(remaining);
                    let read = if budget == 0 && !min_one {
                        // The response is full: only the offsets, as Kafka reports them.
                        p.check_fetch_offset(target.fetch_offset).map(|_| None)
                    } else {
                        p.read(target.fetch_offset, budget.max(1)).await.map(Some)
                    };
                    match read {
                        Ok(None) => {}
                        Ok(Some(read)) => {
                            let records = fit(read.records, budget, min_one);
                            let n = records.len();
                            if n > 0 {
                                min_one = false;
                            }
                            total += n;
                            topic_bytes += n;
                            remaining = remaining.saturating_sub(n);
                            data = data
                                .with_high_watermark(read.high_watermark)
                                .with_last_stable_offset(read.high_watermark)
                                .with_log_start_offset(read.log_start_offset)
                                .with_records(Some(records));
                        }
                        Err(e) => {
                            // Kafka reports no offsets with an error.
                            any_error = true;
                            data = data
                                .with_error_code(e.code())
                                .with_high_watermark(-1)
                                .with_last_stable_offset(-1)
                                .with_log_start_offset(-1);
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
pub fn handle(broker: Arc<Broker>, access: Access, request: FetchRequest, version: i16) -> Reply {
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
        let targets = resolve(&broker, &access, &request, version);
        let max_bytes = request.max_bytes.clamp(0, broker.config.fetch_max_bytes) as usize;
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
            let (response, bytes, any_error) = read_all(&targets, max_bytes, version).await;
            if bytes >= min_bytes || any_error || Instant::now() >= deadline || watches.is_empty() {
                return Some(ResponseKind::Fetch(response));
            }
            let changed = select_all(watches.iter_mut().map(|w| w.changed().boxed()));
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let (response, _, _) = read_all(&targets, max_bytes, version).await;
                return Some(ResponseKind::Fetch(response));
            }
        }
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use weir_protocol::records::{encode_batch, LogRecord};

    use super::fit;

    /// Batches of one record each with values of the given sizes; returns them and each
    /// batch's end position.
    fn batches(sizes: &[usize]) -> (Bytes, Vec<usize>) {
        let mut out = BytesMut::new();
        let mut ends = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let record = LogRecord {
                offset: i as i64,
                timestamp: 0,
                key: None,
                value: Some(Bytes::from(vec![b'v'; *size])),
                headers: Vec::new(),
            };
            encode_batch(&mut out, &[record]);
            ends.push(out.len());
        }
        (out.freeze(), ends)
    }

    #[test]
    fn keeps_whole_batches_within_the_budget() {
        let (all, ends) = batches(&[100, 100, 100]);
        assert_eq!(fit(all.clone(), ends[1], false), all.slice(..ends[1]));
        assert_eq!(fit(all.clone(), ends[1] + 5, false), all.slice(..ends[1]));
        assert_eq!(fit(all.clone(), ends[1] - 1, true), all.slice(..ends[0]));
        assert_eq!(fit(all.clone(), usize::MAX, false), all);
    }

    #[test]
    fn the_first_batch_may_exceed_the_budget_only_with_min_one() {
        let (all, ends) = batches(&[1000, 10]);
        assert_eq!(fit(all.clone(), 10, true), all.slice(..ends[0]));
        assert_eq!(fit(all.clone(), 0, true), all.slice(..ends[0]));
        assert!(fit(all.clone(), ends[0] - 1, false).is_empty());
    }

    #[test]
    fn damaged_framing_keeps_the_batches_before_it() {
        let (all, ends) = batches(&[10, 10]);
        let mut damaged = BytesMut::from(&all[..]);
        damaged[ends[0] + 16] = 7; // the magic byte of the second batch
        let damaged = damaged.freeze();
        assert_eq!(
            fit(damaged.clone(), usize::MAX, false),
            damaged.slice(..ends[0])
        );
        let mut first = BytesMut::from(&all[..]);
        first[16] = 7;
        let first = first.freeze();
        assert_eq!(fit(first.clone(), 10, true), first);
        assert!(fit(first, usize::MAX, false).is_empty());
    }
}
