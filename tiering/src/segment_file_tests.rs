//! Tests of the segment file round trip: Kafka batches of every kind through the writer,
//! the footer read from the tail only, ranged chunk reads, and rebuilt batches compared
//! field by field with the originals.

use std::io::Cursor;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, BinaryArray};
use arrow_ipc::reader::FileReader;
use arrow_schema::{DataType, TimeUnit};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::{Record, RecordBatchDecoder, TimestampType};
use proptest::prelude::*;
use weir_protocol::record_batch::{
    set_log_append_time, set_partition_leader_epoch, split_batches, BatchHeader, ATTRIBUTES_OFFSET,
    BATCH_LENGTH_OFFSET, HEADER_SIZE, LOG_OVERHEAD,
};
use weir_protocol::records::{decode_batch, encode_batch_with, rewrite_crc};

use super::*;
use crate::layout::{footer_len, FileLayout, TRAILER_LEN};
use crate::rebuild::{batch_records, first_at_or_after, kafka_batches_from, max_timestamp_record};

type Header<'a> = (&'a str, Option<&'a [u8]>);

fn rec(
    offset: i64,
    ts: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> LogRecord {
    LogRecord {
        offset,
        timestamp: ts,
        key: key.map(Bytes::copy_from_slice),
        value: value.map(Bytes::copy_from_slice),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    Bytes::copy_from_slice(k.as_bytes()),
                    v.map(Bytes::copy_from_slice),
                )
            })
            .collect(),
    }
}

/// A v2 batch of `records` with the header `fields`, compressed with codec id `codec`.
fn raw_batch(codec: i16, fields: &BatchFields, records: &[LogRecord]) -> Vec<u8> {
    let mut plain = BytesMut::new();
    encode_batch_with(&mut plain, fields, records);
    if codec == 0 {
        return plain.to_vec();
    }
    let payload = plain[HEADER_SIZE..].to_vec();
    let mut body = BytesMut::new();
    match codec {
        1 => Gzip::compress(&mut body, |b: &mut BytesMut| {
            b.put_slice(&payload);
            Ok(())
        }),
        2 => Snappy::compress(&mut body, |b: &mut BytesMut| {
            b.put_slice(&payload);
            Ok(())
        }),
        3 => Lz4::compress(&mut body, |b: &mut BytesMut| {
            b.put_slice(&payload);
            Ok(())
        }),
        _ => Zstd::compress(&mut body, |b: &mut BytesMut| {
            b.put_slice(&payload);
            Ok(())
        }),
    }
    .unwrap();
    let mut batch = plain[..HEADER_SIZE].to_vec();
    batch.extend_from_slice(&body);
    let length = (batch.len() - LOG_OVERHEAD) as i32;
    batch[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&length.to_be_bytes());
    let attributes =
        i16::from_be_bytes([batch[ATTRIBUTES_OFFSET], batch[ATTRIBUTES_OFFSET + 1]]) | codec;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    rewrite_crc(&mut batch).unwrap();
    batch
}

fn fields(base: i64, last_delta: i32, max_ts: i64) -> BatchFields {
    BatchFields {
        base_offset: base,
        last_offset_delta: last_delta,
        max_timestamp: max_ts,
        ..BatchFields::default()
    }
}

const H: &[Header] = &[("h", Some(b"1")), ("h", Some(b"2")), ("n", None)];

