//! Length-prefixed framing: every Kafka request and response is a big-endian `int32` size
//! followed by that many bytes.
//!
//! [`FrameDecoder`] splits a byte stream into frames with Kafka's limit on request size
//! (`socket.request.max.bytes`); an oversize or negative size is an error that closes the
//! connection, exactly as Kafka does. Unlike tokio-util's `LengthDelimitedCodec`, it never
//! reserves the declared length before the bytes arrive: while a frame is incomplete it asks
//! for at most [`GROWTH_CHUNK`] more room (the buffer otherwise grows by doubling as reads fill
//! it), so a client that sends a 4-byte length of 100 MiB and then nothing costs a few KiB, and
//! buffer memory stays within twice the bytes actually received plus a chunk.

use bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

/// Kafka's default `socket.request.max.bytes` (100 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// The most buffer room the decoder reserves ahead of the bytes that have arrived.
pub const GROWTH_CHUNK: usize = 16 * 1024;

const LENGTH_BYTES: usize = 4;

/// Splits a byte stream into Kafka frames of at most `max_frame_bytes` (length prefix
/// stripped).
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameDecoder { max_frame_bytes }
    }
}

impl Decoder for FrameDecoder {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, std::io::Error> {
        if src.len() < LENGTH_BYTES {
            return Ok(None);
        }
        let declared = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        let len = usize::try_from(declared).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("negative frame length {declared}"),
            )
        })?;
        if len > self.max_frame_bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "frame length {len} exceeds socket.request.max.bytes ({})",
                    self.max_frame_bytes
                ),
            ));
        }
        let arrived = src.len() - LENGTH_BYTES;
        if arrived < len {
            // Room for the next read: at most one chunk, never the declared length itself.
            let want = (len - arrived).min(GROWTH_CHUNK);
            if src.capacity() - src.len() < want {
                src.reserve(want);
            }
            return Ok(None);
        }
        src.advance(LENGTH_BYTES);
        Ok(Some(src.split_to(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn splits_frames_and_waits_for_truncated_ones() {
        let mut c = FrameDecoder::new(16);
        let mut buf = BytesMut::new();
        buf.put_i32(3);
        buf.put_slice(b"abc");
        buf.put_i32(0);
        buf.put_i32(2);
        buf.put_slice(b"d");
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"abc");
        assert!(
            c.decode(&mut buf).unwrap().unwrap().is_empty(),
            "empty frame"
        );
        assert!(
            c.decode(&mut buf).unwrap().is_none(),
            "truncated frame waits"
        );
        buf.put_u8(b'e');
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"de");
        assert!(buf.is_empty());
        let mut partial = BytesMut::from(&[0u8, 0][..]);
        assert!(
            c.decode(&mut partial).unwrap().is_none(),
            "partial length waits"
        );
    }

    #[test]
    fn rejects_oversize_and_negative_lengths() {
        let mut big = BytesMut::new();
        big.put_i32(17);
        let err = FrameDecoder::new(16).decode(&mut big).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let mut exact = BytesMut::new();
        exact.put_i32(16);
        exact.put_slice(&[7; 16]);
        assert_eq!(
            FrameDecoder::new(16)
                .decode(&mut exact)
                .unwrap()
                .unwrap()
                .len(),
            16
        );
        for negative in [-1, i32::MIN] {
            let mut buf = BytesMut::new();
            buf.put_i32(negative);
            let err = FrameDecoder::new(DEFAULT_MAX_REQUEST_BYTES)
                .decode(&mut buf)
                .unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        }
    }

    #[test]
    fn a_bare_length_does_not_reserve_the_declared_size() {
        let mut c = FrameDecoder::new(DEFAULT_MAX_REQUEST_BYTES);
        let mut buf = BytesMut::new();
        buf.put_i32(DEFAULT_MAX_REQUEST_BYTES as i32);
        assert!(c.decode(&mut buf).unwrap().is_none());
        assert!(
            buf.capacity() <= 2 * GROWTH_CHUNK,
            "capacity {} after a bare 100 MiB length",
            buf.capacity()
        );
    }

    #[test]
    fn buffer_grows_with_the_bytes_that_arrive() {
        let len = 10 * 1024 * 1024;
        let mut c = FrameDecoder::new(DEFAULT_MAX_REQUEST_BYTES);
        let mut buf = BytesMut::new();
        buf.put_i32(len as i32);
        let mut sent = 0;
        // Feed the frame in 1000-byte reads, as a socket would, and check the buffer never
        // holds much more room than twice what arrived.
        while sent < len {
            assert!(c.decode(&mut buf).unwrap().is_none());
            assert!(
                buf.capacity() <= 2 * buf.len() + 2 * GROWTH_CHUNK,
                "capacity {} with {} bytes buffered",
                buf.capacity(),
                buf.len()
            );
            let n = 1000.min(len - sent);
            buf.put_bytes((sent % 251) as u8, n);
            sent += n;
        }
        let frame = c.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.len(), len);
        assert!(buf.is_empty());
    }
}
