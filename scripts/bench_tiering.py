"""Tiering benchmark driver (run by scripts/bench-tiering.sh).

For each object store (the local-filesystem store and SeaweedFS over S3), a fresh release
broker gets one topic with `segment.bytes=SEGMENT_MB` and `local.retention.bytes=1`:

1. `rdkafka_performance` produces MB megabytes of 1 KiB messages (acks=1) — one repeated
   byte, which zstd shrinks ~100x; with `--payload random` confluent-kafka produces random
   (incompressible) 1 KiB values instead, so conversion and upload move real bytes;
2. the tiering backlog is polled (`GET /v1/topics/T/storage`) until every closed segment is
   uploaded and deleted locally: the upload throughput is the log bytes tiered divided by the
   time from the first produced message to the empty backlog, and, per segment, log bytes
   divided by the summed `weir_tiering_upload_seconds`;
3. `rdkafka_performance -C` reads the tiered offsets back from offset 0 twice (every fetch is
   a remote read: the local segments are gone): remote read throughput, MB/s.

MB = 10^6 bytes. Prints one summary table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "compat-tests"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def perf_mbps(out: str, verb: str) -> tuple[int, float, float]:
    """(messages, MB/s, seconds) from rdkafka_performance's summary line."""
    # "% N messages (B bytes) consumed in T ms: ..." or
    # "% N messages produced (B bytes), D delivered (...) in T ms: ..."; the last one counts.
    pattern = (rf"% (\d+) messages \((\d+) bytes\) {verb} in (\d+)ms"
               if verb == "consumed" else
               rf"% (\d+) messages {verb} \((\d+) bytes\)[^\n]* in (\d+)ms")
    m = None
    for m in re.finditer(pattern, out):
        pass
    if m is None:
        raise SystemExit(f"no '{verb}' summary in rdkafka_performance output:\n{out[-2000:]}")
    n, b, ms = int(m.group(1)), int(m.group(2)), int(m.group(3))
    return n, b / 1e6 / (ms / 1000), ms / 1000


