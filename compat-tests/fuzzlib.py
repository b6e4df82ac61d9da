"""Hostile-input machinery shared by test_fuzz.py, test_request_attacks.py and scripts/fuzz.sh.

- A corpus of real client request frames (compat-tests/corpus/*.bin: Kafka wire framing, one
  length-prefixed request after another), captured by `python fuzzlib.py capture` through a
  recording TCP proxy placed in front of a broker that advertises the proxy's address, so
  every client connection (bootstrap and per-broker) passes through it.
- A seeded mutator: frame `i` of seed `s` depends only on (corpus, s, i), so any frame a run
  sent can be rebuilt with `python fuzzlib.py frame SEED INDEX`.
- `Blaster`: sends frames over many pipelined connections. After every frame it sends an
  ApiVersions probe with its own correlation id; the probe's answer proves the broker
  consumed the frame and kept the connection. A close (or no progress for `stall_s`) is
  charged to the oldest unconfirmed frame; frames queued behind it are resent on a new
  connection. So every frame is counted exactly once: answered-or-ignored, closed, or stalled.
"""

from __future__ import annotations

import collections
import random
import re
import selectors
import socket
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rawkafka import uvarint

COMPAT = Path(__file__).resolve().parent
CORPUS = COMPAT / "corpus"
PROBE_BASE = 0x5EED0000  # probe correlation ids; captured clients use small ones


# ---------------------------------------------------------------------- framing, corpus

