"""Java kafka-clients 3.9.1 against Weir (see java/WeirCompat.java)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import COMPAT, unique_topic
from javatest import SRC, classpath, compile_java

BUILD = COMPAT / ".build" / "java"

@pytest.fixture(scope="module")
def compiled() -> Path:
    return compile_java(BUILD, sorted(SRC.glob("*.java")))


@pytest.mark.parametrize("compression,n", [("none", 3000), ("zstd", 3000), ("lz4", 1000)])
def test_java_clients(broker, compiled, compression, n):
    topic = unique_topic(f"java-{compression}")
    cmd = ["java", "-Xmx512m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
           "-cp", classpath(compiled), "WeirCompat", broker.bootstrap, topic, str(n), compression]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=280)
    out, err = p.stdout.decode(), p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{out}\nstderr (tail):\n{err[-6000:]}"
    results = dict(line[len("RESULT "):].split("=", 1) for line in out.splitlines()
                   if line.startswith("RESULT "))
    per0 = (n + 2) // 3
    assert results == {
        "cluster_nodes": "1",
        "partitions": "3",
        "retention.ms": "12345678",
        "produced": str(n),
        "latest0": str(per0),
        "earliest0_after_delete": "10",
        "consumed": str(n - 10),
        "partitions_after": "5",
        "deleted": "true",
    }
    assert out.splitlines()[-1] == "OK"
