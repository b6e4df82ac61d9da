//! Read-only access to a partition's closed (rolled) segments, for tiering: which segments
//! exist, and their batches one at a time so a whole segment never has to sit in memory.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::error::StorageError;
use crate::partition::PartitionLog;
use crate::segment::read_header_at;

/// A closed segment as seen from outside the crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// First offset the segment can hold (its file name).
    pub base_offset: i64,
    /// Last offset + 1.
    pub next_offset: i64,
    /// Bytes of batches in the file.
    pub size_bytes: u64,
    /// Largest batch max timestamp, -1 when empty.
    pub max_timestamp: i64,
}

/// The batches of one closed segment, in file order, each as its raw bytes.
pub struct SegmentBatches {
    file: Arc<File>,
    position: u64,
    limit: u64,
}

impl Iterator for SegmentBatches {
    type Item = Result<Vec<u8>, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.limit {
            return None;
        }
        let mut read = || -> Result<Vec<u8>, StorageError> {
            let header = read_header_at(&self.file, self.position, self.limit)?;
            let size = header.total_size() as u64;
            if self.position + size > self.limit {
                return Err(StorageError::CorruptRecord(format!(
                    "batch at {} extends past the segment end {}",
                    self.position, self.limit
                )));
            }
            let mut buf = vec![0u8; header.total_size()];
            self.file.read_exact_at(&mut buf, self.position)?;
            self.position += size;
            Ok(buf)
        };
        let result = read();
        if result.is_err() {
            // Stop after an error: the position is unreliable.
            self.position = self.limit;
        }
        Some(result)
    }
}

impl PartitionLog {
    /// Every closed segment (all but the active one), oldest first.
    pub fn closed_segments(&self) -> Vec<SegmentInfo> {
        let inner = self.inner.lock();
        let last = inner.segments.len() - 1;
        inner.segments[..last]
            .iter()
            .map(|s| SegmentInfo {
                base_offset: s.base_offset,
                next_offset: s.next_offset,
                size_bytes: s.size,
                max_timestamp: s.max_timestamp,
            })
            .collect()
    }

    /// The batches of the closed segment starting at `base_offset`; `None` when no closed
    /// segment starts there (it was deleted, or it is the active one). The open file handle
    /// keeps the data readable even if retention deletes the segment meanwhile.
    pub fn closed_segment_batches(&self, base_offset: i64) -> Option<SegmentBatches> {
        let inner = self.inner.lock();
        let last = inner.segments.len() - 1;
        inner.segments[..last]
            .iter()
            .find(|s| s.base_offset == base_offset)
            .map(|s| SegmentBatches {
                file: Arc::clone(&s.file),
                position: 0,
                limit: s.size,
            })
    }
}
