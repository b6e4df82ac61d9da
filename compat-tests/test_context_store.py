"""Context store (issue 13, /tmp/spec/context-api.md): typed table topics (value.format=json,
value.schema, inference), TTL (cleanup.policy=compact,delete), Arrow snapshots and the
point-in-time as-of-join, checked against a brute-force fold of every write in Python.

Keys are produced by confluent-kafka (librdkafka's consistent_random partitioner) and
kafka-python (murmur2), so a key lives in several partitions and the "as of across
partitions" rule decides. The scale of the main join test is 100k keys / 1M updates / 1M
queries; WEIR_CONTEXT_KEYS, WEIR_CONTEXT_UPDATES and WEIR_CONTEXT_QUERIES shrink it.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections import defaultdict

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from confluent_kafka.admin import ConfigResource, NewTopic
from kafka import KafkaProducer
from kafka.errors import InvalidRecordError

from conftest import http_get, unique_topic
from context_data import (ARROW, INVALID_CONFIG, INVALID_RECORD, MODELS, Fold, Writes,
                          as_of_join, error_of, first_difference, gen_writes, ipc_bytes,
                          ipc_messages, join_path, lookup, maintenance_args, post, produce_mixed,
                          random_value, snapshot, table_config, ts_ms, typed_value)
from test_tables import delivery_errors
from test_tiering import (FAST, SMALL_BATCHES, TIERED, FileStore, Tiered, read_arrow,
                          watermarks)
from weirtest import BASE_TS, Rec, admin, consume, produce, wait_topic, create_topic

N_KEYS = int(os.environ.get("WEIR_CONTEXT_KEYS", 100_000))
N_UPDATES = int(os.environ.get("WEIR_CONTEXT_UPDATES", 1_000_000))
N_QUERIES = int(os.environ.get("WEIR_CONTEXT_QUERIES", 1_000_000))
BLOCK = ["value", "offset", "timestamp", "partition", "headers"]
SNAPSHOT_COLUMNS = ["partition", "key", "value", "offset", "timestamp", "headers"]


# ------------------------------------------------------------------------------ checks

def check_headers_type(t: pa.DataType, what: str) -> None:
    assert pa.types.is_list(t) and pa.types.is_struct(t.value_type), f"{what}: {t}"
    st = t.value_type
    assert [(st.field(i).name, st.field(i).type) for i in range(st.num_fields)] == [
        ("key", pa.utf8()), ("value", pa.binary())], f"{what}: {t}"


def check_value_type(t: pa.DataType, typed: bool, what: str) -> None:
    if typed:
        assert pa.types.is_struct(t), f"{what}: {t}"
        assert {t.field(i).name: t.field(i).type for i in range(t.num_fields)} == {
            "risk_score": pa.float64(), "segment": pa.utf8(), "n": pa.int64()}, f"{what}: {t}"
    else:
        assert t == pa.binary(), f"{what}: {t}"


def want_block(fold: Fold, typed: bool, queries) -> dict[str, list]:
    """The columns T__value.. T__headers the spec gives for (key bytes, q ms) queries."""
    w, cache = fold.w, {}
    out: dict[str, list] = {c: [] for c in BLOCK}
    for key, q in queries:
        i = fold.at(key, q)
        if i is None:
            for c in BLOCK:
                out[c].append(None)
            continue
        if typed:
            if i not in cache:
                cache[i] = typed_value(w.values[i])
            out["value"].append(cache[i])
        else:
            out["value"].append(w.values[i])
        out["offset"].append(w.off[i])
        out["timestamp"].append(w.ts[i])
        out["partition"].append(w.part[i])
        out["headers"].append(w.arrow_headers(i))
    return out


def check_block(res: pa.Table, topic: str, typed: bool, want: dict[str, list]) -> None:
    types = {f.name: f.type for f in res.schema}
    check_value_type(types[f"{topic}__value"], typed, f"{topic}__value")
    assert types[f"{topic}__offset"] == pa.int64()
    t = types[f"{topic}__timestamp"]
    assert pa.types.is_timestamp(t) and t.unit == "ms", t
    assert types[f"{topic}__partition"] == pa.int32()
    check_headers_type(types[f"{topic}__headers"], f"{topic}__headers")
    for c in BLOCK:
        col = res.column(f"{topic}__{c}")
        got = ts_ms(col) if c == "timestamp" else col.to_pylist()
        first_difference(got, want[c], f"{topic}__{c}")


def check_snapshot(t: pa.Table, fold: Fold, typed: bool, q: float = math.inf,
                   string_keys: bool = False) -> None:
    assert t.column_names == SNAPSHOT_COLUMNS, t.schema
    types = {f.name: f.type for f in t.schema}
    assert types["partition"] == pa.int32() and types["offset"] == pa.int64(), t.schema
    assert types["key"] == (pa.utf8() if string_keys else pa.binary()), t.schema
    check_value_type(types["value"], typed, "snapshot value")
    assert pa.types.is_timestamp(types["timestamp"]) and types["timestamp"].unit == "ms"
    check_headers_type(types["headers"], "snapshot headers")
    # Row order is unspecified: one row per key, compared in key order.
    keys = t.column("key").to_pylist()
    assert len(set(keys)) == len(keys), "a key appears twice in the snapshot"
    order = sorted(range(len(keys)), key=lambda i: keys[i].encode() if string_keys else keys[i])
    t = t.take(pa.array(order, pa.int64()))
    w, rows = fold.w, fold.snapshot(q)
    first_difference(t.column("partition").to_pylist(), [w.part[i] for i in rows], "partition")
    first_difference(t.column("key").to_pylist(),
                     [w.keys[i].decode() if string_keys else w.keys[i] for i in rows], "key")
    first_difference(t.column("value").to_pylist(),
                     [typed_value(w.values[i]) if typed else w.values[i] for i in rows], "value")
    first_difference(t.column("offset").to_pylist(), [w.off[i] for i in rows], "offset")
    first_difference(ts_ms(t.column("timestamp")), [w.ts[i] for i in rows], "timestamp")
    first_difference(t.column("headers").to_pylist(), [w.arrow_headers(i) for i in rows], "headers")


def wall_ms() -> int:
    return int(time.time() * 1000)


def kp_error(bs: str, topic: str, key: bytes, value: bytes, kp: KafkaProducer) -> str:
    """kafka-python surfaces the broker's error message (librdkafka does not)."""
    with pytest.raises(InvalidRecordError) as e:
        kp.send(topic, key=key, value=value, partition=0).get(30)
    return str(e.value)


