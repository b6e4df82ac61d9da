//! [`Tiering`]: the broker-wide tiering service — the store, the read cache, the set of
//! partitions, and the background loop that reconciles manifests after a restart, applies
//! remote retention and uploads closed segments (bounded concurrency, retries with
//! exponential backoff, never on the produce path).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{watch, Semaphore};
use weir_storage::PartitionLog;

use crate::cache::ReadCache;
use crate::error::TieringError;
use crate::metrics;
use crate::partition::{PartitionId, TieredPartition};
use crate::store::RemoteStore;
use crate::upload::upload_segment;

/// Settings of the tiering service.
#[derive(Debug, Clone)]
pub struct TieringConfig {
    /// Segments uploaded at once, across all partitions.
    pub upload_concurrency: usize,
    /// How often the background loop looks for work.
    pub interval: Duration,
    /// Bytes of chunk data the read cache keeps.
    pub cache_bytes: usize,
    /// Where segments are converted before upload (emptied on start).
    pub spool_dir: PathBuf,
    /// Longest wait between retries after failures.
    pub max_backoff: Duration,
}

/// The tiering service of a broker. Share it as `Arc<Tiering>`.
pub struct Tiering {
    remote: RemoteStore,
    cache: Arc<ReadCache>,
    config: TieringConfig,
    partitions: Mutex<Vec<Arc<TieredPartition>>>,
    uploads: Arc<Semaphore>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Tiering {
    /// The service for `remote`; clears the spool directory of an earlier run.
    pub fn new(remote: RemoteStore, config: TieringConfig) -> Result<Arc<Tiering>, TieringError> {
        match std::fs::remove_dir_all(&config.spool_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        std::fs::create_dir_all(&config.spool_dir)?;
        Ok(Arc::new(Tiering {
            remote,
            cache: Arc::new(ReadCache::new(config.cache_bytes)),
            uploads: Arc::new(Semaphore::new(config.upload_concurrency.max(1))),
            config,
            partitions: Mutex::new(Vec::new()),
        }))
    }

    /// The store.
    pub fn remote(&self) -> &RemoteStore {
        &self.remote
    }

    /// Creates and registers the tiering state of a partition log.
    pub fn partition(&self, id: PartitionId, log: Arc<PartitionLog>) -> Arc<TieredPartition> {
        let tp = Arc::new(TieredPartition::new(
            id,
            log,
            self.remote.clone(),
            self.cache.clone(),
        ));
        self.partitions.lock().push(tp.clone());
        tp
    }

    /// Unregisters a partition whose topic is gone and deletes its objects in the background
    /// (retrying with backoff while the store fails).
    pub fn delete_partition(&self, tp: &Arc<TieredPartition>) {
        tp.deleted.store(true, Ordering::SeqCst);
        self.partitions.lock().retain(|p| !Arc::ptr_eq(p, tp));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(topic = %tp.id().topic, "no runtime to delete tiered objects");
            return;
        };
        let (tp, max_backoff) = (tp.clone(), self.config.max_backoff);
        runtime.spawn(async move {
            // A round in flight (an upload writing its object and the manifest) ends first:
            // the background loop starts no new one for a deleted partition, so what this
            // round wrote is deleted below instead of being left in the store.
            while tp.busy.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mut delay = Duration::from_millis(500);
            for attempt in 1..=20 {
                match tp.delete_all().await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(topic = %tp.id().topic, partition = tp.id().partition, attempt, error = %e, "cannot delete the tiered objects of a deleted topic yet");
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(max_backoff);
            }
            tracing::error!(topic = %tp.id().topic, partition = tp.id().partition, "giving up deleting the tiered objects of a deleted topic; they stay in the store");
        });
    }

    /// The background loop; returns when `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let now = now_ms();
            let partitions = self.partitions.lock().clone();
            for tp in partitions {
                if tp.deleted.load(Ordering::SeqCst)
                    || now < tp.next_attempt_ms.load(Ordering::SeqCst)
                    || tp.busy.swap(true, Ordering::SeqCst)
                {
                    continue;
                }
                let service = self.clone();
                tokio::spawn(async move {
                    let outcome = service.work(&tp).await;
                    service.settle(&tp, outcome);
                    tp.update_gauges();
                    tp.busy.store(false, Ordering::SeqCst);
                });
            }
        }
    }

    /// One round for one partition: reconcile once, remote retention, then upload closed
    /// segments in order until none is left.
    async fn work(&self, tp: &TieredPartition) -> Result<(), TieringError> {
        let enabled = tp.log.config().remote_storage_enable;
        if !enabled && tp.manifest().segments.is_empty() {
            return Ok(());
        }
        if !tp.reconciled.load(Ordering::SeqCst) {
            tp.reconcile().await?;
        }
        tp.apply_retention(now_ms()).await?;
        if !enabled {
            return Ok(());
        }
        loop {
            if tp.deleted.load(Ordering::SeqCst) {
                return Ok(());
            }
            let up_to = tp.manifest().uploaded_up_to;
            let log_start = tp.log.log_start_offset();
            let Some(next) = tp
                .log
                .closed_segments()
                .into_iter()
                .find(|s| s.next_offset > up_to)
            else {
                return Ok(());
            };
            if next.next_offset <= log_start || next.size_bytes == 0 {
                tp.record_skip(next.next_offset).await?;
                continue;
            }
            let _permit = self
                .uploads
                .acquire()
                .await
                .map_err(|e| TieringError::Io(std::io::Error::other(e.to_string())))?;
            match upload_segment(tp, next, &self.config.spool_dir, now_ms()).await {
                // Deleted by retention or DeleteRecords while converting: skip it.
                Err(TieringError::SegmentGone(_)) => {}
                other => other?,
            }
            tp.update_gauges();
        }
    }

    /// Resets or extends the partition's backoff after a round.
    fn settle(&self, tp: &TieredPartition, outcome: Result<(), TieringError>) {
        let id = tp.id();
        match outcome {
            Ok(()) => {
                if tp.failures.swap(0, Ordering::SeqCst) > 0 {
                    tracing::info!(topic = %id.topic, partition = id.partition, "tiering recovered");
                }
            }
            // The topic went while this round ran (its files with it): nothing is behind.
            Err(e) if tp.deleted.load(Ordering::SeqCst) => {
                tracing::debug!(topic = %id.topic, partition = id.partition, error = %e, "tiering round of a deleted partition ended");
            }
            // A segment that cannot be read is kept locally (nothing is deleted before it is
            // tiered) and retried rarely; it is reported once, as corruption, not as an outage.
            Err(e) if e.is_stored_data_fault() => {
                let delay = self.config.max_backoff;
                tp.next_attempt_ms
                    .store(now_ms() + delay.as_millis() as i64, Ordering::SeqCst);
                if tp.failures.fetch_add(1, Ordering::SeqCst) == 0 {
                    metrics::stored_data_fault();
                    tracing::error!(
                        topic = %id.topic,
                        partition = id.partition,
                        uploaded_up_to = tp.manifest().uploaded_up_to,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %e,
                        "a local segment cannot be tiered: its stored data is unreadable; it stays on local disk and tiering of this partition waits until the segment is repaired or removed (DeleteRecords, retention)"
                    );
                }
            }
            Err(e) => {
                let failures = tp.failures.fetch_add(1, Ordering::SeqCst).saturating_add(1);
                let delay = Duration::from_millis(500u64 << failures.min(10).saturating_sub(1))
                    .min(self.config.max_backoff);
                tp.next_attempt_ms
                    .store(now_ms() + delay.as_millis() as i64, Ordering::SeqCst);
                let (segments, bytes) = tp.pending();
                tracing::warn!(
                    topic = %id.topic,
                    partition = id.partition,
                    pending_segments = segments,
                    pending_bytes = bytes,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %e,
                    "tiering is behind: the object store operation failed; local data is kept until it is uploaded"
                );
            }
        }
    }
}
