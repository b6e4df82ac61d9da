"""Context-store benchmark driver (run by scripts/bench-context.sh, which describes the
figures). One broker on a scratch data directory; one typed table; the join input is
generated batch by batch from a seeded generator (pyarrow.compute), streamed to the broker
with chunked transfer encoding while the Arrow answer is read and counted, and regenerated
identically into a Parquet file for DuckDB's ASOF JOIN. MB = 10^6 bytes."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "compat-tests"))
from context_data import ARROW, SEGMENTS, Post, ipc_messages, join_path, table_config  # noqa: E402

TOPIC = "bench-context"
BASE_TS = (int(time.time()) // 3600 - 2) * 3600 * 1000


def log(msg: str) -> None:
    print(f"[bench-context] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int, field: str) -> int:
    """A /proc/<pid>/status field in KiB (0 if absent)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class RssPeak:
    """Peak broker RSS while a phase runs: VmRSS sampled every 20 ms, and VmHWM after resetting
    it through /proc/<pid>/clear_refs (where the kernel allows it)."""

    def __init__(self, pid: int):
        self.pid, self.peak_kib, self.stop = pid, 0, threading.Event()
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.peak_kib = max(self.peak_kib, proc_status(self.pid, "VmRSS"))
            time.sleep(0.02)

    def finish(self) -> float:
        self.stop.set()
        self.thread.join()
        peak = self.peak_kib
        if self.hwm_reset:
            peak = max(peak, proc_status(self.pid, "VmHWM"))
        return peak / 1024


# ------------------------------------------------------------------------------ load

