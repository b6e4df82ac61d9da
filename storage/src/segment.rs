//! One log segment: a `.log` file of concatenated v2 batches plus its in-memory sparse indexes,
//! file naming, positional reads of batch headers, and header/CRC scans of a whole file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_protocol::record_batch::{self, BatchHeader, HEADER_SIZE};

use crate::index::{write_index_file, OffsetIndex, TimeIndex};

/// Suffix of segment data files.
pub(crate) const LOG_SUFFIX: &str = "log";
/// Suffix of offset index files.
pub(crate) const INDEX_SUFFIX: &str = "index";
/// Suffix of time index files.
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `{dir}/{base:020}.{suffix}`.
pub(crate) fn segment_path(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}.{suffix}"))
}

/// Parses a segment file name `{base:020}.log` into its base offset.
pub(crate) fn parse_log_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// A batch's header and where it starts in its segment file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLocation {
    pub position: u64,
    pub header: BatchHeader,
}

/// A segment's state between two appends, for [`Segment::rewind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentMark {
    size: u64,
    next_offset: i64,
    max_timestamp: i64,
    max_timestamp_batch: i64,
    first_append_ms: Option<i64>,
    offset_entries: usize,
    time_entries: usize,
    bytes_since_index: u64,
}

impl SegmentMark {
    /// The state of an empty segment starting at `base`.
    pub(crate) fn empty(base: i64) -> SegmentMark {
        SegmentMark {
            size: 0,
            next_offset: base,
            max_timestamp: -1,
            max_timestamp_batch: base,
            first_append_ms: None,
            offset_entries: 0,
            time_entries: 0,
            bytes_since_index: 0,
        }
    }

    /// Bytes of the segment at the mark.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Largest batch timestamp at the mark (-1 when empty).
    pub(crate) fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    pub file: Arc<File>,
    pub path: PathBuf,
    /// Bytes of valid batches; readers never look past this.
    pub size: u64,
    /// Last offset + 1 (the base offset when empty).
    pub next_offset: i64,
    /// Largest batch max timestamp, -1 when empty.
    pub max_timestamp: i64,
    /// Base offset of the first batch holding `max_timestamp`.
    pub max_timestamp_batch: i64,
    /// When the first batch went in (drives `segment.ms`), `None` while empty.
    pub first_append_ms: Option<i64>,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    bytes_since_index: u64,
}

impl Segment {
    /// Creates a new, empty segment file (fails if it already exists with data).
    pub(crate) fn create(dir: &Path, base: i64) -> io::Result<Segment> {
        let path = segment_path(dir, base, LOG_SUFFIX);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(Segment::empty(base, Arc::new(file), path))
    }

    /// Opens an existing segment file for reading and appending.
    pub(crate) fn open_file(path: &Path) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).open(path)
    }

    pub(crate) fn empty(base: i64, file: Arc<File>, path: PathBuf) -> Segment {
        Segment {
            base_offset: base,
            file,
            path,
            size: 0,
            next_offset: base,
            max_timestamp: -1,
            max_timestamp_batch: base,
            first_append_ms: None,
            offset_index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            bytes_since_index: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Offset relative to the segment base (callers keep it within u32 by rolling).
    pub(crate) fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Updates size, offsets, timestamps and (every `interval` bytes) the sparse indexes for a
    /// batch that now sits at `position`.
    pub(crate) fn track_batch(&mut self, position: u64, header: &BatchHeader, interval: u32) {
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.max_timestamp_batch = header.base_offset;
        }
        if self.bytes_since_index >= u64::from(interval) {
            let rel = self.relative(header.base_offset);
            self.offset_index.push(rel, position as u32);
            self.time_index.push(self.max_timestamp, rel);
            self.bytes_since_index = 0;
        }
        let size = header.total_size() as u64;
        self.bytes_since_index += size;
        self.size = self.size.max(position + size);
        self.next_offset = header.last_offset() + 1;
    }

    /// Writes `data` (whole batches, offsets already assigned) at the end of the file and
    /// tracks each batch. On error the in-memory state is unchanged and the file is cut back.
    pub(crate) fn append(
        &mut self,
        data: &[u8],
        batches: &[BatchLocation],
        interval: u32,
        now_ms: i64,
    ) -> io::Result<()> {
        let start = self.size;
        if let Err(e) = self.file.write_all_at(data, start) {
            let _ = self.file.set_len(start);
            return Err(e);
        }
        if self.first_append_ms.is_none() {
            self.first_append_ms = Some(now_ms);
        }
        for b in batches {
            self.track_batch(start + b.position, &b.header, interval);
        }
        Ok(())
    }

    /// The state to [`rewind`](Segment::rewind) to, should the appends after now be undone.
    pub(crate) fn mark(&self) -> SegmentMark {
        SegmentMark {
            size: self.size,
            next_offset: self.next_offset,
            max_timestamp: self.max_timestamp,
            max_timestamp_batch: self.max_timestamp_batch,
            first_append_ms: self.first_append_ms,
            offset_entries: self.offset_index.entries().len(),
            time_entries: self.time_index.entries().len(),
            bytes_since_index: self.bytes_since_index,
        }
    }

    /// Undoes every append since `mark` was taken: the file is cut back to the mark's size and
    /// the in-memory state restored. On error the file's length is unknown and the caller must
    /// stop using the segment (the log goes offline).
    pub(crate) fn rewind(&mut self, mark: &SegmentMark) -> io::Result<()> {
        self.file.set_len(mark.size)?;
        self.size = mark.size;
        self.next_offset = mark.next_offset;
        self.max_timestamp = mark.max_timestamp;
        self.max_timestamp_batch = mark.max_timestamp_batch;
        self.first_append_ms = mark.first_append_ms;
        self.offset_index.truncate(mark.offset_entries);
        self.time_index.truncate(mark.time_entries);
        self.bytes_since_index = mark.bytes_since_index;
        Ok(())
    }

    /// The time index as it should be persisted: the sparse entries plus a final entry for the
    /// segment's max timestamp (so a loaded index knows the segment maximum).
    pub(crate) fn final_time_index(&self) -> TimeIndex {
        let mut t = self.time_index.clone();
        if !self.is_empty() {
            t.push(self.max_timestamp, self.relative(self.max_timestamp_batch));
        }
        t
    }

    /// Writes the `.index` and `.timeindex` files.
    pub(crate) fn write_indexes(&self, dir: &Path) -> io::Result<()> {
        write_index_file(
            &segment_path(dir, self.base_offset, crate::segment::INDEX_SUFFIX),
            &self.offset_index.encode(),
        )?;
        write_index_file(
            &segment_path(dir, self.base_offset, TIME_INDEX_SUFFIX),
            &self.final_time_index().encode(),
        )
    }

    /// Removes the segment's files (readers holding the `Arc<File>` keep reading).
    pub(crate) fn delete_files(&self, dir: &Path) -> io::Result<()> {
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            match fs::remove_file(segment_path(dir, self.base_offset, suffix)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// "Largest timestamp" for retention: the max record timestamp, or the file's mtime when
    /// no record carries a timestamp (as Kafka does).
    pub(crate) fn retention_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            return self.max_timestamp;
        }
        self.file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(-1)
    }
}

