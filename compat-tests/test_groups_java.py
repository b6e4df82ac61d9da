"""Java kafka-clients 3.9.1 consumer groups against Weir (java/GroupConsumer.java,
java/GroupAdmin.java).

Three KafkaConsumers (separate JVMs, subscribe, commitSync after each poll) share a
6-partition topic; one closes (LeaveGroup), one is SIGKILLed (evicted after its session
timeout), one joins. Every produced record is processed at least once and nothing else is
processed; after a broker restart the group resumes exactly at its committed offsets.
Eager (RangeAssignor) and CooperativeStickyAssignor.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from conftest import COMPAT, unique_topic
from javatest import SRC, classpath, compile_java
from weirtest import Rec, admin, consumer, create_topic, produce

BUILD = COMPAT / ".build" / "java-groups"
PARTS = 6

@pytest.fixture(scope="module")
def compiled() -> Path:
    return compile_java(BUILD, [SRC / "GroupConsumer.java", SRC / "GroupAdmin.java"])


def java_cmd(compiled: Path, main: str, *args) -> list[str]:
    return ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp", classpath(compiled), main, *map(str, args)]


class JavaConsumer:
    """A GroupConsumer JVM whose stdout is parsed as it arrives."""

    def __init__(self, name, compiled, bootstrap, topic, group, strategy, mode="run", n=None,
                 logdir: Path | None = None):
        self.name = name
        args = [bootstrap, topic, group, strategy, mode] + ([n] if n is not None else [])
        self.err_path = (logdir or Path("/tmp")) / f"{name}.stderr.log"
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(java_cmd(compiled, "GroupConsumer", *args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.lock = threading.Lock()
        self.records: list[tuple[int, int, str]] = []
        self.owned: list[int] | None = None
        self.lines: list[str] = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.lock:
                self.lines.append(line)
                if line.startswith("REC "):
                    _, p, o, v = line.split(" ", 3)
                    self.records.append((int(p), int(o), v))
                elif line.startswith("OWNED"):
                    rest = line[len("OWNED"):].strip()
                    self.owned = [int(x) for x in rest.split(",")] if rest else []

    def values(self) -> set[str]:
        with self.lock:
            return {v for _, _, v in self.records}

    def close(self, timeout=60):
        self.proc.stdin.write(b"close\n")
        self.proc.stdin.flush()
        rc = self.proc.wait(timeout=timeout)
        self.t.join(10)
        assert rc == 0, f"{self.name} exited {rc}\n{self.describe()}"
        assert self.lines[-1] == "CLOSED", self.describe()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def wait(self, timeout):
        rc = self.proc.wait(timeout=timeout)
        self.t.join(10)
        return rc

    def stop_quietly(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.err.close()

    def describe(self) -> str:
        with self.lock:
            tail = "\n".join([l for l in self.lines if not l.startswith("REC ")][-30:])
        try:
            err = self.err_path.read_text("utf-8", "replace")[-4000:]
        except OSError:
            err = ""
        return (f"--- {self.name}: {len(self.records)} records, owned={self.owned}, "
                f"rc={self.proc.poll()}\n{tail}\n--- stderr tail\n{err}")


def wait_until(pred, timeout, what, consumers):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        for c in consumers:
            if c.proc.poll() is not None and c.proc.returncode not in (0, -9):
                raise AssertionError(f"{c.name} died during '{what}'\n{c.describe()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for: {what}\n"
                         + "\n".join(c.describe() for c in consumers))


def owners_cover(consumers) -> bool:
    """Every consumer owns >= 1 partition, ownership is disjoint and covers all."""
    owned = [c.owned for c in consumers]
    if any(not o for o in owned):
        return False
    flat = [p for o in owned for p in o]
    return sorted(flat) == list(range(PARTS))


def phase_records(phase: int, n: int) -> list[Rec]:
    return [Rec(f"k{phase}-{i}".encode(), f"p{phase}-{i}".encode(), None, None, i % PARTS)
            for i in range(n)]


def committed(bootstrap, group, topic) -> dict[int, int]:
    a = admin(bootstrap)
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTS)])
    res = a.list_consumer_group_offsets([req], request_timeout=30)[group].result(timeout=60)
    return {tp.partition: tp.offset for tp in res.topic_partitions}


def high_watermarks(bootstrap, topic) -> dict[int, int]:
    c = consumer(bootstrap)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(PARTS)}
    finally:
        c.close()


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_java_group_leave_kill_join_restart(broker_factory, compiled, tmp_path, strategy):
    b = broker_factory(env={"WEIR_GROUP_MIN_SESSION_TIMEOUT_MS": "1000"})
    topic = unique_topic(f"jg-{strategy}")
    group = f"grp-{topic}"
    create_topic(b.bootstrap, topic, partitions=PARTS)
    produced: set[str] = set()

    def phase(n_phase, n):
        recs = phase_records(n_phase, n)
        produce(b.bootstrap, topic, recs)
        vals = {r.value.decode() for r in recs}
        produced.update(vals)
        return vals

    everyone: list[JavaConsumer] = []

    def start(name, **kw):
        c = JavaConsumer(name, compiled, b.bootstrap, topic, group, strategy, logdir=tmp_path, **kw)
        everyone.append(c)
        return c

    def processed() -> set[str]:
        out = set()
        for c in everyone:
            out |= c.values()
        return out

    try:
        v1 = phase(1, 300)
        c1, c2, c3 = start("c1"), start("c2"), start("c3")
        wait_until(lambda: owners_cover([c1, c2, c3]), 90, "3 members share the 6 partitions",
                   everyone)
        wait_until(lambda: v1 <= processed(), 90, "phase 1 processed", everyone)

        c1.close()  # graceful: commit + LeaveGroup
        wait_until(lambda: owners_cover([c2, c3]), 60, "c2+c3 own all after c1 left", everyone)
        v2 = phase(2, 120)
        wait_until(lambda: v2 <= processed(), 60, "phase 2 processed", everyone)

        c2.kill()  # crash: evicted only after session.timeout.ms (6 s)
        v3 = phase(3, 120)
        wait_until(lambda: v3 <= processed(), 90, "phase 3 processed after c2's eviction",
                   everyone)
        wait_until(lambda: owners_cover([c3]), 60, "c3 owns all partitions", everyone)

        c4 = start("c4")
        wait_until(lambda: owners_cover([c3, c4]), 90, "c3+c4 share the partitions", everyone)
        v4 = phase(4, 120)
        wait_until(lambda: v4 <= processed(), 60, "phase 4 processed", everyone)
        c3.close()
        c4.close()

        got = processed()
        assert got == produced, (f"processed set differs: missing {sorted(produced - got)[:10]}, "
                                 f"unexpected {sorted(got - produced)[:10]}")
        hw = high_watermarks(b.bootstrap, topic)
        assert sum(hw.values()) == len(produced)
        assert committed(b.bootstrap, group, topic) == hw, "committed offsets != log end offsets"

        # Restart the broker on the same data dir; the group resumes at its commits.
        b.restart(crash=False)
        assert committed(b.bootstrap, group, topic) == hw, "committed offsets lost in restart"
        v5 = phase(5, 60)
        c5 = start("c5", mode="resume", n=60)
        rc = c5.wait(timeout=120)
        assert rc == 0, c5.describe()
        got5 = [v for _, _, v in c5.records]
        assert sorted(got5) == sorted(v5), (
            f"resumed consumer read {len(got5)} records, want exactly the 60 of phase 5; "
            f"unexpected: {sorted(set(got5) - v5)[:10]}")
        first = {}
        for p, o, _ in c5.records:
            first.setdefault(p, o)
        assert first == {p: hw[p] for p in range(PARTS)}, \
            f"resume offsets {first} != committed {hw}"
        assert committed(b.bootstrap, group, topic) == high_watermarks(b.bootstrap, topic)
    finally:
        for c in everyone:
            c.stop_quietly()


def test_java_admin_groups(broker, compiled):
    topic = unique_topic("jga")
    group = f"grp-{topic}"
    p = subprocess.run(java_cmd(compiled, "GroupAdmin", broker.bootstrap, topic, group),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=240)
    out, err = p.stdout.decode(), p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{out}\nstderr (tail):\n{err[-6000:]}"
    assert out.splitlines()[-1] == "OK", out
