"""kafka-python 3.x against Weir: exact round trip per codec and KafkaAdminClient."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import (InvalidConfigurationError, InvalidTopicError,
                          TopicAlreadyExistsError)

from conftest import unique_topic
from weirtest import gen_records

N = 3000
TIMEOUT_S = 60


def kp_producer(broker, **kw):
    return KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                         request_timeout_ms=30000, max_block_ms=30000, **kw)


def kp_admin(broker):
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)


def kp_consume(broker, topic, partition=0, start=0, end=None, timeout=TIMEOUT_S):
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      request_timeout_ms=30000, fetch_max_wait_ms=100)
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        if end is None:
            end = c.end_offsets([tp])[tp]
        c.seek(tp, start)
        out = []
        deadline = time.monotonic() + timeout
        while (not out or out[-1].offset < end - 1) and end > start:
            assert time.monotonic() < deadline, f"consumed {len(out)} of {end - start} before timeout"
            for recs in c.poll(timeout_ms=500, max_records=5000).values():
                out.extend(recs)
        return out
    finally:
        c.close()


def rec_tuple(r):
    return (r.offset, r.key, r.value, list(r.headers or []), r.timestamp, r.timestamp_type)


def want_tuple(i, r):
    return (i, r.key, r.value, list(r.headers or []), r.timestamp, 0)


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_roundtrip_exact(broker, codec):
    topic = unique_topic(f"kp-{codec}")
    recs = gen_records(N, seed=11)
    for r in recs:  # kafka-python cannot send null header values, nor null key with null value
        if r.key is None and r.value is None:
            r.value = b"null-key-and-value"
        if r.headers is not None:
            r.headers = [(k, v) for k, v in r.headers if v is not None]
    p = kp_producer(broker, compression_type=codec, linger_ms=20)
    try:
        futs = [p.send(topic, key=r.key, value=r.value, headers=r.headers, partition=0,
                       timestamp_ms=r.timestamp) for r in recs]
        p.flush(timeout=TIMEOUT_S)
        offsets = [f.get(timeout=TIMEOUT_S).offset for f in futs]
    finally:
        p.close(timeout=10)
    assert offsets == list(range(N))
    got = [rec_tuple(r) for r in kp_consume(broker, topic)]
    want = [want_tuple(i, r) for i, r in enumerate(recs)]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w


def _describe(a, topic, filt="all"):
    res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter=filt)
    return res["topic"][topic]


def _partitions(a, topic):
    [t] = a.describe_topics([topic])
    assert t["error_code"] == 0, t
    return sorted(p["partition_index"] for p in t["partitions"])


def test_admin_lifecycle(broker):
    a = kp_admin(broker)
    try:
        topic = unique_topic("kp-admin")
        a.create_topics({topic: {"num_partitions": 2, "replication_factor": 1,
                                 "configs": {"retention.ms": "86400000", "segment.bytes": "1048576"}}})
        deadline = time.monotonic() + 30
        while topic not in a.list_topics():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert _partitions(a, topic) == [0, 1]

        cfg = _describe(a, topic)
        assert cfg["retention.ms"]["value"] == "86400000"
        assert cfg["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert cfg["segment.bytes"]["value"] == "1048576"
        # Defaults are described too, with Kafka's values and source.
        assert cfg["cleanup.policy"]["value"] == "delete"
        assert cfg["cleanup.policy"]["config_source"] == "DEFAULT_CONFIG"
        assert cfg["max.message.bytes"]["value"] == "1048588"
        assert cfg["retention.bytes"]["value"] == "-1"
        modified = _describe(a, topic, "modified")
        assert set(modified) == {"retention.ms", "segment.bytes"}

        # Alter, describe, and survive a restart.
        res = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                              configs={"retention.ms": "7200000"})])
        assert res == {"topic": {topic: "OK"}}, res
        assert _describe(a, topic)["retention.ms"]["value"] == "7200000"
    finally:
        a.close()

    broker.restart(crash=True)
    a = kp_admin(broker)
    try:
        cfg = _describe(a, topic)
        assert cfg["retention.ms"]["value"] == "7200000"
        assert cfg["segment.bytes"]["value"] == "1048576"
        assert _partitions(a, topic) == [0, 1]

        # Non-incremental AlterConfigs as well (kafka-python fills in the other modified keys).
        res = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                              configs={"retention.ms": "3600000"})], incremental=False)
        assert res == {"topic": {topic: "OK"}}, res
        cfg = _describe(a, topic)
        assert cfg["retention.ms"]["value"] == "3600000"
        assert cfg["segment.bytes"]["value"] == "1048576"

        # CreatePartitions.
        a.create_partitions({topic: 4})
        assert _partitions(a, topic) == [0, 1, 2, 3]

        # Errors.
        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
        with pytest.raises(InvalidTopicError):
            a.create_topics({"bad topic!": {"num_partitions": 1, "replication_factor": 1}})
        bad = unique_topic("kp-badcfg")
        with pytest.raises(InvalidConfigurationError):
            a.create_topics({bad: {"num_partitions": 1, "replication_factor": 1,
                                   "configs": {"cleanup.policy": "shred"}}})
        assert bad not in a.list_topics()
        res = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                              configs={"retention.ms": "soon"})])
        assert res["topic"][topic].startswith("[Error 40] InvalidConfigurationError"), res
        assert _describe(a, topic)["retention.ms"]["value"] == "3600000"

        # Delete.
        a.delete_topics([topic])
        deadline = time.monotonic() + 30
        while topic in a.list_topics():
            assert time.monotonic() < deadline, "deleted topic still listed"
            time.sleep(0.1)
        assert not broker.partition_dir(topic, 0).exists()
    finally:
        a.close()

    # Deleted stays deleted across a restart.
    broker.restart(crash=False)
    a = kp_admin(broker)
    try:
        assert topic not in a.list_topics()
    finally:
        a.close()
