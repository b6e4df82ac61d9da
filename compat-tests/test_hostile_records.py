"""Hostile record batches at produce: raw Produce v8 frames carrying batches a real client
would never send (unknown codec, lying record counts, 2^30 headers, a > 4 GiB zstd bomb, two
batches in one partition, a never-allocated producer id) get Kafka's exact error, store
nothing, leave the broker's memory flat, and the broker keeps serving real clients; and
confluent-kafka sees KIP-467 per-record errors for a keyless record in a table topic."""

from __future__ import annotations

import struct
import time

import pytest
import zstandard
from confluent_kafka import KafkaError, Producer

import rawkafka
from fuzzlib import rss_kib
from weirtest import consume, create_topic

CORRUPT_MESSAGE = 2
INVALID_RECORD = 87
UNKNOWN_PRODUCER_ID = 59


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def zz(n: int) -> bytes:
    return rawkafka.uvarint((n << 1) ^ (n >> 63))


def record(delta: int, key: bytes | None, value: bytes | None, header_count: int | None = None) -> bytes:
    body = b"\x00" + zz(0) + zz(delta)
    body += zz(-1) if key is None else zz(len(key)) + key
    body += zz(-1) if value is None else zz(len(value)) + value
    body += zz(0 if header_count is None else header_count)
    return zz(len(body)) + body


def batch(payload: bytes, count: int, codec: int = 0, last_delta: int | None = None,
          producer_id: int = -1, epoch: int = -1, base_seq: int = -1) -> bytes:
    last_delta = count - 1 if last_delta is None else last_delta
    ts = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", codec, last_delta, ts, ts, producer_id, epoch, base_seq,
                            count) + payload
    crc = crc32c(after_crc)
    return struct.pack(">qiibI", 0, 4 + 1 + 4 + len(after_crc), -1, 2, crc) + after_crc