def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def split_frames(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos + 4 <= len(data):
        (n,) = struct.unpack_from(">i", data, pos)
        if n < 0 or pos + 4 + n > len(data):
            break
        out.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def load_corpus(directory: Path = CORPUS) -> list[bytes]:
    frames: list[bytes] = []
    for f in sorted(directory.glob("*.bin")):
        frames += split_frames(f.read_bytes())
    return frames


def api_of(payload: bytes) -> tuple[int, int]:
    return struct.unpack_from(">hh", payload, 0) if len(payload) >= 4 else (-1, -1)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def extremes(remaining: int) -> list[bytes]:
    """Every extreme encoding of a count or length for a field with `remaining` bytes after it."""
    past = remaining + 1
    return [
        struct.pack(">I", 0x7FFFFFFF), struct.pack(">I", 0xFFFFFFFE), struct.pack(">I", 0x80000000),
        struct.pack(">I", past & 0xFFFFFFFF),
        struct.pack(">H", 0x7FFF), struct.pack(">H", 0xFFFE), struct.pack(">H", 0x8000),
        struct.pack(">H", min(past, 0x7FFF)),
        uvarint(2**32 - 1), uvarint(2**32 - 2), uvarint(2**31), uvarint(past + 1),
    ]


# ---------------------------------------------------------------------- mutator

MUTATIONS = ("bitflip", "overwrite", "truncate", "splice", "prefix", "inner_length",
             "extreme", "duplicate")


def mutate(corpus: list[bytes], seed: int, index: int) -> tuple[bytes, str]:
    """Wire bytes (length prefix included) of mutated frame `index` of run `seed`, and a
    description of the mutations applied."""
    rnd = random.Random(f"{seed}:{index}")
    base = bytearray(corpus[rnd.randrange(len(corpus))])
    prefix: int | None = None
    ops = []
    for _ in range(rnd.choice((1, 1, 1, 2, 3))):
        op = rnd.choice(MUTATIONS)
        ops.append(op)
        n = len(base)
        if op == "bitflip" and n:
            for _ in range(rnd.randint(1, 4)):
                base[rnd.randrange(n)] ^= 1 << rnd.randrange(8)
        elif op == "overwrite" and n:
            for _ in range(rnd.randint(1, 4)):
                base[rnd.randrange(n)] = rnd.randrange(256)
        elif op == "truncate" and n:
            del base[rnd.randrange(n):]
        elif op == "splice":
            other = corpus[rnd.randrange(len(corpus))]
            base = base[:rnd.randint(0, n)] + other[rnd.randint(0, len(other)):]
        elif op == "prefix":
            prefix = rnd.choice((n - 1, n + 1, n + rnd.randint(2, 64), max(0, n - rnd.randint(2, 64)),
                                 0, rnd.randint(0, 16)))
        elif op == "inner_length" and n > 8:
            # A plausible length for a field at pos: exactly what remains, or just past it.
            pos = rnd.randrange(8, n)
            rem = n - pos - rnd.choice((2, 4))
            val = max(0, rem + rnd.choice((-1, 0, 1, 2)))
            enc = rnd.choice((struct.pack(">i", val), struct.pack(">h", min(val, 0x7FFF)),
                              uvarint(val + 1)))
            base[pos:pos + len(enc)] = enc
        elif op == "extreme":
            pos = rnd.randint(0, n)
            enc = rnd.choice(extremes(n - pos))
            if rnd.random() < 0.5:
                base[pos:pos + len(enc)] = enc
            else:
                base[pos:pos] = enc
        elif op == "duplicate" and n:
            a = rnd.randrange(n)
            b = rnd.randint(a, min(n, a + 64))
            at = rnd.randint(0, n)
            base[at:at] = base[a:b]
    payload = bytes(base)
    length = len(payload) if prefix is None else prefix
    return struct.pack(">i", length) + payload, "+".join(ops)


# ---------------------------------------------------------------------- blaster

def probe_frame(corr: int) -> bytes:
    """ApiVersions v0 (header v1, client id "p", empty body)."""
    return frame(struct.pack(">hhih", 18, 0, corr, 1) + b"p")


@dataclass
class Stats:
    frames: int = 0        # frames whose fate is known (each counted once)
    confirmed: int = 0     # the broker consumed the frame and kept the connection
    responses: int = 0     # responses to the frames themselves (not probes)
    closes: int = 0        # the broker closed the connection on the frame
    stalls: int = 0        # no progress for stall_s: connection abandoned by us
    desync: int = 0        # frames whose length prefix lies: sent last on a half-closed connection
    connects: int = 0
    seconds: float = 0.0
    max_rss_kib: int = 0

    def line(self) -> str:
        rate = self.frames / self.seconds if self.seconds else 0.0
        return (f"{self.frames} frames in {self.seconds:.1f}s ({rate:.0f}/s): "
                f"{self.confirmed} kept the connection, {self.closes} closed it "
                f"(of which {self.desync} with a lying length prefix), {self.stalls} stalled; "
                f"{self.responses} responses; {self.connects} connections; "
                f"max RSS {self.max_rss_kib / 1024:.1f} MiB")


def _lies(wire: bytes) -> bool:
    """The frame's length prefix does not match its payload."""
    return struct.unpack_from(">i", wire, 0)[0] != len(wire) - 4


class _Conn:
    def __init__(self, addr, sel, last: bool = False):
        self.sock = socket.create_connection(addr, timeout=10)
        self.sock.setblocking(False)
        self.out = bytearray()
        self.inb = bytearray()
        self.inflight: collections.deque = collections.deque()  # (index, wire, probe_corr)
        self.progress = time.monotonic()
        self.last = last  # carries one lying frame, then we half-close
        self.shut = False
        sel.register(self.sock, selectors.EVENT_READ, self)


class Blaster:
    """Sends `(index, wire)` items and records the fate of each (see the module docstring).

    A frame whose length prefix lies would make the rest of a pipelined connection
    meaningless (or wait for bytes that never come), so it travels alone on its own connection,
    which we half-close after it: the broker sees the end of the stream and closes."""

    def __init__(self, bootstrap: str, conns: int = 24, window: int = 8, stall_s: float = 3.0,
                 history: int = 64, record_fates: bool = False, lone_conns: int = 16):
        host, port = bootstrap.rsplit(":", 1)
        self.addr = (host, int(port))
        self.nconns, self.window, self.stall_s, self.lone = conns, window, stall_s, lone_conns
        self.fates: dict | None = {} if record_fates else None  # index -> ok|close|stall
        self.stats = Stats()
        self.recent: collections.deque = collections.deque(maxlen=history)  # (index, wire)
        self._probe = 0
        self._conns: list[_Conn] = []

    def inflight(self) -> list:
        """(index, wire) of every frame sent whose fate is unknown, e.g. when the broker died."""
        return [(i, w) for c in self._conns for (i, w, _) in c.inflight]

    def run(self, items, check=None, check_every: int = 2000) -> Stats:
        """Send every item; `check(stats)` runs every `check_every` frames (raise to stop)."""
        items = iter(items)
        sel = selectors.DefaultSelector()
        requeue: collections.deque = collections.deque()
        lying: collections.deque = collections.deque()
        self._conns = []
        exhausted = False
        next_check = check_every
        start = time.monotonic()
        s = self.stats

        def settle(conn: _Conn, why: str) -> None:
            # The oldest unconfirmed frame caused the close/stall; the rest go round again.
            if conn.inflight:
                idx, wire, _ = conn.inflight.popleft()
                s.frames += 1
                if why == "close":
                    s.closes += 1
                    s.desync += conn.last
                else:
                    s.stalls += 1
                self.recent.append((idx, wire))
                if self.fates is not None:
                    self.fates[idx] = why
                requeue.extendleft((i, w) for (i, w, _) in reversed(conn.inflight))
                conn.inflight.clear()
            sel.unregister(conn.sock)
            conn.sock.close()
            self._conns.remove(conn)

        def take():
            nonlocal exhausted
            while True:
                if requeue:
                    item = requeue.popleft()
                elif not exhausted:
                    try:
                        item = next(items)
                    except StopIteration:
                        exhausted = True
                        return None
                else:
                    return None
                if not _lies(item[1]):
                    return item
                lying.append(item)

        try:
            while True:
                while lying and sum(c.last for c in self._conns) < self.lone:
                    idx, wire = lying.popleft()
                    c = _Conn(self.addr, sel, last=True)
                    s.connects += 1
                    c.out += wire
                    c.inflight.append((idx, wire, None))
                    self._conns.append(c)
                while sum(not c.last for c in self._conns) < self.nconns and (requeue or not exhausted):
                    self._conns.append(_Conn(self.addr, sel))
                    s.connects += 1
                for c in self._conns:
                    while not c.last and len(c.inflight) < self.window:
                        item = take()
                        if item is None:
                            break
                        idx, wire = item
                        self._probe += 1
                        corr = PROBE_BASE + self._probe
                        c.out += wire + probe_frame(corr)
                        if not c.inflight:
                            c.progress = time.monotonic()
                        c.inflight.append((idx, wire, corr))
                    if c.out:
                        try:
                            sent = c.sock.send(c.out)
                            del c.out[:sent]
                        except (BlockingIOError, InterruptedError):
                            pass
                        except OSError:
                            pass  # the read side sees the close
                    if c.last and not c.out and not c.shut:
                        c.shut = True
                        try:
                            c.sock.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                if (exhausted and not requeue and not lying
                        and not any(c.inflight for c in self._conns)):
                    break
                for key, _ in sel.select(timeout=0.05):
                    c = key.data
                    try:
                        data = c.sock.recv(1 << 20)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        settle(c, "close")
                        continue
                    c.inb += data
                    pos = 0
                    while len(c.inb) - pos >= 8:
                        (n,) = struct.unpack_from(">i", c.inb, pos)
                        if len(c.inb) - pos - 4 < n:
                            break
                        (corr,) = struct.unpack_from(">i", c.inb, pos + 4)
                        pos += 4 + n
                        if c.inflight and corr == c.inflight[0][2]:
                            idx, wire, _ = c.inflight.popleft()
                            s.frames += 1
                            s.confirmed += 1
                            self.recent.append((idx, wire))
                            if self.fates is not None:
                                self.fates[idx] = "ok"
                            c.progress = time.monotonic()
                        else:
                            s.responses += 1
                    del c.inb[:pos]
                now = time.monotonic()
                for c in list(self._conns):
                    if (c.inflight or c.last) and now - c.progress > self.stall_s:
                        settle(c, "stall")
                if check is not None and s.frames >= next_check:
                    next_check = s.frames + check_every
                    s.seconds = time.monotonic() - start
                    check(s)
        finally:
            s.seconds = time.monotonic() - start
            for c in self._conns:
                c.sock.close()
        return s


# ---------------------------------------------------------------------- verdicts

BAD_LOG = re.compile(r"panicked|memory allocation of|stack overflow|fatal runtime error|SIGSEGV|SIGABRT")


def bad_log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if BAD_LOG.search(line)]


