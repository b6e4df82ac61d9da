"""Hostile input to the security layer: mutated ACL requests (CreateAcls, DescribeAcls,
DeleteAcls at every version — bit flips, truncations, extreme counts and lengths, splices, by
fuzzlib's mutator) and generated HTTP `Authorization` headers. The broker answers or closes
the connection, never dies or logs a panic, stays within its memory budget, reloads the ACLs
it stored from them after a restart, and still serves real clients."""

from __future__ import annotations

import base64
import random
import socket

import fuzzlib
from authz import (OP_ANY, P_ANY, P_LITERAL, P_PREFIXED, PERM_ANY, R_ANY, R_GROUP, R_TOPIC,
                   ALLOW, DENY, READ, WRITE, Kafka, mk)
from conftest import unique_topic
from kafka.protocol.admin.acl import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest
from test_security import log_of  # noqa: F401  (strips colours)
from weirtest import consume, expected_tuple, gen_records, msg_tuple, produce

FRAMES = 20_000
SEED = 20261204


def acl_frames() -> list[bytes]:
    """Valid ACL request payloads (no length prefix) of every version."""
    frames = []
    creation = {"resource_type": R_TOPIC, "resource_name": "orders.", "resource_pattern_type":
                P_PREFIXED, "principal": "User:alice", "host": "*", "operation": READ,
                "permission_type": ALLOW}
    deny = {**creation, "resource_type": R_GROUP, "resource_name": "g", "resource_pattern_type":
            P_LITERAL, "operation": WRITE, "permission_type": DENY}
    flt = {"resource_type_filter": R_ANY, "resource_name_filter": None, "pattern_type_filter":
           P_ANY, "principal_filter": "User:alice", "host_filter": None, "operation": OP_ANY,
           "permission_type": PERM_ANY}
    for version in range(4):
        for req in (mk(CreateAclsRequest, creations=[creation, deny]),
                    mk(DescribeAclsRequest, **flt),
                    mk(DeleteAclsRequest, filters=[flt, {**flt, "principal_filter": None}])):
            req.API_VERSION = version
            req.with_header(correlation_id=version + 1, client_id="hostile")
            frames.append(bytes(req.encode(header=True, framed=False)))
    return frames


def test_mutated_acl_requests_never_hurt_the_broker(broker_factory, tmp_path):
    b = broker_factory(extra_args=["--authorizer", "acl", "--super-users", "User:ANONYMOUS"])
    corpus = acl_frames()
    watch = fuzzlib.Watch(b, 300)
    blaster = fuzzlib.Blaster(b.bootstrap)
    stats = blaster.run(((i, fuzzlib.mutate(corpus, SEED, i)[0]) for i in range(FRAMES)),
                        check=watch, check_every=2000)
    watch(stats)
    assert stats.frames == FRAMES, stats.line()
    assert not fuzzlib.bad_log_lines(b.log_text())
    # Whatever the mutants stored is a valid ACL set: it loads again after a restart.
    with Kafka(b.bootstrap) as admin:
        before = admin.send(mk(DescribeAclsRequest, resource_type_filter=R_ANY,
                               resource_name_filter=None, pattern_type_filter=P_ANY,
                               principal_filter=None, host_filter=None, operation=OP_ANY,
                               permission_type=PERM_ANY), 3)
    assert before.error_code == 0
    b.restart(crash=False)
    with Kafka(b.bootstrap) as admin:
        after = admin.send(mk(DescribeAclsRequest, resource_type_filter=R_ANY,
                              resource_name_filter=None, pattern_type_filter=P_ANY,
                              principal_filter=None, host_filter=None, operation=OP_ANY,
                              permission_type=PERM_ANY), 3)
    assert after.error_code == 0 and after.resources == before.resources
    topic = unique_topic("after-acl-fuzz")
    recs = gen_records(10, seed=3)
    assert produce(b.bootstrap, topic, recs, timeout=60) == [(0, i) for i in range(10)]
    got = [msg_tuple(m) for m in consume(b.bootstrap, topic, timeout=60)]
    assert got == [expected_tuple(i, r) for i, r in enumerate(recs)]


def http_status(port: int, header: bytes) -> int | None:
    """The status of GET /v1/topics/x/storage with `header` as the Authorization value, or
    None when the server closed the connection without an answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /v1/topics/x/storage HTTP/1.1\r\nHost: x\r\nAuthorization: " + header
                  + b"\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if not data:
        return None
    return int(data.split(b" ", 2)[1])


def test_generated_authorization_headers_get_401_or_400(broker_factory):
    """Random bytes, bad base64, huge and empty values, missing colons, invalid UTF-8, unknown
    schemes and forged tokens: every one answers 400 (hyper refuses the header) or 401, never
    500, and a real login still works afterwards."""
    b = broker_factory(extra_args=["--authorizer", "acl", "--super-users", "User:admin",
                                   "--max-failed-authentications-per-ip", "0"],
                       env={"WEIR_ADMIN_USER": "admin", "WEIR_ADMIN_PASSWORD": "admin-pw"})
    rnd = random.Random(SEED)
    headers = [b"", b"Basic", b"Basic ", b"Bearer ", b"Bearer weir_", b"Basic ====",
               b"Basic " + base64.b64encode(b"no-colon"), b"Basic " + b"A" * 60_000,
               b"Basic " + base64.b64encode(b"\xff\xfe:\x00"), b"Negotiate abc",
               b"Bearer weir_" + b"x" * 10_000]
    for _ in range(500):
        kind = rnd.randrange(4)
        raw = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 200)))
        if kind == 0:
            headers.append(b"Basic " + base64.b64encode(raw))
        elif kind == 1:
            headers.append(b"Bearer weir_" + base64.urlsafe_b64encode(raw).rstrip(b"="))
        elif kind == 2:
            headers.append(bytes(c for c in raw if c not in b"\r\n"))
        else:
            headers.append(b"Basic " + base64.b64encode(b"admin:" + raw))
    statuses = {http_status(b.http_port, h) for h in headers}
    assert statuses <= {400, 401, 431, None}, statuses
    assert 401 in statuses
    assert not fuzzlib.bad_log_lines(b.log_text())
    good = b"Basic " + base64.b64encode(b"admin:admin-pw")
    assert http_status(b.http_port, good) == 404  # authenticated; topic x does not exist
