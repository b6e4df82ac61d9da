//! Encoding a response frame: size prefix, response header (whose version depends on the API
//! and version; ApiVersions always uses v0), then the body in the request's version.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

/// Why a response could not be encoded (a broker bug: a field that the version cannot carry).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {api_key:?} v{version} response: {reason}")]
pub struct EncodeError {
    /// The API.
    pub api_key: ApiKey,
    /// The version requested.
    pub version: i16,
    /// What the encoder reported.
    pub reason: String,
}

/// Encodes `body` as the complete frame (size prefix included) answering `correlation_id`.
pub fn encode(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<BytesMut, EncodeError> {
    let err = |e: anyhow::Error| EncodeError {
        api_key,
        version,
        reason: e.to_string(),
    };
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(&mut buf, api_key.response_header_version(version))
        .map_err(err)?;
    body.encode(&mut buf, version).map_err(err)?;
    let size = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;

    #[test]
    fn api_versions_header_is_v0_even_for_v3() {
        let body = ResponseKind::ApiVersions(ApiVersionsResponse::default());
        let frame = encode(ApiKey::ApiVersions, 3, 7, &body).unwrap();
        // size, correlation id, then directly the error code (no tagged-field byte in header v0).
        assert_eq!(&frame[4..8], &7i32.to_be_bytes());
        assert_eq!(&frame[8..10], &0i16.to_be_bytes());
        assert_eq!(
            frame.len() - 4,
            i32::from_be_bytes(frame[0..4].try_into().unwrap()) as usize
        );
    }
}
