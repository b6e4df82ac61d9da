//! Helpers shared by the integration tests: building real batches with kafka-protocol.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use weir_storage::LogConfig;

pub const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// One v2 batch with a record per timestamp. `pid < 0`: no producer.
pub fn batch_full(
    codec: Compression,
    timestamps: &[i64],
    pid: i64,
    epoch: i16,
    base_seq: i32,
) -> Vec<u8> {
    let records: Vec<Record> = timestamps
        .iter()
        .enumerate()
        .map(|(i, &ts)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: base_seq.wrapping_add(i as i32),
            timestamp: ts,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{i}-{ts}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: codec,
        },
    )
    .expect("encode");
    buf.to_vec()
}

/// A plain batch of `n` records with timestamps `ts, ts+1, ...`.
pub fn batch(n: usize, ts: i64) -> Vec<u8> {
    let t: Vec<i64> = (0..n as i64).map(|i| ts + i).collect();
    batch_full(Compression::None, &t, -1, -1, -1)
}

/// An idempotent batch.
pub fn idem(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    let t: Vec<i64> = vec![1000; n];
    batch_full(Compression::None, &t, pid, epoch, seq)
}

/// Decodes all records in `bytes` as `(offset, timestamp, value)`.
pub fn decode(bytes: &[u8]) -> Vec<(i64, i64, Option<Bytes>)> {
    let mut b = Bytes::copy_from_slice(bytes);
    RecordBatchDecoder::decode_all(&mut b)
        .expect("decode")
        .into_iter()
        .flat_map(|set| set.records)
        .map(|r| (r.offset, r.timestamp, r.value))
        .collect()
}

pub fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 1,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

/// Every record from `from` to the end, following segments.
pub fn read_all(log: &weir_storage::PartitionLog, from: i64) -> Vec<(i64, i64, Option<Bytes>)> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let r = log.read(next, 1 << 20).expect("read");
        if r.records.is_empty() {
            break;
        }
        let recs = decode(&r.records);
        next = recs.last().expect("records").0 + 1;
        out.extend(recs);
    }
    out
}