class Watch:
    """The `check` callback of Blaster.run: the broker is alive and its RSS within budget."""

    def __init__(self, broker, budget_mib: int):
        self.broker, self.pid = broker, broker.proc.pid
        self.base_kib = rss_kib(self.pid)
        self.max_kib = self.base_kib
        self.budget_kib = budget_mib * 1024

    def __call__(self, stats: Stats | None = None) -> None:
        assert self.broker.alive(), f"broker died (exit code {self.broker.proc.returncode})"
        rss = rss_kib(self.pid)
        self.max_kib = max(self.max_kib, rss)
        if stats is not None:
            stats.max_rss_kib = self.max_kib
        assert rss <= self.base_kib + self.budget_kib, (
            f"RSS {rss / 1024:.0f} MiB > base {self.base_kib / 1024:.0f} MiB "
            f"+ {self.budget_kib / 1024:.0f} MiB")


def failure_report(blaster: Blaster, out: Path, describe) -> str:
    """Writes the frames in flight and the last frames settled to `out`, one hex line each
    (wire bytes, length prefix included), and returns the in-flight ones as text: the frame
    that hurt the broker is among them."""
    lines = []
    for tag, items in (("in flight", blaster.inflight()), ("recently settled", list(blaster.recent))):
        for idx, wire in items:
            lines.append(f"{tag} #{idx} [{describe(idx)}] {wire.hex()}")
    out.write_text("\n".join(lines) + "\n")
    shown = [ln[:600] for ln in lines if ln.startswith("in flight")][:40]
    return f"frames written to {out}; in flight (first 40, hex truncated):\n" + "\n".join(shown)


