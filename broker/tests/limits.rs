//! In-process tests of the fetch size rules (KIP-74 and the broker's `fetch.max.bytes`) and of
//! the partition limits (`max.partitions`, `max.partitions.per.request`), asserting exact
//! responses of a real broker driven over TCP.

mod common;

use std::path::Path;

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::protocol::StrBytes;
use weir_broker::config::{BrokerConfig, ServeArgs};
use weir_broker::server::{self, Running};
use weir_protocol::records::{encode_batch, LogRecord};

const INVALID_PARTITIONS: i16 = 37;
const POLICY_VIOLATION: i16 = 44;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

async fn start_with(dir: &Path, args: ServeArgs) -> Running {
    let args = ServeArgs {
        data_dir: Some(dir.to_path_buf()),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        http: Some("127.0.0.1:0".parse().unwrap()),
        ..args
    };
    server::start(BrokerConfig::resolve(args).unwrap())
        .await
        .unwrap()
}

/// One uncompressed batch holding one record at `offset` with a value of `size` bytes.
fn one_record_batch(offset: i64, size: usize) -> Bytes {
    let mut out = BytesMut::new();
    let record = LogRecord {
        offset,
        timestamp: 1_000 + offset,
        key: Some(Bytes::from(format!("k{offset}"))),
        value: Some(Bytes::from(vec![b'a' + (offset % 26) as u8; size])),
        headers: Vec::new(),
    };
    encode_batch(&mut out, &[record]);
    out.freeze()
}

async fn produce_to(client: &mut Client, topic: &str, partition: i32, records: Bytes) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records)),
            ])]);
    let response = client.call(request, 9).await;
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
}

/// A fetch of `topic` (by name, v12) at the given (partition, offset)s with the given limits.
fn fetch(topic: &str, at: &[(i32, i64)], max_bytes: i32, partition_max_bytes: i32) -> FetchRequest {
    let partitions = at
        .iter()
        .map(|(p, offset)| {
            fetch_request::FetchPartition::default()
                .with_partition(*p)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(partition_max_bytes)
        })
        .collect();
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(partitions)])
}

/// (error code, high watermark, record bytes) of each partition in the response, in order.
fn sizes(response: &FetchResponse) -> Vec<(i16, i64, usize)> {
    assert_eq!(response.error_code, 0);
    response.responses[0]
        .partitions
        .iter()
        .map(|p| {
            let records = p.records.as_ref().map_or(0, |r| r.len());
            (p.error_code, p.high_watermark, records)
        })
        .collect()
}

#[tokio::test]
async fn fetch_sizes_follow_kip_74_and_the_broker_cap() {
    // Every batch of the test has the same size `b` (one record, same-length key and value).
    let b = one_record_batch(0, 1000).len();
    let dir = tempfile::tempdir().unwrap();
    // fetch.max.bytes: two batches and a half.
    let cap = (2 * b + b / 2) as i32;
    let running = start_with(
        dir.path(),
        ServeArgs {
            fetch_max_bytes: Some(cap),
            ..Default::default()
        },
    )
    .await;
    let mut client = Client::connect(&running).await;
    assert_eq!(
        create_topic(&mut client, "sizes", 3).await.topics[0].error_code,
        0
    );
    for p in 0..3 {
        for offset in 0..3 {
            produce_to(&mut client, "sizes", p, one_record_batch(offset, 1000)).await;
        }
    }
    let all = [(0, 0), (1, 0), (2, 0)];
    let big = i32::MAX;

    // The broker's fetch.max.bytes caps a client asking for everything: two whole batches.
    let r = client.call(fetch("sizes", &all, big, big), 12).await;
    assert_eq!(sizes(&r), vec![(0, 3, 2 * b), (0, 3, 0), (0, 3, 0)]);
    // The records are the produced batches, whole (the broker sets the leader epoch field).
    let records = r.responses[0].partitions[0].records.clone().unwrap();
    for (i, stored) in records.chunks(b).enumerate() {
        let produced = one_record_batch(i as i64, 1000);
        assert_eq!(
            (&stored[..12], &stored[16..]),
            (&produced[..12], &produced[16..])
        );
    }

    // The request's own max_bytes: what is left after a partition is what the next may take;
    // a batch that does not fit is not sent.
    let r = client
        .call(fetch("sizes", &all, (b + b / 2) as i32, big), 12)
        .await;
    assert_eq!(sizes(&r), vec![(0, 3, b), (0, 3, 0), (0, 3, 0)]);
    let r = client
        .call(fetch("sizes", &all, (2 * b) as i32, big), 12)
        .await;
    assert_eq!(sizes(&r), vec![(0, 3, 2 * b), (0, 3, 0), (0, 3, 0)]);

    // partition_max_bytes: one batch from each partition while the total allows.
    let r = client
        .call(fetch("sizes", &all, big, (b + 1) as i32), 12)
        .await;
    assert_eq!(sizes(&r), vec![(0, 3, b), (0, 3, b), (0, 3, 0)]);

    // The first batch of the first partition with data may exceed both limits, alone.
    let r = client.call(fetch("sizes", &all, 10, 10), 12).await;
    assert_eq!(sizes(&r), vec![(0, 3, b), (0, 3, 0), (0, 3, 0)]);
    let r = client.call(fetch("sizes", &all, big, 0), 12).await;
    assert_eq!(sizes(&r), vec![(0, 3, b), (0, 3, 0), (0, 3, 0)]);
    // ... and "first" means the first that has data: partition 0 is caught up.
    let r = client
        .call(fetch("sizes", &[(0, 3), (1, 0), (2, 0)], 10, 10), 12)
        .await;
    assert_eq!(sizes(&r), vec![(0, 3, 0), (0, 3, b), (0, 3, 0)]);

    // A partition after the budget is spent still reports its offsets and range errors.
    let r = client
        .call(fetch("sizes", &[(0, 0), (1, 2), (2, 7)], 10, 10), 12)
        .await;
    assert_eq!(
        sizes(&r),
        vec![(0, 3, b), (0, 3, 0), (OFFSET_OUT_OF_RANGE, -1, 0)]
    );
    running.shutdown().await.unwrap();
}