# ------------------------------------------------------------------------------ a. big join

@pytest.mark.timeout(3600)
@pytest.mark.parametrize("typed", [False, True], ids=["raw", "typed"])
def test_as_of_join_matches_brute_force_fold(broker, typed):
    bs, topic = broker.bootstrap, unique_topic("ctx-join")
    create_topic(bs, topic, 4, table_config(typed))
    w = gen_writes(N_KEYS, N_UPDATES, BASE_TS, seed=8 + typed)
    produce_mixed(bs, topic, w)
    spread = defaultdict(set)
    for k, p in zip(w.keys, w.part):
        spread[k].add(p)
    multi = sum(len(s) > 1 for s in spread.values())
    assert multi > len(spread) // 10, f"only {multi} of {len(spread)} keys in several partitions"
    fold = Fold(w)

    rnd = random.Random(11)
    lo, hi = min(w.ts) - 5000, max(w.ts) + 5000
    keys, qs, stamps = [], [], []
    for _ in range(N_QUERIES):
        u = rnd.random()
        if u < 0.08:
            key, q = b"ghost-%06d" % rnd.randrange(N_KEYS), rnd.randint(lo, hi)
        elif u < 0.3:  # on, just before and just after a write of the key
            i = rnd.randrange(len(w))
            key, q = w.keys[i], w.ts[i] + rnd.choice((-1, 0, 0, 1))
        else:
            key, q = b"user-%06d" % rnd.randrange(N_KEYS), rnd.randint(lo, hi)
        keys.append(key)
        qs.append(q)
        # raw: timestamp[us] with a sub-millisecond part (the broker floors to ms)
        stamps.append(q * 1000 + rnd.randrange(1000) if not typed else q)
    if typed:
        key_arr, ts_arr = pa.array([k.decode() for k in keys], pa.large_utf8()), pa.array(stamps, pa.int64())
    else:
        key_arr, ts_arr = pa.array(keys, pa.binary()), pa.array(stamps, pa.timestamp("us"))
    inp = pa.table({"row_id": pa.array(range(N_QUERIES), pa.int64()), "user_id": key_arr,
                    "event_time": ts_arr,
                    "label": pa.array([(i * 7919) % 3 for i in range(N_QUERIES)], pa.int64())})
    # Record batches of uneven sizes, an empty one among them, each under the body limit.
    batches, pos = [], 0
    for size in [1, 0, 9_999] + [90_000, 150_000] * (N_QUERIES // 240_000 + 1):
        if pos >= N_QUERIES:
            break
        batches.append(inp.slice(pos, size).combine_chunks().to_batches()[0]
                       if size else pa.RecordBatch.from_pylist([], schema=inp.schema))
        pos += size
    if pos < N_QUERIES:
        batches += inp.slice(pos).to_batches()

    res = as_of_join(broker.http, topic, ipc_messages(inp.schema, batches),
                     key="user_id", timestamp="event_time")
    assert res.num_rows == N_QUERIES
    assert res.column_names == inp.column_names + [f"{topic}__{c}" for c in BLOCK]
    for name in inp.column_names:
        got = res.column(name)
        assert got.type == inp.column(name).type, (name, got.type)
        assert got.combine_chunks().equals(inp.column(name).combine_chunks()), f"{name} changed"
    check_block(res, topic, typed, want_block(fold, typed, zip(keys, qs)))

    # The join is what GET .../keys/{key}?as_of= answers, for a sample.
    for r in random.Random(3).sample(range(N_QUERIES), 200):
        i = fold.at(keys[r], qs[r])
        status, row = lookup(broker.http, topic, keys[r].decode(), as_of=qs[r])
        if i is None:
            assert status == 404, (keys[r], qs[r], row)
            continue
        assert status == 200, (keys[r], qs[r], row)
        assert (row["partition"], row["offset"], row["timestamp"], row["headers"]) == (
            w.part[i], w.off[i], w.ts[i], w.json_headers(i)), (keys[r], qs[r], row)
        want = json.loads(w.values[i]) if typed else w.values[i].decode()
        got = {k: v for k, v in row["value"].items() if v is not None} if typed else row["value"]
        assert got == ({k: v for k, v in want.items() if v is not None} if typed else want)

    check_snapshot(snapshot(broker.http, topic), fold, typed)


# ------------------------------------------------------------------------------ b. tables=

def test_join_of_three_tables_in_one_request(broker):
    bs = broker.bootstrap
    specs = [(unique_topic("ctx-a"), False, 3, 400, 6000), (unique_topic("ctx-b"), True, 2, 300, 4000),
             (unique_topic("ctx-c"), False, 1, 50, 500)]
    folds = {}
    for n, (topic, typed, parts, nk, nu) in enumerate(specs):
        create_topic(bs, topic, parts, table_config(typed))
        w = gen_writes(nk, nu, BASE_TS, seed=20 + n)
        produce_mixed(bs, topic, w)
        folds[topic] = (Fold(w), typed)
    rnd = random.Random(4)
    keys = [b"user-%06d" % rnd.randrange(450) for _ in range(3000)]
    qs = [BASE_TS + rnd.randint(-1000, 13_000) for _ in keys]
    inp = pa.table({"user_id": [k.decode() for k in keys], "ts": pa.array(qs, pa.timestamp("ms")),
                    "label": pa.array([i % 2 for i in range(len(keys))], pa.int64())})
    t1, t2, t3 = (s[0] for s in specs)
    res = as_of_join(broker.http, t1, inp, key="user_id", timestamp="ts", tables=[t2, t3])
    assert res.column_names == inp.column_names + [f"{t}__{c}" for t in (t1, t2, t3) for c in BLOCK]
    assert res.select(inp.column_names).to_pylist() == inp.to_pylist()
    for t in (t1, t2, t3):
        fold, typed = folds[t]
        check_block(res, t, typed, want_block(fold, typed, zip(keys, qs)))
    # Another order: the path's table first, then `tables` in the order given.
    other = as_of_join(broker.http, t3, inp, key="user_id", timestamp="ts", tables=[t1])
    assert other.column_names == inp.column_names + [f"{t}__{c}" for t in (t3, t1) for c in BLOCK]
    for t in (t3, t1):
        for c in BLOCK:
            assert other.column(f"{t}__{c}").to_pylist() == res.column(f"{t}__{c}").to_pylist(), (t, c)


# ------------------------------------------------------------------------------ c. JSON body

def test_json_body_gives_the_same_answer_as_arrow(broker):
    bs, topic = broker.bootstrap, unique_topic("ctx-json")
    create_topic(bs, topic, 2, table_config(False))
    w = gen_writes(40, 600, BASE_TS, seed=31)
    rnd = random.Random(32)
    for k in range(1000, 1020):  # numeric keys, looked up from integer key columns
        w.add(str(k).encode(), random_value(rnd, k), BASE_TS + 5000 + 2 * k + 1)
    produce_mixed(bs, topic, w)
    fold = Fold(w)
    keys = [b"user-%06d" % rnd.randrange(45) for _ in range(60)] + [b"nobody"]
    qs = [BASE_TS + rnd.randint(-10, 1300) for _ in keys]
    rows = [{"key": k.decode(), "timestamp": q, "label": i} for i, (k, q) in enumerate(zip(keys, qs))]
    status, ctype, data = post(broker.http, join_path(topic), json.dumps(rows).encode(),
                               "application/json")
    assert (status, ctype) == (200, ARROW), (status, data[:500])
    from_json = pa.ipc.open_stream(data).read_all()
    inp = pa.table({"key": pa.array([r["key"] for r in rows], pa.utf8()),
                    "timestamp": pa.array(qs, pa.int64()),
                    "label": pa.array(range(len(rows)), pa.int64())})
    from_arrow = as_of_join(broker.http, topic, inp)  # default columns: key, timestamp
    # A JSON body's columns come in name order (JSON objects carry no column order).
    assert from_arrow.column_names == inp.column_names + [f"{topic}__{c}" for c in BLOCK]
    assert sorted(from_json.column_names) == sorted(from_arrow.column_names)
    assert from_json.select(from_arrow.column_names).to_pylist() == from_arrow.to_pylist()
    check_block(from_arrow, topic, False, want_block(fold, False, zip(keys, qs)))

    # Integer key columns (int64, int32, JSON numbers) are looked up as decimal text.
    nums = [1000, 1005, 1019, 7, 99999]
    at = [BASE_TS + 10_000] * 4 + [BASE_TS + 10_000]
    want = want_block(fold, False, [(str(n).encode(), q) for n, q in zip(nums, at)])
    assert sum(v is not None for v in want["offset"]) == 3
    for typ in (pa.int64(), pa.int32()):
        res = as_of_join(broker.http, topic, pa.table({"id": pa.array(nums, typ), "at": at}),
                         key="id", timestamp="at")
        check_block(res, topic, False, want)
    body = json.dumps([{"id": n, "at": q} for n, q in zip(nums, at)]).encode()
    status, _, data = post(broker.http, join_path(topic, key="id", timestamp="at"), body,
                           "application/json")
    assert status == 200, data[:500]
    check_block(pa.ipc.open_stream(data).read_all(), topic, False, want)


# ------------------------------------------------------------------------------ d. snapshot

@pytest.mark.parametrize("kind", ["raw", "typed", "typed-string-keys"])
def test_snapshot_now_and_as_of_equal_the_fold(broker, kind):
    bs, topic = broker.bootstrap, unique_topic("ctx-snap")
    typed, string_keys = kind != "raw", kind.endswith("string-keys")
    create_topic(bs, topic, 4, table_config(typed, **({"key.format": "string"} if string_keys else {})))
    w = gen_writes(3000, 30_000, BASE_TS, seed=40 + len(kind))
    produce_mixed(bs, topic, w)
    fold = Fold(w)
    check_snapshot(snapshot(broker.http, topic), fold, typed, string_keys=string_keys)
    order = sorted(range(len(w)), key=lambda i: w.ts[i])
    for q in (w.ts[order[len(w) // 3]], w.ts[order[len(w) * 2 // 3]] - 1, max(w.ts) + 1):
        check_snapshot(snapshot(broker.http, topic, as_of=q), fold, typed, q, string_keys)
    empty = snapshot(broker.http, topic, as_of=min(w.ts) - 1)
    assert empty.num_rows == 0
    check_snapshot(empty, fold, typed, min(w.ts) - 1, string_keys)


# ------------------------------------------------------------------------------ e. schemas

def test_schema_violations_are_refused_and_nothing_is_stored(broker):
    bs, topic = broker.bootstrap, unique_topic("ctx-strict")
    create_topic(bs, topic, 1, table_config(True))
    good = {"risk_score": 0.25, "segment": "retail", "n": 1}
    assert delivery_errors(bs, topic, [(b"u1", json.dumps(good).encode())]) == [0]
    kp = KafkaProducer(bootstrap_servers=bs, retries=0, linger_ms=20, enable_idempotence=False,
                       metrics_enabled=False)
    try:
        bad = {"risk_score": {"risk_score": "high", "segment": "retail", "n": 2},
               "segment": {"risk_score": 0.5, "segment": 42},
               "colour": {"risk_score": 0.5, "colour": "red"}}
        for field, obj in bad.items():
            value = json.dumps(obj).encode()
            assert delivery_errors(bs, topic, [(b"u1", value)]) == [INVALID_RECORD], field
            msg = kp_error(bs, topic, b"u1", value, kp)
            assert field in msg, (field, msg)
        for value in (b"[1, 2]", b'"just a string"', b"42", b'{"risk_score": 0.5'):
            assert delivery_errors(bs, topic, [(b"u2", value)]) == [INVALID_RECORD], value
            assert kp_error(bs, topic, b"u2", value, kp).strip(), value
        # One bad record refuses its whole batch.
        batch = [(b"u3", json.dumps(good).encode()), (b"u1", b'{"n": "x"}'),
                 (b"u4", json.dumps(good).encode())]
        assert delivery_errors(bs, topic, batch) == [INVALID_RECORD] * 3

        c = admin(bs)
        assert watermarks(bs, topic) == (0, 1)
        assert watermarks(bs, f"{topic}.changelog") == (0, 1)
        status, row = lookup(broker.http, topic, "u1")
        assert (status, row["offset"], row["value"]) == (200, 0, good)
        for k in ("u2", "u3", "u4"):
            assert lookup(broker.http, topic, k)[0] == 404, k

        # value.schema needs value.format=json; unknown types are refused.
        for cfg in ({"cleanup.policy": "compact", "value.schema": json.dumps({"a": "int64"})},
                    {"cleanup.policy": "compact", "value.format": "json",
                     "value.schema": json.dumps({"a": "float128"})}):
            name = unique_topic("ctx-badcfg")
            with pytest.raises(Exception) as e:
                c.create_topics([NewTopic(name, 1, 1, config=cfg)], request_timeout=30)[name].result(30)
            assert e.value.args[0].code() == INVALID_CONFIG, e.value

        # Inference: int64 widens to float64, fields are added, other changes are refused.
        inf = unique_topic("ctx-infer")
        create_topic(bs, inf, 1, {"cleanup.policy": "compact", "value.format": "json"})
        assert delivery_errors(bs, inf, [(b"k1", b'{"amount": 1}')]) == [0]
        assert delivery_errors(bs, inf, [(b"k2", b'{"amount": 1.5, "bucket": "x"}')]) == [1]
        for value, field in ((b'{"amount": "str"}', "amount"), (b'{"bucket": 5}', "bucket")):
            assert delivery_errors(bs, inf, [(b"k3", value)]) == [INVALID_RECORD], value
            assert field in kp_error(bs, inf, b"k3", value, kp), value
        assert delivery_errors(bs, inf, [(b"k3", b"[1]")]) == [INVALID_RECORD]
        assert delivery_errors(bs, inf, [(b"k3", b'{"amount": 2}')]) == [2]
        snap = snapshot(broker.http, inf)
        t = snap.schema.field("value").type
        assert pa.types.is_struct(t)
        assert {t.field(i).name: t.field(i).type for i in range(t.num_fields)} == {
            "amount": pa.float64(), "bucket": pa.utf8()}, t
        assert snap.column("key").to_pylist() == [b"k1", b"k2", b"k3"]
        assert snap.column("value").to_pylist() == [
            {"amount": 1.0, "bucket": None}, {"amount": 1.5, "bucket": "x"},
            {"amount": 2.0, "bucket": None}]
        # Nulls are ignored until a value appears.
        assert delivery_errors(bs, inf, [(b"k4", b'{"amount": 3, "tag": null}')]) == [3]
        assert delivery_errors(bs, inf, [(b"k5", b'{"tag": "a"}')]) == [4]
        snap = snapshot(broker.http, inf)
        t = snap.schema.field("value").type
        assert {t.field(i).name: t.field(i).type for i in range(t.num_fields)} == {
            "amount": pa.float64(), "bucket": pa.utf8(), "tag": pa.utf8()}, t
        assert snap.column("value").to_pylist()[3:] == [
            {"amount": 3.0, "bucket": None, "tag": None}, {"amount": None, "bucket": None, "tag": "a"}]
    finally:
        kp.close(timeout=10)


# ------------------------------------------------------------------------------ f. headers

@pytest.mark.parametrize("typed", [False, True], ids=["raw", "typed"])
def test_lookups_history_and_join_carry_each_writes_headers(broker, typed):
    bs, topic = broker.bootstrap, unique_topic("ctx-lineage")
    create_topic(bs, topic, 2, table_config(typed))
    t0 = BASE_TS
    objs = [{"risk_score": 0.125, "segment": "retail", "n": 1},
            {"risk_score": 0.5, "segment": "smb", "n": 2},
            {"risk_score": 0.875, "segment": "café", "n": 3}, None,
            {"risk_score": 0.25, "segment": "retail", "n": 5}]
    hdrs = [[("model", b"risk-v1"), ("run", b"a")], [("model", b"risk-v2")],
            [("model", b"risk-v3"), ("model", b"risk-v3-shadow")], [("model", b"gc")],
            [("model", b"risk-v4")]]
    recs = [Rec(b"u7", None if o is None else json.dumps(o, ensure_ascii=False).encode(), h,
                t0 + 1000 * (i + 1), 1) for i, (o, h) in enumerate(zip(objs, hdrs))]
    assert produce(bs, topic, recs) == [(1, i) for i in range(5)]

    def val(i):
        return objs[i] if typed else recs[i].value.decode()

    def jh(i):
        return [{"key": k, "value": v.decode()} for k, v in hdrs[i]]

    status, row = lookup(broker.http, topic, "u7")
    assert status == 200, row
    assert (row["partition"], row["offset"], row["timestamp"], row["value"], row["headers"]) == (
        1, 4, t0 + 5000, val(4), jh(4))
    assert isinstance(row["value"], dict if typed else str)
    status, row = lookup(broker.http, topic, "u7", as_of=t0 + 3500)
    assert (status, row["offset"], row["value"], row["headers"]) == (200, 2, val(2), jh(2))
    assert lookup(broker.http, topic, "u7", as_of=t0 + 4500)[0] == 404

    status, text = http_get(f"{broker.http}/v1/tables/{topic}/keys/u7/history")
    assert status == 200, text
    got = [(c["op"], c["partition"], c["offset"], c["timestamp"], c["value"], c["headers"])
           for c in json.loads(text)["changes"]]
    ts = [r.timestamp for r in recs]
    assert got == [("+I", 1, 0, ts[0], val(0), jh(0)),
                   ("-U", 1, 1, ts[1], val(0), jh(1)), ("+U", 1, 1, ts[1], val(1), jh(1)),
                   ("-U", 1, 2, ts[2], val(1), jh(2)), ("+U", 1, 2, ts[2], val(2), jh(2)),
                   ("-D", 1, 3, ts[3], val(2), jh(3)), ("+I", 1, 4, ts[4], val(4), jh(4))]

    res = as_of_join(broker.http, topic, pa.table({"key": ["u7"] * 4, "timestamp": [
        t0 + 1500, t0 + 3500, t0 + 4500, t0 + 9000]}))
    assert res.column(f"{topic}__offset").to_pylist() == [0, 2, None, 4]
    assert res.column(f"{topic}__headers").to_pylist() == [
        [{"key": k, "value": v} for k, v in hdrs[i]] if i is not None else None for i in (0, 2, None, 4)]


# ------------------------------------------------------------------------------ g. TTL

TTL_MS = 6000


def test_ttl_expires_rows_and_survives_restarts(broker_factory):
    b = broker_factory(extra_args=maintenance_args(200))
    topic = unique_topic("ctx-ttl")
    a = admin(b.bootstrap)  # the Java-free path: confluent-kafka's AdminClient only
    a.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "compact,delete",
                                                   "retention.ms": str(TTL_MS)})])[topic].result(30)
    wait_topic(b.bootstrap, topic, 1)
    cfg = next(iter(a.describe_configs([ConfigResource("topic", topic)]).values())).result(30)
    assert (cfg["cleanup.policy"].value, cfg["retention.ms"].value) == ("compact,delete", str(TTL_MS))
    written: dict[bytes, tuple] = {}

    def write(key: bytes, ts: int) -> None:
        value, headers = b'{"user": "%s"}' % key, [("model", b"ttl-v1")]
        [(_, off)] = produce(b.bootstrap, topic, [Rec(key, value, headers, ts, 0)])
        written[key] = (off, ts, value)

    def rows_of(t: pa.Table) -> list[tuple]:
        return list(zip(t.column("key").to_pylist(), t.column("offset").to_pylist()))

    def wait_expired(key: bytes) -> None:
        deadline = written[key][1] + TTL_MS + 30_000
        while wall_ms() < deadline:
            status, text = http_get(f"{b.http}/v1/tables/{topic}/keys/{key.decode()}/history")
            if status == 200 and json.loads(text)["changes"][-1]["op"] == "-D":
                return
            time.sleep(0.2)
        raise AssertionError(f"no expiry of {key} within 30 s of its moment")

    def check_expired(key: bytes) -> None:
        off, tw, value = written[key]
        e = tw + TTL_MS
        assert lookup(b.http, topic, key.decode())[0] == 404, key
        status, row = lookup(b.http, topic, key.decode(), as_of=e - 1)
        assert status == 200, (key, row)
        assert (row["offset"], row["timestamp"], row["value"], row["headers"]) == (
            off, tw, value.decode(), [{"key": "model", "value": "ttl-v1"}])
        for q in (e, e + 1, e + 60_000):
            assert lookup(b.http, topic, key.decode(), as_of=q)[0] == 404, (key, q)
        assert (key, off) in rows_of(snapshot(b.http, topic, as_of=e - 1))
        assert key not in [k for k, _ in rows_of(snapshot(b.http, topic, as_of=e))]
        res = as_of_join(b.http, topic, pa.table({"key": [key] * 3, "timestamp": [e - 1, e, wall_ms()]}))
        assert res.column(f"{topic}__offset").to_pylist() == [off, None, None], key
        dels = [m for m in consume(b.bootstrap, f"{topic}.changelog", 0)
                if m.key() == key and dict(m.headers())["weir.op"] == b"-D"]
        assert len(dels) == 1, f"{key}: {len(dels)} -D records"
        h = dict(dels[0].headers())
        assert (h.get("weir.expired"), dels[0].timestamp()[1], dels[0].value()) == (b"true", e, value)
        tombs = [m for m in consume(b.bootstrap, topic, 0) if m.key() == key and m.value() is None]
        assert [(m.timestamp()[1], ("weir.expired", b"true") in m.headers()) for m in tombs] == [(e, True)]
        status, text = http_get(f"{b.http}/v1/tables/{topic}/keys/{key.decode()}/history")
        last = json.loads(text)["changes"][-1]
        assert (last["op"], last["timestamp"], last["offset"]) == ("-D", e, tombs[0].offset())
        assert {"key": "weir.expired", "value": "true"} in last["headers"], last

    # A write already older than retention.ms is never returned now, only as of before then.
    write(b"stale", wall_ms() - 60_000)
    write(b"a", wall_ms())
    status, row = lookup(b.http, topic, "a")
    assert (status, row.get("offset")) == (200, written[b"a"][0]), row
    assert lookup(b.http, topic, "stale")[0] == 404
    assert lookup(b.http, topic, "stale", as_of=written[b"stale"][1])[0] == 200
    assert rows_of(snapshot(b.http, topic)) == [(b"a", written[b"a"][0])]
    wait_expired(b"a")
    check_expired(b"a")
    assert snapshot(b.http, topic).num_rows == 0

    # Expiry while the broker is down: a clean stop, then SIGKILL.
    for key, stop in ((b"b", b.terminate), (b"c", b.kill)):
        write(key, wall_ms())
        stop()
        expiry = written[key][1] + TTL_MS
        assert wall_ms() < expiry - 500, "the broker took too long to stop"
        time.sleep((expiry + 1000 - wall_ms()) / 1000)
        b.start()
        assert lookup(b.http, topic, key.decode())[0] == 404  # the wall clock passed it
        wait_expired(key)
        for k in written:
            if k != b"stale":
                check_expired(k)
        assert snapshot(b.http, topic).num_rows == 0


