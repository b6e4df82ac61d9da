"""Tiering of closed segments to object storage (DESIGN.md "Tiering") with real clients.

The broker runs with `--object-store s3://BUCKET/PREFIX` against SeaweedFS on loopback
(s3server.py), or `file://`, `memory://`, or its default store. Topics use tiny segments
(segment.bytes=16384) and local.retention.bytes=1, so every closed segment is uploaded as an
Arrow IPC file, recorded in `<prefix>/<topic>/<partition>/manifest.json`, then deleted
locally. Reads from offset 0 must then come from the objects, byte for byte (offsets, keys,
values, repeated and null headers, timestamps) for confluent-kafka, Java kafka-clients and
kcat; the objects are read with pyarrow, Polars and DuckDB. Fault cases: S3 down mid-run,
SIGKILL while uploads are in flight; remote retention, DeleteRecords and topic deletion.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from conftest import unique_topic, weir_bin
from javatest import SRC, classpath, compile_java
from s3server import bucket_get, bucket_objects, s3, s3_factory  # noqa: F401  (fixtures)
from test_crash import LoadProducer
from test_http import scrape
from test_tables import changelog, fold, http_json
from weirtest import (Rec, admin, assert_same, consume, consumer, create_topic,
                      expected_tuple, gen_records, msg_tuple, produce)

KCAT = shutil.which("kcat")
FAST = {"WEIR_MAINTENANCE_INTERVAL_MS": "100"}
TIERED = {"segment.bytes": "16384", "local.retention.bytes": "1"}
# Small batches, so that 16 KiB segments roll every few batches.
SMALL_BATCHES = {"batch.size": 4096, "linger.ms": 5}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WAIT_S = 60.0
OUTAGE_WAIT_S = 120.0  # object_store retries with backoff before an operation fails
HOUR_MS = 3600_000


# ------------------------------------------------------------------------- object stores

class FileStore:
    """The objects of a file:// store, with the keys S3 would have."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def objects(self, prefix: str = "") -> dict[str, int]:
        if not self.root.exists():
            return {}
        out = {}
        for f in self.root.rglob("*"):
            key = f.relative_to(self.root).as_posix()
            if f.is_file() and key.startswith(prefix):
                out[key] = f.stat().st_size
        return out

    def get(self, key: str, missing_ok: bool = False) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return None
            raise


