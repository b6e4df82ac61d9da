//! Behaviour of `TableStore`: change derivation, history and as-of lookups, compacted-read
//! ranges, tombstone purging, idempotent replay and reopening.

use bytes::Bytes;
use weir_storage::table::{parse_batch, Row, TableError, TableStore};

fn row(offset: i64, ts: i64, key: &str, value: Option<&str>) -> Row {
    Row {
        offset,
        timestamp: ts,
        key: Bytes::from(key.to_string()),
        value: value.map(|v| Bytes::from(v.to_string())),
        headers: vec![
            ("h".into(), Some(Bytes::from(format!("{offset}")))),
            ("h".into(), None),
        ],
    }
}

fn ops(
    changes: &[weir_storage::table::Change],
) -> Vec<(&'static str, i64, String, Option<String>)> {
    changes
        .iter()
        .map(|c| {
            (
                c.op.as_str(),
                c.source_offset,
                String::from_utf8_lossy(&c.key).into_owned(),
                c.value
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            )
        })
        .collect()
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn changes_follow_the_fluss_rules() {
    let dir = tempfile::tempdir().unwrap();
    let store = TableStore::open(dir.path()).unwrap();
    let changes = store
        .apply(&[
            row(0, 10, "a", Some("1")),
            row(1, 11, "a", Some("2")),
            row(2, 12, "a", Some("2")), // unchanged: nothing
            row(3, 13, "b", None),      // delete of a missing key: nothing
            row(4, 14, "a", None),
            row(5, 15, "a", Some("3")),
        ])
        .unwrap();
    assert_eq!(
        ops(&changes),
        vec![
            ("+I", 0, "a".into(), some("1")),
            ("-U", 1, "a".into(), some("1")),
            ("+U", 1, "a".into(), some("2")),
            ("-D", 4, "a".into(), some("2")),
            ("+I", 5, "a".into(), some("3")),
        ]
    );
    assert_eq!(store.applied_offset(), 5);
    assert_eq!(store.live_rows(), 1);
    let current = store.get(b"a").unwrap().unwrap();
    assert_eq!((current.offset, current.timestamp), (5, 15));
    assert_eq!(current.headers, row(5, 15, "a", Some("3")).headers);
    assert_eq!(store.get(b"b").unwrap(), None);
    assert_eq!(ops(&store.history(b"a").unwrap()), ops(&changes));
}

#[test]
fn as_of_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let store = TableStore::open(dir.path()).unwrap();
    store
        .apply(&[
            row(0, 100, "k", Some("v0")),
            row(1, 200, "x", Some("other")),
            row(2, 300, "k", Some("v1")),
            row(3, 400, "k", None),
            row(4, 500, "k", Some("v2")),
        ])
        .unwrap();
    let value = |r: Option<Row>| {
        r.and_then(|r| r.value)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    };
    assert_eq!(value(store.get_as_of_offset(b"k", 0).unwrap()), some("v0"));
    assert_eq!(value(store.get_as_of_offset(b"k", 1).unwrap()), some("v0"));
    assert_eq!(value(store.get_as_of_offset(b"k", 2).unwrap()), some("v1"));
    assert_eq!(value(store.get_as_of_offset(b"k", 3).unwrap()), None);
    assert_eq!(value(store.get_as_of_offset(b"k", 99).unwrap()), some("v2"));
    assert_eq!(store.get_as_of_offset(b"k", -1).unwrap(), None);
    assert_eq!(value(store.get_as_of_timestamp(b"k", 99).unwrap()), None);
    assert_eq!(
        value(store.get_as_of_timestamp(b"k", 299).unwrap()),
        some("v0")
    );
    assert_eq!(
        value(store.get_as_of_timestamp(b"k", 300).unwrap()),
        some("v1")
    );
    assert_eq!(value(store.get_as_of_timestamp(b"k", 450).unwrap()), None);
    // A key that is a prefix of another does not see its history.
    assert_eq!(store.get_as_of_offset(b"", 10).unwrap(), None);
    let row = store.get_as_of_offset(b"k", 2).unwrap().unwrap();
    assert_eq!((row.offset, row.timestamp), (2, 300));
}

