//! Writing a log segment as an Arrow IPC file.
//!
//! [`SegmentFileWriter`] takes the raw Kafka v2 batches of a closed segment, in offset order,
//! and writes one row per record (see [`crate::schema`]) to an Arrow IPC *file* (zstd-compressed
//! buffers). Rows are flushed as one Arrow record batch, a *chunk*, when about
//! [`ChunkLimits::max_bytes`] of key, value and header bytes or [`ChunkLimits::max_rows`] rows
//! are buffered, always at a Kafka batch boundary, so memory stays bounded by about one chunk
//! and every chunk can be fetched with one ranged read and turned back into whole Kafka
//! batches ([`crate::rebuild`]).
//!
//! The footer's custom metadata holds [`META_FORMAT_VERSION`] = [`FORMAT_VERSION`] and, under
//! [`META_CHUNKS`], the chunk index: a JSON array with one object per IPC record batch in file
//! order, `{"first_offset", "last_offset", "max_timestamp", "rows", "crc32c"}` ([`ChunkMeta`]).
//! [`crate::layout::FileLayout`] reads it back from the footer alone. The CRC-32C covers
//! the chunk's whole IPC block, so a reader detects any damage to the bytes it fetched
//! before it decodes them: zstd frames carry no checksum of their own, and a flipped bit
//! would otherwise decode to different data.

use std::io::Write;

use arrow_array::builder::{BinaryBuilder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{
    ArrayRef, BooleanArray, Int16Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StructArray, TimestampMillisecondArray,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_ipc::CompressionType;
use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use weir_protocol::record_batch::{split_batches, verify_crc, BatchHeader};
use weir_protocol::records::{decode_batch_records, BatchFields, LogRecord, RecordError};
use weir_typed::{ValueCodec, ValueSchema};

use crate::error::{Result, TieringError};
use crate::schema::{self, OP_HEADER};

/// Footer metadata key of the chunk index (JSON array of [`ChunkMeta`]).
pub const META_CHUNKS: &str = "weir.chunks";
/// Footer metadata key of the file format version.
pub const META_FORMAT_VERSION: &str = "weir.format.version";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// A single Kafka batch whose keys, values and headers exceed this many bytes cannot be
/// tiered: Arrow `binary` columns address at most 2 GiB per chunk.
pub const MAX_BATCH_PAYLOAD: usize = 1 << 30;

/// When the writer closes a chunk (checked at Kafka batch boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Key + value + header bytes of a chunk. A chunk closes before a batch that would take
    /// it past this, and as soon as it reaches it; a single larger batch is a chunk alone.
    /// At most [`MAX_BATCH_PAYLOAD`] (larger values are clamped).
    pub max_bytes: usize,
    /// Rows (records) of a chunk, with the same rule.
    pub max_rows: usize,
}

impl Default for ChunkLimits {
    /// 1 MiB or 16384 rows.
    fn default() -> ChunkLimits {
        ChunkLimits {
            max_bytes: 1 << 20,
            max_rows: 16_384,
        }
    }
}

/// One entry of the chunk index stored in the footer under [`META_CHUNKS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMeta {
    /// Base offset of the chunk's first Kafka batch.
    pub first_offset: i64,
    /// Last offset of the chunk's last Kafka batch (base + lastOffsetDelta), which may lie
    /// past its last record when compaction left a gap.
    pub last_offset: i64,
    /// Largest timestamp of the chunk's data records (control records excluded), as
    /// consumers see them; -1 if the chunk has only control records.
    pub max_timestamp: i64,
    /// Rows (records, control records included) in the chunk.
    pub rows: u64,
    /// CRC-32C (Castagnoli) of the chunk's IPC block: message metadata and body, exactly
    /// the bytes of [`crate::layout::ChunkLocation::range`].
    pub crc32c: u32,
}

/// What [`SegmentFileWriter::finish`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Base offset of the first Kafka batch.
    pub first_offset: i64,
    /// Last offset of the last Kafka batch (base + lastOffsetDelta).
    pub last_offset: i64,
    /// Records written, control records included.
    pub record_count: u64,
    /// Largest record timestamp as consumers see it, control records included.
    pub max_timestamp: i64,
    /// Arrow record batches (chunks) in the file.
    pub chunk_count: usize,
    /// Size of the whole file in bytes.
    pub bytes_written: u64,
}