/// Reads and parses the header of the batch at `position`, which must lie below `limit`
/// (the segment size known to hold whole batches).
pub(crate) fn read_header_at(file: &File, position: u64, limit: u64) -> io::Result<BatchHeader> {
    if position + HEADER_SIZE as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("batch header at {position} extends past segment end {limit}"),
        ));
    }
    let mut buf = [0u8; HEADER_SIZE];
    file.read_exact_at(&mut buf, position)?;
    BatchHeader::parse(&buf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("at {position}: {e}")))
}

/// Result of scanning a segment file from the start.
#[derive(Debug, Default)]
pub(crate) struct ScanResult {
    pub batches: Vec<BatchLocation>,
    /// Length of the valid prefix.
    pub valid_len: u64,
    /// Position and reason of the first invalid batch, if the file does not end cleanly.
    pub error: Option<(u64, String)>,
}

/// Scans a segment file batch by batch from the start. Every batch must have magic 2, a sane
/// length, fit in the file, and continue the offsets (`base_offset == previous last + 1`,
/// starting at `base`, `records_count == last_offset_delta + 1`). With `check_crc` the whole
/// batch is read and its CRC-32C checked; otherwise only headers are read.
pub(crate) fn scan_file(file: &File, base: i64, check_crc: bool) -> io::Result<ScanResult> {
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    reader.rewind()?;
    let mut out = ScanResult::default();
    let mut pos = 0u64;
    let mut expected = base;
    let mut header_buf = [0u8; HEADER_SIZE];
    let mut body = Vec::new();
    while pos < file_len {
        let fail = |reason: String| Some((pos, reason));
        if file_len - pos < HEADER_SIZE as u64 {
            out.error = fail(format!(
                "{} trailing bytes, less than a header",
                file_len - pos
            ));
            break;
        }
        reader.read_exact(&mut header_buf)?;
        let header = match BatchHeader::parse(&header_buf) {
            Ok(h) => h,
            Err(e) => {
                out.error = fail(e.to_string());
                break;
            }
        };
        let size = header.total_size() as u64;
        if pos + size > file_len {
            out.error = fail(format!(
                "torn batch: length {size} but only {} bytes left",
                file_len - pos
            ));
            break;
        }
        if header.base_offset != expected {
            out.error = fail(format!(
                "base offset {} where {expected} was expected",
                header.base_offset
            ));
            break;
        }
        if header.last_offset_delta < 0
            || i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1
        {
            out.error = fail(format!(
                "records_count {} inconsistent with last_offset_delta {}",
                header.records_count, header.last_offset_delta
            ));
            break;
        }
        let rest = size - HEADER_SIZE as u64;
        if check_crc {
            body.clear();
            body.extend_from_slice(&header_buf);
            body.resize(size as usize, 0);
            reader.read_exact(&mut body[HEADER_SIZE..])?;
            if let Err(e) = record_batch::verify_crc(&body) {
                out.error = fail(e.to_string());
                break;
            }
        } else {
            reader.seek_relative(rest as i64)?;
        }
        out.batches.push(BatchLocation {
            position: pos,
            header,
        });
        expected = header.last_offset() + 1;
        pos += size;
    }
    out.valid_len = pos;
    Ok(out)
}
