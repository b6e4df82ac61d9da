//! [`TieredPartition`]: the tiering state of one partition — its manifest (in memory, in the
//! store, and a local copy), reads of tiered offsets, timestamp lookups, and every change to
//! the manifest (uploads recorded, retention, DeleteRecords, topic deletion). The
//! reconciliation with the store after a restart is in [`crate::reconcile`].

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use parking_lot::RwLock;
use weir_storage::PartitionLog;

use crate::cache::ReadCache;
use crate::error::TieringError;
use crate::layout::{self, FileLayout};
use crate::manifest::{Manifest, ManifestStore, RemoteSegment};
use crate::metrics::{self, PartitionMetrics};
use crate::rebuild;
use crate::store::RemoteStore;

/// How much of an object's tail to read to find its footer in one request.
const TAIL_READ_BYTES: u64 = 64 * 1024;

/// The first record of `rows` with offset `>= floor` and timestamp `>= ts`.
fn first_at_or_after_floor(
    rows: &RecordBatch,
    ts: i64,
    floor: i64,
) -> Result<Option<(i64, i64)>, TieringError> {
    Ok(rebuild::batch_records(rows)?
        .into_iter()
        .filter(|(fields, _)| !fields.control)
        .flat_map(|(_, records)| records)
        .find(|r| r.offset >= floor && r.timestamp >= ts)
        .map(|r| (r.offset, r.timestamp)))
}

/// Identity of a tiered partition.
#[derive(Debug, Clone)]
pub struct PartitionId {
    /// Topic name (`T.changelog` for a table's changelog).
    pub topic: String,
    /// The topic's id, recorded in the manifest.
    pub topic_id: String,
    /// Partition index.
    pub partition: i32,
    /// A table changelog: objects get the `op` column.
    pub changelog: bool,
}

/// The tiering side of one partition. `Send + Sync`; shared as `Arc<TieredPartition>`.
pub struct TieredPartition {
    pub(crate) id: PartitionId,
    pub(crate) log: Arc<PartitionLog>,
    pub(crate) remote: RemoteStore,
    pub(crate) cache: Arc<ReadCache>,
    pub(crate) manifest: RwLock<Arc<Manifest>>,
    /// Serialises manifest writers (uploads, retention, DeleteRecords, deletion).
    pub(crate) manifest_store: tokio::sync::Mutex<ManifestStore>,
    /// The manifest was compared with the store since the broker started.
    pub(crate) reconciled: AtomicBool,
    /// The local manifest copy was missing or unreadable at start, of a log already trimmed
    /// then: until the store's manifest is read, what lies below the local log start is
    /// unknown (not "gone").
    local_copy_missing: bool,
    /// A background job is working on this partition.
    pub(crate) busy: AtomicBool,
    /// The topic was deleted: no more uploads.
    pub(crate) deleted: AtomicBool,
    /// Consecutive failures, and when the next attempt may run (ms since the epoch).
    pub(crate) failures: AtomicU32,
    pub(crate) next_attempt_ms: AtomicI64,
    pub(crate) metrics: PartitionMetrics,
    /// Gives the schema of typed values (`value.format=json` tables) when files are written.
    value_schema: parking_lot::RwLock<Option<ValueSchemaSource>>,
}

/// Where a partition's typed value schema comes from (the table, whose schema may widen).
pub type ValueSchemaSource = Arc<dyn Fn() -> Option<weir_typed::ValueSchema> + Send + Sync>;

impl TieredPartition {
    /// The tiering state of `log`, starting from the local manifest copy (the store is
    /// consulted by the background job before anything is uploaded or deleted).
    pub(crate) fn new(
        id: PartitionId,
        log: Arc<PartitionLog>,
        remote: RemoteStore,
        cache: Arc<ReadCache>,
    ) -> TieredPartition {
        let store = ManifestStore::new(remote.clone(), &id.topic, id.partition, log.dir());
        let local = store.load_local().filter(|m| m.topic_id == id.topic_id);
        // A log that starts at 0 has nothing below its start, in the store or anywhere: only a
        // log already trimmed when it opens can be missing what its manifest would say.
        let local_copy_missing = local.is_none() && log.log_start_offset() > 0;
        let manifest =
            local.unwrap_or_else(|| Manifest::new(&id.topic, &id.topic_id, id.partition));
        let tp = TieredPartition {
            metrics: PartitionMetrics::new(&id.topic, id.partition),
            value_schema: parking_lot::RwLock::new(None),
            id,
            log,
            remote,
            cache,
            manifest: RwLock::new(Arc::new(manifest)),
            manifest_store: tokio::sync::Mutex::new(store),
            reconciled: AtomicBool::new(false),
            local_copy_missing,
            busy: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            next_attempt_ms: AtomicI64::new(0),
        };
        tp.update_gauges();
        tp
    }

