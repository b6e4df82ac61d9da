//! [`TableStore`]: one RocksDB database holding a table partition's state, history and
//! tombstones, with two-phase applies so the broker can write derived changes to the
//! changelog before the state that produced them becomes durable.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use rocksdb::{
    properties, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Direction, FlushOptions,
    IteratorMode, Options, WriteBatch, WriteOptions, DB,
};

use super::layout::{self, HistoryKind};
use super::{Change, ChangeOp, Row, TableError};

/// RocksDB figures exported as gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Bytes in memtables (all column families).
    pub memtable_bytes: u64,
    /// Bytes compaction still has to rewrite.
    pub pending_compaction_bytes: u64,
    /// Bytes of SST files on disk.
    pub sst_bytes: u64,
}

/// The writer's view, guarded so prepares and commits never interleave.
struct WriterState {
    applied: i64,
    live_rows: i64,
}

/// Latest state, history and tombstones of one table partition.
pub struct TableStore {
    db: DB,
    writer: Mutex<WriterState>,
    applied: AtomicI64,
    live_rows: AtomicI64,
    /// Applied offset as of the last explicit [`TableStore::flush`]: everything up to here is
    /// on disk, so the topic's log below it is no longer needed for recovery.
    durable_applied: AtomicI64,
}

/// The result of [`TableStore::prepare`]: the derived changes, and the write that makes them
/// part of the state once [`PreparedApply::commit`] runs. Holds the writer lock; dropping it
/// without committing discards the apply.
pub struct PreparedApply<'a> {
    store: &'a TableStore,
    writer: MutexGuard<'a, WriterState>,
    batch: WriteBatch,
    changes: Vec<Change>,
    applied: i64,
    live_rows: i64,
}

impl PreparedApply<'_> {
    /// The changes this apply derives, in source order (`-U` before its `+U`).
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Stores `value` under `name` in the store's metadata, atomically with this apply (for
    /// what the broker derives from the records, like an inferred value schema).
    pub fn put_meta(&mut self, name: &str, value: &[u8]) -> Result<(), TableError> {
        let meta = self.store.cf(layout::META)?;
        self.batch.put_cf(meta, layout::named_meta_key(name), value);
        Ok(())
    }

    /// Writes the new state atomically.
    pub fn commit(mut self) -> Result<Vec<Change>, TableError> {
        let batch = std::mem::take(&mut self.batch);
        self.store.write(batch)?;
        self.writer.applied = self.applied;
        self.writer.live_rows = self.live_rows;
        self.store.applied.store(self.applied, Ordering::Release);
        self.store
            .live_rows
            .store(self.live_rows, Ordering::Release);
        Ok(std::mem::take(&mut self.changes))
    }
}

fn write_options() -> WriteOptions {
    // The partition log is the write-ahead log: state lost in a crash is replayed from it.
    let mut options = WriteOptions::default();
    options.disable_wal(true);
    options
}

impl TableStore {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<TableStore, TableError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Without a WAL, column families must flush together to stay mutually consistent.
        options.set_atomic_flush(true);
        options.set_compression_type(DBCompressionType::Lz4);
        options.set_max_background_jobs(2);
        options.set_keep_log_file_num(2);
        let families = layout::COLUMN_FAMILIES.iter().map(|name| {
            let mut cf = Options::default();
            cf.set_compression_type(DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(*name, cf)
        });
        let db = DB::open_cf_descriptors(&options, dir, families)?;
        let meta = |key: &[u8]| -> Result<Option<i64>, TableError> {
            let cf = db
                .cf_handle(layout::META)
                .ok_or_else(|| missing_cf(layout::META))?;
            db.get_cf(cf, key)?
                .map(|v| layout::decode_i64("meta value", &v))
                .transpose()
        };
        let applied = meta(layout::APPLIED)?.unwrap_or(-1);
        let live_rows = meta(layout::LIVE_ROWS)?.unwrap_or(0);
        Ok(TableStore {
            db,
            writer: Mutex::new(WriterState { applied, live_rows }),
            applied: AtomicI64::new(applied),
            live_rows: AtomicI64::new(live_rows),
            durable_applied: AtomicI64::new(applied),
        })
    }

    pub(super) fn db(&self) -> &DB {
        &self.db
    }

    pub(super) fn cf(&self, name: &'static str) -> Result<&ColumnFamily, TableError> {
        self.db.cf_handle(name).ok_or_else(|| missing_cf(name))
    }

    fn write(&self, batch: WriteBatch) -> Result<(), TableError> {
        Ok(self.db.write_opt(batch, &write_options())?)
    }

