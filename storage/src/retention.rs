//! The log start offset and everything that moves it: DeleteRecords (persisted in a small
//! checkpoint file), retention by time and size, plus the periodic maintenance tick (time-based
//! rolling and `flush.ms`).

use std::fs;
use std::io;
use std::path::Path;

use tracing::{info, warn};

use crate::durability::write_atomic;
use crate::error::StorageError;
use crate::partition::{Inner, PartitionLog};

/// Name of the file holding the persisted log start offset.
pub(crate) const LOG_START_FILE: &str = "log-start-offset";

/// Reads the persisted log start offset; `None` when absent or unreadable (with a warning).
pub(crate) fn read_log_start(dir: &Path) -> Result<Option<i64>, StorageError> {
    let path = dir.join(LOG_START_FILE);
    match fs::read_to_string(&path) {
        Ok(s) => match s.trim().parse::<i64>() {
            Ok(v) if v >= 0 => Ok(Some(v)),
            _ => {
                warn!(file = %path.display(), "ignoring unreadable log start offset checkpoint");
                Ok(None)
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn write_log_start(dir: &Path, offset: i64) -> io::Result<()> {
    write_atomic(&dir.join(LOG_START_FILE), format!("{offset}\n").as_bytes())
}

impl Inner {
    /// Removes the first `count` segments (never the active one) and deletes their files.
    fn delete_prefix(&mut self, dir: &Path, count: usize) -> Result<usize, StorageError> {
        let count = count.min(self.segments.len().saturating_sub(1));
        let removed: Vec<_> = self.segments.drain(..count).collect();
        if let Some(first) = self.segments.first() {
            self.log_start = self.log_start.max(first.base_offset);
        }
        let mut first_err = None;
        for seg in &removed {
            info!(segment = %seg.path.display(), "deleting log segment");
            if let Err(e) = seg.delete_files(dir) {
                warn!(segment = %seg.path.display(), error = %e, "failed to delete segment files");
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(removed.len()),
        }
    }
}

impl PartitionLog {
    /// DeleteRecords: raises the log start offset to `offset` (-1 means the log end, as in
    /// Kafka), persists it, and deletes whole segments entirely below it. Returns the new log
    /// start offset (never lowered).
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, StorageError> {
        self.offline.check()?;
        let mut inner = self.inner.lock();
        let log_end = inner.visible_end();
        let offset = if offset == -1 { log_end } else { offset };
        if offset < 0 || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: inner.log_start,
                log_end,
            });
        }
        if offset <= inner.log_start {
            return Ok(inner.log_start);
        }
        write_log_start(&self.dir, offset)?;
        inner.log_start = offset;
        let last = inner.segments.len() - 1;
        let count = inner.segments[..last]
            .iter()
            .take_while(|s| s.next_offset <= offset)
            .count();
        inner.delete_prefix(&self.dir, count)?;
        Ok(inner.log_start)
    }

    /// Periodic housekeeping (about once a second): roll an old non-empty active segment,
    /// delete closed segments per `retention.ms` / `retention.bytes` / log start offset, and
    /// with write caching fsync when `flush.ms` has elapsed. Returns the segments deleted.
    pub fn maintain(&self, now_ms: i64) -> Result<usize, StorageError> {
        self.maintain_retaining(now_ms, i64::MAX)
    }

    /// [`PartitionLog::maintain`], but never deletes a segment holding offsets at or above
    /// `retain_from` (a table topic keeps the log its state has not yet made durable; a tiered
    /// log keeps what is not yet uploaded).
    pub fn maintain_retaining(&self, now_ms: i64, retain_from: i64) -> Result<usize, StorageError> {
        self.offline.check()?;
        let mut inner = self.inner.lock();
        let config = inner.config.clone();
        let active = inner.active();
        if !active.is_empty()
            && active
                .first_append_ms
                .is_some_and(|t| now_ms.saturating_sub(t) >= config.segment_ms)
        {
            inner.roll(&self.dir)?;
        }

        let (retention_ms, retention_bytes) = config.local_limits();
        let mut total: u64 = inner.segments.iter().map(|s| s.size).sum();
        let last = inner.segments.len() - 1;
        let mut count = 0;
        for seg in &inner.segments[..last] {
            let below_start = seg.next_offset <= inner.log_start;
            let expired = retention_ms >= 0
                && now_ms.saturating_sub(seg.retention_timestamp()) > retention_ms;
            let over_size =
                retention_bytes >= 0 && total.saturating_sub(seg.size) >= retention_bytes as u64;
            if seg.next_offset > retain_from || !(below_start || expired || over_size) {
                break;
            }
            total -= seg.size;
            count += 1;
        }
        let deleted = if count > 0 {
            inner.delete_prefix(&self.dir, count)?
        } else {
            0
        };

        let mut pending = None;
        if config.write_caching {
            match inner.last_flush_ms {
                None => inner.last_flush_ms = Some(now_ms),
                Some(t) if now_ms.saturating_sub(t) >= config.flush_ms => {
                    inner.last_flush_ms = Some(now_ms);
                    pending = Some(inner.take_pending(&self.dir));
                }
                Some(_) => {}
            }
        }
        drop(inner);
        if let Some((pending, end)) = pending {
            self.run_sync_blocking(pending, end)?;
        }
        Ok(deleted)
    }
}
