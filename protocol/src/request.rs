//! Decoding one frame into a typed request.
//!
//! The header is read first (its version depends on the API key and version), then the body
//! through `kafka_protocol`'s [`RequestKind`]. The outcomes Kafka distinguishes are kept apart
//! in [`DecodeError`]: an unknown API key or an unparsable frame closes the connection, while
//! an ApiVersions request of a version we do not speak is answered (in v0) with
//! `UNSUPPORTED_VERSION`, which the caller handles through [`DecodeError::UnsupportedApiVersions`].

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Decodable, VersionRange};

/// A decoded request: its header and typed body.
#[derive(Debug)]
pub struct Request {
    /// The API this request is for.
    pub api_key: ApiKey,
    /// The request header (API version, correlation id, client id).
    pub header: RequestHeader,
    /// The decoded body.
    pub body: RequestKind,
}

impl Request {
    /// The API version the client used; the response is encoded in the same version.
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }
}

/// Why a frame could not become a [`Request`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame is shorter than the fixed part of a request header.
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    /// The API key is not one Kafka defines.
    #[error("unknown API key {api_key} (correlation id {correlation_id})")]
    UnknownApiKey {
        /// The key the client sent.
        api_key: i16,
        /// The client's correlation id.
        correlation_id: i32,
    },
    /// An ApiVersions request of a version outside the supported range: Kafka answers it in v0.
    #[error("ApiVersions v{version} is not supported (correlation id {correlation_id})")]
    UnsupportedApiVersions {
        /// The version the client asked for.
        version: i16,
        /// The client's correlation id.
        correlation_id: i32,
    },
    /// Another API at a version this broker does not accept.
    #[error("{api_key:?} v{version} is not supported (supported {min}..={max})")]
    UnsupportedVersion {
        /// The API.
        api_key: ApiKey,
        /// The version the client sent.
        version: i16,
        /// Lowest accepted version.
        min: i16,
        /// Highest accepted version.
        max: i16,
    },
    /// The header or body does not parse at the version given.
    #[error("malformed {api_key:?} v{version} request: {reason}")]
    Malformed {
        /// The API.
        api_key: ApiKey,
        /// The version the client sent.
        version: i16,
        /// What the decoder reported.
        reason: String,
    },
}

/// Decodes one frame (without its length prefix).
///
/// `supported` gives the accepted version range of an API key, or `None` when the broker does
/// not implement it; a request for an unimplemented API is reported as an unsupported version.
pub fn decode(
    mut frame: Bytes,
    supported: impl Fn(ApiKey) -> Option<VersionRange>,
) -> Result<Request, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::TooShort(frame.len()));
    }
    let raw_key = (&frame[0..2]).get_i16();
    let version = (&frame[2..4]).get_i16();
    let correlation_id = (&frame[4..8]).get_i32();
    let api_key = ApiKey::try_from(raw_key).map_err(|_| DecodeError::UnknownApiKey {
        api_key: raw_key,
        correlation_id,
    })?;
    let range = supported(api_key).filter(|r| version >= r.min && version <= r.max);
    let Some(_) = range else {
        if api_key == ApiKey::ApiVersions {
            return Err(DecodeError::UnsupportedApiVersions {
                version,
                correlation_id,
            });
        }
        let r = supported(api_key).unwrap_or(VersionRange { min: -1, max: -1 });
        return Err(DecodeError::UnsupportedVersion {
            api_key,
            version,
            min: r.min,
            max: r.max,
        });
    };
    // Versions we advertise but the codec cannot read (Produce v0-2, message format v0/v1):
    // Kafka 4 refuses them the same way, by closing the connection.
    let codec = api_key.valid_versions();
    if version < codec.min || version > codec.max {
        return Err(DecodeError::UnsupportedVersion {
            api_key,
            version,
            min: codec.min,
            max: codec.max,
        });
    }
    let malformed = |e: anyhow::Error| DecodeError::Malformed {
        api_key,
        version,
        reason: e.to_string(),
    };
    let header_version = api_key.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version).map_err(malformed)?;
    let body = RequestKind::decode(api_key, &mut frame, version).map_err(malformed)?;
    Ok(Request {
        api_key,
        header,
        body,
    })
}
