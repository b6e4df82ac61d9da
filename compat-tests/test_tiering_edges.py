"""Tiering edge cases: damaged objects, header keys that are not UTF-8, and the rules
tying local to total retention.

Damaged objects: a missing or corrupt object is a fetch error for its offsets only. A broker tiers a topic to a file:// store; then one segment's object is deleted and one
bit of another's first chunk is flipped. kafka-python consumers (which report a partition
fetch error only in their debug log, then retry) must get exactly the produced records
around the damage, none from the damaged segments, and `KafkaStorageError` for those
offsets; the broker keeps serving and says what is wrong. Restoring the objects makes the
offsets readable again: nothing was deleted or cached because of the damage.

Header keys are bytes on the wire; kcat can send any. A segment holding a key that is not
UTF-8 is tiered like any other (Arrow shows it with U+FFFD in `headers.key` and as sent in
`raw_header_keys`) and consumers get the exact bytes back.

ListOffsets v8/v9 (KIP-1005) through Java's AdminClient: `OffsetSpec.earliestLocal()` is
the first local offset, `latestTiered()` the last offset in the store (-1 when nothing is,
or the topic is not tiered).

Topic deletion while segments are being uploaded leaves nothing in the store: the upload in
flight ends before the partition's objects are deleted.

Bit rot in a local segment waiting for upload: the segment is not tiered and not deleted
(it is the only copy), tiering of the partition stops before it, the broker says so once at
ERROR and counts it in weir_storage_corrupt_batches_total, and every other offset is served.

A manifest lost, rolled back or damaged in the store is repaired, never read as "nothing is
tiered": from the local copy when the store's is missing, older or unreadable, and from the
store's listing (each object's footer) when the local copy is gone too. Every acknowledged offset stays readable and
no object is deleted.

Retention rules (as Kafka's): on a tiered topic, local.retention.bytes/ms may be neither -1
nor larger than a bounded retention.bytes/ms; CreateTopics and AlterConfigs say
INVALID_CONFIG with Kafka's message.
"""

from __future__ import annotations

import json
import logging
import struct
import subprocess
import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import ConfigResource, NewTopic
from kafka import KafkaConsumer, TopicPartition

from conftest import unique_topic, http_get
from javatest import SRC, classpath, compile_java
from s3server import s3  # noqa: F401  (fixture)
from test_tiering import (FAST, KCAT, SMALL_BATCHES, TIERED, FileStore, Tiered, kcat_read,
                          msum, read_arrow, s3_broker, set_configs, wait_for, wait_metric,
                          wait_stable)
from weirtest import (admin, assert_same, consume, create_topic, expected_tuple, gen_records,
                      msg_tuple, produce)

FETCHER_LOG = "kafka.consumer.fetcher"


def consume_until_quiet(bs: str, topic: str, start: int, quiet: float = 3.0,
                        timeout: float = 60.0) -> list:
    """Records from `start` until none arrived for `quiet` seconds (a consumer stuck on a
    failing offset keeps retrying; this returns what it got before)."""
    c = KafkaConsumer(bootstrap_servers=bs, group_id=None, enable_auto_commit=False,
                      request_timeout_ms=30000, fetch_max_wait_ms=100, retry_backoff_ms=100)
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, start)
        out, last = [], time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() - last < quiet:
            assert time.monotonic() < deadline, f"still receiving after {timeout}s"
            for recs in c.poll(timeout_ms=200, max_records=5000).values():
                out.extend(recs)
                last = time.monotonic()
        return out
    finally:
        c.close()


def got(records) -> list[tuple]:
    return [(r.offset, r.key, r.value, list(r.headers or []), r.timestamp) for r in records]


def want(recs, lo: int, hi: int) -> list[tuple]:
    return [(i, r.key, r.value, list(r.headers or []), r.timestamp) for i, r in
            enumerate(recs) if lo <= i < hi]


