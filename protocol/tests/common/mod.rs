//! Shared helpers of the record-validator tests: valid batches of every codec built from
//! generated records, the mutations an attacker (or bit rot) applies to them, and an
//! independent reference parser that states Kafka's rules for a produced v2 batch.

#![allow(dead_code)]

use std::io::Write;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use weir_protocol::compression;
use weir_protocol::records::{encode_batch, rewrite_crc, LogRecord};

/// Codec ids Kafka defines.
pub const CODECS: [i16; 5] = [0, 1, 2, 3, 4];

/// Compresses `plain` with codec `codec` the way Kafka clients frame it.
pub fn compress(codec: i16, plain: &[u8]) -> Vec<u8> {
    match codec {
        0 => plain.to_vec(),
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(plain).unwrap();
            e.finish().unwrap()
        }
        2 => {
            // xerial framing, 32 KiB blocks, as snappy-java writes it.
            let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
            for block in plain.chunks(32 * 1024) {
                let c = snap::raw::Encoder::new().compress_vec(block).unwrap();
                out.extend_from_slice(&(c.len() as u32).to_be_bytes());
                out.extend_from_slice(&c);
            }
            out
        }
        3 => {
            let mut e = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
            e.write_all(plain).unwrap();
            let (out, r) = e.finish();
            r.unwrap();
            out
        }
        4 => zstd::encode_all(plain, 1).unwrap(),
        other => panic!("no codec {other}"),
    }
}

/// A batch header (61 bytes) with the given codec, count and last offset delta followed by
/// `payload`; lengths and CRC-32C consistent.
pub fn batch_with_payload(codec: i16, count: i32, last_delta: i32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(61 + payload.len());
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((49 + payload.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc
    b.extend_from_slice(&codec.to_be_bytes()); // attributes
    b.extend_from_slice(&last_delta.to_be_bytes());
    b.extend_from_slice(&1_000i64.to_be_bytes()); // base timestamp
    b.extend_from_slice(&1_000i64.to_be_bytes()); // max timestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(payload);
    rewrite_crc(&mut b).unwrap();
    b
}

/// A valid batch of `records` (offsets 0..n) with codec `codec`.
pub fn valid_batch(codec: i16, records: &[LogRecord]) -> Vec<u8> {
    let mut plain = BytesMut::new();
    encode_batch(&mut plain, records);
    let n = records.len() as i32;
    let mut b = batch_with_payload(codec, n, n - 1, &compress(codec, &plain[61..]));
    // The record timestamps are deltas from the encoder's base timestamp: keep its header's.
    b[27..43].copy_from_slice(&plain[27..43]);
    rewrite_crc(&mut b).unwrap();
    b
}

/// Records at offsets 0..n with arbitrary keys, values and headers (null keys and values,
/// repeated and empty header keys included).
pub fn arb_records() -> impl Strategy<Value = Vec<LogRecord>> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
    let record = (
        proptest::option::of(bytes()),
        proptest::option::of(bytes()),
        proptest::collection::vec((bytes(), proptest::option::of(bytes())), 0..4),
        -5_000i64..5_000,
    );
    proptest::collection::vec(record, 1..12).prop_map(|rs| {
        rs.into_iter()
            .enumerate()
            .map(|(i, (k, v, h, ts))| LogRecord {
                offset: i as i64,
                timestamp: 1_000 + ts,
                key: k.map(Bytes::from),
                value: v.map(Bytes::from),
                headers: h
                    .into_iter()
                    .map(|(k, v)| (Bytes::from(k), v.map(Bytes::from)))
                    .collect(),
            })
            .collect()
    })
}

/// What to do to a valid batch.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// XOR one byte (anywhere, header included).
    Flip { at: usize, mask: u8 },
    /// Cut the batch short.
    Truncate { keep: usize },
    /// Overwrite bytes at a position with an extreme varint (a length, count or delta).
    Varint { at: usize, value: i64 },
    /// Overwrite a 4-byte header field (length, count, last offset delta) with a value.
    Field { at: usize, value: i32 },
}

/// Interesting varint values: counts and lengths around the edges.
pub fn arb_extreme() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(-2i64),
        Just(-1),
        Just(0),
        Just(1),
        Just(1 << 30),
        Just(i64::from(i32::MAX)),
        Just(i64::from(i32::MIN)),
        Just(i64::MAX),
        -300i64..300,
    ]
}

pub fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        (any::<usize>(), arb_extreme()).prop_map(|(at, value)| Mutation::Varint { at, value }),
        (
            prop_oneof![Just(8usize), Just(23), Just(57)],
            prop_oneof![
                Just(-1i32),
                Just(0),
                Just(1),
                Just(5),
                Just(i32::MAX),
                -3i32..20
            ]
        )
            .prop_map(|(at, value)| Mutation::Field { at, value }),
    ]
}

