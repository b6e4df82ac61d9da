"""Table writes of any size are applied whole: one produced batch of tens of thousands of tiny
upserts (uncompressed, lz4 near 1 MiB, debezium-json) is accepted and fully applied — every
key is found by lookup and `T.changelog` is exactly the derivation of the log — although its
changes take several times `max.message.bytes` in the changelog (they are written as several
changelog batches in one append). SIGKILLs at random points during such writes keep the state
equal to the fold of the log and the changelog equal to its derivation, and the broker always
starts again. A table whose log cannot be replayed (a stored batch that does not parse) does
not stop the broker: it is reported (ERROR line, `weir_table_faulted`, `/ready`), refuses
writes with KAFKA_STORAGE_ERROR before writing anything, and catches up once repaired.
DeleteRecords on a table topic flushes the state it would otherwise need the log to replay.

Issue 11 found one 40,000-upsert batch refused with MESSAGE_TOO_LARGE after its records were
already in the log, and the broker then unable to start ("record batch of 2340695 bytes
exceeds max.message.bytes").
"""

from __future__ import annotations

import json
import random
import shutil
import threading

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec

from conftest import http_get, unique_topic
from test_tables import changelog, delivery_errors, fold, http_json, kill_while_writing
from test_tiering import msum, watermarks
from weirtest import admin, consume, create_topic

ONE_BATCH = {"linger.ms": 3000, "batch.num.messages": 1_000_000, "batch.size": 4_000_000,
             "message.max.bytes": 10_000_000, "acks": "all", "enable.idempotence": True,
             "message.timeout.ms": 60000}


def produce_one_batch(bs: str, topic: str, records: list[tuple], conf: dict | None = None) -> list:
    """Produces `records` (key, value) to partition 0 as one batch; returns what each
    delivery report said (offset or error)."""
    p = Producer({"bootstrap.servers": bs, **ONE_BATCH, **(conf or {})})
    out: list = [None] * len(records)

    def report(i):
        return lambda err, msg: out.__setitem__(i, err if err else msg.offset())
    for i, (key, value) in enumerate(records):
        p.produce(topic, key=key, value=value, partition=0, on_delivery=report(i))
    assert p.flush(120) == 0
    return out


def log_of(bs: str, topic: str) -> list[tuple]:
    return [(m.offset(), m.key(), m.value(), m.timestamp()[1]) for m in consume(bs, topic, 0)]


def lookup_all(broker, topic: str, keys: list[bytes]) -> dict:
    """Every key's row through the batch lookup, 5,000 keys per request."""
    found = {}
    for i in range(0, len(keys), 5000):
        chunk = [k.decode() for k in keys[i:i + 5000]]
        status, body = http_json(f"{broker.http}/v1/tables/{topic}/lookup", {"keys": chunk})
        assert status == 200, body
        for key, row in zip(chunk, body["results"]):
            if row["found"]:
                found[key.encode()] = (row["offset"], row["value"].encode())
    return found


def check_table(broker, topic: str) -> list[tuple]:
    """State = fold of the log (every key of the log looked up), changelog = its derivation;
    returns the log."""
    log = log_of(broker.bootstrap, topic)
    assert [o for o, *_ in log] == list(range(len(log)))
    state, changes = fold(log)
    got = lookup_all(broker, topic, sorted({k for _, k, _, _ in log}))
    assert got == state
    assert changelog(broker.bootstrap, topic, 0) == changes
    return log


def tiny_upserts(n: int, keys: int, seed: int) -> list[tuple]:
    rnd = random.Random(seed)
    return [(b"k%d" % rnd.randrange(keys), b"%d" % rnd.randrange(10)) for _ in range(n)]


def test_40000_tiny_upserts_in_one_batch_are_applied(broker):
    topic = unique_topic("atomic-tiny")
    create_topic(broker.bootstrap, topic, 1, {"cleanup.policy": "compact"})
    # Fresh keys, so every record is an insert: 40,000 changelog records with two headers each,
    # more than twice the changelog's max.message.bytes.
    records = [(b"k%d" % i, b"v") for i in range(40_000)]
    assert produce_one_batch(broker.bootstrap, topic, records) == list(range(40_000))
    log = check_table(broker, topic)
    assert len(log) == 40_000
    # The changelog holds several batches; consumers read them as usual.
    broker.restart(crash=True)
    check_table(broker, topic)
    assert "cannot open data directory" not in broker.log_text()


def test_lz4_batch_near_1mib_of_small_upserts_is_applied(broker):
    topic = unique_topic("atomic-lz4")
    create_topic(broker.bootstrap, topic, 1, {"cleanup.policy": "compact"})
    # 60,000 upserts over 20,000 keys: inserts, updates (-U/+U pairs) and unchanged writes.
    records = tiny_upserts(60_000, 20_000, seed=3)
    got = produce_one_batch(broker.bootstrap, topic, records, {"compression.type": "lz4"})
    assert got == list(range(60_000))
    check_table(broker, topic)


