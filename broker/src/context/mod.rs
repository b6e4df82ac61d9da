//! The context store's columnar side: the same table answers the offline questions that the
//! lookups answer online, through the one "as of" implementation of `crate::tables`:
//!
//! - [`join`]: the point-in-time join of input rows (key, timestamp, passthrough columns)
//!   with one or more tables, batch by batch;
//! - [`snapshot`]: every live row of a table as of now or a timestamp;
//! - [`columns`]: the Arrow columns both give rows as (typed values when the table has a
//!   value schema).
//!
//! The HTTP side (`crate::http_context`) streams Arrow IPC in and out; nothing here knows
//! about HTTP.

pub mod columns;
pub mod join;
pub mod snapshot;

use crate::errors::ApiError;

/// Why a context request fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The request is malformed (a missing column, a column of the wrong type, unreadable
    /// Arrow or JSON).
    #[error("{0}")]
    BadRequest(String),
    /// A table does not exist or is not a table topic.
    #[error("{0}")]
    NotFound(String),
    /// One message of the request is over the body limit.
    #[error("{0}")]
    TooLarge(String),
    /// A table's state cannot be read now.
    #[error("{0}")]
    Unavailable(String),
}

impl From<ApiError> for ContextError {
    fn from(e: ApiError) -> ContextError {
        ContextError::Unavailable(e.message)
    }
}

impl From<arrow_schema::ArrowError> for ContextError {
    fn from(e: arrow_schema::ArrowError) -> ContextError {
        ContextError::BadRequest(e.to_string())
    }
}
