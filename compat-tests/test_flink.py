"""Flink 2.0 (PyFlink Table API + Kafka connector 4.0) against Weir.

The jobs (flink/kafka_job.py) run in the separate Flink venv as subprocesses, on a local
mini-cluster:
  - a bounded source job (earliest -> latest offsets at start), json and raw formats, must
    return exactly the produced rows; its group offsets (auto commit / commit on checkpoint,
    i.e. OffsetCommit with generation -1 from an assign()-based consumer) must then be
    visible through OffsetFetch;
  - a sink job (at-least-once) whose rows are read back exactly with confluent-kafka.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from conftest import COMPAT, unique_topic
from weirtest import Rec, admin, consume, create_topic, produce

CACHE = Path(os.environ.get("WEIR_CACHE", Path.home() / ".cache" / "weir"))
FLINK_VENV = Path(os.environ.get("WEIR_FLINK_VENV", CACHE / "flink-venv"))
FLINK_JARS = Path(os.environ.get("WEIR_FLINK_JARS", CACHE / "flink-jars"))
PY = FLINK_VENV / "bin" / "python"
JOB = COMPAT / "flink" / "kafka_job.py"
JOB_TIMEOUT = 240


def jars() -> list[str]:
    conn = sorted(FLINK_JARS.glob("flink-*connector-kafka*.jar"))
    clients = sorted(FLINK_JARS.glob("kafka-clients*.jar"))
    if not PY.exists() or not conn or not clients:
        pytest.fail(f"Flink deps missing (venv {FLINK_VENV}, jars in {FLINK_JARS}); run "
                    f"scripts/install-group-test-deps.sh")
    return [str(conn[0]), str(clients[0])]


def run_job(mode: str, spec: dict, tmp_path: Path, prefix: str = "ROW ") -> list[dict]:
    spec = dict(spec, jars=jars())
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["FLINK_LOG_DIR"] = str(tmp_path)
    p = subprocess.run([str(PY), str(JOB), mode, json.dumps(spec)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=JOB_TIMEOUT, cwd=str(tmp_path))
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0 and out.rstrip().endswith("DONE"), (
        f"flink {mode} job exit {p.returncode}\nstdout tail:\n{out[-3000:]}\nstderr tail:\n{err[-8000:]}")
    return [json.loads(l[len(prefix):]) for l in out.splitlines() if l.startswith(prefix)]


def committed_offsets(bootstrap, group, topic, parts) -> dict[int, int]:
    a = admin(bootstrap)
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(parts)])
    res = a.list_consumer_group_offsets([req], request_timeout=30)[group].result(timeout=60)
    return {tp.partition: tp.offset for tp in res.topic_partitions}


def json_rows(n):
    return [{"id": i, "name": f"name-{i} ü'\"", "price": i * 1.25,
             "tags": [f"t{i % 3}", "x"] if i % 4 else []} for i in range(n)]


@pytest.mark.parametrize("fmt", ["json", "raw"])
def test_flink_bounded_source_reads_exact_rows(broker, tmp_path, fmt):
    topic, parts, n = unique_topic(f"fl-{fmt}"), 3, 150
    group = f"flink-{topic}"
    create_topic(broker.bootstrap, topic, partitions=parts)
    if fmt == "json":
        rows = json_rows(n)
        recs = [Rec(str(r["id"]).encode(), json.dumps(r).encode(), None, None, r["id"] % parts)
                for r in rows]
    else:
        rows = [{"v": f"raw-line-{i}-" + "z" * (i % 7)} for i in range(n)]
        recs = [Rec(None, r["v"].encode(), None, None, i % parts) for i, r in enumerate(rows)]
    delivered = produce(broker.bootstrap, topic, recs)

    got = run_job("source", {"bootstrap": broker.bootstrap, "topic": topic, "group": group,
                             "format": fmt}, tmp_path)
    want = [dict(r, partition=p, offset=o) for r, (p, o) in zip(rows, delivered)]
    key = lambda r: (r["partition"], r["offset"])  # noqa: E731
    assert len(got) == len(want), f"flink read {len(got)} rows, want {len(want)}"
    assert sorted(got, key=key) == sorted(want, key=key)



def test_flink_source_commits_group_offsets_on_checkpoint(broker, tmp_path):
    """An unbounded KafkaSource with properties.group.id commits its positions on every
    checkpoint (OffsetCommit, generation -1, no members: Flink assigns partitions itself);
    the commits must become visible through OffsetFetch while the job runs.
    (A bounded job finishes before the commit of its final checkpoint is sent, so Flink
    itself does not guarantee a visible commit there.)"""
    topic, parts, n = unique_topic("fl-commit"), 3, 90
    group = f"flink-{topic}"
    create_topic(broker.bootstrap, topic, partitions=parts)
    rows = json_rows(n)
    produce(broker.bootstrap, topic, [Rec(None, json.dumps(r).encode(), None, None, r["id"] % parts)
                                      for r in rows])
    spec = {"bootstrap": broker.bootstrap, "topic": topic, "group": group, "format": "json",
            "bounded": False, "expect": n, "jars": jars()}
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["FLINK_LOG_DIR"] = str(tmp_path)
    out_path, err_path = tmp_path / "job.out", tmp_path / "job.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen([str(PY), str(JOB), "source", json.dumps(spec)], stdin=subprocess.PIPE,
                             stdout=out, stderr=err, env=env, cwd=str(tmp_path))
    try:
        deadline = time.monotonic() + JOB_TIMEOUT
        while "ROWS_DONE" not in out_path.read_text("utf-8", "replace"):
            assert p.poll() is None, f"job exited {p.returncode}\n{err_path.read_text()[-6000:]}"
            assert time.monotonic() < deadline, "flink job did not read all rows in time"
            time.sleep(0.2)
        got = [json.loads(l[4:]) for l in out_path.read_text().splitlines() if l.startswith("ROW ")]
        assert sorted(r["id"] for r in got) == list(range(n))
        hw = {p_: n // parts for p_ in range(parts)}
        deadline = time.monotonic() + 60
        while True:
            c = committed_offsets(broker.bootstrap, group, topic, parts)
            if c == hw:
                break
            assert time.monotonic() < deadline, (
                f"flink's group offsets via OffsetFetch: {c}, want {hw}\n"
                f"{err_path.read_text()[-3000:]}")
            time.sleep(0.2)
        p.stdin.write(b"stop\n")
        p.stdin.flush()
        p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=30)


def test_flink_sink_at_least_once_rows_read_back(broker, tmp_path):
    topic, n = unique_topic("fl-sink"), 120
    create_topic(broker.bootstrap, topic, partitions=1)
    rows = [{"id": r["id"], "name": r["name"], "price": r["price"]} for r in json_rows(n)]
    run_job("sink", {"bootstrap": broker.bootstrap, "topic": topic, "format": "json",
                     "rows": rows}, tmp_path)
    msgs = consume(broker.bootstrap, topic)
    got = [json.loads(m.value()) for m in msgs]
    # at-least-once from a single failure-free job: every row exactly once (Flink does not
    # keep the VALUES order, so compare by id)
    got_sorted = sorted(got, key=lambda r: r["id"])
    assert got_sorted == rows, f"read back {len(got)} rows; first diff: " + next(
        (f"{g} != {w}" for g, w in zip(got_sorted, rows) if g != w), "lengths differ")
    assert [m.offset() for m in msgs] == list(range(n))
