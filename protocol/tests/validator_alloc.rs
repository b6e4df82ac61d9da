//! Memory bounds of the record validator, measured with a counting global allocator: peak
//! bytes allocated while validating one batch (by the validating thread) stay within a small
//! multiple of the batch's size and decompressed size plus a fixed allowance for codec state,
//! for arbitrary mutations of valid batches of every codec; and decompression bombs of every
//! codec (zeros inflating far past the cap, > 4 GiB for zstd and gzip) are refused quickly
//! with a peak bounded by the cap, never by what the bomb claims.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use weir_protocol::compression::CompressionError;
use weir_protocol::records::RecordError;
use weir_protocol::validate_records::validate_batch;

/// Counts the bytes live on threads that opted in, and their peak.
struct Counting;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

static TOTAL_TRACKED: AtomicUsize = AtomicUsize::new(0);

fn note(delta: isize) {
    let _ = TRACKING.try_with(|t| {
        if t.get() {
            LIVE.with(|l| {
                let now = l.get() + delta;
                l.set(now);
                PEAK.with(|p| p.set(p.get().max(now)));
            });
            if delta > 0 {
                TOTAL_TRACKED.fetch_add(delta as usize, Ordering::Relaxed);
            }
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Count a move as both buffers at once, as a copying realloc needs.
        note(new_size as isize);
        note(-(layout.size() as isize));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result and the peak of bytes it had allocated at once.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    TRACKING.with(|t| t.set(true));
    let out = f();
    TRACKING.with(|t| t.set(false));
    (out, PEAK.with(|p| p.get()).max(0) as usize)
}

/// Fixed allowance for codec state: zstd's decoder context and input buffer, lz4's context
/// and 64 KiB blocks, inflate's window, the 64 KiB read chunk.
const CODEC_STATE: usize = 1 << 20;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn validation_peak_is_proportional_to_the_batch(
        records in arb_records(),
        codec in 0usize..5,
        mutations in proptest::collection::vec(arb_mutation(), 0..3),
    ) {
        let mut batch = valid_batch(CODECS[codec], &records);
        for m in &mutations {
            if batch.is_empty() {
                break;
            }
            batch = mutate(&batch, m);
        }
        let cap = 1 << 20;
        let (verdict, peak) = peak_of(|| validate_batch(&batch, cap));
        let decompressed = verdict.as_ref().map_or(0, |v| v.decompressed_bytes);
        let bound = 2 * (batch.len() + decompressed) + CODEC_STATE;
        prop_assert!(peak <= bound, "peak {} > bound {} ({:?})", peak, bound, verdict);
    }
}

#[test]
fn uncompressed_validation_allocates_about_one_copy() {
    // 10,000 records of 100-byte values: the validator copies the payload once and builds
    // nothing per record.
    let records: Vec<_> = (0..10_000)
        .map(|i| weir_protocol::records::LogRecord {
            offset: i,
            timestamp: 1_000,
            key: Some(format!("key-{i}").into()),
            value: Some(vec![b'x'; 100].into()),
            headers: vec![("h".into(), Some("v".into()))],
        })
        .collect();
    let batch = valid_batch(0, &records);
    let (verdict, peak) = peak_of(|| validate_batch(&batch, 64 << 20));
    verdict.unwrap();
    assert!(
        peak <= batch.len() + (64 << 10),
        "peak {peak} for a batch of {}",
        batch.len()
    );
}

/// A one-record batch whose payload is `payload` (codec `codec`).
fn bomb_batch(codec: i16, payload: &[u8]) -> Vec<u8> {
    batch_with_payload(codec, 1, 0, payload)
}

fn assert_refused_cheaply(name: &str, batch: &[u8], cap: usize) {
    let started = Instant::now();
    let (verdict, peak) = peak_of(|| validate_batch(batch, cap));
    let took = started.elapsed();
    assert!(
        matches!(
            verdict,
            Err(RecordError::Compression(CompressionError::TooLarge { max, .. })) if max == cap
        ),
        "{name}: {verdict:?}"
    );
    let bound = 2 * cap + CODEC_STATE;
    assert!(peak <= bound, "{name}: peak {peak} > {bound}");
    assert!(took < Duration::from_secs(20), "{name}: took {took:?}");
    eprintln!(
        "{name}: {} byte batch refused in {took:?}, peak {peak} bytes",
        batch.len()
    );
}

const MIB: usize = 1 << 20;

#[test]
fn zstd_bomb_of_more_than_4_gib_is_refused() {
    // 64 MiB of zeros compress to a few KiB; 65 concatenated frames decode to 4.06 GiB.
    let frame = zstd::encode_all(&vec![0u8; 64 * MIB][..], 3).unwrap();
    let payload = frame.repeat(65);
    assert!(payload.len() < MIB, "{} bytes", payload.len());
    assert_refused_cheaply("zstd", &bomb_batch(4, &payload), 4 * MIB);
}

#[test]
fn gzip_bomb_of_more_than_4_gib_is_refused() {
    // Concatenated members, as Java's GZIPInputStream reads them: 65 x 64 MiB of zeros.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut e, &vec![0u8; 64 * MIB]).unwrap();
    let member = e.finish().unwrap();
    let payload = member.repeat(65);
    assert!(payload.len() < 8 * MIB, "{} bytes", payload.len());
    assert_refused_cheaply("gzip", &bomb_batch(1, &payload), 4 * MIB);
}

#[test]
fn lz4_bomb_is_refused() {
    // One LZ4 frame of 256 MiB of zeros (lz4 tops out near 255:1).
    let payload = compress(3, &vec![0u8; 256 * MIB]);
    assert!(payload.len() < 2 * MIB, "{} bytes", payload.len());
    assert_refused_cheaply("lz4", &bomb_batch(3, &payload), 4 * MIB);
}

#[test]
fn snappy_bombs_are_refused() {
    // Framed: 64 MiB of zeros in 32 KiB blocks (snappy tops out near 21:1).
    let payload = compress(2, &vec![0u8; 64 * MIB]);
    assert_refused_cheaply("snappy framed", &bomb_batch(2, &payload), 4 * MIB);
    // One framed block and a raw stream that each claim 4 GiB - 1 in their preamble.
    let raw_claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
    assert_refused_cheaply("snappy raw claim", &bomb_batch(2, &raw_claim), 4 * MIB);
    let mut framed = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    framed.extend_from_slice(&(raw_claim.len() as u32).to_be_bytes());
    framed.extend_from_slice(&raw_claim);
    assert_refused_cheaply("snappy framed claim", &bomb_batch(2, &framed), 4 * MIB);
}

#[test]
fn uncompressed_payload_over_the_cap_is_refused() {
    let payload = vec![0u8; 2 * MIB];
    let (verdict, _) = peak_of(|| validate_batch(&bomb_batch(0, &payload), MIB));
    assert!(matches!(
        verdict,
        Err(RecordError::Compression(CompressionError::TooLarge { .. }))
    ));
}