/// One segment with every kind of batch: each codec, null keys and values, repeated
/// headers, an idempotent producer, LogAppendTime, a transaction and its commit marker,
/// compaction gaps inside and between batches, timestamps going backwards.
fn fixture() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    out.push(raw_batch(
        0,
        &fields(0, 2, 1_002),
        &[
            rec(0, 1_000, Some(b"k0"), Some(b"v0"), H),
            rec(1, 1_001, Some(b"k1"), Some(b"v1"), &[]),
            rec(2, 1_002, Some(b"k2"), Some(b"v2"), H),
        ],
    ));
    out.push(raw_batch(
        1,
        &fields(3, 1, 1_004),
        &[
            rec(3, 1_003, None, Some(b"v3"), H),
            rec(4, 1_004, Some(b"k4"), None, &[]),
        ],
    ));
    let idem = BatchFields {
        producer_id: 7,
        producer_epoch: 2,
        base_sequence: 10,
        ..fields(5, 3, 1_100)
    };
    out.push(raw_batch(
        2,
        &idem,
        &(5..9)
            .map(|o| {
                rec(
                    o,
                    1_090 + o,
                    Some(b"ik"),
                    Some(b"iv"),
                    &[("seq", Some(b"x"))],
                )
            })
            .collect::<Vec<_>>(),
    ));
    let mut log_append = raw_batch(
        3,
        &fields(9, 1, 2),
        &[
            rec(9, 1, Some(b"la"), Some(b"x"), H),
            rec(10, 2, None, None, &[]),
        ],
    );
    set_log_append_time(&mut log_append, 50_000).unwrap();
    set_partition_leader_epoch(&mut log_append, 3);
    out.push(log_append);
    let txn = BatchFields {
        producer_id: 8,
        producer_epoch: 0,
        base_sequence: 0,
        transactional: true,
        partition_leader_epoch: 3,
        ..fields(11, 1, 2_000)
    };
    out.push(raw_batch(
        4,
        &txn,
        &[
            rec(11, 2_000, Some(b"t1"), Some(b"tv"), &[]),
            rec(12, 1_999, Some(b"t2"), Some(b"tv"), &[]),
        ],
    ));
    let marker = BatchFields {
        control: true,
        base_sequence: -1,
        ..txn
    };
    out.push(raw_batch(
        0,
        &BatchFields {
            base_offset: 13,
            last_offset_delta: 0,
            max_timestamp: 99_999,
            ..marker
        },
        &[rec(
            13,
            99_999,
            Some(&[0, 0, 0, 1]),
            Some(&[0, 0, 0, 0, 0, 5]),
            &[],
        )],
    ));
    // Compacted: records 14, 17, 20 of 14..=23.
    out.push(raw_batch(
        4,
        &fields(14, 9, 3_020),
        &[
            rec(14, 3_014, Some(b"c"), Some(b"1"), &[]),
            rec(17, 3_017, Some(b"d"), None, &[("weir.op", Some(b"-D"))]),
            rec(20, 3_020, Some(b"e"), Some(b"3"), &[]),
        ],
    ));
    // After a gap of whole batches (24..=29), with an older timestamp.
    out.push(raw_batch(
        1,
        &fields(30, 0, 500),
        &[rec(30, 500, Some(b"old"), Some(b"o"), &[])],
    ));
    let big = vec![b'z'; 300];
    out.push(raw_batch(
        2,
        &fields(31, 4, 4_000),
        &(31..36)
            .map(|o| rec(o, 4_000, Some(b"big"), Some(&big), H))
            .collect::<Vec<_>>(),
    ));
    out.push(raw_batch(
        0,
        &fields(36, 0, 4_100),
        &[rec(
            36,
            4_100,
            Some(b""),
            Some(b""),
            &[("", None), ("e", Some(b""))],
        )],
    ));
    out
}

const SMALL: ChunkLimits = ChunkLimits {
    max_bytes: 600,
    max_rows: 4,
};

fn write(batches: &[Vec<u8>], changelog: bool, limits: ChunkLimits) -> (SegmentSummary, Vec<u8>) {
    let mut writer = SegmentFileWriter::with_limits(Vec::new(), changelog, limits).unwrap();
    for b in batches {
        writer.push_batch(b).unwrap();
    }
    writer.finish_into_inner().unwrap()
}

/// The layout from the end of the file only: the trailer, then exactly the footer.
fn layout_from_tail(file: &[u8]) -> Result<FileLayout> {
    let len = file.len() as u64;
    let trailer = file
        .get(file.len().saturating_sub(TRAILER_LEN)..)
        .unwrap_or_default();
    let needed = TRAILER_LEN + footer_len(trailer)?;
    let tail = file
        .get(file.len().saturating_sub(needed)..)
        .unwrap_or_default();
    FileLayout::from_tail(tail, len)
}

/// Reads every chunk through its range and rebuilds its batches.
fn read_all(file: &[u8]) -> Result<Vec<Vec<u8>>> {
    let layout = layout_from_tail(file)?;
    let mut out = Vec::new();
    for (i, chunk) in layout.chunks.iter().enumerate() {
        let range = chunk.range.start as usize..chunk.range.end as usize;
        let block = file
            .get(range)
            .ok_or_else(|| TieringError::corrupt("range outside the file"))?;
        let rows = layout.decode_chunk(i, Bytes::copy_from_slice(block))?;
        let bytes = kafka_batches_from(&rows, i64::MIN, usize::MAX)?;
        for item in split_batches(&bytes) {
            let (_, range) = item.map_err(|e| TieringError::corrupt(e.to_string()))?;
            out.push(bytes[range].to_vec());
        }
    }
    Ok(out)
}