#[test]
fn compacted_ranges_and_tombstone_purge() {
    let dir = tempfile::tempdir().unwrap();
    let store = TableStore::open(dir.path()).unwrap();
    store
        .apply(&[
            row(0, 1_000, "a", Some("1")),
            row(1, 1_000, "b", Some("1")),
            row(2, 2_000, "a", Some("2")),
            row(3, 3_000, "b", None),
            row(4, 4_000, "c", Some("1")),
        ])
        .unwrap();
    let offsets = |rows: Vec<Row>| rows.iter().map(|r| r.offset).collect::<Vec<_>>();
    assert_eq!(
        offsets(store.rows_between(0, 100, 100).unwrap()),
        vec![2, 3, 4]
    );
    assert_eq!(offsets(store.rows_between(3, 4, 100).unwrap()), vec![3]);
    assert_eq!(offsets(store.rows_between(0, 100, 2).unwrap()), vec![2, 3]);
    assert_eq!(store.purge_tombstones(3_000).unwrap(), 0);
    assert_eq!(store.purge_tombstones(3_001).unwrap(), 1);
    assert_eq!(
        offsets(store.rows_between(0, 100, 100).unwrap()),
        vec![2, 4]
    );
    // A key deleted then re-inserted keeps no tombstone behind.
    store
        .apply(&[row(5, 5_000, "c", None), row(6, 6_000, "c", Some("2"))])
        .unwrap();
    assert_eq!(store.purge_tombstones(i64::MAX).unwrap(), 0);
    assert_eq!(
        offsets(store.rows_between(0, 100, 100).unwrap()),
        vec![2, 6]
    );
    let rows = store.rows_between(6, 7, 10).unwrap();
    assert_eq!(rows[0], row(6, 6_000, "c", Some("2")));
}

#[test]
fn replays_are_idempotent_and_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = TableStore::open(dir.path()).unwrap();
        store.apply(&[row(0, 1, "a", Some("1"))]).unwrap();
        let prepared = store.prepare(&[row(1, 2, "a", Some("2"))]).unwrap();
        assert_eq!(prepared.changes().len(), 2);
        drop(prepared); // not committed
        assert_eq!(store.applied_offset(), 0);
        let again = store
            .apply(&[row(0, 1, "a", Some("1")), row(1, 2, "a", Some("2"))])
            .unwrap();
        assert_eq!(
            ops(&again),
            vec![
                ("-U", 1, "a".into(), some("1")),
                ("+U", 1, "a".into(), some("2"))
            ]
        );
        store.flush().unwrap();
        assert_eq!(store.durable_applied_offset(), 1);
    }
    let store = TableStore::open(dir.path()).unwrap();
    assert_eq!((store.applied_offset(), store.live_rows()), (1, 1));
    assert_eq!(
        store.get(b"a").unwrap().unwrap().value,
        Some(Bytes::from("2"))
    );
}

#[test]
fn batches_without_keys_are_refused() {
    let mut out = bytes::BytesMut::new();
    let mut keyless = row(0, 1, "a", Some("1")).to_log_record();
    keyless.key = None;
    let mut second = keyless.clone();
    second.offset = 3;
    keyless.offset = 1;
    let keyed = row(2, 1, "b", Some("1")).to_log_record();
    weir_protocol::records::encode_batch(
        &mut out,
        &[
            row(0, 1, "a", Some("1")).to_log_record(),
            keyless,
            keyed,
            second,
        ],
    );
    match parse_batch(&out) {
        Err(TableError::RefusedRecords { records }) => {
            let indexes: Vec<usize> = records.iter().map(|r| r.batch_index).collect();
            assert_eq!(indexes, vec![1, 3]);
            assert!(records.iter().all(|r| r.message.contains("require a key")));
        }
        other => panic!("expected refused records, got {other:?}"),
    }
}
