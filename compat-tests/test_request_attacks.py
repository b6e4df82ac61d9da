"""Extreme counts and lengths in every request the broker advertises (issue 10, items 1 and 6).

For each (API, version) in the broker's own ApiVersions answer, a minimal request the broker
accepts is found by asking it: header v1 or v2 (flexible versions) followed by the shortest
body of 0x00 bytes, optionally ending in 0x01 bytes (empty strings and arrays in both
encodings), that the broker consumes without closing the connection. Into each such frame,
at every position, every extreme encoding of a count or length (int32 0x7FFFFFFF,
-2, 0x80000000; int16 0x7FFF, -2, 0x8000; unsigned varints 2^32-1, 2^32-2, 2^31; lengths one
past the frame end) is written over the bytes or inserted, and the frame is also cut short;
versions no candidate satisfies are attacked from header + 32 zero bytes. Every attack must be answered or closed; afterwards
the broker is alive, its RSS stayed within base + 300 MiB, its log has no panic or
allocation-failure line, and a confluent-kafka client produces and consumes.
"""

from __future__ import annotations

import struct

import fuzzlib
import rawkafka as rk
from conftest import Broker, unique_topic
from weirtest import consume, expected_tuple, gen_records, msg_tuple, produce

RSS_BUDGET_MIB = 300
SIZES = (0, 1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 20, 24, 25, 28, 32, 40, 48, 64)


def advertised(bootstrap: str) -> dict[int, tuple[int, int]]:
    s = rk.connect(bootstrap)
    s.sendall(rk.api_versions_request(3, 1))
    r = rk.parse_api_versions(rk.recv_frame(s), 3)
    s.close()
    assert r["error_code"] == 0
    return r["apis"]


def header(hv: int, key: int, version: int) -> bytes:
    h = rk.header_v1(key, version, 0x41414141, "attack")
    return h + b"\x00" if hv == 2 else h


def candidates(key: int, version: int) -> list[bytes]:
    """Minimal-request candidates, shortest first: header v1 or v2, then n zero bytes (zero
    integers, empty classic strings and arrays); or, for flexible versions, zeros followed by
    a few 0x01 bytes, or only 0x01 bytes (empty compact strings and arrays), then a 0x00 (no
    tagged fields)."""
    out = set()
    for n in SIZES:
        out.add(header(1, key, version) + bytes(n))
        out.add(header(2, key, version) + bytes(n))
        out.add(header(2, key, version) + b"\x01" * n + b"\x00")
        for ones in (1, 2, 3, 4):
            out.add(header(2, key, version) + bytes(n) + b"\x01" * ones + b"\x00")
    return sorted(out, key=lambda c: (len(c), c))


def find_bases(broker) -> dict[tuple[int, int], bytes]:
    """(API, version) -> the first candidate the broker consumed without closing."""
    apis = advertised(broker.bootstrap)
    cands, items = [], []
    for key, (lo, hi) in sorted(apis.items()):
        for v in range(lo, hi + 1):
            for c in candidates(key, v):
                items.append((len(cands), fuzzlib.frame(c)))
                cands.append((key, v, c))
    b = fuzzlib.Blaster(broker.bootstrap, record_fates=True)
    b.run(items)
    bases: dict[tuple[int, int], bytes] = {}
    for i, (key, v, c) in enumerate(cands):
        if (key, v) not in bases and b.fates.get(i) == "ok":
            bases[(key, v)] = c
    missing = [(k, v) for k, (lo, hi) in apis.items() for v in range(lo, hi + 1) if (k, v) not in bases]
    print(f"\n{len(bases)} (API, version) pairs with a minimal accepted request; "
          f"{len(missing)} closed every candidate: {missing}")
    return bases, missing


def attacks(base: bytes) -> list[tuple[bytes, str]]:
    """Every extreme count/length at every position of one frame (without length prefix),
    written over the bytes and inserted, and every truncation."""
    out = []
    for pos in range(len(base) + 1):
        for enc in dict.fromkeys(fuzzlib.extremes(len(base) - pos)):
            if pos + len(enc) <= len(base):
                out.append((base[:pos] + enc + base[pos + len(enc):], f"overwrite@{pos}={enc.hex()}"))
            out.append((base[:pos] + enc + base[pos:], f"insert@{pos}={enc.hex()}"))
    for cut in range(len(base)):
        out.append((base[:cut], f"cut@{cut}"))
    return out


