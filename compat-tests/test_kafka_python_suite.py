"""kafka-python's own SASL and SSL integration tests, from its sdist, against Weir.

kafka-python 3.0.12's sdist carries `test/integration/test_sasl_integration.py` (KafkaAdminClient
create_topics, a 100-record produce/consume over two partitions, and a raw MetadataRequest via
KafkaNetClient, each with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 over SASL_PLAINTEXT) and
`test_ssl_integration.py` (a raw TLS handshake and KafkaNetClient.check_version over SSL).
They start their broker through `KafkaFixture`; kafka_python_suite/weir_fixtures.py is that
fixture with `weir serve` as the broker (see its docstring for the flags and users).

The test downloads the sdist once into $WEIR_CACHE/kafka-python-sdist (default
~/.cache/weir), checks its sha256, copies the test files unmodified into a scratch tree beside
our fixture and conftest, and runs them in a subprocess. It fails, never skips, when the sdist
cannot be had, and it asserts the exact set of passed tests: a test of theirs that skips
(e.g. a missing KAFKA_VERSION, an external KAFKA_URI) counts as a failure.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import kafka
import pytest

from conftest import COMPAT, weir_bin
from test_security import pki  # noqa: F401  (module-scoped openssl CA + server certificate)

KAFKA_PYTHON_VERSION = "3.0.12"
SDIST_NAME = f"kafka_python-{KAFKA_PYTHON_VERSION}.tar.gz"
SDIST_SHA256 = "4ccda3616b9aa5c353d74a97f2770d6cd1b950890d77ab0e8890e09a48eeed65"
SUITE = COMPAT / "kafka_python_suite"
CACHE = Path(os.environ.get("WEIR_CACHE") or Path.home() / ".cache" / "weir") / "kafka-python-sdist"
# The broker version the tests are told (KAFKA_VERSION); it gates their skipifs (SASL needs
# >= 0.10.2, SSL >= 0.9) and is the clients' starting api_version, which they lower to what
# Weir's ApiVersions answers. 4.2.0 is kafka-python's own fixture default.
KAFKA_VERSION = "4.2.0"

# sdist member -> where it goes in the scratch tree (copied byte for byte).
UPSTREAM_FILES = {
    "test/testutil.py": "test/testutil.py",
    "test/integration/__init__.py": "test/integration/__init__.py",
    "test/integration/conftest.py": "test/integration/conftest.py",
    "test/integration/fixtures.py": "test/integration/kafka_python_fixtures.py",
    "test/integration/test_sasl_integration.py": "test/integration/test_sasl_integration.py",
    "test/integration/test_ssl_integration.py": "test/integration/test_ssl_integration.py",
}
# ours -> where it goes.
OUR_FILES = {
    "weir_fixtures.py": "test/integration/fixtures.py",
    "weir_plugin.py": "conftest.py",
    "pytest.ini": "pytest.ini",
}
TEST_FILES = ["test/integration/test_sasl_integration.py",
              "test/integration/test_ssl_integration.py"]

MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
EXPECTED_PASSED = sorted(
    [f"test/integration/test_sasl_integration.py::{t}[{m}]"
     for t in ("test_admin", "test_produce_and_consume", "test_client") for m in MECHANISMS]
    + [f"test/integration/test_ssl_integration.py::TestSSLConnection::{t}"
       for t in ("test_ssl_handshake", "test_legacy_kafka_client_ssl")])

RUN_TIMEOUT_S = 180


def sdist() -> Path:
    """The sdist from the cache, or downloaded into it with pip (failing, not skipping)."""
    path = CACHE / SDIST_NAME
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                   "--no-deps", "--no-binary", ":all:", f"kafka-python=={KAFKA_PYTHON_VERSION}",
                   "-d", tmp]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            got = Path(tmp) / SDIST_NAME
            if proc.returncode != 0 or not got.exists():
                pytest.fail(f"could not download kafka-python {KAFKA_PYTHON_VERSION}'s sdist "
                            f"(rc={proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
            os.replace(got, path)  # atomic: a concurrent run sees all of it or nothing
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        pytest.fail(f"{path}: sha256 {digest}, expected {SDIST_SHA256} (delete it to re-download)")
    return path


def build_tree(root: Path) -> None:
    prefix = f"kafka_python-{KAFKA_PYTHON_VERSION}/"
    with tarfile.open(sdist(), "r:gz") as tar:
        for member, dest in UPSTREAM_FILES.items():
            f = tar.extractfile(prefix + member)
            assert f is not None, f"{member} missing from {SDIST_NAME}"
            (root / dest).parent.mkdir(parents=True, exist_ok=True)
            (root / dest).write_bytes(f.read())
    for src, dest in OUR_FILES.items():
        shutil.copyfile(SUITE / src, root / dest)
    # The sdist has no test/__init__.py; without one the standard library's `test` package
    # shadows theirs (a namespace package loses to a regular one) and `test.testutil` fails.
    (root / "test" / "__init__.py").write_text("")


def summary_counts(output: str) -> dict:
    """{'passed': 11, 'warning': 218, ...} from pytest's final summary line (plurals folded)."""
    lines = [ln for ln in output.strip().splitlines() if re.search(r"\bin [0-9.]+s\b", ln)]
    assert lines, "no pytest summary line in the output"
    return {word.rstrip("s") if word in ("errors", "warnings") else word: int(n)
            for n, word in re.findall(r"(\d+) (\w+)", lines[-1])}


