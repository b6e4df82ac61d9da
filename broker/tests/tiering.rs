//! Tiering end to end, in process: a topic with tiny segments and `local.retention.bytes=1`
//! is uploaded to the broker's default `file://` store, its local segments are deleted, and
//! fetches, ListOffsets and DeleteRecords still see every record exactly as produced —
//! across a restart, and until the topic is deleted (which empties the store).

mod common;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};

const TOPIC: &str = "tiered";

async fn create_tiered_topic(client: &mut Client) -> uuid::Uuid {
    let config = |k: &str, v: &str| {
        create_topics_request::CreatableTopicConfig::default()
            .with_name(StrBytes::from_string(k.to_string()))
            .with_value(Some(StrBytes::from_string(v.to_string())))
    };
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(name(TOPIC))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                config("segment.bytes", "1024"),
                config("local.retention.bytes", "1"),
                // The records carry 1970 timestamps: keep them.
                config("retention.ms", "-1"),
            ])]);
    let created = client.call(request, 7).await;
    assert_eq!(created.topics[0].error_code, 0);
    created.topics[0].topic_id
}

async fn list_offset(client: &mut Client, ts: i64) -> (i64, i64) {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(name(TOPIC))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(ts),
            ])]);
    let r = client.call(request, 8).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0, "ListOffsets {ts}");
    (p.offset, p.timestamp)
}

/// Every record from `from` to the high watermark as (offset, key, value, timestamp, headers).
async fn read_all(
    client: &mut Client,
    id: uuid::Uuid,
    from: i64,
) -> Vec<(i64, Bytes, Bytes, i64, Vec<(String, Bytes)>)> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let fetched = client.call(fetch_request(TOPIC, id, next, 0), 16).await;
        let part = &fetched.responses[0].partitions[0];
        assert_eq!(part.error_code, 0, "fetch at {next}");
        if next >= part.high_watermark {
            return out;
        }
        let mut records = part.records.clone().unwrap_or_default();
        let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
        assert!(!sets.is_empty(), "no batch at {next}");
        for r in sets.into_iter().flat_map(|s| s.records) {
            if r.offset < next {
                continue;
            }
            let headers = r
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone().unwrap_or_default()))
                .collect();
            out.push((
                r.offset,
                r.key.unwrap(),
                r.value.unwrap(),
                r.timestamp,
                headers,
            ));
            next = r.offset + 1;
        }
    }
}

fn remote_objects(dir: &Path) -> Vec<String> {
    let partition = dir.join("remote").join(TOPIC).join("0");
    let mut names: Vec<String> = std::fs::read_dir(&partition)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn tiered_segments_read_back_exactly_after_local_deletion_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut client = Client::connect(&running).await;
    let id = create_tiered_topic(&mut client).await;

    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut expected = Vec::new();
    for i in 0..40i64 {
        let records: Vec<_> = (0..5)
            .map(|j| {
                let n = i * 5 + j;
                record(
                    j,
                    &format!("k{n}"),
                    &format!("value-{n}-{}", "x".repeat(40)),
                    1_000 + n * 10,
                )
            })
            .collect();
        let produced = client
            .call(
                produce_request(TOPIC, -1, batch(&records, codecs[i as usize % 5])),
                9,
            )
            .await;
        assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
        for (j, r) in records.iter().enumerate() {
            let n = i * 5 + j as i64;
            expected.push((
                n,
                r.key.clone().unwrap(),
                r.value.clone().unwrap(),
                r.timestamp,
                vec![("h".to_string(), Bytes::from("1"))],
            ));
        }
    }

    // Uploaded, then deleted locally: the local log start moves up, the earliest stays 0.
    wait_for("local segments to be tiered and deleted", async || {
        list_offset(&mut client, -4).await.0 > 100
    })
    .await;
    assert_eq!(list_offset(&mut client, -2).await.0, 0);
    assert!(remote_objects(dir.path())
        .iter()
        .any(|n| n.ends_with(".arrow")));
    assert!(remote_objects(dir.path()).contains(&"manifest.json".to_string()));
    assert_eq!(read_all(&mut client, id, 0).await, expected);
    // A fetch from the middle of a tiered batch starts with that batch.
    assert_eq!(read_all(&mut client, id, 7).await, expected[7..].to_vec());
    // Timestamps inside the tiered part; the largest timestamp is the last record.
    assert_eq!(list_offset(&mut client, 1_000 + 42 * 10).await, (42, 1_420));
    assert_eq!(
        list_offset(&mut client, 1_000 + 42 * 10 - 5).await,
        (42, 1_420)
    );
    assert_eq!(list_offset(&mut client, -3).await, (199, 2_990));

    // DeleteRecords below the local log start reaches the store.
    let delete = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
            .with_name(name(TOPIC))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(60),
            ])]);
    let deleted = client.call(delete, 2).await;
    let p = &deleted.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (0, 60));
    assert_eq!(list_offset(&mut client, -2).await.0, 60);
    let below = client.call(fetch_request(TOPIC, id, 10, 0), 16).await;
    assert_eq!(
        below.responses[0].partitions[0].error_code, 1,
        "OFFSET_OUT_OF_RANGE"
    );
    assert_eq!(read_all(&mut client, id, 60).await, expected[60..].to_vec());

    // After a restart the manifest comes back from the store.
    running.shutdown().await.unwrap();
    let running = start(dir.path()).await;
    let mut client = Client::connect(&running).await;
    assert_eq!(list_offset(&mut client, -2).await.0, 60);
    assert_eq!(read_all(&mut client, id, 60).await, expected[60..].to_vec());

    // Deleting the topic empties its prefix in the store.
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topic_names(vec![name(TOPIC)]);
    let response = client.call(request, 4).await;
    assert_eq!(response.responses[0].error_code, 0);
    wait_for("the topic's objects to be deleted", async || {
        remote_objects(dir.path()).is_empty()
    })
    .await;
    running.shutdown().await.unwrap();
}
