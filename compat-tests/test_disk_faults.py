"""Disk faults, injected into a running broker by faultfs (an LD_PRELOAD library in
`faultfs/`, built here with the system C compiler): a control file names the call (write,
sync, rename, create), a path substring and an errno; emptying it heals the disk.

- ENOSPC / EIO on an append: the produce fails with KAFKA_STORAGE_ERROR, nothing of it becomes
  visible, other partitions keep serving, and once the fault clears writes resume without a
  restart.
- A failed fsync: the log goes offline (fsync is never retried, "fsyncgate"): the produce whose
  fsync failed is not acknowledged, produce and fetch answer KAFKA_STORAGE_ERROR even after the
  disk heals, an ERROR line and `weir_storage_offline_logs` say so, other partitions serve, and
  a restart recovers the log from what is on disk.
- A segment that cannot be created (the roll of a produce): refused, nothing visible, heals.
- A table write whose changelog append fails after its log append: undone, never visible;
  an idempotent retry is written once when the disk heals.
- Topic metadata: a CreateTopics whose definition cannot be written is refused and creates
  nothing. A producer-id block that cannot be stored hands out no id.
- The group log: an OffsetCommit that cannot be stored is refused and never served.
- RocksDB: a table flush that fails surfaces as KAFKA_STORAGE_ERROR and loses nothing.
- Metadata files with bit rot (topic definition, producer-id state, cluster id) are survived
  with nothing lost.
- Power loss, not only SIGKILL: faultfs records each file's size (by inode) at its last good
  fsync; the test kills the broker, cuts every file of the data directory back to that size
  and restarts it, four times under an idempotent acks=all load. Every acknowledged record
  and committed offset is there, once. A table's state and changelog are never durable
  ahead of its log.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import ConfigResource

from conftest import unique_topic
from test_tables import delivery_errors, fold, kill_while_writing
from test_table_atomicity import check_table, log_of, lookup_all
from test_tiering import msum, set_configs, wait_for, watermarks
from test_tiering_edges import FETCHER_LOG, consume_until_quiet, storage_errors
from weirtest import admin, consume, create_topic

FAULTFS_SRC = Path(__file__).parent / "faultfs" / "faultfs.c"


@pytest.fixture(scope="session")
def faultfs(tmp_path_factory) -> Path:
    lib = tmp_path_factory.mktemp("faultfs") / "libfaultfs.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(lib),
                    str(FAULTFS_SRC), "-ldl"], check=True, capture_output=True, timeout=120)
    return lib


class Disk:
    """The fault control of one broker."""

    def __init__(self, control: Path, log: Path):
        self.control, self.log = control, log

    def fail(self, call: str, path: str, errno: str, after: int = 0) -> None:
        self.control.write_text(f"{call} {path} {errno} {after}\n")

    def heal(self) -> None:
        self.control.write_text("")

    def injected(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def faulty(broker_factory, faultfs, tmp_path):
    control, log = tmp_path / "faults", tmp_path / "faults.log"
    control.write_text("")
    b = broker_factory(env={"LD_PRELOAD": str(faultfs), "WEIR_FAULT_CONTROL": str(control),
                            "WEIR_FAULT_LOG": str(log)})
    return b, Disk(control, log)


def produce_once(bs: str, topic: str, key: bytes, value: bytes) -> int:
    """One record from a producer that does not retry: its offset, or the error code."""
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": False, "retries": 0,
                  "acks": "all"})
    out = []
    p.produce(topic, key=key, value=value, partition=0,
              on_delivery=lambda err, msg: out.append(err.code() if err else msg.offset()))
    assert p.flush(30) == 0
    return out[0]


def values(bs: str, topic: str) -> list[bytes]:
    return [m.value() for m in consume(bs, topic, 0)]


def topic_with_records(bs: str, prefix: str, n: int) -> tuple[str, str, list[tuple]]:
    """A topic holding `n` acknowledged records, and another, empty one."""
    topic, other = unique_topic(prefix), unique_topic("disk-ok")
    create_topic(bs, topic, 1)
    create_topic(bs, other, 1)
    first = [(b"k%d" % i, b"v%d" % i) for i in range(n)]
    assert delivery_errors(bs, topic, first) == list(range(n))
    return topic, other, first


def test_enospc_on_append_fails_the_produce_and_heals_without_restart(faulty):
    b, disk = faulty
    bs = b.bootstrap
    topic, other, first = topic_with_records(bs, "disk-full", 100)

    for errno in ("ENOSPC", "EIO"):
        disk.fail("write", f"/topics/{topic}-0/", errno)
        assert produce_once(bs, topic, b"x", b"refused") == KafkaError.KAFKA_STORAGE_ERROR
        # Other partitions write; the full one still serves what it has.
        assert delivery_errors(bs, other, [(b"o", errno.encode())])[0] >= 0
        assert values(bs, topic) == [v for _, v in first]
        disk.heal()
    assert sum(1 for line in disk.injected() if f"/topics/{topic}-0/" in line) >= 2

    # Healed: writes resume at the next offset, nothing of the refused ones is visible.
    assert produce_once(bs, topic, b"y", b"after") == 100
    assert values(bs, topic) == [v for _, v in first] + [b"after"]
    assert values(bs, other) == [b"ENOSPC", b"EIO"]
    assert b.alive()


def test_failed_fsync_takes_the_log_offline_until_restart(faulty, caplog):
    caplog.set_level(logging.DEBUG, logger=FETCHER_LOG)
    b, disk = faulty
    bs = b.bootstrap
    topic, other, first = topic_with_records(bs, "disk-sync", 50)

    disk.fail("sync", f"/topics/{topic}-0/", "EIO")
    assert produce_once(bs, topic, b"x", b"unsynced") == KafkaError.KAFKA_STORAGE_ERROR
    assert any(f"/topics/{topic}-0/" in line for line in disk.injected())
    # The disk "heals", but the fsync error is not retried into an acknowledgement: the
    # pages it covered may be gone. The log stays offline.
    disk.heal()
    assert produce_once(bs, topic, b"y", b"still refused") == KafkaError.KAFKA_STORAGE_ERROR
    assert consume_until_quiet(bs, topic, 0) == []
    assert storage_errors(caplog, topic) > 0
    assert msum(b, "weir_storage_offline_logs") == 1
    assert msum(b, "weir_storage_fsync_failures_total") == 1
    assert "fsync failed: the log is offline" in b.log_text()
    # Other partitions serve.
    assert delivery_errors(bs, other, [(b"o", b"1")]) == [0]

    # A restart recovers the log from the disk: every acknowledged record, then at most the
    # unacknowledged one (its write reached the page cache; SIGKILL keeps that).
    b.kill()
    b.start()
    got = values(bs, topic)
    assert got[:50] == [v for _, v in first]
    assert got[50:] in ([], [b"unsynced"])
    assert produce_once(bs, topic, b"z", b"back") == len(got)
    assert msum(b, "weir_storage_offline_logs") == 0


def test_topic_definition_that_cannot_be_written_creates_nothing(faulty):
    b, disk = faulty
    bs, topic = b.bootstrap, unique_topic("disk-meta")
    disk.fail("rename", "/meta/topics/", "EIO")
    with pytest.raises(Exception) as refused:
        create_topic(bs, topic, 1)
    assert refused.value.args[0].code() == KafkaError.KAFKA_STORAGE_ERROR, refused.value
    assert topic not in admin(bs).list_topics(timeout=10).topics
    disk.heal()
    b.kill()
    b.start()
    assert topic not in admin(bs).list_topics(timeout=10).topics
    create_topic(bs, topic, 1)
    assert delivery_errors(bs, topic, [(b"k", b"v")]) == [0]


def power_cut(broker, synced: Path, root: Path) -> int:
    """SIGKILL, then what a power cut after the last fsync leaves: every file under `root`
    (segments, indexes, RocksDB's files, the group log, metadata, manifests) cut back to the
    size its inode had when it was last fsynced (one never fsynced, to nothing). Returns the
    bytes dropped."""
    broker.kill()
    last: dict[int, int] = {}
    if synced.exists():
        for line in synced.read_text().splitlines():
            size, inode, _ = line.split(" ", 2)
            last[int(inode)] = int(size)
    dropped = 0
    for f in root.rglob("*"):
        if not f.is_file() or f.is_symlink():
            continue
        st = f.stat()
        keep = last.get(st.st_ino, 0)
        if st.st_size > keep:
            os.truncate(f, keep)
            dropped += st.st_size - keep
    return dropped


def test_power_loss_keeps_every_acknowledged_record(broker_factory, faultfs, tmp_path):
    """acks=all with the default write.caching=false: a produce is answered after its fsync,
    so cutting every file of the data directory back to what was fsynced loses nothing
    acknowledged — records, the topic, and a committed group offset."""
    synced = tmp_path / "synced"
    b = broker_factory(env={"LD_PRELOAD": str(faultfs), "WEIR_FAULT_SYNCED": str(synced)})
    bs, topic = b.bootstrap, unique_topic("power")
    create_topic(bs, topic, 1, {"segment.bytes": "65536"})
    stop = threading.Event()
    acked: list = []

    def writer():
        p = Producer({"bootstrap.servers": bs, "acks": "all", "enable.idempotence": True,
                      "linger.ms": 2, "message.timeout.ms": 120000,
                      "reconnect.backoff.max.ms": 200})
        n = 0
        while not stop.is_set():
            try:
                p.produce(topic, value=b"r%07d" % n, partition=0, on_delivery=lambda err, m: (
                    acked.append((m.offset(), m.value())) if err is None else None))
                n += 1
            except BufferError:
                p.poll(0.05)
            if n % 50 == 0:
                p.poll(0.005)
        p.flush(120)

    kill_while_writing(b, writer, stop, kills=4, pause=(1.0, 2.0), settle=1.0, join_s=180,
                       crash=lambda: power_cut(b, synced, b.data_dir))
    assert len(acked) > 1000, len(acked)
    b.kill()
    b.start()
    log = [(m.offset(), m.value()) for m in consume(bs, topic, 0)]
    assert [o for o, _ in log] == list(range(len(log)))
    stored = dict(log)
    lost = [(o, v) for o, v in acked if stored.get(o) != v]
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {lost[:3]}"
    values = [v for _, v in log]
    assert len(values) == len(set(values)), "a record stored twice"

    # A group offset, once its commit is answered, survives the cut too.
    group = unique_topic("power-group")
    c = Consumer({"bootstrap.servers": bs, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, 0, len(log) - 7)], asynchronous=False)
    c.close()
    power_cut(b, synced, b.data_dir)
    b.start()
    c = Consumer({"bootstrap.servers": bs, "group.id": group})
    assert c.committed([TopicPartition(topic, 0)], timeout=30)[0].offset == len(log) - 7
    c.close()
    assert [(m.offset(), m.value()) for m in consume(bs, topic, 0)] == log

    # The harness bites: with write.caching=true an acknowledged write is only in the page
    # cache until the next flush, and the cut drops it.
    cached = unique_topic("power-cached")
    create_topic(bs, cached, 1, {"write.caching": "true"})
    p = Producer({"bootstrap.servers": bs, "acks": "1"})
    for i in range(500):
        p.produce(cached, value=b"c%d" % i, partition=0)
    assert p.flush(30) == 0
    assert power_cut(b, synced, b.data_dir / "topics" / f"{cached}-0") > 0


def test_corrupt_metadata_files_are_survived(broker):
    """Bit rot in a topic definition (restored from its copy, configs included), in the
    producer-id state (ids continue above every id handed out) and in the cluster id (a new
    one): the broker starts, every record is there and idempotent producers work."""
    bs, topic = broker.bootstrap, unique_topic("meta-rot")
    create_topic(bs, topic, 2, {"cleanup.policy": "compact", "retention.ms": "123456789"})
    assert delivery_errors(bs, topic, [(b"k", b"v1")]) == [0]
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True})
    p.produce(topic, key=b"k", value=b"v2", partition=0)
    assert p.flush(30) == 0
    broker.terminate()
    meta = broker.data_dir / "meta"
    definition = meta / "topics" / f"{topic}.json"
    rotten = bytearray(definition.read_bytes())
    rotten[len(rotten) // 2] ^= 0x41
    definition.write_bytes(bytes(rotten[:-3]))
    (meta / "producer-ids.json").write_bytes(b"\x00\x17garbage")
    (meta / "cluster-id").write_bytes(b"")

    broker.start()
    assert "restored from its copy" in broker.log_text()
    assert "producer id state is unreadable" in broker.log_text()
    client = admin(bs)  # keep the handle alive until the results are in
    md = client.list_topics(topic=topic, timeout=10).topics[topic]
    assert len(md.partitions) == 2
    configs = client.describe_configs([ConfigResource("topic", topic)])
    cfg = next(iter(configs.values())).result(30)
    assert (cfg["cleanup.policy"].value, cfg["retention.ms"].value) == ("compact", "123456789")
    assert [m.value() for m in consume(bs, topic, 0)] == [b"v1", b"v2"]
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True})
    p.produce(topic, key=b"k", value=b"v3", partition=0)
    assert p.flush(30) == 0
    assert [m.value() for m in consume(bs, topic, 0)] == [b"v1", b"v2", b"v3"]


def test_rocksdb_write_failure_is_surfaced_and_loses_nothing(faulty):
    """A table's RocksDB flush that fails (EIO on its files) fails the DeleteRecords that
    needed it — the log it would have deleted stays — and after a restart every row is
    there."""
    b, disk = faulty
    bs, topic = b.bootstrap, unique_topic("disk-table")
    create_topic(bs, topic, 1, {"cleanup.policy": "compact"})
    rows = [(b"k%d" % i, b"v%d" % i) for i in range(300)]
    assert delivery_errors(bs, topic, rows) == list(range(300))
    disk.fail("write", f"/topics/{topic}-0/table/", "EIO")
    client = admin(bs)
    done = client.delete_records([TopicPartition(topic, 0, 300)], request_timeout=30)
    with pytest.raises(Exception) as refused:
        next(iter(done.values())).result(30)
    assert refused.value.args[0].code() == KafkaError.KAFKA_STORAGE_ERROR, refused.value
    assert any("/table/" in line for line in disk.injected())
    assert watermarks(bs, topic) == (0, 300)
    disk.heal()
    b.kill()
    b.start()
    assert lookup_all(b, topic, [k for k, _ in rows]) == {
        k: (i, v) for i, (k, v) in enumerate(rows)}


def test_group_commit_that_cannot_be_stored_is_refused_and_not_served(faulty):
    """An OffsetCommit whose group-log write fails is answered with an error, and OffsetFetch
    keeps answering the last stored offset — before and after a restart."""
    b, disk = faulty
    bs, topic, group = b.bootstrap, unique_topic("disk-group"), unique_topic("g")
    create_topic(bs, topic, 1)
    client = admin(bs)

    def commit(offset: int):
        """The partition's error of an AlterConsumerGroupOffsets (OffsetCommit), or None."""
        req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, offset)])
        done = next(iter(client.alter_consumer_group_offsets([req]).values())).result(30)
        error = done.topic_partitions[0].error
        return error.code() if error else None

    def committed() -> int:
        req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])
        got = next(iter(client.list_consumer_group_offsets([req]).values())).result(30)
        return got.topic_partitions[0].offset

    assert commit(5) is None
    disk.fail("write", "/meta/groups.log", "EIO")
    assert commit(9) == KafkaError.COORDINATOR_NOT_AVAILABLE
    assert any("groups.log" in line for line in disk.injected())
    assert committed() == 5
    disk.heal()
    b.kill()
    b.start()
    client = admin(bs)
    assert committed() == 5
    assert commit(11) is None
    assert committed() == 11


