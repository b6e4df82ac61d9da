//! Held appends (the all-or-nothing table write): invisible until published, and undone
//! exactly — file, indexes, offsets and producer state — across rolls and reopens.

mod common;

use common::*;
use proptest::prelude::*;
use weir_storage::{AppendLimits, LogConfig, PartitionLog, StorageError};

/// Every visible record as `(offset, timestamp)`.
fn visible(log: &PartitionLog) -> Vec<(i64, i64)> {
    read_all(log, log.log_start_offset())
        .into_iter()
        .map(|(o, t, _)| (o, t))
        .collect()
}

fn hold(log: &PartitionLog, records: &[u8], now_ms: i64) -> weir_storage::HeldAppend {
    let limits = AppendLimits::default();
    let validated = log.validate(records, &limits).expect("validate");
    let (_, held) = log.append_held(validated, now_ms, &limits).expect("append");
    held.expect("not a duplicate")
}

#[test]
fn a_held_append_is_invisible_until_published() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    log.append(&batch(2, 100), 0).unwrap();
    let watch = log.end_offset_watch();
    let held = hold(&log, &batch(3, 500), 0);

    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(*watch.borrow(), 2);
    assert_eq!(visible(&log), vec![(0, 100), (1, 101)]);
    assert!(log.read(2, 1 << 20).unwrap().records.is_empty());
    assert!(matches!(
        log.read(3, 1 << 20),
        Err(StorageError::OffsetOutOfRange { log_end: 2, .. })
    ));
    assert_eq!(log.offset_for_timestamp(500).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), Some((1, 101)));
    assert!(matches!(
        log.delete_records_before(4),
        Err(StorageError::OffsetOutOfRange { log_end: 2, .. })
    ));
    // No other append while one is held.
    assert!(log.append(&batch(1, 0), 0).is_err());

    log.publish(held);
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(*watch.borrow(), 5);
    assert_eq!(
        visible(&log),
        vec![(0, 100), (1, 101), (2, 500), (3, 501), (4, 502)]
    );
    assert_eq!(log.offset_for_timestamp(500).unwrap(), Some((2, 500)));
    assert_eq!(log.append(&batch(1, 7), 0).unwrap().base_offset, 5);
}

#[test]
fn an_undone_append_leaves_nothing_and_its_retry_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    log.append(&idem(9, 0, 0, 2), 0).unwrap();
    let size = log.size_bytes();
    let held = hold(&log, &idem(9, 0, 2, 3), 0);
    assert!(log.size_bytes() > size);
    log.undo(held).unwrap();
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.log_end_offset(), 2);

    // The producer's sequence went back with the records: the retry is no duplicate.
    let retry = log.append(&idem(9, 0, 2, 3), 0).unwrap();
    assert!(!retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (2, 4));
    let again = log.append(&idem(9, 0, 2, 3), 0).unwrap();
    assert!(again.duplicate);
    assert_eq!(visible(&log).len(), 5);

    // A producer the undone append introduced is forgotten again.
    let held = hold(&log, &idem(11, 0, 0, 1), 0);
    log.undo(held).unwrap();
    let fresh = log.append(&idem(11, 0, 0, 1), 0).unwrap();
    assert!(!fresh.duplicate);
    assert_eq!(fresh.base_offset, 5);
}

#[test]
fn an_undone_append_that_rolled_leaves_an_empty_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(300);
    {
        let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
        log.append(&batch(4, 0), 0).unwrap();
        log.append(&batch(4, 10), 0).unwrap();
        let segments = log.segment_count();
        let held = hold(&log, &batch(4, 20), 0);
        assert_eq!(log.segment_count(), segments + 1);
        log.undo(held).unwrap();
        assert_eq!(log.log_end_offset(), 8);
        assert_eq!(visible(&log).len(), 8);
        assert_eq!(log.append(&batch(1, 30), 0).unwrap().base_offset, 8);
        // Dropped without close.
    }
    let log = PartitionLog::open(dir.path(), config).unwrap();
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(visible(&log).last(), Some(&(8, 30)));
}

#[derive(Debug, Clone)]
enum Step {
    Append(usize),
    Publish(usize),
    Undo(usize),
    Sync,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1usize..6).prop_map(Step::Append),
        (1usize..6).prop_map(Step::Publish),
        (1usize..6).prop_map(Step::Undo),
        Just(Step::Sync),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any interleaving of plain, published and undone appends (with rolls and fsyncs) reads
    /// back exactly the appends that were not undone — before and after a reopen.
    #[test]
    fn undone_appends_never_show(steps in prop::collection::vec(step(), 1..40), segment in 200u64..1200) {
        let dir = tempfile::tempdir().unwrap();
        let config = small_config(segment);
        let mut model: Vec<(i64, i64)> = Vec::new();
        let mut ts = 0i64;
        {
            let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
            for s in &steps {
                let n = match s {
                    Step::Append(n) | Step::Publish(n) | Step::Undo(n) => *n,
                    Step::Sync => {
                        log.sync_now().unwrap();
                        continue;
                    }
                };
                let records = batch(n, ts);
                let base = model.len() as i64;
                match s {
                    Step::Append(_) => {
                        log.append(&records, 0).unwrap();
                    }
                    Step::Publish(_) => {
                        let held = hold(&log, &records, 0);
                        log.sync_now().unwrap();
                        log.publish(held);
                    }
                    _ => {
                        let held = hold(&log, &records, 0);
                        log.sync_now().unwrap();
                        log.undo(held).unwrap();
                        ts += n as i64;
                        continue;
                    }
                }
                model.extend((0..n as i64).map(|i| (base + i, ts + i)));
                ts += n as i64;
                prop_assert_eq!(log.log_end_offset(), model.len() as i64);
            }
            prop_assert_eq!(visible(&log), model.clone());
        }
        let log = PartitionLog::open(dir.path(), config).unwrap();
        prop_assert_eq!(visible(&log), model);
    }
}
