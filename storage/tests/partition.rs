//! Behaviour of `PartitionLog`: append/read, offsets, idempotence, timestamps, retention,
//! DeleteRecords and group commit.

mod common;

use std::sync::Arc;

use common::*;
use kafka_protocol::records::Compression;
use weir_protocol::record_batch::{verify_crc, BatchHeader};
use weir_storage::{LogConfig, PartitionLog, StorageError, TimestampType};

#[test]
fn round_trip_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let mut expected = Vec::new();
    for (i, codec) in CODECS.iter().enumerate() {
        let ts = [100 + i as i64, 50, 300];
        let b = batch_full(*codec, &ts, -1, -1, -1);
        let r = log.append(&b, 1_000).unwrap();
        assert_eq!(r.base_offset, i as i64 * 3);
        assert_eq!(r.last_offset, i as i64 * 3 + 2);
        assert_eq!(r.record_count, 3);
        assert_eq!(r.bytes, b.len());
        assert!(!r.duplicate);
        assert_eq!(r.log_append_time, -1);
        for (j, t) in ts.iter().enumerate() {
            expected.push((i as i64 * 3 + j as i64, *t));
        }
    }
    let got: Vec<(i64, i64)> = read_all(&log, 0)
        .into_iter()
        .map(|(o, t, _)| (o, t))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(log.log_end_offset(), 15);
    assert_eq!(*log.end_offset_watch().borrow(), 15);
}

#[test]
fn offsets_contiguous_across_rolls_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = PartitionLog::open(dir.path(), small_config(300)).unwrap();
        let mut next = 0;
        for i in 0..30 {
            let n = 1 + i % 4;
            let r = log.append(&batch(n, 1_000 + i as i64), 1_000).unwrap();
            assert_eq!(r.base_offset, next);
            next += n as i64;
            assert_eq!(r.last_offset, next - 1);
        }
        assert!(log.segment_count() > 3, "segments: {}", log.segment_count());
        let all = read_all(&log, 0);
        assert_eq!(all.len() as i64, next);
        assert!(all.iter().enumerate().all(|(i, r)| r.0 == i as i64));
        // Reading from the middle of a batch returns that whole batch.
        let r = log.read(5, 1).unwrap();
        let recs = decode(&r.records);
        assert!(recs.first().unwrap().0 <= 5 && recs.last().unwrap().0 >= 5);
        log.close().unwrap();
    }
    let log = PartitionLog::open(dir.path(), small_config(300)).unwrap();
    let end = log.log_end_offset();
    assert_eq!(read_all(&log, 0).len() as i64, end);
    let r = log.append(&batch(2, 5), 2_000).unwrap();
    assert_eq!(r.base_offset, end);
}

#[test]
fn small_max_bytes_returns_one_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let b1 = batch(3, 10);
    let b2 = batch(2, 20);
    log.append(&b1, 0).unwrap();
    log.append(&b2, 0).unwrap();
    let r = log.read(0, 1).unwrap();
    assert_eq!(r.records.len(), b1.len());
    assert_eq!(r.high_watermark, 5);
    verify_crc(&r.records).unwrap();
    let r = log.read(0, b1.len() + b2.len() - 1).unwrap();
    assert_eq!(r.records.len(), b1.len());
    let r = log.read(0, 1 << 20).unwrap();
    assert_eq!(r.records.len(), b1.len() + b2.len());
    let r = log.read(4, 0).unwrap();
    assert_eq!(BatchHeader::parse(&r.records).unwrap().base_offset, 3);
}

#[test]
fn offset_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert!(log.read(0, 100).unwrap().records.is_empty());
    log.append(&batch(3, 1), 0).unwrap();
    assert!(log.read(3, 100).unwrap().records.is_empty());
    assert!(matches!(
        log.read(4, 100),
        Err(StorageError::OffsetOutOfRange {
            requested: 4,
            log_start: 0,
            log_end: 3
        })
    ));
    assert!(matches!(
        log.read(-1, 100),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    log.delete_records_before(2).unwrap();
    assert!(matches!(
        log.read(1, 100),
        Err(StorageError::OffsetOutOfRange { log_start: 2, .. })
    ));
    assert!(!log.read(2, 100).unwrap().records.is_empty());
}

#[test]
fn invalid_input_is_rejected_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 200,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config).unwrap();
    let good = batch(1, 1);
    let mut corrupt = batch(2, 1);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert!(matches!(
        log.append(&corrupt, 0),
        Err(StorageError::CorruptRecord(_))
    ));
    // Kafka's v2 rule: exactly one batch per partition of a produce request.
    let mut req = good.clone();
    req.extend_from_slice(&good);
    assert!(matches!(
        log.append(&req, 0),
        Err(StorageError::InvalidRecord(m)) if m.contains("exactly one record batch")
    ));
    assert!(matches!(
        log.append(&good[..good.len() - 1], 0),
        Err(StorageError::CorruptRecord(_))
    ));
    let mut magic = good.clone();
    magic[16] = 1;
    assert!(matches!(
        log.append(&magic, 0),
        Err(StorageError::UnsupportedMagic(1))
    ));
    assert!(matches!(
        log.append(&batch(40, 1), 0),
        Err(StorageError::RecordTooLarge { max: 200, .. })
    ));
    assert!(matches!(
        log.append(&[], 0),
        Err(StorageError::InvalidRecord(_))
    ));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
    log.append(&good, 0).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}