def produce_random(boot: str, topic: str, count: int) -> float:
    """Produces `count` random 1000-byte values with confluent-kafka (acks=1); MB/s."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": boot, "acks": 1, "linger.ms": 5,
                  "batch.size": 1 << 20, "queue.buffering.max.kbytes": 1 << 20})
    started = time.monotonic()
    for _ in range(count):
        while True:
            try:
                p.produce(topic, os.urandom(1000), partition=0)
                break
            except BufferError:
                p.poll(0.01)
    if p.flush(600) != 0:
        raise SystemExit("random payload: messages left undelivered")
    return count * 1000 / 1e6 / (time.monotonic() - started)


def run_store(kind: str, args, scratch: Path) -> dict:
    env = dict(os.environ, WEIR_MAINTENANCE_INTERVAL_MS="200", WEIR_LOG="warn")
    server = None
    if kind == "s3":
        from s3server import SeaweedS3
        server = SeaweedS3(scratch / "s3").start()
        env.update(server.env())
        url = server.url("bench")
    else:
        url = f"file://{scratch / 'remote'}"
    port, http = free_port(), free_port()
    boot = f"127.0.0.1:{port}"
    broker = subprocess.Popen(
        [args.weir, "serve", "--data-dir", str(scratch / "data"), "--listen", boot,
         "--http", f"127.0.0.1:{http}", "--object-store", url],
        env=env, stdout=open(scratch / "weir.log", "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                if http_get(f"http://127.0.0.1:{http}/ready").startswith("ready"):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        topic = "bench"
        subprocess.run([args.weir, "topic", "create", topic, "--bootstrap", boot,
                        "--config", f"segment.bytes={args.segment_mb * 1_000_000}",
                        "--config", "local.retention.bytes=1"], check=True,
                       stdout=subprocess.DEVNULL)
        count = args.mb * 1000  # 1 KiB = 1000 B messages
        started = time.monotonic()
        if args.payload == "random":
            produce_mbps = produce_random(boot, topic, count)
        else:
            out = subprocess.run([args.perf, "-P", "-t", topic, "-p", "0", "-b", boot,
                                  "-s", "1000", "-c", str(count), "-a", "1", "-X", "linger.ms=5"],
                                 capture_output=True, text=True, timeout=1800).stdout
            _, produce_mbps, _ = perf_mbps(out, "produced")
        storage_url = f"http://127.0.0.1:{http}/v1/topics/{topic}/storage"
        while True:
            p = json.loads(http_get(storage_url))["partitions"][0]
            if p["pending_upload_segments"] == 0 and p["local_segments"] <= 2 \
                    and p["remote_segments"] > 0:
                break
            if time.monotonic() - started > 1800:
                raise SystemExit(f"backlog did not drain: {p}")
            time.sleep(0.2)
        tiered_s = time.monotonic() - started
        metrics = http_get(f"http://127.0.0.1:{http}/metrics")
        upload_s = metric_sum(metrics, "weir_tiering_upload_seconds_sum")
        if server is not None:
            manifest = json.loads(server.get(f"bench/{topic}/0/manifest.json"))
        else:
            manifest = json.loads((scratch / "remote" / topic / "0" / "manifest.json").read_text())
        log_bytes = sum(s["log_bytes"] for s in manifest["segments"])
        arrow_bytes = sum(s["size_bytes"] for s in manifest["segments"])
        remote_records = p["remote_end_offset"]
        rss_after_upload = rss_mib(broker.pid)
        reads = []
        for _ in range(2):
            out = subprocess.run([args.perf, "-C", "-t", topic, "-p", "0", "-b", boot,
                                  "-o", "beginning", "-c", str(remote_records), "-e"],
                                 capture_output=True, text=True, timeout=1800).stdout
            reads.append(perf_mbps(out, "consumed"))
        return {
            "store": "local filesystem" if kind == "file" else "SeaweedFS (S3)",
            "produce_mbps": produce_mbps,
            "log_mb": log_bytes / 1e6,
            "arrow_mb": arrow_bytes / 1e6,
            "segments": len(manifest["segments"]),
            "upload_wall_mbps": log_bytes / 1e6 / tiered_s,
            "upload_per_segment_mbps": log_bytes / 1e6 / upload_s if upload_s else float("nan"),
            "read_mbps": [r[1] for r in reads],
            "read_records": remote_records,
            "rss_mib": max(rss_after_upload, rss_mib(broker.pid)),
        }
    finally:
        broker.terminate()
        broker.wait(timeout=60)
        if server is not None:
            server.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--perf", required=True)
    ap.add_argument("--mb", type=int, default=1000)
    ap.add_argument("--segment-mb", type=int, default=64)
    ap.add_argument("--stores", default="file,s3")
    ap.add_argument("--scratch", default=None)
    ap.add_argument("--payload", choices=["repeated", "random"], default="repeated")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(dir=args.scratch, prefix="weir-bench-tiering.") as tmp:
        for kind in args.stores.split(","):
            scratch = Path(tmp) / kind
            scratch.mkdir()
            print(f"[bench-tiering] {kind}: producing {args.mb} MB ...", file=sys.stderr)
            results.append(run_store(kind, args, scratch))
    print()
    producer = ("confluent-kafka, random values" if args.payload == "random"
                else "rdkafka_performance, one repeated byte")
    print(f"Tiering: {args.mb} MB of 1 KB messages ({producer}), segment.bytes={args.segment_mb} "
          "MB, local.retention.bytes=1, acks=1; MB = 10^6 bytes")
    print(f"{'store':<18} {'produce':>9} {'log MB':>8} {'arrow MB':>9} {'segs':>5} "
          f"{'upload wall':>12} {'upload/seg':>11} {'remote read':>12} {'re-read':>9} {'RSS MiB':>8}")
    for r in results:
        print(f"{r['store']:<18} {r['produce_mbps']:>7.1f}/s {r['log_mb']:>8.1f} "
              f"{r['arrow_mb']:>9.1f} {r['segments']:>5} {r['upload_wall_mbps']:>10.1f}/s "
              f"{r['upload_per_segment_mbps']:>9.1f}/s {r['read_mbps'][0]:>10.1f}/s "
              f"{r['read_mbps'][1]:>7.1f}/s {r['rss_mib']:>8.0f}")
    print("upload wall: log MB / (first produced message -> backlog empty); upload/seg: log MB / "
          "summed weir_tiering_upload_seconds; remote read / re-read: rdkafka_performance -C "
          "from offset 0 over the tiered records (local segments deleted), MB/s of messages")


if __name__ == "__main__":
    main()
