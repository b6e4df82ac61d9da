//! Reconciliation of a partition's manifest with the store after a restart: which manifest is
//! the truth (the store's or the local copy), repairing it from the store's listing (object
//! footers), and removing only objects that are provably redundant.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use object_store::ObjectMeta;

use crate::error::TieringError;
use crate::manifest::{Manifest, RemoteSegment};
use crate::metrics;
use crate::partition::TieredPartition;

/// How old an object no manifest names must be before reconciliation may delete it as a
/// leftover of retention: younger ones may belong to a manifest update still in flight.
pub const ORPHAN_GRACE_MS: i64 = 15 * 60 * 1000;

/// `(base, last)` offsets from a segment object's name (`…/<base:020>-<last:020>.arrow`).
fn segment_name_offsets(key: &str) -> Option<(i64, i64)> {
    let name = key.rsplit('/').next()?.strip_suffix(".arrow")?;
    let (base, last) = name.split_once('-')?;
    let (base, last) = (base.parse().ok()?, last.parse().ok()?);
    (0 <= base && base <= last).then_some((base, last))
}

impl TieredPartition {
    /// After a restart: settles which manifest is the truth, repairs it from the store's
    /// listing, and removes what is safe to remove.
    ///
    /// - The store's manifest and the local copy are compared: the one that has seen more
    ///   uploads (`uploaded_up_to`) wins, so a manifest that is missing from the store or
    ///   older than the local copy (lost write, restored backup) is repaired from the copy,
    ///   never read as "nothing is tiered". A manifest of an earlier topic of the same name
    ///   is not this one's.
    /// - Objects no manifest names that continue the adopted manifest (the next segment
    ///   starts where it ends, and the object's footer reads) are added to it: an upload
    ///   whose manifest update was lost is not lost.
    /// - An object no manifest names is deleted only when it is provably redundant: it
    ///   starts at or after `uploaded_up_to` and the local log still holds its offsets (an
    ///   upload cut short by a crash, to be redone), or it lies wholly below the manifest's
    ///   first segment (left over by retention or DeleteRecords) and is older than
    ///   [`ORPHAN_GRACE_MS`]. Anything else is kept and logged.
    pub(crate) async fn reconcile(&self) -> Result<(), TieringError> {
        let mut store = self.manifest_store.lock().await;
        let remote = match store.load_remote().await {
            Ok(remote) => remote,
            // Unreadable (bit rot, a partial write by another tool): repaired like a lost one.
            Err(TieringError::Manifest(why)) => {
                tracing::error!(topic = %self.id.topic, partition = self.id.partition, error = %why, "the store's manifest is unreadable; repairing it");
                None
            }
            Err(e) => {
                metrics::object_store_error("get");
                return Err(e);
            }
        };
        let local = Some(self.manifest())
            .filter(|m| m.topic_id == self.id.topic_id)
            .filter(|m| !m.segments.is_empty() || m.uploaded_up_to > 0);
        let (topic, partition) = (&self.id.topic, self.id.partition);
        let mut adopted = match (remote, local) {
            (Some(r), local) if r.topic_id != self.id.topic_id => {
                tracing::info!(%topic, partition, "the store holds an earlier topic of this name; removing its objects");
                local
                    .map(|l| (*l).clone())
                    .unwrap_or_else(|| self.fresh_manifest())
            }
            (Some(r), Some(l)) if l.uploaded_up_to > r.uploaded_up_to => {
                tracing::warn!(%topic, partition, store_up_to = r.uploaded_up_to, local_up_to = l.uploaded_up_to, "the store's manifest is older than the local copy; repairing it from the copy");
                let mut l = (*l).clone();
                l.log_start_offset = l.log_start_offset.max(r.log_start_offset);
                l
            }
            (Some(r), _) => r,
            (None, Some(l)) => {
                tracing::warn!(%topic, partition, "the store has no manifest for this partition; repairing it from the local copy and the store's listing");
                (*l).clone()
            }
            (None, None) => self.fresh_manifest(),
        };
        let manifest_path = self.remote.manifest_path(topic, partition);
        let known: HashSet<String> = adopted.segments.iter().map(|s| s.object.clone()).collect();
        let mut unnamed: BTreeMap<i64, (i64, ObjectMeta)> = BTreeMap::new();
        for meta in self.list_objects().await? {
            if meta.location == manifest_path || known.contains(meta.location.as_ref()) {
                continue;
            }
            match segment_name_offsets(meta.location.as_ref()) {
                Some((base, last)) => {
                    unnamed.insert(base, (last, meta));
                }
                None => {
                    tracing::warn!(object = %meta.location, "keeping an object that is not a tiered segment")
                }
            }
        }
        self.adopt_listed_segments(&mut adopted, &mut unnamed).await;
        store
            .save(&adopted)
            .await
            .inspect_err(|_| metrics::object_store_error("put"))?;
        // Readers see the repaired manifest as soon as the store has it, not after the
        // orphans are gone: a fetch in between would find the tiered offsets out of range.
        let adopted = Arc::new(adopted);
        *self.manifest.write() = adopted.clone();
        self.update_gauges();
        let local_start = self.log.log_start_offset();
        let first_tiered = adopted.start_offset().unwrap_or(adopted.uploaded_up_to);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        for (base, (last, meta)) in unnamed {
            let key = meta.location.as_ref();
            let age_ms = now_ms - meta.last_modified.timestamp_millis();
            let redone = base >= adopted.uploaded_up_to && base >= local_start;
            let left_over = last < first_tiered && age_ms > ORPHAN_GRACE_MS;
            if redone || left_over {
                tracing::info!(object = key, "removing orphaned object");
                self.delete_object(key).await;
            } else {
                tracing::warn!(object = key, uploaded_up_to = adopted.uploaded_up_to, "keeping an object no manifest names (it may hold the only copy of its offsets)");
            }
        }
        self.reconciled.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// An empty manifest of this partition.
    fn fresh_manifest(&self) -> Manifest {
        Manifest::new(&self.id.topic, &self.id.topic_id, self.id.partition)
    }

    /// Appends to `manifest` the unnamed objects that continue it, in order, as long as their
    /// footers read and agree with their names; adopted objects leave `unnamed`.
    async fn adopt_listed_segments(
        &self,
        manifest: &mut Manifest,
        unnamed: &mut BTreeMap<i64, (i64, ObjectMeta)>,
    ) {
        loop {
            let base = match manifest.end_offset() {
                Some(end) => end,
                // Nothing named: the chain starts at the first object.
                None => match unnamed.keys().next() {
                    Some(first) => *first,
                    None => return,
                },
            };
            let Some((last, meta)) = unnamed.remove(&base) else {
                return;
            };
            match self.segment_from_object(base, last, &meta).await {
                Ok(seg) => {
                    tracing::warn!(topic = %self.id.topic, partition = self.id.partition, object = %meta.location, "adopting a tiered segment the manifest had lost");
                    manifest.uploaded_up_to = manifest.uploaded_up_to.max(seg.next_offset);
                    manifest.segments.push(seg);
                }
                Err(e) => {
                    tracing::warn!(object = %meta.location, error = %e, "an object no manifest names does not read as a tiered segment");
                    unnamed.insert(base, (last, meta));
                    return;
                }
            }
        }
    }

    /// The manifest entry of an object, from its footer alone.
    async fn segment_from_object(
        &self,
        base: i64,
        last: i64,
        meta: &ObjectMeta,
    ) -> Result<RemoteSegment, TieringError> {
        let mut seg = RemoteSegment {
            base_offset: base,
            last_offset: last,
            next_offset: last + 1,
            record_count: 0,
            max_timestamp: -1,
            size_bytes: meta.size,
            // The local size is gone with the local segment: the object's stands in for it.
            log_bytes: meta.size,
            object: meta.location.to_string(),
            uploaded_at_ms: meta.last_modified.timestamp_millis(),
        };
        let layout = self.layout(&seg).await?;
        if layout.first_offset() != Some(base) || layout.last_offset() != Some(last) {
            return Err(TieringError::Corrupt(format!(
                "{}: holds offsets {:?}..={:?}, its name says {base}..={last}",
                seg.object,
                layout.first_offset(),
                layout.last_offset()
            )));
        }
        seg.record_count = layout.chunks.iter().map(|c| c.rows as i64).sum();
        seg.max_timestamp = layout
            .chunks
            .iter()
            .map(|c| c.max_timestamp)
            .max()
            .unwrap_or(-1);
        Ok(seg)
    }
}
