//! The table store of one table-topic partition (`cleanup.policy=compact`): the latest row per
//! primary key in RocksDB, every change of every key (for as-of lookups and history), the
//! rows in offset order (for compacted reads), and the derivation of changelog records.
//!
//! The store is a materialised view of the partition's log: it records the last source offset
//! it applied, and after a crash the broker replays the log from there. That is why RocksDB's
//! write-ahead log is off (the partition log already is one) and why every apply is a single
//! atomic `WriteBatch` flushed atomically across column families.

mod layout;
mod read;
mod store;

use bytes::Bytes;
use weir_protocol::records::{decode_batch, LogRecord, RecordError};

pub use read::{AsOfReader, ScannedWrite, TableScan};
pub use store::{PreparedApply, TableStats, TableStore};

/// One record of a table topic, or the stored row of a key: the key is always present; a
/// `None` value is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Offset of the record in the topic's log.
    pub offset: i64,
    /// The record's timestamp.
    pub timestamp: i64,
    /// Primary key.
    pub key: Bytes,
    /// Row value; `None` for a delete.
    pub value: Option<Bytes>,
    /// Record headers as produced (order and repeats kept).
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

impl Row {
    /// The row as a Kafka record, for compacted reads.
    pub fn to_log_record(&self) -> LogRecord {
        LogRecord {
            offset: self.offset,
            timestamp: self.timestamp,
            key: Some(self.key.clone()),
            value: self.value.clone(),
            headers: self.headers.clone(),
        }
    }
}

/// The kind of a change record, as Fluss and Flink name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// `+I`: a key that was absent now has a value.
    Insert,
    /// `-U`: the old image of an updated key.
    UpdateBefore,
    /// `+U`: the new image of an updated key.
    UpdateAfter,
    /// `-D`: the old image of a deleted key.
    Delete,
}

impl ChangeOp {
    /// `+I`, `-U`, `+U` or `-D`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Insert => "+I",
            ChangeOp::UpdateBefore => "-U",
            ChangeOp::UpdateAfter => "+U",
            ChangeOp::Delete => "-D",
        }
    }
}

/// One change derived from a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub op: ChangeOp,
    /// Offset of the write in the topic's log.
    pub source_offset: i64,
    /// Timestamp of the write.
    pub timestamp: i64,
    /// Primary key.
    pub key: Bytes,
    /// The row image: the old one for `-U`/`-D`, the new one for `+I`/`+U`.
    pub value: Option<Bytes>,
    /// The headers of the write at `source_offset` (lineage: which job or model wrote it).
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

/// The header on a tombstone the broker writes when a row's TTL ends
/// (`cleanup.policy=compact,delete`); its `-D` in the changelog carries it too.
pub const EXPIRED_HEADER: &str = "weir.expired";

/// One record of a produced batch that a table refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRecord {
    /// Position of the record in its batch (Kafka's `batch_index`).
    pub batch_index: usize,
    /// Why, in words.
    pub message: String,
}

/// Why a table operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Records of a batch break the table's rules (a missing key, a value the changelog format
    /// cannot carry); nothing of the batch is applied.
    #[error("{} record(s) refused, the first at batch index {}: {}", .records.len(), first_index(.records), first_message(.records))]
    RefusedRecords {
        /// Every refused record, in batch order (never empty).
        records: Vec<RefusedRecord>,
    },
    /// The records of a batch could not be read.
    #[error("unreadable record batch: {0}")]
    Records(#[from] RecordError),
    /// RocksDB failed.
    #[error("table store: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A stored value does not decode (corruption or a format change).
    #[error("table store holds a malformed {what}: {reason}")]
    Corrupt {
        /// Which kind of entry.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl TableError {
    /// Whether the store's files are damaged (corrupt, missing or unparseable) rather than
    /// unreachable for now (an I/O error, a lock another process holds): only a damaged store
    /// is worth setting aside and rebuilding from the log.
    pub fn is_damaged_store(&self) -> bool {
        match self {
            TableError::Corrupt { .. } => true,
            TableError::Rocks(e) => match e.kind() {
                rocksdb::ErrorKind::Corruption
                | rocksdb::ErrorKind::NotFound
                | rocksdb::ErrorKind::InvalidArgument
                | rocksdb::ErrorKind::NotSupported => true,
                rocksdb::ErrorKind::IOError => e.as_ref().contains("No such file"),
                _ => false,
            },
            TableError::RefusedRecords { .. } | TableError::Records(_) => false,
        }
    }
}

fn first_index(records: &[RefusedRecord]) -> usize {
    records.first().map_or(0, |r| r.batch_index)
}

fn first_message(records: &[RefusedRecord]) -> &str {
    records.first().map_or("", |r| r.message.as_str())
}

/// The message of a record refused for having no key.
pub const MISSING_KEY_MESSAGE: &str =
    "table topics (cleanup.policy=compact) require a key on every record; this record has none";

/// Decodes the records of one batch as table rows. Every record without a key is reported
/// (by its position in the batch) in one [`TableError::RefusedRecords`].
pub fn parse_batch(batch: &[u8]) -> Result<Vec<Row>, TableError> {
    parse_batch_with(batch, |_| None)
}

/// [`parse_batch`] with a further rule: `refuse` returns why a (keyed) record is not
/// acceptable, or `None`. Every refused record is reported, in batch order.
pub fn parse_batch_with(
    batch: &[u8],
    refuse: impl Fn(&LogRecord) -> Option<String>,
) -> Result<Vec<Row>, TableError> {
    let records = decode_batch(batch)?;
    let refused: Vec<RefusedRecord> = records
        .iter()
        .enumerate()
        .filter_map(|(batch_index, r)| {
            let message = match &r.key {
                None => Some(MISSING_KEY_MESSAGE.to_string()),
                Some(_) => refuse(r),
            }?;
            Some(RefusedRecord {
                batch_index,
                message,
            })
        })
        .collect();
    if !refused.is_empty() {
        return Err(TableError::RefusedRecords { records: refused });
    }
    Ok(records
        .into_iter()
        .filter_map(|r| {
            Some(Row {
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key?,
                value: r.value,
                headers: r.headers,
            })
        })
        .collect())
}