def first_chunk_body(arrow_file: bytes) -> int:
    """Position of the body of the first record batch of an Arrow IPC file: after the
    magic (zero-padded to the writer's alignment), the schema message and the batch's own
    message header (each message is 0xFFFFFFFF, an int32 length and that many metadata
    bytes, padding included)."""
    pos = 8
    for _ in range(2):
        while arrow_file[pos:pos + 8] == bytes(8):
            pos += 8
        marker, length = struct.unpack_from("<Ii", arrow_file, pos)
        assert marker == 0xFFFFFFFF and length > 0, (pos, marker, length)
        pos += 8 + length
    return pos


def storage_errors(caplog, topic: str) -> int:
    return sum(1 for r in caplog.records if r.name == FETCHER_LOG
               and "KafkaStorageError" in r.getMessage() and topic in r.getMessage())


def file_tiered(broker_factory, tmp_path, prefix: str, config: dict | None = None):
    """A broker tiering to a file:// store under tmp_path, and a new topic on it:
    (broker, Tiered, store root, topic)."""
    root = tmp_path / "remote"
    b = broker_factory(extra_args=["--object-store", f"file://{root}"], env=FAST)
    t = Tiered(b, FileStore(root))
    topic = unique_topic(prefix)
    create_topic(t.bs, topic, config=TIERED if config is None else config)
    return b, t, root, topic


def test_missing_and_corrupt_objects_fail_only_their_offsets(broker_factory, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger=FETCHER_LOG)
    b, t, root, topic = file_tiered(broker_factory, tmp_path, "tier-damage")
    recs = gen_records(1500, seed=71)
    produce(t.bs, topic, recs, conf=SMALL_BATCHES)
    segs = t.wait_settled(topic)
    assert len(segs) >= 4, segs
    missing, corrupt, after = segs[1], segs[2], segs[3]["base_offset"]
    missing_path, corrupt_path = root / missing["object"], root / corrupt["object"]
    missing_bytes, corrupt_bytes = missing_path.read_bytes(), corrupt_path.read_bytes()
    missing_path.unlink()
    damaged = bytearray(corrupt_bytes)
    damaged[first_chunk_body(corrupt_bytes) + 16] ^= 0x01
    corrupt_path.write_bytes(bytes(damaged))

    # From 0: the first segment, then nothing (the next object is gone).
    assert got(consume_until_quiet(t.bs, topic, 0)) == want(recs, 0, missing["base_offset"])
    assert storage_errors(caplog, topic) > 0
    caplog.clear()
    # Inside the corrupt segment: no record at all (its single chunk fails its CRC).
    assert got(consume_until_quiet(t.bs, topic, corrupt["base_offset"] + 1)) == []
    assert storage_errors(caplog, topic) > 0
    # After the damage: everything to the end, exactly, from tiered and local segments.
    assert got(consume_until_quiet(t.bs, topic, after)) == want(recs, after, len(recs))

    assert b.alive()
    assert http_get(f"{b.http}/health")[0] == 200
    assert msum(b, "weir_remote_read_errors_total", topic=topic, partition=0) >= 2
    log = b.log_text()
    assert f"{missing['object']} not found" in log, b.log_tail(40)
    assert "CRC-32C" in log, b.log_tail(40)

    # Put back, the same offsets read again: the damage deleted and cached nothing.
    missing_path.write_bytes(missing_bytes)
    corrupt_path.write_bytes(corrupt_bytes)
    assert t.segments(topic) == segs
    assert got(consume_until_quiet(t.bs, topic, 0)) == want(recs, 0, len(recs))


