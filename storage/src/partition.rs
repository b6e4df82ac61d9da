//! [`PartitionLog`]: the append / read / flush API of one partition, and the locking that
//! lets produce, fetch and fsync proceed concurrently.
//!
//! All mutable state lives in [`Inner`] behind one `parking_lot::Mutex` (the "append lock").
//! Reads take it only to snapshot the segment (an `Arc<File>` plus its committed size) and do
//! their file I/O outside it; fsyncs run outside it too (see [`PartitionLog::flush_to`]).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;
use weir_protocol::record_batch::{self, BatchHeader, HEADER_SIZE};

use crate::config::{LogConfig, TimestampType};
use crate::durability::{DirtySet, Offline, PendingSync, SyncState};
use crate::error::StorageError;
use crate::hold::{HeldAppend, Hold};
use crate::producer_state::ProducerStateMap;
use crate::recovery::recover;
use crate::segment::{read_header_at, BatchLocation, Segment};
use crate::validate::{validate_request, ValidBatch};

/// Outcome of a successful [`PartitionLog::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// Offset of the first appended record (for a duplicate: of the original batch).
    pub base_offset: i64,
    /// Offset of the last appended record.
    pub last_offset: i64,
    /// The log-append time stamped on the batches, -1 unless LogAppendTime.
    pub log_append_time: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// The request was a retry of batches already in the log; nothing was written.
    pub duplicate: bool,
    /// Records written (0 for a duplicate).
    pub record_count: i64,
    /// Bytes written (0 for a duplicate).
    pub bytes: usize,
}

/// Limits a produce applies beyond the topic's configuration (broker-wide settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendLimits {
    /// Largest decompressed size of a batch (`batch.max.decompressed.bytes`).
    pub max_decompressed_bytes: usize,
    /// Producer ids at or above this were never handed out by InitProducerId; a batch
    /// carrying one is refused with UNKNOWN_PRODUCER_ID. `None`: no check.
    pub producer_id_limit: Option<i64>,
    /// `producer.id.expiration.ms`: producer state idle this long is forgotten.
    pub producer_id_expiration_ms: i64,
}

impl Default for AppendLimits {
    /// 64 MiB decompressed, no producer id check, Kafka's one-day expiration.
    fn default() -> AppendLimits {
        AppendLimits {
            max_decompressed_bytes: weir_protocol::records::DEFAULT_MAX_DECOMPRESSED_BYTES,
            producer_id_limit: None,
            producer_id_expiration_ms: 86_400_000,
        }
    }
}

/// The records of one produce request checked by [`PartitionLog::validate`], ready for
/// [`PartitionLog::append_validated`].
#[derive(Debug)]
pub struct ValidatedRequest {
    data: Vec<u8>,
    batches: Vec<ValidBatch>,
}

impl ValidatedRequest {
    /// The validated records (the batch as sent).
    pub fn records(&self) -> &[u8] {
        &self.data
    }
}

/// Outcome of a [`PartitionLog::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole record batches, as stored.
    pub records: Bytes,
    /// High watermark (= log end offset on a single node).
    pub high_watermark: i64,
    /// Log start offset.
    pub log_start_offset: i64,
}

/// The mutable state of a partition, guarded by the append lock.
#[derive(Debug)]
pub(crate) struct Inner {
    pub config: LogConfig,
    /// Ascending by base offset; never empty; the last one is the active segment.
    pub segments: Vec<Segment>,
    pub log_start: i64,
    pub log_end: i64,
    pub producers: ProducerStateMap,
    pub dirty: DirtySet,
    /// Records appended since the last fsync (for `flush.messages`).
    pub unflushed_messages: i64,
    /// When the last fsync ran (for `flush.ms`), `None` until the first maintenance tick.
    pub last_flush_ms: Option<i64>,
    /// An append written but not yet visible (see [`crate::hold`]).
    pub held: Option<Hold>,
}

