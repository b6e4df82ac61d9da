//! Timestamp lookups for ListOffsets: the first offset at or after a timestamp, and the record
//! with the largest timestamp. Indexes narrow the search to a batch; the batch is then decoded
//! (any codec, decompression capped) with [`weir_protocol::records::decode_batch_records`] for
//! the exact record. Stored bytes are untrusted: a batch that does not decode is a
//! [`StorageError::CorruptStored`] with a log line and `weir_storage_corrupt_batches_total`,
//! never a panic.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use weir_protocol::record_batch::BatchHeader;
use weir_protocol::records::decode_batch_records;

use crate::error::StorageError;
use crate::partition::PartitionLog;
use crate::segment::{read_header_at, Segment};

/// What a lookup needs of one segment, taken under the lock.
struct SegmentView {
    file: Arc<File>,
    size: u64,
    /// A batch start at or before the first batch that can match.
    start: u64,
    base: i64,
    max_timestamp: i64,
}

/// Logs and counts a stored batch that cannot be used, and returns its error.
fn corrupt_stored(file: &File, pos: u64, reason: String) -> StorageError {
    tracing::error!(file = ?file, pos, %reason, "stored batch is corrupt");
    metrics::counter!("weir_storage_corrupt_batches_total").increment(1);
    StorageError::CorruptStored(reason)
}

/// `(offset, timestamp)` of every record of the batch at `pos` (LogAppendTime batches report
/// the batch's append time for every record).
fn batch_records(
    file: &File,
    pos: u64,
    limit: u64,
    header: &BatchHeader,
) -> Result<Vec<(i64, i64)>, StorageError> {
    if pos.saturating_add(header.total_size() as u64) > limit {
        let reason = format!(
            "the batch at byte {pos} claims {} bytes, past the segment end {limit}",
            header.total_size()
        );
        return Err(corrupt_stored(file, pos, reason));
    }
    let mut buf = vec![0u8; header.total_size()];
    file.read_exact_at(&mut buf, pos)?;
    // decode_batch_records already reports LogAppendTime records at the batch's max timestamp.
    let (_, records) = decode_batch_records(&buf).map_err(|e| {
        corrupt_stored(
            file,
            pos,
            format!("cannot decode the batch at byte {pos}: {e}"),
        )
    })?;
    Ok(records.iter().map(|r| (r.offset, r.timestamp)).collect())
}

/// Position to start scanning `seg` for timestamps `>= ts` at offsets `>= log_start`.
fn start_position(seg: &Segment, ts: i64, log_start: i64) -> u64 {
    let by_time = seg
        .time_index
        .lookup(ts)
        .map(|rel| seg.offset_index.lookup(rel))
        .unwrap_or(0);
    let by_start = if log_start > seg.base_offset {
        seg.offset_index.lookup(seg.relative(log_start))
    } else {
        0
    };
    u64::from(by_time.max(by_start))
}

/// First record in `view` (scanning from `view.start`) with offset `>= log_start` and
/// timestamp `>= ts`.
fn first_at_or_after(
    view: &SegmentView,
    ts: i64,
    log_start: i64,
) -> Result<Option<(i64, i64)>, StorageError> {
    let mut pos = view.start;
    while pos < view.size {
        let h = read_header_at(&view.file, pos, view.size)?;
        if h.last_offset() >= log_start && h.max_timestamp >= ts {
            let found = batch_records(&view.file, pos, view.size, &h)?
                .into_iter()
                .find(|&(o, t)| o >= log_start && t >= ts);
            if found.is_some() {
                return Ok(found);
            }
        }
        pos += h.total_size() as u64;
    }
    Ok(None)
}

/// Largest timestamp among records `>= log_start` of a segment that starts below it.
fn straddling_max(view: &SegmentView, log_start: i64) -> Result<Option<i64>, StorageError> {
    let mut best: Option<i64> = None;
    let mut pos = view.start;
    while pos < view.size {
        let h = read_header_at(&view.file, pos, view.size)?;
        if h.last_offset() >= log_start {
            let m = if h.base_offset >= log_start {
                Some(h.max_timestamp)
            } else {
                batch_records(&view.file, pos, view.size, &h)?
                    .into_iter()
                    .filter(|&(o, _)| o >= log_start)
                    .map(|(_, t)| t)
                    .max()
            };
            if let Some(m) = m {
                best = Some(best.map_or(m, |b: i64| b.max(m)));
            }
        }
        pos += h.total_size() as u64;
    }
    Ok(best)
}

impl PartitionLog {
    /// ListOffsets by timestamp: the first record (by offset, `>= log_start`) whose timestamp
    /// is `>= ts`, as `(offset, timestamp)`; `None` if there is none.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        self.offline.check()?;
        let (views, log_start) = {
            let inner = self.inner.lock();
            let log_start = inner.log_start;
            let views: Vec<SegmentView> = inner
                .segments
                .iter()
                .filter(|s| !s.is_empty() && s.next_offset > log_start && s.max_timestamp >= ts)
                .map(|s| {
                    let (size, max_timestamp) = inner.visible_extent(s);
                    SegmentView {
                        file: Arc::clone(&s.file),
                        size,
                        start: start_position(s, ts, log_start),
                        base: s.base_offset,
                        max_timestamp,
                    }
                })
                .collect();
            (views, log_start)
        };
        for view in &views {
            if let Some(found) = first_at_or_after(view, ts, log_start)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP: `(offset, timestamp)` of the record with the largest
    /// timestamp (earliest offset on ties) among offsets `>= log_start`; `None` if empty.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, StorageError> {
        self.offline.check()?;
        let (views, log_start) = {
            let inner = self.inner.lock();
            let log_start = inner.log_start;
            let views: Vec<SegmentView> = inner
                .segments
                .iter()
                .filter(|s| !s.is_empty() && s.next_offset > log_start)
                .map(|s| {
                    let (size, max_timestamp) = inner.visible_extent(s);
                    SegmentView {
                        file: Arc::clone(&s.file),
                        size,
                        start: if s.base_offset < log_start {
                            start_position(s, i64::MIN, log_start)
                        } else {
                            start_position(s, max_timestamp, log_start)
                        },
                        base: s.base_offset,
                        max_timestamp,
                    }
                })
                .collect();
            (views, log_start)
        };
        let mut winner: Option<(usize, i64)> = None;
        for (i, view) in views.iter().enumerate() {
            let max = if view.base < log_start {
                straddling_max(view, log_start)?
            } else {
                Some(view.max_timestamp)
            };
            if let Some(m) = max {
                if winner.is_none_or(|(_, best)| m > best) {
                    winner = Some((i, m));
                }
            }
        }
        let Some((i, max)) = winner else {
            return Ok(None);
        };
        first_at_or_after(&views[i], max, log_start)
    }
}
