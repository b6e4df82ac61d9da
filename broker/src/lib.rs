//! Weir's broker: a single-node, Kafka-compatible streaming-storage server.
//!
//! The data path of a produce request: [`server`] accepts -> [`connection`] frames and decodes
//! -> [`handlers`] (`produce`) -> `weir_storage::PartitionLog::append` -> response.

pub mod access;
pub mod broker;
pub mod cli;
pub mod config;
pub mod connection;
pub mod context;
pub mod errors;
pub mod groups;
pub mod handlers;
pub mod http;
pub mod http_auth;
pub mod http_context;
pub mod http_storage;
pub mod http_tables;
pub mod limits;
pub mod listeners;
pub mod metrics;
pub mod persist;
pub mod producer_ids;
pub mod server;
pub mod session;
pub mod tables;
pub mod topic_config;
pub mod topics;
