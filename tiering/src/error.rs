//! Errors of the tiering crate.
//!
//! One enum, [`TieringError`], for every module: converting segments to Arrow IPC files and
//! back, the object store, the manifest and the local files tiering uses.

use arrow_schema::ArrowError;
use weir_protocol::records::RecordError;

/// `Result` with [`TieringError`] as the default error.
pub type Result<T, E = TieringError> = std::result::Result<T, E>;

/// Why a segment cannot be tiered or a tiered file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TieringError {
    /// Arrow failed to build, write or decode data (including I/O errors of the writer).
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// A Kafka batch of the segment cannot be read (bad header, CRC, codec or record).
    #[error("cannot read the record batch at offset {base_offset}: {source}")]
    Record {
        /// Base offset of the batch.
        base_offset: i64,
        /// What is wrong with it.
        #[source]
        source: RecordError,
    },
    /// The segment holds something a tiered file cannot represent (an empty batch, offsets
    /// going backwards, a batch too large for one Arrow chunk).
    #[error("segment cannot be tiered: {0}")]
    Untierable(String),
    /// The segment had no batches: there is nothing to write.
    #[error("segment has no record batches")]
    EmptySegment,
    /// A tiered file (footer, chunk index, IPC block or columns) is malformed.
    #[error("corrupt tiered segment file: {0}")]
    Corrupt(String),
    /// The bytes given as the end of a file do not hold the whole footer; read at least
    /// `needed` bytes from the end of the file and try again.
    #[error("need the last {needed} bytes of the file to read its footer, got {got}")]
    TailTooShort {
        /// Bytes needed from the end of the file (footer + trailer).
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// A chunk index past the end of the file's chunk list.
    #[error("chunk {index} does not exist (the file has {count})")]
    NoSuchChunk {
        /// The index asked for.
        index: usize,
        /// Chunks in the file.
        count: usize,
    },
    /// The object store failed (unreachable, refused, object missing).
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// A local file (spool file, manifest copy) could not be read or written.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The partition log failed.
    #[error("log: {0}")]
    Storage(#[from] weir_storage::StorageError),
    /// A manifest is unreadable or inconsistent.
    #[error("manifest: {0}")]
    Manifest(String),
    /// The object store URL or a setting is wrong.
    #[error("{0}")]
    Config(String),
    /// The local segment to upload no longer exists (retention or DeleteRecords removed it).
    #[error("segment no longer exists: {0}")]
    SegmentGone(String),
}

impl TieringError {
    /// Whether the local data itself is at fault (a stored batch that does not decode, a
    /// segment a tiered file cannot represent): retrying cannot help until the segment is
    /// repaired or removed, unlike a store outage.
    pub fn is_stored_data_fault(&self) -> bool {
        matches!(
            self,
            TieringError::Record { .. }
                | TieringError::Untierable(_)
                | TieringError::EmptySegment
                | TieringError::Storage(weir_storage::StorageError::CorruptStored(_))
        )
    }

    /// Shorthand for [`TieringError::Corrupt`].
    pub(crate) fn corrupt(message: impl Into<String>) -> TieringError {
        TieringError::Corrupt(message.into())
    }
}
