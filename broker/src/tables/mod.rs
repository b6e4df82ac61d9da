//! Table topics on the broker side: a partition of a `cleanup.policy=compact` topic owns a
//! [`TableStore`] (latest row per key, history, derived changes) and the log of its changelog
//! partition (`T.changelog`). This module validates and applies produced batches, renders
//! changes as changelog records, serves compacted reads, and recovers the three so they agree.

mod as_of;
mod changelog;
mod expiry;
mod typing;

pub use as_of::{AsOf, Found, TableReader, TableSnapshot};
pub use typing::ValueTyping;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use weir_protocol::record_batch::split_batches;
use weir_protocol::records::encode_batch;
use weir_storage::table::{parse_batch, parse_batch_with, Change, Row, TableError, TableStore};
use weir_storage::{AppendLimits, AppendResult, LogConfig, PartitionLog};

use crate::errors::{ApiError, ApiResult};
use crate::topic_config::{ChangelogFormat, TableSettings};

use changelog::encode_changes;

/// The table side of one partition of a table topic.
pub struct TablePartition {
    /// Latest state, history and derived changes; unset while the store cannot be opened
    /// (see [`TablePartition::open_store`]).
    store: OnceLock<TableStore>,
    /// Where the store lives.
    table_dir: PathBuf,
    /// The changelog partition's log (`T.changelog`, same partition index).
    pub changelog: Arc<PartitionLog>,
    settings: parking_lot::Mutex<TableSettings>,
    /// Held across "append to the source log, then apply": the store applies strictly in
    /// offset order, so concurrent producers must not interleave the two steps.
    write_order: parking_lot::Mutex<()>,
    /// Wall-clock time of the last store flush (drives the flush cadence).
    last_flush_ms: std::sync::atomic::AtomicI64,
    /// Why the state is behind the log, while it is (a replay or an apply failed); cleared
    /// by the next catch-up that succeeds.
    fault: parking_lot::Mutex<Option<String>>,
    /// `topic-partition`, for log lines.
    name: String,
    gauges: TableGauges,
    /// The topic's value typing (shared by its partitions).
    typing: Arc<ValueTyping>,
}

/// How often a table's memtables are flushed when it has unflushed writes, so that the log
/// below the flushed point may be deleted by retention (until then it is kept for replay).
const FLUSH_INTERVAL_MS: i64 = 10_000;

/// Rows per record batch in compacted reads.
const ROWS_PER_BATCH: usize = 500;

/// Metric handles of one table partition (labels topic, partition).
struct TableGauges {
    /// `weir_table_rows`: live keys.
    pub rows: metrics::Gauge,
    /// `weir_table_changelog_lag_records`: records of the topic's log whose changes are not
    /// yet derived (0 except while a restart replays the log).
    pub changelog_lag: metrics::Gauge,
    /// `weir_table_unflushed_records`: applied records only in RocksDB's memtables, which
    /// the log keeps for replay until the next flush.
    pub unflushed_records: metrics::Gauge,
    /// `weir_table_memtable_bytes`.
    pub memtable_bytes: metrics::Gauge,
    /// `weir_table_pending_compaction_bytes`.
    pub pending_compaction_bytes: metrics::Gauge,
    /// `weir_table_sst_bytes`: RocksDB's files on disk.
    pub sst_bytes: metrics::Gauge,
    /// `weir_table_faulted`: 1 while the state cannot catch up with the log.
    pub faulted: metrics::Gauge,
}

impl TableGauges {
    /// Registers the gauges of `topic`/`partition`.
    fn new(topic: &str, partition: i32) -> TableGauges {
        let labels = [
            ("topic", topic.to_string()),
            ("partition", partition.to_string()),
        ];
        TableGauges {
            rows: metrics::gauge!("weir_table_rows", &labels),
            changelog_lag: metrics::gauge!("weir_table_changelog_lag_records", &labels),
            unflushed_records: metrics::gauge!("weir_table_unflushed_records", &labels),
            sst_bytes: metrics::gauge!("weir_table_sst_bytes", &labels),
            faulted: metrics::gauge!("weir_table_faulted", &labels),
            memtable_bytes: metrics::gauge!("weir_table_memtable_bytes", &labels),
            pending_compaction_bytes: metrics::gauge!(
                "weir_table_pending_compaction_bytes",
                &labels
            ),
        }
    }
}

/// The records of one produced batch, parsed; offsets are those the client sent (usually
/// relative to 0) until [`TablePartition::apply`] rebases them on the assigned offsets.
pub struct ParsedBatch {
    base_offset: i64,
    records: Vec<Row>,
}