class Tiered:
    """A broker tiering to `store` (SeaweedS3 or FileStore) under `prefix`."""

    def __init__(self, broker, store, prefix: str = ""):
        self.broker, self.store, self.prefix = broker, store, prefix

    @property
    def bs(self) -> str:
        return self.broker.bootstrap

    def key(self, topic: str, p: int, name: str = "") -> str:
        return "/".join(x for x in (self.prefix, topic, str(p), name) if x)

    def manifest(self, topic: str, p: int = 0) -> dict | None:
        data = self.store.get(self.key(topic, p, "manifest.json"), missing_ok=True)
        return None if data is None else json.loads(data)

    def segments(self, topic: str, p: int = 0) -> list[dict]:
        return check_manifest(self, self.manifest(topic, p), topic, p)

    def arrow_keys(self, topic: str, p: int = 0) -> set[str]:
        return {k for k in self.store.objects(self.key(topic, p) + "/") if k.endswith(".arrow")}

    def logs(self, topic: str, p: int = 0) -> list[Path]:
        return sorted(self.broker.partition_dir(topic, p).glob("*.log"), key=lambda f: int(f.stem))

    def active_base(self, topic: str, p: int = 0) -> int:
        return int(self.logs(topic, p)[-1].stem)

    def wait_settled(self, topic: str, p: int = 0, timeout: float = WAIT_S) -> list[dict]:
        """Waits until every closed segment is in the manifest and gone locally (only the
        active segment is left, or an empty active one and its predecessor); returns the
        manifest's segments, checked."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            logs = self.logs(topic, p)
            m = self.manifest(topic, p)
            segs = (m or {}).get("segments") or []
            end = segs[-1]["last_offset"] + 1 if segs else None
            closed = logs[:-1]
            if logs and end == int(logs[-1].stem) and (
                    not closed or (len(closed) == 1 and logs[-1].stat().st_size == 0)):
                return check_manifest(self, m, topic, p)
            last = ([f.name for f in logs], end, len(segs))
            time.sleep(0.2)
        raise AssertionError(f"{topic}[{p}] not tiered within {timeout}s: local segments, "
                             f"manifest end, manifest segments = {last}")

    def wait_objects_match_manifest(self, topic: str, p: int = 0,
                                    timeout: float = WAIT_S) -> list[dict]:
        """Waits until the partition's .arrow objects are exactly the manifest's."""
        deadline = time.monotonic() + timeout
        while True:
            segs = self.segments(topic, p)
            keys = self.arrow_keys(topic, p)
            if keys == {s["object"] for s in segs}:
                return segs
            if time.monotonic() > deadline:
                want = {s["object"] for s in segs}
                raise AssertionError(f"objects not in the manifest: {sorted(keys - want)[:5]}; "
                                     f"manifest objects missing: {sorted(want - keys)[:5]}")
            time.sleep(0.2)


def check_manifest(t: Tiered, m: dict | None, topic: str, p: int) -> list[dict]:
    """The manifest's segments: contiguous (each base = previous last + 1), named after their
    offsets, one record per offset."""
    assert m is not None, f"no manifest for {topic}[{p}]"
    segs = m["segments"]
    for a, b in zip(segs, segs[1:]):
        assert b["base_offset"] == a["last_offset"] + 1, f"gap or overlap: {a} then {b}"
    for s in segs:
        base, last = s["base_offset"], s["last_offset"]
        assert s["object"] == t.key(topic, p, f"{base:020}-{last:020}.arrow"), s
        assert s["record_count"] == last - base + 1, s
        assert s["size_bytes"] > 0, s
    return segs


def s3_broker(broker_factory, server, env: dict | None = None) -> Tiered:
    prefix = unique_topic("weir")
    b = broker_factory(extra_args=["--object-store", server.url(prefix)],
                       env={**FAST, **server.env(), **(env or {})})
    return Tiered(b, server, prefix)


# ------------------------------------------------------------------------- reading objects

def read_arrow(data: bytes) -> pa.Table:
    return pa.ipc.open_file(pa.py_buffer(data)).read_all()


def check_schema(schema: pa.Schema, changelog_op: bool = False) -> None:
    types = {f.name: f.type for f in schema}
    assert types.get("offset") == pa.int64(), schema
    ts = types.get("timestamp")
    assert ts is not None and pa.types.is_timestamp(ts) and ts.unit == "ms", schema
    assert types.get("key") == pa.binary() and types.get("value") == pa.binary(), schema
    h = types.get("headers")
    assert h is not None and pa.types.is_list(h), schema
    st = h.value_type
    assert [(st.field(i).name, st.field(i).type) for i in range(st.num_fields)] == [
        ("key", pa.utf8()), ("value", pa.binary())], schema
    for col in ("batch_base_offset", "producer_id", "is_control"):
        assert col in types, f"no {col} column: {schema}"
    if changelog_op:
        assert types.get("op") == pa.utf8(), schema


def arrow_rows(t: pa.Table) -> list[tuple]:
    """(offset, key, value, headers or None, timestamp ms) per row."""
    cols = [t.column(c).to_pylist() for c in ("offset", "key", "value", "headers")]
    ts = t.column("timestamp").cast(pa.int64()).to_pylist()
    return [(o, k, v, [(h["key"], h["value"]) for h in hs] if hs else None, x)
            for o, k, v, hs, x in zip(*cols, ts)]


def rec_rows(pairs) -> list[tuple]:
    return [(off, r.key, r.value, r.headers, r.timestamp) for off, r in pairs]


def tiered_tables(t: Tiered, segs: list[dict], changelog_op: bool = False) -> list[pa.Table]:
    """Fetches and checks every object of `segs`: size, zstd buffers, schema, offsets."""
    out = []
    for s in segs:
        data = t.store.get(s["object"])
        assert len(data) == s["size_bytes"], s
        assert data[:6] == b"ARROW1" and data[-6:] == b"ARROW1", f"{s['object']}: not an Arrow IPC file"
        assert ZSTD_MAGIC in data, f"{s['object']}: no zstd-compressed buffer"
        table = read_arrow(data)
        check_schema(table.schema, changelog_op)
        offs = table.column("offset").to_pylist()
        assert offs == list(range(s["base_offset"], s["last_offset"] + 1)), s["object"]
        assert max(table.column("timestamp").cast(pa.int64()).to_pylist()) == s["max_timestamp"]
        assert not any(table.column("is_control").to_pylist()), s["object"]
        # Polars reads the same file.
        df = pl.read_ipc(io.BytesIO(data))
        assert (df.height, df["offset"].sum()) == (len(offs), sum(offs)), s["object"]
        out.append(table)
    return out


# ------------------------------------------------------------------------- clients

@pytest.fixture(scope="module")
def table_reader(tmp_path_factory) -> Path:
    return compile_java(tmp_path_factory.mktemp("java"), [SRC / "TableReader.java"])


def hexs(b: bytes | None) -> str:
    return "NULL" if b is None else b.hex()


def java_read(build: Path, bs: str, topic: str, p: int = 0) -> list[str]:
    """TableReader: earliest to end of one partition with an assigned KafkaConsumer."""
    proc = subprocess.run(["java", "-cp", classpath(build), "TableReader", bs, topic, str(p)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines and lines[-1] == "END", proc.stdout[-2000:]
    return lines[:-1]


def java_want(pairs) -> list[str]:
    return [f"{off}\t{hexs(r.key)}\t{hexs(r.value)}\t{r.timestamp}\t"
            + ",".join(f"{k}={hexs(v)}" for k, v in (r.headers or [])) for off, r in pairs]


def kcat_read(bs: str, topic: str, p: int = 0) -> list[tuple]:
    """kcat from the beginning; keys and values are framed by their lengths (%K, %S), so
    binary data comes back exactly. kcat prints header values as C strings (cut at NUL)."""
    assert KCAT, "kcat missing (scripts/install-test-deps.sh)"
    proc = subprocess.run([KCAT, "-b", bs, "-X", "socket.timeout.ms=10000", "-C", "-t", topic,
                           "-p", str(p), "-o", "beginning", "-e",
                           "-f", "%o|%T|%K|%S|%k%s|%h\\n"], capture_output=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:].decode("utf-8", "replace")
    out, pos, recs = proc.stdout, 0, []
    while pos < len(out):
        nums = []
        for _ in range(4):
            j = out.index(b"|", pos)
            nums.append(int(out[pos:j]))
            pos = j + 1
        off, ts, klen, vlen = nums
        key = None if klen < 0 else out[pos:pos + klen]
        pos += max(klen, 0)
        value = None if vlen < 0 else out[pos:pos + vlen]
        pos += max(vlen, 0)
        assert out[pos:pos + 1] == b"|", (off, out[pos - 20:pos + 20])
        j = out.index(b"\n", pos + 1)
        recs.append((off, ts, key, value, out[pos + 1:j]))
        pos = j + 1
    return recs


def kcat_want(pairs) -> list[tuple]:
    def hdrs(h):
        return b",".join(k.encode() + b"=" + (b"NULL" if v is None else v.split(b"\0")[0])
                         for k, v in (h or []))
    return [(off, r.timestamp, r.key, r.value, hdrs(r.headers)) for off, r in pairs]


def watermarks(bs: str, topic: str, p: int = 0) -> tuple[int, int]:
    c = consumer(bs)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
    finally:
        c.close()


def set_configs(bs: str, topic: str, **configs) -> None:
    entries = [ConfigEntry(k.replace("_", "."), str(v), incremental_operation=AlterConfigOpType.SET)
               for k, v in configs.items()]
    res = ConfigResource("topic", topic, incremental_configs=entries)
    client = admin(bs)  # keep the handle alive until the result is in
    client.incremental_alter_configs([res])[res].result(timeout=30)


def msum(broker, name: str, **labels) -> float:
    """Sum of metric `name` over every series whose labels include `labels` (0 if none)."""
    want = {(k, str(v)) for k, v in labels.items()}
    return sum(v for (n, ls), v in scrape(broker).items() if n == name and want <= set(ls))


def wait_metric(broker, name: str, pred, timeout: float = WAIT_S, **labels) -> float:
    deadline = time.monotonic() + timeout
    while True:
        v = msum(broker, name, **labels)
        if pred(v):
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} = {v} after {timeout}s")
        time.sleep(0.2)


def wait_for(cond, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.2)


def wait_stable(fn, what: str, quiet: float = 2.0, timeout: float = WAIT_S):
    """fn()'s value once it is truthy and unchanged for `quiet` seconds (for deletions that
    may go one segment at a time)."""
    deadline, value, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        v = fn()
        if v != value:
            value, since = v, time.monotonic()
        elif v and time.monotonic() - since >= quiet:
            return v
        time.sleep(0.1)
    raise AssertionError(f"{what}: not settled within {timeout}s (last {value!r})")


def first_base(t: Tiered, topic: str) -> int | None:
    segs = t.segments(topic)
    return segs[0]["base_offset"] if segs else None


def describe(broker, topic: str) -> tuple[dict, str]:
    """`weir topic describe` (--json, then text); storage details come over HTTP."""
    cmd = [str(weir_bin()), "topic", "describe", topic, "--bootstrap", broker.bootstrap,
           "--http", f"127.0.0.1:{broker.http_port}"]
    outs = []
    for extra in (["--json"], []):
        p = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        outs.append(p.stdout)
    return {d["partition"]: d for d in json.loads(outs[0])["partitions"]}, outs[1]


# ------------------------------------------------------------------------- a. every codec

@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_tiered_log_reads_back_exactly_from_offset_zero(broker_factory, s3, table_reader, codec):
    t = s3_broker(broker_factory, s3)
    topic = unique_topic(f"tier-{codec}")
    create_topic(t.bs, topic, config=TIERED)
    recs = gen_records(3000, seed=11)
    offs = produce(t.bs, topic, recs, conf={**SMALL_BATCHES, "compression.type": codec})
    assert [o for _, o in offs] == list(range(3000))

    segs = t.wait_settled(topic)
    assert segs[0]["base_offset"] == 0 and len(segs) >= 10, segs
    active = t.active_base(topic)
    assert active == segs[-1]["last_offset"] + 1
    assert t.arrow_keys(topic) == {s["object"] for s in segs}
    # The log start stays 0: the remote log is part of the log.
    assert watermarks(t.bs, topic) == (0, 3000)

    want = [expected_tuple(i, r) for i, r in enumerate(recs)]
    assert_same([msg_tuple(m) for m in consume(t.bs, topic)], want, f"confluent-kafka ({codec})")
    mid = segs[len(segs) // 2]["base_offset"] + 7  # a fetch starting inside a remote segment
    assert_same([msg_tuple(m) for m in consume(t.bs, topic, start=mid)], want[mid:], "from mid")
    assert java_read(table_reader, t.bs, topic) == java_want(enumerate(recs))
    assert kcat_read(t.bs, topic) == kcat_want(enumerate(recs))

    assert msum(t.broker, "weir_remote_read_seconds_count") > 0
    assert msum(t.broker, "weir_tiering_upload_seconds_count") >= len(segs)


# ------------------------------------------------------------------------- b. Arrow objects

def test_arrow_objects_hold_the_records_for_pyarrow_polars_duckdb(broker_factory, s3):
    t = s3_broker(broker_factory, s3)
    topic = unique_topic("tier-arrow")
    create_topic(t.bs, topic, partitions=2, config=TIERED)
    recs = {0: gen_records(2500, seed=21, partition=0), 1: gen_records(1500, seed=22, partition=1)}
    produce(t.bs, topic, recs[0] + recs[1], conf={**SMALL_BATCHES, "compression.type": "lz4"})

    for p, prs in recs.items():
        segs = t.wait_settled(topic, p)
        tables = tiered_tables(t, segs)
        end = segs[-1]["last_offset"] + 1
        rows = [row for table in tables for row in arrow_rows(table)]
        assert_same(rows, rec_rows(enumerate(prs[:end])), f"pyarrow rows of partition {p}")
        whole = pa.concat_tables(tables)
        con = duckdb.connect()
        con.register("seg", whole)
        got = con.execute('SELECT count(*), sum("offset"), min("offset"), max("offset"), '
                          'count(*) FILTER (WHERE key IS NULL), '
                          'count(*) FILTER (WHERE value IS NULL) FROM seg').fetchone()
        assert got == (end, end * (end - 1) // 2, 0, end - 1,
                       sum(r.key is None for r in prs[:end]),
                       sum(r.value is None for r in prs[:end]))
        df = pl.concat([pl.read_ipc(io.BytesIO(t.store.get(s["object"]))) for s in segs])
        assert (df.height, df["offset"].sum(), df["key"].null_count()) == (
            end, end * (end - 1) // 2, got[4])

        # Metrics and `weir topic describe` agree with the manifest and the local segments.
        remote_bytes = sum(s["size_bytes"] for s in segs)
        wait_metric(t.broker, "weir_remote_log_segments", lambda v: v == len(segs), topic=topic, partition=p)
        wait_metric(t.broker, "weir_remote_log_bytes", lambda v: v == remote_bytes, topic=topic, partition=p)
        wait_metric(t.broker, "weir_tiering_pending_segments", lambda v: v == 0, topic=topic, partition=p)
        wait_metric(t.broker, "weir_tiering_pending_bytes", lambda v: v == 0, topic=topic, partition=p)
        active, n = t.active_base(topic, p), len(prs)
        local_size = sum(f.stat().st_size for f in t.logs(topic, p))
        parts, text = describe(t.broker, topic)
        d = parts[p]
        assert (d["log_start_offset"], d["log_end_offset"]) == (0, n), d
        st = {k: d["storage"][k] for k in (
            "local_start_offset", "log_end_offset", "local_bytes", "local_segments",
            "remote_start_offset", "remote_end_offset", "remote_segments", "remote_bytes",
            "pending_upload_segments", "pending_upload_bytes")}
        assert st == {"local_start_offset": active, "log_end_offset": n, "local_bytes": local_size,
                      "local_segments": len(t.logs(topic, p)), "remote_start_offset": 0,
                      "remote_end_offset": end, "remote_segments": len(segs),
                      "remote_bytes": remote_bytes, "pending_upload_segments": 0,
                      "pending_upload_bytes": 0}, d
        # PARTITION LEADER LOG-START LOG-END LOCAL-START LOCAL-BYTES REMOTE-START REMOTE-END
        # REMOTE-SEGMENTS REMOTE-BYTES
        rows_txt = text.split("PARTITION", 1)[1].splitlines()[1:]
        row = next(r.split() for r in rows_txt if r.split()[:1] == [str(p)])
        assert [int(x) for x in row] == [p, 1, 0, n, active, local_size, 0, end, len(segs),
                                         remote_bytes], text


def readme_snippet(name: str) -> str:
    """The python block after `<!-- tested-snippet: NAME -->` in the README."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = text.split(f"<!-- tested-snippet: {name} -->", 1)[1]
    return block.split("```python\n", 1)[1].split("\n```", 1)[0]


