"""Node clients against Weir: kafkajs 2.2.4 and @platformatic/kafka 1.x, each producing
records and reading them back through a consumer group (node/*.mjs), with exact keys,
values, headers, offsets and committed offsets. The bytes on the broker are cross-checked
with confluent-kafka."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import COMPAT, unique_topic
from weirtest import consume, create_topic

NODE_DIR = Path(os.environ.get("WEIR_NODE_DIR",
                               Path(os.environ.get("WEIR_CACHE", Path.home() / ".cache" / "weir")) / "node"))
NODE_MODULES = NODE_DIR / "node_modules"
N, PARTS = 200, 2


def run_node(script: str, *args) -> dict:
    env = dict(os.environ)
    env["NODE_PATH"] = str(NODE_MODULES)
    # ESM ignores NODE_PATH: run a copy of the script placed inside NODE_DIR so that bare
    # imports resolve against NODE_DIR/node_modules.
    run_dir = NODE_DIR / "weir-scripts"
    run_dir.mkdir(exist_ok=True)
    copy = run_dir / script
    shutil.copyfile(COMPAT / "node" / script, copy)
    p = subprocess.run(["node", str(copy), *map(str, args)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=120)
    out, err = p.stdout.decode(), p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, f"{script} exit {p.returncode}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-6000:]}"
    return json.loads(out.strip().splitlines()[-1])


def need(pkg: str):
    if shutil.which("node") is None or not (NODE_MODULES / pkg).is_dir():
        pytest.fail(f"node or {pkg} missing in {NODE_MODULES} (scripts/install-group-test-deps.sh)")


def expected(prefix: str, src: str, with_bin: bool) -> list[dict]:
    out = []
    per = {p: 0 for p in range(PARTS)}
    for i in range(N):
        p = i % PARTS
        headers = {"idx": str(i).encode().hex(), "src": src.encode().hex()}
        if with_bin:
            headers["bin"] = bytes([0, 255, i % 256]).hex()
        out.append({"partition": p, "offset": per[p], "key": f"{prefix}-key-{i}",
                    "value": "" if i % 10 == 3 else f"{prefix}-value-{i}-" + ("x" if with_bin else "y") * (i % 50),
                    "headers": headers})
        per[p] += 1
    return out


def check(broker, topic, res, prefix, src, with_bin):
    want = expected(prefix, src, with_bin)
    key = lambda r: (r["partition"], r["offset"])  # noqa: E731
    got = sorted(res["consumed"], key=key)
    assert len(got) == N, f"consumed {len(got)} records, want {N}"
    for g, w in zip(got, sorted(want, key=key)):
        assert g == w, f"record differs:\n got  {g}\n want {w}"
    assert {int(k): v for k, v in res["committed"].items()} == {p: N // PARTS for p in range(PARTS)}
    # the same bytes through librdkafka
    for p in range(PARTS):
        msgs = consume(broker.bootstrap, topic, partition=p)
        assert [(m.offset(), m.key().decode(), m.value().decode()) for m in msgs] == [
            (w["offset"], w["key"], w["value"]) for w in want if w["partition"] == p]
        assert [{k: v.hex() for k, v in m.headers()} for m in msgs] == [
            w["headers"] for w in want if w["partition"] == p]


def test_kafkajs_produce_and_group_consume(broker):
    need("kafkajs")
    topic = unique_topic("kjs")
    group = f"grp-{topic}"
    create_topic(broker.bootstrap, topic, partitions=PARTS)
    res = run_node("kafkajs_group.mjs", broker.bootstrap, topic, group, N, PARTS)
    assert sorted((m["partition"], m["baseOffset"], m["errorCode"]) for m in res["produced"]) == [
        (p, 0, 0) for p in range(PARTS)], res["produced"]
    check(broker, topic, res, "kjs", "kafkajs", True)
    assert res["listed"] is True
    assert (res["state"], res["members"]) == ("Empty", 0)


def test_platformatic_produce_and_group_consume(broker):
    need("@platformatic/kafka")
    topic = unique_topic("pk")
    group = f"grp-{topic}"
    create_topic(broker.bootstrap, topic, partitions=PARTS)
    res = run_node("platformatic_group.mjs", broker.bootstrap, topic, group, N, PARTS)
    assert res["produced"], res
    check(broker, topic, res, "pk", "platformatic", False)
