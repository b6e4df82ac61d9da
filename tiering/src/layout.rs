//! Reading a tiered segment file with ranged reads.
//!
//! An Arrow IPC file ends with its footer (a flatbuffer), the footer's length (i32 LE) and
//! `ARROW1`: the last [`TRAILER_LEN`] bytes. A reader fetches the tail of the file (say
//! [`DEFAULT_TAIL_READ`] bytes, or exactly `TRAILER_LEN` then [`footer_len`] more), builds a
//! [`FileLayout`] from the footer alone, picks a chunk with
//! [`FileLayout::chunk_for_offset`] or [`FileLayout::first_chunk_with_timestamp`], fetches
//! that chunk's [`ChunkLocation::range`] and decodes it with [`FileLayout::decode_chunk`].
//!
//! Everything read is validated (lengths, ranges, the chunk index JSON, each block's
//! CRC-32C and IPC message) so a damaged file gives [`TieringError::Corrupt`], not a panic
//! and not different records.

use std::ops::Range;
use std::panic::AssertUnwindSafe;

use arrow_array::{Array, Int64Array, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::reader::{read_footer_length, FileDecoder};
use arrow_ipc::{Block, MessageHeader, MetadataVersion};
use std::sync::Arc;

use arrow_schema::{DataType, Schema, SchemaRef};
use bytes::Bytes;

use crate::error::{Result, TieringError};
use crate::schema;
use crate::segment_file::{ChunkMeta, FORMAT_VERSION, META_CHUNKS, META_FORMAT_VERSION};

/// Bytes at the very end of an Arrow IPC file: footer length (i32 LE) + `ARROW1`.
pub const TRAILER_LEN: usize = 10;

/// A tail read that holds the whole footer of most segment files in one request (a footer
/// takes about 1 KiB plus ~100 bytes per chunk).
pub const DEFAULT_TAIL_READ: usize = 64 * 1024;

/// Declared uncompressed sizes of one chunk's buffers above this are treated as corrupt
/// (the writer's chunks hold at most about 1 GiB of payload).
pub const MAX_DECODED_CHUNK_BYTES: u64 = 4 << 30;

/// Length of the footer flatbuffer, from the last [`TRAILER_LEN`] bytes of `tail` (which
/// must end where the file ends). The footer occupies the `footer_len` bytes just before
/// the trailer.
pub fn footer_len(tail: &[u8]) -> Result<usize> {
    let start = tail
        .len()
        .checked_sub(TRAILER_LEN)
        .ok_or(TieringError::TailTooShort {
            needed: TRAILER_LEN,
            got: tail.len(),
        })?;
    let mut trailer = [0u8; TRAILER_LEN];
    trailer.copy_from_slice(&tail[start..]);
    read_footer_length(trailer).map_err(|e| TieringError::corrupt(format!("bad trailer: {e}")))
}

/// Byte range of the footer in a file of `file_len` bytes whose footer is `footer_len` long.
pub fn footer_range(file_len: u64, footer_len: usize) -> Result<Range<u64>> {
    let end = file_len.checked_sub(TRAILER_LEN as u64);
    let start = end.and_then(|end| end.checked_sub(footer_len as u64));
    match (start, end) {
        (Some(start), Some(end)) if start >= 8 => Ok(start..end),
        _ => Err(TieringError::corrupt(format!(
            "a footer of {footer_len} bytes does not fit a file of {file_len} bytes"
        ))),
    }
}

/// Where one chunk (IPC record batch) is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkLocation {
    /// Base offset of the chunk's first Kafka batch.
    pub first_offset: i64,
    /// Last offset of the chunk's last Kafka batch (base + lastOffsetDelta).
    pub last_offset: i64,
    /// Largest data-record timestamp (control records excluded), -1 if none.
    pub max_timestamp: i64,
    /// Rows in the chunk.
    pub rows: u64,
    /// Byte range of the IPC block (message metadata + body) in the file.
    pub range: Range<u64>,
    /// CRC-32C of those bytes, checked before the block is decoded.
    pub crc32c: u32,
}

/// The chunks of a tiered segment file, from its footer.
#[derive(Debug, Clone)]
pub struct FileLayout {
    /// The file's schema ([`schema::log_schema`] or [`schema::changelog_schema`]).
    pub schema: SchemaRef,
    /// Whether the file is a table changelog (has the `op` column).
    pub changelog: bool,
    /// Chunks in file (and offset) order.
    pub chunks: Vec<ChunkLocation>,
    version: MetadataVersion,
    blocks: Vec<Block>,
}