def test_readme_snippet_reads_tiered_data(broker_factory, s3, monkeypatch):
    t = s3_broker(broker_factory, s3)
    topic = unique_topic("tier-readme")
    create_topic(t.bs, topic, config=TIERED)
    recs = gen_records(1500, seed=31)
    produce(t.bs, topic, recs, conf=SMALL_BATCHES)
    segs = t.wait_settled(topic)
    end = segs[-1]["last_offset"] + 1
    for k, v in s3.env().items():
        monkeypatch.setenv(k, v)
    code = readme_snippet("tiered-read")
    assert '"weir/tiered"' in code and '"events"' in code
    code = code.replace('"weir/tiered"', repr(f"{s3.bucket}/{t.prefix}")).replace(
        '"events"', repr(topic))
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    assert_same(arrow_rows(ns["events"]), rec_rows(enumerate(recs[:end])), "README pyarrow rows")
    assert ns["df"].height == end
    assert ns["df"]["offset"].to_list() == list(range(end))
    want: dict = {}
    for r in recs[:end]:
        n, last = want.get(r.key, (0, None))
        want[r.key] = (n + 1, r.timestamp if last is None else max(last, r.timestamp))
    epoch = datetime.datetime(1970, 1, 1)
    got = {k: (n, (last - epoch) // datetime.timedelta(milliseconds=1))
           for k, n, last in ns["per_key"]}
    assert got == want


# ------------------------------------------------------------------------- c. S3 outage

@pytest.mark.timeout(600)
def test_s3_outage_delays_tiering_and_never_loses_local_data(broker_factory, s3_factory):
    server = s3_factory()
    t = s3_broker(broker_factory, server)
    topic = unique_topic("tier-outage")
    create_topic(t.bs, topic, config=TIERED)
    first = gen_records(1000, seed=31)
    produce(t.bs, topic, first, conf=SMALL_BATCHES)
    tiered_end = t.wait_settled(topic)[-1]["last_offset"] + 1

    server.stop()
    second = gen_records(2000, seed=32, base_ts=first[-1].timestamp + 3)
    offs = produce(t.bs, topic, second, conf=SMALL_BATCHES)
    assert [o for _, o in offs] == list(range(1000, 3000))
    # Local data stays readable while the store is down.
    got = [msg_tuple(m) for m in consume(t.bs, topic, start=tiered_end)]
    everything = [expected_tuple(i, r) for i, r in enumerate(first + second)]
    assert_same(got, everything[tiered_end:], "local reads during the outage")

    wait_metric(t.broker, "weir_tiering_pending_segments", lambda v: v > 0, OUTAGE_WAIT_S,
                topic=topic, partition=0)
    wait_metric(t.broker, "weir_tiering_pending_bytes", lambda v: v > 0, OUTAGE_WAIT_S,
                topic=topic, partition=0)
    # A failed upload is counted after object_store's own retries (its default: up to 10 with
    # backoff, ~1 min); housekeeping (every 100 ms) ran all that time with the backlog.
    wait_metric(t.broker, "weir_object_store_errors_total", lambda v: v > 0, OUTAGE_WAIT_S)
    logs = t.logs(topic)
    assert int(logs[0].stem) <= tiered_end and len(logs) >= 2, (
        f"segments not uploaded were deleted locally: {[f.name for f in logs]}, tiered to {tiered_end}")
    assert watermarks(t.bs, topic) == (0, 3000)

    server.start()
    segs = t.wait_settled(topic, timeout=OUTAGE_WAIT_S)
    wait_metric(t.broker, "weir_tiering_pending_segments", lambda v: v == 0, topic=topic, partition=0)
    assert segs[-1]["last_offset"] + 1 == t.active_base(topic) > tiered_end
    t.wait_objects_match_manifest(topic)
    assert_same([msg_tuple(m) for m in consume(t.bs, topic)], everything, "after the outage")


def test_lost_local_manifest_and_store_down_at_start_never_resets_consumers(broker_factory,
                                                                          s3_factory):
    """The local manifest copy is gone and the store is down when the broker starts: what
    lies below the local log start is unknown, not gone. A consumer reading from offset 0 is
    told to retry (REPLICA_NOT_AVAILABLE, Kafka's "remote storage not ready") rather than
    OFFSET_OUT_OF_RANGE — which would reset it (here to latest) past 1,000s of records that
    are in the store — and reads everything once the store is back."""
    server = s3_factory()
    t = s3_broker(broker_factory, server)
    topic = unique_topic("tier-unknown")
    create_topic(t.bs, topic, config=TIERED)
    records = gen_records(3000, seed=33)
    produce(t.bs, topic, records, conf=SMALL_BATCHES)
    t.wait_settled(topic)
    wait_for(lambda: int(t.logs(topic)[0].stem) > 0, "local segments deleted after upload")
    everything = [expected_tuple(i, r) for i, r in enumerate(records)]

    t.broker.terminate()
    (t.broker.partition_dir(topic, 0) / "remote-manifest.json").unlink()
    server.stop()
    t.broker.start()
    c = Consumer({"bootstrap.servers": t.bs, "group.id": unique_topic("g"),
                  "auto.offset.reset": "latest", "enable.auto.commit": False,
                  "fetch.error.backoff.ms": 100})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        early = c.consume(num_messages=100, timeout=5)
        assert [m for m in early if m.error() is None] == []
        server.start()
        got, deadline = [], time.monotonic() + OUTAGE_WAIT_S
        while len(got) < 3000 and time.monotonic() < deadline:
            got.extend(m for m in c.consume(num_messages=1000, timeout=1) if m.error() is None)
    finally:
        c.close()
    assert_same([msg_tuple(m) for m in got], everything, "read from 0 once the store is back")


# ------------------------------------------------------------------------- d. SIGKILL

@pytest.mark.timeout(600)
def test_sigkill_during_uploads_leaves_a_contiguous_manifest(broker_factory, s3):
    t = s3_broker(broker_factory, s3)
    topic = unique_topic("tier-kill")
    create_topic(t.bs, topic, config=TIERED)
    lp = LoadProducer(t.bs, topic)
    lp.start()
    try:
        for k in range(4):
            base = len(lp.acked)
            wait_for(lambda: len(lp.acked) >= base + 3000 or lp.fatal, "3000 more acks")
            # Kill while an upload is pending or in flight (bounded wait; the kill happens anyway).
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and msum(
                    t.broker, "weir_tiering_pending_segments", topic=topic) == 0:
                time.sleep(0.02)
            time.sleep(0.15 * k)
            t.broker.kill()
            t.broker.start()
        base = len(lp.acked)
        wait_for(lambda: len(lp.acked) >= base + 1000 or lp.fatal, "acks after the last restart")
    finally:
        remaining = lp.finish()
    assert lp.fatal is None, lp.fatal
    assert remaining == 0, f"{remaining} records without a delivery report"

    segs = t.wait_settled(topic)
    assert segs[0]["base_offset"] == 0
    t.wait_objects_match_manifest(topic)
    log = [(m.offset(), int(m.value()[4:])) for m in consume(t.bs, topic)]
    assert [o for o, _ in log] == list(range(len(log)))
    seqs = [s for _, s in log]
    assert len(seqs) == len(set(seqs)), "a record is in the log twice"
    by_offset = dict(log)
    missing = [(s, o) for s, o in lp.acked if by_offset.get(o) != s]
    assert not missing, f"{len(missing)} acked records missing or moved: {missing[:5]}"
    # The tiered part, read from the objects themselves, is the same log.
    rows = [(r[0], r[2]) for tb in tiered_tables(t, segs) for r in arrow_rows(tb)]
    assert rows == [(o, b"seq-%08d" % s) for o, s in log[:len(rows)]]
    assert len(rows) == segs[-1]["last_offset"] + 1


# ------------------------------------------------------------------------- e. table topics

def test_table_topic_and_changelog_are_tiered(broker_factory, s3, table_reader):
    # T.changelog takes segment.bytes, remote.storage.enable and local.retention.* from T, so
    # it rolls and tiers as T does.
    t = s3_broker(broker_factory, s3)
    topic = unique_topic("tier-table")
    create_topic(t.bs, topic, config={"cleanup.policy": "compact", **TIERED})
    now = int(time.time() * 1000)
    recs = []
    for rnd in range(60):
        # Rounds 0-39 are 3 h old and expire with retention.ms=1h below, 40-59 are recent.
        # Keys 20-39 are last written in round 29, so their latest records are expired.
        ts0 = now - 3 * HOUR_MS if rnd < 40 else now
        for k in range(40 if rnd < 30 else 20):
            i = len(recs)
            value = None if rnd > 0 and i % 9 == 0 else f"r{rnd}-k{k}-".encode() + b"x" * (100 + i % 80)
            recs.append(Rec(f"user-{k:03}".encode(), value,
                            [("h", b"1"), ("h", str(rnd).encode()), ("bin", b"\x00\xfe")], ts0 + i))
    offs = produce(t.bs, topic, recs, conf=SMALL_BATCHES)
    assert [o for _, o in offs] == list(range(len(recs)))
    n_old = 30 * 40 + 10 * 20

    segs = t.wait_settled(topic)
    tables = tiered_tables(t, segs)
    end = segs[-1]["last_offset"] + 1
    assert end > n_old, f"the recent records must reach the tiered part ({end} <= {n_old})"
    assert_same([r for tb in tables for r in arrow_rows(tb)], rec_rows(enumerate(recs[:end])), "T objects")
    assert_same([msg_tuple(m) for m in consume(t.bs, topic)],
                [expected_tuple(i, r) for i, r in enumerate(recs)], "T from offset 0")

    # The changelog is tiered too; its objects carry the op column.
    state, changes = fold([(i, r.key, r.value, r.timestamp) for i, r in enumerate(recs)])
    cl = f"{topic}.changelog"
    csegs = t.wait_settled(cl)
    assert changelog(t.bs, topic, 0) == changes
    rows = []
    for tb in tiered_tables(t, csegs, changelog_op=True):
        for op, (_, key, value, headers, ts) in zip(tb.column("op").to_pylist(), arrow_rows(tb)):
            h = dict(headers)
            assert h["weir.op"] == op.encode(), (op, headers)
            rows.append((op, int(h["weir.source.offset"]), key, value, ts))
    assert rows == changes[:len(rows)] and len(rows) == csegs[-1]["last_offset"] + 1
    assert {r[0] for r in rows} == {"+I", "-U", "+U", "-D"}

    def lookups_answer():
        base = f"{t.broker.http}/v1/tables/{topic}/keys"
        for k in range(40):
            key = f"user-{k:03}".encode()
            status, row = http_json(f"{base}/{key.decode()}")
            if key in state:
                off, value = state[key]
                assert (status, row["offset"], row["value"], row["timestamp"]) == (
                    200, off, value.decode(), recs[off].timestamp), row
            else:
                assert status == 404, row
    lookups_answer()

    # Remote retention: segments holding only 3 h old records go; reading from 0 gives the
    # latest record of every key below the new log start (original offsets), then the log.
    set_configs(t.bs, topic, retention_ms=HOUR_MS)
    want_start = next(s["base_offset"] for s in segs if s["last_offset"] >= n_old)
    wait_for(lambda: first_base(t, topic) == want_start,
             f"remote retention to move the first tiered segment of {topic} to {want_start}")
    t.wait_objects_match_manifest(topic)
    latest = {}
    for off, r in enumerate(recs):
        latest[r.key] = off
    compacted = sorted(off for off in latest.values() if off < want_start)
    want = [(off, recs[off]) for off in compacted] + list(enumerate(recs))[want_start:]
    assert len(compacted) == 20, compacted
    assert watermarks(t.bs, topic) == (compacted[0] if compacted else want_start, len(recs))
    assert java_read(table_reader, t.bs, topic) == java_want(want)
    lookups_answer()


# ------------------------------------------------------------------------- f. ListOffsets

def test_offsets_for_times_inside_tiered_segments(broker_factory, s3):
    t = s3_broker(broker_factory, s3)
    topic = unique_topic("tier-times")
    create_topic(t.bs, topic, config=TIERED)
    recs = gen_records(3000, seed=41)  # timestamps BASE_TS + 3*i
    produce(t.bs, topic, recs, conf=SMALL_BATCHES)
    segs = t.wait_settled(topic)
    active, ts = t.active_base(topic), recs[0].timestamp
    picks = [0, 1, segs[1]["base_offset"], segs[1]["last_offset"], segs[len(segs) // 2]["base_offset"] + 3,
             segs[-1]["last_offset"], active, 2999]
    queries = {ts - 1: 0}
    for i in picks:
        queries[ts + 3 * i] = i
        if i < 2999:
            queries[ts + 3 * i + 1] = i + 1
    queries[ts + 3 * 2999 + 1] = -1
    assert segs[-1]["last_offset"] < active <= 2999
    c = consumer(t.bs)
    try:
        for q, want in queries.items():
            [res] = c.offsets_for_times([TopicPartition(topic, 0, q)], timeout=10)
            assert res.error is None, res
            assert res.offset == want, f"offsets_for_times(+{q - ts}): got {res.offset} want {want}"
    finally:
        c.close()


# ------------------------------------------------------------------------- g. deletion

def test_remote_retention_delete_records_and_topic_deletion(broker_factory, s3):
    t = s3_broker(broker_factory, s3)
    now = int(time.time() * 1000)

    # retention.ms: segments whose records are all older than it go, remotely too.
    t1 = unique_topic("tier-ret-ms")
    create_topic(t.bs, t1, config=TIERED)
    recs1 = [Rec(f"k{i}".encode(), bytes([i % 251]) * 150, [("i", str(i).encode())],
                 (now - 3 * HOUR_MS if i < 1500 else now) + i) for i in range(3000)]
    produce(t.bs, t1, recs1, conf=SMALL_BATCHES)
    segs = t.wait_settled(t1)
    assert segs[-1]["last_offset"] >= 1500
    set_configs(t.bs, t1, retention_ms=HOUR_MS)
    start = next(s["base_offset"] for s in segs if s["last_offset"] >= 1500)
    gone = {s["object"] for s in segs if s["last_offset"] < start}
    assert start > 0 and gone
    wait_for(lambda: watermarks(t.bs, t1)[0] == start, f"log start of {t1} to reach {start}")
    left = t.wait_objects_match_manifest(t1)
    assert left[0]["base_offset"] == start and not gone & {s["object"] for s in left}
    assert_same([msg_tuple(m) for m in consume(t.bs, t1)],
                [expected_tuple(i, r) for i, r in enumerate(recs1)][start:], f"{t1} after retention.ms")

    # retention.bytes bounds the whole log (remote + local): the oldest remote segments go.
    t2 = unique_topic("tier-ret-bytes")
    create_topic(t.bs, t2, config=TIERED)
    recs2 = gen_records(3000, seed=51)
    produce(t.bs, t2, recs2, conf=SMALL_BATCHES)
    segs = t.wait_settled(t2)
    total = sum(s.get("log_bytes", s["size_bytes"]) for s in segs) + sum(
        f.stat().st_size for f in t.logs(t2))
    set_configs(t.bs, t2, retention_bytes=total // 2)
    start = wait_stable(lambda: first_base(t, t2), f"retention.bytes on {t2}")
    left = t.wait_objects_match_manifest(t2)
    assert left[0]["base_offset"] == start
    assert [s["object"] for s in segs if s["base_offset"] >= start] == [s["object"] for s in left]
    assert len(left) >= 2, "retention.bytes at half the log removed nearly everything"
    wait_for(lambda: watermarks(t.bs, t2)[0] == start, f"log start of {t2} to reach {start}")
    want2 = [expected_tuple(i, r) for i, r in enumerate(recs2)]
    assert_same([msg_tuple(m) for m in consume(t.bs, t2)], want2[start:], f"{t2} after retention.bytes")

    # DeleteRecords below the local log start: remote segments wholly below it go.
    cut = left[1]["base_offset"] + 7
    assert cut < t.active_base(t2)
    tp = TopicPartition(t2, 0, cut)
    client = admin(t.bs)  # keep the handle alive until the result is in
    res = client.delete_records([tp])
    assert next(iter(res.values())).result(timeout=30).low_watermark == cut
    assert watermarks(t.bs, t2) == (cut, 3000)
    wait_for(lambda: first_base(t, t2) == left[1]["base_offset"],
             "DeleteRecords to drop the segments below it from the manifest")
    left2 = t.wait_objects_match_manifest(t2)
    assert [s["object"] for s in left2] == [s["object"] for s in left[1:]]
    got = consume(t.bs, t2, start=0)  # reset to the log start
    assert got[0].offset() == cut
    assert_same([msg_tuple(m) for m in got], want2[cut:], f"{t2} after DeleteRecords")

    # Deleting a topic deletes its objects and manifests.
    client = admin(t.bs)
    for name, fut in client.delete_topics([t1, t2], operation_timeout=30).items():
        fut.result(timeout=30)
    for name in (t1, t2):
        wait_for(lambda: not t.store.objects(f"{t.prefix}/{name}/"), f"objects of deleted {name} gone")


# ------------------------------------------------------------------------- other stores

@pytest.mark.parametrize("kind", ["file", "default", "memory"])
def test_file_default_and_memory_stores(broker_factory, tmp_path, kind):
    args, store = [], None
    if kind == "file":
        args, store = ["--object-store", f"file://{tmp_path / 'remote'}"], FileStore(tmp_path / "remote")
    elif kind == "memory":
        args = ["--object-store", "memory://"]
    b = broker_factory(extra_args=args, env=FAST)
    if kind == "default":  # file://<data dir>/remote
        store = FileStore(b.data_dir / "remote")
    t = Tiered(b, store)
    topic, local_only = unique_topic("tier-store"), unique_topic("tier-off")
    create_topic(t.bs, topic, config=TIERED)
    # remote.storage.enable=false: nothing uploaded; local.retention.* does not apply.
    create_topic(t.bs, local_only, config={**TIERED, "remote.storage.enable": "false"})
    recs = gen_records(1500, seed=61)
    produce(t.bs, topic, recs, conf=SMALL_BATCHES)
    produce(t.bs, local_only, recs, conf=SMALL_BATCHES)
    if store is not None:
        segs = t.wait_settled(topic)
        assert t.arrow_keys(topic) == {s["object"] for s in segs}
        rows = [r for tb in tiered_tables(t, segs) for r in arrow_rows(tb)]
        assert_same(rows, rec_rows(enumerate(recs[:len(rows)])), f"{kind} store objects")
        assert not store.objects(f"{local_only}/")
    else:
        wait_for(lambda: len(t.logs(topic)) == 1, "local segments uploaded to memory and deleted")
        wait_metric(b, "weir_tiering_pending_segments", lambda v: v == 0, topic=topic, partition=0)
        assert msum(b, "weir_remote_log_segments", topic=topic, partition=0) > 0
    assert msum(b, "weir_remote_log_segments", topic=local_only) == 0
    assert int(t.logs(local_only)[0].stem) == 0 and len(t.logs(local_only)) > 10
    want = [expected_tuple(i, r) for i, r in enumerate(recs)]
    assert_same([msg_tuple(m) for m in consume(t.bs, topic)], want, f"{kind}: tiered topic")
    assert_same([msg_tuple(m) for m in consume(t.bs, local_only)], want, f"{kind}: local topic")


# ------------------------------------------------------------------------- standalone check

class _EnvS3:
    """A bucket through boto3 configured from the AWS_* environment (as the broker is)."""

    def __init__(self, bucket: str):
        import boto3
        from botocore.config import Config
        self.bucket = bucket
        self.client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
                                   region_name=os.environ.get("AWS_REGION", "us-east-1"),
                                   config=Config(s3={"addressing_style": "path"}))

    def objects(self, prefix: str = "") -> dict[str, int]:
        return bucket_objects(self.client, self.bucket, prefix)

    def get(self, key: str, missing_ok: bool = False) -> bytes | None:
        return bucket_get(self.client, self.bucket, key, missing_ok)


def _inspect(where: str) -> None:
    """Checks every tiered partition of a store the way the tests do and prints a summary:
    python test_tiering.py <data-dir>/remote | file:///DIR | s3://BUCKET/PREFIX"""
    if where.startswith("s3://"):
        bucket, _, prefix = where[5:].partition("/")
        store, prefix = _EnvS3(bucket), prefix.strip("/")
    else:
        store, prefix = FileStore(Path(where.removeprefix("file://"))), ""
    manifests = sorted(k for k in store.objects(prefix) if k.endswith("/manifest.json"))
    print(f"{len(manifests)} manifests under {where}")
    for key in manifests:
        topic, p = key[len(prefix):].strip("/").split("/")[:2]
        t = Tiered(None, store, prefix)
        segs = check_manifest(t, json.loads(store.get(key)), topic, int(p))
        tables = tiered_tables(t, segs, changelog_op=topic.endswith(".changelog"))
        orphans = t.arrow_keys(topic, int(p)) - {s["object"] for s in segs}
        con = duckdb.connect()
        con.register("seg", pa.concat_tables(tables) if tables else pa.table({"offset": pa.array([], pa.int64())}))
        n, total = con.execute('SELECT count(*), coalesce(sum("offset"), 0) FROM seg').fetchone()
        span = f"{segs[0]['base_offset']}..{segs[-1]['last_offset']}" if segs else "-"
        print(f"{topic}[{p}]: {len(segs)} segments, offsets {span}, {n} rows (sum of offsets "
              f"{total}), {sum(s['size_bytes'] for s in segs)} bytes, {len(orphans)} orphans")
    print("OK")


if __name__ == "__main__":
    _inspect(sys.argv[1])