/// CreateTopics with one (name, partitions, is table) entry per topic; `validate_only` as given.
fn create(topics: &[(&str, i32, bool)], validate_only: bool) -> CreateTopicsRequest {
    let topics = topics
        .iter()
        .map(|(topic, partitions, table)| {
            let configs = if *table {
                vec![create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("cleanup.policy"))
                    .with_value(Some(StrBytes::from_static_str("compact")))]
            } else {
                Vec::new()
            };
            create_topics_request::CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(*partitions)
                .with_replication_factor(1)
                .with_configs(configs)
        })
        .collect();
    CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(topics)
        .with_validate_only(validate_only)
}

/// (error code, message) of each topic of a CreateTopics response.
fn outcomes(response: &CreateTopicsResponse) -> Vec<(i16, Option<String>)> {
    response
        .topics
        .iter()
        .map(|t| {
            (
                t.error_code,
                t.error_message.as_ref().map(|m| m.to_string()),
            )
        })
        .collect()
}

/// The partition count of each topic in the broker, by name (None: unknown).
async fn partition_counts(client: &mut Client, topics: &[&str]) -> Vec<Option<usize>> {
    let request = MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| metadata_request::MetadataRequestTopic::default().with_name(Some(name(t))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(false);
    let response = client.call(request, 12).await;
    response
        .topics
        .iter()
        .map(|t| match t.error_code {
            0 => Some(t.partitions.len()),
            UNKNOWN_TOPIC_OR_PARTITION => None,
            other => panic!("metadata error {other}"),
        })
        .collect()
}

fn create_partitions(topic: &str, count: i32) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(name(topic))
                .with_count(count),
        ])
}