/// The records as kafka-protocol decodes them; `None` when it cannot (it refuses header
/// keys that are not UTF-8, which Kafka and Weir store as sent).
fn kp_records(batch: &[u8]) -> Option<Vec<Record>> {
    let mut bytes = Bytes::copy_from_slice(batch);
    let sets = RecordBatchDecoder::decode_all(&mut bytes).ok()?;
    Some(sets.into_iter().flat_map(|set| set.records).collect())
}

/// The rebuilt batch is the original in every observable way.
fn assert_same_batch(original: &[u8], rebuilt: &[u8]) {
    verify_crc(rebuilt).unwrap();
    let (h0, r0) = decode_batch_records(original).unwrap();
    let (h1, r1) = decode_batch_records(rebuilt).unwrap();
    assert_eq!(BatchFields::from_header(&h1), BatchFields::from_header(&h0));
    assert_eq!(h1.records_count, h0.records_count);
    assert_eq!(h1.compression(), 0);
    assert_eq!(h1.total_size(), rebuilt.len());
    assert_eq!(r1, r0, "records of the batch at {}", h0.base_offset);
    assert_eq!(
        decode_batch(rebuilt).unwrap(),
        decode_batch(original).unwrap()
    );
    // kafka-protocol reports raw record timestamps for LogAppendTime batches.
    let mask = |mut records: Vec<Record>| {
        for r in &mut records {
            if r.timestamp_type == TimestampType::LogAppend {
                r.timestamp = 0;
            }
        }
        records
    };
    let original_kp = kp_records(original);
    let rebuilt_kp = kp_records(rebuilt);
    assert_eq!(rebuilt_kp.is_some(), original_kp.is_some());
    if let (Some(rebuilt_kp), Some(original_kp)) = (rebuilt_kp, original_kp) {
        assert_eq!(mask(rebuilt_kp), mask(original_kp));
    }
}

#[test]
fn round_trip_every_kind_of_batch() {
    let batches = fixture();
    let (summary, file) = write(&batches, false, SMALL);
    let records: u64 = batches
        .iter()
        .map(|b| decode_batch_records(b).unwrap().1.len() as u64)
        .sum();
    let layout = layout_from_tail(&file).unwrap();
    assert_eq!(
        summary,
        SegmentSummary {
            first_offset: 0,
            last_offset: 36,
            record_count: records,
            max_timestamp: 99_999,
            chunk_count: layout.chunks.len(),
            bytes_written: file.len() as u64,
        }
    );
    assert!(summary.chunk_count >= 5, "{summary:?}");
    assert!(!layout.changelog);
    let rebuilt = read_all(&file).unwrap();
    assert_eq!(rebuilt.len(), batches.len());
    for (original, rebuilt) in batches.iter().zip(&rebuilt) {
        assert_same_batch(original, rebuilt);
    }
    // The same through a writer that takes the whole segment at once.
    let mut writer = SegmentFileWriter::with_limits(Vec::new(), false, SMALL).unwrap();
    writer.push_batches(&batches.concat()).unwrap();
    let (summary2, file2) = writer.finish_into_inner().unwrap();
    assert_eq!(summary2, summary);
    assert_eq!(file2, file);
}

#[test]
fn chunks_hold_whole_batches_within_limits() {
    let batches = fixture();
    let (_, file) = write(&batches, false, SMALL);
    let layout = layout_from_tail(&file).unwrap();
    let headers: Vec<BatchHeader> = batches
        .iter()
        .map(|b| BatchHeader::parse(b).unwrap())
        .collect();
    let mut next = 0;
    let mut previous_end = 0;
    for (i, chunk) in layout.chunks.iter().enumerate() {
        assert!(chunk.range.start >= previous_end);
        previous_end = chunk.range.end;
        let block =
            Bytes::copy_from_slice(&file[chunk.range.start as usize..chunk.range.end as usize]);
        let rows = layout.decode_chunk(i, block).unwrap();
        let kafka = batch_records(&rows).unwrap();
        assert_eq!(chunk.first_offset, headers[next].base_offset);
        let count: usize = kafka.iter().map(|(_, r)| r.len()).sum();
        assert_eq!(chunk.rows as usize, count);
        assert!(
            count <= SMALL.max_rows || kafka.len() == 1,
            "chunk {i}: {count} rows"
        );
        for (fields, records) in &kafka {
            assert_eq!(*fields, BatchFields::from_header(&headers[next]));
            assert_eq!(*records, decode_batch_records(&batches[next]).unwrap().1);
            next += 1;
        }
        assert_eq!(chunk.last_offset, headers[next - 1].last_offset());
    }
    assert_eq!(next, batches.len());
}

