//! [`RemoteStore`]: the object store a broker tiers to, opened from a URL, and the object
//! naming scheme `<prefix>/<topic>/<partition>/<base:020>-<last:020>.arrow` plus one
//! `manifest.json` per partition.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

use crate::error::TieringError;

/// Name of the per-partition manifest object.
pub const MANIFEST_NAME: &str = "manifest.json";

/// An object store plus the key prefix everything of this broker lives under.
#[derive(Debug, Clone)]
pub struct RemoteStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    /// The directory of a `file://` store: its objects are fsynced by [`RemoteStore::sync`].
    local_root: Option<std::path::PathBuf>,
}

impl RemoteStore {
    /// Opens the store named by `url`:
    /// - `file:///absolute/dir` — a directory (created if missing);
    /// - `s3://bucket/prefix` — S3 or an S3-compatible server, configured from the standard
    ///   `AWS_*` environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    ///   `AWS_REGION`, `AWS_ALLOW_HTTP`), path-style requests;
    /// - `memory://` — in memory, for tests.
    pub fn open(url: &str) -> Result<RemoteStore, TieringError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| TieringError::Config(format!("object store URL {url:?}: {e}")))?;
        let mut local_root = None;
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = match parsed.scheme() {
            "file" => {
                let dir = parsed.to_file_path().map_err(|()| {
                    TieringError::Config(format!(
                        "object store URL {url:?}: a file URL needs an absolute path, like file:///var/lib/weir/remote"
                    ))
                })?;
                std::fs::create_dir_all(&dir).map_err(|e| {
                    TieringError::Config(format!("cannot create {}: {e}", dir.display()))
                })?;
                let fs = LocalFileSystem::new_with_prefix(&dir)?;
                local_root = Some(dir);
                (Arc::new(fs), Path::default())
            }
            "memory" => (Arc::new(InMemory::new()), Path::default()),
            "s3" | "s3a" => {
                let bucket = parsed.host_str().unwrap_or_default();
                if bucket.is_empty() {
                    return Err(TieringError::Config(format!(
                        "object store URL {url:?}: no bucket (expected s3://bucket/prefix)"
                    )));
                }
                // Few, quick retries: the tiering loop retries with its own backoff, and an
                // unreachable store must show up in metrics and logs within seconds.
                let retry = RetryConfig {
                    backoff: BackoffConfig::default(),
                    max_retries: 3,
                    retry_timeout: Duration::from_secs(10),
                };
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry);
                if std::env::var_os("AWS_REGION").is_none()
                    && std::env::var_os("AWS_DEFAULT_REGION").is_none()
                {
                    builder = builder.with_region("us-east-1");
                }
                let s3 = builder.build()?;
                let prefix = Path::from(parsed.path().trim_matches('/'));
                (Arc::new(s3), prefix)
            }
            other => {
                return Err(TieringError::Config(format!(
                    "object store URL {url:?}: unsupported scheme {other:?} (use file://, s3:// or memory://)"
                )))
            }
        };
        Ok(RemoteStore {
            store,
            prefix,
            url: url.to_string(),
            local_root,
        })
    }

    /// Makes the object at `path`, once written, survive a power loss. A successful PUT is
    /// durable on S3; `object_store`'s local file system writes a temporary file and renames
    /// it without fsync, so for `file://` the file, its directory and the directory above
    /// (created for a new partition) are fsynced here. Blocking; a no-op for other stores.
    pub fn sync(&self, path: &Path) -> std::io::Result<()> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let file = root.join(path.as_ref());
        std::fs::File::open(&file)?.sync_all()?;
        let mut dir = file.parent();
        for _ in 0..2 {
            let Some(d) = dir else { break };
            weir_storage::sync_dir(d)?;
            if d == root {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    /// The default store of a broker: `file://<data_dir>/remote`.
    pub fn default_url(data_dir: &FsPath) -> String {
        let dir = std::path::absolute(data_dir.join("remote"))
            .unwrap_or_else(|_| data_dir.join("remote"));
        format!("file://{}", dir.display())
    }

    /// The URL the store was opened from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The underlying object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// `<prefix>/<topic>/<partition>`: everything of one partition.
    pub fn partition_prefix(&self, topic: &str, partition: i32) -> Path {
        self.prefix.clone().join(topic).join(partition.to_string())
    }

    /// The object of a tiered segment holding offsets `base..=last`.
    pub fn segment_path(&self, topic: &str, partition: i32, base: i64, last: i64) -> Path {
        self.partition_prefix(topic, partition)
            .join(format!("{base:020}-{last:020}.arrow"))
    }

    /// The manifest object of a partition.
    pub fn manifest_path(&self, topic: &str, partition: i32) -> Path {
        self.partition_prefix(topic, partition).join(MANIFEST_NAME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("r").display());
        let store = RemoteStore::open(&url).unwrap();
        assert!(dir.path().join("r").is_dir());
        assert_eq!(
            store.segment_path("t", 3, 0, 99).to_string(),
            "t/3/00000000000000000000-00000000000000000099.arrow"
        );
        assert_eq!(store.manifest_path("t", 3).to_string(), "t/3/manifest.json");
        assert!(RemoteStore::open("memory://").is_ok());
        for bad in ["ftp://x", "file://relative", "s3:///nobucket", "nonsense"] {
            assert!(RemoteStore::open(bad).is_err(), "{bad}");
        }
    }
}