    /// Topic, id and partition.
    /// Makes files written from now on typed by what `source` gives (see
    /// `schema::typed_schema`).
    pub fn set_value_schema_source(&self, source: ValueSchemaSource) {
        *self.value_schema.write() = Some(source);
    }

    /// The schema to type values with now, if any.
    pub(crate) fn value_schema(&self) -> Option<weir_typed::ValueSchema> {
        self.value_schema
            .read()
            .as_ref()
            .and_then(|source| source())
    }

    pub fn id(&self) -> &PartitionId {
        &self.id
    }

    /// The current manifest.
    pub fn manifest(&self) -> Arc<Manifest> {
        self.manifest.read().clone()
    }

    /// The first offset a consumer can read, given the local log start: the remote start when
    /// the tiered segments reach the local log, else the local start.
    pub fn earliest_offset(&self, local_start: i64) -> i64 {
        let m = self.manifest();
        match (m.start_offset(), m.end_offset()) {
            (Some(start), Some(end)) if end >= local_start => start.min(local_start),
            _ => local_start,
        }
    }

    /// Whether offsets below the local log start are not known yet: a tiered log whose local
    /// manifest copy was lost, before the store's manifest is read. Reads there must be
    /// retried (Kafka's "remote storage not ready"), not told OFFSET_OUT_OF_RANGE — which
    /// would send consumers with `auto.offset.reset` past data that is in the store.
    pub fn awaiting_store(&self) -> bool {
        self.local_copy_missing
            && !self.reconciled.load(Ordering::SeqCst)
            && self.log.config().remote_storage_enable
            && self.log.log_start_offset() > 0
    }

    /// Local retention must keep the segments holding offsets at or above this: for a tiered
    /// log, what is not uploaded yet (segments below the log start excepted).
    pub fn retain_local_from(&self) -> i64 {
        if self.log.config().remote_storage_enable {
            self.manifest()
                .uploaded_up_to
                .max(self.log.log_start_offset())
        } else {
            i64::MAX
        }
    }

    /// Whether `offset` (below the local log start) can be served from the store.
    pub fn serves(&self, offset: i64) -> bool {
        let m = self.manifest();
        matches!((m.start_offset(), m.end_offset()), (Some(s), Some(e)) if offset >= s && offset < e)
    }

    /// Whole record batches from the tiered segments, starting with the batch holding
    /// `offset` (or the first after it), from a single chunk of one object: at least one
    /// batch, more while they fit `max_bytes`. Empty when nothing is tiered at or after
    /// `offset`. A failure (object missing or damaged, store unreachable) counts in
    /// `weir_remote_read_errors_total`.
    pub async fn read(&self, offset: i64, max_bytes: usize) -> Result<Bytes, TieringError> {
        self.read_batches(offset, max_bytes)
            .await
            .inspect_err(|_| self.metrics.remote_read_errors.increment(1))
    }

    async fn read_batches(&self, offset: i64, max_bytes: usize) -> Result<Bytes, TieringError> {
        let started = Instant::now();
        let m = self.manifest();
        let mut from = offset.max(m.log_start_offset);
        while let Some(seg) = m.segment_for(from) {
            let layout = self.layout(seg).await?;
            let mut chunk = layout.chunk_for_offset(from);
            while let Some(i) = chunk {
                let rows = self.chunk_rows(seg, &layout, i).await?;
                let batches = rebuild::kafka_batches_from(&rows, from, max_bytes)?;
                if !batches.is_empty() {
                    self.metrics
                        .remote_read_bytes
                        .increment(batches.len() as u64);
                    metrics::remote_read_seconds().record(started.elapsed().as_secs_f64());
                    return Ok(batches);
                }
                from = from.max(layout.chunks[i].last_offset + 1);
                chunk = (i + 1 < layout.chunks.len()).then_some(i + 1);
            }
            from = from.max(seg.next_offset);
        }
        Ok(Bytes::new())
    }

