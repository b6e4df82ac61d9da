"""confluent-kafka (librdkafka 2.16) against Weir: exact round trips with every codec,
idempotent producer, AdminClient and ListOffsets."""

from __future__ import annotations

import pytest
from confluent_kafka import OFFSET_END, KafkaError, TopicPartition
from confluent_kafka.admin import ConfigResource, ConfigSource, NewPartitions, NewTopic

from conftest import unique_topic
from segments import CODECS, read_batches
from weirtest import (BASE_TS, admin, assert_same, consume, consumer, create_topic,
                      expected_tuple, gen_records, msg_tuple, produce, wait_topic)

N = 20_000


@pytest.mark.parametrize("codec,idempotent", [
    ("none", False), ("gzip", False), ("snappy", False), ("lz4", False), ("zstd", False),
    ("zstd", True), ("none", True),
])
def test_roundtrip_exact(broker, codec, idempotent):
    topic = unique_topic(f"ck-{codec}")
    create_topic(broker.bootstrap, topic)
    recs = gen_records(N, seed=sum(codec.encode()) + idempotent)
    conf = {"compression.type": codec, "enable.idempotence": idempotent,
            "linger.ms": 20, "batch.num.messages": 2000}
    delivered = produce(broker.bootstrap, topic, recs, conf)
    assert delivered == [(0, i) for i in range(N)], "offsets must be contiguous from 0 in order"

    c = consumer(broker.bootstrap)
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()
    assert (lo, hi) == (0, N)

    got = [msg_tuple(m) for m in consume(broker.bootstrap, topic)]
    want = [expected_tuple(i, r) for i, r in enumerate(recs)]
    assert_same(got, want)

    if codec != "none":
        batches = read_batches(broker.active_segment(topic, 0))
        stored = {b.codec for b in batches}
        # librdkafka enables LZ4 only if FindCoordinator is advertised (rdkafka_feature.c).
        assert batches and CODECS[codec] in stored and stored <= {0, CODECS[codec]}, stored
        # librdkafka sends a batch uncompressed when compressing does not make it smaller
        # (rdkafka_msgset_writer.c), which happens only to a batch of a few small records.
        plain = sum(b.last_offset_delta + 1 for b in batches if b.codec == 0)
        assert plain <= N // 100, [b for b in batches if b.codec == 0]


def test_multi_partition_keys_stay_put(broker):
    topic = unique_topic("ck-parts")
    create_topic(broker.bootstrap, topic, partitions=3)
    per = {p: gen_records(500, seed=p, partition=p) for p in range(3)}
    recs = [r for p in range(3) for r in per[p]]
    delivered = produce(broker.bootstrap, topic, recs, {"enable.idempotence": True})
    assert delivered == [(p, i) for p in range(3) for i in range(500)]
    for p in range(3):
        got = [msg_tuple(m) for m in consume(broker.bootstrap, topic, partition=p)]
        assert_same(got, [expected_tuple(i, r) for i, r in enumerate(per[p])], f"partition {p}")


def test_fetch_from_middle_offset(broker):
    topic = unique_topic("ck-mid")
    create_topic(broker.bootstrap, topic)
    recs = gen_records(3000, seed=7)
    produce(broker.bootstrap, topic, recs, {"linger.ms": 50})
    for start in (0, 1, 1234, 2999):
        got = [msg_tuple(m) for m in consume(broker.bootstrap, topic, start=start)]
        assert_same(got, [expected_tuple(i, recs[i]) for i in range(start, 3000)], f"from {start}")


def test_list_offsets_watermarks_and_times(broker):
    topic = unique_topic("ck-lo")
    create_topic(broker.bootstrap, topic)
    recs = gen_records(5000, seed=3)  # timestamps BASE_TS + 3*i
    produce(broker.bootstrap, topic, recs)
    c = consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 5000)
        queries = {
            BASE_TS - 1: 0,             # before everything -> first offset
            BASE_TS: 0,
            BASE_TS + 1: 1,             # first ts >= query is record 1 (BASE_TS+3)
            BASE_TS + 3 * 1234: 1234,
            BASE_TS + 3 * 1234 + 2: 1235,
            BASE_TS + 3 * 4999: 4999,
            BASE_TS + 3 * 4999 + 1: -1,  # after the last -> not found (OFFSET_END)
        }
        for ts, want in queries.items():
            [res] = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert res.error is None, res
            assert res.offset == want, f"offsets_for_times({ts - BASE_TS:+d}): got {res.offset} want {want}"
        assert OFFSET_END == -1
    finally:
        c.close()