def test_power_loss_keeps_a_table_derivable_from_its_log(broker_factory, faultfs, tmp_path):
    """With write.caching=true nothing waits for fsync, yet the table's periodic state flush
    fsyncs its log, then its changelog, then RocksDB: after a power cut the state and the
    changelog are never ahead of the log — state = fold of the log, changelog = its
    derivation."""
    synced = tmp_path / "synced"
    b = broker_factory(env={"LD_PRELOAD": str(faultfs), "WEIR_FAULT_SYNCED": str(synced),
                            "WEIR_MAINTENANCE_INTERVAL_MS": "200"})
    bs, topic = b.bootstrap, unique_topic("power-table")
    create_topic(bs, topic, 1, {"cleanup.policy": "compact", "write.caching": "true"})
    p = Producer({"bootstrap.servers": bs, "acks": "1", "linger.ms": 5})
    for i in range(2000):
        p.produce(topic, key=b"k%d" % (i % 300), value=b"a%d" % i, partition=0)
    assert p.flush(30) == 0
    wait_for(lambda: msum(b, "weir_table_unflushed_records", topic=topic, partition=0) == 0
             and msum(b, "weir_table_rows", topic=topic, partition=0) == 300,
             "the table state flushed", timeout=60)
    for i in range(500):
        p.produce(topic, key=b"k%d" % (i % 300), value=b"b%d" % i, partition=0)
    assert p.flush(30) == 0
    assert power_cut(b, synced, b.data_dir) > 0
    b.start()
    log = check_table(b, topic)
    assert len(log) >= 2000
    # Every key ever written, not only those the log still has: none is ahead of the log.
    keys = [b"k%d" % i for i in range(300)]
    assert lookup_all(b, topic, keys) == fold(log)[0]


