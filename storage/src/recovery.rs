//! Opening a partition directory: listing segments, scanning them (headers for closed
//! segments, full CRC-32C validation for the active one), truncating torn or corrupt tails,
//! loading or rebuilding the sparse indexes, and rebuilding idempotent-producer state.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

use crate::config::LogConfig;
use crate::durability::{create_dir_durable, sync_dir, DirtySet};
use crate::error::StorageError;
use crate::index::{read_index_file, write_index_file, OffsetIndex, TimeIndex};
use crate::partition::Inner;
use crate::producer_state::ProducerStateMap;
use crate::retention::read_log_start;
use crate::segment::{
    parse_log_name, scan_file, segment_path, BatchLocation, Segment, INDEX_SUFFIX, LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
};

/// Base offsets of the segment files in `dir`, ascending.
fn list_segments(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = parse_log_name(name) {
            bases.push(base);
        } else if name.ends_with(".tmp") {
            // An interrupted atomic write; the real file is intact.
            let _ = fs::remove_file(entry.path());
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// When `file` was created (its birth time, or its modification time where the file system
/// does not record births), in milliseconds since the epoch.
fn file_created_ms(file: &fs::File) -> Option<i64> {
    let meta = file.metadata().ok()?;
    let at = meta.created().or_else(|_| meta.modified()).ok()?;
    let since = at.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// Checks loaded indexes against the batches found by the scan: every entry must point at a
/// batch start with that base offset, and time entries must carry the running max timestamp.
fn indexes_match(
    base: i64,
    batches: &[BatchLocation],
    offsets: &OffsetIndex,
    times: &TimeIndex,
) -> Result<(), String> {
    let find = |rel: u32| {
        let target = base + i64::from(rel);
        batches
            .binary_search_by_key(&target, |b| b.header.base_offset)
            .map_err(|_| format!("relative offset {rel} is not a batch start"))
    };
    for &(rel, pos) in offsets.entries() {
        let i = find(rel)?;
        if batches[i].position != u64::from(pos) {
            return Err(format!(
                "offset entry ({rel}, {pos}) but the batch is at {}",
                batches[i].position
            ));
        }
    }
    let mut running = Vec::with_capacity(batches.len());
    let mut max = -1i64;
    for b in batches {
        max = max.max(b.header.max_timestamp);
        running.push(max);
    }
    for &(ts, rel) in times.entries() {
        let i = find(rel)?;
        if running[i] != ts {
            return Err(format!(
                "time entry ({ts}, {rel}) but the max timestamp there is {}",
                running[i]
            ));
        }
    }
    Ok(())
}

/// Loads and validates the index files of a closed segment; rebuilds (and rewrites) them from
/// the scan when missing or invalid.
fn load_indexes(
    dir: &Path,
    seg: &mut Segment,
    batches: &[BatchLocation],
) -> Result<(), StorageError> {
    let index_path = segment_path(dir, seg.base_offset, INDEX_SUFFIX);
    let time_path = segment_path(dir, seg.base_offset, TIME_INDEX_SUFFIX);
    let loaded = (|| -> Result<(OffsetIndex, TimeIndex), String> {
        let off = read_index_file(&index_path)
            .map_err(|e| e.to_string())?
            .ok_or("offset index missing")?;
        let time = read_index_file(&time_path)
            .map_err(|e| e.to_string())?
            .ok_or("time index missing")?;
        let off = OffsetIndex::decode(&off, seg.size.max(1))?;
        let time = TimeIndex::decode(&time)?;
        indexes_match(seg.base_offset, batches, &off, &time)?;
        Ok((off, time))
    })();
    match loaded {
        Ok((off, time)) => {
            // The persisted time index ends with the segment-maximum entry, which is a valid
            // entry for lookups too.
            seg.offset_index = off;
            seg.time_index = time;
        }
        Err(reason) => {
            warn!(
                segment = %seg.path.display(),
                reason = %reason,
                "rebuilding index files of segment"
            );
            write_index_file(&index_path, &seg.offset_index.encode())?;
            write_index_file(&time_path, &seg.final_time_index().encode())?;
        }
    }
    Ok(())
}

/// Opens (creating if needed) `dir` and recovers the partition state.
pub(crate) fn recover(dir: &Path, config: LogConfig) -> Result<Inner, StorageError> {
    create_dir_durable(dir)?;
    let persisted_start = read_log_start(dir)?;
    let bases = list_segments(dir)?;
    let mut producers = ProducerStateMap::default();
    let mut segments = Vec::with_capacity(bases.len().max(1));
    let count = bases.len();
    for (i, &base) in bases.iter().enumerate() {
        let active = i + 1 == count;
        let path = segment_path(dir, base, LOG_SUFFIX);
        let file = Segment::open_file(&path)?;
        let scan = scan_file(&file, base, active)?;
        if let Some((position, reason)) = &scan.error {
            warn!(
                segment = %path.display(),
                position = *position,
                reason = %reason,
                "truncating log segment at first torn or corrupt batch"
            );
            file.set_len(scan.valid_len)?;
            file.sync_all()?;
        }
        let mut seg = Segment::empty(base, Arc::new(file), path);
        for b in &scan.batches {
            seg.track_batch(b.position, &b.header, config.index_interval_bytes);
            producers.apply(&b.header);
        }
        seg.size = scan.valid_len;
        if !scan.batches.is_empty() {
            // Record timestamps are the producer's and may be far in the past, so
            // `segment.ms` counts from when the file was created (never from the future).
            let now = wall_clock_ms();
            seg.first_append_ms = Some(file_created_ms(&seg.file).unwrap_or(now).min(now));
        }
        if !active {
            load_indexes(dir, &mut seg, &scan.batches)?;
        }
        segments.push(seg);
    }
    if segments.is_empty() {
        let base = persisted_start.unwrap_or(0).max(0);
        segments.push(Segment::create(dir, base)?);
        sync_dir(dir)?;
    }
    let first_base = segments.first().map(|s| s.base_offset).unwrap_or(0);
    let log_end = segments.last().map(|s| s.next_offset).unwrap_or(0);
    let log_start = persisted_start
        .unwrap_or(first_base)
        .max(first_base)
        .min(log_end);
    info!(
        dir = %dir.display(),
        segments = segments.len(),
        log_start,
        log_end,
        "opened partition log"
    );
    Ok(Inner {
        config,
        segments,
        log_start,
        log_end,
        producers,
        dirty: DirtySet::default(),
        unflushed_messages: 0,
        last_flush_ms: None,
        held: None,
    })
}