fn table_error(e: TableError) -> ApiError {
    ApiError::from(e)
}

fn corrupt(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ResponseError::CorruptMessage, e.to_string())
}

/// A batch of the log that replay cannot read (bit rot, a file from elsewhere): counted in
/// `weir_storage_corrupt_batches_total` like every unreadable stored batch.
fn corrupt_stored(offset: i64, e: impl std::fmt::Display) -> ApiError {
    metrics::counter!("weir_storage_corrupt_batches_total").increment(1);
    ApiError::new(
        ResponseError::KafkaStorageError,
        format!("stored batch at offset {offset} is unreadable: {e}"),
    )
}

impl TablePartition {
    /// Opens the store and the changelog log (`changelog`: its directory and config) of
    /// partition `partition` of `topic`, then brings
    /// both level with `source`. A store that cannot be opened or a replay that fails does not
    /// fail the open: the table is reported faulted (ERROR line, `weir_table_faulted`,
    /// `/ready`), refuses writes and lookups until a catch-up succeeds (tried again on every
    /// write), and the rest of the broker serves.
    pub fn open(
        topic: &str,
        partition: i32,
        table_dir: &Path,
        changelog: (&Path, LogConfig),
        source: &PartitionLog,
        settings: TableSettings,
        typing: Arc<ValueTyping>,
    ) -> ApiResult<TablePartition> {
        let changelog = Arc::new(PartitionLog::open(changelog.0, changelog.1)?);
        let table = TablePartition {
            store: OnceLock::new(),
            table_dir: table_dir.to_path_buf(),
            changelog,
            settings: parking_lot::Mutex::new(settings),
            write_order: parking_lot::Mutex::new(()),
            last_flush_ms: std::sync::atomic::AtomicI64::new(crate::handlers::now_ms()),
            fault: parking_lot::Mutex::new(None),
            name: format!("{topic}-{partition}"),
            gauges: TableGauges::new(topic, partition),
            typing,
        };
        let _ = table.catch_up(source);
        Ok(table)
    }

    /// The state store, once open; KAFKA_STORAGE_ERROR while it cannot be.
    pub fn store(&self) -> ApiResult<&TableStore> {
        self.store.get().ok_or_else(|| {
            ApiError::new(
                ResponseError::KafkaStorageError,
                format!(
                    "the state of table {} is unavailable: {}",
                    self.name,
                    self.fault().unwrap_or_default()
                ),
            )
        })
    }

