//! Crash recovery: torn tails, corrupt batches, trailing garbage and broken index files.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use proptest::prelude::*;
use weir_protocol::record_batch::split_batches;
use weir_storage::{LogConfig, PartitionLog};

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn active_segment(dir: &Path) -> PathBuf {
    files_with(dir, "log").pop().unwrap()
}

/// Batch ranges of a segment file.
fn batch_ranges(path: &Path) -> Vec<std::ops::Range<usize>> {
    let data = fs::read(path).unwrap();
    split_batches(&data).map(|r| r.unwrap().1).collect()
}

/// Offsets of every record readable from the log start.
fn all_offsets(log: &PartitionLog) -> Vec<i64> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    loop {
        let r = log.read(next, 1 << 20).unwrap();
        if r.records.is_empty() {
            return out;
        }
        let recs = decode(&r.records);
        next = recs.last().unwrap().0 + 1;
        out.extend(recs.into_iter().map(|r| r.0));
    }
}

/// A log of 12 batches of 3 records (offsets 0..36) over several segments, dropped (crash).
fn build(dir: &Path, config: &LogConfig) {
    let log = PartitionLog::open(dir, config.clone()).unwrap();
    for i in 0..12 {
        log.append(
            &batch_full(CODECS[i % 5], &[i as i64, 5, 7], 9, 0, 3 * i as i32),
            0,
        )
        .unwrap();
    }
    assert!(log.segment_count() >= 3);
}

fn check(dir: &Path, config: &LogConfig, expected_end: i64) {
    let log = PartitionLog::open(dir, config.clone()).unwrap();
    assert_eq!(log.log_end_offset(), expected_end);
    assert_eq!(all_offsets(&log), (0..expected_end).collect::<Vec<_>>());
    // The idempotent producer continues after the last retained batch.
    let r = log.append(&idem(9, 0, expected_end as i32, 2), 0).unwrap();
    assert!(!r.duplicate);
    assert_eq!(r.base_offset, expected_end);
    drop(log);
    let log = PartitionLog::open(dir, config.clone()).unwrap();
    assert_eq!(log.log_end_offset(), expected_end + 2);
    assert_eq!(all_offsets(&log).len() as i64, expected_end + 2);
}

#[test]
fn truncated_mid_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(400);
    build(dir.path(), &config);
    let active = active_segment(dir.path());
    let ranges = batch_ranges(&active);
    let last = ranges.last().unwrap().clone();
    let f = OpenOptions::new().write(true).open(&active).unwrap();
    f.set_len((last.start + 20) as u64).unwrap();
    // Recovery cuts the file back to the last whole batch.
    drop(PartitionLog::open(dir.path(), config.clone()).unwrap());
    assert_eq!(fs::metadata(&active).unwrap().len(), last.start as u64);
    check(dir.path(), &config, 33);
}

#[test]
fn flipped_byte_in_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(400);
    build(dir.path(), &config);
    let active = active_segment(dir.path());
    let last = batch_ranges(&active).last().unwrap().clone();
    let mut data = fs::read(&active).unwrap();
    data[last.end - 2] ^= 0x10;
    fs::write(&active, &data).unwrap();
    check(dir.path(), &config, 33);
}

#[test]
fn garbage_after_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(400);
    build(dir.path(), &config);
    let active = active_segment(dir.path());
    let mut f = OpenOptions::new().append(true).open(&active).unwrap();
    f.write_all(&[0xAB; 100]).unwrap();
    drop(f);
    check(dir.path(), &config, 36);

    // Zero-filled tail (what a power loss often leaves).
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &config);
    let active = active_segment(dir.path());
    let mut f = OpenOptions::new().append(true).open(&active).unwrap();
    f.write_all(&[0u8; 4096]).unwrap();
    drop(f);
    check(dir.path(), &config, 36);
}

#[test]
fn missing_or_garbage_index_files() {
    let config = small_config(400);
    for mode in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), &config);
        let indexes = files_with(dir.path(), "index");
        let times = files_with(dir.path(), "timeindex");
        assert!(!indexes.is_empty() && !times.is_empty());
        match mode {
            0 => indexes
                .iter()
                .chain(&times)
                .for_each(|p| fs::remove_file(p).unwrap()),
            1 => indexes
                .iter()
                .chain(&times)
                .for_each(|p| fs::write(p, [0x5Au8; 37]).unwrap()),
            // Plausible sizes, wrong contents.
            2 => {
                indexes
                    .iter()
                    .for_each(|p| fs::write(p, [0u8, 0, 0, 1, 0, 0, 0, 7]).unwrap());
                times.iter().for_each(|p| fs::write(p, [1u8; 12]).unwrap());
            }
            _ => indexes.iter().for_each(|p| fs::write(p, []).unwrap()),
        }
        check(dir.path(), &config, 36);
        // Reads from every offset work (exercising the rebuilt indexes).
        let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
        for o in 0..36 {
            let recs = decode(&log.read(o, 1).unwrap().records);
            assert!(recs.iter().any(|r| r.0 == o), "mode {mode} offset {o}");
        }
        assert_eq!(log.offset_for_timestamp(11).unwrap(), Some((33, 11)));
    }
}

#[test]
fn empty_dir_and_reopen_without_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let log = PartitionLog::open(&path, LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    log.close().unwrap();
    drop(log);
    let log = PartitionLog::open(&path, LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.segment_count(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_truncation_keeps_whole_batches(
        sizes in proptest::collection::vec(1usize..6, 1..25),
        segment_bytes in 150u64..2_000,
        cut in any::<prop::sample::Index>(),
        close_first in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = small_config(segment_bytes);
        let mut ends = Vec::new();
        {
            let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
            for (i, &n) in sizes.iter().enumerate() {
                let ts: Vec<i64> = (0..n as i64).map(|k| 1_000 - k * 3 + i as i64).collect();
                let r = log.append(&batch_full(CODECS[i % 5], &ts, -1, -1, -1), 0).unwrap();
                ends.push(r.last_offset + 1);
            }
            if close_first {
                log.close().unwrap();
            }
        }
        let active = active_segment(dir.path());
        let data = fs::read(&active).unwrap();
        let base: i64 = active.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let cut_at = cut.index(data.len() + 1);
        // Expected end: base + records of active-segment batches ending at or before the cut.
        let mut expected_end = base;
        for r in split_batches(&data) {
            let (h, range) = r.unwrap();
            if range.end <= cut_at {
                expected_end = h.last_offset() + 1;
            }
        }
        OpenOptions::new().write(true).open(&active).unwrap().set_len(cut_at as u64).unwrap();
        let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
        prop_assert_eq!(log.log_end_offset(), expected_end);
        prop_assert!(expected_end == base || ends.contains(&expected_end));
        prop_assert_eq!(all_offsets(&log), (0..expected_end).collect::<Vec<_>>());
        let r = log.append(&batch(2, 0), 0).unwrap();
        prop_assert_eq!(r.base_offset, expected_end);
    }
}