#[test]
fn offsets_select_chunks_and_batches() {
    let batches = fixture();
    let (_, file) = write(&batches, false, SMALL);
    let layout = layout_from_tail(&file).unwrap();
    let headers: Vec<BatchHeader> = batches
        .iter()
        .map(|b| BatchHeader::parse(b).unwrap())
        .collect();
    for offset in -2..40 {
        let want = headers.iter().position(|h| h.last_offset() >= offset);
        let Some(i) = layout.chunk_for_offset(offset) else {
            assert_eq!(want, None, "offset {offset}");
            continue;
        };
        let chunk = &layout.chunks[i];
        assert!(chunk.last_offset >= offset);
        assert!(i == 0 || layout.chunks[i - 1].last_offset < offset);
        let block =
            Bytes::copy_from_slice(&file[chunk.range.start as usize..chunk.range.end as usize]);
        let rows = layout.decode_chunk(i, block).unwrap();
        let bytes = kafka_batches_from(&rows, offset, usize::MAX).unwrap();
        let first = BatchHeader::parse(&bytes).unwrap();
        assert_eq!(
            first.base_offset,
            headers[want.unwrap()].base_offset,
            "offset {offset}"
        );
        // Past the chunk: nothing.
        assert!(kafka_batches_from(&rows, chunk.last_offset + 1, usize::MAX)
            .unwrap()
            .is_empty());
    }
    assert_eq!(layout.first_offset(), Some(0));
    assert_eq!(layout.last_offset(), Some(36));
}

#[test]
fn max_bytes_returns_whole_batches() {
    let batches = fixture();
    let (_, file) = write(&batches, false, ChunkLimits::default());
    let layout = layout_from_tail(&file).unwrap();
    assert_eq!(layout.chunks.len(), 1);
    let block = Bytes::copy_from_slice(&file[layout.chunks[0].range.start as usize..]);
    let block = block.slice(..(layout.chunks[0].range.end - layout.chunks[0].range.start) as usize);
    let rows = layout.decode_chunk(0, block).unwrap();
    let all = kafka_batches_from(&rows, 0, usize::MAX).unwrap();
    let sizes: Vec<usize> = split_batches(&all).map(|r| r.unwrap().1.len()).collect();
    assert_eq!(sizes.len(), batches.len());
    let count = |max: usize| split_batches(&kafka_batches_from(&rows, 0, max).unwrap()).count();
    assert_eq!(count(0), 1);
    assert_eq!(count(1), 1);
    assert_eq!(count(sizes[0] + sizes[1] - 1), 1);
    assert_eq!(count(sizes[0] + sizes[1]), 2);
    assert_eq!(count(sizes[0] + sizes[1] + 1), 2);
    assert_eq!(kafka_batches_from(&rows, 0, all.len()).unwrap(), all);
}

#[test]
fn timestamp_lookups_match_a_scan() {
    let batches = fixture();
    let (_, file) = write(&batches, false, SMALL);
    let layout = layout_from_tail(&file).unwrap();
    let data: Vec<(i64, i64)> = batches
        .iter()
        .filter(|b| !BatchHeader::parse(b).unwrap().is_control())
        .flat_map(|b| decode_batch(b).unwrap())
        .map(|r| (r.offset, r.timestamp))
        .collect();
    let decode = |i: usize| {
        let c = &layout.chunks[i];
        layout
            .decode_chunk(
                i,
                Bytes::copy_from_slice(&file[c.range.start as usize..c.range.end as usize]),
            )
            .unwrap()
    };
    for ts in [
        -1, 0, 499, 500, 501, 1_000, 1_050, 2_000, 3_015, 4_000, 4_100, 4_101, 50_000, 50_001,
    ] {
        let want = data.iter().copied().find(|&(_, t)| t >= ts);
        let got = layout
            .first_chunk_with_timestamp(ts)
            .and_then(|i| first_at_or_after(&decode(i), ts).unwrap());
        assert_eq!(got, want, "ts {ts}");
    }
    let max = data.iter().map(|&(_, t)| t).max().unwrap();
    let want = data.iter().copied().find(|&(_, t)| t == max);
    let got = layout
        .max_timestamp_chunk()
        .and_then(|i| max_timestamp_record(&decode(i)).unwrap());
    assert_eq!(got, want);
    assert_eq!(want, Some((9, 50_000)));
}

