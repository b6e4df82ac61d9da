//! Bounded decompression of record-batch payloads, for every codec Kafka defines.
//!
//! A batch of a few hundred bytes can inflate to gigabytes (a "decompression bomb"), so the
//! output is always streamed through a hard cap: [`decompress`] stops reading as soon as one
//! byte more than `max_output` has come out and refuses the batch. Memory never exceeds the cap
//! plus one read buffer and the codec's own bounded state (the zstd window is limited to
//! 2^[`ZSTD_WINDOW_LOG_MAX`] bytes; a snappy block's declared size is checked before anything
//! is allocated for it).
//!
//! Framing follows what Kafka's Java clients write and read: gzip may hold several members (as
//! `GZIPInputStream` reads them), snappy is xerial-framed (`SnappyOutputStream`) with a raw
//! snappy fallback when the magic header is missing (as `SnappyInputStream` does), lz4 is the
//! LZ4 frame format, zstd may hold several concatenated frames. The codecs themselves are the
//! `flate2`, `snap`, `lz4` and `zstd` crates.

use std::io::Read;

use bytes::Bytes;

/// Codec id of uncompressed batches.
pub const NONE: i16 = 0;
/// Codec id of gzip.
pub const GZIP: i16 = 1;
/// Codec id of snappy.
pub const SNAPPY: i16 = 2;
/// Codec id of lz4.
pub const LZ4: i16 = 3;
/// Codec id of zstd.
pub const ZSTD: i16 = 4;

/// The largest zstd window (log2 bytes) a batch may ask for: 16 MiB, enough for every level
/// Kafka clients use by default, and a bound on the decoder's memory whatever a frame claims.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// Size of the buffer decompressed bytes are read through.
const READ_CHUNK: usize = 64 * 1024;

/// Magic header of xerial-framed snappy (`SnappyOutputStream`): magic, version 1, compatible 1.
const SNAPPY_MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

/// Why a payload cannot be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// The codec id is not one Kafka defines (0..=4).
    #[error("unknown compression codec {0}")]
    UnknownCodec(i16),
    /// The output would exceed the cap.
    #[error("{codec} payload decompresses to more than the limit of {max} bytes")]
    TooLarge {
        /// Codec name.
        codec: &'static str,
        /// The cap, in bytes.
        max: usize,
    },
    /// The compressed stream is malformed or truncated.
    #[error("cannot decompress {codec} payload: {reason}")]
    Corrupt {
        /// Codec name.
        codec: &'static str,
        /// What the decoder reported.
        reason: String,
    },
}

/// The name of a codec id (`none`, `gzip`, `snappy`, `lz4`, `zstd`), `None` for other ids.
pub fn codec_name(codec: i16) -> Option<&'static str> {
    match codec {
        NONE => Some("none"),
        GZIP => Some("gzip"),
        SNAPPY => Some("snappy"),
        LZ4 => Some("lz4"),
        ZSTD => Some("zstd"),
        _ => None,
    }
}

/// Decompresses `input` written with codec id `codec`, refusing output longer than
/// `max_output` bytes (the uncompressed codec included: its output is the input).
pub fn decompress(codec: i16, input: &[u8], max_output: usize) -> Result<Bytes, CompressionError> {
    let name = codec_name(codec).ok_or(CompressionError::UnknownCodec(codec))?;
    let too_large = || CompressionError::TooLarge {
        codec: name,
        max: max_output,
    };
    let corrupt = |reason: String| CompressionError::Corrupt {
        codec: name,
        reason,
    };
    let out = match codec {
        NONE => {
            if input.len() > max_output {
                return Err(too_large());
            }
            return Ok(Bytes::copy_from_slice(input));
        }
        GZIP => read_bounded(flate2::read::MultiGzDecoder::new(input), max_output)
            .map_err(|e| e.into_error(name, max_output))?,
        SNAPPY => snappy(input, max_output).map_err(|e| e.into_error(name, max_output))?,
        LZ4 => {
            let mut decoder = lz4::Decoder::new(input).map_err(|e| corrupt(e.to_string()))?;
            let out = read_bounded(&mut decoder, max_output)
                .map_err(|e| e.into_error(name, max_output))?;
            // The decoder reports a truncated frame as a clean end; finish() knows better.
            decoder.finish().1.map_err(|e| corrupt(e.to_string()))?;
            out
        }
        _ => {
            let mut decoder =
                zstd::stream::read::Decoder::new(input).map_err(|e| corrupt(e.to_string()))?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| corrupt(e.to_string()))?;
            read_bounded(decoder, max_output).map_err(|e| e.into_error(name, max_output))?
        }
    };
    Ok(Bytes::from(out))
}

