"""The Kafka side of the authorization tests (`test_authorization.py`): Kafka's codes, a
small synchronous client that authenticates with SASL PLAIN and sends kafka-python 3's
JSON-schema request classes at exact versions, one function per request, and the checks the
super user makes to see that a denied request changed nothing."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import socket
import struct
import time
import uuid
from typing import Callable

from kafka.protocol.admin.acl import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest
from kafka.protocol.admin.cluster import DescribeClusterRequest
from kafka.protocol.admin.configs import (AlterConfigsRequest, DescribeConfigsRequest,
                                          IncrementalAlterConfigsRequest)
from kafka.protocol.admin.groups import (DeleteGroupsRequest, DescribeGroupsRequest,
                                         ListGroupsRequest)
from kafka.protocol.admin.topics import (CreatePartitionsRequest, CreateTopicsRequest,
                                         DeleteRecordsRequest, DeleteTopicsRequest)
from kafka.protocol.admin.users import (AlterUserScramCredentialsRequest,
                                        DescribeUserScramCredentialsRequest)
from kafka.protocol.consumer.fetch import FetchRequest
from kafka.protocol.consumer.group import (HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
                                           OffsetCommitRequest, OffsetDeleteRequest,
                                           OffsetFetchRequest, SyncGroupRequest)
from kafka.protocol.consumer.offsets import ListOffsetsRequest, OffsetForLeaderEpochRequest
from kafka.protocol.metadata.api_versions import ApiVersionsRequest
from kafka.protocol.metadata.find_coordinator import FindCoordinatorRequest
from kafka.protocol.metadata.metadata import MetadataRequest
from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest
from kafka.protocol.sasl import SaslAuthenticateRequest, SaslHandshakeRequest
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

from conftest import unique_topic

ADMIN, ADMIN_PASSWORD = "admin", "admin-secret-1"
CLUSTER = "kafka-cluster"
NODE_ID = 1  # weir's default node.id
TIMEOUT = 30.0

# ---------------------------------------------------------------------------- Kafka codes
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
UNKNOWN_MEMBER_ID = 25
TOPIC_AUTHORIZATION_FAILED = 29
GROUP_AUTHORIZATION_FAILED = 30
CLUSTER_AUTHORIZATION_FAILED = 31
INVALID_CONFIG = 40
INVALID_REQUEST = 42
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
MEMBER_ID_REQUIRED = 79
RESOURCE_NOT_FOUND = 91

# ACL resource types, pattern types, operations and permissions (wire codes).
R_ANY, R_TOPIC, R_GROUP, R_CLUSTER, R_TXN = 1, 2, 3, 4, 5
P_ANY, P_MATCH, P_LITERAL, P_PREFIXED = 1, 2, 3, 4
(OP_ANY, OP_ALL, READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION,
 DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE) = range(1, 13)
PERM_ANY, DENY, ALLOW = 1, 2, 3

# Config resource types (DescribeConfigs, AlterConfigs).
CFG_TOPIC, CFG_BROKER = 2, 4
BROKER_RESOURCE = str(NODE_ID)

TOPIC_OPS = {READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS}
CLUSTER_OPS = {CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER,
               DESCRIBE}

LATEST, EARLIEST = -1, -2

# ---------------------------------------------------------------------------- Kafka's choices
# Kafka 3.9 answers DescribeCluster to every principal; without Describe on the cluster the
# requested authorized operations are 0 (AuthHelper.computeDescribeClusterResponse): no
# denial code.
DESCRIBE_CLUSTER_DENIAL: int | None = None
# A missing topic the principal may Describe but not Create, with auto-creation requested:
# Kafka answers TOPIC_AUTHORIZATION_FAILED (KafkaApis.handleTopicMetadataRequest's
# unauthorizedForCreateTopics), not UNKNOWN_TOPIC_OR_PARTITION.
METADATA_AUTO_CREATE_DENIAL = TOPIC_AUTHORIZATION_FAILED
# Weir's answers once authorized, where Weir lacks the feature (not authorization codes).
TRANSACTIONS_UNSUPPORTED = INVALID_REQUEST  # FindCoordinator(transaction), InitProducerId(txn)
BROKER_CONFIGS_STATIC = INVALID_CONFIG  # AlterConfigs / IncrementalAlterConfigs of the broker

# API keys.
PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP = 8, 9, 10, 11
HEARTBEAT, LEAVE_GROUP = 12, 13
SYNC_GROUP, DESCRIBE_GROUPS, LIST_GROUPS, SASL_HANDSHAKE, API_VERSIONS = 14, 15, 16, 17, 18
CREATE_TOPICS, DELETE_TOPICS, DELETE_RECORDS, INIT_PRODUCER_ID = 19, 20, 21, 22
OFFSET_FOR_LEADER_EPOCH, DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS = 23, 29, 30, 31
DESCRIBE_CONFIGS_API, ALTER_CONFIGS_API, SASL_AUTHENTICATE, CREATE_PARTITIONS = 32, 33, 36, 37
DELETE_GROUPS, INCREMENTAL_ALTER_CONFIGS, OFFSET_DELETE = 42, 44, 47
DESCRIBE_USER_SCRAM_CREDENTIALS, ALTER_USER_SCRAM_CREDENTIALS, DESCRIBE_CLUSTER = 50, 51, 60
NEVER_AUTHORIZED = {API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE}

# The version each request is sent with (checked against the advertised ranges).
VERSIONS = {
    PRODUCE: 9, FETCH: 12, LIST_OFFSETS: 7, METADATA: 12, OFFSET_COMMIT: 8, OFFSET_FETCH: 8,
    FIND_COORDINATOR: 4, JOIN_GROUP: 5, HEARTBEAT: 4, LEAVE_GROUP: 4, SYNC_GROUP: 4,
    DESCRIBE_GROUPS: 5, LIST_GROUPS: 4, CREATE_TOPICS: 7, DELETE_TOPICS: 5, DELETE_RECORDS: 2,
    INIT_PRODUCER_ID: 4, OFFSET_FOR_LEADER_EPOCH: 4, DESCRIBE_ACLS: 3, CREATE_ACLS: 3,
    DELETE_ACLS: 3, DESCRIBE_CONFIGS_API: 4, ALTER_CONFIGS_API: 2, CREATE_PARTITIONS: 3,
    DELETE_GROUPS: 2, INCREMENTAL_ALTER_CONFIGS: 1, OFFSET_DELETE: 0,
    DESCRIBE_USER_SCRAM_CREDENTIALS: 0, ALTER_USER_SCRAM_CREDENTIALS: 0, DESCRIBE_CLUSTER: 1,
}


def hexid(n: int = 8) -> str:
    return uuid.uuid4().hex[:n]


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# ============================================================================ raw client
class AuthenticationFailed(Exception):
    pass


def mk(cls, **values):
    """A kafka-python message or nested struct from keyword values; nested structs may be
    given as dicts (lists of dicts for arrays)."""
    out = {}
    for name, value in values.items():
        f = cls.fields[name]
        if value is not None and f.is_struct_array():
            value = [mk(f.data_class, **v) if isinstance(v, dict) else v for v in value]
        elif value is not None and f.is_struct() and isinstance(value, dict):
            value = mk(f.data_class, **value)
        out[name] = value
    return cls(**out)


class Kafka:
    """One synchronous Kafka connection: PLAINTEXT, or SASL_PLAINTEXT with PLAIN."""

    def __init__(self, addr: str, user: str | None = None, password: str | None = None,
                 timeout: float = TIMEOUT):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)
        self.correlation = 0
        if user is None:
            return
        try:
            hs = self.send(SaslHandshakeRequest(mechanism="PLAIN"), 1)
            assert hs.error_code == NONE and "PLAIN" in hs.mechanisms, hs
            token = b"\0" + user.encode() + b"\0" + (password or "").encode()
            auth = self.send(SaslAuthenticateRequest(auth_bytes=token), 2)
        except (EOFError, ConnectionError, socket.timeout) as e:
            self.close()
            raise AuthenticationFailed(f"{user}: connection closed during SASL ({e!r})")
        if auth.error_code != NONE:
            self.close()
            raise AuthenticationFailed(f"{user}: {auth.error_code} {auth.error_message}")

    def __enter__(self) -> "Kafka":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _recv(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def send(self, request, version: int):
        """Sends `request` at `version` and returns the decoded response."""
        self.correlation += 1
        request.API_VERSION = version
        request.with_header(correlation_id=self.correlation, client_id="weir-authz-test")
        self.sock.sendall(bytes(request.encode(header=True, framed=True)))
        (size,) = struct.unpack(">i", self._recv(4))
        payload = io.BytesIO(self._recv(size))
        response_class = request.header.get_response_class()
        header = response_class.parse_header(payload)
        assert header.correlation_id == self.correlation, (header, self.correlation)
        return response_class.decode(payload)


# ---------------------------------------------------------------------------- records
def records(values: list, keys: list | None = None, *, producer_id: int = -1,
            producer_epoch: int = -1, base_sequence: int = -1,
            transactional: bool = False) -> bytes:
    """One v2 record batch."""
    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20,
                             transactional=transactional, producer_id=producer_id,
                             producer_epoch=producer_epoch, base_sequence=base_sequence)
    now = int(time.time() * 1000)
    for i, v in enumerate(values):
        b.append(timestamp=now, key=None if keys is None else keys[i], value=v, headers=[])
    b.close()
    return bytes(b.buffer())


def decode(raw) -> list:
    """The records of a Fetch answer's `records` field."""
    if not raw:
        return []
    return [r for batch in MemoryRecords(bytes(raw)) for r in batch]


