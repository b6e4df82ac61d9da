//! Tests of what must be refused: segments that cannot be tiered, and damaged tails, chunks
//! and footer metadata, which must be errors and never panics.

use super::*;

#[test]
fn bad_segments_are_errors() {
    let batches = fixture();
    let writer = || SegmentFileWriter::with_limits(Vec::new(), false, SMALL).unwrap();

    let mut bad = batches[1].clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let err = writer().push_batch(&bad).unwrap_err();
    assert!(
        matches!(err, TieringError::Record { base_offset: 3, .. }),
        "{err}"
    );

    let mut w = writer();
    assert!(matches!(
        w.push_batch(&batches[0][..30]),
        Err(TieringError::Record { .. })
    ));
    let two = [batches[0].clone(), batches[1].clone()].concat();
    assert!(matches!(
        w.push_batch(&two),
        Err(TieringError::Untierable(_))
    ));
    assert!(matches!(
        w.push_batches(&two[..two.len() - 1]),
        Err(TieringError::Record { .. })
    ));

    let mut w = writer();
    w.push_batch(&batches[1]).unwrap();
    assert!(matches!(
        w.push_batch(&batches[0]),
        Err(TieringError::Untierable(_))
    ));
    assert!(matches!(
        w.push_batch(&batches[1]),
        Err(TieringError::Untierable(_))
    ));

    let empty = raw_batch(0, &fields(50, 0, 1), &[]);
    assert!(matches!(
        writer().push_batch(&empty),
        Err(TieringError::Untierable(_))
    ));
    // A record outside its batch's offset range.
    let outside = raw_batch(0, &fields(50, 0, 1), &[rec(52, 1, None, None, &[])]);
    assert!(matches!(
        writer().push_batch(&outside),
        Err(TieringError::Untierable(_))
    ));

    assert!(matches!(writer().finish(), Err(TieringError::EmptySegment)));
}

#[test]
fn damaged_tails_are_errors() {
    let (_, file) = write(&fixture(), false, SMALL);
    let len = file.len() as u64;
    let flen = footer_len(&file).unwrap();
    assert!(matches!(
        FileLayout::from_tail(&file[file.len() - 5..], len),
        Err(TieringError::TailTooShort {
            needed: TRAILER_LEN,
            got: 5
        })
    ));
    let needed = TRAILER_LEN + flen;
    match FileLayout::from_tail(&file[file.len() - TRAILER_LEN..], len) {
        Err(TieringError::TailTooShort { needed: n, .. }) => assert_eq!(n, needed),
        other => panic!("{other:?}"),
    }
    // A generous tail works too.
    let layout = FileLayout::from_tail(&file[file.len() - needed - 100..], len).unwrap();
    assert_eq!(layout.chunks, layout_from_tail(&file).unwrap().chunks);
    // Tail longer than the file, file shorter than the footer.
    assert!(matches!(
        FileLayout::from_tail(&file, len - 1),
        Err(TieringError::Corrupt(_))
    ));
    assert!(matches!(
        FileLayout::from_tail(&file[file.len() - needed..], needed as u64),
        Err(TieringError::Corrupt(_))
    ));
    // Truncated file: the trailer is gone.
    assert!(layout_from_tail(&file[..file.len() - 3]).is_err());
    let mut bad = file.clone();
    *bad.last_mut().unwrap() = b'X';
    assert!(matches!(
        layout_from_tail(&bad),
        Err(TieringError::Corrupt(_))
    ));
    let mut bad = file.clone();
    let at = file.len() - TRAILER_LEN;
    bad[at..at + 4].copy_from_slice(&(-3i32).to_le_bytes());
    assert!(matches!(
        layout_from_tail(&bad),
        Err(TieringError::Corrupt(_))
    ));
    bad[at..at + 4].copy_from_slice(&i32::MAX.to_le_bytes());
    assert!(layout_from_tail(&bad).is_err());
    assert!(matches!(
        FileLayout::parse(b"not a footer"),
        Err(TieringError::Corrupt(_))
    ));
    assert!(matches!(
        FileLayout::parse(&[]),
        Err(TieringError::Corrupt(_))
    ));

    // Every byte of the footer flipped: an error or a layout whose reads fail cleanly.
    let footer_start = file.len() - needed;
    for at in footer_start..file.len() {
        for bit in [0x01, 0x80] {
            let mut bad = file.clone();
            bad[at] ^= bit;
            let _ = read_all(&bad);
        }
    }
}

