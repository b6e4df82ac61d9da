//! Sparse per-segment indexes: the offset index (relative offset -> file position) and the time
//! index (max timestamp so far -> relative offset), their on-disk encoding and validation.
//!
//! On disk both are flat arrays of big-endian entries: `.index` holds `(u32 relative offset,
//! u32 position)`, `.timeindex` holds `(i64 timestamp, u32 relative offset)`. Entries always
//! point at batch starts and are strictly increasing in both fields. A time index entry
//! `(T, O)` means every batch whose base offset is `<= base + O` has timestamps `<= T`.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Bytes per offset index entry.
pub(crate) const OFFSET_ENTRY_SIZE: usize = 8;
/// Bytes per time index entry.
pub(crate) const TIME_ENTRY_SIZE: usize = 12;

/// Sparse map from relative offset to the file position of the batch with that base offset.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct OffsetIndex {
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    /// Adds an entry if it is strictly after the last one.
    pub(crate) fn push(&mut self, rel_offset: u32, position: u32) {
        match self.entries.last() {
            Some(&(o, p)) if o >= rel_offset || p >= position => {}
            _ => self.entries.push((rel_offset, position)),
        }
    }

    /// Position of the last indexed batch whose base is `<= rel_offset` (0 if none): scanning
    /// forward from there finds the batch containing `rel_offset`.
    pub(crate) fn lookup(&self, rel_offset: u32) -> u32 {
        let idx = self.entries.partition_point(|&(o, _)| o <= rel_offset);
        if idx == 0 {
            0
        } else {
            self.entries[idx - 1].1
        }
    }

    pub(crate) fn entries(&self) -> &[(u32, u32)] {
        &self.entries
    }

    /// Keeps only the first `len` entries (undoing an append, see `Segment::rewind`).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_ENTRY_SIZE);
        for &(o, p) in &self.entries {
            out.extend_from_slice(&o.to_be_bytes());
            out.extend_from_slice(&p.to_be_bytes());
        }
        out
    }

    /// Decodes and validates an index file: whole entries, strictly increasing, positions below
    /// `file_size`.
    pub(crate) fn decode(bytes: &[u8], file_size: u64) -> Result<OffsetIndex, String> {
        if !bytes.chunks_exact(OFFSET_ENTRY_SIZE).remainder().is_empty() {
            return Err(format!(
                "size {} is not a multiple of {OFFSET_ENTRY_SIZE}",
                bytes.len()
            ));
        }
        let mut entries: Vec<(u32, u32)> = Vec::with_capacity(bytes.len() / OFFSET_ENTRY_SIZE);
        for chunk in bytes.chunks_exact(OFFSET_ENTRY_SIZE) {
            let o = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let p = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            if u64::from(p) >= file_size {
                return Err(format!("position {p} beyond segment size {file_size}"));
            }
            if let Some(&(lo, lp)) = entries.last() {
                if o <= lo || p <= lp {
                    return Err(format!("entry ({o}, {p}) not after ({lo}, {lp})"));
                }
            }
            entries.push((o, p));
        }
        Ok(OffsetIndex { entries })
    }
}

/// Sparse map from "max timestamp so far" to relative offset.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TimeIndex {
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// Adds an entry if both fields move strictly forward.
    pub(crate) fn push(&mut self, timestamp: i64, rel_offset: u32) {
        match self.entries.last() {
            Some(&(t, o)) if t >= timestamp || o >= rel_offset => {}
            _ => self.entries.push((timestamp, rel_offset)),
        }
    }

    /// Relative offset of the last entry whose timestamp is `< ts`: no batch at or before it can
    /// hold a timestamp `>= ts`, so a search may start there. `None`: start at the segment start.
    pub(crate) fn lookup(&self, ts: i64) -> Option<u32> {
        let idx = self.entries.partition_point(|&(t, _)| t < ts);
        if idx == 0 {
            None
        } else {
            Some(self.entries[idx - 1].1)
        }
    }

    pub(crate) fn entries(&self) -> &[(i64, u32)] {
        &self.entries
    }

    /// Keeps only the first `len` entries (undoing an append, see `Segment::rewind`).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_ENTRY_SIZE);
        for &(t, o) in &self.entries {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&o.to_be_bytes());
        }
        out
    }

    /// Decodes and validates a time index file: whole entries, strictly increasing.
    pub(crate) fn decode(bytes: &[u8]) -> Result<TimeIndex, String> {
        if !bytes.chunks_exact(TIME_ENTRY_SIZE).remainder().is_empty() {
            return Err(format!(
                "size {} is not a multiple of {TIME_ENTRY_SIZE}",
                bytes.len()
            ));
        }
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(bytes.len() / TIME_ENTRY_SIZE);
        for chunk in bytes.chunks_exact(TIME_ENTRY_SIZE) {
            let mut t = [0u8; 8];
            t.copy_from_slice(&chunk[..8]);
            let t = i64::from_be_bytes(t);
            let o = u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
            if let Some(&(lt, lo)) = entries.last() {
                if t <= lt || o <= lo {
                    return Err(format!("entry ({t}, {o}) not after ({lt}, {lo})"));
                }
            }
            entries.push((t, o));
        }
        Ok(TimeIndex { entries })
    }
}

/// Writes `bytes` to `path` (replacing it). Index files are rebuildable, so no fsync.
pub(crate) fn write_index_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)
}

/// Reads an index file, `None` if it does not exist.
pub(crate) fn read_index_file(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_roundtrip_and_lookup() {
        let mut idx = OffsetIndex::default();
        idx.push(0, 0);
        idx.push(10, 500);
        idx.push(10, 600); // ignored
        idx.push(25, 1200);
        assert_eq!(idx.lookup(0), 0);
        assert_eq!(idx.lookup(9), 0);
        assert_eq!(idx.lookup(10), 500);
        assert_eq!(idx.lookup(24), 500);
        assert_eq!(idx.lookup(99), 1200);
        let back = OffsetIndex::decode(&idx.encode(), 2000).unwrap();
        assert_eq!(back, idx);
        assert!(OffsetIndex::decode(&idx.encode(), 1000).is_err());
        assert!(OffsetIndex::decode(&[0u8; 7], 1000).is_err());
        assert!(OffsetIndex::decode(&[0u8; 16], 1000).is_err());
    }

    #[test]
    fn time_index_roundtrip_and_lookup() {
        let mut idx = TimeIndex::default();
        idx.push(100, 0);
        idx.push(90, 5); // ignored: timestamp not increasing
        idx.push(200, 10);
        assert_eq!(idx.lookup(50), None);
        assert_eq!(idx.lookup(100), None);
        assert_eq!(idx.lookup(101), Some(0));
        assert_eq!(idx.lookup(1000), Some(10));
        let back = TimeIndex::decode(&idx.encode()).unwrap();
        assert_eq!(back, idx);
        assert!(TimeIndex::decode(&[0u8; 24]).is_err());
        assert!(TimeIndex::decode(&[0u8; 13]).is_err());
    }
}