def test_table_write_whose_changelog_cannot_be_written_is_all_or_nothing(faulty):
    """A table write appends to the log, then to `T.changelog`, then commits the state. When
    the changelog append fails (ENOSPC, EIO) after the log append succeeded, the log append is
    undone: the refused records are never readable from the topic, the changelog or a lookup;
    an idempotent producer retrying through the fault is written exactly once when the disk
    heals; and the file holds nothing of the refused writes after a restart."""
    b, disk = faulty
    bs, topic = b.bootstrap, unique_topic("disk-table-atomic")
    create_topic(bs, topic, 1, {"cleanup.policy": "compact"})
    rows = [(b"k%d" % (i % 40), b"v%d" % i) for i in range(100)]
    assert delivery_errors(bs, topic, rows) == list(range(100))
    before = check_table(b, topic)
    changelog_end = watermarks(bs, f"{topic}.changelog")

    for errno in ("ENOSPC", "EIO"):
        disk.fail("write", f"/topics/{topic}.changelog-0/", errno)
        assert produce_once(bs, topic, b"k1", b"refused-" + errno.encode()) == \
            KafkaError.KAFKA_STORAGE_ERROR
        assert produce_once(bs, topic, b"new", b"refused") == KafkaError.KAFKA_STORAGE_ERROR
        assert watermarks(bs, topic) == (0, 100)
        assert watermarks(bs, f"{topic}.changelog") == changelog_end
        assert log_of(bs, topic) == before
        assert lookup_all(b, topic, [b"k1", b"new"]) == {b"k1": (81, b"v81")}
        disk.heal()
    assert sum(1 for line in disk.injected() if ".changelog-0/" in line) >= 4

    # An idempotent producer keeps retrying through the fault; once the disk heals its
    # record is written once, at the next offset.
    disk.fail("write", f"/topics/{topic}.changelog-0/", "ENOSPC")
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True, "acks": "all",
                  "message.timeout.ms": 60000, "retry.backoff.ms": 200})
    reports = []
    p.produce(topic, key=b"k2", value=b"retried", partition=0,
              on_delivery=lambda err, msg: reports.append(err.code() if err else msg.offset()))
    wait_for(lambda: sum(1 for line in disk.injected() if ".changelog-0/" in line) >= 7,
             "the retries met the fault")
    p.poll(0)
    assert reports == []
    assert watermarks(bs, topic) == (0, 100)
    disk.heal()
    assert p.flush(60) == 0
    assert reports == [100]
    after = check_table(b, topic)
    assert after == before + [(100, b"k2", b"retried", after[-1][3])]

    b.kill()
    b.start()
    assert check_table(b, topic) == after
    assert b.alive()