#[test]
fn damaged_chunks_are_errors() {
    let (_, file) = write(&fixture(), false, SMALL);
    let layout = layout_from_tail(&file).unwrap();
    let chunk = |i: usize| {
        let c = &layout.chunks[i];
        Bytes::copy_from_slice(&file[c.range.start as usize..c.range.end as usize])
    };
    let count = layout.chunks.len();
    assert!(matches!(
        layout.decode_chunk(count, chunk(0)),
        Err(TieringError::NoSuchChunk { index, count: c }) if index == count && c == count
    ));
    let short = chunk(0).slice(..chunk(0).len() - 1);
    assert!(matches!(
        layout.decode_chunk(0, short),
        Err(TieringError::Corrupt(_))
    ));
    assert!(matches!(
        layout.decode_chunk(0, Bytes::new()),
        Err(TieringError::Corrupt(_))
    ));
    // Another chunk's block padded or cut to this chunk's length.
    let mut other = chunk(1).to_vec();
    other.resize(chunk(0).len(), 0);
    assert!(layout.decode_chunk(0, Bytes::from(other)).is_err());
    // Every byte flipped (three ways): always detected; past the CRC, decoding and
    // rebuilding never panic, with zstd buffers and with plain ones (where corrupt offsets
    // reach arrow's validation).
    fuzz_chunk(&layout, &chunk(0));
    let (plain, _) = plain_copy(&file);
    let layout = layout_from_tail(&plain).unwrap();
    let c = &layout.chunks[0];
    fuzz_chunk(
        &layout,
        &plain[c.range.start as usize..c.range.end as usize],
    );
}

/// Flips bits of chunk 0's `block`: the CRC-32C rejects every damaged block; and past the
/// CRC (damage a checksum cannot see), decoding and rebuilding still never panic.
fn fuzz_chunk(layout: &FileLayout, block: &[u8]) {
    for at in 0..block.len() {
        for bit in [0x01, 0x10, 0xff] {
            let mut bad = block.to_vec();
            bad[at] ^= bit;
            let bad = Bytes::from(bad);
            assert!(
                matches!(layout.decode_chunk(0, bad.clone()), Err(TieringError::Corrupt(why)) if why.contains("CRC-32C")),
                "byte {at} ^ {bit:#x} was not detected"
            );
            if let Ok(rows) = layout.decode_verified_chunk(0, bad) {
                let _ = kafka_batches_from(&rows, 0, usize::MAX);
                let _ = batch_records(&rows);
                let _ = first_at_or_after(&rows, 0);
                let _ = max_timestamp_record(&rows);
            }
        }
    }
}

/// `file` rewritten without compression, with the format version and its own chunk index
/// (the CRCs of the new blocks); also that index.
fn plain_copy(file: &[u8]) -> (Vec<u8>, String) {
    let reader = FileReader::try_new(Cursor::new(file), None).unwrap();
    let index = reader.custom_metadata().get(META_CHUNKS).unwrap().clone();
    let first = with_metadata(file, &[(META_FORMAT_VERSION, "1"), (META_CHUNKS, &index)]);
    let layout = layout_from_tail(&first).unwrap();
    let mut metas: Vec<ChunkMeta> = serde_json::from_str(&index).unwrap();
    for (meta, chunk) in metas.iter_mut().zip(&layout.chunks) {
        meta.crc32c = crc32c::crc32c(&first[chunk.range.start as usize..chunk.range.end as usize]);
    }
    let index = serde_json::to_string(&metas).unwrap();
    let plain = with_metadata(file, &[(META_FORMAT_VERSION, "1"), (META_CHUNKS, &index)]);
    (plain, index)
}

