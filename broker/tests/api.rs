//! In-process integration tests: a real broker on ephemeral ports, driven over TCP with
//! requests encoded by the `kafka-protocol` crate, asserting exact responses.

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};

#[tokio::test]
async fn api_versions_advertises_produce_from_v0() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut client = Client::connect(&running).await;
    let response = client.call(ApiVersionsRequest::default(), 3).await;
    assert_eq!(response.error_code, 0);
    let produce = response.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 11));
    let fetch = response.api_keys.iter().find(|k| k.api_key == 1).unwrap();
    assert_eq!((fetch.min_version, fetch.max_version), (4, 16));
    let join = response.api_keys.iter().find(|k| k.api_key == 11).unwrap();
    assert_eq!(
        (join.min_version, join.max_version),
        (0, 9),
        "librdkafka needs JoinGroup v0"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn produce_fetch_list_offsets_round_trip_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut client = Client::connect(&running).await;
    let created = create_topic(&mut client, "events", 1).await;
    assert_eq!(created.topics[0].error_code, 0);
    let id = created.topics[0].topic_id;
    let duplicate = create_topic(&mut client, "events", 1).await;
    assert_eq!(duplicate.topics[0].error_code, 36, "TOPIC_ALREADY_EXISTS");

    let first = [
        record(0, "a", "1", 1000),
        record(1, "b", "2", 3000),
        record(2, "c", "3", 2000),
    ];
    let produced = client
        .call(
            produce_request("events", -1, batch(&first, Compression::Zstd)),
            9,
        )
        .await;
    let p = &produced.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let second = [record(0, "d", "4", 4000)];
    let produced = client
        .call(
            produce_request("events", 1, batch(&second, Compression::None)),
            9,
        )
        .await;
    assert_eq!(produced.responses[0].partition_responses[0].base_offset, 3);

    // Fetch by name (v12) and by topic id (v13+).
    for version in [12, 16] {
        let fetched = client
            .call(fetch_request("events", id, 0, 0), version)
            .await;
        let part = &fetched.responses[0].partitions[0];
        assert_eq!((part.error_code, part.high_watermark), (0, 4));
        let mut records = part.records.clone().unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
        let all: Vec<_> = sets.into_iter().flat_map(|s| s.records).collect();
        let got: Vec<_> = all
            .iter()
            .map(|r| (r.offset, r.key.clone().unwrap(), r.timestamp))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, Bytes::from("a"), 1000),
                (1, Bytes::from("b"), 3000),
                (2, Bytes::from("c"), 2000),
                (3, Bytes::from("d"), 4000),
            ]
        );
        assert_eq!(
            all[0]
                .headers
                .get(&StrBytes::from_static_str("h"))
                .cloned()
                .flatten(),
            Some(Bytes::from("1"))
        );
    }
    let out_of_range = client.call(fetch_request("events", id, 99, 0), 12).await;
    assert_eq!(
        out_of_range.responses[0].partitions[0].error_code, 1,
        "OFFSET_OUT_OF_RANGE"
    );

    let list = |ts: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(name("events"))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(ts),
                ])])
    };
    let mut offsets = Vec::new();
    for ts in [-2, -1, -3, 2500, 9999] {
        let r = client.call(list(ts), 8).await;
        let p = &r.topics[0].partitions[0];
        offsets.push((p.offset, p.timestamp));
    }
    assert_eq!(
        offsets,
        vec![(0, -1), (4, -1), (3, 4000), (1, 3000), (-1, -1)]
    );

    running.shutdown().await.unwrap();
    let running = start(dir.path()).await;
    let mut client = Client::connect(&running).await;
    // Let housekeeping run: the 1970 timestamps must not make it roll and expire the log.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let fetched = client.call(fetch_request("events", id, 3, 0), 12).await;
    let mut records = fetched.responses[0].partitions[0].records.clone().unwrap();
    let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
    assert_eq!(sets[0].records[0].value, Some(Bytes::from("4")));
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn acks_zero_gets_no_response_and_long_poll_wakes_on_produce() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut client = Client::connect(&running).await;
    let id = create_topic(&mut client, "quiet", 1).await.topics[0].topic_id;
    client
        .send(
            &produce_request(
                "quiet",
                0,
                batch(&[record(0, "k", "v", 1)], Compression::None),
            ),
            9,
        )
        .await;
    // The next response on the connection answers the next request: acks=0 had none.
    let versions = client.call(ApiVersionsRequest::default(), 3).await;
    assert_eq!(versions.error_code, 0);

    let mut poller = Client::connect(&running).await;
    let c = poller
        .send(&fetch_request("quiet", id, 1, 10_000), 12)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    client
        .call(
            produce_request(
                "quiet",
                -1,
                batch(&[record(0, "k2", "v2", 2)], Compression::Lz4),
            ),
            9,
        )
        .await;
    let fetched = tokio::time::timeout(
        Duration::from_secs(5),
        poller.receive::<FetchRequest>(12, c),
    )
    .await
    .expect("long poll must wake on produce");
    let mut records = fetched.responses[0].partitions[0].records.clone().unwrap();
    let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
    assert_eq!(sets[0].records[0].offset, 1);
    assert_eq!(sets[0].records[0].key, Some(Bytes::from("k2")));
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_topics_and_bad_acks_get_kafka_errors() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut client = Client::connect(&running).await;
    let r = client
        .call(
            produce_request(
                "missing",
                -1,
                batch(&[record(0, "k", "v", 1)], Compression::None),
            ),
            9,
        )
        .await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    create_topic(&mut client, "t", 1).await;
    let r = client
        .call(
            produce_request("t", 2, batch(&[record(0, "k", "v", 1)], Compression::None)),
            9,
        )
        .await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 21,
        "INVALID_REQUIRED_ACKS"
    );
    let bad = create_topic(&mut client, "bad/name", 1).await;
    assert_eq!(bad.topics[0].error_code, 17, "INVALID_TOPIC_EXCEPTION");
    let r = client
        .call(fetch_request("gone", uuid::Uuid::new_v4(), 0, 0), 13)
        .await;
    assert_eq!(
        r.responses[0].partitions[0].error_code, 100,
        "UNKNOWN_TOPIC_ID"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn table_topics_refuse_keyless_records_and_writes_to_their_changelog() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut client = Client::connect(&running).await;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(name("users"))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("cleanup.policy"))
                    .with_value(Some(StrBytes::from_static_str("compact"))),
            ])]);
    assert_eq!(client.call(request, 7).await.topics[0].error_code, 0);

    // One batch: a keyed record, then a keyless one.
    let log_record = |offset: i64, key: Option<&'static str>| weir_protocol::records::LogRecord {
        offset,
        timestamp: 10,
        key: key.map(|k| Bytes::from_static(k.as_bytes())),
        value: Some(Bytes::from_static(b"v")),
        headers: Vec::new(),
    };
    let mut one_batch = BytesMut::new();
    weir_protocol::records::encode_batch(
        &mut one_batch,
        &[log_record(0, Some("a")), log_record(1, None)],
    );
    let r = client
        .call(produce_request("users", -1, one_batch.freeze()), 9)
        .await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 87, "INVALID_RECORD");
    assert_eq!(
        p.error_message.as_deref(),
        Some("One or more records have been rejected due to 1 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=1, message='table topics (cleanup.policy=compact) require a key on every record; this record has none')]")
    );
    let record_errors: Vec<_> = p
        .record_errors
        .iter()
        .map(|e| {
            (
                e.batch_index,
                e.batch_index_error_message.as_deref().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        record_errors,
        vec![(
            1,
            Some("table topics (cleanup.policy=compact) require a key on every record; this record has none".to_string())
        )]
    );

    let r = client
        .call(
            produce_request(
                "users.changelog",
                -1,
                batch(&[record(0, "a", "1", 10)], Compression::None),
            ),
            9,
        )
        .await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 17, "INVALID_TOPIC_EXCEPTION");
    assert_eq!(
        p.error_message.as_deref(),
        Some("users.changelog is the read-only changelog of table topic users")
    );
    let reserved = create_topic(&mut client, "orders.changelog", 1).await;
    assert_eq!(reserved.topics[0].error_code, 17, "INVALID_TOPIC_EXCEPTION");

    // Nothing of the refused request was stored: the next write gets offset 0.
    let upserts = [
        record(0, "a", "1", 10),
        record(1, "a", "2", 20),
        record(2, "a", "2", 30),
    ];
    let r = client
        .call(
            produce_request("users", -1, batch(&upserts, Compression::None)),
            9,
        )
        .await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));

    let fetched = client
        .call(
            fetch_request("users.changelog", uuid::Uuid::nil(), 0, 0),
            12,
        )
        .await;
    let part = &fetched.responses[0].partitions[0];
    assert_eq!((part.error_code, part.high_watermark), (0, 3));
    let mut records = part.records.clone().unwrap();
    let changes: Vec<_> = RecordBatchDecoder::decode_all(&mut records)
        .unwrap()
        .into_iter()
        .flat_map(|s| s.records)
        .map(|r| {
            let header = |k: &'static str| {
                r.headers
                    .get(&StrBytes::from_static_str(k))
                    .cloned()
                    .flatten()
                    .unwrap()
            };
            (
                r.offset,
                header("weir.op"),
                header("weir.source.offset"),
                r.key.unwrap(),
                r.value.unwrap(),
                r.timestamp,
            )
        })
        .collect();
    let b = |s: &'static str| Bytes::from_static(s.as_bytes());
    assert_eq!(
        changes,
        vec![
            (0, b("+I"), b("0"), b("a"), b("1"), 10),
            (1, b("-U"), b("1"), b("a"), b("1"), 20),
            (2, b("+U"), b("1"), b("a"), b("2"), 20),
        ]
    );
    running.shutdown().await.unwrap();
}
