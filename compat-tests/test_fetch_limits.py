"""Fetch sizes and partition limits with real clients.

- librdkafka sets receive.message.max.bytes to fetch.max.bytes + 512 and drops the
  connection on a larger response. Consuming 900 KiB messages from several partitions with
  fetch.max.bytes = 1 MiB must get every record, exactly, without one "Receive failed":
  the broker may return one oversize first batch (KIP-74) but never a second batch that
  does not fit what the response has left.
- max.partitions / the per-request cap refuse CreateTopics and CreatePartitions with
  POLICY_VIOLATION / INVALID_PARTITIONS and a message naming the limit, create nothing,
  count table changelogs, and show in weir_partitions_rejected_total.
"""

from __future__ import annotations

import logging
import random
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import NewPartitions, NewTopic

from conftest import http_get, unique_topic
from weirtest import BASE_TS, admin, create_topic, produce, Rec

FETCH_MAX = 1024 * 1024
VALUE = 900 * 1024
PARTITIONS = 4
PER_PARTITION = 6


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_librdkafka_consumes_900k_messages_with_1mib_fetch_max_bytes(broker):
    topic = unique_topic("big")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS,
                 config={"max.message.bytes": str(2 * 1024 * 1024)})
    recs = [Rec(f"k{p}-{i}".encode(), random.Random(p * 100 + i).randbytes(VALUE), None,
                BASE_TS + i, p)
            for p in range(PARTITIONS) for i in range(PER_PARTITION)]
    delivered = produce(broker.bootstrap, topic, recs, {"linger.ms": 0})
    assert delivered == [(p, i) for p in range(PARTITIONS) for i in range(PER_PARTITION)]

    errors: list = []
    logs = Collect()
    logger = logging.getLogger(f"rdkafka-{topic}")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(logs)
    c = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "never-joined",
        "enable.auto.commit": False,
        "fetch.max.bytes": FETCH_MAX,
        "max.partition.fetch.bytes": FETCH_MAX,
        "receive.message.max.bytes": FETCH_MAX + 512,
        "fetch.wait.max.ms": 100,
        "error_cb": errors.append,
        "logger": logger,
        "debug": "fetch,protocol",
    })
    got = {}
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        deadline = time.monotonic() + 120
        while len(got) < len(recs) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                errors.append(m.error())
                continue
            got[(m.partition(), m.offset())] = (m.key(), m.value())
    finally:
        c.close()
    want = {(r.partition, i % PER_PARTITION): (r.key, r.value) for i, r in enumerate(recs)}
    bad_lines = [line for line in logs.lines
                 if "Receive failed" in line or "Invalid response size" in line
                 or "receive.message.max.bytes" in line]
    assert not bad_lines, bad_lines[:3]
    assert not errors, errors[:3]
    assert sorted(got) == sorted(want)
    assert got == want
    # Each fetch response carried at most one oversize batch: the debug log shows every
    # response's size; none passes fetch.max.bytes + 512.
    sizes = [int(line.split("Received FetchResponse (v")[1].split(", ")[1].split(" bytes")[0])
             for line in logs.lines if "Received FetchResponse (v" in line]
    assert sizes and max(sizes) <= FETCH_MAX + 512, sizes


def kafka_error(future) -> KafkaError:
    with pytest.raises(KafkaException) as info:
        future.result(timeout=30)
    return info.value.args[0]


def metric(broker, name: str, labels: str) -> float:
    status, text = http_get(broker.http + "/metrics")
    assert status == 200
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.split()[-1])
    return 0.0


def test_partition_limits_with_admin_client(broker_factory):
    b = broker_factory(extra_args=["--max-partitions", "12", "--max-partitions-per-request", "10"])
    a = admin(b.bootstrap)

    # 11 partitions in one request: over the per-request cap.
    e = kafka_error(a.create_topics([NewTopic("eleven", 11, 1)])["eleven"])
    assert e.code() == KafkaError.INVALID_PARTITIONS
    assert "11 partitions" in e.str() and "max.partitions.per.request" in e.str(), e.str()
    # A table topic of 5 holds 10 (its changelog counts): allowed; then 3 more are not.
    table = {"cleanup.policy": "compact"}
    a.create_topics([NewTopic("users", 5, 1, config=table)])["users"].result(timeout=30)
    e = kafka_error(a.create_topics([NewTopic("three", 3, 1)])["three"])
    assert e.code() == KafkaError.POLICY_VIOLATION
    assert "max.partitions=12" in e.str() and "10 held" in e.str(), e.str()
    # Growing the table by one adds two (partition and changelog partition): 12, allowed;
    # then any more is refused.
    a.create_partitions([NewPartitions("users", 6)])["users"].result(timeout=30)
    e = kafka_error(a.create_partitions([NewPartitions("users", 7)])["users"])
    assert e.code() == KafkaError.POLICY_VIOLATION, e.str()

    md = a.list_topics(timeout=10)
    assert sorted(t for t in md.topics if not t.startswith("__")) == ["users", "users.changelog"]
    assert len(md.topics["users"].partitions) == 6
    assert metric(b, "weir_partitions_rejected_total", 'reason="max.partitions.per.request"') == 11
    assert metric(b, "weir_partitions_rejected_total", 'reason="max.partitions"') == 3 + 2