/// Rewrites `file`'s chunks (uncompressed) with a different footer metadata.
fn with_metadata(file: &[u8], metadata: &[(&str, &str)]) -> Vec<u8> {
    let reader = FileReader::try_new(Cursor::new(file), None).unwrap();
    let schema = reader.schema();
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut out, &schema).unwrap();
    for (k, v) in metadata {
        writer.write_metadata(*k, *v);
    }
    for batch in reader {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.finish().unwrap();
    drop(writer);
    out
}

#[test]
fn footer_metadata_is_validated() {
    let (_, file) = write(&fixture(), false, SMALL);
    // Rewritten without compression, with an index of the new blocks: still readable.
    let (same, index) = plain_copy(&file);
    assert_eq!(read_all(&same).unwrap(), read_all(&file).unwrap());
    // The original index does not match the new blocks.
    let original = FileReader::try_new(Cursor::new(&file), None).unwrap();
    let original = original.custom_metadata().get(META_CHUNKS).unwrap().clone();
    let stale = with_metadata(
        &file,
        &[(META_FORMAT_VERSION, "1"), (META_CHUNKS, &original)],
    );
    assert!(matches!(read_all(&stale), Err(TieringError::Corrupt(why)) if why.contains("CRC-32C")));

    let mut metas: Vec<ChunkMeta> = serde_json::from_str(&index).unwrap();
    let fewer = serde_json::to_string(&metas[1..]).unwrap();
    metas[1].first_offset = metas[0].last_offset;
    let overlapping = serde_json::to_string(&metas).unwrap();
    let mut metas: Vec<ChunkMeta> = serde_json::from_str(&index).unwrap();
    metas[0].rows += 1;
    let wrong_rows = serde_json::to_string(&metas).unwrap();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![(META_CHUNKS, &index)],
        vec![(META_FORMAT_VERSION, "2"), (META_CHUNKS, &index)],
        vec![(META_FORMAT_VERSION, "1")],
        vec![(META_FORMAT_VERSION, "1"), (META_CHUNKS, "{not json")],
        vec![(META_FORMAT_VERSION, "1"), (META_CHUNKS, "{}")],
        vec![(META_FORMAT_VERSION, "1"), (META_CHUNKS, &fewer)],
        vec![(META_FORMAT_VERSION, "1"), (META_CHUNKS, &overlapping)],
    ];
    for metadata in cases {
        let bad = with_metadata(&file, &metadata);
        assert!(
            matches!(layout_from_tail(&bad), Err(TieringError::Corrupt(_))),
            "{metadata:?}"
        );
    }
    let bad = with_metadata(
        &file,
        &[(META_FORMAT_VERSION, "1"), (META_CHUNKS, &wrong_rows)],
    );
    let layout = layout_from_tail(&bad).unwrap();
    let c = &layout.chunks[0];
    let block = Bytes::copy_from_slice(&bad[c.range.start as usize..c.range.end as usize]);
    assert!(matches!(
        layout.decode_chunk(0, block),
        Err(TieringError::Corrupt(_))
    ));

    // Some other Arrow file.
    let batch = RecordBatch::try_from_iter([(
        "offset",
        std::sync::Arc::new(arrow_array::Int64Array::from(vec![1i64])) as arrow_array::ArrayRef,
    )])
    .unwrap();
    let mut other = Vec::new();
    let mut w = arrow_ipc::writer::FileWriter::try_new(&mut other, &batch.schema()).unwrap();
    w.write_metadata(META_FORMAT_VERSION, "1");
    w.write_metadata(META_CHUNKS, "[]");
    w.write(&batch).unwrap();
    w.finish().unwrap();
    drop(w);
    assert!(matches!(
        layout_from_tail(&other),
        Err(TieringError::Corrupt(_))
    ));
}

#[test]
fn layout_is_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<FileLayout>();
}
