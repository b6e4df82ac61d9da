"""Shared fixtures for Weir's compatibility tests.

Every test drives the real `weir` binary over loopback TCP. The `broker` fixture starts a
fresh broker (fresh temp data dir, free ports), waits for `GET /ready`, and captures the
broker's stderr to a file whose tail is attached to the report of a failing test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMPAT = Path(__file__).resolve().parent
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def weir_bin() -> Path:
    env = os.environ.get("WEIR_BIN")
    if env:
        return Path(env)
    target = os.environ.get("CARGO_TARGET_DIR")
    base = Path(target) if target else REPO / "target"
    if not base.is_absolute():
        base = REPO / base
    return base / "debug" / "weir"


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A currently free loopback port, never the same one twice in this session."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port")


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class BrokerError(AssertionError):
    pass


class Broker:
    """A `weir serve` process on loopback ports with its own data directory."""

    def __init__(self, workdir: Path, env: dict | None = None, extra_args: list | None = None,
                 use_flags: bool = True, config_file: Path | None = None,
                 port: int | None = None, http_port: int | None = None,
                 data_dir: Path | None = None):
        self.workdir = workdir
        self.data_dir = data_dir or (workdir / "data")
        self.port = port or free_port()
        self.http_port = http_port or free_port()
        self.env_extra = dict(env or {})
        self.extra_args = list(extra_args or [])
        self.use_flags = use_flags
        self.config_file = config_file
        self.log_path = workdir / "weir.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.last_exit_code: int | None = None

    # ------------------------------------------------------------------ addresses
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # ------------------------------------------------------------------ lifecycle
    def command(self) -> list[str]:
        cmd = [str(weir_bin()), "serve"]
        if self.config_file is not None:
            cmd += ["--config", str(self.config_file)]
        if self.use_flags:
            cmd += [
                "--data-dir", str(self.data_dir),
                "--listen", self.bootstrap,
                "--advertised", self.bootstrap,
                "--http", f"127.0.0.1:{self.http_port}",
            ]
        return cmd + self.extra_args

    def start(self, wait: bool = True) -> "Broker":
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        binary = weir_bin()
        if not binary.exists():
            raise BrokerError(f"weir binary not found at {binary} (build it or set WEIR_BIN)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        env.update(self.env_extra)
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(self.command())} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, env=env, cwd=str(self.workdir))
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise BrokerError(
                    f"weir exited with code {self.proc.returncode} before becoming ready\n"
                    + self.log_tail())
            try:
                status, _ = http_get(self.http + "/ready", timeout=2.0)
                if status == 200 and self._kafka_port_open():
                    return
                last = f"/ready -> {status}"
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        raise BrokerError(f"weir not ready after {timeout}s (last: {last})\n" + self.log_tail())

    def _kafka_port_open(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (a crash) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        if self.proc is not None:
            self.last_exit_code = self.proc.returncode
        self._note(f"killed (SIGKILL), rc={self.last_exit_code}")

    def terminate(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait for exit, return the exit code (SIGKILL + failure on timeout)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
                raise BrokerError(f"weir did not exit within {timeout}s of SIGTERM\n" + self.log_tail())
        self.last_exit_code = self.proc.returncode
        self._note(f"terminated (SIGTERM), rc={self.last_exit_code}")
        return self.last_exit_code

    def restart(self, crash: bool = True) -> "Broker":
        if crash:
            self.kill()
        else:
            self.terminate()
        return self.start()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.terminate(timeout=15)
        except BrokerError:
            pass

    def _note(self, msg: str) -> None:
        with open(self.log_path, "ab") as f:
            f.write(f"===== {msg} =====\n".encode())

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 150) -> str:
        text = self.log_text().splitlines()
        return f"--- weir stderr ({self.log_path}), last {lines} lines ---\n" + "\n".join(text[-lines:])

    # ------------------------------------------------------------------ storage helpers
    def partition_dir(self, topic: str, partition: int) -> Path:
        return self.data_dir / "topics" / f"{topic}-{partition}"

    def active_segment(self, topic: str, partition: int) -> Path:
        segs = sorted(self.partition_dir(topic, partition).glob("*.log"))
        assert segs, f"no segment files in {self.partition_dir(topic, partition)}"
        return segs[-1]


# ---------------------------------------------------------------------- pytest glue
_BROKERS_KEY = pytest.StashKey[list]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for b in item.stash.get(_BROKERS_KEY, []):
            report.sections.append((f"weir stderr ({b.log_path})", b.log_tail(200)))


@pytest.fixture
def broker_factory(request, tmp_path):
    """Create (and by default start) brokers; all are stopped at teardown."""
    created: list[Broker] = []
    request.node.stash[_BROKERS_KEY] = created

    def make(start: bool = True, name: str | None = None, **kw) -> Broker:
        workdir = tmp_path / (name or f"broker{len(created)}")
        b = Broker(workdir, **kw)
        created.append(b)
        if start:
            b.start()
        return b

    yield make
    for b in created:
        b.stop()
        if b.proc is not None and b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture
def broker(broker_factory) -> Broker:
    """A fresh broker for one test."""
    return broker_factory()


@pytest.fixture
def topic_name():
    return unique_topic()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test")


def pytest_report_header(config):
    b = weir_bin()
    return f"weir binary: {b} ({'present' if b.exists() else 'MISSING'})"


def pytest_collection_modifyitems(config, items):
    # Fail fast with a clear message when the binary is missing instead of 100 timeouts.
    if not weir_bin().exists():
        skip = pytest.mark.skip(reason=f"weir binary missing at {weir_bin()}")
        if os.environ.get("WEIR_REQUIRE_BIN", "1") == "1":
            return  # tests will fail in the fixture with a clear error
        for item in items:
            item.add_marker(skip)


def which(name: str) -> str | None:
    return shutil.which(name)
