"""Chaos run: a mixed load on one broker while faults are injected, then exact checks.

Load (all with acks=all): an idempotent producer to a log topic (every value unique), an
idempotent producer of upserts to a table topic, and a consumer group reading the log topic
with commits. Both topics tier to SeaweedFS (S3), or to a file:// store when SeaweedFS is not
installed, with small segments and local.retention.bytes=1, so reads cross the store.

Faults, one every few seconds at random: SIGKILL and restart; ENOSPC on the log topic's
appends for two seconds (faultfs); a failed fsync of the table's log (the log goes offline),
then a restart; an object-store outage of ten seconds (S3 only).

Checks once the load stops and the broker restarted a last time: every acknowledged record is
at its offset with its value; offsets are contiguous from 0 and no value appears twice
(idempotence); the table's state equals the fold of its log and `T.changelog` its
derivation; every offset from 0 is readable (tiered ones from the store). Prints figures and
exits non-zero on any violation.

    python chaos.py [--minutes 30] [--seed N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, Producer

sys.path.insert(0, str(Path(__file__).parent))
from conftest import Broker  # noqa: E402
from s3server import SeaweedS3, weed_bin  # noqa: E402
from test_disk_faults import FAULTFS_SRC, Disk  # noqa: E402
from test_table_atomicity import lookup_all  # noqa: E402
from test_tables import changelog, fold  # noqa: E402
from weirtest import consume, create_topic  # noqa: E402

TOPIC_CONFIG = {"segment.bytes": "65536", "local.retention.bytes": "1"}
PRODUCER = {"acks": "all", "enable.idempotence": True, "linger.ms": 5,
            "message.timeout.ms": 300000, "reconnect.backoff.max.ms": 500,
            "retry.backoff.max.ms": 500}


class Load:
    """The producers and the consumer group, each on its own thread."""

    def __init__(self, bs: str, log_topic: str, table_topic: str, seed: int):
        self.bs, self.log_topic, self.table_topic = bs, log_topic, table_topic
        self.rnd = random.Random(seed)
        self.stop = threading.Event()
        self.acked = {log_topic: [], table_topic: []}
        self.errors: Counter = Counter()
        self.consumed = 0
        self.threads = [threading.Thread(target=self.produce, args=(log_topic, "L", None)),
                        threading.Thread(target=self.produce, args=(table_topic, "T", 2000)),
                        threading.Thread(target=self.consume_group)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(600)
            assert not t.is_alive(), "a load thread did not stop"

    def produce(self, topic: str, tag: str, keys: int | None) -> None:
        p = Producer({"bootstrap.servers": self.bs, **PRODUCER})
        acked = self.acked[topic]
        rnd = random.Random(self.rnd.random())

        def report(err, msg):
            if err is None:
                acked.append((msg.offset(), msg.key(), msg.value()))
            else:
                self.errors[err.name()] += 1
        n = 0
        while not self.stop.is_set():
            key = b"k%d" % rnd.randrange(keys) if keys else b"%d" % n
            try:
                p.produce(topic, key=key, value=b"%s%09d" % (tag.encode(), n), partition=0,
                          on_delivery=report)
                n += 1
            except BufferError:
                p.poll(0.05)
            if n % 100 == 0:  # about 1,000 records/s: a long run stays checkable
                p.poll(0.01)
                time.sleep(0.09)
        p.flush(600)

    def consume_group(self) -> None:
        c = Consumer({"bootstrap.servers": self.bs, "group.id": "chaos",
                      "auto.offset.reset": "earliest", "enable.auto.commit": True,
                      "auto.commit.interval.ms": 500, "session.timeout.ms": 10000})
        c.subscribe([self.log_topic])
        try:
            while not self.stop.is_set():
                for m in c.consume(num_messages=1000, timeout=0.5):
                    if m.error() is None:
                        self.consumed += 1
        finally:
            c.close()


def build_faultfs(dest: Path) -> Path:
    lib = dest / "libfaultfs.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(lib), str(FAULTFS_SRC), "-ldl"],
                   check=True, capture_output=True, timeout=120)
    return lib


def inject(kind: str, broker: Broker, disk: Disk, s3: SeaweedS3 | None, log_topic: str,
           table_topic: str) -> None:
    if kind == "sigkill":
        broker.kill()
        broker.start()
    elif kind == "enospc":
        disk.fail("write", f"/topics/{log_topic}-0/", "ENOSPC")
        time.sleep(2)
        disk.heal()
    elif kind == "fsync":
        disk.fail("sync", f"/topics/{table_topic}-0/", "EIO")
        time.sleep(1)
        disk.heal()
        time.sleep(1)
        broker.kill()  # an offline log comes back with a restart
        broker.start()
    elif kind == "store_outage":
        assert s3 is not None
        s3.stop()
        time.sleep(10)
        s3.start()


def check(broker: Broker, load: Load) -> dict:
    """The exact checks; returns figures. Raises AssertionError on a violation."""
    bs, figures = broker.bootstrap, {}
    for topic in (load.log_topic, load.table_topic):
        log = [(m.offset(), m.key(), m.value(), m.timestamp()[1])
               for m in consume(bs, topic, 0, timeout=600)]
        assert [o for o, *_ in log] == list(range(len(log))), f"{topic}: offsets not contiguous"
        dup = [v for v, n in Counter(v for _, _, v, _ in log).items() if n > 1]
        assert not dup, f"{topic}: {len(dup)} values stored twice, e.g. {dup[:3]}"
        at = {o: (k, v) for o, k, v, _ in log}
        lost = [(o, v) for o, k, v in load.acked[topic] if at.get(o) != (k, v)]
        assert not lost, f"{topic}: {len(lost)} acknowledged records lost or changed: {lost[:3]}"
        figures[topic] = {"records": len(log), "acked": len(load.acked[topic])}
    log = [(m.offset(), m.key(), m.value(), m.timestamp()[1])
           for m in consume(bs, load.table_topic, 0, timeout=600)]
    state, changes = fold(log)
    got = lookup_all(broker, load.table_topic, sorted({k for _, k, _, _ in log}))
    assert got == state, "table state differs from the fold of its log"
    assert changelog(bs, load.table_topic, 0) == changes, "changelog differs from its derivation"
    figures["table_keys"], figures["changelog_records"] = len(state), len(changes)
    return figures


def run(minutes: float, seed: int, workdir: Path, out=print) -> dict:
    rnd = random.Random(seed)
    faultfs = build_faultfs(workdir)
    control, fault_log = workdir / "faults", workdir / "faults.log"
    control.write_text("")
    disk = Disk(control, fault_log)
    s3 = SeaweedS3(workdir / "s3").start() if weed_bin().exists() else None
    env = {"LD_PRELOAD": str(faultfs), "WEIR_FAULT_CONTROL": str(control),
           "WEIR_FAULT_LOG": str(fault_log), "WEIR_MAINTENANCE_INTERVAL_MS": "100"}
    args = []
    if s3 is not None:
        env.update(s3.env())
        args = ["--object-store", s3.url("chaos")]
    broker = Broker(workdir / "broker", env=env, extra_args=args).start()
    kinds = ["sigkill", "enospc", "fsync"] + (["store_outage"] if s3 else [])
    injected: Counter = Counter()
    try:
        log_topic, table_topic = f"chaos-log-{seed}", f"chaos-table-{seed}"
        create_topic(broker.bootstrap, log_topic, 1, TOPIC_CONFIG)
        create_topic(broker.bootstrap, table_topic, 1, {**TOPIC_CONFIG,
                                                         "cleanup.policy": "compact"})
        load = Load(broker.bootstrap, log_topic, table_topic, seed)
        started = time.monotonic()
        load.start()
        deadline = started + minutes * 60
        while time.monotonic() < deadline:
            time.sleep(rnd.uniform(3, 8))
            kind = rnd.choice(kinds)
            inject(kind, broker, disk, s3, log_topic, table_topic)
            injected[kind] += 1
        disk.heal()
        load.join()
        broker.kill()
        broker.start()
        figures = check(broker, load)
        figures.update({"minutes": round((time.monotonic() - started) / 60, 1),
                        "faults": dict(injected), "failed_calls": len(disk.injected()),
                        "producer_errors": dict(load.errors),
                        "group_consumed": load.consumed,
                        "store": "s3 (SeaweedFS)" if s3 else "file://"})
        out(f"chaos: passed {figures}")
        return figures
    finally:
        broker.stop()
        if s3 is not None:
            s3.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--workdir", type=Path)
    a = parser.parse_args()
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="weir-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"chaos: {a.minutes} min, seed {a.seed}, workdir {workdir}", flush=True)
    run(a.minutes, a.seed, workdir)


if __name__ == "__main__":
    main()