    /// What [`PreparedApply::put_meta`] stored under `name`.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, TableError> {
        let meta = self.cf(layout::META)?;
        Ok(self.db.get_cf(meta, layout::named_meta_key(name))?)
    }

    /// The last source offset applied, -1 when none.
    pub fn applied_offset(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    /// The applied offset as of the last [`TableStore::flush`] (or open): the log below it
    /// may be deleted without losing state.
    pub fn durable_applied_offset(&self) -> i64 {
        self.durable_applied.load(Ordering::Acquire)
    }

    /// Number of keys with a live (non-tombstone) row.
    pub fn live_rows(&self) -> i64 {
        self.live_rows.load(Ordering::Acquire)
    }

    /// Writes every memtable to disk, atomically across column families.
    pub fn flush(&self) -> Result<(), TableError> {
        let applied = self.writer.lock().applied;
        let families = layout::COLUMN_FAMILIES
            .iter()
            .map(|name| self.cf(name))
            .collect::<Result<Vec<_>, _>>()?;
        self.db.flush_cfs_opt(&families, &FlushOptions::default())?;
        self.durable_applied.fetch_max(applied, Ordering::AcqRel);
        Ok(())
    }

    /// Derives the changes of `records` (ascending offsets; those at or below the applied
    /// offset are skipped, so replays are idempotent) and prepares the state update. Blocks
    /// other writers until the returned value is committed or dropped.
    pub fn prepare(&self, records: &[Row]) -> Result<PreparedApply<'_>, TableError> {
        let writer = self.writer.lock();
        let state = self.cf(layout::STATE)?;
        let by_offset = self.cf(layout::BY_OFFSET)?;
        let history = self.cf(layout::HISTORY)?;
        let tombstones = self.cf(layout::TOMBSTONES)?;
        let live_by_time = self.cf(layout::LIVE_BY_TIME)?;
        let mut batch = WriteBatch::default();
        let mut changes = Vec::new();
        let mut applied = writer.applied;
        let mut live_rows = writer.live_rows;
        // Rows written earlier in this apply, which the database cannot see yet.
        let mut pending: HashMap<Bytes, Row> = HashMap::new();
        for record in records.iter().filter(|r| r.offset > writer.applied) {
            let old = match pending.get(&record.key) {
                Some(row) => Some(row.clone()),
                None => self
                    .db
                    .get_pinned_cf(state, &record.key)?
                    .map(|v| layout::decode_row(&record.key, &v))
                    .transpose()?,
            };
            let old_live = old.as_ref().filter(|r| r.value.is_some());
            let image = |op, row: &Row| Change {
                op,
                source_offset: record.offset,
                timestamp: record.timestamp,
                key: record.key.clone(),
                value: row.value.clone(),
                headers: record.headers.clone(),
            };
            let kind = match (old_live, &record.value) {
                (None, Some(_)) => {
                    changes.push(image(ChangeOp::Insert, record));
                    live_rows += 1;
                    HistoryKind::Insert
                }
                (Some(o), Some(v)) if o.value.as_ref() == Some(v) => HistoryKind::Touch,
                (Some(o), Some(_)) => {
                    changes.push(image(ChangeOp::UpdateBefore, o));
                    changes.push(image(ChangeOp::UpdateAfter, record));
                    HistoryKind::Update
                }
                (Some(o), None) => {
                    changes.push(image(ChangeOp::Delete, o));
                    live_rows -= 1;
                    HistoryKind::Delete
                }
                // A delete of a key that has no row here: recorded, so that as-of answers
                // merging partitions see that the key was deleted at this moment.
                (None, None) => HistoryKind::Delete,
            };
            batch.put_cf(
                history,
                layout::history_key(&record.key, record.offset),
                layout::encode_history(kind, record),
            );
            // The record replaces the key's row whatever it changed: compacted reads serve
            // the latest record of every key, with its own offset, timestamp and headers.
            if let Some(o) = &old {
                batch.delete_cf(by_offset, o.offset.to_be_bytes());
                let index = if o.value.is_none() {
                    tombstones
                } else {
                    live_by_time
                };
                batch.delete_cf(index, layout::time_key(o.timestamp, o.offset));
            }
            batch.put_cf(state, &record.key, layout::encode_row(record));
            batch.put_cf(by_offset, record.offset.to_be_bytes(), &record.key);
            let index = if record.value.is_none() {
                tombstones
            } else {
                live_by_time
            };
            batch.put_cf(
                index,
                layout::time_key(record.timestamp, record.offset),
                &record.key,
            );
            pending.insert(record.key.clone(), record.clone());
            applied = record.offset;
        }
        let meta = self.cf(layout::META)?;
        batch.put_cf(meta, layout::APPLIED, applied.to_be_bytes());
        batch.put_cf(meta, layout::LIVE_ROWS, live_rows.to_be_bytes());
        Ok(PreparedApply {
            store: self,
            writer,
            batch,
            changes,
            applied,
            live_rows,
        })
    }

    /// [`TableStore::prepare`] and commit in one step.
    pub fn apply(&self, records: &[Row]) -> Result<Vec<Change>, TableError> {
        self.prepare(records)?.commit()
    }

    /// Every change of `key`, oldest first, as the changelog shows them.
    pub fn history(&self, key: &[u8]) -> Result<Vec<Change>, TableError> {
        let mut out = Vec::new();
        let mut previous: Option<Row> = None;
        for (kind, row) in self.history_entries(key)? {
            let change = |op, image: &Row| Change {
                op,
                source_offset: row.offset,
                timestamp: row.timestamp,
                key: row.key.clone(),
                value: image.value.clone(),
                headers: row.headers.clone(),
            };
            match kind {
                HistoryKind::Insert => out.push(change(ChangeOp::Insert, &row)),
                HistoryKind::Update => {
                    if let Some(p) = &previous {
                        out.push(change(ChangeOp::UpdateBefore, p));
                    }
                    out.push(change(ChangeOp::UpdateAfter, &row));
                }
                HistoryKind::Delete => {
                    if let Some(p) = &previous {
                        out.push(change(ChangeOp::Delete, p));
                    }
                }
                HistoryKind::Touch => {}
            }
            previous = Some(row);
        }
        Ok(out)
    }

    /// The rows (tombstones included) whose record lies in `[from, until)`, in offset order,
    /// at most `limit` of them: a compacted read of that range.
    pub fn rows_between(
        &self,
        from: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<Row>, TableError> {
        let by_offset = self.cf(layout::BY_OFFSET)?;
        let state = self.cf(layout::STATE)?;
        let snapshot = self.db.snapshot();
        let start = from.max(0).to_be_bytes();
        let mut rows = Vec::new();
        for item in snapshot.iterator_cf(by_offset, IteratorMode::From(&start, Direction::Forward))
        {
            if rows.len() >= limit {
                break;
            }
            let (k, key) = item?;
            let offset = layout::decode_i64("offset index key", &k)?;
            if offset >= until {
                break;
            }
            let Some(v) = snapshot.get_cf(state, &key)? else {
                continue;
            };
            let row = layout::decode_row(&key, &v)?;
            if row.offset == offset {
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// Removes tombstones written before `before_ts` from the state (they leave compacted
    /// reads; `delete.retention.ms`). Returns how many went.
    pub fn purge_tombstones(&self, before_ts: i64) -> Result<usize, TableError> {
        let writer = self.writer.lock();
        let tombstones = self.cf(layout::TOMBSTONES)?;
        let state = self.cf(layout::STATE)?;
        let by_offset = self.cf(layout::BY_OFFSET)?;
        let mut batch = WriteBatch::default();
        let mut purged = 0;
        for item in self.db.iterator_cf(tombstones, IteratorMode::Start) {
            let (k, key) = item?;
            if layout::time_key_timestamp(&k)? >= before_ts {
                break;
            }
            batch.delete_cf(tombstones, &k);
            let current = self
                .db
                .get_pinned_cf(state, &key)?
                .map(|v| layout::decode_row(&key, &v))
                .transpose()?;
            if let Some(row) = current.filter(|r| r.value.is_none()) {
                batch.delete_cf(state, &key);
                batch.delete_cf(by_offset, row.offset.to_be_bytes());
                purged += 1;
            }
        }
        if !batch.is_empty() {
            self.write(batch)?;
        }
        drop(writer);
        Ok(purged)
    }

    /// RocksDB memory and compaction figures.
    pub fn stats(&self) -> TableStats {
        let mut stats = TableStats::default();
        for name in layout::COLUMN_FAMILIES {
            let Ok(cf) = self.cf(name) else { continue };
            let int = |p| {
                self.db
                    .property_int_value_cf(cf, p)
                    .ok()
                    .flatten()
                    .unwrap_or(0)
            };
            stats.memtable_bytes += int(properties::CUR_SIZE_ALL_MEM_TABLES);
            stats.pending_compaction_bytes += int(properties::ESTIMATE_PENDING_COMPACTION_BYTES);
            stats.sst_bytes += int(properties::TOTAL_SST_FILES_SIZE);
        }
        stats
    }
}

fn missing_cf(name: &'static str) -> TableError {
    TableError::Corrupt {
        what: "database",
        reason: format!("column family {name} is missing"),
    }
}