def test_debezium_table_with_a_huge_batch_is_applied(broker):
    topic = unique_topic("atomic-dbz")
    create_topic(broker.bootstrap, topic, 1, {"cleanup.policy": "compact",
                                              "table.changelog.format": "debezium-json"})
    rnd = random.Random(5)
    records = [(b"k%d" % rnd.randrange(10_000), json.dumps({"n": i}).encode())
               for i in range(30_000)]
    got = produce_one_batch(broker.bootstrap, topic, records, {"compression.type": "zstd"})
    assert got == list(range(30_000))
    log = log_of(broker.bootstrap, topic)
    state, changes = fold(log)
    assert lookup_all(broker, topic, sorted({k for k, _ in records})) == state
    # One debezium record per logical change: an update's -U/+U pair is one "u".
    envelopes = [json.loads(m.value()) for m in consume(broker.bootstrap, f"{topic}.changelog", 0)]
    want = [c for c in changes if c[0] != "-U"]
    assert [e["op"] for e in envelopes] == [{"+I": "c", "+U": "u", "-D": "d"}[c[0]] for c in want]
    assert [e["after"] for e in envelopes] == [json.loads(c[3]) for c in want]


@pytest.mark.timeout(900)
def test_sigkill_during_huge_table_writes_keeps_state_and_changelog_exact(broker):
    bs, topic = broker.bootstrap, unique_topic("atomic-kill")
    create_topic(bs, topic, 1, {"cleanup.policy": "compact"})
    stop = threading.Event()
    acked: list = []

    def writer():
        rnd = random.Random(17)
        p = Producer({"bootstrap.servers": bs, **ONE_BATCH, "linger.ms": 50,
                      "compression.type": rnd.choice(["none", "lz4"]),
                      "reconnect.backoff.max.ms": 200})
        while not stop.is_set():
            for key, value in tiny_upserts(20_000, 5_000, seed=rnd.randrange(1 << 30)):
                while True:
                    try:
                        p.produce(topic, key=key, value=value, partition=0, on_delivery=lambda err, msg: (
                            acked.append((msg.offset(), msg.key(), msg.value())) if err is None else None))
                        break
                    except BufferError:
                        p.poll(0.05)
            p.poll(0.2)
        p.flush(120)

    kill_while_writing(broker, writer, stop, kills=6, pause=(1.0, 3.0), settle=2.0, join_s=300)
    assert len(acked) > 20_000, len(acked)
    broker.restart(crash=True)
    log = check_table(broker, topic)
    by_offset = {o: (k, v) for o, k, v, _ in log}
    for off, k, v in acked:
        assert by_offset.get(off) == (k, v), f"acked record at {off} lost or changed"


def test_table_that_cannot_replay_is_reported_and_the_rest_serves(broker):
    bs, topic, other = broker.bootstrap, unique_topic("atomic-rot"), unique_topic("atomic-ok")
    create_topic(bs, topic, 1, {"cleanup.policy": "compact", "segment.bytes": "16384"})
    create_topic(bs, other, 1)
    records = tiny_upserts(3000, 500, seed=23)
    p = Producer({"bootstrap.servers": bs, "linger.ms": 5, "batch.size": 2000})
    for key, value in records:
        p.produce(topic, key=key, value=value, partition=0)
    assert p.flush(60) == 0
    broker.terminate()
    # The state is lost (replayed from the log at start) and the log's first batch no longer
    # parses: its first record's length (inside the batch, which the closed-segment scan at
    # start does not decode) turns negative.
    part = broker.partition_dir(topic, 0)
    shutil.rmtree(part / "table")
    first = sorted(part.glob("*.log"), key=lambda f: int(f.stem))[0]
    data = bytearray(first.read_bytes())
    original = bytes(data[61:62])
    data[61:62] = b"\x7f"
    first.write_bytes(bytes(data))

    broker.start()  # starts, and says what is wrong
    status, body = http_get(f"{broker.http}/ready")
    assert status == 200 and f"degraded: table {topic} partition 0:" in body, body
    assert msum(broker, "weir_table_faulted", topic=topic, partition=0) == 1
    assert msum(broker, "weir_storage_corrupt_batches_total") >= 1
    assert "table state is behind its log" in broker.log_text()
    # Writes to the table are refused before anything is written (KAFKA_STORAGE_ERROR is
    # retriable: this producer does not retry, to see it); the rest serves.
    end = len(records)
    once = Producer({"bootstrap.servers": bs, "enable.idempotence": False, "retries": 0})
    refused = []
    once.produce(topic, key=b"new", value=b"1", partition=0,
                 on_delivery=lambda err, msg: refused.append(err and err.code()))
    assert once.flush(30) == 0
    assert refused == [KafkaError.KAFKA_STORAGE_ERROR]
    assert delivery_errors(bs, other, [(b"a", b"1")]) == [0]
    assert watermarks(bs, topic) == (0, end)

    # Repaired, the next write replays the log first, then is applied.
    data[61:62] = original
    first.write_bytes(bytes(data))
    assert delivery_errors(bs, topic, [(b"new", b"1")]) == [end]
    log = check_table(broker, topic)
    assert len(log) == end + 1
    assert msum(broker, "weir_table_faulted", topic=topic, partition=0) == 0
    assert http_get(f"{broker.http}/ready") == (200, "ready\n")


