"""HTTP admin listener: /health, /ready, /metrics."""

from __future__ import annotations

import re
import time

import rawkafka as rk
from conftest import http_get, unique_topic
from weirtest import consume, create_topic, gen_records, produce

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(broker) -> dict:
    status, text = http_get(broker.http + "/metrics")
    assert status == 200, text[:500]
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        name, labels, value = m.groups()
        key = (name, tuple(sorted(_LABEL.findall(labels or ""))))
        out[key] = float(value)
    return out


def metric(ms: dict, name: str, **labels) -> float | None:
    return ms.get((name, tuple(sorted((k, str(v)) for k, v in labels.items()))))


def test_health_and_ready(broker):
    assert http_get(broker.http + "/health")[0] == 200
    assert http_get(broker.http + "/ready")[0] == 200
    assert http_get(broker.http + "/no-such-path")[0] == 404


def test_metrics_after_produce_and_fetch(broker):
    topic = unique_topic("http")
    create_topic(broker.bootstrap, topic, partitions=2)
    n = 1234
    recs = gen_records(n, seed=9)
    produce(broker.bootstrap, topic, recs)
    produce(broker.bootstrap, topic, gen_records(66, seed=1, partition=1))
    assert len(consume(broker.bootstrap, topic)) == n

    deadline = time.monotonic() + 10
    while True:
        ms = scrape(broker)
        # The size gauge may be refreshed by periodic housekeeping (about every second).
        ok = (metric(ms, "weir_log_end_offset", topic=topic, partition=0) == n
              and metric(ms, "weir_records_in_total", topic=topic) == n + 66
              and metric(ms, "weir_log_size_bytes", topic=topic, partition=0))
        if ok or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert metric(ms, "weir_log_end_offset", topic=topic, partition=0) == n
    assert metric(ms, "weir_log_end_offset", topic=topic, partition=1) == 66
    assert metric(ms, "weir_records_in_total", topic=topic) == n + 66
    bytes_in = metric(ms, "weir_bytes_in_total", topic=topic)
    assert bytes_in is not None and bytes_in > 0
    # Batches are stored as received: bytes in == bytes stored in the segments.
    stored = sum(p.stat().st_size for part in (0, 1)
                 for p in broker.partition_dir(topic, part).glob("*.log"))
    assert bytes_in == stored, (bytes_in, stored)
    size0 = metric(ms, "weir_log_size_bytes", topic=topic, partition=0)
    assert size0 == sum(p.stat().st_size for p in broker.partition_dir(topic, 0).glob("*.log"))
    bytes_out = metric(ms, "weir_bytes_out_total", topic=topic)
    assert bytes_out is not None and bytes_out >= stored - sum(
        p.stat().st_size for p in broker.partition_dir(topic, 1).glob("*.log"))

    for api in ("Produce", "Fetch", "Metadata", "ApiVersions", "CreateTopics", "ListOffsets"):
        v = metric(ms, "weir_requests_total", api=api)
        assert v is not None and v >= 1, f"weir_requests_total{{api={api!r}}} = {v}"
    assert any(name == "weir_request_duration_seconds_count" and dict(lbl).get("api") == "Produce"
               for (name, lbl) in ms), "no latency histogram for Produce"


def test_request_counter_is_exact(broker):
    before = metric(scrape(broker), "weir_requests_total", api="ApiVersions") or 0.0
    s = rk.connect(broker.bootstrap)
    for i in range(3):
        s.sendall(rk.api_versions_request(3, i))
        rk.recv_frame(s)
    s.close()
    after = metric(scrape(broker), "weir_requests_total", api="ApiVersions")
    assert after == before + 3
