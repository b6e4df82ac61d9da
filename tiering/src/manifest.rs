//! The per-partition manifest: which segments are tiered, where their objects are, and the
//! remote log start. It is the only record of what is uploaded: an object not listed in it
//! does not exist as far as readers and retention are concerned (an orphan of a crash).
//!
//! The manifest object is replaced whole (a single PUT is atomic on every store), with a
//! conditional put on the previous version where the store supports it. A copy is kept in
//! the partition directory so a broker restarting while the store is unreachable still knows
//! what was uploaded.

use std::path::{Path as FsPath, PathBuf};

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::error::TieringError;
use crate::store::RemoteStore;

/// Version of the manifest format.
pub const MANIFEST_VERSION: u32 = 1;

/// One tiered segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSegment {
    /// First offset of the segment (the local segment's base offset).
    pub base_offset: i64,
    /// Last offset held (of the last batch, its last offset delta included).
    pub last_offset: i64,
    /// Offset the next segment starts at (the local segment's next offset).
    pub next_offset: i64,
    /// Records in the object, control records included.
    pub record_count: i64,
    /// Largest record timestamp, -1 when unknown.
    pub max_timestamp: i64,
    /// Size of the Arrow object.
    pub size_bytes: u64,
    /// Size the segment had in the local log (what retention counts).
    pub log_bytes: u64,
    /// The object key, relative to the store root.
    pub object: String,
    /// When the upload was recorded (ms since the epoch).
    pub uploaded_at_ms: i64,
}

/// The manifest of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// Topic name.
    pub topic: String,
    /// The topic's id: a manifest of an earlier topic of the same name is not this one's.
    pub topic_id: String,
    /// Partition index.
    pub partition: i32,
    /// DeleteRecords floor on the remote side: offsets below it are gone.
    pub log_start_offset: i64,
    /// Every local segment below this offset has been uploaded (or skipped because it was
    /// already below the log start). Never decreases.
    pub uploaded_up_to: i64,
    /// Tiered segments, ascending and contiguous.
    pub segments: Vec<RemoteSegment>,
}

impl Manifest {
    /// An empty manifest.
    pub fn new(topic: &str, topic_id: &str, partition: i32) -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            topic: topic.to_string(),
            topic_id: topic_id.to_string(),
            partition,
            log_start_offset: 0,
            uploaded_up_to: 0,
            segments: Vec::new(),
        }
    }

    /// The first offset readable from the store, `None` when nothing is tiered.
    pub fn start_offset(&self) -> Option<i64> {
        let first = self.segments.first()?;
        let start = first.base_offset.max(self.log_start_offset);
        (start <= self.segments.last()?.last_offset).then_some(start)
    }

    /// The offset after the last tiered segment, `None` when nothing is tiered.
    pub fn end_offset(&self) -> Option<i64> {
        self.segments.last().map(|s| s.next_offset)
    }

    /// The segment holding `offset`, else the first one after it.
    pub fn segment_for(&self, offset: i64) -> Option<&RemoteSegment> {
        let i = self.segments.partition_point(|s| s.last_offset < offset);
        self.segments.get(i)
    }

    /// Bytes of all objects.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size_bytes).sum()
    }

    fn parse(bytes: &[u8], what: &str) -> Result<Manifest, TieringError> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| TieringError::Manifest(format!("{what}: {e}")))?;
        if manifest.version != MANIFEST_VERSION {
            return Err(TieringError::Manifest(format!(
                "{what}: unsupported manifest version {}",
                manifest.version
            )));
        }
        let contiguous = manifest
            .segments
            .windows(2)
            .all(|w| w[0].next_offset == w[1].base_offset && w[0].base_offset <= w[0].last_offset);
        if !contiguous {
            return Err(TieringError::Manifest(format!(
                "{what}: segments are not contiguous"
            )));
        }
        Ok(manifest)
    }
}

/// Where a partition's manifest is kept: the store (the truth) and a local copy.
#[derive(Debug)]
pub struct ManifestStore {
    remote: RemoteStore,
    path: Path,
    local: PathBuf,
    /// Version of the object last read or written, for conditional replacement.
    version: Option<UpdateVersion>,
}

impl ManifestStore {
    /// The manifest location of `topic`/`partition`, with its local copy in `partition_dir`.
    pub fn new(
        remote: RemoteStore,
        topic: &str,
        partition: i32,
        partition_dir: &FsPath,
    ) -> ManifestStore {
        ManifestStore {
            path: remote.manifest_path(topic, partition),
            remote,
            local: partition_dir.join("remote-manifest.json"),
            version: None,
        }
    }

