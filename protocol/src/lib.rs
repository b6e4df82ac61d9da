//! Weir's view of the Kafka wire protocol.
//!
//! The message codecs themselves come from the [`kafka_protocol`] crate; this crate owns what
//! sits around them: the length-prefixed [`frame`] codec, decoding a frame into a typed
//! [`request::Request`] (with the special cases Kafka defines for unknown keys and unsupported
//! versions), encoding a [`response`] with the right header version, and the record batch v2
//! header view in [`record_batch`] (offsets, timestamps, CRC-32C) that the storage layer uses
//! to store batches exactly as received, and [`records`] for reading and building the records
//! inside a batch with every header kept.

pub mod frame;
pub mod record_batch;
pub mod records;
pub mod request;
pub mod response;

pub use kafka_protocol;