def test_delete_records_keeps_the_table_state_of_what_it_deletes(broker):
    """DeleteRecords right after writes (within the 10 s flush interval) flushes the state
    first: a SIGKILL right after cannot lose rows whose log is gone."""
    bs, topic = broker.bootstrap, unique_topic("atomic-delrec")
    create_topic(bs, topic, 1, {"cleanup.policy": "compact"})
    records = [(b"k%d" % i, b"v%d" % i) for i in range(2000)]
    assert delivery_errors(bs, topic, records) == list(range(2000))
    client = admin(bs)
    done = client.delete_records([TopicPartition(topic, 0, 2000)], request_timeout=30)
    assert next(iter(done.values())).result(30).low_watermark == 2000
    broker.kill()
    broker.start()
    assert lookup_all(broker, topic, [k for k, _ in records]) == {
        k: (i, v) for i, (k, v) in enumerate(records)}


def test_damaged_state_store_is_rebuilt_or_reported_never_stops_the_start(broker):
    """A table's RocksDB files damaged while the broker was down (here: a garbled CURRENT
    file). While the log still holds every record (log start 0) the store is set aside as
    `table.unreadable-<ms>` and rebuilt from the log: state = fold of the log. Once the log
    start moved (the store then holds rows the log no longer has) it is not rebuilt: the
    table is reported (`/ready`, `weir_table_faulted`), writes answer KAFKA_STORAGE_ERROR,
    lookups 503, the log and every other topic serve — and once the operator restores the
    store, the next write catches up without a restart."""
    bs, topic, other = broker.bootstrap, unique_topic("atomic-rocks"), unique_topic("atomic-ok")
    create_topic(bs, topic, 1, {"cleanup.policy": "compact"})
    create_topic(bs, other, 1)
    records = tiny_upserts(2000, 300, seed=31)
    assert delivery_errors(bs, topic, records) == list(range(2000))
    part = broker.partition_dir(topic, 0)
    broker.kill()
    (part / "table" / "CURRENT").write_bytes(b"\x00garbage")

    broker.start()
    log = check_table(broker, topic)
    assert len(log) == 2000
    aside = list(part.glob("table.unreadable-*"))
    assert len(aside) == 1 and (aside[0] / "CURRENT").read_bytes() == b"\x00garbage"
    assert "set aside and rebuilt from the log" in broker.log_text()
    assert http_get(f"{broker.http}/ready") == (200, "ready\n")

    # The log start moves (DeleteRecords flushes the state first); then the store is damaged.
    client = admin(bs)
    done = client.delete_records([TopicPartition(topic, 0, 1500)], request_timeout=30)
    assert next(iter(done.values())).result(30).low_watermark == 1500
    state = lookup_all(broker, topic, sorted({k for k, _ in records}))
    broker.terminate()
    good = part.parent / "good-table"
    shutil.copytree(part / "table", good)
    (part / "table" / "CURRENT").write_bytes(b"\x00garbage")

    broker.start()
    status, body = http_get(f"{broker.http}/ready")
    assert status == 200 and f"degraded: table {topic} partition 0:" in body, body
    assert msum(broker, "weir_table_faulted", topic=topic, partition=0) == 1
    assert len(list(part.glob("table.unreadable-*"))) == 1  # not set aside this time
    status, _ = http_get(f"{broker.http}/v1/tables/{topic}/keys/k1")
    assert status == 503
    once = Producer({"bootstrap.servers": bs, "enable.idempotence": False, "retries": 0})
    refused = []
    once.produce(topic, key=b"new", value=b"1", partition=0,
                 on_delivery=lambda err, msg: refused.append(err and err.code()))
    assert once.flush(30) == 0
    assert refused == [KafkaError.KAFKA_STORAGE_ERROR]
    # The log serves from its start; what lies below is the store's, so the earliest offset
    # is refused rather than silently skipping the compacted rows.
    assert [m.offset() for m in consume(bs, topic, 0, start=1500, end=2000)] == list(range(1500, 2000))
    tp, client = TopicPartition(topic, 0), admin(bs)
    latest = client.list_offsets({tp: OffsetSpec.latest()})[tp].result(30)
    assert latest.offset == 2000
    with pytest.raises(KafkaException) as no_earliest:
        client.list_offsets({tp: OffsetSpec.earliest()})[tp].result(30)
    assert no_earliest.value.args[0].code() == KafkaError.KAFKA_STORAGE_ERROR
    assert delivery_errors(bs, other, [(b"a", b"1")]) == [0]

    # Restored by the operator: the next write opens it, catches up, and is applied.
    shutil.rmtree(part / "table")
    shutil.copytree(good, part / "table")
    assert delivery_errors(bs, topic, [(b"new", b"1")]) == [2000]
    state[b"new"] = (2000, b"1")
    assert lookup_all(broker, topic, sorted(state)) == state
    assert msum(broker, "weir_table_faulted", topic=topic, partition=0) == 0
    assert http_get(f"{broker.http}/ready") == (200, "ready\n")