/// Counts the bytes that reach the inner writer, and checksums those written since the
/// last [`CountingWriter::start_block`].
#[derive(Debug)]
struct CountingWriter<W> {
    inner: W,
    count: u64,
    block_crc: u32,
}

impl<W> CountingWriter<W> {
    fn new(inner: W) -> CountingWriter<W> {
        CountingWriter {
            inner,
            count: 0,
            block_crc: 0,
        }
    }

    /// Starts the checksum of a new block.
    fn start_block(&mut self) {
        self.block_crc = 0;
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        self.block_crc = crc32c::crc32c_append(self.block_crc, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The rows of the chunk being built.
struct ChunkBuilder {
    offsets: Vec<i64>,
    timestamps: Vec<i64>,
    keys: BinaryBuilder,
    values: BinaryBuilder,
    header_offsets: Vec<i32>,
    header_keys: StringBuilder,
    header_values: BinaryBuilder,
    batch_base_offset: Vec<i64>,
    batch_last_offset_delta: Vec<i32>,
    batch_max_timestamp: Vec<i64>,
    log_append_time: Vec<bool>,
    producer_id: Vec<i64>,
    producer_epoch: Vec<i16>,
    base_sequence: Vec<i32>,
    partition_leader_epoch: Vec<i32>,
    is_transactional: Vec<bool>,
    is_control: Vec<bool>,
    raw_header_keys: ListBuilder<BinaryBuilder>,
    ops: StringBuilder,
    /// Key + value + header bytes so far.
    bytes: usize,
    first_offset: i64,
    last_offset: i64,
    data_max_timestamp: Option<i64>,
}

impl ChunkBuilder {
    fn new() -> ChunkBuilder {
        ChunkBuilder {
            offsets: Vec::new(),
            timestamps: Vec::new(),
            keys: BinaryBuilder::new(),
            values: BinaryBuilder::new(),
            header_offsets: vec![0],
            header_keys: StringBuilder::new(),
            header_values: BinaryBuilder::new(),
            batch_base_offset: Vec::new(),
            batch_last_offset_delta: Vec::new(),
            batch_max_timestamp: Vec::new(),
            log_append_time: Vec::new(),
            producer_id: Vec::new(),
            producer_epoch: Vec::new(),
            base_sequence: Vec::new(),
            partition_leader_epoch: Vec::new(),
            is_transactional: Vec::new(),
            is_control: Vec::new(),
            raw_header_keys: ListBuilder::new(BinaryBuilder::new())
                .with_field(schema::raw_header_key_field()),
            ops: StringBuilder::new(),
            bytes: 0,
            first_offset: 0,
            last_offset: 0,
            data_max_timestamp: None,
        }
    }

    fn rows(&self) -> usize {
        self.offsets.len()
    }

    /// Appends the rows of one Kafka batch (already validated).
    fn push(
        &mut self,
        fields: &BatchFields,
        records: &[LogRecord],
        payload: usize,
        changelog: bool,
    ) -> Result<()> {
        if self.offsets.is_empty() {
            self.first_offset = fields.base_offset;
        }
        self.last_offset = fields.base_offset + i64::from(fields.last_offset_delta);
        self.bytes += payload;
        for r in records {
            self.offsets.push(r.offset);
            self.timestamps.push(r.timestamp);
            self.keys.append_option(r.key.as_deref());
            self.values.append_option(r.value.as_deref());
            let all_utf8 = r
                .headers
                .iter()
                .all(|(k, _)| std::str::from_utf8(k).is_ok());
            for (name, value) in &r.headers {
                self.header_keys.append_value(String::from_utf8_lossy(name));
                self.header_values.append_option(value.as_deref());
                if !all_utf8 {
                    self.raw_header_keys.values().append_value(name);
                }
            }
            self.raw_header_keys.append(!all_utf8);
            let end = self.header_offsets.last().copied().unwrap_or(0);
            let end = i32::try_from(r.headers.len())
                .ok()
                .and_then(|n| end.checked_add(n))
                .ok_or_else(|| TieringError::Untierable("too many headers in one chunk".into()))?;
            self.header_offsets.push(end);
            self.batch_base_offset.push(fields.base_offset);
            self.batch_last_offset_delta.push(fields.last_offset_delta);
            self.batch_max_timestamp.push(fields.max_timestamp);
            self.log_append_time.push(fields.log_append_time);
            self.producer_id.push(fields.producer_id);
            self.producer_epoch.push(fields.producer_epoch);
            self.base_sequence.push(fields.base_sequence);
            self.partition_leader_epoch
                .push(fields.partition_leader_epoch);
            self.is_transactional.push(fields.transactional);
            self.is_control.push(fields.control);
            if changelog {
                let op = r
                    .headers
                    .iter()
                    .find(|(name, _)| name == OP_HEADER.as_bytes())
                    .and_then(|(_, v)| v.as_deref())
                    .and_then(|v| std::str::from_utf8(v).ok());
                self.ops.append_option(op);
            }
            if !fields.control {
                let max = self
                    .data_max_timestamp
                    .map_or(r.timestamp, |m| m.max(r.timestamp));
                self.data_max_timestamp = Some(max);
            }
        }
        Ok(())
    }

    /// Builds the Arrow record batch and the index entry, and resets the builder.
    fn finish(
        &mut self,
        schema: &SchemaRef,
        changelog: bool,
        codec: Option<&ValueCodec>,
    ) -> Result<(RecordBatch, ChunkMeta)> {
        let header_offsets = std::mem::replace(&mut self.header_offsets, vec![0]);
        let header_struct = StructArray::try_new(
            schema::header_fields(),
            vec![
                Arc::new(self.header_keys.finish()) as ArrayRef,
                Arc::new(self.header_values.finish()) as ArrayRef,
            ],
            None,
        )?;
        // Offsets start at 0 and never decrease (checked_add of lengths in `push`).
        let headers = ListArray::try_new(
            schema::header_item_field(),
            OffsetBuffer::new(ScalarBuffer::from(header_offsets)),
            Arc::new(header_struct),
            None,
        )?;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(std::mem::take(&mut self.offsets))),
            Arc::new(TimestampMillisecondArray::from(std::mem::take(
                &mut self.timestamps,
            ))),
            Arc::new(self.keys.finish()),
            Arc::new(self.values.finish()),
            Arc::new(headers),
            Arc::new(Int64Array::from(std::mem::take(
                &mut self.batch_base_offset,
            ))),
            Arc::new(Int32Array::from(std::mem::take(
                &mut self.batch_last_offset_delta,
            ))),
            Arc::new(Int64Array::from(std::mem::take(
                &mut self.batch_max_timestamp,
            ))),
            Arc::new(BooleanArray::from(std::mem::take(
                &mut self.log_append_time,
            ))),
            Arc::new(Int64Array::from(std::mem::take(&mut self.producer_id))),
            Arc::new(Int16Array::from(std::mem::take(&mut self.producer_epoch))),
            Arc::new(Int32Array::from(std::mem::take(&mut self.base_sequence))),
            Arc::new(Int32Array::from(std::mem::take(
                &mut self.partition_leader_epoch,
            ))),
            Arc::new(BooleanArray::from(std::mem::take(
                &mut self.is_transactional,
            ))),
            Arc::new(BooleanArray::from(std::mem::take(&mut self.is_control))),
            Arc::new(self.raw_header_keys.finish()),
        ];
        if changelog {
            columns.push(Arc::new(self.ops.finish()));
        }
        if let Some(codec) = codec {
            let raw = columns[schema::VALUE].as_binary::<i32>();
            let values: Vec<Option<&[u8]>> = raw.iter().collect();
            columns.push(Arc::new(codec.struct_column(&values)));
        }
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let meta = ChunkMeta {
            first_offset: self.first_offset,
            last_offset: self.last_offset,
            max_timestamp: self.data_max_timestamp.take().unwrap_or(-1),
            rows: batch.num_rows() as u64,
            crc32c: 0, // set once the block is written
        };
        self.bytes = 0;
        Ok((batch, meta))
    }
}

/// Writes the Kafka batches of one segment as an Arrow IPC file (see the module docs).
pub struct SegmentFileWriter<W: Write> {
    writer: FileWriter<CountingWriter<W>>,
    schema: SchemaRef,
    changelog: bool,
    /// Decodes values into the `value` struct column of a typed file.
    codec: Option<ValueCodec>,
    limits: ChunkLimits,
    chunk: ChunkBuilder,
    index: Vec<ChunkMeta>,
    first_offset: Option<i64>,
    last_offset: i64,
    record_count: u64,
    max_timestamp: Option<i64>,
}

impl<W: Write> std::fmt::Debug for SegmentFileWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentFileWriter")
            .field("changelog", &self.changelog)
            .field("limits", &self.limits)
            .field("chunks", &self.index.len())
            .field("buffered_rows", &self.chunk.rows())
            .field("record_count", &self.record_count)
            .finish_non_exhaustive()
    }
}

