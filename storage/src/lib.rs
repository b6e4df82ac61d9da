//! `weir-storage`: the on-disk partition logs of Weir.
//!
//! This crate owns everything below the produce and fetch handlers for log topics: segment
//! files of record batches stored exactly as received (v2, offsets assigned by rewriting the
//! base offset), sparse offset and time indexes, crash recovery (validate the active segment,
//! truncate torn tails), retention and rolling, DeleteRecords, idempotent-producer state, and
//! durability (group-commit fsync). The broker talks to it through [`PartitionLog`].
//!
//! Layout of a partition directory:
//! - `{base_offset:020}.log` — concatenated v2 record batches;
//! - `{base_offset:020}.index` — sparse offset index `(u32 relative offset, u32 position)`;
//! - `{base_offset:020}.timeindex` — time index `(i64 max timestamp so far, u32 relative offset)`;
//! - `log-start-offset` — the log start offset raised by DeleteRecords.
//!
//! Table topics add [`table::TableStore`], a RocksDB database per partition (in the partition
//! directory's `table/`) holding the latest row per key, the history of every key, and the
//! derivation of changelog records.
//!
//! A table write holds its appends ([`PartitionLog::append_held`]) until every part of it
//! succeeded, then publishes them, or undoes them so nothing refused is ever read.
//!
//! Index files are written when a segment is rolled and on [`PartitionLog::close`]; the active
//! segment's indexes live in memory and are rebuilt by scanning it on open.

mod closed_segments;
mod config;
mod durability;
mod error;
mod hold;
mod index;
mod lookup;
mod partition;
mod producer_state;
mod recovery;
mod retention;
mod segment;
pub mod table;
mod validate;

pub use closed_segments::{SegmentBatches, SegmentInfo};
pub use config::{LogConfig, TimestampType};
pub use durability::{create_dir_durable, sync_dir, write_atomic};
pub use error::StorageError;
pub use hold::HeldAppend;
pub use partition::{AppendLimits, AppendResult, PartitionLog, ReadResult, ValidatedRequest};
