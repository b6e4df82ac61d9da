"""Hand-rolled Kafka framing for raw-socket tests (test-side only)."""

from __future__ import annotations

import socket
import struct
import time

API_PRODUCE = 0
API_API_VERSIONS = 18


def connect(bootstrap: str, timeout: float = 10.0) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.settimeout(timeout)
    return s


def header_v1(api_key: int, api_version: int, correlation_id: int, client_id: str | None = "raw") -> bytes:
    cid = b"\xff\xff" if client_id is None else struct.pack(">h", len(client_id)) + client_id.encode()
    return struct.pack(">hhi", api_key, api_version, correlation_id) + cid


def header_v2(api_key: int, api_version: int, correlation_id: int, client_id: str | None = "raw") -> bytes:
    return header_v1(api_key, api_version, correlation_id, client_id) + b"\x00"  # no tagged fields


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    val = 0
    while True:
        b = buf[pos]
        pos += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, pos
        shift += 7


def compact_str(s: str) -> bytes:
    return uvarint(len(s) + 1) + s.encode()


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def api_versions_request(version: int, correlation_id: int) -> bytes:
    if version >= 3:
        body = compact_str("weir-compat") + compact_str("1.0") + b"\x00"
        return frame(header_v2(API_API_VERSIONS, version, correlation_id) + body)
    return frame(header_v1(API_API_VERSIONS, version, correlation_id))


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_frame(s: socket.socket) -> bytes:
    (n,) = struct.unpack(">i", recv_exact(s, 4))
    return recv_exact(s, n)


def parse_api_versions(resp: bytes, version: int) -> dict:
    """Parse an ApiVersions response (header is always v0: just the correlation id)."""
    corr, err = struct.unpack_from(">ih", resp, 0)
    pos = 6
    apis = {}
    if version >= 3:
        n, pos = read_uvarint(resp, pos)
        n -= 1
        for _ in range(n):
            key, lo, hi = struct.unpack_from(">hhh", resp, pos)
            pos += 6
            tags, pos = read_uvarint(resp, pos)
            assert tags == 0, f"unexpected tagged fields in api entry {key}"
            apis[key] = (lo, hi)
        (throttle,) = struct.unpack_from(">i", resp, pos)
        pos += 4
    else:
        (n,) = struct.unpack_from(">i", resp, pos)
        pos += 4
        for _ in range(n):
            key, lo, hi = struct.unpack_from(">hhh", resp, pos)
            pos += 6
            apis[key] = (lo, hi)
        throttle = None
        if version >= 1 and pos + 4 <= len(resp):
            (throttle,) = struct.unpack_from(">i", resp, pos)
            pos += 4
    return {"correlation_id": corr, "error_code": err, "apis": apis, "throttle": throttle,
            "rest": resp[pos:]}


def wait_closed(s: socket.socket, timeout: float = 10.0) -> bytes:
    """Wait until the peer closes; return whatever bytes arrived before (should be none)."""
    s.settimeout(0.5)
    got = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return bytes(got)
        if not chunk:
            return bytes(got)
        got += chunk
    raise AssertionError(f"connection still open after {timeout}s (received {len(got)} bytes)")