def test_kafka_python_sasl_and_ssl_integration_suite(tmp_path, pki):  # noqa: F811
    assert kafka.__version__ == KAFKA_PYTHON_VERSION, (
        f"kafka-python {kafka.__version__} installed; these tests are {KAFKA_PYTHON_VERSION}'s")
    assert weir_bin().exists(), f"weir binary missing at {weir_bin()}"
    root = tmp_path / "kafka-python"
    build_tree(root)

    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_URI", "ZOOKEEPER_URI", "PYTEST_ADDOPTS", "PYTHONPATH")}
    env.update({
        "KAFKA_VERSION": KAFKA_VERSION,
        "WEIR_BIN": str(weir_bin()),
        "WEIR_COMPAT_TESTS": str(COMPAT),
        "WEIR_KP_SSL_CA": pki["ca"],
        "WEIR_KP_SSL_KEYSTORE": pki["keystore"],
        "PYTHONDONTWRITEBYTECODE": "1",
        "TMPDIR": str(tmp_path),  # the SASL fixtures' brokers make their dirs here
    })
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEsxXp",
           "-c", str(root / "pytest.ini"), "--rootdir", str(root), *TEST_FILES]
    start = time.monotonic()
    # Its own process group: the brokers its fixtures start are in it too, so none outlives
    # a hung or killed run.
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        stdout, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate()
        stdout += f"\n[killed after {RUN_TIMEOUT_S}s]"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers only; normally the group is gone
        except ProcessLookupError:
            pass
    took = time.monotonic() - start
    out_file = tmp_path / "pytest-output.txt"
    out_file.write_text(stdout)
    tail = "\n".join(stdout.splitlines()[-300:])
    context = (f"{' '.join(cmd)} (cwd {root}) rc={proc.returncode} in {took:.1f}s, "
               f"full output in {out_file}\n{tail}")

    assert proc.returncode == 0, context
    counts = summary_counts(stdout)
    assert counts.get("passed") == len(EXPECTED_PASSED), context
    for bad in ("failed", "error", "skipped", "xfailed", "xpassed", "deselected"):
        assert counts.get(bad, 0) == 0, f"{bad}: {counts[bad]}\n{context}"
    passed = sorted(re.findall(r"^PASSED (\S+)", stdout, re.M))
    assert passed == EXPECTED_PASSED, context
