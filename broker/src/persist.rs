//! Crash-safe small-file writes for broker metadata (topic definitions, producer id blocks,
//! cluster id): write a temporary file, fsync it, rename it over the target, fsync the
//! directory. A reader sees the old or the new content, never a torn one.

use std::io;
use std::path::Path;

/// Atomically replaces `path` with `contents`, creating its directory if needed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    weir_storage::create_dir_durable(dir)?;
    weir_storage::write_atomic(path, contents)
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.json");
        super::write_atomic(&p, b"one").unwrap();
        super::write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!dir.path().join("a/b.json.tmp").exists());
    }
}