impl FileLayout {
    /// Parses the footer flatbuffer (the `footer_len` bytes before the trailer, without the
    /// trailer): schema, block list and the `weir.*` metadata, and checks they agree.
    pub fn parse(footer_bytes: &[u8]) -> Result<FileLayout> {
        let footer = arrow_ipc::root_as_footer(footer_bytes)
            .map_err(|e| TieringError::corrupt(format!("unreadable footer: {e}")))?;
        let version = footer.version();
        let fb_schema = footer
            .schema()
            .ok_or_else(|| TieringError::corrupt("footer without a schema"))?;
        if !fb_schema.endianness().equals_to_target_endianness() {
            return Err(TieringError::corrupt("file has the wrong endianness"));
        }
        let file_schema = arrow_ipc::convert::try_fb_to_schema(fb_schema)
            .map_err(|e| TieringError::corrupt(format!("unreadable schema: {e}")))?;
        let changelog = schema::is_changelog_schema(&file_schema)
            .ok_or_else(|| TieringError::corrupt("not a tiered segment schema"))?;
        if footer.dictionaries().is_some_and(|d| !d.is_empty()) {
            return Err(TieringError::corrupt("unexpected dictionary blocks"));
        }

        let mut format_version = None;
        let mut chunk_index = None;
        for kv in footer.custom_metadata().into_iter().flatten() {
            match (kv.key(), kv.value()) {
                (Some(META_FORMAT_VERSION), Some(v)) => format_version = Some(v),
                (Some(META_CHUNKS), Some(v)) => chunk_index = Some(v),
                _ => {}
            }
        }
        match format_version {
            Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(TieringError::corrupt(format!(
                    "unsupported format version {other:?}"
                )))
            }
            None => return Err(TieringError::corrupt(format!("no {META_FORMAT_VERSION}"))),
        }
        let chunk_index =
            chunk_index.ok_or_else(|| TieringError::corrupt(format!("no {META_CHUNKS}")))?;
        let metas: Vec<ChunkMeta> = serde_json::from_str(chunk_index)
            .map_err(|e| TieringError::corrupt(format!("bad {META_CHUNKS}: {e}")))?;

