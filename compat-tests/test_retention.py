"""Retention as a client sees it: retention.bytes and retention.ms delete whole old segments
(the log start offset moves to a segment boundary and everything after it is intact), and
committed offsets of an empty group expire per offsets.retention.minutes."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition

from conftest import unique_topic
from weirtest import Rec, admin, consume, create_topic, produce

FAST_HOUSEKEEPING = {"WEIR_MAINTENANCE_INTERVAL_MS": "100"}


def one_batch_per_record(bootstrap, topic, records):
    """Produce records one request at a time so each becomes its own small batch."""
    return [produce(bootstrap, topic, [r], conf={"linger.ms": 0})[0][1] for r in records]


def wait_log_start(bootstrap, topic, above: int, timeout: float = 30.0) -> tuple[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "weir-retention-probe"})
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
            if low > above:
                return low, high
            time.sleep(0.1)
        raise AssertionError(f"log start offset of {topic} stayed at {low}")
    finally:
        c.close()


def segment_bases(broker, topic) -> list[int]:
    return sorted(int(p.stem) for p in broker.partition_dir(topic, 0).glob("*.log"))


def test_retention_bytes_deletes_oldest_segments(broker_factory):
    broker = broker_factory(env=FAST_HOUSEKEEPING)
    topic = unique_topic("ret-bytes")
    create_topic(broker.bootstrap, topic, config={"segment.bytes": "2000", "retention.bytes": "4000"})
    now = int(time.time() * 1000)
    records = [Rec(f"k{i}".encode(), bytes([i % 256]) * 200, [("i", str(i).encode())], now + i)
               for i in range(60)]
    offsets = one_batch_per_record(broker.bootstrap, topic, records)
    assert offsets == list(range(60))
    # Retention is done when dropping the oldest segment would go below retention.bytes.
    d = broker.partition_dir(topic, 0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        logs = sorted(d.glob("*.log"))
        total = sum(p.stat().st_size for p in logs)
        if len(logs) > 1 and total - logs[0].stat().st_size < 4000:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"retention.bytes not applied: {[(p.name, p.stat().st_size) for p in logs]}")
    # Whole segments go: the log start becomes the base of the oldest remaining segment.
    first_base = segment_bases(broker, topic)[0]
    low, high = wait_log_start(broker.bootstrap, topic, first_base - 1)
    assert (low, high) == (first_base, 60), (low, high, segment_bases(broker, topic))
    sizes = sum(p.stat().st_size for p in broker.partition_dir(topic, 0).glob("*.log"))
    assert sizes <= 4000 + 2000, sizes
    got = consume(broker.bootstrap, topic, start=low, end=60)
    assert [(m.offset(), m.key(), m.value(), m.headers(), m.timestamp()[1]) for m in got] == [
        (i, r.key, r.value, r.headers, r.timestamp) for i, r in enumerate(records)][low:]
    # A consumer asking for offset 0 is reset to the new log start.
    got = consume(broker.bootstrap, topic, start=0, end=60)
    assert got[0].offset() == low


def test_retention_ms_deletes_segments_with_only_old_records(broker_factory):
    broker = broker_factory(env=FAST_HOUSEKEEPING)
    topic = unique_topic("ret-ms")
    create_topic(broker.bootstrap, topic, config={"segment.bytes": "1500", "retention.ms": "3600000"})
    now = int(time.time() * 1000)
    old = [Rec(b"old", bytes(200), None, now - 2 * 3600_000 + i) for i in range(30)]
    new = [Rec(b"new", bytes(200), None, now + i) for i in range(30)]
    one_batch_per_record(broker.bootstrap, topic, old + new)
    # 200-byte records make 5-record segments: the six holding offsets 0..29 have only old
    # records and go (a pass may run before the last of them closes); 30.. stay.
    low, high = wait_log_start(broker.bootstrap, topic, 29)
    assert (low, high) == (30, 60), (low, high)
    got = consume(broker.bootstrap, topic, start=low, end=60)
    assert [m.offset() for m in got] == list(range(30, 60))
    assert [m.key() for m in got] == [b"new"] * 30
    assert [m.timestamp()[1] for m in got] == [r.timestamp for r in new]


def test_committed_offsets_of_empty_groups_expire(broker_factory):
    broker = broker_factory(env={**FAST_HOUSEKEEPING, "WEIR_OFFSETS_RETENTION_MINUTES": "0"})
    topic = unique_topic("ret-offsets")
    create_topic(broker.bootstrap, topic)
    produce(broker.bootstrap, topic, [Rec(b"k", b"v", None, None)] * 10)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "expiring",
                  "enable.auto.commit": False})
    try:
        committed = c.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
        assert committed[0].error is None and committed[0].offset == 7
    finally:
        c.close()
    a = admin(broker.bootstrap)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        groups = {g.group_id for g in a.list_consumer_groups().result().valid}
        if "expiring" not in groups:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("group with only expired offsets is still listed")
    res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(
        "expiring", [TopicPartition(topic, 0)])])["expiring"].result()
    assert res.topic_partitions[0].offset < 0, res.topic_partitions[0]
