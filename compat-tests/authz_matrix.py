"""The authorization matrix's world (`test_authorization.py` runs it): a broker with ACLs
enforced and its admin, users made and granted over the Kafka protocol, and one case per
advertised API — what a principal without the ACL is answered, what must not have changed,
the ACL Kafka requires, and the effect once granted — registered in CASES by API key."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import pytest
from confluent_kafka.admin import (AclBinding, AdminClient, ScramCredentialInfo,
                                   ScramMechanism, UserScramCredentialUpsertion)

from authz import *  # noqa: F403 - the client, requests and codes these tests speak
from conftest import Broker, free_port, unique_topic


class Authz:
    """A broker with a PLAINTEXT (ANONYMOUS) and a SASL_PLAINTEXT listener, `--authorizer acl`
    and the super user `admin`."""

    def __init__(self, broker: Broker, ports: dict):
        self.broker, self.ports = broker, ports
        self._admin_client: AdminClient | None = None

    @property
    def plain(self) -> str:
        return f"127.0.0.1:{self.ports['PLAINTEXT']}"

    @property
    def sasl(self) -> str:
        return f"127.0.0.1:{self.ports['SASL_PLAINTEXT']}"

    def conf(self, user: str, password: str) -> dict:
        return {"bootstrap.servers": self.sasl, "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanisms": "PLAIN", "sasl.username": user, "sasl.password": password,
                "socket.timeout.ms": 10000}

    def admin_client(self) -> AdminClient:
        if self._admin_client is None:
            self._admin_client = AdminClient(self.conf(ADMIN, ADMIN_PASSWORD))
        return self._admin_client

    def client(self, user: str) -> AdminClient:
        return AdminClient(self.conf(user, pw(user)))

    def connect(self, user: str | None = None, password: str | None = None) -> Kafka:
        if user is None:
            return Kafka(self.plain)
        return Kafka(self.sasl, user, password if password is not None else pw(user))

    def admin(self) -> Kafka:
        return Kafka(self.sasl, ADMIN, ADMIN_PASSWORD)

    def log(self) -> str:
        return strip_ansi(self.broker.log_text())


def pw(user: str) -> str:
    return f"{user}-secret"


def start_authz(make_broker: Callable[..., Broker], extra_args: list | None = None,
                name: str | None = None, start: bool = True) -> Authz:
    ports = {"PLAINTEXT": free_port(), "SASL_PLAINTEXT": free_port()}
    listeners = ",".join(f"{n}://127.0.0.1:{p}" for n, p in ports.items())
    b = make_broker(start=start, name=name, port=ports["PLAINTEXT"], extra_args=[
        "--listeners", listeners, "--authorizer", "acl", "--super-users", f"User:{ADMIN}",
        *(extra_args or [])],
        env={"WEIR_ADMIN_USER": ADMIN, "WEIR_ADMIN_PASSWORD": ADMIN_PASSWORD,
             "WEIR_LOG": "info,weir::audit=info"})
    return Authz(b, ports)


def add_user(authz: Authz, user: str) -> str:
    """Creates `user` (SCRAM-SHA-256; PLAIN checks the same) as admin; returns the name."""
    up = UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                      pw(user).encode(), os.urandom(16))
    for f in authz.admin_client().alter_user_scram_credentials([up]).values():
        f.result(TIMEOUT)
    return user


def fresh_user(authz: Authz, base: str) -> str:
    """A new user on a shared broker: a unique name, so a rerun never finds old ACLs."""
    return add_user(authz, f"{base}-{hexid(6)}")


def binding(principal: str, rtype: int, name: str, op: int, *, pattern: int = P_LITERAL,
            permission: int = ALLOW, host: str = "*") -> AclBinding:
    return AclBinding(rtype, name, pattern, principal, host, op, permission)


def grant(authz: Authz, *bindings: AclBinding) -> None:
    """Creates the bindings as admin (confluent-kafka's CreateAcls) and waits for each."""
    for f in authz.admin_client().create_acls(list(bindings)).values():
        f.result(TIMEOUT)


# ============================================================================ the matrix
@dataclass
class Ctx:
    """What a case gets: the module's broker, a fresh user without ACLs (`alice`) and
    connections as that user and as admin."""
    authz: Authz
    user: str
    alice: Kafka
    admin: Kafka
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def principal(self) -> str:
        return f"User:{self.user}"

    def grant(self, rtype: int, name: str, *ops: int, pattern: int = P_LITERAL,
              principal: str | None = None) -> None:
        grant(self.authz, *[binding(principal or self.principal, rtype, name, op,
                                    pattern=pattern) for op in ops])

    def other_user(self, suffix: str) -> tuple[str, Kafka]:
        user = add_user(self.authz, f"{self.user}-{suffix}")
        return user, self.stack.enter_context(self.authz.connect(user))

    def topic(self, values: list | None = None, partitions: int = 1) -> str:
        t = admin_create_topic(self.admin, partitions=partitions)
        if values:
            admin_produce(self.admin, t, values)
        return t

    @staticmethod
    def group() -> str:
        return f"authz-group-{hexid(12)}"


@dataclass
class Case:
    api: int
    name: str
    run: Callable[[Ctx], None]


CASES: dict[int, Case] = {}


def case(api: int, name: str):
    def register(fn: Callable[[Ctx], None]):
        assert api not in CASES, f"two cases for API {api}"
        CASES[api] = Case(api, name, fn)
        return fn
    return register


# ---------------------------------------------------------------------------- topics
@case(PRODUCE, "Produce")
def _produce(ctx: Ctx) -> None:
    t = ctx.topic()
    p = produce(ctx.alice, t, records([b"denied"]))
    assert p.error_code == TOPIC_AUTHORIZATION_FAILED, p
    assert offset_of(ctx.admin, t, LATEST) == 0
    ctx.grant(R_TOPIC, t, WRITE)
    p = produce(ctx.alice, t, records([b"granted"]))
    assert (p.error_code, p.base_offset) == (NONE, 0), p
    assert values_of(ctx.admin, t) == [b"granted"]
    # Transactional records also need Write on the transactional id (none here).
    txn = f"authz-tx-{hexid()}"
    batch = records([b"txn"], producer_id=4242, producer_epoch=0, base_sequence=0,
                    transactional=True)
    p = produce(ctx.alice, t, batch, transactional_id=txn)
    assert p.error_code == TRANSACTIONAL_ID_AUTHORIZATION_FAILED, p
    assert values_of(ctx.admin, t) == [b"granted"]


@case(FETCH, "Fetch")
def _fetch(ctx: Ctx) -> None:
    t = ctx.topic([b"a", b"b"])
    p = fetch(ctx.alice, t)
    assert p.error_code == TOPIC_AUTHORIZATION_FAILED, p
    assert decode(p.records) == []
    ctx.grant(R_TOPIC, t, READ)
    p = fetch(ctx.alice, t)
    assert (p.error_code, p.high_watermark) == (NONE, 2), p
    assert [(r.offset, r.value) for r in decode(p.records)] == [(0, b"a"), (1, b"b")]


@case(LIST_OFFSETS, "ListOffsets")
def _list_offsets(ctx: Ctx) -> None:
    t = ctx.topic([b"a", b"b", b"c"])
    p = list_offsets(ctx.alice, t, LATEST)
    assert (p.error_code, p.offset) == (TOPIC_AUTHORIZATION_FAILED, -1), p
    ctx.grant(R_TOPIC, t, DESCRIBE)
    p = list_offsets(ctx.alice, t, LATEST)
    assert (p.error_code, p.offset) == (NONE, 3), p


@case(METADATA, "Metadata")
def _metadata(ctx: Ctx) -> None:
    t = ctx.topic()
    missing = unique_topic("authz-auto")
    md = metadata(ctx.alice, [t, missing], auto=True)
    assert by_name(md) == {t: (TOPIC_AUTHORIZATION_FAILED, 0),
                           missing: (TOPIC_AUTHORIZATION_FAILED, 0)}
    assert not topic_exists(ctx.admin, missing)
    assert listed(ctx.alice) == set()
    ctx.grant(R_TOPIC, t, DESCRIBE)
    ctx.grant(R_TOPIC, missing, DESCRIBE)
    md = metadata(ctx.alice, [t, missing], auto=True)
    assert by_name(md) == {t: (NONE, 1), missing: (METADATA_AUTO_CREATE_DENIAL, 0)}
    md = metadata(ctx.alice, [missing], auto=False)
    assert by_name(md) == {missing: (UNKNOWN_TOPIC_OR_PARTITION, 0)}
    assert not topic_exists(ctx.admin, missing)
    assert listed(ctx.alice) == {t}
    ctx.grant(R_TOPIC, missing, CREATE)
    md = metadata(ctx.alice, [missing], auto=True)
    assert by_name(md) == {missing: (NONE, 1)}
    assert topic_exists(ctx.admin, missing)
    assert listed(ctx.alice) == {t, missing}


@case(CREATE_TOPICS, "CreateTopics")
def _create_topics(ctx: Ctx) -> None:
    name = unique_topic("authz-new")
    r = create_topics(ctx.alice, [name])[name]
    assert r.error_code == TOPIC_AUTHORIZATION_FAILED, r
    assert not topic_exists(ctx.admin, name)
    ctx.grant(R_TOPIC, name, CREATE)
    r = create_topics(ctx.alice, [name])[name]
    assert (r.error_code, r.num_partitions) == (NONE, 1), r
    assert topic_exists(ctx.admin, name)
    # Create on the topic covers that topic only; Create on the cluster covers all.
    other = unique_topic("authz-new")
    assert create_topics(ctx.alice, [other])[other].error_code == TOPIC_AUTHORIZATION_FAILED
    assert not topic_exists(ctx.admin, other)
    ctx.grant(R_CLUSTER, CLUSTER, CREATE)
    assert create_topics(ctx.alice, [other])[other].error_code == NONE
    assert topic_exists(ctx.admin, other)


@case(DELETE_TOPICS, "DeleteTopics")
def _delete_topics(ctx: Ctx) -> None:
    t = ctx.topic([b"keep"])
    assert delete_topics(ctx.alice, [t]) == {t: TOPIC_AUTHORIZATION_FAILED}
    assert topic_exists(ctx.admin, t) and values_of(ctx.admin, t) == [b"keep"]
    ctx.grant(R_TOPIC, t, DELETE)
    assert delete_topics(ctx.alice, [t]) == {t: NONE}
    wait_until(lambda: not topic_exists(ctx.admin, t), f"topic {t} deleted")


@case(DELETE_RECORDS, "DeleteRecords")
def _delete_records(ctx: Ctx) -> None:
    t = ctx.topic([b"a", b"b", b"c"])
    p = delete_records(ctx.alice, t, 2)
    assert (p.error_code, p.low_watermark) == (TOPIC_AUTHORIZATION_FAILED, -1), p
    assert offset_of(ctx.admin, t, EARLIEST) == 0
    ctx.grant(R_TOPIC, t, DELETE)
    p = delete_records(ctx.alice, t, 2)
    assert (p.error_code, p.low_watermark) == (NONE, 2), p
    assert offset_of(ctx.admin, t, EARLIEST) == 2
    assert values_of(ctx.admin, t) == [b"c"]


@case(CREATE_PARTITIONS, "CreatePartitions")
def _create_partitions(ctx: Ctx) -> None:
    t = ctx.topic()
    assert create_partitions(ctx.alice, t, 2) == {t: TOPIC_AUTHORIZATION_FAILED}
    assert partition_count(ctx.admin, t) == 1
    ctx.grant(R_TOPIC, t, ALTER)
    assert create_partitions(ctx.alice, t, 2) == {t: NONE}
    wait_until(lambda: partition_count(ctx.admin, t) == 2, f"{t} with 2 partitions")


@case(OFFSET_FOR_LEADER_EPOCH, "OffsetForLeaderEpoch")
def _offset_for_leader_epoch(ctx: Ctx) -> None:
    t = ctx.topic([b"a", b"b"])
    p = offset_for_leader_epoch(ctx.alice, t)
    assert (p.error_code, p.end_offset) == (TOPIC_AUTHORIZATION_FAILED, -1), p
    ctx.grant(R_TOPIC, t, DESCRIBE)
    p = offset_for_leader_epoch(ctx.alice, t)
    assert (p.error_code, p.leader_epoch, p.end_offset) == (NONE, 0, 2), p


# ---------------------------------------------------------------------------- configs
@case(DESCRIBE_CONFIGS_API, "DescribeConfigs")
def _describe_configs(ctx: Ctx) -> None:
    t = ctx.topic()
    wanted = [(CFG_TOPIC, t), (CFG_BROKER, BROKER_RESOURCE)]

    def answer() -> dict:
        return {k: (r.error_code, len(r.configs) > 0)
                for k, r in describe_configs(ctx.alice, wanted).items()}
    assert answer() == {(CFG_TOPIC, t): (TOPIC_AUTHORIZATION_FAILED, False),
                        (CFG_BROKER, BROKER_RESOURCE): (CLUSTER_AUTHORIZATION_FAILED, False)}
    ctx.grant(R_TOPIC, t, DESCRIBE_CONFIGS)
    assert answer() == {(CFG_TOPIC, t): (NONE, True),
                        (CFG_BROKER, BROKER_RESOURCE): (CLUSTER_AUTHORIZATION_FAILED, False)}
    r = describe_configs(ctx.alice, [(CFG_TOPIC, t)])[(CFG_TOPIC, t)]
    assert "retention.ms" in {c.name for c in r.configs}
    ctx.grant(R_CLUSTER, CLUSTER, DESCRIBE_CONFIGS)
    assert answer() == {(CFG_TOPIC, t): (NONE, True), (CFG_BROKER, BROKER_RESOURCE): (NONE, True)}
    # AlterConfigs implies DescribeConfigs.
    t2 = ctx.topic()
    assert describe_configs(ctx.alice, [(CFG_TOPIC, t2)])[(CFG_TOPIC, t2)].error_code == \
        TOPIC_AUTHORIZATION_FAILED
    ctx.grant(R_TOPIC, t2, ALTER_CONFIGS)
    assert describe_configs(ctx.alice, [(CFG_TOPIC, t2)])[(CFG_TOPIC, t2)].error_code == NONE


def _alter_configs_case(ctx: Ctx, send: Callable, value: str) -> None:
    t = ctx.topic()
    before = topic_config(ctx.admin, t, "retention.ms")
    assert before != value
    wanted = [(CFG_TOPIC, t, {"retention.ms": value}),
              (CFG_BROKER, BROKER_RESOURCE, {"message.max.bytes": "2000000"})]
    assert send(ctx.alice, wanted) == {(CFG_TOPIC, t): TOPIC_AUTHORIZATION_FAILED,
                                       (CFG_BROKER, BROKER_RESOURCE): CLUSTER_AUTHORIZATION_FAILED}
    assert topic_config(ctx.admin, t, "retention.ms") == before
    ctx.grant(R_TOPIC, t, ALTER_CONFIGS)
    assert send(ctx.alice, wanted) == {(CFG_TOPIC, t): NONE,
                                       (CFG_BROKER, BROKER_RESOURCE): CLUSTER_AUTHORIZATION_FAILED}
    assert topic_config(ctx.admin, t, "retention.ms") == value
    ctx.grant(R_CLUSTER, CLUSTER, ALTER_CONFIGS)
    assert send(ctx.alice, wanted) == {(CFG_TOPIC, t): NONE,
                                       (CFG_BROKER, BROKER_RESOURCE): BROKER_CONFIGS_STATIC}


@case(ALTER_CONFIGS_API, "AlterConfigs")
def _alter_configs(ctx: Ctx) -> None:
    _alter_configs_case(ctx, alter_configs, "123456789")


@case(INCREMENTAL_ALTER_CONFIGS, "IncrementalAlterConfigs")
def _incremental_alter_configs(ctx: Ctx) -> None:
    _alter_configs_case(ctx, incremental_alter_configs, "234567890")


# ---------------------------------------------------------------------------- cluster
@case(DESCRIBE_CLUSTER, "DescribeCluster")
def _describe_cluster(ctx: Ctx) -> None:
    r = describe_cluster(ctx.alice)
    if DESCRIBE_CLUSTER_DENIAL is None:
        # Kafka: answered, with no authorized operation on the cluster.
        assert (r.error_code, r.authorized_operations) == (NONE, set()), r
        assert [b.broker_id for b in r.brokers] == [NODE_ID]
    else:
        assert r.error_code == DESCRIBE_CLUSTER_DENIAL, r
        assert r.brokers == []
    ctx.grant(R_CLUSTER, CLUSTER, DESCRIBE)
    r = describe_cluster(ctx.alice)
    assert (r.error_code, r.authorized_operations) == (NONE, {DESCRIBE}), r
    assert [(b.broker_id, b.host) for b in r.brokers] == [(NODE_ID, "127.0.0.1")]
    ctx.grant(R_CLUSTER, CLUSTER, ALTER)
    assert describe_cluster(ctx.alice).authorized_operations == {DESCRIBE, ALTER}


@case(INIT_PRODUCER_ID, "InitProducerId")
def _init_producer_id(ctx: Ctx) -> None:
    r = init_producer_id(ctx.alice)
    assert (r.error_code, r.producer_id) == (CLUSTER_AUTHORIZATION_FAILED, -1), r
    # Write on any topic allows an idempotent producer (KIP-679) ...
    ctx.grant(R_TOPIC, ctx.topic(), WRITE)
    r = init_producer_id(ctx.alice)
    assert r.error_code == NONE and r.producer_id >= 0 and r.producer_epoch == 0, r
    # ... and so does IdempotentWrite on the cluster.
    other, conn = ctx.other_user("idempotent")
    assert init_producer_id(conn).error_code == CLUSTER_AUTHORIZATION_FAILED
    ctx.grant(R_CLUSTER, CLUSTER, IDEMPOTENT_WRITE, principal=f"User:{other}")
    r = init_producer_id(conn)
    assert r.error_code == NONE and r.producer_id >= 0, r
    # A transactional id needs Write on it.
    txn = f"authz-tx-{hexid()}"
    r = init_producer_id(ctx.alice, txn)
    assert (r.error_code, r.producer_id) == (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1), r
    ctx.grant(R_TXN, txn, WRITE)
    assert init_producer_id(ctx.alice, txn).error_code == TRANSACTIONS_UNSUPPORTED


@case(FIND_COORDINATOR, "FindCoordinator")
def _find_coordinator(ctx: Ctx) -> None:
    g = ctx.group()
    c = find_coordinator(ctx.alice, g)
    assert (c.error_code, c.node_id) == (GROUP_AUTHORIZATION_FAILED, -1), c
    ctx.grant(R_GROUP, g, DESCRIBE)
    c = find_coordinator(ctx.alice, g)
    assert (c.error_code, c.node_id, c.host, c.port) == (
        NONE, NODE_ID, "127.0.0.1", ctx.authz.ports["SASL_PLAINTEXT"]), c
    txn = f"authz-tx-{hexid()}"
    c = find_coordinator(ctx.alice, txn, key_type=1)
    assert (c.error_code, c.node_id) == (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1), c
    ctx.grant(R_TXN, txn, DESCRIBE)
    assert find_coordinator(ctx.alice, txn, key_type=1).error_code == TRANSACTIONS_UNSUPPORTED


# ---------------------------------------------------------------------------- groups
@case(JOIN_GROUP, "JoinGroup")
def _join_group(ctx: Ctx) -> None:
    t, g = ctx.topic(), ctx.group()
    r = join_group(ctx.alice, g, "", t)
    assert r.error_code == GROUP_AUTHORIZATION_FAILED, r
    assert group_state(ctx.admin, g) == ("Dead", [])
    assert g not in list_groups(ctx.admin)
    ctx.grant(R_GROUP, g, READ)
    first = join_group(ctx.alice, g, "", t)
    assert first.error_code == MEMBER_ID_REQUIRED and first.member_id, first
    joined = join_group(ctx.alice, g, first.member_id, t)
    assert (joined.error_code, joined.generation_id, joined.leader, joined.member_id) == (
        NONE, 1, first.member_id, first.member_id), joined
    assert [m.member_id for m in joined.members] == [first.member_id]
    assert group_state(ctx.admin, g) == ("CompletingRebalance", [first.member_id])
    assert leave_group(ctx.alice, g, [first.member_id]).error_code == NONE


@case(SYNC_GROUP, "SyncGroup")
def _sync_group(ctx: Ctx) -> None:
    t, g = ctx.topic(), ctx.group()
    member, generation = join_member(ctx.admin, g, t)
    plan = {member: assignment(t, [0])}
    r = sync_group(ctx.alice, g, generation, member, plan)
    assert r.error_code == GROUP_AUTHORIZATION_FAILED, r
    assert group_state(ctx.admin, g) == ("CompletingRebalance", [member])
    ctx.grant(R_GROUP, g, READ)
    r = sync_group(ctx.alice, g, generation, member, plan)
    assert (r.error_code, bytes(r.assignment)) == (NONE, plan[member]), r
    assert group_state(ctx.admin, g) == ("Stable", [member])
    # An unknown member of the group it may read: the group's own error, not authorization.
    r = sync_group(ctx.alice, g, generation, "no-such-member", {})
    assert r.error_code == UNKNOWN_MEMBER_ID, r
    assert leave_group(ctx.admin, g, [member]).error_code == NONE


@case(HEARTBEAT, "Heartbeat")
def _heartbeat(ctx: Ctx) -> None:
    t, g = ctx.topic(), ctx.group()
    member, generation = stable_member(ctx.admin, g, t)
    assert heartbeat(ctx.alice, g, generation, member).error_code == GROUP_AUTHORIZATION_FAILED
    assert group_state(ctx.admin, g) == ("Stable", [member])
    ctx.grant(R_GROUP, g, READ)
    assert heartbeat(ctx.alice, g, generation, member).error_code == NONE
    assert heartbeat(ctx.alice, g, generation, "no-such-member").error_code == UNKNOWN_MEMBER_ID
    assert leave_group(ctx.admin, g, [member]).error_code == NONE


@case(LEAVE_GROUP, "LeaveGroup")
def _leave_group(ctx: Ctx) -> None:
    t, g = ctx.topic(), ctx.group()
    member, _ = stable_member(ctx.admin, g, t)
    r = leave_group(ctx.alice, g, [member])
    assert r.error_code == GROUP_AUTHORIZATION_FAILED, r
    assert group_state(ctx.admin, g) == ("Stable", [member])
    ctx.grant(R_GROUP, g, READ)
    r = leave_group(ctx.alice, g, [member])
    assert r.error_code == NONE, r
    assert [(m.member_id, m.error_code) for m in r.members] == [(member, NONE)]
    assert group_state(ctx.admin, g) == ("Empty", [])


@case(OFFSET_COMMIT, "OffsetCommit")
def _offset_commit(ctx: Ctx) -> None:
    t, g = ctx.topic([b"a"] * 8), ctx.group()
    assert offset_commit(ctx.alice, g, t, 7) == GROUP_AUTHORIZATION_FAILED
    assert committed(ctx.admin, g, t) == -1
    assert group_state(ctx.admin, g) == ("Dead", [])
    ctx.grant(R_GROUP, g, READ)
    assert offset_commit(ctx.alice, g, t, 7) == TOPIC_AUTHORIZATION_FAILED
    assert committed(ctx.admin, g, t) == -1
    ctx.grant(R_TOPIC, t, READ)
    assert offset_commit(ctx.alice, g, t, 7) == NONE
    assert committed(ctx.admin, g, t) == 7


@case(OFFSET_FETCH, "OffsetFetch")
def _offset_fetch(ctx: Ctx) -> None:
    t, g = ctx.topic([b"a"] * 5), ctx.group()
    assert offset_commit(ctx.admin, g, t, 5) == NONE
    r = offset_fetch(ctx.alice, g, t)
    assert r.error_code == GROUP_AUTHORIZATION_FAILED, r
    assert [o for *_, o in fetched_offsets(r) if o != -1] == []  # nothing disclosed
    ctx.grant(R_GROUP, g, DESCRIBE)
    r = offset_fetch(ctx.alice, g, t)
    assert r.error_code == NONE, r
    assert fetched_offsets(r) == [(t, 0, TOPIC_AUTHORIZATION_FAILED, -1)]
    ctx.grant(R_TOPIC, t, DESCRIBE)
    r = offset_fetch(ctx.alice, g, t)
    assert (r.error_code, fetched_offsets(r)) == (NONE, [(t, 0, NONE, 5)]), r


@case(LIST_GROUPS, "ListGroups")
def _list_groups(ctx: Ctx) -> None:
    t, g1, g2 = ctx.topic([b"a"]), ctx.group(), ctx.group()
    for g in (g1, g2):
        assert offset_commit(ctx.admin, g, t, 1) == NONE
    assert list_groups(ctx.alice) == set()
    ctx.grant(R_GROUP, g1, DESCRIBE)
    assert list_groups(ctx.alice) == {g1}
    ctx.grant(R_CLUSTER, CLUSTER, DESCRIBE)
    everything = list_groups(ctx.admin)
    assert {g1, g2} <= everything
    assert list_groups(ctx.alice) == everything


@case(DESCRIBE_GROUPS, "DescribeGroups")
def _describe_groups(ctx: Ctx) -> None:
    t, g = ctx.topic([b"a"]), ctx.group()
    assert offset_commit(ctx.admin, g, t, 1) == NONE
    d = describe_groups(ctx.alice, [g], ops=True)[g]
    assert (d.error_code, d.members) == (GROUP_AUTHORIZATION_FAILED, []), d
    ctx.grant(R_GROUP, g, DESCRIBE)
    d = describe_groups(ctx.alice, [g], ops=True)[g]
    assert (d.error_code, d.group_state, d.authorized_operations) == (NONE, "Empty", {DESCRIBE}), d


@case(DELETE_GROUPS, "DeleteGroups")
def _delete_groups(ctx: Ctx) -> None:
    t, g = ctx.topic([b"a"]), ctx.group()
    assert offset_commit(ctx.admin, g, t, 1) == NONE
    assert delete_groups(ctx.alice, [g]) == {g: GROUP_AUTHORIZATION_FAILED}
    assert group_state(ctx.admin, g) == ("Empty", []) and committed(ctx.admin, g, t) == 1
    ctx.grant(R_GROUP, g, DELETE)
    assert delete_groups(ctx.alice, [g]) == {g: NONE}
    assert group_state(ctx.admin, g) == ("Dead", [])
    assert committed(ctx.admin, g, t) == -1


@case(OFFSET_DELETE, "OffsetDelete")
def _offset_delete(ctx: Ctx) -> None:
    t, g = ctx.topic([b"a"] * 3), ctx.group()
    assert offset_commit(ctx.admin, g, t, 3) == NONE

    def answer() -> tuple[int, list]:
        r = offset_delete(ctx.alice, g, t)
        return r.error_code, [(x.name, p.partition_index, p.error_code)
                              for x in r.topics for p in x.partitions]
    error, partitions = answer()
    assert error == GROUP_AUTHORIZATION_FAILED, partitions
    assert committed(ctx.admin, g, t) == 3
    ctx.grant(R_GROUP, g, DELETE)
    assert answer() == (NONE, [(t, 0, TOPIC_AUTHORIZATION_FAILED)])
    assert committed(ctx.admin, g, t) == 3
    ctx.grant(R_TOPIC, t, READ)
    assert answer() == (NONE, [(t, 0, NONE)])
    assert committed(ctx.admin, g, t) == -1


# ---------------------------------------------------------------------------- credentials
@case(DESCRIBE_USER_SCRAM_CREDENTIALS, "DescribeUserScramCredentials")
def _describe_user_scram_credentials(ctx: Ctx) -> None:
    r = describe_scram(ctx.alice, [ctx.user])
    assert r.error_code == CLUSTER_AUTHORIZATION_FAILED, r
    assert all(u.error_code == CLUSTER_AUTHORIZATION_FAILED and not u.credential_infos
               for u in r.results), r
    ctx.grant(R_CLUSTER, CLUSTER, DESCRIBE)
    r = describe_scram(ctx.alice, [ctx.user])
    assert r.error_code == NONE, r
    assert [(u.user, u.error_code, [(c.mechanism, c.iterations) for c in u.credential_infos])
            for u in r.results] == [(ctx.user, NONE, [(1, 4096)])]


@case(ALTER_USER_SCRAM_CREDENTIALS, "AlterUserScramCredentials")
def _alter_user_scram_credentials(ctx: Ctx) -> None:
    carol = f"carol-{hexid()}"
    assert alter_scram(ctx.alice, carol, "carol-pw") == [(carol, CLUSTER_AUTHORIZATION_FAILED)]
    assert scram_of(ctx.admin, carol) == (RESOURCE_NOT_FOUND, [])
    with pytest.raises(AuthenticationFailed):
        ctx.authz.connect(carol, "carol-pw")
    ctx.grant(R_CLUSTER, CLUSTER, ALTER)
    assert alter_scram(ctx.alice, carol, "carol-pw") == [(carol, NONE)]
    assert scram_of(ctx.admin, carol) == (NONE, [(1, 4096)])
    with ctx.authz.connect(carol, "carol-pw") as conn:
        assert API_VERSIONS in api_versions(conn)


# ---------------------------------------------------------------------------- ACLs
@case(CREATE_ACLS, "CreateAcls")
def _create_acls(ctx: Ctx) -> None:
    t = unique_topic("authz-acl")
    wanted = (R_TOPIC, t, P_LITERAL, ctx.principal, "*", READ, ALLOW)
    assert create_acls(ctx.alice, [wanted]) == [CLUSTER_AUTHORIZATION_FAILED]
    assert acls_of(ctx.admin, ctx.principal) == set()
    ctx.grant(R_CLUSTER, CLUSTER, ALTER)
    assert create_acls(ctx.alice, [wanted]) == [NONE]
    assert acls_of(ctx.admin, ctx.principal) == {
        (R_CLUSTER, CLUSTER, P_LITERAL, ctx.principal, "*", ALTER, ALLOW), wanted}


@case(DESCRIBE_ACLS, "DescribeAcls")
def _describe_acls(ctx: Ctx) -> None:
    r = describe_acls(ctx.alice, principal=ctx.principal)
    assert (r.error_code, r.resources) == (CLUSTER_AUTHORIZATION_FAILED, []), r
    ctx.grant(R_CLUSTER, CLUSTER, DESCRIBE)
    r = describe_acls(ctx.alice, principal=ctx.principal)
    assert r.error_code == NONE, r
    assert acl_set(r) == {(R_CLUSTER, CLUSTER, P_LITERAL, ctx.principal, "*", DESCRIBE, ALLOW)}


@case(DELETE_ACLS, "DeleteAcls")
def _delete_acls(ctx: Ctx) -> None:
    bystander = f"User:bystander-{hexid()}"
    t = unique_topic("authz-acl")
    victim = (R_TOPIC, t, P_LITERAL, bystander, "*", READ, ALLOW)
    assert create_acls(ctx.admin, [victim]) == [NONE]
    r = delete_acls(ctx.alice, principal=bystander)
    assert [(f.error_code, f.matching_acls) for f in r.filter_results] == [
        (CLUSTER_AUTHORIZATION_FAILED, [])], r
    assert acls_of(ctx.admin, bystander) == {victim}
    ctx.grant(R_CLUSTER, CLUSTER, ALTER)
    r = delete_acls(ctx.alice, principal=bystander)
    (f,) = r.filter_results
    assert f.error_code == NONE, r
    assert [(m.error_code, m.resource_type, m.resource_name, m.pattern_type, m.principal, m.host,
             m.operation, m.permission_type) for m in f.matching_acls] == [(NONE, *victim)]
    assert acls_of(ctx.admin, bystander) == set()