/// Why [`read_bounded`] stopped without a result.
enum Bounded {
    TooLarge,
    Corrupt(String),
}

impl Bounded {
    fn into_error(self, codec: &'static str, max: usize) -> CompressionError {
        match self {
            Bounded::TooLarge => CompressionError::TooLarge { codec, max },
            Bounded::Corrupt(reason) => CompressionError::Corrupt { codec, reason },
        }
    }
}

/// Reads `reader` to its end into a buffer that never grows past `max` bytes: as soon as one
/// more byte arrives, reading stops with [`Bounded::TooLarge`]. Growth is geometric but
/// clamped to `max`, so a full buffer costs at most `max` bytes (plus the previous buffer
/// while it is moved) and one read chunk.
fn read_bounded<R: Read>(mut reader: R, max: usize) -> Result<Vec<u8>, Bounded> {
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Bounded::Corrupt(e.to_string())),
        };
        let len = out.len() + n;
        if len > max {
            return Err(Bounded::TooLarge);
        }
        if len > out.capacity() {
            let target = out.capacity().saturating_mul(2).max(len).min(max);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Snappy as Kafka clients write it: xerial framing (magic header, then blocks each prefixed
/// by its big-endian u32 compressed length), or raw snappy when the header is missing. Every
/// block's declared uncompressed length is checked against what is left of the cap before
/// any memory is reserved for it.
fn snappy(input: &[u8], max: usize) -> Result<Vec<u8>, Bounded> {
    let mut decoder = snap::raw::Decoder::new();
    let mut block = |data: &[u8], out: &mut Vec<u8>| -> Result<(), Bounded> {
        let len = snap::raw::decompress_len(data).map_err(|e| Bounded::Corrupt(e.to_string()))?;
        if len > max - out.len() {
            return Err(Bounded::TooLarge);
        }
        let start = out.len();
        out.resize(start + len, 0);
        let written = decoder
            .decompress(data, &mut out[start..])
            .map_err(|e| Bounded::Corrupt(e.to_string()))?;
        out.truncate(start + written);
        Ok(())
    };
    let mut out = Vec::new();
    let Some(mut rest) = input.strip_prefix(SNAPPY_MAGIC.as_slice()) else {
        block(input, &mut out)?;
        return Ok(out);
    };
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(Bounded::Corrupt("truncated snappy block length".into()));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > tail.len() {
            return Err(Bounded::Corrupt(format!(
                "snappy block of {len} bytes with {} left",
                tail.len()
            )));
        }
        let (data, next) = tail.split_at(len);
        block(data, &mut out)?;
        rest = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn xerial(blocks: &[&[u8]]) -> Vec<u8> {
        let mut out = SNAPPY_MAGIC.to_vec();
        for b in blocks {
            let c = snap::raw::Encoder::new().compress_vec(b).unwrap();
            out.extend_from_slice(&(c.len() as u32).to_be_bytes());
            out.extend_from_slice(&c);
        }
        out
    }

    fn lz4_frame(data: &[u8]) -> Vec<u8> {
        let mut e = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        e.write_all(data).unwrap();
        let (out, r) = e.finish();
        r.unwrap();
        out
    }

    #[test]
    fn every_codec_round_trips_within_the_cap() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let cases = [
            (NONE, data.clone()),
            (GZIP, gzip(&data)),
            (SNAPPY, xerial(&[&data[..30_000], &data[30_000..]])),
            (
                SNAPPY,
                snap::raw::Encoder::new().compress_vec(&data).unwrap(),
            ),
            (LZ4, lz4_frame(&data)),
            (ZSTD, zstd::encode_all(&data[..], 3).unwrap()),
        ];
        for (codec, input) in cases {
            let out = decompress(codec, &input, data.len()).unwrap();
            assert_eq!(&out[..], &data[..], "codec {codec}");
            assert_eq!(
                decompress(codec, &input, data.len() - 1),
                Err(CompressionError::TooLarge {
                    codec: codec_name(codec).unwrap(),
                    max: data.len() - 1
                }),
                "codec {codec}"
            );
        }
    }

    #[test]
    fn concatenated_gzip_members_and_zstd_frames_are_read_whole() {
        let mut g = gzip(b"hello ");
        g.extend(gzip(b"world"));
        assert_eq!(&decompress(GZIP, &g, 100).unwrap()[..], b"hello world");
        let mut z = zstd::encode_all(&b"hello "[..], 1).unwrap();
        z.extend(zstd::encode_all(&b"world"[..], 1).unwrap());
        assert_eq!(&decompress(ZSTD, &z, 100).unwrap()[..], b"hello world");
    }

    #[test]
    fn unknown_codecs_and_garbage_are_errors() {
        for id in [5, 6, 7, -1] {
            assert_eq!(
                decompress(id, b"x", 10),
                Err(CompressionError::UnknownCodec(id))
            );
        }
        for codec in [GZIP, SNAPPY, LZ4, ZSTD] {
            assert!(matches!(
                decompress(codec, b"\x00\x01garbage-bytes-here", 1 << 20),
                Err(CompressionError::Corrupt { .. })
            ));
        }
        // Truncated lz4 and zstd frames are not silently shortened output.
        let lz = lz4_frame(&[7u8; 10_000]);
        assert!(decompress(LZ4, &lz[..lz.len() - 3], 1 << 20).is_err());
        let z = zstd::encode_all(&[7u8; 10_000][..], 3).unwrap();
        assert!(decompress(ZSTD, &z[..z.len() - 3], 1 << 20).is_err());
        // A xerial block whose length runs past the end.
        let mut x = xerial(&[b"abc"]);
        x.truncate(x.len() - 1);
        assert!(matches!(
            decompress(SNAPPY, &x, 100),
            Err(CompressionError::Corrupt { .. })
        ));
    }

    #[test]
    fn snappy_declared_lengths_are_checked_before_allocating() {
        // A raw snappy stream that claims 4 GiB - 1 of output in its 5-byte preamble.
        let raw = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert_eq!(
            decompress(SNAPPY, &raw, 1 << 20),
            Err(CompressionError::TooLarge {
                codec: "snappy",
                max: 1 << 20
            })
        );
        let mut framed = SNAPPY_MAGIC.to_vec();
        framed.extend_from_slice(&(raw.len() as u32).to_be_bytes());
        framed.extend_from_slice(&raw);
        assert!(matches!(
            decompress(SNAPPY, &framed, 1 << 20),
            Err(CompressionError::TooLarge { .. })
        ));
    }

    #[test]
    fn zstd_windows_past_the_limit_are_refused() {
        let data = vec![1u8; 1 << 16];
        let mut c = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        c.window_log(ZSTD_WINDOW_LOG_MAX + 2).unwrap();
        c.write_all(&data).unwrap();
        let big_window = c.finish().unwrap();
        assert!(matches!(
            decompress(ZSTD, &big_window, 1 << 30),
            Err(CompressionError::Corrupt { .. })
        ));
    }
}