# ---------------------------------------------------------------------- capture

def _pump(src: socket.socket, dst: socket.socket, record) -> None:
    buf = bytearray()
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            if record is not None:
                buf += data
                while len(buf) >= 4:
                    (n,) = struct.unpack_from(">i", buf, 0)
                    if len(buf) < 4 + n:
                        break
                    record(bytes(buf[4:4 + n]))
                    del buf[:4 + n]
    except OSError:
        pass
    finally:
        for sck in (src, dst):
            try:
                sck.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class RecordingProxy:
    """Forwards loopback TCP to `upstream` and records every client->broker frame under the
    current `label`."""

    def __init__(self, upstream: tuple[str, int], port: int):
        import threading
        self.upstream, self.label = upstream, "none"
        self.frames: dict[str, list[bytes]] = collections.defaultdict(list)
        self.lock = threading.Lock()
        self.srv = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _record(self, payload: bytes) -> None:
        with self.lock:
            self.frames[self.label].append(payload)

    def _accept(self) -> None:
        import threading
        while True:
            try:
                cl, _ = self.srv.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            threading.Thread(target=_pump, args=(cl, up, self._record), daemon=True).start()
            threading.Thread(target=_pump, args=(up, cl, None), daemon=True).start()


def capture(out_dir: Path = CORPUS) -> dict[str, int]:
    """Runs real clients through a RecordingProxy and writes corpus/<client>.bin."""
    import subprocess
    import tempfile
    sys.path.insert(0, str(COMPAT))
    import conftest
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

    work = Path(tempfile.mkdtemp(prefix="weir-capture-"))
    bport, pport, hport = conftest.free_port(), conftest.free_port(), conftest.free_port()
    proxy = RecordingProxy(("127.0.0.1", bport), pport)
    broker = conftest.Broker(work, port=bport, use_flags=False, extra_args=[
        "--data-dir", str(work / "data"), "--listen", f"127.0.0.1:{bport}",
        "--advertised", f"127.0.0.1:{pport}", "--http", f"127.0.0.1:{hport}"])
    broker.http_port = hport
    broker.start()
    boot = f"127.0.0.1:{pport}"
    try:
        proxy.label = "confluent"
        a = AdminClient({"bootstrap.servers": boot})
        topics = ["fz-log", "fz-table", "fz-gone"]
        for f in a.create_topics([NewTopic("fz-log", 3, 1, config={"retention.ms": "600000"}),
                                  NewTopic("fz-table", 1, 1, config={"cleanup.policy": "compact"}),
                                  NewTopic("fz-gone", 1, 1)]).values():
            f.result(30)
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            for acks in ("all", "1", "0"):
                p = Producer({"bootstrap.servers": boot, "compression.type": codec, "acks": acks,
                              "linger.ms": 20, "enable.idempotence": acks == "all"})
                for i in range(20):
                    p.produce(topics[i % 2], key=f"k{i}".encode(), value=f"{codec}-{i}".encode() * 5,
                              headers=[("h", b"v")] if i % 3 else None)
                p.flush(30)
        c = Consumer({"bootstrap.servers": boot, "group.id": "fz-group", "auto.offset.reset": "earliest",
                      "enable.auto.commit": True, "auto.commit.interval.ms": 200})
        c.subscribe(["fz-log", "fz-table"])
        got, deadline = 0, time.monotonic() + 30
        while got < 60 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        c.commit(asynchronous=False)
        c.close()
        for f in a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "fz-log")]).values():
            f.result(30)
        a.list_topics(timeout=10)
        [f.result(30) for f in a.create_partitions([NewPartitions("fz-log", 4)]).values()]
        a.list_consumer_groups().result(30)
        [f.result(30) for f in a.describe_consumer_groups(["fz-group"]).values()]
        a.delete_records([TopicPartition("fz-log", 0, 1)])
        [f.result(30) for f in a.delete_topics(["fz-gone"]).values()]

        proxy.label = "kcat"
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            subprocess.run(["kcat", "-P", "-b", boot, "-t", "fz-log", "-z", codec, "-K:"],
                           input=b"".join(b"k%d:v-%s-%d\n" % (i, codec.encode(), i) for i in range(10)),
                           check=True, timeout=60)
        subprocess.run(["kcat", "-C", "-b", boot, "-t", "fz-log", "-e", "-q"], check=True, timeout=60,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["kcat", "-L", "-b", boot], check=True, timeout=60, stdout=subprocess.DEVNULL)

        proxy.label = "kafka-python"
        import kafka
        for codec in (None, "gzip", "snappy", "lz4"):
            kp = kafka.KafkaProducer(bootstrap_servers=boot, compression_type=codec)
            for i in range(10):
                kp.send("fz-log", key=b"k%d" % i, value=b"kp-%d" % i, headers=[("a", b"b")])
            kp.flush(30)
            kp.close()
        kc = kafka.KafkaConsumer("fz-log", bootstrap_servers=boot, group_id="fz-kp",
                                 auto_offset_reset="earliest", consumer_timeout_ms=3000)
        for _ in kc:
            pass
        kc.commit()
        kc.close()

        proxy.label = "java"
        import javatest
        build = javatest.compile_java(work / "java", [javatest.SRC / "WeirCompat.java"])
        for codec in ("none", "zstd"):
            r = subprocess.run(["java", "-cp", javatest.classpath(build), "WeirCompat", boot,
                                f"fz-java-{codec}", "30", codec], capture_output=True, timeout=300)
            assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    finally:
        broker.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for label, frames in proxy.frames.items():
        seen, uniq = set(), []
        for f in frames:
            if f not in seen:
                seen.add(f)
                uniq.append(f)
        (out_dir / f"{label}.bin").write_bytes(b"".join(frame(f) for f in uniq))
        counts[label] = len(uniq)
    return counts


# ---------------------------------------------------------------------- CLI

def main(argv: list[str]) -> int:
    if argv[:1] == ["capture"]:
        for label, n in capture().items():
            print(f"{label}: {n} frames")
        return 0
    if argv[:1] == ["frame"] and len(argv) == 3:
        wire, ops = mutate(load_corpus(), int(argv[1]), int(argv[2]))
        print(ops)
        print(wire.hex())
        return 0
    print("usage: fuzzlib.py capture | frame SEED INDEX", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
