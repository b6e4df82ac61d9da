//! The harness of the in-process integration tests: a real broker on ephemeral ports and a
//! minimal Kafka client over TCP using the `kafka-protocol` crate's encoders.
#![allow(dead_code)]

use std::path::Path;

use bytes::{BufMut, Bytes, BytesMut};
pub use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_broker::config::{BrokerConfig, ServeArgs};
use weir_broker::server::{self, Running};

pub async fn start(dir: &Path) -> Running {
    let args = ServeArgs {
        data_dir: Some(dir.to_path_buf()),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        http: Some("127.0.0.1:0".parse().unwrap()),
        // Frequent housekeeping, so rolling and retention act while the tests run.
        maintenance_interval_ms: Some(10),
        ..Default::default()
    };
    server::start(BrokerConfig::resolve(args).unwrap())
        .await
        .unwrap()
}

pub struct Client {
    stream: TcpStream,
    correlation: i32,
}

impl Client {
    pub async fn connect(running: &Running) -> Client {
        Client {
            stream: TcpStream::connect(running.kafka_addr).await.unwrap(),
            correlation: 0,
        }
    }

    pub async fn send<R: Request>(&mut self, request: &R, version: i16) -> i32 {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("api-test")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, R::header_version(version)).unwrap();
        request.encode(&mut buf, version).unwrap();
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        self.stream.write_all(&buf).await.unwrap();
        self.correlation
    }

    pub async fn receive<R: Request>(&mut self, version: i16, correlation: i32) -> R::Response {
        let len = self.stream.read_i32().await.unwrap();
        let mut buf = vec![0u8; len as usize];
        self.stream.read_exact(&mut buf).await.unwrap();
        let mut buf = Bytes::from(buf);
        let header =
            ResponseHeader::decode(&mut buf, R::Response::header_version(version)).unwrap();
        assert_eq!(header.correlation_id, correlation);
        R::Response::decode(&mut buf, version).unwrap()
    }

    pub async fn call<R: Request>(&mut self, request: R, version: i16) -> R::Response {
        let c = self.send(&request, version).await;
        self.receive::<R>(version, c).await
    }
}

pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

pub fn record(offset: i64, key: &str, value: &str, ts: i64) -> Record {
    let mut headers = indexmap::IndexMap::new();
    headers.insert(
        StrBytes::from_static_str("h"),
        Some(Bytes::from_static(b"1")),
    );
    Record {
        transactional: false,
        control: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        // kafka-protocol's encoder starts a new batch where `offset - sequence` changes; a
        // constant difference keeps a request's records in one batch (base sequence -1), as
        // every real client sends them (Weir, like Kafka, takes one batch per partition).
        sequence: (offset as i32).wrapping_sub(1),
        timestamp: ts,
        key: Some(Bytes::from(key.to_string())),
        value: Some(Bytes::from(value.to_string())),
        headers,
        delete_horizon: false,
    }
}

pub fn batch(records: &[Record], compression: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

pub fn produce_request(topic: &str, acks: i16, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records)),
            ])])
}

pub fn fetch_request(topic: &str, id: uuid::Uuid, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(name(topic))
            .with_topic_id(id)
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

pub async fn create_topic(
    client: &mut Client,
    topic: &str,
    partitions: i32,
) -> CreateTopicsResponse {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    client.call(request, 7).await
}