/// One row as pyarrow would show it, read column by column.
#[derive(Debug, PartialEq)]
struct Row {
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    batch: BatchFields,
}

fn rows_of(chunk: &RecordBatch) -> Vec<Row> {
    use arrow_array::types::{Int16Type, Int32Type};
    let i64s = |c: usize| chunk.column(c).as_primitive::<Int64Type>().clone();
    let i32s = |c: usize| chunk.column(c).as_primitive::<Int32Type>().clone();
    let bools = |c: usize| chunk.column(c).as_boolean().clone();
    let bins = |c: usize| chunk.column(c).as_binary::<i32>().clone();
    let ts = chunk
        .column(schema::TIMESTAMP)
        .as_primitive::<TimestampMillisecondType>();
    let (offset, base, max_ts, pid) = (
        i64s(schema::OFFSET),
        i64s(schema::BATCH_BASE_OFFSET),
        i64s(schema::BATCH_MAX_TIMESTAMP),
        i64s(schema::PRODUCER_ID),
    );
    let (delta, seq, epoch) = (
        i32s(schema::BATCH_LAST_OFFSET_DELTA),
        i32s(schema::BASE_SEQUENCE),
        i32s(schema::PARTITION_LEADER_EPOCH),
    );
    let producer_epoch = chunk
        .column(schema::PRODUCER_EPOCH)
        .as_primitive::<Int16Type>();
    let (lat, txn, control) = (
        bools(schema::LOG_APPEND_TIME),
        bools(schema::IS_TRANSACTIONAL),
        bools(schema::IS_CONTROL),
    );
    let (keys, values) = (bins(schema::KEY), bins(schema::VALUE));
    let headers = chunk.column(schema::HEADERS).as_list::<i32>();
    let opt = |a: &BinaryArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_vec());
    (0..chunk.num_rows())
        .map(|i| {
            let h = headers.value(i);
            let h = h.as_struct();
            let hk = h.column(0).as_string::<i32>();
            let hv = h.column(1).as_binary::<i32>();
            Row {
                offset: offset.value(i),
                timestamp: ts.value(i),
                key: opt(&keys, i),
                value: opt(&values, i),
                headers: (0..h.len())
                    .map(|j| (hk.value(j).to_string(), opt(hv, j)))
                    .collect(),
                batch: BatchFields {
                    base_offset: base.value(i),
                    last_offset_delta: delta.value(i),
                    partition_leader_epoch: epoch.value(i),
                    max_timestamp: max_ts.value(i),
                    log_append_time: lat.value(i),
                    transactional: txn.value(i),
                    control: control.value(i),
                    producer_id: pid.value(i),
                    producer_epoch: producer_epoch.value(i),
                    base_sequence: seq.value(i),
                },
            }
        })
        .collect()
}

#[test]
fn arrow_file_reader_sees_the_columns() {
    let batches = fixture();
    let (_, file) = write(&batches, false, SMALL);
    let reader = FileReader::try_new(Cursor::new(&file), None).unwrap();
    assert_eq!(
        reader
            .custom_metadata()
            .get(META_FORMAT_VERSION)
            .map(String::as_str),
        Some("1")
    );
    let index: Vec<ChunkMeta> =
        serde_json::from_str(reader.custom_metadata().get(META_CHUNKS).unwrap()).unwrap();
    assert_eq!(index.len(), reader.num_batches());
    let schema = reader.schema();
    assert_eq!(schema.fields(), schema::log_schema().fields());
    assert_eq!(
        schema.field(schema::TIMESTAMP).data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, None)
    );
    let got: Vec<Row> = reader.flat_map(|b| rows_of(&b.unwrap())).collect();
    let want: Vec<Row> = batches
        .iter()
        .flat_map(|b| {
            let (h, records) = decode_batch_records(b).unwrap();
            records.into_iter().map(move |r| Row {
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key.map(|k| k.to_vec()),
                value: r.value.map(|v| v.to_vec()),
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            String::from_utf8_lossy(&k).into_owned(),
                            v.map(|v| v.to_vec()),
                        )
                    })
                    .collect(),
                batch: BatchFields::from_header(&h),
            })
        })
        .collect();
    assert_eq!(got, want);
    // Spot checks of what the fixture put there.
    let row = |o: i64| got.iter().find(|r| r.offset == o).unwrap();
    assert_eq!(row(9).timestamp, 50_000); // LogAppendTime
    assert!(row(9).batch.log_append_time);
    assert_eq!(row(0).headers.len(), 3);
    assert_eq!(row(0).headers[1], ("h".to_string(), Some(b"2".to_vec())));
    assert_eq!(row(3).key, None);
    assert_eq!(row(36).key, Some(vec![]));
    assert!(row(13).batch.control && row(13).batch.transactional);
    assert_eq!(row(20).batch.last_offset_delta, 9);
}