    /// The first record at or after timestamp `ts` among the tiered segments, as
    /// `(offset, timestamp)`.
    pub async fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, TieringError> {
        let m = self.manifest();
        let floor = m.log_start_offset;
        for seg in m.segments.iter().filter(|s| s.max_timestamp >= ts) {
            let layout = self.layout(seg).await?;
            let Some(first) = layout.first_chunk_with_timestamp(ts) else {
                continue;
            };
            for i in first..layout.chunks.len() {
                if layout.chunks[i].last_offset < floor {
                    continue;
                }
                let rows = self.chunk_rows(seg, &layout, i).await?;
                if let Some(found) = rebuild::first_at_or_after(&rows, ts)? {
                    // Records below the DeleteRecords floor are gone: search past them.
                    if found.0 >= floor {
                        return Ok(Some(found));
                    }
                    if let Some(found) = first_at_or_after_floor(&rows, ts, floor)? {
                        return Ok(Some(found));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp among the tiered segments (the first one when
    /// several share it), as `(offset, timestamp)`.
    pub async fn max_timestamp_record(&self) -> Result<Option<(i64, i64)>, TieringError> {
        let m = self.manifest();
        let Some(best) = m
            .segments
            .iter()
            .filter(|s| s.last_offset >= m.log_start_offset)
            .max_by_key(|s| (s.max_timestamp, std::cmp::Reverse(s.base_offset)))
        else {
            return Ok(None);
        };
        let layout = self.layout(best).await?;
        let Some(chunk) = layout.max_timestamp_chunk() else {
            return Ok(None);
        };
        let rows = self.chunk_rows(best, &layout, chunk).await?;
        rebuild::max_timestamp_record(&rows)
    }

    /// The layout (footer) of a segment's object, cached.
    pub(crate) async fn layout(
        &self,
        seg: &RemoteSegment,
    ) -> Result<Arc<FileLayout>, TieringError> {
        if let Some(layout) = self.cache.layout(&seg.object) {
            return Ok(layout);
        }
        let path = Path::from(seg.object.as_str());
        let size = seg.size_bytes;
        let start = size.saturating_sub(TAIL_READ_BYTES);
        let tail = self.get_range(&path, start..size).await?;
        let footer_len = layout::footer_len(&tail)? as u64;
        let needed = footer_len + layout::TRAILER_LEN as u64;
        let footer = if needed <= tail.len() as u64 {
            let end = tail.len() - layout::TRAILER_LEN;
            tail.slice(end - footer_len as usize..end)
        } else if needed <= size {
            let end = size - layout::TRAILER_LEN as u64;
            self.get_range(&path, end - footer_len..end).await?
        } else {
            return Err(TieringError::Corrupt(format!(
                "{}: footer of {footer_len} bytes in an object of {size}",
                seg.object
            )));
        };
        let layout = Arc::new(FileLayout::parse(&footer)?);
        self.cache.put_layout(&seg.object, layout.clone());
        Ok(layout)
    }

    /// The rows of chunk `index` of a segment's object, from the cache or a ranged read.
    async fn chunk_rows(
        &self,
        seg: &RemoteSegment,
        layout: &FileLayout,
        index: usize,
    ) -> Result<RecordBatch, TieringError> {
        let range = layout.chunks[index].range.clone();
        let (block, fetched) = match self.cache.chunk(&seg.object, range.start) {
            Some(block) => (block, false),
            None => {
                let path = Path::from(seg.object.as_str());
                (self.get_range(&path, range.clone()).await?, true)
            }
        };
        // A cached block passed its CRC-32C when it was fetched.
        let decoded = if fetched {
            layout.decode_chunk(index, block.clone())
        } else {
            layout.decode_verified_chunk(index, block.clone())
        };
        let rows = decoded.map_err(|e| match e {
            TieringError::Corrupt(why) => TieringError::Corrupt(format!("{}: {why}", seg.object)),
            other => other,
        })?;
        // Only blocks that passed their checks are kept: a damaged read is fetched again
        // next time (the object may have been repaired), never served from the cache.
        if fetched {
            self.cache.put_chunk(&seg.object, range.start, block);
        }
        Ok(rows)
    }

    async fn get_range(
        &self,
        path: &Path,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, TieringError> {
        let bytes = self
            .remote
            .store()
            .get_range(path, range.clone())
            .await
            .inspect_err(|_| metrics::object_store_error("get"))?;
        if bytes.len() as u64 != range.end - range.start {
            return Err(TieringError::Corrupt(format!(
                "{path}: asked for bytes {range:?}, got {}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Applies `change` to a copy of the manifest, saves it, then publishes it.
    async fn edit_manifest(
        &self,
        change: impl FnOnce(&mut Manifest),
    ) -> Result<Arc<Manifest>, TieringError> {
        let mut store = self.manifest_store.lock().await;
        let mut next = (*self.manifest()).clone();
        change(&mut next);
        store
            .save(&next)
            .await
            .inspect_err(|_| metrics::object_store_error("put"))?;
        let next = Arc::new(next);
        *self.manifest.write() = next.clone();
        self.update_gauges();
        Ok(next)
    }

    /// Records an uploaded segment; `next_offset` is where the following local segment starts.
    pub(crate) async fn record_upload(&self, seg: RemoteSegment) -> Result<(), TieringError> {
        self.edit_manifest(|m| {
            // Entries that do not lead up to this segment were below the log start.
            if m.end_offset().is_some_and(|end| end != seg.base_offset) {
                m.segments.clear();
            }
            m.uploaded_up_to = m.uploaded_up_to.max(seg.next_offset);
            m.segments.push(seg);
        })
        .await
        .map(drop)
    }

    /// Records that the local segments below `next_offset` need no upload (they are below
    /// the log start).
    pub(crate) async fn record_skip(&self, next_offset: i64) -> Result<(), TieringError> {
        self.edit_manifest(|m| m.uploaded_up_to = m.uploaded_up_to.max(next_offset))
            .await
            .map(drop)
    }

    /// Removes the segments wholly below `bound` (their next offset at or below it) from the
    /// manifest, then their objects. The bound is an offset, not a count, and is applied to
    /// the manifest as it is when edited: retention and DeleteRecords deciding on snapshots
    /// taken at different times can never remove a segment neither of them chose.
    async fn drop_below(&self, bound: i64, floor: Option<i64>) -> Result<(), TieringError> {
        let mut dropped = Vec::new();
        self.edit_manifest(|m| {
            let count = m.segments.partition_point(|s| s.next_offset <= bound);
            dropped = m.segments.drain(..count).collect();
            if let Some(floor) = floor {
                m.log_start_offset = m.log_start_offset.max(floor);
            }
        })
        .await?;
        for seg in dropped {
            self.delete_object(&seg.object).await;
        }
        Ok(())
    }

    pub(crate) async fn delete_object(&self, object: &str) {
        self.cache.forget(object);
        match self.remote.store().delete(&Path::from(object)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                tracing::info!(object, "deleted tiered segment");
            }
            Err(e) => {
                metrics::object_store_error("delete");
                tracing::warn!(object, error = %e, "cannot delete tiered segment; it is an orphan now and goes at the next restart");
            }
        }
    }

    /// `retention.ms` / `retention.bytes` over the whole log: drops the oldest tiered
    /// segments that are past them (`local_bytes` / `local_start` describe the local log).
    pub(crate) async fn apply_retention(&self, now_ms: i64) -> Result<(), TieringError> {
        let config = self.log.config();
        let local_start = self.log.log_start_offset();
        let local_bytes = self.log.size_bytes();
        let m = self.manifest();
        let remote_only = |s: &RemoteSegment| s.next_offset <= local_start;
        let mut total: u64 = local_bytes
            + m.segments
                .iter()
                .filter(|s| remote_only(s))
                .map(|s| s.log_bytes)
                .sum::<u64>();
        let mut count = 0;
        for seg in &m.segments {
            let below_start = seg.next_offset <= m.log_start_offset;
            let newest = if seg.max_timestamp >= 0 {
                seg.max_timestamp
            } else {
                seg.uploaded_at_ms
            };
            let expired =
                config.retention_ms >= 0 && now_ms.saturating_sub(newest) > config.retention_ms;
            let over_size = config.retention_bytes >= 0
                && remote_only(seg)
                && total.saturating_sub(seg.log_bytes) >= config.retention_bytes as u64;
            if !(below_start || expired || over_size) {
                break;
            }
            if remote_only(seg) {
                total -= seg.log_bytes;
            }
            count += 1;
        }
        if count > 0 {
            tracing::info!(topic = %self.id.topic, partition = self.id.partition, segments = count, "retention deletes tiered segments");
            self.drop_below(m.segments[count - 1].next_offset, None)
                .await?;
        }
        Ok(())
    }

    /// DeleteRecords on the remote side: offsets below `offset` are gone; whole segments
    /// below it are deleted.
    pub async fn delete_records_before(&self, offset: i64) -> Result<(), TieringError> {
        let m = self.manifest();
        if offset <= m.log_start_offset {
            return Ok(());
        }
        self.drop_below(offset, Some(offset)).await
    }

    /// Every object under the partition's prefix.
    pub(crate) async fn list_objects(&self) -> Result<Vec<object_store::ObjectMeta>, TieringError> {
        let prefix = self
            .remote
            .partition_prefix(&self.id.topic, self.id.partition);
        let objects = self
            .remote
            .store()
            .list(Some(&prefix))
            .try_collect()
            .await
            .inspect_err(|_| metrics::object_store_error("list"))?;
        Ok(objects)
    }

    /// The topic is being deleted: stop uploading and remove every object of the partition.
    pub async fn delete_all(&self) -> Result<(), TieringError> {
        self.deleted.store(true, Ordering::SeqCst);
        let mut store = self.manifest_store.lock().await;
        let objects = self.list_objects().await?;
        for meta in objects {
            self.delete_object(meta.location.as_ref()).await;
        }
        store.delete().await?;
        *self.manifest.write() = Arc::new(Manifest::new(
            &self.id.topic,
            &self.id.topic_id,
            self.id.partition,
        ));
        self.update_gauges();
        Ok(())
    }

    /// The closed local segments still waiting for upload, as `(count, bytes)`.
    pub fn pending(&self) -> (usize, u64) {
        let up_to = self.manifest().uploaded_up_to;
        let start = self.log.log_start_offset();
        let waiting: Vec<_> = self
            .log
            .closed_segments()
            .into_iter()
            .filter(|s| s.next_offset > up_to && s.next_offset > start)
            .collect();
        (waiting.len(), waiting.iter().map(|s| s.size_bytes).sum())
    }

    /// Refreshes the partition's gauges.
    pub fn update_gauges(&self) {
        let m = self.manifest();
        let (segments, bytes) = if self.log.config().remote_storage_enable {
            self.pending()
        } else {
            (0, 0)
        };
        self.metrics.pending_segments.set(segments as f64);
        self.metrics.pending_bytes.set(bytes as f64);
        self.metrics.remote_segments.set(m.segments.len() as f64);
        self.metrics.remote_bytes.set(m.size_bytes() as f64);
        self.metrics
            .remote_start
            .set(m.start_offset().unwrap_or(-1) as f64);
        self.metrics
            .remote_end
            .set(m.end_offset().unwrap_or(-1) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_segment;
    use weir_storage::LogConfig;

    /// Retention decides on a snapshot of the manifest; DeleteRecords removes the same first
    /// segment before retention acts. Retention must not then remove the next segment, which
    /// neither chose.
    #[tokio::test]
    async fn retention_acting_on_an_old_snapshot_removes_only_what_it_chose() {
        let dir = tempfile::tempdir().unwrap();
        let log =
            Arc::new(PartitionLog::open(&dir.path().join("t-0"), LogConfig::default()).unwrap());
        let id = PartitionId {
            topic: "t".into(),
            topic_id: "id".into(),
            partition: 0,
            changelog: false,
        };
        let remote = RemoteStore::open("memory://").unwrap();
        let tp = TieredPartition::new(id, log, remote, Arc::new(ReadCache::new(1 << 20)));
        for i in 0..4 {
            tp.record_upload(test_segment(i * 100, (i + 1) * 100))
                .await
                .unwrap();
        }
        let snapshot = tp.manifest();
        tp.delete_records_before(100).await.unwrap();
        tp.drop_below(snapshot.segments[0].next_offset, None)
            .await
            .unwrap();
        let bases: Vec<i64> = tp
            .manifest()
            .segments
            .iter()
            .map(|s| s.base_offset)
            .collect();
        assert_eq!(bases, [100, 200, 300]);
        assert_eq!(tp.manifest().log_start_offset, 100);
    }
}