/// Applies `m` to `batch`, then recomputes the CRC-32C (when the result still has a v2
/// header) so the change reaches the record validator instead of stopping at the CRC.
pub fn mutate(batch: &[u8], m: &Mutation) -> Vec<u8> {
    let mut b = batch.to_vec();
    match *m {
        Mutation::Flip { at, mask } => {
            let at = at % b.len();
            b[at] ^= mask;
        }
        Mutation::Truncate { keep } => b.truncate(keep % b.len()),
        Mutation::Varint { .. } if b.len() <= 61 => {}
        Mutation::Varint { at, value } => {
            let at = 61 + at % (b.len() - 61).max(1);
            let mut enc = Vec::new();
            let mut z = ((value << 1) ^ (value >> 63)) as u64;
            loop {
                let byte = (z & 0x7f) as u8;
                z >>= 7;
                if z == 0 {
                    enc.push(byte);
                    break;
                }
                enc.push(byte | 0x80);
            }
            let end = (at + enc.len()).min(b.len());
            b.splice(at..end, enc);
            // Keep the batch length honest so the change reaches the records.
            let len = (b.len() as i32 - 12).max(0);
            b[8..12].copy_from_slice(&len.to_be_bytes());
        }
        Mutation::Field { at, value } => {
            if b.len() >= at + 4 {
                b[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
        }
    }
    if b.len() >= 61 && b[16] == 2 {
        let _ = rewrite_crc(&mut b);
    }
    b
}

/// Kafka's zig-zag varint of at most `max_bytes` bytes whose value fits 64 bits.
fn ref_varint(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Option<i64> {
    let mut v: u128 = 0;
    for i in 0..max_bytes {
        let b = *buf.get(*pos + i)?;
        v |= u128::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *pos += i + 1;
            let u = u64::try_from(v).ok()?;
            return Some(((u >> 1) as i64) ^ -((u & 1) as i64));
        }
    }
    None
}

fn ref_int(buf: &[u8], pos: &mut usize) -> Option<i32> {
    i32::try_from(ref_varint(buf, pos, 5)?).ok()
}

/// A length-prefixed field: `Some(None)` for null, `Some(Some(len))`, `None` if malformed.
fn ref_bytes(buf: &[u8], pos: &mut usize, nullable: bool) -> Option<()> {
    let len = ref_int(buf, pos)?;
    if len == -1 && nullable {
        return Some(());
    }
    let len = usize::try_from(len).ok()?;
    if *pos + len > buf.len() {
        return None;
    }
    *pos += len;
    Some(())
}

fn ref_record(rec: &[u8], index: i32) -> Option<()> {
    let mut p = 1; // attributes
    if rec.is_empty() {
        return None;
    }
    ref_varint(rec, &mut p, 10)?; // timestamp delta
    if ref_int(rec, &mut p)? != index {
        return None;
    }
    ref_bytes(rec, &mut p, true)?; // key
    ref_bytes(rec, &mut p, true)?; // value
    let headers = ref_int(rec, &mut p)?;
    if headers < 0 {
        return None;
    }
    for _ in 0..headers {
        ref_bytes(rec, &mut p, false)?; // header key: never null
        ref_bytes(rec, &mut p, true)?;
    }
    (p == rec.len()).then_some(())
}

/// The reference verdict of Kafka's rules on one produced batch (CRC not considered):
/// exactly one complete v2 batch, a known codec, count >= 1 and = last offset delta + 1, the
/// payload within `cap` once decompressed, and exactly `count` well-formed records filling it,
/// record `i` at offset delta `i`.
pub fn reference_accepts(batch: &[u8], cap: usize) -> bool {
    let be32 = |at: usize| i32::from_be_bytes(batch[at..at + 4].try_into().unwrap());
    if batch.len() < 61 || batch[16] != 2 {
        return false;
    }
    let length = be32(8);
    if length < 49 || batch.len() != length as usize + 12 {
        return false;
    }
    let codec = i16::from_be_bytes([batch[21], batch[22]]) & 7;
    let count = be32(57);
    if codec > 4 || count <= 0 || i64::from(count) != i64::from(be32(23)) + 1 {
        return false;
    }
    let Ok(plain) = compression::decompress(codec, &batch[61..], cap) else {
        return false;
    };
    let mut pos = 0;
    for i in 0..count {
        let Some(len) = ref_int(&plain, &mut pos) else {
            return false;
        };
        let Ok(len) = usize::try_from(len) else {
            return false;
        };
        if pos + len > plain.len() || ref_record(&plain[pos..pos + len], i).is_none() {
            return false;
        }
        pos += len;
    }
    pos == plain.len()
}
