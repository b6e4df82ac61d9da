//! Durability bookkeeping: which files hold data not yet fsync'ed, the group-commit state
//! (sync lock + durable offset), the offline state a failed fsync leaves, and the atomic
//! small-file writes used for checkpoints.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::error::StorageError;

/// Files with unsynced writes, plus whether the partition directory has new entries.
#[derive(Debug, Default)]
pub(crate) struct DirtySet {
    files: Vec<(i64, Arc<File>)>,
    dir: bool,
}

impl DirtySet {
    /// Marks the segment with this base offset as holding unsynced data.
    pub(crate) fn mark_file(&mut self, base: i64, file: &Arc<File>) {
        if !self.files.iter().any(|(b, _)| *b == base) {
            self.files.push((base, Arc::clone(file)));
        }
    }

    /// Marks the directory as having a new entry (a created segment file).
    pub(crate) fn mark_dir(&mut self) {
        self.dir = true;
    }

    /// Takes everything that needs syncing, leaving the set clean.
    pub(crate) fn take(&mut self, dir: &Path) -> PendingSync {
        PendingSync {
            files: std::mem::take(&mut self.files),
            dir: std::mem::take(&mut self.dir).then(|| dir.to_path_buf()),
        }
    }
}

/// A batch of fsync work taken from a [`DirtySet`].
#[derive(Debug, Default)]
pub(crate) struct PendingSync {
    files: Vec<(i64, Arc<File>)>,
    dir: Option<PathBuf>,
}

impl PendingSync {
    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dir.is_none()
    }

    /// Fsyncs every file, then the directory. Blocking.
    pub(crate) fn run(&self) -> io::Result<()> {
        for (_, f) in &self.files {
            f.sync_data()?;
        }
        if let Some(dir) = &self.dir {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

/// Whether the log went offline. An fsync that fails is never retried: Linux reports a
/// writeback error once and drops the dirty pages, so a second fsync "succeeds" over lost data
/// ("fsyncgate"). As Kafka takes the log directory offline, the log refuses appends, reads and
/// maintenance from then on (`KAFKA_STORAGE_ERROR`); a restart recovers it from what is really
/// on disk.
#[derive(Debug, Default)]
pub(crate) struct Offline(std::sync::OnceLock<String>);

impl Offline {
    /// `Ok` while the log is online (one atomic load: every append and read asks).
    pub(crate) fn check(&self) -> Result<(), StorageError> {
        match self.0.get() {
            Some(reason) => Err(StorageError::Offline(reason.clone())),
            None => Ok(()),
        }
    }

    /// Why the log is offline, if it is.
    pub(crate) fn reason(&self) -> Option<String> {
        self.0.get().cloned()
    }

    /// Takes the log at `dir` offline because `what` failed with `e`; returns the error for
    /// the caller. The first failure is logged at ERROR and counted.
    pub(crate) fn fail(&self, dir: &Path, what: &str, e: &io::Error) -> StorageError {
        let reason = format!("{what} of {} failed: {e}", dir.display());
        if self.0.set(reason).is_ok() {
            tracing::error!(dir = %dir.display(), error = %e, "{what} failed: the log is offline (nothing written since its last good fsync is acknowledged; produce and fetch answer KAFKA_STORAGE_ERROR) until the broker restarts and recovers it from disk");
            metrics::gauge!("weir_storage_offline_logs").increment(1.0);
            metrics::counter!("weir_storage_fsync_failures_total").increment(1);
        }
        StorageError::Offline(self.0.get().cloned().unwrap_or_default())
    }
}

/// Group-commit state shared by all `flush_to` callers of one partition.
#[derive(Debug)]
pub(crate) struct SyncState {
    /// Held by the one caller currently running an fsync round.
    pub lock: tokio::sync::Mutex<()>,
    /// Every offset below this is durable.
    durable_end: AtomicI64,
}

impl SyncState {
    pub(crate) fn new(durable_end: i64) -> SyncState {
        SyncState {
            lock: tokio::sync::Mutex::new(()),
            durable_end: AtomicI64::new(durable_end),
        }
    }

    /// Whether `offset` (inclusive) is already durable.
    pub(crate) fn is_durable(&self, offset: i64) -> bool {
        offset < self.durable_end.load(Ordering::Acquire)
    }

    /// Records that everything below `end` is durable (never moves backwards).
    pub(crate) fn publish(&self, end: i64) {
        self.durable_end.fetch_max(end, Ordering::AcqRel);
    }
}

/// Creates `dir` and any missing parents, fsyncing the directory above each one created, so
/// the new directories survive a power loss (a new partition, changelog or `meta/`
/// directory would otherwise vanish with everything fsynced inside it).
pub fn create_dir_durable(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d);
        at = d.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Fsyncs a directory so that created/renamed entries survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `contents` to `path` atomically: temp file, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no parent", path.display())))?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}