/// Base offset of a (possibly malformed) batch for error messages, -1 if unreadable.
fn raw_base_offset(batch: &[u8]) -> i64 {
    batch
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(-1, i64::from_be_bytes)
}

impl<W: Write> SegmentFileWriter<W> {
    /// Starts a file on `out` (writes the IPC header and schema) with the default
    /// [`ChunkLimits`]. `changelog` selects [`schema::changelog_schema`] (with the `op`
    /// column) over [`schema::log_schema`].
    pub fn new(out: W, changelog: bool) -> Result<SegmentFileWriter<W>> {
        SegmentFileWriter::with_limits(out, changelog, ChunkLimits::default())
    }

    /// [`SegmentFileWriter::new`] with explicit chunk limits.
    pub fn with_limits(
        out: W,
        changelog: bool,
        limits: ChunkLimits,
    ) -> Result<SegmentFileWriter<W>> {
        SegmentFileWriter::typed(out, changelog, limits, None)
    }

    /// A writer of a typed file ([`schema::typed_schema`]) when `value` gives the values'
    /// schema, else as [`SegmentFileWriter::with_limits`].
    pub fn typed(
        out: W,
        changelog: bool,
        limits: ChunkLimits,
        value: Option<ValueSchema>,
    ) -> Result<SegmentFileWriter<W>> {
        let schema = match &value {
            Some(v) => schema::typed_schema(changelog, v.data_type()),
            None => schema::schema_for(changelog),
        };
        let options =
            IpcWriteOptions::default().try_with_compression(Some(CompressionType::ZSTD))?;
        let out = CountingWriter::new(out);
        let writer = FileWriter::try_new_with_options(out, &schema, options)?;
        Ok(SegmentFileWriter {
            writer,
            schema,
            changelog,
            codec: value.map(ValueCodec::new),
            limits: ChunkLimits {
                max_bytes: limits.max_bytes.clamp(1, MAX_BATCH_PAYLOAD),
                max_rows: limits.max_rows.max(1),
            },
            chunk: ChunkBuilder::new(),
            index: Vec::new(),
            first_offset: None,
            last_offset: -1,
            record_count: 0,
            max_timestamp: None,
        })
    }

