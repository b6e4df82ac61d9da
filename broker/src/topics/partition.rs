//! One partition of a topic: its log, table state, tiering and metric handles, and the read
//! path fetches use. Reads touch the disk (segment files, RocksDB) on the blocking pool, never
//! on the async workers, so a slow disk delays only the fetches that need it.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use metrics::Gauge;
use weir_storage::{PartitionLog, ReadResult};
use weir_tiering::TieredPartition;

use crate::errors::{ApiError, ApiResult};
use crate::tables::TablePartition;

/// One partition: its log and its metric handles.
pub struct Partition {
    /// Partition index.
    pub index: i32,
    /// The partition's log.
    pub log: Arc<PartitionLog>,
    /// `weir_log_end_offset{topic,partition}`.
    pub end_offset_gauge: Gauge,
    /// `weir_log_size_bytes{topic,partition}`.
    pub size_gauge: Gauge,
    /// For a table topic: its state store and changelog partition.
    pub table: Option<Arc<TablePartition>>,
    /// Tiering of the log to the object store.
    pub tiered: Arc<TieredPartition>,
    /// For a table topic: tiering of its changelog partition's log.
    pub changelog_tiered: Option<Arc<TieredPartition>>,
}

/// What the local (blocking) part of a read found.
enum LocalRead {
    /// The answer: compacted rows or the local log.
    Done(ReadResult),
    /// `offset` lies in the tiered segments: read them from the object store.
    Tiered { offset: i64, earliest: i64 },
}

impl Partition {
    /// The log start offset consumers see: the first tiered offset when the tiered segments
    /// reach the local log, else the local log start.
    pub fn log_start_offset(&self) -> i64 {
        self.tiered.earliest_offset(self.log.log_start_offset())
    }

    /// The first offset a fetch from the beginning returns: for a table topic, the oldest
    /// row kept below the log start (compacted read), else the log start.
    pub fn earliest_offset(&self) -> ApiResult<i64> {
        self.earliest_from(self.log_start_offset())
    }

    /// [`Partition::earliest_offset`] given the log start offset.
    fn earliest_from(&self, start: i64) -> ApiResult<i64> {
        self.check_tiered_known(start)?;
        match &self.table {
            Some(table) => table.earliest_offset(start),
            None => Ok(start),
        }
    }

    /// REPLICA_NOT_AVAILABLE (retriable, Kafka's answer while remote storage is not ready)
    /// for offsets below `local_start` while the tiered segments are not known yet.
    fn check_tiered_known(&self, below: i64) -> ApiResult<()> {
        if self.tiered.awaiting_store() && below > 0 {
            return Err(ApiError::new(
                ResponseError::ReplicaNotAvailable,
                "the tiered segments of this partition are not known yet (its manifest is being read from the object store)",
            ));
        }
        Ok(())
    }

    /// Whether a fetch at `offset` is in range (`OFFSET_OUT_OF_RANGE` otherwise), without
    /// reading anything: what a fetch whose byte budget is spent still reports, as Kafka does.
    /// A table topic serves every offset from 0 (compacted rows below its log start).
    pub fn check_fetch_offset(&self, offset: i64) -> ApiResult<()> {
        let start = if self.table.is_some() {
            0
        } else {
            self.log_start_offset()
        };
        let end = self.log.log_end_offset();
        if offset < start {
            self.check_tiered_known(start)?;
        }
        if offset < start || offset > end {
            return Err(ApiError::new(
                ResponseError::OffsetOutOfRange,
                format!("offset {offset} is outside [{start}, {end}]"),
            ));
        }
        Ok(())
    }

    /// Whole record batches from `offset`: below the log start of a table topic the compacted
    /// rows; below the local log start the tiered segments (object store); then the local log.
    /// At least one batch when there is one, more while they fit `max_bytes` (the caller trims
    /// to its exact budget). The result's `log_start_offset` is [`Partition::earliest_offset`].
    pub async fn read(self: &Arc<Self>, offset: i64, max_bytes: usize) -> ApiResult<ReadResult> {
        // A caught-up consumer (the common long-poll case) needs no disk at all.
        if self.table.is_none() && offset == self.log.log_end_offset() {
            return Ok(ReadResult {
                records: bytes::Bytes::new(),
                high_watermark: offset,
                log_start_offset: self.log_start_offset(),
            });
        }
        let this = self.clone();
        let local = tokio::task::spawn_blocking(move || this.read_local(offset, max_bytes))
            .await
            .map_err(|e| {
                ApiError::new(
                    ResponseError::UnknownServerError,
                    format!("partition read failed: {e}"),
                )
            })??;
        let (offset, earliest) = match local {
            LocalRead::Done(read) => return Ok(read),
            LocalRead::Tiered { offset, earliest } => (offset, earliest),
        };
        match self.tiered.read(offset, max_bytes).await {
            Ok(records) => Ok(ReadResult {
                records,
                high_watermark: self.log.log_end_offset(),
                log_start_offset: earliest,
            }),
            // Retention or DeleteRecords removed the segment while it was being read: the
            // offset is gone, as a fetch arriving a moment later would be told.
            Err(e) => {
                let start = self.log_start_offset();
                if offset < start {
                    return Err(ApiError::new(
                        ResponseError::OffsetOutOfRange,
                        format!("offset {offset} is below the log start offset {start}"),
                    ));
                }
                Err(e.into())
            }
        }
    }

    /// The blocking part of [`Partition::read`]: compacted rows (RocksDB) and the local log
    /// (segment files), or where to read the tiered segments.
    fn read_local(&self, offset: i64, max_bytes: usize) -> ApiResult<LocalRead> {
        let log = &self.log;
        let local_start = log.log_start_offset();
        let start = self.tiered.earliest_offset(local_start);
        // A table whose state is unavailable still serves its log from the log start (a
        // read below it, which needs the state, fails).
        let earliest = match self.earliest_from(start) {
            Ok(earliest) => earliest,
            Err(_) if offset >= start => start,
            Err(e) => return Err(e),
        };
        let mut offset = offset;
        if let Some(table) = &self.table {
            if (0..start).contains(&offset) {
                let compacted = table.read_compacted(offset, start, max_bytes)?;
                if !compacted.is_empty() {
                    return Ok(LocalRead::Done(ReadResult {
                        records: compacted,
                        high_watermark: log.log_end_offset(),
                        log_start_offset: earliest,
                    }));
                }
                offset = start;
            }
        }
        if offset < local_start {
            self.check_tiered_known(local_start)?;
        }
        if offset < local_start && self.tiered.serves(offset) {
            return Ok(LocalRead::Tiered { offset, earliest });
        }
        let mut read = log.read(offset, max_bytes).map_err(ApiError::from)?;
        read.log_start_offset = earliest;
        Ok(LocalRead::Done(read))
    }
}
