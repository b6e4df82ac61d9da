//! Proves that decoding any request costs memory proportional to the frame, whatever its
//! counts and lengths claim (issue 10, item 1).
//!
//! For every [`ApiKey`] and every version in its `kafka-protocol` `valid_versions()` range (a
//! superset of what Weir advertises), seed frames are built from `kafka-protocol`'s own message
//! definitions: the `default()` message, plus messages grown generically by decoding — a count
//! of one is planted at each position of an encoded seed, followed by filler bytes; every
//! plant that decodes is re-encoded, so it is a canonical message with one more element and
//! therefore deeper nested counts (two rounds). Each seed frame (header + body) is then
//! attacked at every byte position, both overwriting and inserting, with every extreme
//! encoding of a count or length (int32 `0x7FFFFFFF`, `-2`, `0x80000000`; int16 `0x7FFF`,
//! `-2`, `0x8000`; unsigned varints 2^32-1, 2^32-2, 2^31; int32/int16/varint lengths one past
//! the frame end) and cut at every length. Every variant goes through
//! [`weir_protocol::request::decode`] under a counting global allocator: no panic, and the
//! largest single allocation and the peak of live bytes during the decode stay within
//! [`bound`]. Against unpatched `kafka-protocol` 0.18 the first array count of 2^32-2 asks
//! for hundreds of GiB: the allocator reports the variant and the process aborts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Encodable, StrBytes};

// ------------------------------------------------------------------ counting allocator

/// Any single allocation above this during a decode is reported and refused (the process then
/// aborts, as the broker would): it can only come from an unbacked count.
const HARD_CAP: usize = 1 << 30;

struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    /// Hex of the frame being decoded, written out (without allocating) on a refused allocation.
    static CURRENT: Cell<[u8; 1024]> = const { Cell::new([0; 1024]) };
    static CURRENT_LEN: Cell<usize> = const { Cell::new(0) };
}

/// Records an allocation of `size` bytes; false when it must be refused.
fn note_alloc(size: usize) -> bool {
    if !ACTIVE.try_with(Cell::get).unwrap_or(false) {
        return true;
    }
    LARGEST.with(|l| l.set(l.get().max(size)));
    LIVE.with(|live| {
        let now = live.get() + size as isize;
        live.set(now);
        PEAK.with(|p| p.set(p.get().max(now)));
    });
    if size > HARD_CAP {
        let buf = CURRENT.with(Cell::get);
        let n = CURRENT_LEN.with(Cell::get);
        let mut err = std::io::stderr();
        let _ = err.write_all(b"\nrequest_extremes: decode asked for more than 1 GiB; frame hex: ");
        let _ = err.write_all(&buf[..n]);
        let _ = err.write_all(b"\n");
        return false;
    }
    true
}