#[test]
fn idempotent_duplicates_survive_close_and_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
        log.append(&batch(2, 0), 0).unwrap(); // offsets 0-1, no producer
        let a = log.append(&idem(7, 0, 0, 3), 0).unwrap();
        assert_eq!((a.base_offset, a.last_offset), (2, 4));
        let b = log.append(&idem(7, 0, 3, 2), 0).unwrap();
        assert_eq!((b.base_offset, b.last_offset), (5, 6));
        let size = log.size_bytes();
        let d = log.append(&idem(7, 0, 0, 3), 0).unwrap();
        assert!(d.duplicate);
        assert_eq!((d.base_offset, d.last_offset), (2, 4));
        assert_eq!(log.size_bytes(), size);
        assert_eq!(log.log_end_offset(), 7);
        log.close().unwrap();
    }
    {
        let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
        let d = log.append(&idem(7, 0, 3, 2), 0).unwrap();
        assert!(d.duplicate);
        assert_eq!((d.base_offset, d.last_offset), (5, 6));
        let c = log.append(&idem(7, 0, 5, 1), 0).unwrap();
        assert_eq!(c.base_offset, 7);
        // Dropped without close: a simulated crash.
    }
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let d = log.append(&idem(7, 0, 5, 1), 0).unwrap();
    assert!(d.duplicate);
    assert_eq!(d.base_offset, 7);
    assert_eq!(log.log_end_offset(), 8);
    assert!(matches!(
        log.append(&idem(7, 0, 9, 1), 0),
        Err(StorageError::OutOfOrderSequence {
            producer_id: 7,
            expected: 6,
            got: 9
        })
    ));
}

#[test]
fn out_of_order_and_stale_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    // Unknown producer accepted at any sequence.
    log.append(&idem(3, 2, 10, 2), 0).unwrap();
    assert!(matches!(
        log.append(&idem(3, 2, 13, 1), 0),
        Err(StorageError::OutOfOrderSequence {
            expected: 12,
            got: 13,
            ..
        })
    ));
    assert!(matches!(
        log.append(&idem(3, 1, 12, 1), 0),
        Err(StorageError::InvalidProducerEpoch {
            producer_id: 3,
            current: 2,
            got: 1
        })
    ));
    assert!(matches!(
        log.append(&idem(3, 3, 5, 1), 0),
        Err(StorageError::OutOfOrderSequence { expected: 0, .. })
    ));
    log.append(&idem(3, 3, 0, 1), 0).unwrap();
    assert!(matches!(
        log.append(&idem(3, 2, 12, 1), 0),
        Err(StorageError::InvalidProducerEpoch { current: 3, .. })
    ));
    // Wraparound: after i32::MAX comes 0.
    log.append(&idem(4, 0, i32::MAX, 1), 0).unwrap();
    log.append(&idem(4, 0, 0, 1), 0).unwrap();
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn log_append_time_rewrites_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config).unwrap();
    for codec in CODECS {
        let r = log
            .append(&batch_full(codec, &[5, 1, 9], -1, -1, -1), 777_000)
            .unwrap();
        assert_eq!(r.log_append_time, 777_000);
    }
    let r = log.read(0, 1 << 20).unwrap();
    let mut pos = 0;
    while pos < r.records.len() {
        let h = BatchHeader::parse(&r.records[pos..]).unwrap();
        verify_crc(&r.records[pos..pos + h.total_size()]).unwrap();
        assert!(h.timestamp_type_is_log_append());
        assert_eq!(h.max_timestamp, 777_000);
        pos += h.total_size();
    }
    assert_eq!(log.max_timestamp().unwrap(), Some((0, 777_000)));
    assert_eq!(
        log.offset_for_timestamp(700_000).unwrap(),
        Some((0, 777_000))
    );
}