#[tokio::test]
async fn partition_limits_refuse_what_would_exceed_them_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_with(
        dir.path(),
        ServeArgs {
            max_partitions: Some(10),
            max_partitions_per_request: Some(6),
            auto_create_topics_enable: Some(true),
            num_partitions: Some(2),
            ..Default::default()
        },
    )
    .await;
    let mut client = Client::connect(&running).await;
    let per_request = |n: usize| {
        (
            INVALID_PARTITIONS,
            Some(format!(
                "The request would create {n} partitions (changelog partitions of table topics \
                 included), more than the 6 one request may create (max.partitions.per.request)"
            )),
        )
    };
    let total = |adding: usize, held: usize| {
        (
            POLICY_VIOLATION,
            Some(format!(
                "Creating {adding} partitions would take the broker to {} partitions, more than \
                 max.partitions=10 ({held} held, changelog partitions of table topics included)",
                held + adding
            )),
        )
    };

    // Over the per-request cap: alone, or summed over the topics of one request, or through
    // a table topic's changelog partitions (4 + 4); validate_only answers the same.
    let r = client.call(create(&[("a", 7, false)], false), 7).await;
    assert_eq!(outcomes(&r), vec![per_request(7)]);
    let r = client
        .call(create(&[("a", 4, false), ("b", 3, false)], false), 7)
        .await;
    assert_eq!(outcomes(&r), vec![per_request(7), per_request(7)]);
    let r = client.call(create(&[("t", 4, true)], false), 7).await;
    assert_eq!(outcomes(&r), vec![per_request(8)]);
    let r = client.call(create(&[("a", 7, false)], true), 7).await;
    assert_eq!(outcomes(&r), vec![per_request(7)]);
    assert_eq!(
        partition_counts(&mut client, &["a", "b", "t"]).await,
        vec![None, None, None]
    );

    // A table topic of 3 holds 6 (3 + 3 changelog); then the total cap bites.
    let r = client.call(create(&[("t", 3, true)], false), 7).await;
    assert_eq!(outcomes(&r), vec![(0, Some(String::new()))]);
    let r = client.call(create(&[("a", 5, false)], false), 7).await;
    assert_eq!(outcomes(&r), vec![total(5, 6)]);
    let r = client.call(create(&[("a", 5, false)], true), 7).await;
    assert_eq!(outcomes(&r), vec![total(5, 6)]);
    // In one request, each topic counts against what the earlier ones created.
    let r = client
        .call(create(&[("a", 3, false), ("b", 2, false)], false), 7)
        .await;
    assert_eq!(outcomes(&r), vec![(0, Some(String::new())), total(2, 9)]);
    assert_eq!(
        partition_counts(&mut client, &["a", "b", "t", "t.changelog"]).await,
        vec![Some(3), None, Some(3), Some(3)]
    );

    // CreatePartitions: over the total, and over the per-request cap (a table topic adds two
    // per partition).
    let r = client.call(create_partitions("a", 5), 3).await;
    let result = &r.results[0];
    assert_eq!(
        (
            result.error_code,
            result.error_message.as_ref().map(|m| m.to_string())
        ),
        total(2, 9)
    );
    let r = client.call(create_partitions("t", 7), 3).await;
    let result = &r.results[0];
    assert_eq!(
        (
            result.error_code,
            result.error_message.as_ref().map(|m| m.to_string())
        ),
        per_request(8)
    );
    let r = client.call(create_partitions("a", 4), 3).await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(
        partition_counts(&mut client, &["a", "t"]).await,
        vec![Some(4), Some(3)]
    );

    // Auto-creation (2 partitions) at the cap is refused, and creates nothing.
    let request = MetadataRequest::default()
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
        )
        .with_name(Some(name("auto")))]))
        .with_allow_auto_topic_creation(true);
    let response = client.call(request, 12).await;
    assert_eq!(response.topics[0].error_code, POLICY_VIOLATION);
    assert_eq!(partition_counts(&mut client, &["auto"]).await, vec![None]);

    // The count survives a restart: still full.
    running.shutdown().await.unwrap();
    let running = start_with(
        dir.path(),
        ServeArgs {
            max_partitions: Some(10),
            max_partitions_per_request: Some(6),
            ..Default::default()
        },
    )
    .await;
    let mut client = Client::connect(&running).await;
    let r = client.call(create(&[("c", 1, false)], false), 7).await;
    assert_eq!(outcomes(&r), vec![total(1, 10)]);
    // Deleting frees the partitions.
    let delete = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topic_names(vec![name("t")]);
    assert_eq!(client.call(delete, 4).await.responses[0].error_code, 0);
    let r = client.call(create(&[("c", 6, false)], false), 7).await;
    assert_eq!(outcomes(&r), vec![(0, Some(String::new()))]);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn auto_creation_counts_against_the_per_request_cap() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_with(
        dir.path(),
        ServeArgs {
            max_partitions_per_request: Some(5),
            auto_create_topics_enable: Some(true),
            num_partitions: Some(2),
            ..Default::default()
        },
    )
    .await;
    let mut client = Client::connect(&running).await;
    // Three topics of 2 in one Metadata request: the third would make 6.
    let topics = ["x", "y", "z"];
    let request = MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| metadata_request::MetadataRequestTopic::default().with_name(Some(name(t))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(true);
    let response = client.call(request, 12).await;
    let codes: Vec<_> = response.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![0, 0, INVALID_PARTITIONS]);
    assert_eq!(
        partition_counts(&mut client, &topics).await,
        vec![Some(2), Some(2), None]
    );
    running.shutdown().await.unwrap();
}
