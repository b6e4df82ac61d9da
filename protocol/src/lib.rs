//! Weir's view of the Kafka wire protocol.
//!
//! The message codecs themselves come from the [`kafka_protocol`] crate; this crate owns what
//! sits around them: the length-prefixed [`frame`] codec, decoding a frame into a typed
//! [`request::Request`] (with the special cases Kafka defines for unknown keys and unsupported
//! versions), encoding a [`response`] with the right header version, and the record batch v2
//! header view in [`record_batch`] (offsets, timestamps, CRC-32C) that the storage layer uses
//! to store batches exactly as received, [`records`] for reading and building the records
//! inside a batch with every header kept, [`compression`] for decompression with a hard output
//! cap, and [`validate_records`] for Kafka's validation of a produced batch's records.

pub mod compression;
pub mod frame;
pub mod record_batch;
pub mod records;
pub mod request;
pub mod response;
pub mod validate_records;

pub use kafka_protocol;