impl Inner {
    pub(crate) fn active(&self) -> &Segment {
        // `segments` is never empty (recovery creates a segment, deletion keeps the active one).
        &self.segments[self.segments.len() - 1]
    }

    pub(crate) fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Closes the active segment (writing its index files) and starts a new one at log end.
    pub(crate) fn roll(&mut self, dir: &Path) -> Result<(), StorageError> {
        self.active().write_indexes(dir)?;
        let seg = Segment::create(dir, self.log_end)?;
        tracing::debug!(dir = %dir.display(), base = self.log_end, "rolled new segment");
        self.segments.push(seg);
        self.dirty.mark_dir();
        Ok(())
    }

    /// Index of the segment to read `offset` from: the one containing it, else the first one
    /// starting after it.
    pub(crate) fn segment_for(&self, offset: i64) -> Option<usize> {
        let idx = self.segments.partition_point(|s| s.base_offset <= offset);
        if idx > 0 && offset < self.segments[idx - 1].next_offset {
            return Some(idx - 1);
        }
        (idx < self.segments.len()).then_some(idx)
    }

    /// Takes the fsync work due, with the end it makes durable: only what readers may see
    /// (a held append is published durable by the first round after it is made visible).
    pub(crate) fn take_pending(&mut self, dir: &Path) -> (PendingSync, i64) {
        self.unflushed_messages = 0;
        (self.dirty.take(dir), self.visible_end())
    }
}

/// One partition's log: segments on disk plus offsets, indexes and producer state in memory.
/// `Send + Sync`; share it as `Arc<PartitionLog>`.
#[derive(Debug)]
pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) sync: SyncState,
    pub(crate) offline: Offline,
    pub(crate) end_tx: watch::Sender<i64>,
}

