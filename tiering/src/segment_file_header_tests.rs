//! Header keys that are not UTF-8: Kafka stores whatever bytes a producer sends as a header
//! key, so a tiered file must keep them (`raw_header_keys`) and rebuild them exactly.

use arrow_array::cast::AsArray;
use arrow_array::Array;

use super::*;

#[test]
fn non_utf8_header_keys_round_trip() {
    let utf8 = rec(5, 1, None, Some(b"v"), &[("hk", Some(b"x"))]);
    let mut raw = rec(6, 2, Some(b"k"), Some(b"w"), &[]);
    raw.headers = vec![
        (Bytes::from_static(b"a"), Some(Bytes::from_static(b"1"))),
        (Bytes::from_static(b"\xff\xfe"), None),
        (Bytes::from_static(b"a\xc3"), Some(Bytes::from_static(b"2"))),
    ];
    let batch = raw_batch(0, &fields(5, 1, 2), &[utf8, raw]);
    let (summary, file) = write(std::slice::from_ref(&batch), false, SMALL);
    assert_eq!(summary.record_count, 2);

    // Rebuilt exactly, raw keys included.
    let rebuilt = read_all(&file).unwrap();
    assert_eq!(rebuilt.len(), 1);
    assert_same_batch(&batch, &rebuilt[0]);

    // What an Arrow reader sees: `headers.key` with U+FFFD where the bytes were not UTF-8,
    // and `raw_header_keys` set only on the record that needs it.
    let reader = FileReader::try_new(Cursor::new(&file), None).unwrap();
    let chunks: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(chunks.len(), 1);
    let chunk = &chunks[0];
    let headers = chunk.column(schema::HEADERS).as_list::<i32>();
    let keys: Vec<&str> = headers
        .values()
        .as_struct()
        .column(0)
        .as_string::<i32>()
        .iter()
        .map(|k| k.unwrap())
        .collect();
    assert_eq!(keys, ["hk", "a", "\u{FFFD}\u{FFFD}", "a\u{FFFD}"]);
    let raw_keys = chunk.column(schema::RAW_HEADER_KEYS).as_list::<i32>();
    assert!(raw_keys.is_null(0));
    assert!(raw_keys.is_valid(1));
    let row = raw_keys.value(1);
    let row: Vec<&[u8]> = row.as_binary::<i32>().iter().map(|k| k.unwrap()).collect();
    assert_eq!(row, [&b"a"[..], b"\xff\xfe", b"a\xc3"]);
}

#[test]
fn raw_header_keys_must_match_the_headers() {
    let mut raw = rec(0, 2, None, Some(b"w"), &[]);
    raw.headers = vec![
        (Bytes::from_static(b"\xff"), None),
        (Bytes::from_static(b"b"), None),
    ];
    let batch = raw_batch(0, &fields(0, 0, 2), &[raw]);
    let (_, file) = write(&[batch], false, SMALL);
    let reader = FileReader::try_new(Cursor::new(&file), None).unwrap();
    let chunk = reader.map(|b| b.unwrap()).next().unwrap();
    // One raw key fewer than the row's two headers.
    let mut columns = chunk.columns().to_vec();
    let mut short =
        ListBuilder::new(BinaryBuilder::new()).with_field(schema::raw_header_key_field());
    short.values().append_value(b"\xff");
    short.append(true);
    columns[schema::RAW_HEADER_KEYS] = Arc::new(short.finish());
    let damaged = RecordBatch::try_new(chunk.schema(), columns).unwrap();
    let err = kafka_batches_from(&damaged, 0, usize::MAX).unwrap_err();
    assert!(
        matches!(&err, TieringError::Corrupt(why) if why.contains("1 raw header keys for 2 headers")),
        "{err}"
    );
}
