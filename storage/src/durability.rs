//! Durability bookkeeping: which files hold data not yet fsync'ed, the group-commit state
//! (sync lock + durable offset), and the atomic small-file writes used for checkpoints.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

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

    /// Puts back work that failed to sync so a later flush retries it.
    pub(crate) fn restore(&mut self, pending: PendingSync) {
        for (base, file) in pending.files {
            self.mark_file(base, &file);
        }
        if pending.dir.is_some() {
            self.dir = true;
        }
    }
}

/// A batch of fsync work taken from a [`DirtySet`].
#[derive(Debug, Clone, Default)]
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
