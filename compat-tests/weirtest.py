"""Client helpers shared by the compatibility tests (confluent-kafka based)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# Explicit CreateTime base: a whole hour shortly before now, so that records are well inside
# the default retention.ms (7 days) and not deleted by retention during a test.
BASE_TS = (int(time.time()) // 3600 - 1) * 3600 * 1000


@dataclass
class Rec:
    key: bytes | None
    value: bytes | None
    headers: list | None = None  # list of (str, bytes|None) or None
    timestamp: int | None = None
    partition: int = 0
    extra: dict = field(default_factory=dict)


def gen_records(n: int, seed: int = 1, partition: int = 0, base_ts: int = BASE_TS) -> list[Rec]:
    """Deterministic records: null and non-null keys, null/empty/binary values, explicit
    timestamps, repeated header keys, binary and null header values, some header-less."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        key = None if i % 5 == 0 else f"key-{i % 97}".encode()
        if i % 11 == 3:
            value = None
        elif i % 13 == 4:
            value = b""
        else:
            size = rnd.randint(0, 300)
            value = f"value-{i}-".encode() + bytes(rnd.getrandbits(8) for _ in range(size))
        if i % 7 == 0:
            headers = None
        else:
            headers = [("h", b"1"), ("h", b"2"), ("x", b"\x00\xff"), ("i", str(i).encode())]
            if i % 3 == 0:
                headers.append(("n", None))
            if i % 4 == 0:
                headers.append(("h", b"3"))
        out.append(Rec(key, value, headers, base_ts + i * 3, partition))
    return out


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None,
                 timeout: float = 30.0) -> None:
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                   config=config or {})], operation_timeout=timeout,
                         request_timeout=timeout)
    fs[name].result(timeout=timeout)
    wait_topic(bootstrap, name, partitions, timeout)


def wait_topic(bootstrap: str, name: str, partitions: int, timeout: float = 30.0) -> None:
    a = admin(bootstrap)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        md = a.list_topics(topic=name, timeout=10)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
                p.leader == 1 for p in t.partitions.values()):
            return
        last = t
        time.sleep(0.1)
    raise AssertionError(f"topic {name} not visible with {partitions} partitions: {last}")


def produce(bootstrap: str, topic: str, records: list[Rec], conf: dict | None = None,
            timeout: float = 120.0) -> list[tuple[int, int]]:
    """Produce all records; return [(partition, offset)] in input order. Raises on any error."""
    cfg = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": int(timeout * 1000),
        "socket.timeout.ms": 10000,
    }
    cfg.update(conf or {})
    p = Producer(cfg)
    results: list = [None] * len(records)
    errors: list = []

    def cb_for(i):
        def cb(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                results[i] = (msg.partition(), msg.offset())
        return cb

    deadline = time.monotonic() + timeout
    for i, r in enumerate(records):
        kw = {"key": r.key, "value": r.value, "partition": r.partition, "on_delivery": cb_for(i)}
        if r.headers is not None:
            kw["headers"] = r.headers
        if r.timestamp is not None:
            kw["timestamp"] = r.timestamp
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                p.poll(0.05)
                if time.monotonic() > deadline:
                    raise AssertionError("produce queue stayed full")
        p.poll(0)
    remaining = p.flush(max(1.0, deadline - time.monotonic()))
    assert remaining == 0, f"{remaining} messages not delivered within {timeout}s"
    assert not errors, f"delivery errors (first 5): {errors[:5]}"
    assert all(x is not None for x in results)
    return results


def consumer(bootstrap: str, extra: dict | None = None) -> Consumer:
    cfg = {
        "bootstrap.servers": bootstrap,
        # group.id is required by the Python client; we never subscribe or commit.
        "group.id": "weir-compat-never-joined",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "socket.timeout.ms": 10000,
        "fetch.wait.max.ms": 100,
    }
    cfg.update(extra or {})
    return Consumer(cfg)


def consume(bootstrap: str, topic: str, partition: int = 0, start: int = 0,
            end: int | None = None, timeout: float = 120.0, extra: dict | None = None) -> list:
    """Read [start, end) of one partition via assign(); end defaults to the high watermark.
    Returns a list of confluent_kafka.Message (error-free)."""
    c = consumer(bootstrap, extra)
    try:
        tp = TopicPartition(topic, partition)
        if end is None:
            _, end = c.get_watermark_offsets(tp, timeout=10)
        out = []
        if end <= start:
            return out
        c.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + timeout
        soft_errors = []
        while time.monotonic() < deadline:
            msgs = c.consume(num_messages=10000, timeout=0.5)
            for m in msgs:
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    soft_errors.append(m.error())
                    if m.error().fatal():
                        raise KafkaException(m.error())
                    continue
                out.append(m)
            if out and out[-1].offset() >= end - 1:
                break
        else:
            raise AssertionError(
                f"consume {topic}[{partition}] {start}..{end}: got {len(out)} records "
                f"(last offset {out[-1].offset() if out else None}) before timeout; "
                f"errors: {soft_errors[:5]}")
        return [m for m in out if m.offset() < end]
    finally:
        c.close()


def msg_tuple(m) -> tuple:
    return (m.offset(), m.key(), m.value(), m.headers(), m.timestamp())


def expected_tuple(offset: int, r: Rec) -> tuple:
    from confluent_kafka import TIMESTAMP_CREATE_TIME
    hdrs = None if r.headers is None else [(k, v) for k, v in r.headers]
    return (offset, r.key, r.value, hdrs, (TIMESTAMP_CREATE_TIME, r.timestamp))


def assert_same(got: list, want: list, what: str = "records") -> None:
    """Compare lists element-wise with a short, precise diff."""
    if got == want:
        return
    n = min(len(got), len(want))
    for i in range(n):
        if got[i] != want[i]:
            raise AssertionError(
                f"{what}: first difference at index {i} (len got={len(got)} want={len(want)})\n"
                f"  got : {got[i]!r}\n  want: {want[i]!r}")
    raise AssertionError(f"{what}: length differs: got {len(got)} want {len(want)}; "
                         f"extra: {(got[n:] or want[n:])[:3]!r}")