        let blocks: Vec<Block> = footer
            .recordBatches()
            .into_iter()
            .flatten()
            .copied()
            .collect();
        if blocks.len() != metas.len() {
            return Err(TieringError::corrupt(format!(
                "{} record batches but {} chunk index entries",
                blocks.len(),
                metas.len()
            )));
        }
        let mut chunks = Vec::with_capacity(blocks.len());
        let mut previous: Option<(&ChunkMeta, u64)> = None;
        for (i, (block, meta)) in blocks.iter().zip(&metas).enumerate() {
            let range = block_range(block)
                .ok_or_else(|| TieringError::corrupt(format!("chunk {i}: bad block {block:?}")))?;
            if meta.rows == 0 || meta.first_offset > meta.last_offset {
                return Err(TieringError::corrupt(format!(
                    "chunk {i}: bad index entry {meta:?}"
                )));
            }
            if let Some((prev, prev_end)) = previous {
                if meta.first_offset <= prev.last_offset || range.start < prev_end {
                    return Err(TieringError::corrupt(format!(
                        "chunk {i} overlaps the one before"
                    )));
                }
            }
            previous = Some((meta, range.end));
            chunks.push(ChunkLocation {
                first_offset: meta.first_offset,
                last_offset: meta.last_offset,
                max_timestamp: meta.max_timestamp,
                rows: meta.rows,
                range,
                crc32c: meta.crc32c,
            });
        }
        Ok(FileLayout {
            // The file's own schema: a typed file has its value struct's fields.
            schema: Arc::new(Schema::new(file_schema.fields().clone())),
            changelog,
            chunks,
            version,
            blocks,
        })
    }

    /// Parses the layout from the last bytes of a file of `file_len` bytes. If `tail` does
    /// not hold the whole footer, [`TieringError::TailTooShort`] says how many bytes from
    /// the end to read instead. Also checks every chunk lies before the footer.
    pub fn from_tail(tail: &[u8], file_len: u64) -> Result<FileLayout> {
        if tail.len() as u64 > file_len {
            return Err(TieringError::corrupt(format!(
                "{} tail bytes of a {file_len}-byte file",
                tail.len()
            )));
        }
        let len = footer_len(tail)?;
        let footer = footer_range(file_len, len)?;
        let needed = TRAILER_LEN + len;
        if tail.len() < needed {
            return Err(TieringError::TailTooShort {
                needed,
                got: tail.len(),
            });
        }
        let start = tail.len() - needed;
        let layout = FileLayout::parse(&tail[start..start + len])?;
        if let Some(last) = layout.chunks.last() {
            if last.range.end > footer.start {
                return Err(TieringError::corrupt(format!(
                    "chunk ends at byte {} but the footer starts at {}",
                    last.range.end, footer.start
                )));
            }
        }
        Ok(layout)
    }

    /// Base offset of the first chunk (None for a file without chunks).
    pub fn first_offset(&self) -> Option<i64> {
        self.chunks.first().map(|c| c.first_offset)
    }

    /// Last offset of the last chunk.
    pub fn last_offset(&self) -> Option<i64> {
        self.chunks.last().map(|c| c.last_offset)
    }

    /// The chunk whose offset range holds `offset`, else the first chunk after it; None
    /// when `offset` is past the last chunk.
    pub fn chunk_for_offset(&self, offset: i64) -> Option<usize> {
        let i = self.chunks.partition_point(|c| c.last_offset < offset);
        (i < self.chunks.len()).then_some(i)
    }

    /// The first chunk with a data record whose timestamp is `>= ts` (its
    /// [`crate::rebuild::first_at_or_after`] is then `Some`).
    pub fn first_chunk_with_timestamp(&self, ts: i64) -> Option<usize> {
        self.chunks
            .iter()
            .position(|c| c.max_timestamp >= ts && c.max_timestamp >= 0)
    }

    /// The first chunk holding the file's largest data-record timestamp (for ListOffsets
    /// MAX_TIMESTAMP with [`crate::rebuild::max_timestamp_record`]); None without data
    /// records.
    pub fn max_timestamp_chunk(&self) -> Option<usize> {
        let mut best: Option<(usize, i64)> = None;
        for (i, c) in self.chunks.iter().enumerate() {
            if c.max_timestamp >= 0 && best.is_none_or(|(_, ts)| c.max_timestamp > ts) {
                best = Some((i, c.max_timestamp));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Decodes chunk `index` from `block`, the bytes of its [`ChunkLocation::range`], after
    /// checking their length and CRC-32C.
    pub fn decode_chunk(&self, index: usize, block: Bytes) -> Result<RecordBatch> {
        let chunk = self.sized_chunk(index, &block)?;
        let crc = crc32c::crc32c(&block);
        if crc != chunk.crc32c {
            return Err(TieringError::corrupt(format!(
                "chunk {index}: CRC-32C {crc:#010x}, the index says {:#010x}",
                chunk.crc32c
            )));
        }
        self.decode_block(index, chunk, block)
    }

    /// [`FileLayout::decode_chunk`] for a block that already passed it once (a cached one):
    /// the same decoding and checks, without recomputing the CRC-32C.
    pub fn decode_verified_chunk(&self, index: usize, block: Bytes) -> Result<RecordBatch> {
        let chunk = self.sized_chunk(index, &block)?;
        self.decode_block(index, chunk, block)
    }

    /// Chunk `index`, if `block` has its length.
    fn sized_chunk(&self, index: usize, block: &[u8]) -> Result<&ChunkLocation> {
        let count = self.chunks.len();
        let chunk = self
            .chunks
            .get(index)
            .filter(|_| index < self.blocks.len())
            .ok_or(TieringError::NoSuchChunk { index, count })?;
        let expected = chunk.range.end - chunk.range.start;
        if block.len() as u64 != expected {
            return Err(TieringError::corrupt(format!(
                "chunk {index}: got {} bytes, its block has {expected}",
                block.len()
            )));
        }
        Ok(chunk)
    }

    /// Decodes the IPC message of chunk `index` (its block has the right length) and checks
    /// the rows against the index.
    fn decode_block(
        &self,
        index: usize,
        chunk: &ChunkLocation,
        block: Bytes,
    ) -> Result<RecordBatch> {
        let fb_block = &self.blocks[index];
        let widths = buffer_widths(&self.schema);
        check_message(&block, fb_block, chunk.rows, &widths)
            .map_err(|why| TieringError::corrupt(format!("chunk {index}: {why}")))?;
        let decoder = FileDecoder::new(self.schema.clone(), self.version);
        let buffer = Buffer::from(block);
        // The checks above cover the malformed input known to make arrow's decoder panic
        // rather than fail; any other panic in it is still turned into an error.
        let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            decoder.read_record_batch(fb_block, &buffer)
        }))
        .map_err(|_| TieringError::corrupt(format!("chunk {index}: the IPC decoder panicked")))?;
        let batch = decoded
            .map_err(|e| TieringError::corrupt(format!("chunk {index}: {e}")))?
            .ok_or_else(|| TieringError::corrupt(format!("chunk {index}: no record batch")))?;
        if batch.num_rows() as u64 != chunk.rows {
            return Err(TieringError::corrupt(format!(
                "chunk {index}: {} rows, the index says {}",
                batch.num_rows(),
                chunk.rows
            )));
        }
        let offsets = batch
            .column(schema::OFFSET)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| TieringError::corrupt(format!("chunk {index}: bad offset column")))?;
        let within = |o: i64| o >= chunk.first_offset && o <= chunk.last_offset;
        if offsets.null_count() > 0 || !offsets.values().iter().all(|&o| within(o)) {
            return Err(TieringError::corrupt(format!(
                "chunk {index}: offsets outside {}..={}",
                chunk.first_offset, chunk.last_offset
            )));
        }
        Ok(batch)
    }
}

