"""Debian's kcat 1.7.1 (librdkafka 2.0.2) against Weir: metadata, produce, consume, codecs."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from conftest import unique_topic
from segments import CODECS, read_batches
from weirtest import create_topic

KCAT = shutil.which("kcat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat not installed (scripts/install-test-deps.sh)")
KCAT_TIMEOUT = 60


def kcat(broker, *args, stdin: bytes | None = None, timeout: float = KCAT_TIMEOUT) -> bytes:
    cmd = [KCAT, "-b", broker.bootstrap, "-X", "socket.timeout.ms=10000", *args]
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    assert p.returncode == 0, (
        f"{' '.join(cmd)} exited {p.returncode}\nstdout: {p.stdout[-2000:]!r}\n"
        f"stderr: {p.stderr[-4000:].decode('utf-8', 'replace')}")
    return p.stdout


def test_kcat_metadata_lists_broker_and_topic(broker):
    topic = unique_topic("kcat-md")
    create_topic(broker.bootstrap, topic, partitions=2)
    md = json.loads(kcat(broker, "-L", "-J"))
    assert md["controllerid"] == 1
    assert md["brokers"] == [{"id": 1, "name": broker.bootstrap}]
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic in topics, md
    t = topics[topic]
    assert "error" not in t, t
    parts = sorted(t["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1]
    for p in parts:
        assert p["leader"] == 1
        assert p["replicas"] == [{"id": 1}]
        assert p["isrs"] == [{"id": 1}]
        assert "error" not in p, p

    # Plain-text listing names the broker and the topic too.
    text = kcat(broker, "-L", "-t", topic).decode()
    assert f"broker 1 at {broker.bootstrap}" in text, text
    assert f'topic "{topic}" with 2 partitions:' in text, text
    assert "partition 0, leader 1, replicas: 1, isrs: 1" in text, text
    assert "partition 1, leader 1, replicas: 1, isrs: 1" in text, text


def _lines(n: int, prefix: str = "") -> list[tuple[str, str]]:
    return [(f"{prefix}k{i}", f"{prefix}value {i} " + "x" * (i % 50)) for i in range(n)]


def test_kcat_produce_keys_headers_consume_exact(broker):
    topic = unique_topic("kcat-kv")
    create_topic(broker.bootstrap, topic)
    rows = _lines(100)
    before = int(time.time() * 1000)
    kcat(broker, "-P", "-t", topic, "-p", "0", "-K", ":", "-H", "a=1", "-H", "a=2", "-H", "b=",
         stdin="".join(f"{k}:{v}\n" for k, v in rows).encode())
    after = int(time.time() * 1000)

    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
               "-f", "%o %k %s %h\n").decode()
    want = "".join(f"{i} {k} {v} a=1,a=2,b=\n" for i, (k, v) in enumerate(rows))
    assert out == want

    js = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-J")
    recs = [json.loads(line) for line in js.decode().splitlines() if line.strip()]
    assert len(recs) == len(rows)
    for i, (r, (k, v)) in enumerate(zip(recs, rows)):
        assert r["topic"] == topic
        assert r["partition"] == 0
        assert r["offset"] == i
        assert r["key"] == k
        assert r["payload"] == v
        assert r["headers"] == ["a", "1", "a", "2", "b", ""]
        assert r["tstype"] == "create"
        assert before - 1000 <= r["ts"] <= after + 1000, (r["ts"], before, after)

    # Consuming from an offset in the middle and a count limit.
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "42", "-c", "3", "-e", "-q",
               "-f", "%o:%k:%S:%K\n").decode()
    assert out == "".join(f"{i}:k{i}:{len(rows[i][1])}:{len(rows[i][0])}\n" for i in (42, 43, 44))


def test_kcat_producer_auto_creates_topic(broker):
    topic = unique_topic("kcat-auto")
    kcat(broker, "-P", "-t", topic, "-p", "0", stdin=b"one\ntwo\nthree\n")
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
               "-f", "%o=%s|%K\n").decode()
    assert out == "0=one|-1\n1=two|-1\n2=three|-1\n"
    md = json.loads(kcat(broker, "-L", "-J", "-t", topic))
    [t] = md["topics"]
    assert t["topic"] == topic and len(t["partitions"]) == 1


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_kcat_compression_roundtrip(broker, codec):
    topic = unique_topic(f"kcat-{codec}")
    create_topic(broker.bootstrap, topic)
    rows = _lines(2000, prefix=codec)
    kcat(broker, "-P", "-t", topic, "-p", "0", "-z", codec, "-K", ":", "-H", "c=" + codec,
         "-X", "linger.ms=50", stdin="".join(f"{k}:{v}\n" for k, v in rows).encode())
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
               "-f", "%o %k %s %h\n").decode()
    want = "".join(f"{i} {k} {v} c={codec}\n" for i, (k, v) in enumerate(rows))
    assert out == want

    # Batches are stored as received: every stored batch carries the producer's codec.
    seg = broker.active_segment(topic, 0)
    batches = read_batches(seg)
    assert batches, f"no record batches parsed from {seg}"
    assert {b.magic for b in batches} == {2}
    # (librdkafka enables LZ4 only if the broker advertises FindCoordinator, rdkafka_feature.c;
    # otherwise it silently sends LZ4 batches uncompressed and this check catches it.)
    assert {b.codec for b in batches} == {CODECS[codec]}, [b.attributes for b in batches]
    assert batches[0].base_offset == 0
    assert batches[-1].last_offset == len(rows) - 1