# ------------------------------------------------------------------------------ h. tiered

def test_duckdb_and_polars_over_tiered_typed_files(broker_factory, tmp_path):
    root = tmp_path / "remote"
    b = broker_factory(extra_args=["--object-store", f"file://{root}"], env=FAST)
    t = Tiered(b, FileStore(root))
    topic = unique_topic("ctx-tier")
    create_topic(b.bootstrap, topic, 1, table_config(True, **TIERED))
    rnd = random.Random(5)
    recs = []
    for i in range(6000):
        value = None if i > 500 and rnd.random() < 0.05 else random_value(rnd, i)
        recs.append(Rec(b"user-%04d" % rnd.randrange(800), value, [("model", MODELS[i % 5])],
                        BASE_TS + i, 0))
    offs = produce(b.bootstrap, topic, recs, conf=SMALL_BATCHES)
    assert [o for _, o in offs] == list(range(len(recs)))
    segs = t.wait_settled(topic, timeout=180)
    end = segs[-1]["last_offset"] + 1
    assert end >= 3000, f"only {end} records tiered"
    tiered = recs[:end]
    table = pa.concat_tables([read_arrow(t.store.get(s["object"])) for s in segs])
    types = {f.name: f.type for f in table.schema}
    check_value_type(types["value"], True, "tiered value")
    assert types["value_raw"] == pa.binary() and types["key"] == pa.binary(), table.schema
    assert table.column("offset").to_pylist() == list(range(end))
    assert table.column("value_raw").to_pylist() == [r.value for r in tiered]
    first_difference(table.column("value").to_pylist(), [typed_value(r.value) for r in tiered],
                     "tiered value")

    want: dict = {}
    for r in tiered:
        if r.value is not None:
            v = json.loads(r.value)
            n, s = want.get(v["segment"], (0, 0.0))
            want[v["segment"]] = (n + 1, s + v["risk_score"])
    con = duckdb.connect()
    con.register("ctx", table)
    got = con.execute('SELECT "value".segment, count(*), sum("value".risk_score) FROM ctx '
                      'WHERE "value" IS NOT NULL GROUP BY 1').fetchall()
    assert {seg: (n, s) for seg, n, s in got} == want  # exact: scores are multiples of 2^-11
    assert con.execute('SELECT count(*) FROM ctx WHERE "value" IS NULL AND value_raw IS NULL'
                       ).fetchone()[0] == sum(r.value is None for r in tiered)

    x = 50.0
    df = pl.from_arrow(table)
    n = df.filter(pl.col("value").struct.field("risk_score") > x).height
    assert n == sum(1 for r in tiered if r.value is not None and json.loads(r.value)["risk_score"] > x)
    assert 0 < n < end


