"""Helpers for the context-store tests (test_context_store.py, test_readme_context_example.py)
and scripts/bench_context.py: generated table updates produced by two clients with different
partitioners, a brute-force "as of" fold over them (the spec's rule for lookups, snapshot and
as-of-join), and HTTP helpers that send Arrow IPC / JSON bodies and read Arrow IPC answers.

The fold is the reference: within one partition a key's state as of q is its last write by
offset whose timestamp is <= q; across partitions the candidate with the greatest timestamp
wins (ties: higher partition); a winning delete means absent.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from bisect import bisect_right
from collections import defaultdict
from typing import Iterable, Iterator
from urllib.parse import quote, urlparse

import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)

ARROW = "application/vnd.apache.arrow.stream"
EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
SCHEMA = {"risk_score": "float64", "segment": "utf8", "n": "int64"}
FIELDS = list(SCHEMA)
STRUCT = pa.struct([("risk_score", pa.float64()), ("segment", pa.utf8()), ("n", pa.int64())])
HEADERS_TYPE = pa.list_(pa.struct([("key", pa.utf8()), ("value", pa.binary())]))
SEGMENTS = ["retail", "smb", "enterprise", "café", "政府"]
MODELS = [b"risk-v1", b"risk-v2", b"risk-v3", b"risk-v4", b"risk-v5"]
INVALID_RECORD = 87
INVALID_CONFIG = 40


def table_config(typed: bool, **extra) -> dict:
    cfg = {"cleanup.policy": "compact"}
    if typed:
        cfg.update({"value.format": "json", "value.schema": json.dumps(SCHEMA)})
    cfg.update(extra)
    return cfg


def typed_value(raw: bytes | None) -> dict | None:
    """The struct a typed table gives for a JSON value (missing fields are null)."""
    if raw is None:
        return None
    obj = json.loads(raw)
    return {f: obj.get(f) for f in FIELDS}


# ------------------------------------------------------------------------------ writes

class Writes:
    """Parallel lists of planned writes; `part` and `off` are filled in by produce_mixed."""

    def __init__(self):
        self.keys: list[bytes] = []
        self.values: list[bytes | None] = []
        self.ts: list[int] = []
        self.kp: list[bool] = []  # produced by kafka-python (murmur2) instead of librdkafka
        self.part: list[int | None] = []
        self.off: list[int | None] = []

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: bytes, value: bytes | None, ts: int, kp: bool = False) -> int:
        self.keys.append(key)
        self.values.append(value)
        self.ts.append(ts)
        self.kp.append(kp)
        self.part.append(None)
        self.off.append(None)
        return len(self.keys) - 1

    def headers(self, i: int) -> list[tuple[str, bytes]]:
        return [("model", MODELS[i % len(MODELS)]), ("via", b"kp" if self.kp[i] else b"ck")]

    def arrow_headers(self, i: int) -> list[dict]:
        return [{"key": k, "value": v} for k, v in self.headers(i)]

    def json_headers(self, i: int) -> list[dict]:
        return [{"key": k, "value": v.decode()} for k, v in self.headers(i)]


def random_value(rnd: random.Random, i: int) -> bytes:
    """A JSON object for the typed schema; some fields missing or null, exact binary floats
    (multiples of 1/1024) so that sums do not depend on the order of addition."""
    obj: dict = {"risk_score": rnd.randint(0, 100 * 1024) / 1024 + 1 / 2048,
                 "segment": SEGMENTS[rnd.randrange(len(SEGMENTS))]}
    r = rnd.random()
    if r < 0.05:
        pass  # no "n": reads as null
    elif r < 0.07:
        obj["n"] = None
    elif r < 0.09:
        obj["n"] = (1 << 62) + i  # beyond 2^53: must stay exact as int64
    else:
        obj["n"] = rnd.randint(-10**6, 10**6)
    if rnd.random() < 0.02:
        obj["segment"] = None
    return json.dumps(obj, ensure_ascii=rnd.random() < 0.5).encode()


def gen_writes(n_keys: int, n_updates: int, base_ts: int, seed: int = 1,
               delete_frac: float = 0.05, late_frac: float = 0.01, kp_chunks: int = 5,
               chunk: int = 50_000) -> Writes:
    """`n_updates` writes over keys user-000000.. in chunks of `chunk` writes; every
    `kp_chunks`-th chunk (from the third) is produced by kafka-python, the rest by
    confluent-kafka. Write i has timestamp base + 2i, except "late" writes which get a distinct
    odd timestamp earlier than their neighbours (so within a partition offset order and
    timestamp order disagree for them)."""
    rnd = random.Random(seed)
    w = Writes()
    used_late: set[int] = set()
    chunk = max(1, min(chunk, n_updates // 4 or 1))
    for i in range(n_updates):
        key = b"user-%06d" % rnd.randrange(n_keys)
        value = None if i > n_keys // 10 and rnd.random() < delete_frac else random_value(rnd, i)
        ts = base_ts + 2 * i
        if i > 100 and rnd.random() < late_frac:
            for _ in range(20):
                j = i - rnd.randint(1, 5000)
                if j >= 0 and j not in used_late:
                    used_late.add(j)
                    ts = base_ts + 2 * j + 1
                    break
        w.add(key, value, ts, kp=(i // chunk) % kp_chunks == 2)
    return w


def produce_mixed(bs: str, topic: str, w: Writes, indices: Iterable[int] | None = None,
                  timeout: float = 600.0) -> None:
    """Produces writes in order, switching client between runs of the same `kp` flag and
    flushing at each switch (so offsets follow the plan's order within a partition). Records
    (partition, offset) of each write; raises on any delivery error."""
    from confluent_kafka import Producer
    from kafka import KafkaProducer

    idx = list(range(len(w)) if indices is None else indices)
    ck = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 50,
                   "batch.num.messages": 10000, "batch.size": 900_000,
                   "queue.buffering.max.messages": 2_000_000,
                   "queue.buffering.max.kbytes": 2_000_000,
                   "message.timeout.ms": int(timeout * 1000)})
    kp = None
    errors: list = []

    def cb_for(i):
        def cb(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                w.part[i], w.off[i] = msg.partition(), msg.offset()
        return cb

    run: list[int] = []

    def flush_run():
        nonlocal kp
        if not run:
            return
        if w.kp[run[0]]:
            if kp is None:
                kp = KafkaProducer(bootstrap_servers=bs, acks="all", linger_ms=50,
                                   batch_size=512 * 1024, max_request_size=1_000_000,
                                   metrics_enabled=False, request_timeout_ms=120_000,
                                   delivery_timeout_ms=int(timeout * 1000) + 300_000)
            futs = [(i, kp.send(topic, key=w.keys[i], value=w.values[i], timestamp_ms=w.ts[i],
                                headers=w.headers(i))) for i in run]
            kp.flush(timeout)
            for i, f in futs:
                md = f.get(timeout)
                w.part[i], w.off[i] = md.partition, md.offset
        else:
            deadline = time.monotonic() + timeout
            for i in run:
                while True:
                    try:
                        ck.produce(topic, key=w.keys[i], value=w.values[i], timestamp=w.ts[i],
                                   headers=w.headers(i), on_delivery=cb_for(i))
                        break
                    except BufferError:
                        ck.poll(0.05)
                        assert time.monotonic() < deadline, "produce queue stayed full"
            assert ck.flush(timeout) == 0, "confluent-kafka: messages not delivered"
        assert not errors, f"delivery errors (first 5): {errors[:5]}"
        run.clear()

    for i in idx:
        if run and w.kp[run[0]] != w.kp[i]:
            flush_run()
        run.append(i)
    flush_run()
    if kp is not None:
        kp.close(timeout=30)
    missing = [i for i in idx if w.off[i] is None]
    assert not missing, f"{len(missing)} writes without a delivery report"


# ------------------------------------------------------------------------------ the fold

class Fold:
    """Brute-force "as of" over the writes of one table (every write must have part/off)."""

    def __init__(self, w: Writes, indices: Iterable[int] | None = None):
        self.w = w
        per: dict = defaultdict(lambda: defaultdict(list))
        for i in (range(len(w)) if indices is None else indices):
            per[w.keys[i]][w.part[i]].append((w.ts[i], w.off[i], i))
        self.index: dict[bytes, list[tuple[int, list[int], list[int]]]] = {}
        for key, parts in per.items():
            entries = []
            for p, lst in sorted(parts.items()):
                lst.sort()
                tss, best, m = [], [], None
                for t, o, i in lst:
                    if m is None or o > w.off[m]:
                        m = i
                    tss.append(t)
                    best.append(m)  # the highest-offset write among those with ts <= t
                entries.append((p, tss, best))
            self.index[key] = entries

    def keys(self) -> list[bytes]:
        return list(self.index)

    def at(self, key: bytes, q: float = math.inf) -> int | None:
        """Index of the write that is the key's live row as of q, or None."""
        entries = self.index.get(key)
        if not entries:
            return None
        win, wts, wp = None, None, -1
        for p, tss, best in entries:
            j = bisect_right(tss, q) - 1
            if j < 0:
                continue
            i = best[j]
            t = self.w.ts[i]
            if wts is None or t > wts or (t == wts and p > wp):
                win, wts, wp = i, t, p
        if win is None or self.w.values[win] is None:
            return None
        return win

    def snapshot(self, q: float = math.inf) -> list[int]:
        """Write indices of the live rows as of q, ordered by key bytes (the snapshot's row
        order is unspecified; callers sort it by key)."""
        rows = [i for i in (self.at(k, q) for k in self.index) if i is not None]
        rows.sort(key=lambda i: self.w.keys[i])
        return rows


# ------------------------------------------------------------------------------ Arrow

def ipc_bytes(data: pa.Table | list[pa.RecordBatch], schema: pa.Schema | None = None) -> bytes:
    if isinstance(data, pa.Table):
        schema, batches = data.schema, data.to_batches()
    else:
        batches = data
        schema = schema or batches[0].schema
    return b"".join(ipc_messages(schema, batches))


def ipc_messages(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """An Arrow IPC stream, one encapsulated message at a time (for chunked uploads)."""
    yield schema.serialize().to_pybytes()
    for b in batches:
        yield b.serialize().to_pybytes()
    yield EOS


def read_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class Post:
    """A POST over a raw socket: the body is sent from a thread while the answer is read, so
    a broker that streams its answer while it still reads the request never deadlocks.
    `body` bytes go with Content-Length, an iterable of chunks with chunked encoding."""

    def __init__(self, base: str, path: str, body, content_type: str, timeout: float = 900.0):
        u = urlparse(base)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        head = (f"POST {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
                f"Content-Type: {content_type}\r\nConnection: close\r\n")
        self.send_error: BaseException | None = None

        def send():
            try:
                if isinstance(body, (bytes, bytearray)):
                    self.sock.sendall((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
                else:
                    self.sock.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
                    for chunk in body:
                        if chunk:
                            self.sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    self.sock.sendall(b"0\r\n\r\n")
            except OSError as e:  # the broker answered (an error) and closed early
                self.send_error = e

        self.sender = threading.Thread(target=send, daemon=True)
        self.sender.start()
        self.resp = http.client.HTTPResponse(self.sock, method="POST")
        self.resp.begin()
        self.status = self.resp.status
        self.content_type = (self.resp.getheader("Content-Type") or "").split(";")[0].strip()

    def read(self) -> bytes:
        try:
            return self.resp.read()
        finally:
            self.close()

    def close(self) -> None:
        self.sender.join(60)
        self.sock.close()


def post(base: str, path: str, body, content_type: str = ARROW,
         timeout: float = 900.0) -> tuple[int, str, bytes]:
    p = Post(base, path, body, content_type, timeout)
    data = p.read()
    return p.status, p.content_type, data


def join_path(topic: str, key: str | None = None, timestamp: str | None = None,
              tables: list[str] | None = None) -> str:
    params = []
    if key is not None:
        params.append(f"key={quote(key)}")
    if timestamp is not None:
        params.append(f"timestamp={quote(timestamp)}")
    if tables:
        params.append("tables=" + ",".join(quote(t) for t in tables))
    return f"/v1/tables/{quote(topic)}/as-of-join" + ("?" + "&".join(params) if params else "")


def as_of_join(base: str, topic: str, body, content_type: str = ARROW, **kw) -> pa.Table:
    """POSTs a join and returns the answer; asserts 200 and the Arrow content type."""
    if isinstance(body, pa.Table):
        body = ipc_bytes(body)
    status, ctype, data = post(base, join_path(topic, **kw), body, content_type)
    assert status == 200, f"as-of-join -> {status}: {data[:2000]!r}"
    assert ctype == ARROW, ctype
    return read_ipc(data)


def error_of(status_body: tuple[int, str, bytes]) -> tuple[int, str]:
    """(status, error message) of an error answer, which must be {"error": "..."}."""
    status, _, data = status_body
    try:
        msg = json.loads(data)["error"]
    except (ValueError, KeyError, TypeError):
        raise AssertionError(f"{status}: not a JSON error: {data[:500]!r}")
    assert isinstance(msg, str) and msg.strip(), f"empty error message ({status})"
    return status, msg


def snapshot(base: str, topic: str, as_of: int | None = None) -> pa.Table:
    url = f"{base}/v1/tables/{quote(topic)}/snapshot" + ("" if as_of is None else f"?as_of={as_of}")
    try:
        with urllib.request.urlopen(url, timeout=600) as r:
            ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip()
            data = r.read()
    except urllib.error.HTTPError as e:
        raise AssertionError(f"snapshot {topic} -> {e.code}: {e.read()[:2000]!r}")
    assert ctype == ARROW, ctype
    return read_ipc(data)


def lookup(base: str, topic: str, key: str, as_of: int | None = None) -> tuple[int, dict]:
    url = f"{base}/v1/tables/{quote(topic)}/keys/{quote(key, safe='')}"
    if as_of is not None:
        url += f"?as_of={as_of}"
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, (json.loads(body) if body.strip().startswith(b"{") else {})


def ts_ms(col) -> list:
    """A timestamp column (any unit) as epoch ms ints (None kept)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    assert pa.types.is_timestamp(col.type), col.type
    return col.cast(pa.int64()).to_pylist()


def first_difference(got: list, want: list, what: str) -> None:
    if got == want:
        return
    for i, (g, x) in enumerate(zip(got, want)):
        if g != x:
            raise AssertionError(f"{what}: first difference at row {i} (of {len(want)})\n"
                                 f"  got : {g!r}\n  want: {x!r}")
    raise AssertionError(f"{what}: {len(got)} rows, want {len(want)}")


def maintenance_args(ms: int) -> list[str]:
    """Broker flags for a short retention check interval: --maintenance-interval-ms (which
    checks retention today) and --retention-check-interval-ms if the binary has it."""
    from conftest import weir_bin
    text = subprocess.run([str(weir_bin()), "serve", "--help"], capture_output=True,
                          text=True, timeout=60).stdout
    args = ["--maintenance-interval-ms", str(ms)]
    if "--retention-check-interval-ms" in text:
        args += ["--retention-check-interval-ms", str(ms)]
    return args