fn note_dealloc(size: usize) {
    if ACTIVE.try_with(Cell::get).unwrap_or(false) {
        LIVE.with(|live| live.set(live.get() - size as isize));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !note_alloc(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !note_alloc(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_dealloc(layout.size());
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !note_alloc(new_size) {
            return std::ptr::null_mut();
        }
        note_dealloc(layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Memory a decode of `frame_len` bytes may use: the largest single allocation and the peak of
/// live bytes must both stay within it.
///
/// Strings and byte strings are zero-copy `Bytes` views of the frame, so what a decode
/// allocates is the arrays' element structs. Elements that are really there cost their struct
/// size per encoded size — at most ~50x (a Metadata v9 topic is 2 bytes on the wire and a
/// ~100-byte struct), twice that while a `Vec` doubles — so 128 bytes per frame byte, plus
/// 16 KiB for constant costs (the header, error messages). A count the bytes do not back must
/// add nothing beyond that: reserving one element per remaining *byte* (~100-200 bytes of
/// struct each) breaks the bound on padded frames, and reserving the count itself asks for
/// hundreds of GiB.
fn bound(frame_len: usize) -> usize {
    PER_BYTE * frame_len + 16 * 1024
}
const PER_BYTE: usize = 128;

/// What one decode cost.
struct Cost {
    largest: usize,
    peak: usize,
    panicked: Option<String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Decodes `frame` through Weir's request decoder under the counting allocator.
fn measured_decode(frame: &[u8]) -> Cost {
    let shown = &frame[..frame.len().min(512)];
    CURRENT.with(|c| {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 1024];
        for (i, b) in shown.iter().enumerate() {
            buf[2 * i] = DIGITS[usize::from(b >> 4)];
            buf[2 * i + 1] = DIGITS[usize::from(b & 15)];
        }
        c.set(buf);
    });
    CURRENT_LEN.with(|c| c.set(2 * shown.len()));
    let input = Bytes::copy_from_slice(frame);
    LIVE.with(|c| c.set(0));
    PEAK.with(|c| c.set(0));
    LARGEST.with(|c| c.set(0));
    ACTIVE.with(|a| a.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| {
        weir_protocol::request::decode(input, |k| Some(k.valid_versions()))
    }));
    ACTIVE.with(|a| a.set(false));
    let panicked = match &result {
        Ok(_) => None,
        Err(p) => Some(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into()),
        ),
    };
    drop(result);
    Cost {
        largest: LARGEST.with(Cell::get),
        peak: PEAK.with(Cell::get).max(0) as usize,
        panicked,
    }
}

// ------------------------------------------------------------------ seed messages

macro_rules! default_request {
    ($key:expr; $($name:ident),* $(,)?) => {
        match $key {
            $(ApiKey::$name => RequestKind::$name(Default::default()),)*
        }
    };
}

/// The `default()` request of `key` (the match is exhaustive: a new API fails to compile).
fn default_request(key: ApiKey) -> RequestKind {
    default_request!(key;
        Produce, Fetch, ListOffsets, Metadata, OffsetCommit, OffsetFetch, FindCoordinator,
        JoinGroup, Heartbeat, LeaveGroup, SyncGroup, DescribeGroups, ListGroups, SaslHandshake,
        ApiVersions, CreateTopics, DeleteTopics, DeleteRecords, InitProducerId,
        OffsetForLeaderEpoch, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, WriteTxnMarkers,
        TxnOffsetCommit, DescribeAcls, CreateAcls, DeleteAcls, DescribeConfigs, AlterConfigs,
        AlterReplicaLogDirs, DescribeLogDirs, SaslAuthenticate, CreatePartitions,
        CreateDelegationToken, RenewDelegationToken, ExpireDelegationToken,
        DescribeDelegationToken, DeleteGroups, ElectLeaders, IncrementalAlterConfigs,
        AlterPartitionReassignments, ListPartitionReassignments, OffsetDelete,
        DescribeClientQuotas, AlterClientQuotas, DescribeUserScramCredentials,
        AlterUserScramCredentials, Vote, BeginQuorumEpoch, EndQuorumEpoch, DescribeQuorum,
        AlterPartition, UpdateFeatures, Envelope, FetchSnapshot, DescribeCluster,
        DescribeProducers, BrokerRegistration, BrokerHeartbeat, UnregisterBroker,
        DescribeTransactions, ListTransactions, AllocateProducerIds, ConsumerGroupHeartbeat,
        ConsumerGroupDescribe, ControllerRegistration, GetTelemetrySubscriptions, PushTelemetry,
        AssignReplicasToDirs, ListConfigResources, DescribeTopicPartitions, ShareGroupHeartbeat,
        ShareGroupDescribe, ShareFetch, ShareAcknowledge, AddRaftVoter, RemoveRaftVoter,
        UpdateRaftVoter, InitializeShareGroupState, ReadShareGroupState, WriteShareGroupState,
        DeleteShareGroupState, ReadShareGroupStateSummary, DescribeShareGroupOffsets,
        AlterShareGroupOffsets, DeleteShareGroupOffsets,
    )
}

fn encode_body(body: &RequestKind, version: i16) -> Option<Vec<u8>> {
    let mut b = BytesMut::new();
    body.encode(&mut b, version).ok()?;
    Some(b.to_vec())
}

/// Decodes `body` with the codec and re-encodes what it read: a canonical message, or None.
fn canonical(key: ApiKey, version: i16, body: &[u8]) -> Option<Vec<u8>> {
    let mut buf = Bytes::copy_from_slice(body);
    let decoded = RequestKind::decode(key, &mut buf, version).ok()?;
    encode_body(&decoded, version)
}

/// Most seeds kept per (API, version) per growth round, and growth rounds.
const GROWN_PER_ROUND: usize = 3;
const ROUNDS: usize = 2;

/// Messages with one more element than `body`, found by planting a count of one (int32 or
/// unsigned varint) at each position, followed by filler, and keeping what decodes.
fn grow(key: ApiKey, version: i16, body: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let plants: [&[u8]; 2] = [&[0, 0, 0, 1], &[2]];
    for p in 0..=body.len() {
        for plant in plants {
            for filler in [0u8, 1u8] {
                if p + plant.len() > body.len() {
                    continue;
                }
                // Only where the seed holds an empty count of the same width.
                let empty: &[u8] = if plant.len() == 4 {
                    &[0, 0, 0, 0]
                } else {
                    &[1]
                };
                if &body[p..p + plant.len()] != empty {
                    continue;
                }
                let mut v = body[..p].to_vec();
                v.extend_from_slice(plant);
                v.extend(std::iter::repeat_n(filler, 48));
                v.extend_from_slice(&body[p + plant.len()..]);
                if let Some(c) = canonical(key, version, &v) {
                    if c.len() > body.len() && !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
        }
        if out.len() >= GROWN_PER_ROUND {
            break;
        }
    }
    out
}

/// The request header for `key` v`version`, encoded in its header version.
fn header(key: ApiKey, version: i16) -> Vec<u8> {
    let h = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(0x0102_0304)
        .with_client_id(Some(StrBytes::from_static_str("extremes")));
    let header_version = key.request_header_version(version);
    let h = if header_version == 0 {
        h.with_client_id(None)
    } else {
        h
    };
    let mut b = BytesMut::new();
    h.encode(&mut b, header_version).expect("header encodes");
    b.to_vec()
}

/// Seed frames (header + body, without the length prefix) for one (API, version). When the
/// codec cannot encode the version at all (its `valid_versions()` is wider than the message's
/// encoder for a few APIs), the seed is the header alone: the attacks then exercise the
/// header and the body decoder's first reads.
fn seeds(key: ApiKey, version: i16) -> (Vec<Vec<u8>>, bool) {
    let h = header(key, version);
    let Some(base) = encode_body(&default_request(key), version) else {
        return (vec![h], false);
    };
    let mut bodies = vec![base.clone()];
    let mut frontier = vec![base];
    for _ in 0..ROUNDS {
        let mut next = Vec::new();
        for b in &frontier {
            for g in grow(key, version, b) {
                if !bodies.contains(&g) && next.len() < GROWN_PER_ROUND {
                    next.push(g);
                }
            }
        }
        bodies.extend(next.iter().cloned());
        frontier = next;
    }
    let frames = bodies
        .into_iter()
        .map(|b| [h.as_slice(), b.as_slice()].concat())
        .collect();
    (frames, true)
}

// ------------------------------------------------------------------ extreme variants

/// Every extreme count/length encoding for a field starting at `pos` of a `len`-byte frame.
fn extremes(pos: usize, len: usize) -> Vec<Vec<u8>> {
    let past = (len - pos.min(len)) as u32 + 1; // one byte more than the frame holds after pos
    let mut v: Vec<Vec<u8>> = vec![
        0x7FFF_FFFFu32.to_be_bytes().to_vec(),
        0xFFFF_FFFEu32.to_be_bytes().to_vec(),
        0x8000_0000u32.to_be_bytes().to_vec(),
        past.to_be_bytes().to_vec(),
        0x7FFFu16.to_be_bytes().to_vec(),
        0xFFFEu16.to_be_bytes().to_vec(),
        0x8000u16.to_be_bytes().to_vec(),
        (past.min(0x7FFF) as u16).to_be_bytes().to_vec(),
        uvarint(u32::MAX),
        uvarint(u32::MAX - 1),
        uvarint(1 << 31),
        uvarint(past + 1), // compact lengths are stored plus one
    ];
    v.dedup();
    v
}

/// Trailing bytes added to padded variants.
const PAD: usize = 1024;

fn uvarint(mut n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// Calls `f` on every variant of `frame`: each extreme overwritten and inserted at every
/// position, and every truncation.
fn for_each_variant(frame: &[u8], mut f: impl FnMut(&[u8])) {
    let mut buf = Vec::with_capacity(frame.len() + 8);
    for pos in 0..=frame.len() {
        for x in extremes(pos, frame.len()) {
            if pos + x.len() <= frame.len() {
                buf.clear();
                buf.extend_from_slice(frame);
                buf[pos..pos + x.len()].copy_from_slice(&x);
                f(&buf);
            }
            buf.clear();
            buf.extend_from_slice(&frame[..pos]);
            buf.extend_from_slice(&x);
            buf.extend_from_slice(&frame[pos..]);
            f(&buf);
            // The same with PAD trailing bytes: a count the decoders cap at the bytes that
            // remain now has room to show what each claimed element costs.
            buf.extend(std::iter::repeat_n(0u8, PAD));
            f(&buf);
        }
    }
    for cut in 0..frame.len() {
        f(&frame[..cut]);
    }
}

#[test]
fn every_request_decodes_in_memory_proportional_to_its_size() {
    eprintln!("request_extremes: starting"); // initialise stderr before the allocator uses it
    let mut pairs = 0usize;
    let mut seed_frames = 0usize;
    let mut variants = 0usize;
    let mut worst_ratio = 0f64;
    let mut worst = String::new();
    let mut failures: Vec<String> = Vec::new();
    let mut failed = 0usize;
    let mut header_only: Vec<String> = Vec::new();
    for key in ApiKey::iter() {
        let range = key.valid_versions();
        for version in range.min..=range.max {
            pairs += 1;
            let (frames, encodable) = seeds(key, version);
            if !encodable {
                header_only.push(format!("{key:?} v{version}"));
            }
            for seed in &frames {
                seed_frames += 1;
                for_each_variant(seed, |frame| {
                    variants += 1;
                    let cost = measured_decode(frame);
                    let used = cost.largest.max(cost.peak);
                    // The per-byte cost shows on padded frames, where constants are amortised.
                    let ratio = used as f64 / frame.len().max(1) as f64;
                    if frame.len() >= PAD && ratio > worst_ratio {
                        worst_ratio = ratio;
                        worst = format!("{key:?} v{version}, {} bytes, {used} B", frame.len());
                    }
                    let problem = if let Some(p) = cost.panicked {
                        Some(format!("panicked: {p}"))
                    } else if used > bound(frame.len()) {
                        Some(format!(
                            "largest allocation {} B, peak live {} B > bound {} B",
                            cost.largest,
                            cost.peak,
                            bound(frame.len())
                        ))
                    } else {
                        None
                    };
                    if let Some(p) = problem {
                        failed += 1;
                        if failures.len() < 20 {
                            let shown = &frame[..frame.len().min(128)];
                            failures.push(format!(
                                "{key:?} v{version}, {} bytes: {p}; frame hex (first {} bytes): {}",
                                frame.len(),
                                shown.len(),
                                hex(shown)
                            ));
                        }
                    }
                });
            }
        }
    }
    println!(
        "request_extremes: {pairs} (API, version) pairs, {seed_frames} seed frames, \
         {variants} variants decoded; on frames of {PAD}+ bytes \
         the most allocated per frame byte was {worst_ratio:.1} ({worst})"
    );
    println!(
        "request_extremes: the codec encodes no message for {} versions (header-only seeds): {}",
        header_only.len(),
        header_only.join(", ")
    );
    assert!(
        failures.is_empty(),
        "{failed} failing variants (first 20):\n{}",
        failures.join("\n")
    );
}