# ------------------------------------------------------------------------------ i. bad requests

def test_malformed_join_requests_get_4xx_and_the_broker_keeps_serving(broker_factory):
    limit = 4096
    b = broker_factory(extra_args=["--http-max-body-bytes", str(limit)])
    topic = unique_topic("ctx-bad")
    create_topic(b.bootstrap, topic, 1, table_config(False))
    w = Writes()
    for i in range(40):
        w.add(b"user-%03d" % (i % 20), b'{"i": %d}' % i, BASE_TS + 10 * i)
    produce_mixed(b.bootstrap, topic, w)
    fold = Fold(w)
    path = join_path(topic, key="event_key", timestamp="event_time")
    keys = pa.array(["user-001", "user-002"])
    times = pa.array([BASE_TS + 500, BASE_TS + 50], pa.int64())

    def arrow(**cols) -> bytes:
        return ipc_bytes(pa.table(cols))

    cases = [
        ("no key column", arrow(event_time=times, label=pa.array([1, 2])), ARROW, 400, "event_key"),
        ("no timestamp column", arrow(event_key=keys), ARROW, 400, "event_time"),
        ("float64 key", arrow(event_key=pa.array([1.5, 2.5]), event_time=times), ARROW, 400, "event_key"),
        ("utf8 timestamp", arrow(event_key=keys, event_time=pa.array(["2024-01-01", "x"])),
         ARROW, 400, "event_time"),
        ("not Arrow IPC", b"\x00garbage, not an Arrow stream\n" * 8, ARROW, 400, None),
        ("invalid JSON", b'[{"event_key": "user-001", ', "application/json", 400, None),
        ("JSON not an array", b'{"event_key": "user-001"}', "application/json", 400, None),
        ("JSON without key", json.dumps([{"event_time": 1}]).encode(), "application/json", 400,
         "event_key"),
    ]
    for name, body, ctype, want_status, needle in cases:
        status, msg = error_of(post(b.http, path, body, ctype))
        assert status == want_status, (name, status, msg)
        if needle:
            assert needle in msg, (name, msg)
    ghost = unique_topic("ctx-ghost")
    small = arrow(event_key=keys, event_time=times)
    for p in (join_path(topic, key="event_key", timestamp="event_time", tables=[ghost]),
              join_path(ghost, key="event_key", timestamp="event_time")):
        status, msg = error_of(post(b.http, p, small, ARROW))
        assert status == 404 and ghost in msg, (p, status, msg)

    # The limit applies to each Arrow message: one record batch over it is refused ...
    big = pa.table({"event_key": ["user-%03d-%s" % (i % 20, "x" * 24) for i in range(150)],
                    "event_time": pa.array([BASE_TS] * 150, pa.int64())})
    assert big.to_batches()[0].serialize().size > limit * 1.3
    body = ipc_bytes(big)
    assert len(body) < 8192  # small enough to be read whole before the answer (no reset)
    assert error_of(post(b.http, path, body, ARROW))[0] == 413
    status, _ = error_of(post(b.http, path, json.dumps([{"event_key": "k" * 50, "event_time": 1}
                                                         for _ in range(80)]).encode(), "application/json"))
    assert status == 413
    # ... while many small ones adding up to more than the limit are fine.
    rnd = random.Random(9)
    qkeys = [b"user-%03d" % rnd.randrange(25) for _ in range(960)]
    qs = [BASE_TS + rnd.randint(-20, 420) for _ in qkeys]
    inp = pa.table({"event_key": [k.decode() for k in qkeys], "event_time": pa.array(qs, pa.int64())})
    batches = inp.to_batches(max_chunksize=40)
    assert all(x.serialize().size < limit - 512 for x in batches)
    body = ipc_bytes(batches)
    assert len(body) > 3 * limit
    res = as_of_join(b.http, topic, body, key="event_key", timestamp="event_time")
    check_block(res, topic, False, want_block(fold, False, zip(qkeys, qs)))
    assert http_get(b.http + "/health")[0] == 200
    assert b.alive()