def test_extreme_counts_in_every_advertised_request(broker, tmp_path):
    bases, missing = find_bases(broker)
    apis = advertised(broker.bootstrap)
    # Everything the broker must implement for librdkafka, Java and kafka-python: a base for
    # each is what makes the attacks reach the body decoders.
    for key in (0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18, 19, 20):
        lo, hi = apis[key]
        assert (key, hi) in bases, f"API {key} v{hi}: no minimal request accepted"
    targets = dict(bases)
    for key, v in missing:
        targets[(key, v)] = header(1, key, v) + bytes(32)
    plan: list[tuple[int, int, str]] = []
    items = []
    for (key, v), base in sorted(targets.items()):
        for wire, what in attacks(base):
            items.append((len(plan), fuzzlib.frame(wire)))
            plan.append((key, v, what))
    watch = fuzzlib.Watch(broker, RSS_BUDGET_MIB)
    blaster = fuzzlib.Blaster(broker.bootstrap)

    def describe(i: int) -> str:
        key, v, what = plan[i]
        return f"API {key} v{v} {what}"

    try:
        stats = blaster.run(items, check=watch, check_every=1000)
        watch(stats)
    except (AssertionError, OSError) as e:
        raise AssertionError(f"{e}\n{blaster.stats.line()}\n"
                             + fuzzlib.failure_report(blaster, tmp_path / "frames.txt", describe)) from e
    print(f"attacks: {stats.line()}")
    assert stats.frames == len(items)
    bad = fuzzlib.bad_log_lines(broker.log_text())
    assert not bad, "broker log:\n" + "\n".join(bad[:20])
    topic = unique_topic("after-attacks")
    recs = gen_records(20, seed=3)
    assert produce(broker.bootstrap, topic, recs, timeout=60) == [(0, i) for i in range(20)]
    got = [msg_tuple(m) for m in consume(broker.bootstrap, topic, timeout=60)]
    assert got == [expected_tuple(i, r) for i, r in enumerate(recs)]
    watch(stats)


def test_allocation_bomb_of_every_array_api_is_refused(broker):
    """The measured aborts of the issue, one per API, with the frame hex in the message."""
    for key, version, body in (
        (3, 12, b"\xff\xff\xff\xff\x0f"),                 # Metadata topics: 2^32-2 entries
        (0, 9, b"\x00\xff\xff\x00\x00\x75\x30\xff\xff\xff\xff\x0f"),  # Produce topic_data
        (19, 7, b"\xff\xff\xff\xff\x0f"),                # CreateTopics topics
        (3, 4, b"\x7f\xff\xff\xff"),                     # Metadata v4 int32 count
    ):
        wire = fuzzlib.frame(header(2 if (key, version) != (3, 4) else 1, key, version) + body)
        s = rk.connect(broker.bootstrap)
        s.sendall(wire)
        try:
            data = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        s.close()
        assert broker.alive(), f"broker died on {wire.hex()}\n" + broker.log_tail()
        assert data == b"" or struct.unpack_from(">i", data, 4)[0] == 0x41414141, wire.hex()


ADDRESS_SPACE = 6 << 30  # RLIMIT_AS: a 6 GiB host, or strict overcommit, as far as malloc can tell


class SmallHostBroker(Broker):
    """A broker whose address space is capped, so a reservation no RAM could back fails as it
    would on a smaller host instead of being absorbed by overcommit."""

    def command(self) -> list[str]:
        return ["prlimit", f"--as={ADDRESS_SPACE}", "--"] + super().command()


def test_huge_count_in_a_100_mib_frame_reserves_nothing(tmp_path):
    """A count of 2^31-1 at the start of a 96 MiB CreateTopics v2 frame: the decoder may not
    reserve (remaining bytes) elements of ~100+ bytes each (~11 GiB), only what the bytes
    back. The broker closes or answers and keeps serving."""
    b = SmallHostBroker(tmp_path / "small")
    b.start()
    try:
        payload = header(1, 19, 2) + struct.pack(">i", 0x7FFFFFFF) + bytes(96 << 20)
        s = rk.connect(b.bootstrap, timeout=120)
        s.sendall(fuzzlib.frame(payload))
        try:
            s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            pass
        s.close()
        # Served means a new connection gets an ApiVersions answer (a dying broker may still
        # be printing its backtrace, so liveness alone is not enough).
        try:
            probe = rk.connect(b.bootstrap)
            probe.sendall(rk.api_versions_request(3, 5))
            answered = rk.parse_api_versions(rk.recv_frame(probe), 3)["error_code"] == 0
            probe.close()
        except (OSError, EOFError):
            answered = False
        assert answered and b.alive(), (
            "broker stopped serving after a 96 MiB CreateTopics v2 frame whose topics count is "
            "0x7FFFFFFF\n" + "\n".join(fuzzlib.bad_log_lines(b.log_text())))
        recs = gen_records(5, seed=4)
        topic = unique_topic("after-big")
        assert produce(b.bootstrap, topic, recs, timeout=60) == [(0, i) for i in range(5)]
    finally:
        b.stop()