    /// The local copy, if there is a readable one.
    pub fn load_local(&self) -> Option<Manifest> {
        let bytes = std::fs::read(&self.local).ok()?;
        match Manifest::parse(&bytes, &self.local.display().to_string()) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring unreadable local manifest copy");
                None
            }
        }
    }

    /// The manifest in the store; `None` when there is none.
    pub async fn load_remote(&mut self) -> Result<Option<Manifest>, TieringError> {
        match self.remote.store().get(&self.path).await {
            Ok(result) => {
                self.version = Some(UpdateVersion {
                    e_tag: result.meta.e_tag.clone(),
                    version: result.meta.version.clone(),
                });
                let bytes = result.bytes().await?;
                Manifest::parse(&bytes, self.path.as_ref()).map(Some)
            }
            Err(object_store::Error::NotFound { .. }) => {
                self.version = None;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the manifest in the store (conditionally on the version last seen, where
    /// supported), then the local copy.
    pub async fn save(&mut self, manifest: &Manifest) -> Result<(), TieringError> {
        let body = serde_json::to_vec_pretty(manifest)
            .map_err(|e| TieringError::Manifest(format!("cannot encode manifest: {e}")))?;
        let mode = match &self.version {
            Some(v) if v.e_tag.is_some() || v.version.is_some() => PutMode::Update(v.clone()),
            _ => PutMode::Overwrite,
        };
        let store = self.remote.store();
        let put = |mode| {
            store.put_opts(
                &self.path,
                PutPayload::from(body.clone()),
                PutOptions {
                    mode,
                    ..PutOptions::default()
                },
            )
        };
        let result = match put(mode).await {
            Err(object_store::Error::NotImplemented { .. })
            | Err(object_store::Error::NotSupported { .. }) => put(PutMode::Overwrite).await?,
            other => other?,
        };
        self.version = Some(UpdateVersion {
            e_tag: result.e_tag,
            version: result.version,
        });
        let (remote, path) = (self.remote.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || remote.sync(&path))
            .await
            .map_err(|e| std::io::Error::other(format!("sync task failed: {e}")))??;
        weir_storage::write_atomic(&self.local, &body)?;
        Ok(())
    }

    /// Deletes the manifest object and the local copy.
    pub async fn delete(&mut self) -> Result<(), TieringError> {
        match self.remote.store().delete(&self.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.version = None;
        match std::fs::remove_file(&self.local) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A manifest entry for tests: offsets `base..next`, made-up sizes.
#[cfg(test)]
pub(crate) fn test_segment(base: i64, next: i64) -> RemoteSegment {
    RemoteSegment {
        base_offset: base,
        last_offset: next - 1,
        next_offset: next,
        record_count: next - base,
        max_timestamp: base,
        size_bytes: 10,
        log_bytes: 20,
        object: format!("t/0/{base}"),
        uploaded_at_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn save_load_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let remote = RemoteStore::open("memory://").unwrap();
        let mut store = ManifestStore::new(remote.clone(), "t", 0, dir.path());
        assert_eq!(store.load_remote().await.unwrap(), None);
        let mut m = Manifest::new("t", "id", 0);
        assert_eq!(m.start_offset(), None);
        m.segments = vec![test_segment(0, 10), test_segment(10, 25)];
        m.uploaded_up_to = 25;
        store.save(&m).await.unwrap();
        m.log_start_offset = 12;
        store.save(&m).await.unwrap();
        let mut again = ManifestStore::new(remote, "t", 0, dir.path());
        assert_eq!(again.load_remote().await.unwrap().as_ref(), Some(&m));
        assert_eq!(again.load_local().as_ref(), Some(&m));
        assert_eq!(m.start_offset(), Some(12));
        assert_eq!(m.end_offset(), Some(25));
        assert_eq!(m.segment_for(9).map(|s| s.base_offset), Some(0));
        assert_eq!(m.segment_for(10).map(|s| s.base_offset), Some(10));
        assert_eq!(m.segment_for(25), None);
        again.delete().await.unwrap();
        assert_eq!(again.load_remote().await.unwrap(), None);
        assert_eq!(again.load_local(), None);
    }

    #[test]
    fn rejects_gaps_and_garbage() {
        let mut m = Manifest::new("t", "id", 0);
        m.segments = vec![test_segment(0, 10), test_segment(11, 20)];
        let bytes = serde_json::to_vec(&m).unwrap();
        assert!(Manifest::parse(&bytes, "m").is_err());
        assert!(Manifest::parse(b"{", "m").is_err());
    }
}
