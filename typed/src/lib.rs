//! Typed values of table topics (`value.format=json`): the value schema a topic declares in
//! `value.schema` or infers from its records ([`ValueSchema`], [`infer`]), the check that
//! refuses a produced value that does not match it, and the decoding of stored JSON values
//! into Arrow struct columns for tiered files, snapshots and point-in-time joins
//! ([`ValueCodec`]). JSON is parsed by `serde_json` (inference) and `arrow-json` (checks and
//! columns); nothing here parses bytes by hand.

mod codec;
pub mod infer;
mod schema;

pub use codec::ValueCodec;
pub use schema::ValueSchema;

/// Why a schema or a value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypedError {
    /// `value.schema` is not a schema document.
    #[error("invalid value.schema: {0}")]
    Schema(String),
    /// A value does not match the schema; the message names the field.
    #[error("{0}")]
    Value(String),
}

/// Error messages quote the offending JSON; a hostile value must not make them huge.
pub(crate) fn bounded(mut message: String) -> String {
    const MAX: usize = 300;
    if message.len() > MAX {
        let mut cut = MAX;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}
