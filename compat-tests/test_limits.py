"""Connection and HTTP limits under hostile patterns (issue 10, items 4 and 6).

Kafka listener: fetches that are never read back up instead of buffering (RSS bounded),
thousands of idle connections, max.connections and max.connections.per.ip refusals,
connections.max.idle.ms, and bare 100 MiB length prefixes that must not cost 100 MiB each.
HTTP listener: slowloris header trickling, the concurrency limit, the body limit (413) and
the batch lookup key cap (400). Every refusal is checked against its metric exactly.
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import selectors
import socket
import struct
import time
import urllib.request

import pytest

import rawkafka as rk
from conftest import http_get, unique_topic
from weirtest import BASE_TS, Rec, consume, create_topic, expected_tuple, gen_records, msg_tuple, produce

MIB = 1024 * 1024
API_FETCH = 1


# ---------------------------------------------------------------------------- helpers
def metric(broker, name: str, labels: str = "") -> float:
    """The value of `name{labels}` on /metrics (0 when absent)."""
    status, text = http_get(broker.http + "/metrics")
    assert status == 200
    sel = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(sel + " "):
            return float(line.split()[-1])
    return 0.0


def wait_for(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def proc_status(broker, field: str) -> int:
    """A /proc/<pid>/status size field of the broker process, in bytes."""
    with open(f"/proc/{broker.proc.pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{broker.proc.pid}/status")


def rss(broker) -> int:
    return proc_status(broker, "VmRSS")


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def assert_served(broker, n: int = 20) -> None:
    """A confluent-kafka producer and consumer are served, with exact results."""
    assert broker.alive(), "broker process died\n" + broker.log_tail()
    topic = unique_topic("served")
    recs = gen_records(n, seed=11)
    assert produce(broker.bootstrap, topic, recs, timeout=60) == [(0, i) for i in range(n)]
    got = [msg_tuple(m) for m in consume(broker.bootstrap, topic, timeout=60)]
    assert got == [expected_tuple(i, r) for i, r in enumerate(recs)]


def api_versions_ok(s: socket.socket, correlation_id: int) -> None:
    s.sendall(rk.api_versions_request(3, correlation_id))
    resp = rk.parse_api_versions(rk.recv_frame(s), 3)
    assert (resp["correlation_id"], resp["error_code"]) == (correlation_id, 0)


def closed_now(s: socket.socket) -> bool:
    """Whether the peer has closed `s` (EOF or reset) — without blocking."""
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        s.setblocking(True)


def fetch_v4(topic: str, correlation_id: int) -> bytes:
    """A Fetch v4 asking for everything: max_bytes = partition_max_bytes = 2^31-1."""
    name = topic.encode()
    body = struct.pack(">iiiib", -1, 0, 1, 0x7FFFFFFF, 0)  # replica, max_wait, min_bytes, max_bytes, isolation
    body += struct.pack(">i", 1) + struct.pack(">h", len(name)) + name
    body += struct.pack(">i", 1) + struct.pack(">iqi", 0, 0, 0x7FFFFFFF)  # partition, offset, max
    return rk.frame(rk.header_v1(API_FETCH, 4, correlation_id) + body)


def open_idle(broker, n: int) -> list[socket.socket]:
    host, port = broker.bootstrap.rsplit(":", 1)
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect((host, int(port)))
        socks.append(s)
    return socks


def close_all(socks) -> None:
    for s in socks:
        s.close()


# ---------------------------------------------------------------------------- Kafka listener
def test_unread_fetches_back_up_instead_of_buffering(broker):
    """16 connections x 32 pipelined fetches of everything, never reading a byte back.

    The topic holds 4 MiB, so each response is ~4 MiB. Buffered, the answers would take
    16 x 32 x 4 MiB = 2 GiB. With the response budget a connection dispatches one fetch (its
    budget is fetch.max.bytes = 55 MiB, and two exceed queued_max_response_bytes = 64 MiB), and
    stops reading while its response waits on the socket: at most ~2 responses' worth (the
    response while encoded, ~8 MiB) per connection, 16 x 8 = 128 MiB. The bound allows
    300 MiB over the baseline for allocator slack.
    """
    topic = unique_topic("unread")
    value = 64 * 1024
    recs = [Rec(f"k{i}".encode(), os.urandom(value), None, BASE_TS + i, 0) for i in range(64)]
    assert produce(broker.bootstrap, topic, recs, {"compression.type": "none"}) == [
        (0, i) for i in range(64)]
    # Warm up: one consumer reads it all, so caches and pools are at their working size.
    assert len(consume(broker.bootstrap, topic, timeout=60)) == 64
    base = rss(broker)

    socks = []
    for _ in range(16):
        s = rk.connect(broker.bootstrap)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(b"".join(fetch_v4(topic, c) for c in range(32)))
        socks.append(s)
    peak = base
    # The broker has everything it needs: sample while it (does not) buffer the answers.
    for _ in range(50):
        peak = max(peak, rss(broker))
        time.sleep(0.1)
    assert_served(broker)
    peak = max(peak, rss(broker))
    print(f"RSS baseline {base / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB "
          f"(+{(peak - base) / MIB:.0f} MiB) with 16x32 unread 4 MiB fetches")
    assert peak - base < 300 * MIB, f"RSS grew {(peak - base) / MIB:.0f} MiB"
    # The stuck connections are still open (backpressure, not disconnection) and answer once read.
    first = socks[0]
    first.settimeout(30)
    resp = rk.recv_frame(first)
    assert struct.unpack_from(">i", resp, 0)[0] == 0  # correlation id of the first fetch
    assert len(resp) > 4 * MIB
    close_all(socks)
    assert broker.alive()


@pytest.mark.parametrize("max_connections", [10_000, 1_000])
def test_5000_idle_connections(broker_factory, max_connections):
    """5,000 idle connections: under max.connections all are held and a new client is served;
    over it the excess is closed at accept, counted exactly, and a client is served once
    slots free up."""
    n = 5000
    raise_nofile(3 * n)
    broker = broker_factory(extra_args=["--max-connections", str(max_connections),
                                        "--max-connections-per-ip", "100000"])
    wait_for(lambda: metric(broker, "weir_connections_open") == 0, 30, "probe connections to close")
    socks = open_idle(broker, n)
    try:
        refused = max(0, n - max_connections)
        wait_for(lambda: metric(broker, "weir_connections_open") == min(n, max_connections), 60,
                 "connections to be accepted")
        wait_for(lambda: metric(broker, "weir_connections_rejected_total",
                                'reason="max_connections"') == refused, 60,
                 f"{refused} refusals")
        sel = selectors.DefaultSelector()
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        # Every refused socket reports EOF; give them a generous moment to all be readable.
        wait_for(lambda: len(sel.select(timeout=0)) >= refused, 30, "refused sockets to close")
        time.sleep(0.5)
        readable = [key.fileobj for key, _ in sel.select(timeout=0)]
        sel.close()
        assert len(readable) == refused
        assert all(closed_now(s) for s in readable)
        if refused:
            assert "refusing connection: limit reached" in broker.log_text()
            # At the limit a new client is refused too; free some slots and it is served.
            for s in socks[:10]:
                if s not in readable:
                    s.close()
            wait_for(lambda: metric(broker, "weir_connections_open") <= max_connections - 10,
                     30, "slots to free")
        assert_served(broker)
        assert metric(broker, "weir_connections_rejected_total",
                      'reason="max_connections_per_ip"') == 0
    finally:
        close_all(socks)


def test_max_connections_per_ip(broker_factory):
    broker = broker_factory(extra_args=["--max-connections-per-ip", "3"])
    # The readiness probe's connection may still wait in the listen backlog (gauge 0) and be
    # admitted, then closed, later: wait until the count has stayed 0 for a while.
    for _ in range(2):
        wait_for(lambda: metric(broker, "weir_connections_open") == 0, 30,
                 "probe connections to close")
        time.sleep(0.5)
    held = [rk.connect(broker.bootstrap) for _ in range(3)]
    for i, s in enumerate(held):
        api_versions_ok(s, i)
    fourth = rk.connect(broker.bootstrap)
    assert rk.wait_closed(fourth) == b""
    fourth.close()
    assert metric(broker, "weir_connections_rejected_total", 'reason="max_connections_per_ip"') == 1
    assert metric(broker, "weir_connections_rejected_total", 'reason="max_connections"') == 0
    assert metric(broker, "weir_connections_open") == 3
    log = broker.log_text()
    assert "refusing connection: limit reached" in log and "max_connections_per_ip" in log
    # The three admitted connections are unaffected.
    for i, s in enumerate(held):
        api_versions_ok(s, 10 + i)
    close_all(held)
    wait_for(lambda: metric(broker, "weir_connections_open") == 0, 30, "slots to free")
    assert_served(broker)


def test_idle_connections_are_closed(broker_factory):
    broker = broker_factory(extra_args=["--connections-max-idle-ms", "2000"])
    idle = rk.connect(broker.bootstrap)
    api_versions_ok(idle, 1)
    busy = rk.connect(broker.bootstrap)
    # A connection that keeps sending requests is never idle, however long it lives.
    deadline = time.monotonic() + 6
    i = 0
    while time.monotonic() < deadline:
        api_versions_ok(busy, i)
        i += 1
        time.sleep(0.2)
    assert rk.wait_closed(idle, timeout=60) == b""
    idle.close()
    api_versions_ok(busy, 10_000)
    busy.close()
    assert metric(broker, "weir_connections_closed_total", 'reason="idle"') >= 1
    assert "closing connection: idle" in broker.log_text()
    assert_served(broker)


def test_bare_length_prefixes_cost_nothing(broker):
    """200 connections announce a 100 MiB frame and send 1 KiB of it: the broker buffers what
    arrived (~16 KiB each), never the declared size. Reserving the declared size would add
    200 x 100 MiB = 20 GiB of address space (VmSize) and touch it as bytes arrive."""
    assert_served(broker)
    base_rss, base_vm = rss(broker), proc_status(broker, "VmSize")
    socks = []
    for _ in range(200):
        s = rk.connect(broker.bootstrap)
        s.sendall(struct.pack(">i", 100 * MIB) + b"\x00" * 1024)
        socks.append(s)
    time.sleep(2)
    assert_served(broker)
    grew_rss = rss(broker) - base_rss
    grew_vm = proc_status(broker, "VmSize") - base_vm
    print(f"200 bare 100 MiB lengths: RSS +{grew_rss / MIB:.1f} MiB, VmSize +{grew_vm / MIB:.0f} MiB")
    assert grew_rss < 100 * MIB
    assert grew_vm < 4096 * MIB
    assert not any(closed_now(s) for s in socks), "partial frames are not an error"
    close_all(socks)


# ---------------------------------------------------------------------------- HTTP listener
def trickler(broker) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", broker.http_port), timeout=10)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: weir\r\n")
    return s


def trickle_until_closed(socks, timeout: float) -> None:
    open_socks = list(socks)
    deadline = time.monotonic() + timeout
    while open_socks and time.monotonic() < deadline:
        for s in list(open_socks):
            try:
                s.sendall(b"X")
                if closed_now(s):
                    open_socks.remove(s)
            except OSError:
                open_socks.remove(s)
        time.sleep(0.2)
    assert not open_socks, f"{len(open_socks)} tricklers still connected after {timeout}s"


def test_http_slowloris_does_not_block_others(broker_factory):
    broker = broker_factory(extra_args=["--http-header-read-timeout-ms", "3000"])
    socks = [trickler(broker) for _ in range(10)]
    # While they trickle, other clients are answered.
    for _ in range(5):
        for s in socks:
            s.sendall(b"X-Slow: 1\r\n")
        assert http_get(broker.http + "/health", timeout=10) == (200, "ok\n")
        time.sleep(0.2)
    trickle_until_closed(socks, timeout=60)
    close_all(socks)
    assert metric(broker, "weir_http_rejected_total", 'reason="header_timeout"') == 10
    assert http_get(broker.http + "/health") == (200, "ok\n")


def test_http_connection_limit_waits_for_a_slot(broker_factory):
    broker = broker_factory(extra_args=["--http-max-connections", "4",
                                        "--http-header-read-timeout-ms", "2000"])
    socks = [trickler(broker) for _ in range(4)]
    time.sleep(0.5)
    # All four slots are held: this request waits until the tricklers time out, then is served.
    assert http_get(broker.http + "/health", timeout=60) == (200, "ok\n")
    assert metric(broker, "weir_http_rejected_total", 'reason="max_connections"') >= 1
    assert "http_max_connections" in broker.log_text()
    trickle_until_closed(socks, timeout=60)
    close_all(socks)


def post(broker, path: str, body: bytes, chunked: bool = False) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", broker.http_port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"}
        if chunked:
            # The whole request in one write: the server answers 413 as soon as the body passes
            # the limit, and a client still writing its last chunk would get EPIPE.
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 512]), body[i:i + 512])
                              for i in range(0, len(body), 512))
            conn.connect()
            conn.sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Content-Type: application/json\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\n\r\n")
            r = http.client.HTTPResponse(conn.sock, method="POST")
            r.begin()
            return r.status, r.read().decode("utf-8", "replace")
        else:
            conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_http_body_limit_and_lookup_key_cap(broker_factory):
    broker = broker_factory(extra_args=["--http-max-body-bytes", "1024",
                                        "--http-max-lookup-keys", "5"])
    topic = unique_topic("tbl")
    create_topic(broker.bootstrap, topic, config={"cleanup.policy": "compact"})
    recs = [Rec(f"k{i}".encode(), f"v{i}".encode(), None, BASE_TS + i, 0) for i in range(5)]
    assert produce(broker.bootstrap, topic, recs) == [(0, i) for i in range(5)]
    path = f"/v1/tables/{topic}/lookup"

    keys = {"keys": [f"k{i}" for i in range(5)]}
    status, text = post(broker, path, json.dumps(keys).encode())
    assert status == 200, text
    assert [r["value"] for r in json.loads(text)["results"]] == [f"v{i}" for i in range(5)]

    status, text = post(broker, path, json.dumps({"keys": [f"k{i}" for i in range(6)]}).encode())
    assert status == 400
    assert json.loads(text) == {"error": "batch lookup of 6 keys exceeds http_max_lookup_keys (5); "
                                         "split it into smaller batches"}
    assert metric(broker, "weir_http_rejected_total", 'reason="too_many_keys"') == 1

    # Small enough that the server has read all of it when it answers (no reset).
    big = json.dumps({"keys": ["x" * 2000]}).encode()
    assert post(broker, path, big)[0] == 413  # Content-Length over the limit
    assert post(broker, path, big, chunked=True)[0] == 413  # no length: cut off while reading
    assert metric(broker, "weir_http_rejected_total", 'reason="body_too_large"') == 2
    # Just under the limit is fine (and only a key cap or lookup can refuse it).
    under = json.dumps({"keys": ["y" * 1000]}).encode()
    assert len(under) <= 1024
    status, text = post(broker, path, under)
    assert (status, json.loads(text)["results"][0]["found"]) == (200, False)
    req = urllib.request.Request(broker.http + "/health")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
