"""Table topics (cleanup.policy=compact) with real clients: the changelog topic, as-of lookups
and history over HTTP and the CLI, compacted reads by Java and kcat after log retention,
a Flink debezium-json aggregate, crash consistency under SIGKILL, and bad input."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import threading
import time
import urllib.request

import pytest
from confluent_kafka import KafkaError, Producer, TopicPartition

from conftest import unique_topic, weir_bin, http_get
from javatest import classpath, compile_java, SRC
from weirtest import BASE_TS, Rec, consume, consumer, create_topic, produce

KCAT = shutil.which("kcat")


def changelog(bootstrap: str, topic: str, partition: int) -> list[tuple]:
    """(op, source offset, key, value, timestamp) of every record of T.changelog[p]."""
    out = []
    for m in consume(bootstrap, f"{topic}.changelog", partition):
        headers = dict(m.headers() or [])
        out.append((headers[b"weir.op".decode()].decode(),
                    int(headers["weir.source.offset"]), m.key(), m.value(), m.timestamp()[1]))
    return out


def fold(records: list[tuple]) -> tuple[dict, list[tuple]]:
    """The state and the changes Fluss-style derivation gives for (offset, key, value, ts)."""
    state: dict = {}
    changes = []
    for offset, key, value, ts in records:
        old = state.get(key)
        if value is None:
            if old is not None:
                changes.append(("-D", offset, key, old[1], ts))
                del state[key]
        elif old is None:
            changes.append(("+I", offset, key, value, ts))
            state[key] = (offset, value)
        elif old[1] != value:
            changes.append(("-U", offset, key, old[1], ts))
            changes.append(("+U", offset, key, value, ts))
            state[key] = (offset, value)
        else:
            state[key] = (offset, value)
    return state, changes


def http_json(url: str, body: dict | None = None) -> tuple[int, dict]:
    if body is None:
        status, text = http_get(url)
    else:
        req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            status, text = r.status, r.read().decode()
    return status, json.loads(text)


def ctx(score: int, velocity: int, spend: float) -> bytes:
    return json.dumps({"risk_score": score, "velocity_10m": velocity,
                       "spend_24h": spend}).encode()


def test_audit_trail_changelog_as_of_and_history(broker):
    bs, topic = broker.bootstrap, unique_topic("risk")
    create_topic(bs, topic, 3, {"cleanup.policy": "compact"})
    t0 = BASE_TS
    images = [ctx(12, 1, 40.0), ctx(55, 6, 900.5), ctx(80, 9, 1500.0),
              ctx(81, 9, 1500.0), ctx(20, 1, 5.0)]
    # User 123 lives in partition 2 (a key may be anywhere); 456 in partition 0.
    before = [Rec(b"123", images[i], [("src", b"features"), ("src", b"v2")], t0 + 1000 * (i + 1), 2)
              for i in range(3)]
    before.append(Rec(b"456", ctx(3, 0, 10.0), None, t0 + 1500, 0))
    produce(bs, topic, before)
    decision_ts = t0 + 3500  # the decision sees the third image
    after = [
        Rec(b"123", images[3], None, t0 + 4000, 2),
        Rec(b"123", images[3], None, t0 + 5000, 2),   # unchanged: no change record
        Rec(b"123", None, None, t0 + 6000, 2),        # delete
        Rec(b"999", None, None, t0 + 6500, 2),        # delete of a missing key: nothing
        Rec(b"123", images[4], None, t0 + 7000, 2),   # back again
    ]
    produce(bs, topic, after)

    want = [("+I", 0, b"123", images[0], t0 + 1000),
            ("-U", 1, b"123", images[0], t0 + 2000), ("+U", 1, b"123", images[1], t0 + 2000),
            ("-U", 2, b"123", images[1], t0 + 3000), ("+U", 2, b"123", images[2], t0 + 3000),
            ("-U", 3, b"123", images[2], t0 + 4000), ("+U", 3, b"123", images[3], t0 + 4000),
            ("-D", 5, b"123", images[3], t0 + 6000),
            ("+I", 7, b"123", images[4], t0 + 7000)]
    assert changelog(bs, topic, 2) == want
    assert changelog(bs, topic, 0) == [("+I", 0, b"456", ctx(3, 0, 10.0), t0 + 1500)]
    assert changelog(bs, topic, 1) == []
    # Changelog offsets are its own, contiguous from 0.
    assert [m.offset() for m in consume(bs, f"{topic}.changelog", 2)] == list(range(9))
    # A group consumer subscribed to the changelog gets every change and commits.
    group = unique_topic("audit-group")
    c = consumer(bs, {"group.id": group, "enable.partition.eof": False,
                      "enable.auto.offset.store": True})
    c.subscribe([f"{topic}.changelog"])
    got, deadline = [], time.monotonic() + 60
    while len(got) < 10 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append((m.partition(), m.offset(), dict(m.headers())["weir.op"].decode()))
    c.commit(asynchronous=False)
    committed = c.committed([TopicPartition(f"{topic}.changelog", p) for p in range(3)], timeout=10)
    c.close()
    assert sorted(got) == sorted([(0, 0, "+I")] + [(2, i, w[0]) for i, w in enumerate(want)])
    assert [tp.offset for tp in committed] == [1, -1001, 9]

    base = f"{broker.http}/v1/tables/{topic}/keys"
    status, row = http_json(f"{base}/123?as_of={decision_ts}")
    assert status == 200, row
    assert (row["partition"], row["offset"], row["timestamp"], row["value"]) == (
        2, 2, t0 + 3000, images[2].decode())
    assert row["headers"] == [{"key": "src", "value": "features"}, {"key": "src", "value": "v2"}]
    status, row = http_json(f"{base}/123?as_of_offset=1")
    assert (status, row["value"], row["offset"]) == (200, images[1].decode(), 1)
    assert http_json(f"{base}/123?as_of={t0}")[0] == 404
    assert http_json(f"{base}/123?as_of={t0 + 6200}")[0] == 404  # deleted then
    status, row = http_json(f"{base}/123")
    assert (status, row["offset"], row["timestamp"], row["value"]) == (
        200, 7, t0 + 7000, images[4].decode())
    assert http_json(f"{base}/999")[0] == 404

    status, hist = http_json(f"{base}/123/history")
    assert status == 200
    got = [(c["op"], c["offset"], c["timestamp"], c["value"]) for c in hist["changes"]]
    assert got == [(op, off, ts, v.decode()) for op, off, _, v, ts in want]

    status, batch = http_json(f"{broker.http}/v1/tables/{topic}/lookup",
                              {"keys": ["123", "456", "nope", "b64:NDU2"]})
    assert status == 200
    res = batch["results"]
    assert [(r["found"], r.get("value"), r.get("partition")) for r in res] == [
        (True, images[4].decode(), 2), (True, ctx(3, 0, 10.0).decode(), 0),
        (False, None, None), (True, ctx(3, 0, 10.0).decode(), 0)]

    http_addr = f"127.0.0.1:{broker.http_port}"
    cli = [str(weir_bin()), "table"]
    p = subprocess.run(cli + ["get", topic, "123", "--as-of", str(decision_ts), "--http", http_addr],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == (f"key=123 partition=2 offset=2 timestamp={t0 + 3000} "
                        f"value={images[2].decode()}\n")
    p = subprocess.run(cli + ["history", topic, "123", "--http", http_addr],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["OP", "PARTITION", "OFFSET", "TIMESTAMP", "VALUE"]
    assert lines[1:] == [f"{op}  2  {off}  {ts}  {v.decode()}" for op, off, _, v, ts in want]
    p = subprocess.run(cli + ["get", topic, "nope", "--http", http_addr],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "404" in p.stderr, (p.returncode, p.stderr)


def test_alter_to_compact_builds_state_from_the_retained_log(broker):
    bs, topic = broker.bootstrap, unique_topic("alter")
    create_topic(bs, topic, 1)
    recs = [Rec(b"a", b"1", None, BASE_TS), Rec(b"b", b"1", None, BASE_TS + 1),
            Rec(b"a", b"2", None, BASE_TS + 2), Rec(b"b", None, None, BASE_TS + 3)]
    produce(bs, topic, recs)
    assert http_get(f"{broker.http}/v1/tables/{topic}/keys/a")[0] == 400  # not a table yet
    from confluent_kafka.admin import AdminClient, ConfigResource
    a = AdminClient({"bootstrap.servers": bs})
    res = ConfigResource("topic", topic, set_config={"cleanup.policy": "compact"})
    a.alter_configs([res])[res].result(timeout=30)
    status, row = http_json(f"{broker.http}/v1/tables/{topic}/keys/a")
    assert (status, row["value"], row["offset"]) == (200, "2", 2)
    assert http_get(f"{broker.http}/v1/tables/{topic}/keys/b")[0] == 404
    assert changelog(bs, topic, 0) == [
        ("+I", 0, b"a", b"1", BASE_TS), ("+I", 1, b"b", b"1", BASE_TS + 1),
        ("-U", 2, b"a", b"1", BASE_TS + 2), ("+U", 2, b"a", b"2", BASE_TS + 2),
        ("-D", 3, b"b", b"1", BASE_TS + 3)]
    # The state survives a restart, and new writes continue the changelog.
    broker.restart(crash=False)
    produce(bs, topic, [Rec(b"b", b"3", None, BASE_TS + 4)])
    assert changelog(bs, topic, 0)[-1] == ("+I", 4, b"b", b"3", BASE_TS + 4)


def log_start(broker, topic: str) -> int:
    segs = sorted(broker.partition_dir(topic, 0).glob("*.log"))
    return int(segs[0].name.split(".")[0])


def test_compacted_read_java_and_kcat_after_retention(broker, tmp_path):
    bs, topic = broker.bootstrap, unique_topic("compacted")
    # Tiny segments and retention.bytes=1: every closed segment goes once the state is flushed.
    create_topic(bs, topic, 1, {"cleanup.policy": "compact", "segment.bytes": "1024",
                                "retention.bytes": "1"})
    rnd = random.Random(7)
    recs = []
    for rnd_no in range(3):
        for k in range(200):
            recs.append(Rec(f"user-{k:03}".encode(), f"v{rnd_no}-{k}-{rnd.randint(0, 10**6)}".encode(),
                            [("h", b"1"), ("h", str(rnd_no).encode()), ("n", b"x")],
                            BASE_TS + len(recs)))
    for k in range(0, 200, 7):
        recs.append(Rec(f"user-{k:03}".encode(), None, [("del", b"1")], BASE_TS + len(recs)))
    for k in range(5):
        recs.append(Rec(f"user-{k:03}".encode(), f"tail-{k}".encode(), None, BASE_TS + len(recs)))
    offsets = produce(bs, topic, recs, conf={"linger.ms": 5, "batch.num.messages": 8})
    assert [o for _, o in offsets] == list(range(len(recs)))

    # Let retention remove old segments (the table's flush lets it go within ~10 s).
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and log_start(broker, topic) < 600:
        time.sleep(0.5)
    start = log_start(broker, topic)
    assert start >= 600, f"retention did not remove old segments (log start {start})"

    latest = {}
    for off, r in enumerate(recs):
        latest[r.key] = off
    compacted = sorted(off for off in latest.values() if off < start)
    want = [(off, recs[off]) for off in compacted] + [(off, recs[off]) for off in range(start, len(recs))]
    assert len(compacted) > 150

    def hexs(b):
        return "NULL" if b is None else b.hex()

    want_java = [f"{off}\t{hexs(r.key)}\t{hexs(r.value)}\t{r.timestamp}\t"
                 + ",".join(f"{k}={hexs(v)}" for k, v in (r.headers or []))
                 for off, r in want]
    build = compile_java(tmp_path / "classes", [SRC / "TableReader.java"])
    p = subprocess.run(["java", "-cp", classpath(build), "TableReader", bs, topic, "0"],
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.splitlines()
    assert lines[-1] == "END"
    assert lines[:-1] == want_java

    # confluent-kafka sees the same earliest offset through ListOffsets.
    c = consumer(bs)
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    c.close()
    assert (low, high) == (compacted[0], len(recs))

    if KCAT is None:
        pytest.fail("kcat missing (scripts/install-test-deps.sh)")
    p = subprocess.run([KCAT, "-b", bs, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-Z",
                        "-f", "%o|%k|%s|%T|%h\n"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr

    def kcat_headers(r):
        return ",".join(f"{k}={v.decode()}" for k, v in (r.headers or []))
    want_kcat = [f"{off}|{r.key.decode()}|{'NULL' if r.value is None else r.value.decode()}|"
                 f"{r.timestamp}|{kcat_headers(r)}" for off, r in want]
    assert p.stdout.splitlines() == want_kcat


def test_flink_debezium_changelog_sum_matches_final_state(broker, tmp_path):
    from test_flink import run_job
    bs, topic = broker.bootstrap, unique_topic("orders")
    create_topic(bs, topic, 2, {"cleanup.policy": "compact",
                                "table.changelog.format": "debezium-json"})
    rnd = random.Random(3)
    cats = ["books", "games", "food"]
    recs = []
    for i in range(240):
        key = f"order-{rnd.randint(0, 59)}".encode()
        if i > 60 and rnd.random() < 0.15:
            value = None
        else:
            value = json.dumps({"category": rnd.choice(cats), "amount": rnd.randint(1, 500)}).encode()
        recs.append(Rec(key, value, None, BASE_TS + i, int(key[6:]) % 2))
    produce(bs, topic, recs)
    final: dict = {}
    for r in recs:
        if r.value is None:
            final.pop(r.key, None)
        else:
            final[r.key] = json.loads(r.value)
    want: dict = {}
    for row in final.values():
        want[row["category"]] = want.get(row["category"], 0) + row["amount"]

    rows = run_job("aggregate", {"bootstrap": bs, "topic": f"{topic}.changelog",
                                 "group": unique_topic("flink-agg")}, tmp_path, prefix="AGG ")
    result: dict = {}
    for r in rows:
        if r["kind"] in ("+I", "+U"):
            result[r["category"]] = r["total"]
        else:
            assert result.get(r["category"]) == r["total"], r
            del result[r["category"]]
    # A category whose rows were all deleted is retracted away (SUM over no rows).
    assert result == want


def test_crash_consistency_under_upserts(broker):
    bs, topic = broker.bootstrap, unique_topic("crashy")
    create_topic(bs, topic, 1, {"cleanup.policy": "compact"})
    stop = threading.Event()
    acked: list = []
    errors: list = []

    def writer():
        p = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 2,
                      "message.timeout.ms": 60000, "reconnect.backoff.max.ms": 200})
        rnd = random.Random(11)
        i = 0

        def cb(err, msg):
            if err is None:
                acked.append((msg.offset(), msg.key(), msg.value()))
            else:
                errors.append(err)
        while not stop.is_set():
            key = f"k{rnd.randint(0, 39)}".encode()
            value = None if rnd.random() < 0.1 else f"v{rnd.randint(0, 5)}".encode()
            try:
                p.produce(topic, key=key, value=value, partition=0, on_delivery=cb)
                i += 1
            except BufferError:
                p.poll(0.05)
            if i % 50 == 0:
                p.poll(0.005)
        p.flush(90)

    kill_while_writing(broker, writer, stop, kills=5, pause=(0.7, 1.5), settle=1.0)
    assert len(acked) > 200, len(acked)
    broker.restart(crash=True)

    log = [(m.offset(), m.key(), m.value(), m.timestamp()[1]) for m in consume(bs, topic, 0)]
    assert [o for o, *_ in log] == list(range(len(log)))
    by_offset = {o: (k, v) for o, k, v, _ in log}
    for off, k, v in acked:
        assert by_offset.get(off) == (k, v), f"acked record at {off} lost or changed"
    state, want_changes = fold(log)
    assert changelog(bs, topic, 0) == want_changes
    for key in {k for _, k, _, _ in log}:
        status, row = http_json(f"{broker.http}/v1/tables/{topic}/keys/{key.decode()}")
        if key in state:
            assert (status, row["offset"], row["value"]) == (200, state[key][0], state[key][1].decode())
        else:
            assert status == 404, (key, row)


def kill_while_writing(broker, writer, stop: threading.Event, kills: int,
                       pause: tuple[float, float], settle: float, join_s: float = 120,
                       crash=None) -> None:
    """Runs `writer` on a thread while the broker is SIGKILLed (or `crash()` is called
    instead) and restarted `kills` times, a random `pause` apart; then sets `stop` and waits
    for the writer to finish."""
    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(kills):
            time.sleep(random.uniform(*pause))
            (crash or broker.kill)()
            broker.start()
        time.sleep(settle)
    finally:
        stop.set()
        t.join(join_s)
    assert not t.is_alive()


def delivery_errors(bs: str, topic: str, recs: list[tuple], partition: int = 0) -> list:
    # A long linger keeps the records of one call in one batch even on a loaded machine.
    p = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 1000,
                  "message.timeout.ms": 20000})
    out = []
    for key, value in recs:
        p.produce(topic, key=key, value=value, partition=partition,
                  on_delivery=lambda err, msg: out.append(err.code() if err else msg.offset()))
    assert p.flush(30) == 0
    return out


def test_bad_input_is_refused_and_nothing_stored(broker):
    bs = broker.bootstrap
    topic, dbz = unique_topic("strict"), unique_topic("dbz")
    create_topic(bs, topic, 1, {"cleanup.policy": "compact"})
    create_topic(bs, dbz, 1, {"cleanup.policy": "compact", "table.changelog.format": "debezium-json"})

    # One batch holding a keyed and a keyless record: all of it is refused.
    assert delivery_errors(bs, topic, [(b"k", b"v"), (None, b"v")]) == [KafkaError.INVALID_RECORD] * 2
    assert delivery_errors(bs, dbz, [(b"k", b"not json")]) == [KafkaError.INVALID_RECORD]
    assert delivery_errors(bs, dbz, [(b"k", b"[1, 2]")]) == [KafkaError.INVALID_RECORD]
    assert delivery_errors(bs, f"{topic}.changelog", [(b"k", b"v")]) == [KafkaError.TOPIC_EXCEPTION]
    c = consumer(bs)
    for t in (topic, dbz, f"{topic}.changelog", f"{dbz}.changelog"):
        assert c.get_watermark_offsets(TopicPartition(t, 0), timeout=10) == (0, 0), t
    c.close()
    # Valid writes still go through afterwards; tombstones are fine under debezium-json.
    assert delivery_errors(bs, dbz, [(b"k", b'{"a": 1}'), (b"k", None)]) == [0, 1]
    dbz_changes = [json.loads(m.value()) for m in consume(bs, f"{dbz}.changelog", 0)]
    assert [(d["op"], d["before"], d["after"]) for d in dbz_changes] == [
        ("c", None, {"a": 1}), ("d", {"a": 1}, None)]

    from confluent_kafka.admin import NewTopic
    from weirtest import admin
    a = admin(bs)  # kept alive until the future resolves
    fs = a.create_topics([NewTopic(f"{topic}.changelog", 1, 1)])
    with pytest.raises(Exception) as e:
        fs[f"{topic}.changelog"].result(timeout=30)
    assert "reserved" in str(e.value), str(e.value)
