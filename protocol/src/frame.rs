//! Length-prefixed framing: every Kafka request and response is a big-endian `int32` size
//! followed by that many bytes.
//!
//! [`FrameCodec`] wraps tokio-util's length-delimited codec with Kafka's limit on request size
//! (`socket.request.max.bytes`); an oversize or negative size is an error that closes the
//! connection, exactly as Kafka does.

use tokio_util::codec::{length_delimited, LengthDelimitedCodec};

/// Kafka's default `socket.request.max.bytes` (100 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// Builds the codec that splits a byte stream into Kafka frames of at most `max_frame_bytes`.
///
/// The 4-byte length prefix is stripped from decoded frames and added to encoded ones.
pub fn codec(max_frame_bytes: usize) -> LengthDelimitedCodec {
    length_delimited::Builder::new()
        .big_endian()
        .length_field_length(4)
        .max_frame_length(max_frame_bytes)
        .new_codec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use tokio_util::codec::Decoder;

    #[test]
    fn splits_frames_and_rejects_oversize() {
        let mut c = codec(16);
        let mut buf = BytesMut::new();
        buf.put_i32(3);
        buf.put_slice(b"abc");
        buf.put_i32(2);
        buf.put_slice(b"d");
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"abc");
        assert!(
            c.decode(&mut buf).unwrap().is_none(),
            "truncated frame waits"
        );
        let mut big = BytesMut::new();
        big.put_i32(17);
        assert!(codec(16).decode(&mut big).is_err());
        let mut negative = BytesMut::new();
        negative.put_i32(-1);
        assert!(codec(DEFAULT_MAX_REQUEST_BYTES)
            .decode(&mut negative)
            .is_err());
    }
}
