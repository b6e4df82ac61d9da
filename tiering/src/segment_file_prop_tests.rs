//! Property test: generated segments (every codec, gaps, LogAppendTime, producers,
//! transactional and control batches, repeated and non-UTF-8 header keys) written with random
//! chunk limits read back batch for batch.

use super::*;

/// One generated record: offset gap before it, timestamp, key, value, headers.
type GenRecord = (
    i64,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
);

/// One generated Kafka batch.
#[derive(Debug, Clone)]
struct Spec {
    codec: i16,
    gap_before: i64,
    /// Per record: offset gap before it, timestamp, key, value, headers.
    records: Vec<GenRecord>,
    trailing_gap: i32,
    log_append: Option<i64>,
    producer: Option<(i64, i16, i32)>,
    transactional: bool,
    control: bool,
    leader_epoch: i32,
}

fn spec() -> impl Strategy<Value = Spec> {
    let bytes = || prop::option::of(prop::collection::vec(any::<u8>(), 0..12));
    // Header keys: usual names, empty, and bytes that are not UTF-8 (Kafka stores any).
    let keys: Vec<&[u8]> = vec![b"a", b"b", b"weir.op", b"", b"\xff\xfe", b"k\xc3"];
    let header = (prop::sample::select(keys), bytes()).prop_map(|(k, v)| (k.to_vec(), v));
    let record = (
        0i64..3,
        -1i64..10_000,
        bytes(),
        bytes(),
        prop::collection::vec(header, 0..4),
    );
    (
        0i16..5,
        0i64..3,
        prop::collection::vec(record, 1..6),
        0i32..3,
        prop::option::of(0i64..100_000),
        prop::option::of((0i64..1_000, 0i16..5, 0i32..1_000)),
        any::<bool>(),
        prop::bool::weighted(0.1),
        -1i32..5,
    )
        .prop_map(
            |(
                codec,
                gap_before,
                records,
                trailing_gap,
                log_append,
                producer,
                transactional,
                control,
                leader_epoch,
            )| Spec {
                codec,
                gap_before,
                records,
                trailing_gap,
                log_append,
                producer,
                transactional,
                control,
                leader_epoch,
            },
        )
}

fn build(specs: &[Spec]) -> Vec<Vec<u8>> {
    let mut next = 0i64;
    let mut out = Vec::new();
    for s in specs {
        let base = next + s.gap_before;
        let mut offset = base;
        let mut records = Vec::new();
        for (i, (gap, ts, key, value, headers)) in s.records.iter().enumerate() {
            if i > 0 {
                offset += 1 + gap;
            }
            records.push(LogRecord {
                offset,
                timestamp: *ts,
                key: key.clone().map(Bytes::from),
                value: value.clone().map(Bytes::from),
                headers: headers
                    .iter()
                    .map(|(k, v)| (Bytes::from(k.clone()), v.clone().map(Bytes::from)))
                    .collect(),
            });
        }
        let last = offset + i64::from(s.trailing_gap);
        let (pid, epoch, seq) = s.producer.unwrap_or((-1, -1, -1));
        let f = BatchFields {
            base_offset: base,
            last_offset_delta: (last - base) as i32,
            partition_leader_epoch: s.leader_epoch,
            max_timestamp: records.iter().map(|r| r.timestamp).max().unwrap_or(-1),
            log_append_time: false,
            transactional: s.transactional,
            control: s.control,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
        };
        let mut batch = raw_batch(s.codec, &f, &records);
        if let Some(ts) = s.log_append {
            set_log_append_time(&mut batch, ts).unwrap();
        }
        out.push(batch);
        next = last + 1;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_round_trip(
        specs in prop::collection::vec(spec(), 1..12),
        max_rows in 1usize..10,
        max_bytes in 1usize..200,
        changelog in any::<bool>(),
        from in 0usize..12,
    ) {
        let batches = build(&specs);
        let (summary, file) = write(&batches, changelog, ChunkLimits { max_bytes, max_rows });
        prop_assert_eq!(summary.bytes_written, file.len() as u64);
        let rebuilt = read_all(&file).unwrap();
        prop_assert_eq!(rebuilt.len(), batches.len());
        for (original, rebuilt) in batches.iter().zip(&rebuilt) {
            assert_same_batch(original, rebuilt);
        }
        // A fetch from the first offset of some batch finds that batch first.
        let layout = layout_from_tail(&file).unwrap();
        let target = BatchHeader::parse(&batches[from % batches.len()]).unwrap();
        let i = layout.chunk_for_offset(target.base_offset).unwrap();
        let c = &layout.chunks[i];
        let rows = layout
            .decode_chunk(i, Bytes::copy_from_slice(&file[c.range.start as usize..c.range.end as usize]))
            .unwrap();
        let got = kafka_batches_from(&rows, target.base_offset, 1).unwrap();
        prop_assert_eq!(BatchHeader::parse(&got).unwrap().base_offset, target.base_offset);
    }
}
