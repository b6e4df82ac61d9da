//! Removing a partition's directory while other threads may still write into it.
//!
//! A deleted topic's partitions can still be busy: a tiering upload finishing, a segment
//! roll writing an index, RocksDB compacting a table's state. Removing the directory in place
//! races with them (`remove_dir_all` fails with "directory not empty" when a file appears
//! behind it). As Kafka does, the directory is first renamed out of the way — one atomic
//! step, after which nothing can reach it by its old path — into `<data-dir>/deleting/`, and
//! only then removed. A removal that still fails is logged and retried at the next start
//! ([`purge`]); the topic is gone either way.

use std::io;
use std::path::{Path, PathBuf};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::errors::{ApiError, ApiResult};

/// Where directories wait to be removed, under the data directory.
pub(super) fn trash_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("deleting")
}

/// Moves `dir` (if it exists) into the trash, then removes it. Fails only when the rename
/// fails: after it, the data is unreachable and a failed removal is left for [`purge`].
pub(super) fn discard(data_dir: &Path, dir: &Path) -> ApiResult<()> {
    let trash = trash_dir(data_dir);
    let storage_error = |what: &str, e: io::Error| {
        ApiError::new(
            ResponseError::KafkaStorageError,
            format!("cannot {what} {}: {e}", dir.display()),
        )
    };
    std::fs::create_dir_all(&trash).map_err(|e| storage_error("make room to remove", e))?;
    let target = trash.join(Uuid::new_v4().simple().to_string());
    match std::fs::rename(dir, &target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(storage_error("remove", e)),
    }
    if let Some(parent) = dir.parent() {
        weir_storage::sync_dir(parent).map_err(|e| storage_error("sync the parent of", e))?;
    }
    if let Err(e) = std::fs::remove_dir_all(&target) {
        tracing::warn!(dir = %dir.display(), moved_to = %target.display(), error = %e,
            "removed directory still has files; they are removed at the next start");
    }
    Ok(())
}

/// Removes what a previous run left in the trash. Run at start, before any topic opens.
pub(super) fn purge(data_dir: &Path) -> io::Result<()> {
    let trash = trash_dir(data_dir);
    match std::fs::remove_dir_all(&trash) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A writer that keeps creating files in the directory (as a tiering upload advancing the
    /// log start does) cannot make the removal fail.
    #[test]
    fn removal_wins_against_a_writer_creating_files() {
        let data = tempfile::tempdir().unwrap();
        for round in 0..50 {
            let dir = data.path().join("topics").join(format!("t-{round}"));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..20 {
                std::fs::write(dir.join(format!("{i:020}.log")), b"x").unwrap();
            }
            let stop = Arc::new(AtomicBool::new(false));
            let writer = {
                let (dir, stop) = (dir.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // Fails once the directory has moved: the writer's problem, not ours.
                        let _ = std::fs::write(dir.join(format!("tmp-{n}")), b"y");
                        n += 1;
                    }
                })
            };
            discard(data.path(), &dir).unwrap();
            stop.store(true, Ordering::Relaxed);
            writer.join().unwrap();
            assert!(!dir.exists());
        }
        purge(data.path()).unwrap();
        assert!(!trash_dir(data.path()).exists());
    }

    #[test]
    fn a_missing_directory_is_already_removed() {
        let data = tempfile::tempdir().unwrap();
        discard(data.path(), &data.path().join("topics/none-0")).unwrap();
        purge(data.path()).unwrap();
    }
}