impl PartitionLog {
    /// Opens (creating if needed) the partition directory and recovers it.
    pub fn open(dir: &Path, config: LogConfig) -> Result<PartitionLog, StorageError> {
        let inner = recover(dir, config)?;
        let log_end = inner.log_end;
        // Whatever survived recovery is on disk; make sure it is durable before we say so.
        inner.active().file.sync_data()?;
        let (end_tx, _) = watch::channel(log_end);
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            inner: Mutex::new(inner),
            sync: SyncState::new(log_end),
            offline: Offline::default(),
            end_tx,
        })
    }

    /// Appends the batch of one produce request (see the crate docs for the exact rules) with
    /// the default [`AppendLimits`]. All-or-nothing; assigns offsets; does not fsync unless
    /// `write_caching` and `flush_messages` says so.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendResult, StorageError> {
        self.append_with(records, now_ms, &AppendLimits::default())
    }

    /// [`PartitionLog::append`] with explicit limits.
    pub fn append_with(
        &self,
        records: &[u8],
        now_ms: i64,
        limits: &AppendLimits,
    ) -> Result<AppendResult, StorageError> {
        let validated = self.validate(records, limits)?;
        self.append_checked(validated, now_ms, limits, false)
            .map(|(result, _)| result)
    }

    /// Appends record batches the broker built itself (a table's changelog): any number of
    /// batches in one write, with offsets assigned in order, held until published or undone
    /// (see [`crate::hold`]). They are trusted (CRC and records are the encoder's), so
    /// neither the one-batch rule nor `max.message.bytes` applies: the size of broker-derived
    /// data is the broker's concern.
    pub fn append_derived_held(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<HeldAppend, StorageError> {
        let batches = record_batch::split_batches(records).collect::<Result<Vec<_>, _>>()?;
        if batches.is_empty() {
            return Err(StorageError::InvalidRecord(
                "no record batches to append".into(),
            ));
        }
        let validated = ValidatedRequest {
            data: records.to_vec(),
            batches,
        };
        let (_, held) = self.append_checked(validated, now_ms, &AppendLimits::default(), true)?;
        held.ok_or_else(|| StorageError::InvalidRecord("derived batches carry no producer".into()))
    }

    /// Validates the records of one produce request for this partition (exactly one batch,
    /// size, CRC-32C, every record, the decompressed size) without writing anything; the
    /// result is written by [`PartitionLog::append_held`].
    pub fn validate(
        &self,
        records: &[u8],
        limits: &AppendLimits,
    ) -> Result<ValidatedRequest, StorageError> {
        let max_message_bytes = self.inner.lock().config.max_message_bytes;
        let batches = validate_request(records, max_message_bytes, limits.max_decompressed_bytes)?;
        Ok(ValidatedRequest {
            data: records.to_vec(),
            batches,
        })
    }

    /// Appends a request checked by [`PartitionLog::validate`] (the producer rules, offsets,
    /// the roll, the write) and holds it: nothing is visible until [`PartitionLog::publish`],
    /// and [`PartitionLog::undo`] takes it back (see [`crate::hold`]). A duplicate writes
    /// nothing and holds nothing.
    pub fn append_held(
        &self,
        validated: ValidatedRequest,
        now_ms: i64,
        limits: &AppendLimits,
    ) -> Result<(AppendResult, Option<HeldAppend>), StorageError> {
        self.append_checked(validated, now_ms, limits, true)
    }

    fn append_checked(
        &self,
        validated: ValidatedRequest,
        now_ms: i64,
        limits: &AppendLimits,
        hold: bool,
    ) -> Result<(AppendResult, Option<HeldAppend>), StorageError> {
        self.offline.check()?;
        let ValidatedRequest { mut data, batches } = validated;
        let ts_type = self.inner.lock().config.message_timestamp_type;
        // The LogAppendTime rewrite (CRC recompute) needs no lock.
        let mut headers: Vec<BatchHeader> = Vec::with_capacity(batches.len());
        let log_append_time = if ts_type == TimestampType::LogAppendTime {
            now_ms
        } else {
            -1
        };
        for (header, range) in &batches {
            let mut h = *header;
            if ts_type == TimestampType::LogAppendTime {
                record_batch::set_log_append_time(&mut data[range.clone()], now_ms)?;
                h = BatchHeader::parse(&data[range.clone()])?;
            }
            headers.push(h);
        }

        let mut inner = self.inner.lock();
        if inner.held.is_some() {
            return Err(StorageError::Io(std::io::Error::other(
                "an append is already held on this log",
            )));
        }
        // Assign offsets (tentatively: nothing is visible until the write succeeds).
        let base_offset = inner.log_end;
        let mut next = base_offset;
        for h in &mut headers {
            h.base_offset = next;
            next = h.last_offset() + 1;
        }
        let expired = inner
            .producers
            .maybe_expire(now_ms, limits.producer_id_expiration_ms);
        if expired > 0 {
            tracing::debug!(dir = %self.dir.display(), expired, "forgot idle producers");
        }
        let staged =
            match inner
                .producers
                .check_request(&headers, now_ms, limits.producer_id_limit)?
            {
                Ok(staged) => staged,
                Err(dup) => {
                    let result = AppendResult {
                        base_offset: dup.first_offset,
                        last_offset: dup.last_offset,
                        log_append_time: -1,
                        log_start_offset: inner.log_start,
                        duplicate: true,
                        record_count: 0,
                        bytes: 0,
                    };
                    return Ok((result, None));
                }
            };
        for ((_, range), h) in batches.iter().zip(&headers) {
            record_batch::set_base_offset(&mut data[range.clone()], h.base_offset);
        }

        let saved = hold.then(|| Hold {
            visible_end: base_offset,
            active_base: inner.active().base_offset,
            active: inner.active().mark(),
            producers: inner.producers.saved(staged.keys()),
        });
        // Roll first if the active segment would overflow or is too old.
        let config = inner.config.clone();
        let record_count = next - base_offset;
        {
            let active = inner.active();
            let new_size = active.size + data.len() as u64;
            let too_big = new_size > config.segment_bytes || new_size > u64::from(u32::MAX);
            let too_many = next - active.base_offset > i64::from(u32::MAX);
            let too_old = active
                .first_append_ms
                .is_some_and(|t| now_ms.saturating_sub(t) >= config.segment_ms);
            if !active.is_empty() && (too_big || too_many || too_old) {
                inner.roll(&self.dir)?;
            }
        }

        let locations: Vec<BatchLocation> = batches
            .iter()
            .zip(&headers)
            .map(|((_, range), h)| BatchLocation {
                position: range.start as u64,
                header: *h,
            })
            .collect();
        let active = inner.active_mut();
        active.append(&data, &locations, config.index_interval_bytes, now_ms)?;
        let (base, file) = (active.base_offset, Arc::clone(&active.file));
        inner.dirty.mark_file(base, &file);
        inner.log_end = next;
        inner.producers.commit(staged);
        inner.unflushed_messages = inner.unflushed_messages.saturating_add(record_count);
        let result = AppendResult {
            base_offset,
            last_offset: next - 1,
            log_append_time,
            log_start_offset: inner.log_start,
            duplicate: false,
            record_count,
            bytes: data.len(),
        };
        if let Some(saved) = saved {
            inner.held = Some(saved);
            return Ok((result, Some(HeldAppend { end: next })));
        }
        let flush_now = config.write_caching && inner.unflushed_messages >= config.flush_messages;
        let pending = flush_now.then(|| inner.take_pending(&self.dir));
        if flush_now {
            inner.last_flush_ms = Some(now_ms);
        }
        drop(inner);
        self.end_tx.send_replace(next);
        if let Some((pending, end)) = pending {
            self.run_sync_blocking(pending, end)?;
        }
        Ok((result, None))
    }

    /// Fsyncs `pending` on this thread and publishes `end` as durable; a failure takes the
    /// log offline (never retried, see [`Offline`]).
    pub(crate) fn run_sync_blocking(
        &self,
        pending: PendingSync,
        end: i64,
    ) -> Result<(), StorageError> {
        self.offline.check()?;
        match pending.run() {
            Ok(()) => {
                self.sync.publish(end);
                Ok(())
            }
            Err(e) => Err(self.offline.fail(&self.dir, "fsync", &e)),
        }
    }

    /// Fsyncs everything appended so far and publishes it as durable, on this thread. Blocking
    /// (it takes the group-commit lock, so it never publishes past a round still running):
    /// call it from a blocking thread, never from an async task.
    pub fn sync_now(&self) -> Result<(), StorageError> {
        let _round = self.sync.lock.blocking_lock();
        let (pending, end) = self.inner.lock().take_pending(&self.dir);
        if pending.is_empty() {
            self.offline.check()?;
            self.sync.publish(end);
            return Ok(());
        }
        self.run_sync_blocking(pending, end)
    }

    /// Why the log is offline (a failed fsync), if it is.
    pub fn offline_reason(&self) -> Option<String> {
        self.offline.reason()
    }

    /// Waits until everything up to and including `offset` is fsync'ed. Concurrent callers
    /// share one fsync (group commit); the append lock is never held across the fsync.
    pub async fn flush_to(&self, offset: i64) -> Result<(), StorageError> {
        if self.sync.is_durable(offset) {
            return Ok(());
        }
        let _guard = self.sync.lock.lock().await;
        if self.sync.is_durable(offset) {
            return Ok(());
        }
        self.offline.check()?;
        let (pending, end) = self.inner.lock().take_pending(&self.dir);
        if pending.is_empty() {
            self.sync.publish(end);
            return Ok(());
        }
        let joined = tokio::task::spawn_blocking(move || pending.run()).await;
        match joined {
            Ok(Ok(())) => {
                self.sync.publish(end);
                Ok(())
            }
            Ok(Err(e)) => Err(self.offline.fail(&self.dir, "fsync", &e)),
            Err(e) => {
                let e = std::io::Error::other(format!("fsync task failed: {e}"));
                Err(self.offline.fail(&self.dir, "fsync", &e))
            }
        }
    }

    /// Whole batches starting with the one containing `offset`, up to `max_bytes` in total but
    /// always at least one batch when there is one.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        self.offline.check()?;
        let (file, start, limit, high_watermark, log_start_offset) = {
            let inner = self.inner.lock();
            let (log_start, log_end) = (inner.log_start, inner.visible_end());
            if offset < log_start || offset > log_end {
                return Err(StorageError::OffsetOutOfRange {
                    requested: offset,
                    log_start,
                    log_end,
                });
            }
            let empty = ReadResult {
                records: Bytes::new(),
                high_watermark: log_end,
                log_start_offset: log_start,
            };
            if offset == log_end {
                return Ok(empty);
            }
            let Some(i) = inner.segment_for(offset) else {
                return Ok(empty);
            };
            let seg = &inner.segments[i];
            let start = if offset >= seg.base_offset {
                u64::from(seg.offset_index.lookup(seg.relative(offset)))
            } else {
                0
            };
            let (visible_size, _) = inner.visible_extent(seg);
            (
                Arc::clone(&seg.file),
                start,
                visible_size,
                log_end,
                log_start,
            )
        };
        // File I/O outside the lock: [start, limit) only holds whole, committed batches.
        let mut pos = start;
        let first = loop {
            if pos >= limit {
                return Ok(ReadResult {
                    records: Bytes::new(),
                    high_watermark,
                    log_start_offset,
                });
            }
            let h = read_header_at(&file, pos, limit)?;
            if h.last_offset() >= offset {
                break h;
            }
            pos += h.total_size() as u64;
        };
        let available = limit - pos;
        let want = (first.total_size() as u64)
            .max(max_bytes as u64)
            .min(available);
        let mut buf = vec![0u8; want as usize];
        file.read_exact_at(&mut buf, pos)?;
        // Keep whole batches only.
        let mut end = 0usize;
        while end + HEADER_SIZE <= buf.len() {
            let h = BatchHeader::parse(&buf[end..])?;
            if end + h.total_size() > buf.len() {
                break;
            }
            end += h.total_size();
        }
        buf.truncate(end);
        Ok(ReadResult {
            records: Bytes::from(buf),
            high_watermark,
            log_start_offset,
        })
    }

    /// The log start offset.
    pub fn log_start_offset(&self) -> i64 {
        self.inner.lock().log_start
    }

    /// The log end offset (= high watermark on a single node), without a held append.
    pub fn log_end_offset(&self) -> i64 {
        self.inner.lock().visible_end()
    }

    /// A watch channel carrying the log end offset, updated after every append.
    pub fn end_offset_watch(&self) -> watch::Receiver<i64> {
        self.end_tx.subscribe()
    }

    /// Replaces the configuration (takes effect for the next append / maintenance tick).
    pub fn set_config(&self, config: LogConfig) {
        self.inner.lock().config = config;
    }

    /// The current configuration.
    pub fn config(&self) -> LogConfig {
        self.inner.lock().config.clone()
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.inner.lock().segments.iter().map(|s| s.size).sum()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.inner.lock().segments.len()
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Clean shutdown: write the active segment's index files and fsync everything.
    pub fn close(&self) -> Result<(), StorageError> {
        let (pending, end) = {
            let mut inner = self.inner.lock();
            inner.active().write_indexes(&self.dir)?;
            let active = inner.active();
            let (base, file) = (active.base_offset, Arc::clone(&active.file));
            inner.dirty.mark_file(base, &file);
            inner.dirty.mark_dir();
            inner.take_pending(&self.dir)
        };
        self.run_sync_blocking(pending, end)
    }
}
