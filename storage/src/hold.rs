//! Held appends: records written to the log but not yet visible, then published or undone.
//!
//! A table write must be all or nothing across the source log, the changelog and the state.
//! Its appends are therefore *held*: the bytes are in the segment file and the offsets are
//! taken, but readers, the high watermark, fsync publication and DeleteRecords see the log as
//! it was before. Once every part of the write succeeded the hold is published; if a later
//! part failed it is undone — file cut back, indexes and producer state restored — so nothing
//! the client was refused is ever read, and an idempotent retry is appended again rather than
//! answered "duplicate". A crash during a hold leaves records in the file that recovery keeps
//! (like any write whose answer was lost); they were never acknowledged.

use crate::error::StorageError;
use crate::partition::{Inner, PartitionLog};
use crate::producer_state::ProducerEntry;
use crate::segment::{Segment, SegmentMark};

/// What a held append changed, kept in the log until it is published or undone.
#[derive(Debug)]
pub(crate) struct Hold {
    /// The log end before the append: the end readers see while the hold lasts.
    pub visible_end: i64,
    /// Base offset of the active segment before the append (a roll may have followed).
    pub active_base: i64,
    /// That segment's state before the append.
    pub active: SegmentMark,
    /// The state of the producers the append changed, before it.
    pub producers: Vec<(i64, Option<ProducerEntry>)>,
}

/// An append written but not yet visible: pass it to [`PartitionLog::publish`] or
/// [`PartitionLog::undo`]. While it is outstanding the log refuses other appends.
#[derive(Debug)]
#[must_use = "a held append blocks the log until it is published or undone"]
pub struct HeldAppend {
    pub(crate) end: i64,
}

impl Inner {
    /// The end of what readers may see: the log end, or where it was before a held append.
    pub(crate) fn visible_end(&self) -> i64 {
        self.held.as_ref().map_or(self.log_end, |h| h.visible_end)
    }

    /// The size and largest timestamp of `seg` that readers may see: all of it, except for a
    /// segment a held append wrote to.
    pub(crate) fn visible_extent(&self, seg: &Segment) -> (u64, i64) {
        match &self.held {
            Some(h) if seg.base_offset == h.active_base => {
                (h.active.size(), h.active.max_timestamp())
            }
            Some(h) if seg.base_offset > h.active_base => (0, -1),
            _ => (seg.size, seg.max_timestamp),
        }
    }
}

impl PartitionLog {
    /// Makes a held append visible: readers, the high watermark and fsync publication see it
    /// from now on.
    pub fn publish(&self, held: HeldAppend) {
        let mut inner = self.inner.lock();
        if inner
            .held
            .as_ref()
            .is_some_and(|_| inner.log_end == held.end)
        {
            inner.held = None;
        }
        let end = inner.log_end;
        drop(inner);
        self.end_tx.send_replace(end);
    }

    /// Undoes a held append: the segment file is cut back, the indexes, the log end and the
    /// producers' state restored. If the file cannot be cut back the log goes offline (its
    /// length on disk is unknown); a restart recovers it from what is really there.
    pub fn undo(&self, held: HeldAppend) -> Result<(), StorageError> {
        self.offline.check()?;
        let mut inner = self.inner.lock();
        let Some(hold) = inner.held.take() else {
            return Ok(());
        };
        debug_assert_eq!(inner.log_end, held.end);
        let last = inner.segments.len() - 1;
        let seg = &mut inner.segments[last];
        let mark = if seg.base_offset == hold.active_base {
            hold.active
        } else {
            // The append rolled first: the new segment holds nothing but held records.
            SegmentMark::empty(seg.base_offset)
        };
        let (base, file) = (seg.base_offset, std::sync::Arc::clone(&seg.file));
        if let Err(e) = seg.rewind(&mark) {
            drop(inner);
            return Err(self
                .offline
                .fail(&self.dir, "cutting back a refused append", &e));
        }
        inner.dirty.mark_file(base, &file);
        inner.log_end = hold.visible_end;
        inner.producers.restore(hold.producers);
        tracing::warn!(dir = %self.dir.display(), from = hold.visible_end, to = held.end, "undid an append whose write could not complete: its records were never visible");
        Ok(())
    }
}