#[test]
fn timestamp_lookups_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small_config(250)).unwrap();
    // Non-monotonic timestamps inside batches, across codecs and segments.
    let batches: Vec<Vec<i64>> = vec![
        vec![100, 90, 120],
        vec![110, 200, 150],
        vec![130, 125],
        vec![300, 100, 300, 250],
        vec![90],
        vec![260, 310, 305],
    ];
    let mut all = Vec::new();
    let mut off = 0;
    for (i, ts) in batches.iter().enumerate() {
        log.append(&batch_full(CODECS[i % 5], ts, -1, -1, -1), 1_000)
            .unwrap();
        for t in ts {
            all.push((off, *t));
            off += 1;
        }
    }
    assert!(log.segment_count() > 1);
    let brute = |target: i64, start: i64| {
        all.iter()
            .copied()
            .find(|&(o, t)| o >= start && t >= target)
    };
    for target in [
        0, 90, 91, 100, 101, 121, 125, 126, 151, 200, 201, 250, 300, 301, 305, 306, 310, 311,
    ] {
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            brute(target, 0),
            "target {target}"
        );
    }
    assert_eq!(log.max_timestamp().unwrap(), Some((14, 310)));
    // After DeleteRecords past the max (mid-batch), only retained records count.
    log.delete_records_before(15).unwrap();
    assert_eq!(log.max_timestamp().unwrap(), Some((15, 305)));
    assert_eq!(log.offset_for_timestamp(100).unwrap(), Some((15, 305)));
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), small_config(250)).unwrap();
    assert_eq!(log.max_timestamp().unwrap(), Some((15, 305)));
    log.delete_records_before(5).unwrap();
    assert_eq!(log.log_start_offset(), 15);
}

#[test]
fn max_timestamp_ties_and_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.max_timestamp().unwrap(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    log.append(&batch_full(Compression::Lz4, &[5, 50, 7], -1, -1, -1), 0)
        .unwrap();
    log.append(&batch_full(Compression::Gzip, &[50, 1], -1, -1, -1), 0)
        .unwrap();
    assert_eq!(log.max_timestamp().unwrap(), Some((1, 50)));
    assert_eq!(log.offset_for_timestamp(51).unwrap(), None);
}

#[test]
fn delete_records_persisted_and_segments_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = PartitionLog::open(dir.path(), small_config(200)).unwrap();
        for i in 0..10 {
            log.append(&batch(2, i), 0).unwrap();
        }
        let before = log.segment_count();
        assert!(before > 2);
        assert!(matches!(
            log.delete_records_before(21),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        assert_eq!(log.delete_records_before(9).unwrap(), 9);
        assert_eq!(log.delete_records_before(3).unwrap(), 9);
        assert!(log.segment_count() < before);
        assert_eq!(log.log_start_offset(), 9);
        // Dropped without close.
    }
    let log = PartitionLog::open(dir.path(), small_config(200)).unwrap();
    assert_eq!(log.log_start_offset(), 9);
    let recs = decode(&log.read(9, 1).unwrap().records);
    assert!(recs.iter().any(|r| r.0 == 9));
    assert_eq!(log.delete_records_before(-1).unwrap(), 20);
    assert!(log.read(20, 10).unwrap().records.is_empty());
    assert_eq!(log.append(&batch(1, 0), 0).unwrap().base_offset, 20);
}

#[test]
fn retention_by_time_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1); // one batch per segment
    config.retention_ms = 1_000;
    let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    // Segment i holds one batch with timestamp 10_000 + 100*i.
    for i in 0..6 {
        log.append(&batch(1, 10_000 + 100 * i), 10_000).unwrap();
    }
    assert_eq!(log.segment_count(), 6);
    // now - ts > 1000 for ts < 10_250: segments 0,1,2.
    assert_eq!(log.maintain(11_250).unwrap(), 3);
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.log_start_offset(), 3);
    // The active segment is never deleted by retention.
    assert_eq!(log.maintain(100_000).unwrap(), 2);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 5);

    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1);
    let one = batch(1, 0).len() as i64;
    // Kafka's rule: delete oldest segments while the rest still holds >= retention.bytes.
    config.retention_bytes = one * 3;
    let log = PartitionLog::open(dir.path(), config).unwrap();
    for i in 0..6 {
        log.append(&batch(1, i), 0).unwrap();
    }
    assert_eq!(log.maintain(0).unwrap(), 3);
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.size_bytes() as i64, one * 3);
    assert_eq!(log.log_start_offset(), 3);
    assert_eq!(log.maintain(0).unwrap(), 0);
}

