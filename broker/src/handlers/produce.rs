//! Produce: validate, append to each partition's log (in arrival order, right away, on the
//! blocking pool so a slow disk or a large batch never stalls the async workers), then — for
//! `acks=all` on topics without `write.caching` — wait for the group-committed fsync before
//! answering. `acks=0` gets no response at all, as in Kafka.
//!
//! A refused partition answers with the Kafka error, its message and, for records refused one
//! by one (a keyless record in a table topic), KIP-467's `record_errors`, so clients can tell
//! the bad records from the rest of the batch.

use std::sync::Arc;

use futures::future::{join_all, FutureExt};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use weir_auth::{Operation, Resource};
use weir_storage::AppendLimits;

use super::{now_ms, ready, str_bytes, Reply};
use crate::access::Access;
use crate::broker::Broker;
use crate::errors::ApiError;
use crate::topics::{unknown_topic, Partition};

fn failed(index: i32, e: &ApiError, version: i16) -> PartitionProduceResponse {
    let mut r = PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(e.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1);
    if version >= 8 {
        r.error_message = Some(str_bytes(&e.message));
        r.record_errors = e
            .record_errors
            .iter()
            .map(|x| {
                BatchIndexAndErrorMessage::default()
                    .with_batch_index(x.batch_index)
                    .with_batch_index_error_message(Some(str_bytes(&x.message)))
            })
            .collect();
    }
    r
}

/// A partition whose response waits for durability up to `offset`.
struct DurabilityWait {
    topic: usize,
    partition: usize,
    log: Arc<Partition>,
    offset: i64,
}

/// Handles a Produce request: the appends run now (off the async workers, in arrival order);
/// the returned reply waits for durability.
pub async fn handle(
    broker: &Arc<Broker>,
    access: Access,
    request: ProduceRequest,
    version: i16,
) -> Reply {
    let acks = request.acks;
    let limits = AppendLimits {
        max_decompressed_bytes: broker.config.batch_max_decompressed_bytes,
        producer_id_limit: None,
        producer_id_expiration_ms: broker.config.producer_id_expiration_ms,
    };
    // What to answer if the blocking task itself fails: every partition, in request order.
    let shape: Vec<_> = request
        .topic_data
        .iter()
        .map(|t| {
            let indexes: Vec<i32> = t.partition_data.iter().map(|p| p.index).collect();
            (t.name.clone(), indexes)
        })
        .collect();
    let task = {
        let broker = broker.clone();
        tokio::task::spawn_blocking(move || append_all(&broker, &access, request, version, limits))
    };
    let (responses, waits) = match task.await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "produce task failed");
            let e = ApiError::new(ResponseError::UnknownServerError, "produce task failed");
            let responses = shape
                .into_iter()
                .map(|(name, indexes)| {
                    TopicProduceResponse::default()
                        .with_name(name)
                        .with_partition_responses(
                            indexes
                                .into_iter()
                                .map(|i| failed(i, &e, version))
                                .collect(),
                        )
                })
                .collect();
            (responses, Vec::new())
        }
    };
    if acks == 0 {
        return futures::future::ready(None).boxed();
    }
    let response = ProduceResponse::default().with_responses(responses);
    if waits.is_empty() {
        return ready(ResponseKind::Produce(response));
    }
    async move {
        let mut response = response;
        let results = join_all(waits.iter().map(|w| async {
            w.log.log.flush_to(w.offset).await?;
            // A table's derived changes are as durable as the write they come from.
            match &w.log.table {
                Some(t) => t.changelog.flush_to(t.changelog.log_end_offset() - 1).await,
                None => Ok(()),
            }
        }))
        .await;
        for (wait, result) in waits.iter().zip(results) {
            if let Err(e) = result {
                let e = ApiError::from(e);
                tracing::error!(error = %e, "fsync failed; produce not acknowledged");
                let slot = &mut response.responses[wait.topic].partition_responses[wait.partition];
                *slot = failed(slot.index, &e, version);
            }
        }
        Some(ResponseKind::Produce(response))
    }
    .boxed()
}