/// The byte range of a footer block, None if its numbers are impossible.
fn block_range(block: &Block) -> Option<Range<u64>> {
    let start = u64::try_from(block.offset()).ok()?;
    let meta = u64::try_from(block.metaDataLength()).ok()?;
    let body = u64::try_from(block.bodyLength()).ok()?;
    let end = start.checked_add(meta)?.checked_add(body)?;
    // After the 8-byte file magic; at least the 8-byte message prefix.
    (start >= 8 && meta >= 8).then_some(start..end)
}

/// Element width in bytes of each IPC buffer of `schema`, in message order (validity
/// bitmaps and boolean values count as 1). Only the types of the tiered schemas are known.
fn buffer_widths(schema: &Schema) -> Vec<usize> {
    fn walk(data_type: &DataType, out: &mut Vec<usize>) {
        out.push(1); // validity bitmap
        match data_type {
            DataType::Int64 | DataType::Timestamp(_, _) => out.push(8),
            DataType::Int32 | DataType::Float32 => out.push(4),
            DataType::Float64 => out.push(8),
            DataType::Int16 => out.push(2),
            DataType::Boolean => out.push(1),
            DataType::Binary | DataType::Utf8 => out.extend([4, 1]),
            DataType::List(item) => {
                out.push(4);
                walk(item.data_type(), out);
            }
            DataType::Struct(fields) => {
                for f in fields {
                    walk(f.data_type(), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for field in schema.fields() {
        walk(field.data_type(), &mut out);
    }
    out
}

/// Checks what arrow's decoder would otherwise trust (and might panic on): the message
/// prefix and flatbuffer, its body length, every buffer inside the body, the declared
/// sizes of compressed buffers, and that each buffer holds whole elements of its type
/// (`widths`, from [`buffer_widths`]).
fn check_message(
    block: &[u8],
    fb_block: &Block,
    rows: u64,
    widths: &[usize],
) -> Result<(), String> {
    let meta_len = usize::try_from(fb_block.metaDataLength()).map_err(|_| "bad metadata length")?;
    let body_len = usize::try_from(fb_block.bodyLength()).map_err(|_| "bad body length")?;
    let body = block
        .get(meta_len..)
        .ok_or("metadata longer than the block")?;
    if block.get(..4) != Some(&[0xff; 4][..]) {
        return Err("no IPC continuation marker".into());
    }
    let fb_len = block
        .get(4..8)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(i32::from_le_bytes)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= meta_len - 8)
        .ok_or("bad message length")?;
    let message = arrow_ipc::root_as_message(&block[8..8 + fb_len])
        .map_err(|e| format!("unreadable message: {e}"))?;
    if message.header_type() != MessageHeader::RecordBatch {
        return Err(format!("message is a {:?}", message.header_type()));
    }
    if usize::try_from(message.bodyLength()).ok() != Some(body_len) || body.len() != body_len {
        return Err("message body length disagrees with the footer".into());
    }
    let batch = message
        .header_as_record_batch()
        .ok_or("no record batch header")?;
    if u64::try_from(batch.length()).ok() != Some(rows) {
        return Err(format!("{} rows, the index says {rows}", batch.length()));
    }
    let compressed = batch.compression().is_some();
    let buffers = batch.buffers().ok_or("no buffer list")?;
    if buffers.len() != widths.len() {
        return Err(format!(
            "{} buffers for {} in the schema",
            buffers.len(),
            widths.len()
        ));
    }
    let mut declared: u64 = 0;
    for (buffer, &width) in buffers.iter().zip(widths) {
        let start = usize::try_from(buffer.offset()).map_err(|_| "negative buffer offset")?;
        let len = usize::try_from(buffer.length()).map_err(|_| "negative buffer length")?;
        let data = start
            .checked_add(len)
            .and_then(|end| body.get(start..end))
            .ok_or("buffer outside the message body")?;
        if compressed && len > 0 {
            let prefix = data
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(i64::from_le_bytes)
                .ok_or("compressed buffer without its length prefix")?;
            let plain = match prefix {
                -1 => (len - 8) as u64,
                n if n >= 0 => n as u64,
                n => return Err(format!("bad uncompressed length {n}")),
            };
            if plain % width as u64 != 0 {
                return Err(format!("a buffer of {plain} bytes for {width}-byte values"));
            }
            declared = declared.saturating_add(plain);
        } else if len % width != 0 {
            return Err(format!("a buffer of {len} bytes for {width}-byte values"));
        }
    }
    if declared > MAX_DECODED_CHUNK_BYTES {
        return Err(format!("declares {declared} uncompressed bytes"));
    }
    Ok(())
}