def test_local_retention_must_fit_retention_on_tiered_topics(broker):
    a = admin(broker.bootstrap)

    def create_error(config: dict) -> str | None:
        name = unique_topic("tier-cfg")
        try:
            a.create_topics([NewTopic(name, 1, 1, config=config)], request_timeout=30)[name].result(30)
        except Exception as e:  # noqa: BLE001  (the KafkaException carries the KafkaError)
            err = e.args[0]
            assert err.code() == KafkaError.INVALID_CONFIG, err
            assert name not in a.list_topics(timeout=10).topics
            return err.str()
        return None

    too_big = ("Invalid value 101 for configuration local.retention.bytes: "
               "Value must not be more than retention.bytes property value: 100")
    assert create_error({"retention.bytes": "100", "local.retention.bytes": "101"}) == too_big
    assert create_error({"retention.bytes": "100", "local.retention.bytes": "-1"}) == (
        "Invalid value -1 for configuration local.retention.bytes: "
        "Value must not be -1 as retention.bytes value is set as 100.")
    # retention.ms is bounded by default (7 days).
    assert create_error({"local.retention.ms": "604800001"}) == (
        "Invalid value 604800001 for configuration local.retention.ms: "
        "Value must not be more than retention.ms property value: 604800000")
    assert create_error({"retention.bytes": "100", "local.retention.bytes": "100"}) is None
    assert create_error({"retention.ms": "-1", "local.retention.ms": "604800001"}) is None
    assert create_error({"remote.storage.enable": "false", "retention.bytes": "100",
                         "local.retention.bytes": "101"}) is None

    # AlterConfigs (the whole set) is checked the same way, and a refusal changes nothing.
    topic = unique_topic("tier-cfg-alter")
    create_topic(broker.bootstrap, topic, config={"retention.bytes": "1000",
                                                  "local.retention.bytes": "101"})
    res = ConfigResource("topic", topic, set_config={"retention.bytes": "100",
                                                     "local.retention.bytes": "101"})
    with pytest.raises(Exception) as ei:
        a.alter_configs([res], request_timeout=30)[res].result(30)
    assert (ei.value.args[0].code(), ei.value.args[0].str()) == (KafkaError.INVALID_CONFIG, too_big)
    got = a.describe_configs([ConfigResource("topic", topic)], request_timeout=30)
    cfg = next(iter(got.values())).result(30)
    assert (cfg["retention.bytes"].value, cfg["local.retention.bytes"].value) == ("1000", "101")