#[test]
fn segment_ms_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config).unwrap();
    log.maintain(0).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&batch(1, 0), 5_000).unwrap();
    log.append(&batch(1, 0), 5_500).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&batch(1, 0), 6_000).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.maintain(7_100).unwrap();
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.append(&batch(1, 0), 7_200).unwrap().base_offset, 3);
}

/// A reopened segment holding records with old producer timestamps is not rolled (and so
/// not exposed to retention) at the next housekeeping tick: `segment.ms` counts from the
/// file's creation, not from the records' timestamps.
#[test]
fn reopened_segment_with_old_timestamps_is_not_rolled() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 3_600_000,
        retention_ms: 60_000,
        ..LogConfig::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    log.append(&batch(3, 1_000), now).unwrap();
    log.close().unwrap();
    drop(log);
    let log = PartitionLog::open(dir.path(), config).unwrap();
    assert_eq!(log.maintain(now + 1_000).unwrap(), 0);
    assert_eq!((log.segment_count(), log.log_start_offset()), (1, 0));
    assert_eq!(read_all(&log, 0).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_to_from_many_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(PartitionLog::open(dir.path(), small_config(2_000)).unwrap());
    let mut tasks = Vec::new();
    for t in 0..16 {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let r = log.append(&batch(2, t * 100 + i), 0).unwrap();
                log.flush_to(r.last_offset).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(log.log_end_offset(), 320);
    log.flush_to(319).await.unwrap();
    log.flush_to(1_000).await.unwrap();
}

#[test]
fn write_caching_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        write_caching: true,
        flush_messages: 3,
        flush_ms: 100,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config).unwrap();
    log.append(&batch(2, 0), 0).unwrap();
    log.append(&batch(2, 0), 0).unwrap();
    log.maintain(0).unwrap();
    log.append(&batch(1, 0), 0).unwrap();
    log.maintain(200).unwrap();
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn append_limits_cap_decompression_and_refuse_unknown_producers() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let limits = weir_storage::AppendLimits {
        max_decompressed_bytes: 100,
        producer_id_limit: Some(10),
        producer_id_expiration_ms: 86_400_000,
    };
    // 20 records decompress to more than 100 bytes, whatever the codec.
    for codec in CODECS {
        let ts: Vec<i64> = (0..20).collect();
        let b = batch_full(codec, &ts, -1, -1, -1);
        match log.append_with(&b, 0, &limits) {
            Err(StorageError::CorruptRecord(m)) => {
                assert!(m.contains("batch.max.decompressed.bytes = 100"), "{m}")
            }
            other => panic!("{codec:?}: {other:?}"),
        }
    }
    assert!(matches!(
        log.append_with(&idem(10, 0, 0, 1), 0, &limits),
        Err(StorageError::UnknownProducerId { producer_id: 10 })
    ));
    assert_eq!(log.log_end_offset(), 0);
    log.append_with(&idem(9, 0, 0, 1), 0, &limits).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}

#[test]
fn idle_producer_state_expires_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let limits = weir_storage::AppendLimits {
        producer_id_expiration_ms: 1_000,
        ..Default::default()
    };
    log.append_with(&idem(7, 0, 0, 2), 10_000, &limits).unwrap();
    // Within the expiration a gap is out of order ...
    assert!(matches!(
        log.append_with(&idem(7, 0, 5, 1), 10_500, &limits),
        Err(StorageError::OutOfOrderSequence { expected: 2, .. })
    ));
    // ... after it the producer is forgotten, and any sequence starts it afresh (as Kafka
    // treats an unknown producer).
    log.append_with(&idem(7, 0, 5, 1), 11_500, &limits).unwrap();
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn stored_batch_that_does_not_decode_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    log.append(&batch(3, 5_000), 1_000).unwrap();
    assert_eq!(log.offset_for_timestamp(5_001).unwrap(), Some((1, 5_001)));
    // Bit rot in the first record's length varint (right after the 61-byte header): it now
    // claims more bytes than the batch holds. Reads of the segment do not check CRCs, the
    // timestamp lookup decodes the batch.
    let segment = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("segment file");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[61] = 0x7e;
    std::fs::write(&segment, &bytes).unwrap();
    match log.offset_for_timestamp(5_001) {
        Err(StorageError::CorruptStored(reason)) => {
            assert!(
                reason.contains("cannot decode the batch at byte 0"),
                "{reason}"
            )
        }
        other => panic!("expected CorruptStored, got {other:?}"),
    }
    // MAX_TIMESTAMP finds the batch by its header, then decodes it for the exact record.
    assert!(matches!(
        log.max_timestamp(),
        Err(StorageError::CorruptStored(_))
    ));
}