def produce_raw(bootstrap: str, topic: str, records: bytes, partition: int = 0) -> dict:
    body = struct.pack(">hhi", -1, -1, 10_000)  # transactional id null, acks=all, timeout
    body += struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic.encode()
    body += struct.pack(">i", 1) + struct.pack(">i", partition)
    body += struct.pack(">i", len(records)) + records
    s = rawkafka.connect(bootstrap, timeout=60)
    try:
        s.sendall(rawkafka.frame(rawkafka.header_v1(rawkafka.API_PRODUCE, 8, 7) + body))
        resp = rawkafka.recv_frame(s)
    finally:
        s.close()
    pos = 4 + 4  # correlation id, topics count
    (nlen,) = struct.unpack_from(">h", resp, pos)
    pos += 2 + nlen + 4  # name, partitions count
    index, err, base, _lat, _lso = struct.unpack_from(">ihqqq", resp, pos)
    pos += 4 + 2 + 24
    (n_errors,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    record_errors = []
    for _ in range(max(n_errors, 0)):
        bi, mlen = struct.unpack_from(">ih", resp, pos)
        pos += 6
        msg = None if mlen < 0 else resp[pos:pos + mlen].decode()
        pos += max(mlen, 0)
        record_errors.append((bi, msg))
    (mlen,) = struct.unpack_from(">h", resp, pos)
    pos += 2
    message = None if mlen < 0 else resp[pos:pos + mlen].decode()
    return {"error": err, "base_offset": base, "record_errors": record_errors, "message": message}


def end_offset(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "hostile-probe"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()



def serves(bootstrap: str, topic: str) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    got = []
    p.produce(topic, key=b"k", value=b"after", on_delivery=lambda e, m: got.append(e))
    p.flush(30)
    assert got == [None]


def test_malformed_batches_get_corrupt_message_and_store_nothing(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    good = record(0, b"k", b"v")
    cases = {
        "codec 5": batch(good, 1, codec=5),
        "claims 5 records, holds 2": batch(good + record(1, b"k", b"v"), 5),
        "2^30 headers": batch(record(0, b"k", b"v", header_count=1 << 30), 1),
    }
    for name, b in cases.items():
        r = produce_raw(broker.bootstrap, topic_name, b)
        assert r["error"] == CORRUPT_MESSAGE, (name, r)
        assert r["message"], name
    assert end_offset(broker.bootstrap, topic_name) == 0
    # A well-formed batch is still accepted.
    r = produce_raw(broker.bootstrap, topic_name, batch(good, 1))
    assert (r["error"], r["base_offset"]) == (0, 0)


def test_two_batches_in_one_partition_are_invalid_record(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    one = batch(record(0, b"k", b"v"), 1)
    r = produce_raw(broker.bootstrap, topic_name, one + one)
    assert r["error"] == INVALID_RECORD, r
    assert "exactly one record batch" in r["message"]
    assert end_offset(broker.bootstrap, topic_name) == 0


def test_never_allocated_producer_id_is_unknown(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    b = batch(record(0, b"k", b"v"), 1, producer_id=1_000_000, epoch=0, base_seq=0)
    r = produce_raw(broker.bootstrap, topic_name, b)
    assert r["error"] == UNKNOWN_PRODUCER_ID, r
    assert end_offset(broker.bootstrap, topic_name) == 0


@pytest.mark.parametrize("kind", ["log", "table", "tiered"])
def test_zstd_bomb_is_refused_with_flat_memory(broker, topic_name, kind):
    config = {
        "log": {},
        "table": {"cleanup.policy": "compact"},
        "tiered": {"remote.storage.enable": "true", "segment.bytes": "1048576"},
    }[kind]
    create_topic(broker.bootstrap, topic_name, config=config)
    frame = zstandard.ZstdCompressor(level=3).compress(bytes(64 << 20))
    payload = frame * 65  # > 4 GiB of zeros once decompressed
    assert len(payload) < (1 << 20)
    before = rss_kib(broker.proc.pid)
    started = time.monotonic()
    r = produce_raw(broker.bootstrap, topic_name, batch(payload, 1, codec=4))
    assert r["error"] == CORRUPT_MESSAGE, r
    assert "67108864" in r["message"], r
    assert time.monotonic() - started < 30
    assert rss_kib(broker.proc.pid) - before < 200 * 1024
    assert end_offset(broker.bootstrap, topic_name) == 0
    serves(broker.bootstrap, topic_name)
    got = consume(broker.bootstrap, topic_name, 0, 0, 1)
    assert [m.value() for m in got] == [b"after"]


def test_keyless_record_in_table_topic_names_the_record(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config={"cleanup.policy": "compact"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1000,
                  "enable.idempotence": False, "retries": 0})
    reports = {}

    def cb(i):
        return lambda err, msg: reports.__setitem__(i, err)

    for i in range(5):
        p.produce(topic_name, key=None if i in (1, 3) else f"k{i}".encode(), value=b"v",
                  partition=0, on_delivery=cb(i))
    p.flush(30)
    codes = {i: (e.code() if e else None) for i, e in reports.items()}
    # The whole batch is refused: the keyless records are INVALID_RECORD, the others
    # _INVALID_DIFFERENT_RECORD, from the record_errors Weir sends. (With a single bad record
    # librdkafka 2.16 gives every record of the batch the partition's INVALID_RECORD; the raw
    # answer below shows the record_errors are there in that case too.)
    different = KafkaError._INVALID_DIFFERENT_RECORD
    assert codes == {0: different, 1: KafkaError.INVALID_RECORD, 2: different,
                     3: KafkaError.INVALID_RECORD, 4: different}, codes
    assert end_offset(broker.bootstrap, topic_name) == 0
    # The raw answer carries KIP-467 record_errors.
    b = batch(record(0, b"a", b"v") + record(1, None, b"v") + record(2, b"c", b"v"), 3)
    r = produce_raw(broker.bootstrap, topic_name, b)
    assert r["error"] == INVALID_RECORD
    assert [i for i, _ in r["record_errors"]] == [1]
    assert "require a key" in r["record_errors"][0][1]
    assert r["message"].startswith("One or more records have been rejected due to 1 record errors")