def test_segment_that_cannot_be_created_fails_the_produce_and_heals(faulty):
    """A produce that must roll (segment.ms passed) when no file can be created in the
    partition directory (ENOSPC on open with O_CREAT): KAFKA_STORAGE_ERROR, nothing visible,
    and the next produce after the disk heals rolls and is written at the next offset."""
    b, disk = faulty
    bs = b.bootstrap
    topic, other, first = topic_with_records(bs, "disk-roll", 100)
    set_configs(bs, topic, segment_ms=100)
    time.sleep(0.3)
    disk.fail("create", f"/topics/{topic}-0/", "ENOSPC")
    assert produce_once(bs, topic, b"x", b"refused") == KafkaError.KAFKA_STORAGE_ERROR
    assert any(line.startswith("create ") for line in disk.injected())
    assert values(bs, topic) == [v for _, v in first]
    assert delivery_errors(bs, other, [(b"o", b"1")]) == [0]
    disk.heal()
    assert produce_once(bs, topic, b"y", b"after") == 100
    assert values(bs, topic) == [v for _, v in first] + [b"after"]
    assert len(list(b.partition_dir(topic, 0).glob("*.log"))) >= 2
    b.kill()
    b.start()
    assert values(bs, topic) == [v for _, v in first] + [b"after"]


def test_producer_id_block_that_cannot_be_stored_hands_out_no_id(faulty):
    """InitProducerId persists the end of a block of ids before handing out its first id;
    when that write fails no id is handed out (KAFKA_STORAGE_ERROR, which an idempotent
    producer retries), and once the disk heals the producer gets one and its records are
    written once."""
    b, disk = faulty
    bs, topic = b.bootstrap, unique_topic("disk-pid")
    create_topic(bs, topic, 1)
    disk.fail("write", "/meta/producer-ids", "EIO")
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True, "acks": "all",
                  "message.timeout.ms": 60000})
    reports = []
    for i in range(10):
        p.produce(topic, value=b"p%d" % i, partition=0,
                  on_delivery=lambda err, msg: reports.append(err.code() if err else msg.offset()))
    wait_for(lambda: sum(1 for line in disk.injected() if "producer-ids" in line) >= 2,
             "InitProducerId met the fault")
    p.poll(0.5)
    assert reports == []
    assert watermarks(bs, topic) == (0, 0)
    disk.heal()
    assert p.flush(60) == 0
    assert reports == list(range(10))
    b.kill()
    b.start()
    assert values(bs, topic) == [b"p%d" % i for i in range(10)]