    /// Opens the state store if it is not open yet. A store whose files are damaged
    /// (corrupt, missing) while the log still holds every record ever written (log start 0)
    /// is set aside as `table.unreadable-<ms>` — kept for the operator, never deleted — and
    /// rebuilt empty, to be refilled by replay: its state is exactly the fold of that log.
    /// Otherwise (an I/O error, or a log whose start moved, so the store holds rows the log
    /// no longer has) the error stands and the open is tried again on the next catch-up.
    fn open_store(&self, source: &PartitionLog) -> ApiResult<&TableStore> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = match TableStore::open(&self.table_dir) {
            Ok(store) => store,
            Err(e) if e.is_damaged_store() && source.log_start_offset() == 0 => {
                let aside = self
                    .table_dir
                    .with_file_name(format!("table.unreadable-{}", crate::handlers::now_ms()));
                std::fs::rename(&self.table_dir, &aside)
                    .and_then(|()| {
                        weir_storage::sync_dir(self.table_dir.parent().unwrap_or(Path::new(".")))
                    })
                    .map_err(|io| {
                        ApiError::new(
                            ResponseError::KafkaStorageError,
                            format!("state store is damaged ({e}) and cannot be set aside: {io}"),
                        )
                    })?;
                tracing::warn!(table = %self.name, error = %e, kept = %aside.display(), "the table's state store is damaged: set aside and rebuilt from the log, which holds every record");
                TableStore::open(&self.table_dir).map_err(table_error)?
            }
            Err(e) => return Err(table_error(e)),
        };
        if let Some(doc) = store
            .meta(typing::INFERRED_SCHEMA_META)
            .map_err(table_error)?
        {
            self.typing.merge_stored(&self.name, &doc);
        }
        Ok(self.store.get_or_init(|| store))
    }

    /// The offset below which the source log may be deleted as far as the state goes: what
    /// the store flushed; nothing while the store is not open.
    pub fn flushed_below(&self) -> i64 {
        self.store
            .get()
            .map_or(i64::MIN, |s| s.durable_applied_offset() + 1)
    }

    /// Updates the format and tombstone retention after an AlterConfigs.
    pub fn set_settings(&self, settings: TableSettings) {
        *self.settings.lock() = settings;
    }

    /// The table's settings now.
    pub fn settings(&self) -> TableSettings {
        self.settings.lock().clone()
    }

    /// The schema of typed values (declared or inferred); `None` for raw values.
    pub fn value_schema(&self) -> Option<weir_typed::ValueSchema> {
        self.typing.output_schema(&self.settings.lock())
    }

    /// Parses the (already validated) batch of a produce request and applies the table's rules
    /// before anything is stored: every record needs a key; with `debezium-json` every non-null
    /// value must be a JSON object. Every refused record is named (KIP-467 record errors).
    pub fn validate(&self, records: &[u8]) -> ApiResult<Vec<ParsedBatch>> {
        let format = self.settings.lock().format;
        let mut parsed = Vec::new();
        for item in split_batches(records) {
            let (header, range) = item.map_err(corrupt)?;
            let batch_records = parse_batch_with(&records[range], |r| {
                let bad = format == ChangelogFormat::DebeziumJson
                    && r.value.as_ref().is_some_and(|v| {
                        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(v)
                            .is_err()
                    });
                bad.then(|| {
                    "table.changelog.format=debezium-json requires JSON object values; this record's value is not one".to_string()
                })
            })
            .map_err(table_error)?;
            parsed.push(ParsedBatch {
                base_offset: header.base_offset,
                records: batch_records,
            });
        }
        Ok(parsed)
    }

    /// The produce path of a table partition: validate everything (the log's rules with
    /// `limits`, then the table's), append to the source log, then apply to the state
    /// (appending the derived changes to the changelog first).
    ///
    /// All or nothing: both appends are held (invisible to readers) until the state is
    /// committed, then published; if any step fails both are undone — the file cut back and
    /// the producer's sequence restored — so the refused records are never read and an
    /// idempotent retry is written again. Should the undo itself fail, that log goes offline
    /// and a restart recovers it (and the table replays whatever the file kept).
    ///
    /// The request is acknowledged only once state and changelog have its records. When an
    /// earlier apply failed (or a replay at start), the state is behind the log: the records
    /// in between are replayed first, and while that fails the request is refused with
    /// `KAFKA_STORAGE_ERROR` before anything is written — so an idempotent retry that the
    /// log answers "duplicate" is acknowledged only once its records are applied.
    pub fn write(
        &self,
        source: &PartitionLog,
        records: &[u8],
        now_ms: i64,
        limits: &AppendLimits,
    ) -> ApiResult<AppendResult> {
        let validated = source.validate(records, limits)?;
        let parsed = self.validate(validated.records())?;
        let _order = self.write_order.lock();
        self.write_in_order(source, validated, parsed, now_ms, limits)
    }

    /// [`TablePartition::write`] once `write_order` is held.
    fn write_in_order(
        &self,
        source: &PartitionLog,
        validated: weir_storage::ValidatedRequest,
        parsed: Vec<ParsedBatch>,
        now_ms: i64,
        limits: &AppendLimits,
    ) -> ApiResult<AppendResult> {
        let behind = self
            .store
            .get()
            .is_none_or(|s| s.applied_offset() + 1 < source.log_end_offset());
        if behind || self.fault.lock().is_some() {
            self.catch_up(source).map_err(|e| {
                ApiError::new(
                    ResponseError::KafkaStorageError,
                    format!(
                        "table {} cannot catch up with its log: {}",
                        self.name, e.message
                    ),
                )
            })?;
        }
        let settings = self.settings();
        let mut widened = None;
        for batch in &parsed {
            match self.typing.check(&settings, &batch.records) {
                Ok(Some(schema)) => widened = Some(schema),
                Ok(None) => {}
                Err(records) => return Err(table_error(TableError::RefusedRecords { records })),
            }
        }
        let (result, held) = source.append_held(validated, now_ms, limits)?;
        if let Some(held) = held {
            let mut next_base = result.base_offset;
            let mut rows = Vec::new();
            for batch in parsed {
                let shift = next_base - batch.base_offset;
                let mut last = next_base - 1;
                for mut r in batch.records {
                    r.offset += shift;
                    last = last.max(r.offset);
                    rows.push(r);
                }
                next_base = last + 1;
            }
            if let Err(e) = self.apply(&rows, -1, now_ms, widened) {
                if let Err(undo) = source.undo(held) {
                    self.report_fault(&ApiError::from(undo));
                }
                return Err(e);
            }
            source.publish(held);
        }
        Ok(result)
    }

    /// Applies rows of the source log: derives the changes, appends those with a source
    /// offset above `changelog_has` to the changelog (held), then commits the state and
    /// publishes the changelog records — or undoes them if the commit fails. The changelog
    /// is written first so a crash can lose state (replayed from the log) but never changes.
    fn apply(
        &self,
        rows: &[Row],
        changelog_has: i64,
        now_ms: i64,
        widened: Option<weir_typed::ValueSchema>,
    ) -> ApiResult<()> {
        let mut prepared = self.store()?.prepare(rows).map_err(table_error)?;
        if let Some(schema) = widened {
            prepared
                .put_meta(typing::INFERRED_SCHEMA_META, schema.to_doc().as_bytes())
                .map_err(table_error)?;
        }
        let changes: Vec<&Change> = prepared
            .changes()
            .iter()
            .filter(|c| c.source_offset > changelog_has)
            .collect();
        let held = if !changes.is_empty() {
            let format = self.settings.lock().format;
            let max_batch_bytes = self.changelog.config().max_message_bytes.max(0) as usize;
            let batches = encode_changes(&changes, format, max_batch_bytes);
            Some(self.changelog.append_derived_held(&batches, now_ms)?)
        } else {
            None
        };
        match prepared.commit() {
            Ok(_) => {
                if let Some(held) = held {
                    self.changelog.publish(held);
                }
                Ok(())
            }
            Err(e) => {
                if let Some(held) = held {
                    if let Err(undo) = self.changelog.undo(held) {
                        tracing::error!(table = %self.name, error = %undo, "changelog records of a failed apply could not be undone: the changelog is offline until a restart");
                    }
                }
                Err(table_error(e))
            }
        }
    }

    /// Makes the state durable through `offset - 1`, so the log below `offset` may be
    /// deleted (DeleteRecords): the state applies it first if it is behind (an earlier apply
    /// failed), then the memtables are flushed if they hold any of it. Until this succeeds
    /// the log is needed for replay and must stay.
    pub fn make_durable_below(&self, source: &PartitionLog, offset: i64) -> ApiResult<()> {
        let _order = self.write_order.lock();
        let store = self.open_store(source)?;
        if store.applied_offset() + 1 < offset.min(source.log_end_offset()) {
            self.catch_up(source)?;
        }
        if store.durable_applied_offset() + 1 < offset {
            self.flush_after(source)?;
            self.last_flush_ms.store(
                crate::handlers::now_ms(),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        Ok(())
    }

    /// Makes the state durable, in the order that keeps it derivable from the log after a
    /// power loss: the source log first, then the changelog, then RocksDB — never the state or
    /// the changelog durable past source records that are not.
    fn flush_after(&self, source: &PartitionLog) -> ApiResult<()> {
        source.sync_now()?;
        self.changelog.sync_now()?;
        self.store()?.flush().map_err(table_error)
    }

    /// Why the state is behind the log, if it is.
    pub fn fault(&self) -> Option<String> {
        self.fault.lock().clone()
    }

    fn report_fault(&self, e: &ApiError) {
        let mut fault = self.fault.lock();
        if fault.is_none() {
            tracing::error!(table = %self.name, error = %e.message, "table state is behind its log: writes to this partition are refused until the records in between are applied (retried on every write)");
        }
        *fault = Some(e.message.clone());
        self.gauges.faulted.set(1.0);
    }

    /// Brings state and changelog level with the source log (see [`TablePartition::replay`]),
    /// recording the outcome as the table's fault.
    fn catch_up(&self, source: &PartitionLog) -> ApiResult<()> {
        match self.replay(source) {
            Ok(()) => {
                if self.fault.lock().take().is_some() {
                    tracing::info!(table = %self.name, "table state caught up with its log");
                }
                self.gauges.faulted.set(0.0);
                Ok(())
            }
            Err(e) => {
                self.report_fault(&e);
                Err(e)
            }
        }
    }

    /// Replays the source log from the last applied offset (state lost in a crash, or an
    /// apply that failed), adding to the changelog only the changes it does not have yet.
    fn replay(&self, source: &PartitionLog) -> ApiResult<()> {
        let now = crate::handlers::now_ms();
        let store = self.open_store(source)?;
        let changelog_has = changelog::last_source_offset(&self.changelog)?;
        let mut offset = (store.applied_offset() + 1).max(source.log_start_offset());
        let end = source.log_end_offset();
        let mut replayed = 0usize;
        while offset < end {
            let read = source.read(offset, 1 << 20)?;
            if read.records.is_empty() {
                break;
            }
            let mut rows = Vec::new();
            let mut next = offset;
            for item in split_batches(&read.records) {
                let (header, range) = item.map_err(|e| corrupt_stored(offset, e))?;
                next = next.max(header.last_offset() + 1);
                rows.extend(
                    parse_batch(&read.records[range])
                        .map_err(|e| corrupt_stored(header.base_offset, e))?
                        .into_iter()
                        .filter(|r| r.offset >= offset),
                );
            }
            replayed += rows.len();
            let settings = self.settings();
            let widened = (settings.json_values && settings.value_schema.is_none())
                .then(|| {
                    self.typing
                        .widen_stored(rows.iter().filter_map(|r| r.value.clone()))
                })
                .flatten();
            self.apply(&rows, changelog_has, now, widened)?;
            offset = next;
        }
        if replayed > 0 {
            tracing::info!(
                records = replayed,
                changelog_had = changelog_has,
                "table state replayed from the log"
            );
        }
        Ok(())
    }

    /// Periodic work: tombstones older than `delete.retention.ms` leave compacted reads; the
    /// store is flushed every [`FLUSH_INTERVAL_MS`] while it has unflushed writes; the table
    /// gauges are updated. Returns the offset below which the source log may be deleted.
    pub fn maintain(&self, source: &PartitionLog, now_ms: i64) -> ApiResult<i64> {
        let gauges = &self.gauges;
        let settings = self.settings();
        let Some(store) = self.store.get() else {
            return Ok(self.flushed_below());
        };
        if let Some(ttl) = settings.row_ttl_ms {
            self.expire_rows(source, now_ms, ttl)?;
        }
        store
            .purge_tombstones(now_ms.saturating_sub(settings.delete_retention_ms))
            .map_err(table_error)?;
        let last_flush = self
            .last_flush_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if store.applied_offset() > store.durable_applied_offset()
            && now_ms.saturating_sub(last_flush) >= FLUSH_INTERVAL_MS
        {
            self.flush_after(source)?;
            self.last_flush_ms
                .store(now_ms, std::sync::atomic::Ordering::Relaxed);
        }
        let stats = store.stats();
        gauges.rows.set(store.live_rows() as f64);
        let applied = store.applied_offset();
        gauges
            .changelog_lag
            .set((source.log_end_offset() - 1 - applied).max(0) as f64);
        gauges
            .unflushed_records
            .set((applied - store.durable_applied_offset()).max(0) as f64);
        gauges.sst_bytes.set(stats.sst_bytes as f64);
        gauges.memtable_bytes.set(stats.memtable_bytes as f64);
        gauges
            .pending_compaction_bytes
            .set(stats.pending_compaction_bytes as f64);
        Ok(self.flushed_below())
    }

    /// Every change of `key` still within the changelog's retention, oldest first.
    pub fn history(&self, key: &[u8]) -> ApiResult<Vec<Change>> {
        let floor = changelog::first_retained_source_offset(&self.changelog)?;
        let mut changes = self.store()?.history(key).map_err(table_error)?;
        changes.retain(|c| c.source_offset >= floor);
        Ok(changes)
    }

    /// Clean shutdown, after the source log closed: the changelog, then the store.
    pub fn close(&self) -> ApiResult<()> {
        self.changelog.close()?;
        match self.store.get() {
            Some(store) => store.flush().map_err(table_error),
            None => Ok(()),
        }
    }

    /// The oldest offset a consumer can read: the oldest row kept below the log start, or
    /// the log start itself.
    pub fn earliest_offset(&self, log_start: i64) -> ApiResult<i64> {
        let first = self
            .store()?
            .rows_between(0, log_start, 1)
            .map_err(table_error)?;
        Ok(first.first().map_or(log_start, |r| r.offset))
    }

    /// The compacted read below the log start (Kafka's compacted-topic contract): rows with
    /// offsets in `[from, until)` — the latest record of every key whose latest record lies
    /// there — as uncompressed record batches with their original offsets, timestamps and
    /// headers; at least one batch, then up to about `max_bytes`.
    pub fn read_compacted(&self, from: i64, until: i64, max_bytes: usize) -> ApiResult<Bytes> {
        let mut out = BytesMut::new();
        let mut next = from;
        while next < until {
            let rows = self
                .store()?
                .rows_between(next, until, ROWS_PER_BATCH)
                .map_err(table_error)?;
            let Some(last) = rows.last() else { break };
            next = last.offset + 1;
            let records: Vec<_> = rows.iter().map(Row::to_log_record).collect();
            let before = out.len();
            encode_batch(&mut out, &records);
            if out.len() >= max_bytes {
                if before > 0 {
                    out.truncate(before);
                }
                break;
            }
        }
        Ok(out.freeze())
    }
}