#[test]
fn changelog_files_have_the_op_column() {
    let records: Vec<LogRecord> = [("+I", 0), ("-U", 1), ("+U", 2), ("-D", 3)]
        .iter()
        .map(|&(op, o)| {
            rec(
                o,
                10 + o,
                Some(b"k"),
                Some(b"v"),
                &[("x", None), (OP_HEADER, Some(op.as_bytes()))],
            )
        })
        .chain([rec(4, 20, Some(b"k"), None, &[])])
        .collect();
    let batch = raw_batch(4, &fields(0, 4, 20), &records);
    let (summary, file) = write(std::slice::from_ref(&batch), true, ChunkLimits::default());
    assert_eq!(summary.record_count, 5);
    let layout = layout_from_tail(&file).unwrap();
    assert!(layout.changelog);
    assert_eq!(layout.schema.fields(), schema::changelog_schema().fields());
    let mut reader = FileReader::try_new(Cursor::new(&file), None).unwrap();
    let rows = reader.next().unwrap().unwrap();
    let ops = rows.column(schema::OP).as_string::<i32>();
    let got: Vec<Option<&str>> = ops.iter().collect();
    assert_eq!(
        got,
        vec![Some("+I"), Some("-U"), Some("+U"), Some("-D"), None]
    );
    let rebuilt = read_all(&file).unwrap();
    assert_eq!(rebuilt.len(), 1);
    assert_same_batch(&batch, &rebuilt[0]);
}

#[test]
fn default_limits_cut_chunks_by_rows_and_bytes() {
    // 40 batches of 500 small records: the row limit (16384) closes a chunk after 32.
    let batches: Vec<Vec<u8>> = (0..40i64)
        .map(|b| {
            let records: Vec<LogRecord> = (0..500)
                .map(|i| rec(b * 500 + i, i, Some(b"k"), Some(b"value"), &[]))
                .collect();
            raw_batch(4, &fields(b * 500, 499, 499), &records)
        })
        .collect();
    let (summary, file) = write(&batches, false, ChunkLimits::default());
    let layout = layout_from_tail(&file).unwrap();
    let rows: Vec<u64> = layout.chunks.iter().map(|c| c.rows).collect();
    assert_eq!(rows, vec![16_000, 4_000]);
    assert_eq!(summary.record_count, 20_000);
    assert_eq!(
        read_all(&file).unwrap(),
        batches
            .iter()
            .map(|b| {
                let (h, r) = decode_batch_records(b).unwrap();
                let mut out = BytesMut::new();
                encode_batch_with(&mut out, &BatchFields::from_header(&h), &r);
                out.to_vec()
            })
            .collect::<Vec<_>>()
    );

    // 10 batches of one 300 KiB value: the byte limit (1 MiB) closes a chunk after 3.
    let big = vec![7u8; 300 << 10];
    let batches: Vec<Vec<u8>> = (0..10)
        .map(|o| raw_batch(0, &fields(o, 0, 1), &[rec(o, 1, None, Some(&big), &[])]))
        .collect();
    let (_, file) = write(&batches, false, ChunkLimits::default());
    let layout = layout_from_tail(&file).unwrap();
    let rows: Vec<u64> = layout.chunks.iter().map(|c| c.rows).collect();
    assert_eq!(rows, vec![3, 3, 3, 1]);
    // zstd: the file is much smaller than its values.
    assert!(file.len() < 100 << 10, "{}", file.len());
    let rebuilt = read_all(&file).unwrap();
    for (original, rebuilt) in batches.iter().zip(&rebuilt) {
        assert_same_batch(original, rebuilt);
    }
}

#[path = "segment_file_prop_tests.rs"]
mod properties;

#[path = "segment_file_error_tests.rs"]
mod errors;

#[path = "segment_file_header_tests.rs"]
mod header_keys;