/// Validates and appends every partition of the request, in request order (blocking: runs on
/// the blocking pool). Returns the responses and the partitions that must wait for an fsync.
fn append_all(
    broker: &Arc<Broker>,
    access: &Access,
    request: ProduceRequest,
    version: i16,
    mut limits: AppendLimits,
) -> (Vec<TopicProduceResponse>, Vec<DurabilityWait>) {
    let acks = request.acks;
    let now = now_ms();
    // Ids at or above the allocator's next one were never handed out by InitProducerId.
    limits.producer_id_limit = Some(broker.producer_ids.next_id());
    let mut waits = Vec::new();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // A transactional produce needs Write on its transactional id, or nothing is written.
    let transaction_denied = request.transactional_id.as_ref().is_some_and(|id| {
        !access.allows(Operation::Write, Resource::transactional_id(id.as_str()))
    });
    for (ti, topic_data) in request.topic_data.into_iter().enumerate() {
        let name = topic_data.name.0.as_str();
        let topic = broker.topics.get(name);
        let writable =
            !transaction_denied && access.allows_topic(&broker.topics, Operation::Write, name);
        let mut partition_responses = Vec::with_capacity(topic_data.partition_data.len());
        for (pi, data) in topic_data.partition_data.into_iter().enumerate() {
            let index = data.index;
            let outcome = (|| {
                if transaction_denied {
                    return Err(ApiError::new(
                        ResponseError::TransactionalIdAuthorizationFailed,
                        "not authorized to Write to this transactional id",
                    ));
                }
                if !writable {
                    return Err(ApiError::new(
                        ResponseError::TopicAuthorizationFailed,
                        format!("not authorized to Write to topic {name}"),
                    ));
                }
                if !matches!(acks, -1..=1) {
                    return Err(ApiError::new(
                        ResponseError::InvalidRequiredAcks,
                        format!("acks must be -1, 0 or 1, got {acks}"),
                    ));
                }
                let topic = topic.as_ref().ok_or_else(|| unknown_topic(name))?;
                let partition = topic.partition(index).ok_or_else(|| unknown_topic(name))?;
                let records = data.records.as_deref().unwrap_or_default();
                if records.is_empty() {
                    return Err(ApiError::new(
                        ResponseError::InvalidRecord,
                        "produce request carries no record batch",
                    ));
                }
                if let Some(source) = &topic.changelog_of {
                    return Err(ApiError::new(
                        ResponseError::InvalidTopicException,
                        format!("{name} is the read-only changelog of table topic {source}"),
                    ));
                }
                let result = match &partition.table {
                    Some(table) => table.write(&partition.log, records, now, &limits)?,
                    None => partition.log.append_with(records, now, &limits)?,
                };
                if !result.duplicate {
                    topic.metrics.bytes_in.increment(result.bytes as u64);
                    topic
                        .metrics
                        .records_in
                        .increment(result.record_count as u64);
                    partition
                        .end_offset_gauge
                        .set(partition.log.log_end_offset() as f64);
                }
                Ok((partition, result))
            })();
            let response = match outcome {
                Ok((partition, result)) => {
                    if acks == -1 && !partition.log.config().write_caching {
                        waits.push(DurabilityWait {
                            topic: ti,
                            partition: pi,
                            log: partition,
                            offset: result.last_offset,
                        });
                    }
                    PartitionProduceResponse::default()
                        .with_index(index)
                        .with_base_offset(result.base_offset)
                        .with_log_append_time_ms(result.log_append_time)
                        .with_log_start_offset(result.log_start_offset)
                }
                Err(e) => {
                    tracing::debug!(topic = name, partition = index, error = %e, "produce rejected");
                    failed(index, &e, version)
                }
            };
            partition_responses.push(response);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_partition_responses(partition_responses),
        );
    }
    (responses, waits)
}