def load(bs: str, keys: int, updates: int, seed: int) -> tuple[float, pa.Table]:
    """Produces `updates` typed updates (5% deletes), timestamps BASE_TS + i; returns the
    rate and the updates as a table (key, ts, risk_score, segment, n, deleted)."""
    import json
    import random

    from confluent_kafka import Producer
    rnd = random.Random(seed)
    p = Producer({"bootstrap.servers": bs, "acks": 1, "linger.ms": 20, "batch.size": 900_000,
                  "batch.num.messages": 10_000, "queue.buffering.max.messages": 2_000_000,
                  "queue.buffering.max.kbytes": 2_000_000})
    errors: list = []

    def cb(err, _msg):
        if err is not None:
            errors.append(err)

    cols: dict[str, list] = {c: [] for c in ("key", "ts", "risk_score", "segment", "n", "deleted")}
    started = time.monotonic()
    for i in range(updates):
        key = "user-%06d" % rnd.randrange(keys)
        ts = BASE_TS + i
        if i > keys // 10 and rnd.random() < 0.05:
            value, obj = None, {}
        else:
            obj = {"risk_score": rnd.randint(0, 100 * 1024) / 1024,
                   "segment": SEGMENTS[rnd.randrange(len(SEGMENTS))], "n": rnd.randint(0, 10**6)}
            value = json.dumps(obj).encode()
        while True:
            try:
                p.produce(TOPIC, key=key.encode(), value=value, timestamp=ts, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        cols["key"].append(key)
        cols["ts"].append(ts)
        cols["risk_score"].append(obj.get("risk_score"))
        cols["segment"].append(obj.get("segment"))
        cols["n"].append(obj.get("n"))
        cols["deleted"].append(value is None)
    assert p.flush(600) == 0, "undelivered updates"
    elapsed = time.monotonic() - started
    if errors:
        raise SystemExit(f"delivery errors: {errors[:5]}")
    table = pa.table({"key": pa.array(cols["key"], pa.utf8()),
                      "ts": pa.array(cols["ts"], pa.timestamp("ms")),
                      "risk_score": pa.array(cols["risk_score"], pa.float64()),
                      "segment": pa.array(cols["segment"], pa.utf8()),
                      "n": pa.array(cols["n"], pa.int64()),
                      "deleted": pa.array(cols["deleted"], pa.bool_())})
    return updates / elapsed, table


# ------------------------------------------------------------------------------ inputs

EVENT_SCHEMA = pa.schema([("row_id", pa.int64()), ("user_id", pa.utf8()),
                          ("ts", pa.timestamp("ms")), ("label", pa.int64())])


def events(total: int, batch_rows: int, keys: int, ts_lo: int, ts_hi: int, seed: int):
    """Seeded input batches: keys from 110% of the key space (10% never written), timestamps
    uniform over [ts_lo, ts_hi]. The same arguments give the same batches."""
    names = pa.array([f"user-{i:06d}" for i in range(keys + keys // 10)], pa.utf8())
    start, b = 0, 0
    while start < total:
        n = min(batch_rows, total - start)
        r1 = pc.random(n, initializer=seed * 1_000_003 + 3 * b)
        r2 = pc.random(n, initializer=seed * 1_000_003 + 3 * b + 1)
        r3 = pc.random(n, initializer=seed * 1_000_003 + 3 * b + 2)
        idx = pc.cast(pc.floor(pc.multiply(r1, len(names))), pa.int64())
        ts = pc.add(pc.cast(pc.floor(pc.multiply(r2, ts_hi - ts_lo + 1)), pa.int64()), ts_lo)
        label = pc.cast(pc.floor(pc.multiply(r3, 2)), pa.int64())
        yield pa.record_batch([pa.array(range(start, start + n), pa.int64()), pc.take(names, idx),
                               ts.cast(pa.timestamp("ms")), label], schema=EVENT_SCHEMA)
        start += n
        b += 1


# ------------------------------------------------------------------------------ runs

def weir_join(http: str, pid: int, gen) -> dict:
    rss = RssPeak(pid)
    started = time.monotonic()
    post = Post(http, join_path(TOPIC, key="user_id", timestamp="ts"),
                ipc_messages(EVENT_SCHEMA, gen), ARROW, timeout=7200)
    if post.status != 200:
        raise SystemExit(f"as-of-join -> {post.status}: {post.read()[:2000]!r}")
    rows = matched = 0
    first = None
    for batch in pa.ipc.open_stream(post.resp):
        first = first or time.monotonic() - started
        rows += batch.num_rows
        matched += batch.num_rows - batch.column(f"{TOPIC}__offset").null_count
    elapsed = time.monotonic() - started
    post.close()
    return {"rows": rows, "seconds": elapsed, "first": first, "matched": matched,
            "rss": rss.finish()}


def duckdb_join(updates: Path, inputs: Path) -> dict:
    con = duckdb.connect()
    q = (f"SELECT e.*, CASE WHEN u.deleted THEN NULL ELSE u.risk_score END AS risk_score, "
         f"CASE WHEN u.deleted THEN NULL ELSE u.segment END AS segment, "
         f"CASE WHEN u.deleted THEN NULL ELSE u.n END AS n, "
         f"CASE WHEN u.deleted THEN NULL ELSE u.ts END AS context_ts "
         f"FROM read_parquet('{inputs}') e ASOF LEFT JOIN read_parquet('{updates}') u "
         f"ON e.user_id = u.key AND e.ts >= u.ts")
    started = time.monotonic()
    rows = matched = 0
    reader = con.sql(q).to_arrow_reader(1_000_000)
    for batch in reader:
        rows += batch.num_rows
        matched += batch.num_rows - batch.column("context_ts").null_count
    return {"rows": rows, "seconds": time.monotonic() - started, "matched": matched}


def snapshot_export(http: str) -> dict:
    started = time.monotonic()
    with urllib.request.urlopen(f"{http}/v1/tables/{TOPIC}/snapshot", timeout=3600) as r:
        ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip()
        data = r.read()
    rows = sum(b.num_rows for b in pa.ipc.open_stream(pa.py_buffer(data)))
    assert ctype == ARROW, ctype
    return {"rows": rows, "bytes": len(data), "seconds": time.monotonic() - started}


def fmt_rate(n: float, secs: float) -> str:
    return f"{n / secs:,.0f} rows/s ({secs:.1f} s)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--updates", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--join-rows", default="1000000,10000000")
    ap.add_argument("--batch-rows", type=int, default=200_000)
    ap.add_argument("--scratch", default=None)
    ap.add_argument("--keep", type=int, default=0)
    args = ap.parse_args()
    sizes = [int(x) for x in args.join_rows.split(",") if x]

    scratch = Path(tempfile.mkdtemp(prefix="weir-bench-context.", dir=args.scratch))
    kafka_port, http_port = free_port(), free_port()
    bs, http = f"127.0.0.1:{kafka_port}", f"http://127.0.0.1:{http_port}"
    log_file = open(scratch / "broker.log", "wb")
    broker = subprocess.Popen([args.weir, "serve", "--data-dir", str(scratch / "data"),
                               "--listen", bs, "--http", f"127.0.0.1:{http_port}"],
                              stdout=log_file, stderr=log_file)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{http}/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if broker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"broker not ready (see {scratch / 'broker.log'})")
            time.sleep(0.1)
        from weirtest import create_topic
        create_topic(bs, TOPIC, args.partitions, table_config(True))

        log(f"{os.cpu_count()} cores; {args.weir}; loading {args.updates:,} typed updates "
            f"over {args.keys:,} keys into {args.partitions} partitions")
        load_rate, updates = load(bs, args.keys, args.updates, seed=1)
        started = time.monotonic()
        updates_pq = scratch / "updates.parquet"
        pq.write_table(updates, updates_pq)
        export_s = time.monotonic() - started
        ts_lo, ts_hi = BASE_TS - 10_000, BASE_TS + args.updates + 10_000
        del updates

        results = []
        for n in sizes:
            log(f"as-of-join of {n:,} rows (batches of {args.batch_rows:,})")
            w = weir_join(http, broker.pid, events(n, args.batch_rows, args.keys, ts_lo, ts_hi, seed=n))
            assert w["rows"] == n, f"weir answered {w['rows']} rows for {n}"
            inputs_pq = scratch / f"events-{n}.parquet"
            with pq.ParquetWriter(inputs_pq, EVENT_SCHEMA) as pw:
                for batch in events(n, args.batch_rows, args.keys, ts_lo, ts_hi, seed=n):
                    pw.write_batch(batch)
            log(f"DuckDB ASOF JOIN of {n:,} rows")
            d = duckdb_join(updates_pq, inputs_pq)
            inputs_pq.unlink()
            results.append((n, w, d))
        log("snapshot export")
        rss = RssPeak(broker.pid)
        snap = snapshot_export(http)
        snap_rss = rss.finish()
    finally:
        broker.terminate()
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            broker.kill()
        log_file.close()
        if args.keep:
            log(f"scratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(f"context store, {os.cpu_count()} cores, {Path(args.weir).resolve()}")
    print(f"table: {args.updates:,} typed updates over {args.keys:,} keys, {args.partitions} partitions; "
          f"load {load_rate:,.0f} updates/s (confluent-kafka, acks=1); Parquet export {export_s:.1f} s")
    print()
    head = ("input rows", "weir as-of-join", "first batch", "broker RSS peak", "DuckDB ASOF JOIN (Parquet)",
            "matched weir / DuckDB")
    rows = [head]
    for n, w, d in results:
        agree = "" if w["matched"] == d["matched"] else "  MISMATCH"
        rows.append((f"{n:,}", fmt_rate(w["rows"], w["seconds"]), f"{(w['first'] or 0) * 1000:.0f} ms",
                     f"{w['rss']:.0f} MiB", fmt_rate(d["rows"], d["seconds"]),
                     f"{w['matched']:,} / {d['matched']:,}{agree}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
    print()
    mb = snap["bytes"] / 1e6
    print(f"snapshot export: {snap['rows']:,} rows, {mb:.1f} MB of Arrow IPC in {snap['seconds']:.2f} s: "
          f"{mb / snap['seconds']:.1f} MB/s, {snap['rows'] / snap['seconds']:,.0f} rows/s; "
          f"broker RSS peak {snap_rss:.0f} MiB")
    if any(w["matched"] != d["matched"] for _, w, d in results):
        raise SystemExit("weir and DuckDB matched different numbers of rows")


if __name__ == "__main__":
    main()