def test_admin_create_list_describe(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic("ck-admin")
    fs = a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1,
                                   config={"retention.ms": "3600000", "max.message.bytes": "2000000",
                                           "cleanup.policy": "delete"})],
                         request_timeout=30)
    assert fs[topic].result(timeout=30) is None
    wait_topic(broker.bootstrap, topic, 3)

    md = a.list_topics(timeout=10)
    assert topic in md.topics
    assert sorted(md.topics[topic].partitions) == [0, 1, 2]
    for p in md.topics[topic].partitions.values():
        assert p.leader == 1 and p.replicas == [1] and p.isrs == [1]
    assert list(md.brokers) == [1]
    assert f"{md.brokers[1].host}:{md.brokers[1].port}" == broker.bootstrap

    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfg = a.describe_configs([res], request_timeout=30)[res].result(timeout=30)
    assert cfg["retention.ms"].value == "3600000"
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["max.message.bytes"].value == "2000000"
    assert cfg["cleanup.policy"].value == "delete"
    # Kafka defaults for what we did not set.
    assert cfg["segment.bytes"].value == "1073741824"
    assert cfg["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    assert cfg["message.timestamp.type"].value == "CreateTime"

    # Errors: existing topic, bad name, bad config, bad partition count.
    cases = {
        topic: (NewTopic(topic, num_partitions=1, replication_factor=1), KafkaError.TOPIC_ALREADY_EXISTS),
        "bad/name": (NewTopic("bad/name", num_partitions=1, replication_factor=1), KafkaError.TOPIC_EXCEPTION),
        "x" * 250: (NewTopic("x" * 250, num_partitions=1, replication_factor=1), KafkaError.TOPIC_EXCEPTION),
    }
    badcfg = unique_topic("ck-badcfg")
    cases[badcfg] = (NewTopic(badcfg, num_partitions=1, replication_factor=1,
                              config={"retention.ms": "not-a-number"}), KafkaError.INVALID_CONFIG)
    badparts = unique_topic("ck-badparts")
    cases[badparts] = (NewTopic(badparts, num_partitions=0, replication_factor=1), KafkaError.INVALID_PARTITIONS)
    for name, (nt, code) in cases.items():
        f = a.create_topics([nt], request_timeout=30)[name]
        with pytest.raises(Exception) as ei:
            f.result(timeout=30)
        err = ei.value.args[0]
        assert err.code() == code, f"create {name[:40]}: got {err} want {KafkaError(code).name()}"
    md = a.list_topics(timeout=10)
    assert badcfg not in md.topics and badparts not in md.topics

    # validate_only creates nothing.
    vo = unique_topic("ck-vo")
    a.create_topics([NewTopic(vo, num_partitions=1, replication_factor=1)],
                    validate_only=True, request_timeout=30)[vo].result(timeout=30)
    assert vo not in a.list_topics(timeout=10).topics

    # CreatePartitions via confluent admin.
    a.create_partitions([NewPartitions(topic, 5)], request_timeout=30)[topic].result(timeout=30)
    wait_topic(broker.bootstrap, topic, 5)

    # DeleteTopics.
    a.delete_topics([topic], request_timeout=30)[topic].result(timeout=30)
    assert topic not in a.list_topics(timeout=10).topics
    assert not broker.partition_dir(topic, 0).exists()


def test_max_message_bytes_enforced(broker):
    topic = unique_topic("ck-big")
    create_topic(broker.bootstrap, topic, config={"max.message.bytes": "1000"})
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0,
                  "message.timeout.ms": 30000, "compression.type": "none"})
    errs = []
    p.produce(topic, value=b"z" * 5000, partition=0, on_delivery=lambda e, m: errs.append(e))
    assert p.flush(30) == 0
    assert len(errs) == 1 and errs[0] is not None
    assert errs[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, errs[0]
    # Small records still go through and start at offset 0.
    assert produce(broker.bootstrap, topic, gen_records(3, seed=1)) == [(0, 0), (0, 1), (0, 2)]
