"""Consumer groups with librdkafka (kcat 1.7.1 / librdkafka 2.0.2, confluent-kafka 2.16 /
librdkafka 2.16) and kafka-python 3.x against Weir."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from conftest import unique_topic
from weirtest import Rec, admin, consumer, create_topic, produce

KCAT = shutil.which("kcat")
TIMEOUT = 60


def committed_offsets(bootstrap: str, group: str, topic: str, parts: int) -> dict[int, int]:
    a = admin(bootstrap)
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(parts)])
    res = a.list_consumer_group_offsets([req], request_timeout=30)[group].result(timeout=60)
    for tp in res.topic_partitions:
        assert tp.error is None, tp
    return {tp.partition: tp.offset for tp in res.topic_partitions}


def high_watermarks(bootstrap: str, topic: str, parts: int) -> dict[int, int]:
    c = consumer(bootstrap)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(parts)}
    finally:
        c.close()


def recs(tag: str, n: int, parts: int) -> list[Rec]:
    return [Rec(f"{tag}-k{i}".encode(), f"{tag}-v{i}".encode(), None, None, i % parts)
            for i in range(n)]


# ------------------------------------------------------------------------------ kcat -G
def kcat_group(bootstrap, group, topic) -> list[tuple[int, int, str, str]]:
    cmd = [KCAT, "-b", bootstrap, "-G", group, topic, "-e", "-q",
           "-X", "auto.offset.reset=earliest", "-X", "socket.timeout.ms=10000",
           "-X", "session.timeout.ms=10000",
           "-f", "%p|%o|%k|%s\\n"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    assert p.returncode == 0, (f"{' '.join(cmd)} exited {p.returncode}\n"
                               f"stderr: {p.stderr[-4000:].decode('utf-8', 'replace')}")
    out = []
    for line in p.stdout.decode().splitlines():
        part, off, k, v = line.split("|", 3)
        out.append((int(part), int(off), k, v))
    return out


@pytest.mark.skipif(KCAT is None, reason="kcat not installed (scripts/install-test-deps.sh)")
def test_kcat_balanced_consumer_exact_and_commits(broker):
    topic, parts = unique_topic("kcg"), 3
    group = f"grp-{topic}"
    create_topic(broker.bootstrap, topic, partitions=parts)
    first = recs("a", 90, parts)
    delivered = produce(broker.bootstrap, topic, first)
    want = sorted((p, o, r.key.decode(), r.value.decode()) for (p, o), r in zip(delivered, first))

    got = kcat_group(broker.bootstrap, group, topic)
    assert sorted(got) == want, f"kcat -G read {len(got)} records, want {len(want)}"
    assert len(got) == len(set(got)), "duplicates"
    # kcat commits (auto commit + final commit on close): visible through OffsetFetch.
    hw = high_watermarks(broker.bootstrap, topic, parts)
    assert hw == {0: 30, 1: 30, 2: 30}
    assert committed_offsets(broker.bootstrap, group, topic, parts) == hw

    # The same group continues exactly after its commits.
    second = recs("b", 15, parts)
    delivered = produce(broker.bootstrap, topic, second)
    want2 = sorted((p, o, r.key.decode(), r.value.decode()) for (p, o), r in zip(delivered, second))
    got2 = kcat_group(broker.bootstrap, group, topic)
    assert sorted(got2) == want2
    assert committed_offsets(broker.bootstrap, group, topic, parts) == {0: 35, 1: 35, 2: 35}


# ------------------------------------------------------------------------------ confluent-kafka
def group_consumer(bootstrap, group, name, strategy="cooperative-sticky") -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": name,
        "partition.assignment.strategy": strategy,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 300,
        "socket.timeout.ms": 10000,
        "fetch.wait.max.ms": 100,
    })


class Member:
    def __init__(self, c: Consumer, name: str):
        self.c, self.name = c, name
        self.seen: list[tuple[int, int, bytes]] = []
        self.commit_errors: list = []

    def step(self, timeout=0.1):
        for m in self.c.consume(num_messages=50, timeout=timeout):
            if m.error():
                raise KafkaException(m.error())
            self.seen.append((m.partition(), m.offset(), m.value()))
            # synchronous commit of exactly this message's next offset
            tp = TopicPartition(m.topic(), m.partition(), m.offset() + 1)
            for attempt in range(20):
                try:
                    self.c.commit(offsets=[tp], asynchronous=False)
                    break
                except KafkaException as e:
                    self.commit_errors.append(e)
                    if not e.args[0].retriable() and attempt > 3:
                        raise
                    time.sleep(0.1)

    def owned(self) -> list[int]:
        return sorted(tp.partition for tp in self.c.assignment())


def pump(members, pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: " + "; ".join(
                f"{m.name} owns {m.owned()} seen {len(m.seen)}" for m in members))
        for m in members:
            m.step()


def test_confluent_cooperative_sticky_two_consumers_exactly_once(broker):
    topic, parts = unique_topic("ccs"), 4
    group = f"grp-{topic}"
    create_topic(broker.bootstrap, topic, partitions=parts)
    produced = set()

    def phase(tag, n):
        rs = recs(tag, n, parts)
        produce(broker.bootstrap, topic, rs)
        vals = {r.value for r in rs}
        produced.update(vals)
        return vals

    a = Member(group_consumer(broker.bootstrap, group, "A"), "A")
    b = Member(group_consumer(broker.bootstrap, group, "B"), "B")
    members = [a, b]
    try:
        seen = lambda: {v for m in (a, b) for _, _, v in m.seen}  # noqa: E731
        v1 = phase("p1", 200)
        a.c.subscribe([topic])
        pump([a], lambda: v1 <= seen(), TIMEOUT, "A consumes phase 1")
        assert a.owned() == [0, 1, 2, 3]

        b.c.subscribe([topic])
        pump(members, lambda: a.owned() and b.owned() and sorted(a.owned() + b.owned()) == [0, 1, 2, 3],
             TIMEOUT, "cooperative rebalance gives B a share")
        assert len(a.owned()) == 2 and len(b.owned()) == 2, (a.owned(), b.owned())
        v2 = phase("p2", 200)
        pump(members, lambda: v2 <= seen(), TIMEOUT, "A and B consume phase 2")
        b_parts = {p for p, _, v in b.seen if v in v2}
        assert b_parts and b_parts <= set(b.owned()), (b_parts, b.owned())

        b.c.close()  # LeaveGroup; A gets B's partitions back (incrementally)
        members = [a]
        pump(members, lambda: a.owned() == [0, 1, 2, 3], TIMEOUT, "A owns all after B left")
        v3 = phase("p3", 200)
        pump(members, lambda: v3 <= seen(), TIMEOUT, "A consumes phase 3")

        all_seen = [(p, o) for m in (a, b) for p, o, _ in m.seen]
        assert len(all_seen) == len(set(all_seen)) == len(produced), (
            f"{len(all_seen)} deliveries, {len(set(all_seen))} distinct, {len(produced)} produced")
        assert seen() == produced
        hw = high_watermarks(broker.bootstrap, topic, parts)
        assert committed_offsets(broker.bootstrap, group, topic, parts) == hw
        # A's committed position via the consumer API too
        got = a.c.committed([TopicPartition(topic, p) for p in range(parts)], timeout=30)
        assert {tp.partition: tp.offset for tp in got} == hw
    finally:
        for m in (a, b):
            try:
                m.c.close()
            except RuntimeError:
                pass  # already closed


# ------------------------------------------------------------------------------ kafka-python
def test_kafka_python_group_consumer_roundtrip(broker):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    topic, parts = unique_topic("kpg"), 2
    group = f"grp-{topic}"
    create_topic(broker.bootstrap, topic, partitions=parts)
    first = recs("a", 40, parts)
    delivered = produce(broker.bootstrap, topic, first)
    want = {(p, o, r.key, r.value) for (p, o), r in zip(delivered, first)}

    def run(n_expected):
        c = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                          enable_auto_commit=False, auto_offset_reset="earliest",
                          session_timeout_ms=10000, heartbeat_interval_ms=1000,
                          request_timeout_ms=30000, fetch_max_wait_ms=100)
        got = []
        try:
            deadline = time.monotonic() + TIMEOUT
            while len(got) < n_expected:
                assert time.monotonic() < deadline, f"got {len(got)} of {n_expected}"
                for batch in c.poll(timeout_ms=300).values():
                    got.extend((r.partition, r.offset, r.key, r.value) for r in batch)
                    c.commit()  # synchronous commit of the consumed positions
            assignment = sorted(tp.partition for tp in c.assignment())
            committed = {p: c.committed(KTP(topic, p)) for p in range(parts)}
            return got, assignment, committed
        finally:
            c.close()

    got, assignment, committed = run(len(want))
    assert sorted(got) == sorted(want) and len(got) == len(want)
    assert assignment == [0, 1]
    assert committed == {0: 20, 1: 20}
    assert committed_offsets(broker.bootstrap, group, topic, parts) == {0: 20, 1: 20}

    second = recs("b", 10, parts)
    delivered = produce(broker.bootstrap, topic, second)
    want2 = {(p, o, r.key, r.value) for (p, o), r in zip(delivered, second)}
    got2, _, committed2 = run(len(want2))
    assert sorted(got2) == sorted(want2), "the group must resume at its committed offsets"
    assert committed2 == {0: 25, 1: 25}
