//! `weir-tiering`: closed log segments as Arrow IPC files on object storage, read back as
//! Kafka record batches.
//!
//! - [`store`]: the object store (`file://`, `s3://`, `memory://`) and object names;
//! - [`schema`], [`segment_file`], [`layout`], [`rebuild`]: a segment's batches as an Arrow
//!   IPC file in chunks, the footer index that allows ranged reads of one chunk, and the
//!   rebuilding of Kafka batches from rows;
//! - [`manifest`]: the per-partition record of what is uploaded;
//! - [`partition`]: one partition's tiering state, remote reads and manifest changes;
//! - [`reconcile`]: settling and repairing a manifest against the store after a restart;
//! - [`upload`], [`service`]: the background uploader and retention loop;
//! - [`cache`], [`metrics`]: the read cache and the metric handles.

pub mod cache;
pub mod error;
pub mod layout;
pub mod manifest;
pub mod metrics;
pub mod partition;
pub mod rebuild;
pub mod reconcile;
pub mod schema;
pub mod segment_file;
pub mod service;
pub mod store;
pub mod upload;

pub use error::{Result, TieringError};
pub use layout::{ChunkLocation, FileLayout, TRAILER_LEN};
pub use manifest::{Manifest, RemoteSegment};
pub use partition::{PartitionId, TieredPartition};
pub use segment_file::{ChunkLimits, SegmentFileWriter, SegmentSummary};
pub use service::{Tiering, TieringConfig};
pub use store::RemoteStore;