# ---------------------------------------------------------------------------- requests
def api_versions(conn: Kafka) -> dict[int, tuple[int, int]]:
    r = conn.send(ApiVersionsRequest(client_software_name="weir-authz-test",
                                     client_software_version="1.0"), 3)
    assert r.error_code == NONE, r
    return {a.api_key: (a.min_version, a.max_version) for a in r.api_keys}


def metadata(conn: Kafka, topics: list[str] | None, *, auto: bool = False,
             topic_ops: bool = False, cluster_ops: bool = False,
             version: int = VERSIONS[METADATA]):
    req = mk(MetadataRequest, topics=None if topics is None else [{"name": t} for t in topics],
             allow_auto_topic_creation=auto, include_topic_authorized_operations=topic_ops,
             include_cluster_authorized_operations=cluster_ops)
    return conn.send(req, version)


def by_name(md) -> dict[str, tuple[int, int]]:
    """{topic: (error, partition count)} of a Metadata answer."""
    return {t.name: (t.error_code, len(t.partitions)) for t in md.topics}


def listed(conn: Kafka) -> set[str]:
    md = metadata(conn, None)
    assert all(t.error_code == NONE for t in md.topics), md
    return {t.name for t in md.topics}


def create_topics(conn: Kafka, names: list[str], partitions: int = 1,
                  configs: dict | None = None):
    req = mk(CreateTopicsRequest, topics=[
        {"name": n, "num_partitions": partitions, "replication_factor": 1, "assignments": [],
         "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}
        for n in names], timeout_ms=30000, validate_only=False)
    return {t.name: t for t in conn.send(req, VERSIONS[CREATE_TOPICS]).topics}


def delete_topics(conn: Kafka, names: list[str]) -> dict[str, int]:
    r = conn.send(mk(DeleteTopicsRequest, topic_names=names, timeout_ms=30000),
                  VERSIONS[DELETE_TOPICS])
    return {t.name: t.error_code for t in r.responses}


def produce(conn: Kafka, topic: str, batch: bytes, *, partition: int = 0,
            transactional_id: str | None = None, acks: int = -1):
    """The one partition answer of a Produce to topic[partition]."""
    req = mk(ProduceRequest, transactional_id=transactional_id, acks=acks, timeout_ms=30000,
             topic_data=[{"name": topic,
                          "partition_data": [{"index": partition, "records": batch}]}])
    r = conn.send(req, VERSIONS[PRODUCE])
    assert [t.name for t in r.responses] == [topic], r
    (p,) = r.responses[0].partition_responses
    assert p.index == partition
    return p


def fetch(conn: Kafka, topic: str, *, partition: int = 0, offset: int = 0):
    """The one partition answer of a Fetch of topic[partition] from `offset`."""
    req = mk(FetchRequest, replica_id=-1, max_wait_ms=200, min_bytes=1, max_bytes=1 << 24,
             isolation_level=0, session_id=0, session_epoch=-1,
             topics=[{"topic": topic, "partitions": [{
                 "partition": partition, "current_leader_epoch": -1, "fetch_offset": offset,
                 "last_fetched_epoch": -1, "log_start_offset": -1,
                 "partition_max_bytes": 1 << 20}]}],
             forgotten_topics_data=[], rack_id="")
    r = conn.send(req, VERSIONS[FETCH])
    assert r.error_code == NONE, r
    assert [t.topic for t in r.responses] == [topic], r
    (p,) = r.responses[0].partitions
    assert p.partition_index == partition
    return p


def list_offsets(conn: Kafka, topic: str, timestamp: int, partition: int = 0):
    req = mk(ListOffsetsRequest, replica_id=-1, isolation_level=0, topics=[
        {"name": topic, "partitions": [{"partition_index": partition,
                                        "current_leader_epoch": -1,
                                        "timestamp": timestamp}]}])
    r = conn.send(req, VERSIONS[LIST_OFFSETS])
    assert [t.name for t in r.topics] == [topic], r
    (p,) = r.topics[0].partitions
    return p


def delete_records(conn: Kafka, topic: str, offset: int, partition: int = 0):
    req = mk(DeleteRecordsRequest, topics=[{"name": topic, "partitions": [
        {"partition_index": partition, "offset": offset}]}], timeout_ms=30000)
    r = conn.send(req, VERSIONS[DELETE_RECORDS])
    (p,) = r.topics[0].partitions
    return p


def init_producer_id(conn: Kafka, transactional_id: str | None = None):
    req = mk(InitProducerIdRequest, transactional_id=transactional_id,
             transaction_timeout_ms=60000, producer_id=-1, producer_epoch=-1)
    return conn.send(req, VERSIONS[INIT_PRODUCER_ID])


def offset_for_leader_epoch(conn: Kafka, topic: str, partition: int = 0, epoch: int = 0):
    req = mk(OffsetForLeaderEpochRequest, replica_id=-1, topics=[
        {"topic": topic, "partitions": [{"partition": partition, "current_leader_epoch": -1,
                                         "leader_epoch": epoch}]}])
    r = conn.send(req, VERSIONS[OFFSET_FOR_LEADER_EPOCH])
    (p,) = r.topics[0].partitions
    return p


def describe_configs(conn: Kafka, resources: list[tuple[int, str]],
                     keys: list[str] | None = None) -> dict:
    """{(type, name): result}; Kafka answers authorized resources first, so never by order."""
    req = mk(DescribeConfigsRequest, resources=[
        {"resource_type": t, "resource_name": n, "configuration_keys": keys}
        for t, n in resources], include_synonyms=False, include_documentation=False)
    r = conn.send(req, VERSIONS[DESCRIBE_CONFIGS_API])
    return {(x.resource_type, x.resource_name): x for x in r.results}


def alter_configs(conn: Kafka, resources: list[tuple[int, str, dict]]) -> dict:
    req = mk(AlterConfigsRequest, resources=[
        {"resource_type": t, "resource_name": n,
         "configs": [{"name": k, "value": v} for k, v in c.items()]}
        for t, n, c in resources], validate_only=False)
    r = conn.send(req, VERSIONS[ALTER_CONFIGS_API])
    return {(x.resource_type, x.resource_name): x.error_code for x in r.responses}


def incremental_alter_configs(conn: Kafka, resources: list[tuple[int, str, dict]]) -> dict:
    req = mk(IncrementalAlterConfigsRequest, resources=[
        {"resource_type": t, "resource_name": n,
         "configs": [{"name": k, "config_operation": 0, "value": v} for k, v in c.items()]}
        for t, n, c in resources], validate_only=False)
    r = conn.send(req, VERSIONS[INCREMENTAL_ALTER_CONFIGS])
    return {(x.resource_type, x.resource_name): x.error_code for x in r.responses}


def create_partitions(conn: Kafka, topic: str, count: int) -> dict[str, int]:
    req = mk(CreatePartitionsRequest, topics=[{"name": topic, "count": count,
                                               "assignments": None}],
             timeout_ms=30000, validate_only=False)
    r = conn.send(req, VERSIONS[CREATE_PARTITIONS])
    return {x.name: x.error_code for x in r.results}


def describe_cluster(conn: Kafka, ops: bool = True):
    req = mk(DescribeClusterRequest, include_cluster_authorized_operations=ops, endpoint_type=1)
    return conn.send(req, VERSIONS[DESCRIBE_CLUSTER])


def find_coordinator(conn: Kafka, key: str, key_type: int = 0):
    req = mk(FindCoordinatorRequest, key_type=key_type, coordinator_keys=[key])
    r = conn.send(req, VERSIONS[FIND_COORDINATOR])
    (c,) = r.coordinators
    assert c.key == key
    return c


def _str(s: str) -> bytes:
    return struct.pack(">h", len(s)) + s.encode()


def subscription(topic: str) -> bytes:
    """ConsumerProtocolSubscription v0 for one topic."""
    return struct.pack(">h", 0) + struct.pack(">i", 1) + _str(topic) + struct.pack(">i", -1)


def assignment(topic: str, partitions: list[int]) -> bytes:
    """ConsumerProtocolAssignment v0."""
    return (struct.pack(">h", 0) + struct.pack(">i", 1) + _str(topic)
            + struct.pack(">i", len(partitions))
            + b"".join(struct.pack(">i", p) for p in partitions) + struct.pack(">i", -1))


def join_group(conn: Kafka, group: str, member_id: str, topic: str):
    req = mk(JoinGroupRequest, group_id=group, session_timeout_ms=30000,
             rebalance_timeout_ms=30000, member_id=member_id, group_instance_id=None,
             protocol_type="consumer",
             protocols=[{"name": "range", "metadata": subscription(topic)}])
    return conn.send(req, VERSIONS[JOIN_GROUP])


def sync_group(conn: Kafka, group: str, generation: int, member_id: str,
               assignments: dict[str, bytes]):
    req = mk(SyncGroupRequest, group_id=group, generation_id=generation, member_id=member_id,
             group_instance_id=None,
             assignments=[{"member_id": m, "assignment": a} for m, a in assignments.items()])
    return conn.send(req, VERSIONS[SYNC_GROUP])


def heartbeat(conn: Kafka, group: str, generation: int, member_id: str):
    req = mk(HeartbeatRequest, group_id=group, generation_id=generation, member_id=member_id,
             group_instance_id=None)
    return conn.send(req, VERSIONS[HEARTBEAT])


def leave_group(conn: Kafka, group: str, member_ids: list[str]):
    req = mk(LeaveGroupRequest, group_id=group,
             members=[{"member_id": m, "group_instance_id": None} for m in member_ids])
    return conn.send(req, VERSIONS[LEAVE_GROUP])


def join_member(conn: Kafka, group: str, topic: str) -> tuple[str, int]:
    """Joins `group` as its only member (v4+: MEMBER_ID_REQUIRED, then the real join)."""
    first = join_group(conn, group, "", topic)
    assert first.error_code == MEMBER_ID_REQUIRED and first.member_id, first
    joined = join_group(conn, group, first.member_id, topic)
    assert joined.error_code == NONE, joined
    assert joined.leader == joined.member_id == first.member_id
    return joined.member_id, joined.generation_id


def stable_member(conn: Kafka, group: str, topic: str) -> tuple[str, int]:
    """Joins and syncs `group` (as its leader and only member): the group is Stable."""
    member, generation = join_member(conn, group, topic)
    synced = sync_group(conn, group, generation, member, {member: assignment(topic, [0])})
    assert synced.error_code == NONE, synced
    return member, generation


def offset_commit(conn: Kafka, group: str, topic: str, offset: int, partition: int = 0,
                  generation: int = -1, member_id: str = "") -> int:
    req = mk(OffsetCommitRequest, group_id=group, generation_id_or_member_epoch=generation,
             member_id=member_id, group_instance_id=None, topics=[{"name": topic, "partitions": [
                 {"partition_index": partition, "committed_offset": offset,
                  "committed_leader_epoch": -1, "committed_metadata": ""}]}])
    r = conn.send(req, VERSIONS[OFFSET_COMMIT])
    assert [t.name for t in r.topics] == [topic], r
    (p,) = r.topics[0].partitions
    assert p.partition_index == partition
    return p.error_code


def offset_fetch(conn: Kafka, group: str, topic: str, partition: int = 0):
    """The group entry of a v8 OffsetFetch for topic[partition]."""
    req = mk(OffsetFetchRequest, groups=[{"group_id": group, "topics": [
        {"name": topic, "partition_indexes": [partition]}]}], require_stable=False)
    r = conn.send(req, VERSIONS[OFFSET_FETCH])
    (g,) = r.groups
    assert g.group_id == group
    return g


def fetched_offsets(group_entry) -> list[tuple[str, int, int, int]]:
    return [(t.name, p.partition_index, p.error_code, p.committed_offset)
            for t in group_entry.topics for p in t.partitions]


def list_groups(conn: Kafka):
    r = conn.send(mk(ListGroupsRequest, states_filter=[]), VERSIONS[LIST_GROUPS])
    assert r.error_code == NONE, r
    return {g.group_id for g in r.groups}


def describe_groups(conn: Kafka, groups: list[str], ops: bool = False) -> dict:
    req = mk(DescribeGroupsRequest, groups=groups, include_authorized_operations=ops)
    r = conn.send(req, VERSIONS[DESCRIBE_GROUPS])
    return {g.group_id: g for g in r.groups}


def delete_groups(conn: Kafka, groups: list[str]) -> dict[str, int]:
    r = conn.send(mk(DeleteGroupsRequest, groups_names=groups), VERSIONS[DELETE_GROUPS])
    return {g.group_id: g.error_code for g in r.results}


def offset_delete(conn: Kafka, group: str, topic: str, partition: int = 0):
    req = mk(OffsetDeleteRequest, group_id=group,
             topics=[{"name": topic, "partitions": [{"partition_index": partition}]}])
    return conn.send(req, VERSIONS[OFFSET_DELETE])


def describe_scram(conn: Kafka, users: list[str]):
    req = mk(DescribeUserScramCredentialsRequest, users=[{"name": u} for u in users])
    return conn.send(req, VERSIONS[DESCRIBE_USER_SCRAM_CREDENTIALS])


def alter_scram(conn: Kafka, user: str, password: str) -> list[tuple[str, int]]:
    """Upserts a SCRAM-SHA-256 credential (4096 iterations) for `user`."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 4096)
    req = mk(AlterUserScramCredentialsRequest, deletions=[], upsertions=[
        {"name": user, "mechanism": 1, "iterations": 4096, "salt": salt,
         "salted_password": salted}])
    r = conn.send(req, VERSIONS[ALTER_USER_SCRAM_CREDENTIALS])
    return [(x.user, x.error_code) for x in r.results]


Acl = tuple  # (resource type, name, pattern, principal, host, operation, permission)


def create_acls(conn: Kafka, acls: list[Acl]) -> list[int]:
    req = mk(CreateAclsRequest, creations=[
        {"resource_type": a[0], "resource_name": a[1], "resource_pattern_type": a[2],
         "principal": a[3], "host": a[4], "operation": a[5], "permission_type": a[6]}
        for a in acls])
    return [x.error_code for x in conn.send(req, VERSIONS[CREATE_ACLS]).results]


def describe_acls(conn: Kafka, *, resource_type: int = R_ANY, name: str | None = None,
                  pattern: int = P_ANY, principal: str | None = None):
    req = mk(DescribeAclsRequest, resource_type_filter=resource_type, resource_name_filter=name,
             pattern_type_filter=pattern, principal_filter=principal, host_filter=None,
             operation=OP_ANY, permission_type=PERM_ANY)
    return conn.send(req, VERSIONS[DESCRIBE_ACLS])


def acl_set(described) -> set[Acl]:
    return {(r.resource_type, r.resource_name, r.pattern_type, a.principal, a.host, a.operation,
             a.permission_type) for r in described.resources for a in r.acls}


def delete_acls(conn: Kafka, *, principal: str, resource_type: int = R_ANY,
                operation: int = OP_ANY):
    req = mk(DeleteAclsRequest, filters=[{
        "resource_type_filter": resource_type, "resource_name_filter": None,
        "pattern_type_filter": P_ANY, "principal_filter": principal, "host_filter": None,
        "operation": operation, "permission_type": PERM_ANY}])
    return conn.send(req, VERSIONS[DELETE_ACLS])


# ---------------------------------------------------------------------------- admin checks
def admin_create_topic(admin: Kafka, name: str | None = None, partitions: int = 1,
                       configs: dict | None = None) -> str:
    name = name or unique_topic("authz")
    r = create_topics(admin, [name], partitions, configs)[name]
    assert r.error_code == NONE, r
    wait_until(lambda: topic_exists(admin, name), f"topic {name}")
    return name


def admin_produce(admin: Kafka, topic: str, values: list, keys: list | None = None,
                  partition: int = 0) -> int:
    p = produce(admin, topic, records(values, keys), partition=partition)
    assert p.error_code == NONE, p
    return p.base_offset


def topic_exists(admin: Kafka, name: str) -> bool:
    (t,) = metadata(admin, [name]).topics
    assert t.error_code in (NONE, UNKNOWN_TOPIC_OR_PARTITION), t
    return t.error_code == NONE


def partition_count(admin: Kafka, name: str) -> int:
    (t,) = metadata(admin, [name]).topics
    assert t.error_code == NONE, t
    return len(t.partitions)


def offset_of(admin: Kafka, topic: str, timestamp: int, partition: int = 0) -> int:
    p = list_offsets(admin, topic, timestamp, partition)
    assert p.error_code == NONE, p
    return p.offset


def values_of(admin: Kafka, topic: str, partition: int = 0) -> list:
    start = offset_of(admin, topic, EARLIEST, partition)
    p = fetch(admin, topic, partition=partition, offset=start)
    assert p.error_code == NONE, p
    # Batches come whole, as from Kafka: a client skips the records below its offset.
    return [r.value for r in decode(p.records) if r.offset >= start]


def committed(admin: Kafka, group: str, topic: str, partition: int = 0) -> int:
    g = offset_fetch(admin, group, topic, partition)
    assert g.error_code == NONE, g
    ((_, _, error, offset),) = fetched_offsets(g)
    assert error == NONE, g
    return offset


def group_state(admin: Kafka, group: str) -> tuple[str, list[str]]:
    g = describe_groups(admin, [group])[group]
    assert g.error_code == NONE, g
    return g.group_state, [m.member_id for m in g.members]


def topic_config(admin: Kafka, topic: str, key: str) -> str | None:
    r = describe_configs(admin, [(CFG_TOPIC, topic)], [key])[(CFG_TOPIC, topic)]
    assert r.error_code == NONE, r
    return {c.name: c.value for c in r.configs}[key]


def acls_of(admin: Kafka, principal: str) -> set[Acl]:
    r = describe_acls(admin, principal=principal)
    assert r.error_code == NONE, r
    return acl_set(r)


def scram_of(admin: Kafka, user: str) -> tuple[int, list[tuple[int, int]]]:
    r = describe_scram(admin, [user])
    assert r.error_code == NONE, r
    (u,) = r.results
    return u.error_code, [(c.mechanism, c.iterations) for c in u.credential_infos]


# ============================================================================ brokers