    /// Adds one whole Kafka v2 batch as stored in the log (any codec, control batches
    /// included; `batch` must hold exactly that batch). Batches must come in offset order.
    ///
    /// Errors: [`TieringError::Record`] for a bad header, CRC, codec or record,
    /// [`TieringError::Untierable`] for an empty batch, a batch whose offsets overlap the
    /// previous one or whose records lie outside its offset range, or a batch over
    /// [`MAX_BATCH_PAYLOAD`]. After an error the file is unusable: drop the writer.
    pub fn push_batch(&mut self, batch: &[u8]) -> Result<()> {
        let base = raw_base_offset(batch);
        let record_error = |source: RecordError| TieringError::Record {
            base_offset: base,
            source,
        };
        verify_crc(batch).map_err(|e| record_error(e.into()))?;
        let (header, records) = decode_batch_records(batch).map_err(record_error)?;
        if batch.len() != header.total_size() {
            return Err(TieringError::Untierable(format!(
                "{} bytes given for the batch at offset {base} of {} bytes",
                batch.len(),
                header.total_size()
            )));
        }
        self.check_batch(&header, &records)?;
        let payload = records.iter().map(record_payload).sum::<usize>();
        if payload > MAX_BATCH_PAYLOAD {
            return Err(TieringError::Untierable(format!(
                "batch at offset {base} holds {payload} bytes of keys, values and headers"
            )));
        }
        let rows = records.len();
        if self.chunk.rows() > 0
            && (self.chunk.rows() + rows > self.limits.max_rows
                || self.chunk.bytes + payload > self.limits.max_bytes)
        {
            self.flush_chunk()?;
        }
        let fields = BatchFields::from_header(&header);
        self.chunk
            .push(&fields, &records, payload, self.changelog)?;
        self.first_offset.get_or_insert(header.base_offset);
        self.last_offset = header.last_offset();
        self.record_count += rows as u64;
        if let Some(ts) = records.iter().map(|r| r.timestamp).max() {
            self.max_timestamp = Some(self.max_timestamp.map_or(ts, |m| m.max(ts)));
        }
        if self.chunk.rows() >= self.limits.max_rows || self.chunk.bytes >= self.limits.max_bytes {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Adds every batch of `buf`, concatenated batches as in a segment file, with
    /// [`SegmentFileWriter::push_batch`]. A truncated last batch is an error.
    pub fn push_batches(&mut self, buf: &[u8]) -> Result<()> {
        for item in split_batches(buf) {
            let (_, range) = item.map_err(|e| TieringError::Record {
                base_offset: -1,
                source: e.into(),
            })?;
            self.push_batch(&buf[range])?;
        }
        Ok(())
    }

    /// Records of the batch must be non-empty, in ascending offsets within the batch's
    /// offset range, and the batch must follow the previous one.
    fn check_batch(&self, header: &BatchHeader, records: &[LogRecord]) -> Result<()> {
        let base = header.base_offset;
        let untierable = |why: String| {
            Err(TieringError::Untierable(format!(
                "batch at offset {base}: {why}"
            )))
        };
        if records.is_empty() {
            return untierable("no records".into());
        }
        if header.last_offset_delta < 0 {
            return untierable(format!(
                "negative lastOffsetDelta {}",
                header.last_offset_delta
            ));
        }
        if self.first_offset.is_some() && base <= self.last_offset {
            return untierable(format!(
                "follows a batch ending at offset {}",
                self.last_offset
            ));
        }
        let last = header.last_offset();
        let mut previous = base - 1;
        for r in records {
            if r.offset <= previous || r.offset > last {
                return untierable(format!(
                    "record offset {} out of order or outside {base}..={last}",
                    r.offset
                ));
            }
            previous = r.offset;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if self.chunk.rows() == 0 {
            return Ok(());
        }
        let (batch, mut meta) =
            self.chunk
                .finish(&self.schema, self.changelog, self.codec.as_ref())?;
        // FileWriter::write writes exactly one block (no dictionaries in these schemas):
        // the message and its body, straight to the CountingWriter.
        self.writer.get_mut().start_block();
        self.writer.write(&batch)?;
        meta.crc32c = self.writer.get_ref().block_crc;
        self.index.push(meta);
        Ok(())
    }

    /// Flushes the last chunk, writes the footer (schema, block index and the `weir.*`
    /// metadata) and flushes `out`. [`TieringError::EmptySegment`] if no batch was pushed.
    pub fn finish(self) -> Result<SegmentSummary> {
        self.finish_into_inner().map(|(summary, _)| summary)
    }

    /// [`SegmentFileWriter::finish`], also giving back the writer passed to `new`.
    pub fn finish_into_inner(mut self) -> Result<(SegmentSummary, W)> {
        self.flush_chunk()?;
        let Some(first_offset) = self.first_offset else {
            return Err(TieringError::EmptySegment);
        };
        let index = serde_json::to_string(&self.index)
            .map_err(|e| TieringError::Corrupt(format!("cannot encode the chunk index: {e}")))?;
        self.writer
            .write_metadata(META_FORMAT_VERSION, FORMAT_VERSION);
        self.writer.write_metadata(META_CHUNKS, index);
        self.writer.finish()?;
        let out = self.writer.into_inner()?;
        let summary = SegmentSummary {
            first_offset,
            last_offset: self.last_offset,
            record_count: self.record_count,
            max_timestamp: self.max_timestamp.unwrap_or(-1),
            chunk_count: self.index.len(),
            bytes_written: out.count,
        };
        Ok((summary, out.inner))
    }
}

/// Bytes of a record counted against [`ChunkLimits::max_bytes`].
fn record_payload(r: &LogRecord) -> usize {
    let headers: usize = r
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()))
        .sum();
    r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len()) + headers
}

#[cfg(test)]
#[path = "segment_file_tests.rs"]
mod tests;