def test_non_utf8_header_keys_are_tiered_and_read_back_exactly(broker_factory, tmp_path):
    root = tmp_path / "remote"
    b = broker_factory(extra_args=["--object-store", f"file://{root}"], env=FAST)
    t = Tiered(b, FileStore(root))
    topic = unique_topic("tier-rawkey")
    create_topic(t.bs, topic, config=TIERED)
    assert KCAT, "kcat missing (scripts/install-test-deps.sh)"
    lines = b"".join(b"k%d:v%d-" % (i, i) + b"x" * 100 + b"\n" for i in range(400))
    # kcat takes header keys from argv as bytes: \xff\xfe is not UTF-8.
    proc = subprocess.run([KCAT, "-b", t.bs, "-P", "-t", topic, "-p", "0", "-K", ":",
                           "-H", b"\xff\xfe=raw", "-H", "ok=1", "-X", "linger.ms=5",
                           "-X", "batch.size=4096"], input=lines, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    segs = t.wait_settled(topic)
    assert len(segs) >= 2 and segs[0]["base_offset"] == 0, segs

    got = kcat_read(t.bs, topic)
    assert [(o, k, v, h) for o, _, k, v, h in got] == [
        (i, b"k%d" % i, b"v%d-" % i + b"x" * 100, b"\xff\xfe=raw,ok=1") for i in range(400)]
    tiered_end = segs[-1]["last_offset"] + 1
    assert tiered_end > 0
    for s in segs:
        table = read_arrow(t.store.get(s["object"]))
        n = table.num_rows
        assert table.column("offset").to_pylist() == list(range(s["base_offset"], s["last_offset"] + 1))
        assert table.column("headers").to_pylist() == [
            [{"key": "\ufffd\ufffd", "value": b"raw"}, {"key": "ok", "value": b"1"}]] * n
        assert table.column("raw_header_keys").to_pylist() == [[b"\xff\xfe", b"ok"]] * n


def offset_specs(build, bs: str, topic: str) -> dict[str, int]:
    proc = subprocess.run(["java", "-cp", classpath(build), "OffsetSpecs", bs, topic, "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines and lines[-1] == "END", proc.stdout[-2000:]
    return {name: int(offset) for name, offset in (line.split() for line in lines[:-1])}


def test_java_offset_specs_earliest_local_and_latest_tiered(broker_factory, tmp_path):
    build = compile_java(tmp_path / "java", [SRC / "OffsetSpecs.java"])
    root = tmp_path / "remote"
    b = broker_factory(extra_args=["--object-store", f"file://{root}"], env=FAST)
    t = Tiered(b, FileStore(root))
    tiered, local_only, untiered_yet = (unique_topic(p) for p in ("tier-spec", "tier-spec-off",
                                                                   "tier-spec-new"))
    create_topic(t.bs, tiered, config=TIERED)
    create_topic(t.bs, local_only, config={**TIERED, "remote.storage.enable": "false"})
    create_topic(t.bs, untiered_yet, config=TIERED)
    recs = gen_records(1500, seed=81)
    produce(t.bs, tiered, recs, conf=SMALL_BATCHES)
    produce(t.bs, local_only, recs, conf=SMALL_BATCHES)
    produce(t.bs, untiered_yet, recs[:5])
    segs = t.wait_settled(tiered)
    logs = wait_stable(lambda: [int(f.stem) for f in t.logs(tiered)], "local segments")
    assert logs[0] > 0
    assert offset_specs(build, t.bs, tiered) == {
        "earliest": 0, "earliestLocal": logs[0], "latestTiered": segs[-1]["last_offset"],
        "latest": 1500}
    assert offset_specs(build, t.bs, local_only) == {
        "earliest": 0, "earliestLocal": 0, "latestTiered": -1, "latest": 1500}
    assert offset_specs(build, t.bs, untiered_yet) == {
        "earliest": 0, "earliestLocal": 0, "latestTiered": -1, "latest": 5}


def test_topic_deleted_during_uploads_leaves_no_objects(broker_factory, s3):
    t = s3_broker(broker_factory, s3)
    topic = unique_topic("tier-del")
    create_topic(t.bs, topic, config=TIERED)
    produce(t.bs, topic, gen_records(4000, seed=91), conf=SMALL_BATCHES)
    # Delete as soon as the first segment is in the store, with the backlog still uploading.
    wait_for(lambda: t.arrow_keys(topic), f"a first object of {topic}")
    client = admin(t.bs)  # keep the handle alive until the result is in
    client.delete_topics([topic], operation_timeout=30)[topic].result(timeout=30)
    prefix = f"{t.prefix}/{topic}/"
    wait_for(lambda: not t.store.objects(prefix), f"objects of deleted {topic} gone")
    # Nothing written by an upload that was in flight shows up afterwards.
    time.sleep(3)
    assert t.store.objects(prefix) == {}


def test_unreadable_local_segment_is_kept_and_reported_not_tiered(broker_factory, tmp_path):
    b, t, _, topic = file_tiered(broker_factory, tmp_path, "tier-rot",
                                 {**TIERED, "remote.storage.enable": "false"})
    recs = gen_records(1500, seed=95)
    produce(t.bs, topic, recs, conf=SMALL_BATCHES)
    bases = [int(f.stem) for f in t.logs(topic)]
    assert len(bases) >= 4, bases
    # One bit inside the first batch of the second segment: its CRC-32C no longer matches.
    rotten = t.logs(topic)[1]
    with open(rotten, "r+b") as f:
        f.seek(61 + 20)
        byte = f.read(1)
        f.seek(61 + 20)
        f.write(bytes([byte[0] ^ 0x01]))

    set_configs(t.bs, topic, remote_storage_enable="true")
    wait_metric(b, "weir_storage_corrupt_batches_total", lambda v: v >= 1)
    segs = wait_stable(lambda: t.segments(topic), "the first segment tiered")
    assert [(s["base_offset"], s["last_offset"] + 1) for s in segs] == [(0, bases[1])], segs
    # Nothing from the rotten segment on was deleted locally; it stays the only copy.
    assert [int(f.stem) for f in t.logs(topic)] == bases[1:]
    time.sleep(3)
    assert t.segments(topic) == segs
    assert [int(f.stem) for f in t.logs(topic)] == bases[1:]
    assert msum(b, "weir_storage_corrupt_batches_total") == 1
    log = b.log_text()
    assert log.count("a local segment cannot be tiered") == 1, b.log_tail(40)
    assert "CRC" in log, b.log_tail(40)
    # Every other offset is served: the tiered one before, the local ones after.
    before = consume(t.bs, topic, start=0, end=bases[1])
    assert [(m.offset(), m.key(), m.value()) for m in before] == [
        (i, r.key, r.value) for i, r in enumerate(recs[:bases[1]])]
    assert got(consume_until_quiet(t.bs, topic, bases[2])) == want(recs, bases[2], len(recs))
    assert b.alive()


def test_lost_or_older_manifest_is_repaired_and_every_offset_stays_readable(broker_factory,
                                                                           tmp_path):
    b, t, root, topic = file_tiered(broker_factory, tmp_path, "tier-manifest")
    first = gen_records(1000, seed=97)
    produce(t.bs, topic, first, conf=SMALL_BATCHES)
    t.wait_settled(topic)
    key = t.key(topic, 0, "manifest.json")
    older = t.store.get(key)
    second = gen_records(2000, seed=98, base_ts=first[-1].timestamp + 3)
    produce(t.bs, topic, second, conf=SMALL_BATCHES)
    segs = t.wait_settled(topic)
    assert len(segs) > len(json.loads(older)["segments"]) >= 2
    everything = [expected_tuple(i, r) for i, r in enumerate(first + second)]
    objects = t.arrow_keys(topic)
    local_copy = b.partition_dir(topic, 0) / "remote-manifest.json"

    def spans(segments):
        return [(s["base_offset"], s["last_offset"], s["record_count"]) for s in segments]

    # 1. The store's manifest rolled back to an older version: repaired from the local copy.
    b.terminate()
    (root / key).write_bytes(older)
    b.start()
    wait_for(lambda: t.segments(topic)[:len(segs)] == segs, "the manifest repaired from the copy")
    assert_same([msg_tuple(m) for m in consume(t.bs, topic)], everything, "after a rollback")
    assert t.arrow_keys(topic) == objects

    # 2. The store's manifest and the local copy both gone: repaired from the listing.
    b.terminate()
    (root / key).unlink()
    local_copy.unlink()
    b.start()
    wait_for(lambda: spans(t.segments(topic)[:len(segs)]) == spans(segs),
             "the manifest rebuilt from the objects")
    assert_same([msg_tuple(m) for m in consume(t.bs, topic)], everything, "after a loss")
    assert t.arrow_keys(topic) == objects
    assert "adopting a tiered segment the manifest had lost" in b.log_text()

    # 3. The store's manifest unreadable (a torn or rotten object): repaired like a lost one.
    b.terminate()
    (root / key).write_bytes(b'{"version": 1, "topic": "' + topic.encode() + b'", "segm')
    b.start()
    def repaired() -> bool:
        try:
            return spans(t.segments(topic)[:len(segs)]) == spans(segs)
        except ValueError:  # still the damaged object
            return False
    wait_for(repaired, "the manifest repaired after damage")
    assert_same([msg_tuple(m) for m in consume(t.bs, topic)], everything, "after damage")
    assert t.arrow_keys(topic) == objects
    assert "the store's manifest is unreadable" in b.log_text()
