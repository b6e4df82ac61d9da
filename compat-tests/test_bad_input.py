"""Bad input over raw sockets: Kafka's answer (an error or a closed connection), and the
broker keeps serving everyone else."""

from __future__ import annotations

import os
import socket
import struct

import pytest

import rawkafka as rk
from conftest import unique_topic
from weirtest import consume, gen_records, msg_tuple, expected_tuple, produce


def assert_healthy(broker):
    assert broker.alive(), "broker process died\n" + broker.log_tail()
    topic = unique_topic("after-bad")
    recs = gen_records(50, seed=5)
    assert produce(broker.bootstrap, topic, recs, timeout=60) == [(0, i) for i in range(50)]
    got = [msg_tuple(m) for m in consume(broker.bootstrap, topic, timeout=60)]
    assert got == [expected_tuple(i, r) for i, r in enumerate(recs)]


def test_garbage_bytes_close_connection(broker):
    s = rk.connect(broker.bootstrap)
    s.sendall(b"\xde\xad\xbe\xef" * 16)  # negative length prefix
    assert rk.wait_closed(s) == b""
    s.close()
    # A plausible length followed by junk that is not a request header.
    s = rk.connect(broker.bootstrap)
    junk = os.urandom(2) + b"\x7f\x7f" + os.urandom(60)
    s.sendall(struct.pack(">i", 3) + b"\x01\x02\x03")  # too short to hold a request header
    assert rk.wait_closed(s) == b""
    s.close()
    s = rk.connect(broker.bootstrap)
    s.sendall(struct.pack(">i", len(junk)) + struct.pack(">h", 0x7ABC) + junk[2:])
    assert rk.wait_closed(s) == b""
    s.close()
    assert_healthy(broker)


@pytest.mark.parametrize("length", [0x7FFFFFFF, 0x80000000, 200 * 1024 * 1024])
def test_oversize_length_prefix_closes(broker, length):
    s = rk.connect(broker.bootstrap)
    s.sendall(struct.pack(">I", length) + b"\x00\x12\x00\x03")
    assert rk.wait_closed(s) == b""
    s.close()
    assert_healthy(broker)


def test_truncated_frame_then_close(broker):
    s = rk.connect(broker.bootstrap)
    full = rk.api_versions_request(3, 7)
    s.sendall(full[: len(full) // 2])
    s.close()
    # Another connection mid-frame stays open while a good one works alongside it.
    held = rk.connect(broker.bootstrap)
    held.sendall(struct.pack(">i", 1000) + b"\x00" * 10)
    assert_healthy(broker)
    good = rk.connect(broker.bootstrap)
    good.sendall(rk.api_versions_request(3, 8))
    r = rk.parse_api_versions(rk.recv_frame(good), 3)
    assert (r["correlation_id"], r["error_code"]) == (8, 0)
    good.close()
    held.close()
    assert_healthy(broker)


def test_unknown_api_key_closes(broker):
    s = rk.connect(broker.bootstrap)
    s.sendall(rk.frame(rk.header_v1(9999, 0, 42) + b"\x00" * 8))
    assert rk.wait_closed(s) == b""
    s.close()
    assert_healthy(broker)


def test_api_versions_unsupported_version(broker):
    s = rk.connect(broker.bootstrap)
    s.sendall(rk.api_versions_request(127, 1234))
    resp = rk.recv_frame(s)
    r = rk.parse_api_versions(resp, 0)  # answered in v0
    assert r["correlation_id"] == 1234
    assert r["error_code"] == 35  # UNSUPPORTED_VERSION
    assert rk.API_API_VERSIONS in r["apis"], r["apis"]
    lo, hi = r["apis"][rk.API_API_VERSIONS]
    assert lo == 0 and hi >= 3
    assert r["rest"] == b""
    # The connection stays usable for a supported version.
    s.sendall(rk.api_versions_request(3, 1235))
    r3 = rk.parse_api_versions(rk.recv_frame(s), 3)
    assert (r3["correlation_id"], r3["error_code"]) == (1235, 0)
    assert r3["apis"] == r["apis"]
    s.close()
    assert_healthy(broker)


def test_api_versions_v3_and_v0(broker):
    s = rk.connect(broker.bootstrap)
    s.sendall(rk.api_versions_request(3, 77))
    r = rk.parse_api_versions(rk.recv_frame(s), 3)
    assert r["correlation_id"] == 77 and r["error_code"] == 0
    # Tagged fields of the response body are written only when non-default:
    # librdkafka < 2.2 mis-parses anything else. The body must end right after the tag count 0.
    assert r["rest"] == b"\x00", r["rest"]
    assert r["apis"][rk.API_PRODUCE][0] == 0, "Produce must be advertised from v0 (librdkafka)"
    assert r["apis"][rk.API_PRODUCE][1] >= 7
    must = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 18: "ApiVersions",
            19: "CreateTopics", 20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId",
            23: "OffsetForLeaderEpoch", 32: "DescribeConfigs", 33: "AlterConfigs",
            37: "CreatePartitions", 44: "IncrementalAlterConfigs", 60: "DescribeCluster"}
    missing = [name for k, name in must.items() if k not in r["apis"]]
    assert not missing, f"not advertised: {missing}"
    # librdkafka's balanced consumer needs the classic group APIs from v0 (FindCoordinator 10,
    # JoinGroup 11, Heartbeat 12, LeaveGroup 13, SyncGroup 14) and LZ4 needs FindCoordinator.
    for k in (10, 11, 12, 13, 14):
        assert r["apis"][k][0] == 0, f"api {k} must be advertised from v0"
    assert r["apis"][8][0] <= 2 and r["apis"][9][0] <= 1, "OffsetCommit/OffsetFetch ranges"
    # No transactions: their APIs are not advertised.
    for k in (24, 25, 26, 28):
        assert k not in r["apis"], f"api {k} advertised but transactions are not implemented"
    for k, (lo, hi) in r["apis"].items():
        assert 0 <= lo <= hi, (k, lo, hi)

    # v0 request on the same connection: same list, no throttle field.
    s.sendall(rk.api_versions_request(0, 78))
    r0 = rk.parse_api_versions(rk.recv_frame(s), 0)
    assert (r0["correlation_id"], r0["error_code"]) == (78, 0)
    assert r0["apis"] == r["apis"]
    assert r0["rest"] == b""
    s.close()


def test_pipelined_requests_answered_in_order(broker):
    s = rk.connect(broker.bootstrap)
    s.sendall(b"".join(rk.api_versions_request(v, 1000 + i)
                       for i, v in enumerate([3, 0, 1, 2, 3, 3, 0, 2])))
    corrs = [struct.unpack_from(">i", rk.recv_frame(s))[0] for _ in range(8)]
    assert corrs == list(range(1000, 1008))
    s.close()


def test_many_bad_connections_do_not_hurt(broker):
    socks = []
    for i in range(50):
        s = rk.connect(broker.bootstrap)
        s.sendall(os.urandom(1 + i * 13))
        socks.append(s)
    assert_healthy(broker)
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
    # A socket that connects and immediately resets.
    s = rk.connect(broker.bootstrap)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    assert_healthy(broker)
