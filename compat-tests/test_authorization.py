"""Authorization with Kafka's ACL model (`weir serve --authorizer acl`).

The matrix: every API the broker advertises (ApiVersions, SaslHandshake and SaslAuthenticate
aside, which are never authorized) has a case keyed by its API key, and a test fails when an
advertised API has none. Each case sends the request as a fresh user without ACLs and asserts
Kafka's denial code at the place Kafka puts it, checks as the super user `admin` that nothing
changed, grants the ACL Kafka requires (confluent-kafka's AdminClient as `admin`), resends and
asserts the success and its effect.

Requests are kafka-python 3's JSON-schema request classes sent over a plain synchronous socket
authenticated with SASL PLAIN, so every request version and response field is exact.

Then focused tests with real clients: a group consumer needs Read on the group, Metadata lists
exactly the described topics, Deny beats Allow (wildcards, prefixes, hosts, implied
operations, super users), `allow.everyone.if.no.acl.found`, the ACL admin APIs round trip and
persist across a restart, authorized operations, a table topic's changelog readable through
Read on the table, the PLAINTEXT listener's ANONYMOUS principal, `weir acl` on a stopped
broker's data directory, and the audit line of a denial.

Where Kafka 3.9's choices are easy to get wrong, they are named constants in `authz.py`
(DESCRIBE_CLUSTER_DENIAL, METADATA_AUTO_CREATE_DENIAL).
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, TopicCollection
from confluent_kafka.admin import AclBinding, AclBindingFilter

from authz import *  # noqa: F403 - the client, requests and codes these tests speak
from authz_matrix import *  # noqa: F403 - the broker, users, grants and the cases
from conftest import _BROKERS_KEY, Broker, unique_topic, weir_bin


@pytest.fixture(scope="module")
def authz_module(tmp_path_factory):
    """One broker for the module's tests (each test uses its own users, topics and groups)."""
    holder: list[Broker] = []

    def factory(start: bool = True, name: str | None = None, **kw) -> Broker:
        b = Broker(tmp_path_factory.mktemp(name or "authz-broker"), **kw)
        holder.append(b)
        if start:
            b.start()
        return b

    a = start_authz(factory)
    yield a
    for b in holder:
        b.stop()


@pytest.fixture
def authz(authz_module, request) -> Authz:
    request.node.stash[_BROKERS_KEY] = [authz_module.broker]  # log tail on failure
    assert authz_module.broker.alive(), "the module's broker is not running"
    return authz_module


# ---------------------------------------------------------------------------- the tests
def test_every_advertised_api_has_an_authorization_case(authz):
    """The matrix is generated from ApiVersions: an advertised API without a case fails here,
    and each case's request version must be advertised."""
    with authz.admin() as admin:
        advertised = api_versions(admin)
    assert NEVER_AUTHORIZED <= set(advertised)
    missing = sorted(set(advertised) - NEVER_AUTHORIZED - set(CASES))
    stale = sorted(set(CASES) - set(advertised))
    assert (missing, stale) == ([], []), \
        f"APIs without a case: {missing}; cases for APIs not advertised: {stale}"
    for api, (lo, hi) in advertised.items():
        if api in VERSIONS:
            assert lo <= VERSIONS[api] <= hi, (CASES[api].name, VERSIONS[api], (lo, hi))
    # ApiVersions, SaslHandshake and SaslAuthenticate serve a principal without any ACL.
    user = fresh_user(authz, "alice-no-acls")
    with authz.connect(user) as conn:
        assert set(api_versions(conn)) == set(advertised)


@pytest.mark.parametrize("api", sorted(CASES), ids=lambda api: CASES[api].name)
def test_authorization_matrix(authz, api):
    c = CASES[api]
    user = fresh_user(authz, f"alice-{c.name.lower()}")
    with authz.admin() as admin, authz.connect(user) as alice:
        ctx = Ctx(authz, user, alice, admin)
        with ctx.stack:
            c.run(ctx)


def test_plaintext_listener_is_anonymous(authz):
    """No SASL: the principal is User:ANONYMOUS, which no ACL names: denied everything."""
    with authz.admin() as admin, authz.connect() as anon:
        t = admin_create_topic(admin)
        admin_produce(admin, t, [b"secret"])
        assert API_VERSIONS in api_versions(anon)
        assert listed(anon) == set()
        assert by_name(metadata(anon, [t])) == {t: (TOPIC_AUTHORIZATION_FAILED, 0)}
        assert produce(anon, t, records([b"x"])).error_code == TOPIC_AUTHORIZATION_FAILED
        p = fetch(anon, t)
        assert (p.error_code, decode(p.records)) == (TOPIC_AUTHORIZATION_FAILED, [])
        assert values_of(admin, t) == [b"secret"]
        # An ACL for User:ANONYMOUS lets it in like any principal.
        grant(authz, binding("User:ANONYMOUS", R_TOPIC, t, READ))
        p = fetch(anon, t)
        assert (p.error_code, [r.value for r in decode(p.records)]) == (NONE, [b"secret"])


def consume_group(authz: Authz, user: str, group: str, topic: str, want: int,
                  timeout: float = 60.0) -> tuple[list, list]:
    """Subscribes as `user` in `group`; returns (values, error codes) once `want` values or a
    GROUP_AUTHORIZATION_FAILED arrived (or on timeout)."""
    c = Consumer({**authz.conf(user, pw(user)), "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                  "topic.metadata.refresh.interval.ms": 1000})
    values, errors = [], []
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(values) < want:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error() is not None:
                errors.append(m.error().code())
                if m.error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED:
                    break
                continue
            values.append(m.value())
        if values:
            c.commit(asynchronous=False)
    finally:
        c.close()
    return values, errors


def test_group_consumer_needs_read_on_the_group(authz):
    """confluent-kafka: Read on a topic prefix but not on the group is
    GROUP_AUTHORIZATION_FAILED with nothing consumed; with Read on the group, exactly the
    records, and the commit is stored."""
    user = fresh_user(authz, "alice-consumer")
    prefix = f"orders-{hexid()}-"
    t, g = prefix + "eu", Ctx.group()
    values = [b"order-%d" % i for i in range(5)]
    with authz.admin() as admin:
        admin_create_topic(admin, t)
        admin_produce(admin, t, values)
        grant(authz, binding(f"User:{user}", R_TOPIC, prefix, READ, pattern=P_PREFIXED))
        got, errors = consume_group(authz, user, g, t, len(values), timeout=30)
        assert got == [] and KafkaError.GROUP_AUTHORIZATION_FAILED in errors, errors
        assert committed(admin, g, t) == -1
        grant(authz, binding(f"User:{user}", R_GROUP, g, READ))
        got, errors = consume_group(authz, user, g, t, len(values))
        assert got == values, errors
        assert committed(admin, g, t) == len(values)


def test_metadata_lists_exactly_the_described_topics(authz):
    """list_topics as alice: Describe, Read and Write (which imply Describe) and a PREFIXED
    Describe show a topic; DescribeConfigs alone, a group ACL of the same name or nothing
    hide it."""
    user = fresh_user(authz, "alice-listing")
    p = f"User:{user}"
    prefix = f"listing-{hexid()}-"
    with authz.admin() as admin:
        shown = {name: admin_create_topic(admin) for name in ("describe", "read", "write")}
        shown["prefixed-1"] = admin_create_topic(admin, prefix + "1")
        shown["prefixed-2"] = admin_create_topic(admin, prefix + "2")
        hidden = {name: admin_create_topic(admin) for name in ("configs", "group", "none")}
    grant(authz,
          binding(p, R_TOPIC, shown["describe"], DESCRIBE),
          binding(p, R_TOPIC, shown["read"], READ),
          binding(p, R_TOPIC, shown["write"], WRITE),
          binding(p, R_TOPIC, prefix, DESCRIBE, pattern=P_PREFIXED),
          binding(p, R_TOPIC, hidden["configs"], DESCRIBE_CONFIGS),
          binding(p, R_GROUP, hidden["group"], DESCRIBE))
    md = authz.client(user).list_topics(timeout=TIMEOUT)
    assert set(md.topics) == set(shown.values())
    one = authz.client(user).list_topics(topic=hidden["none"], timeout=TIMEOUT)
    assert one.topics[hidden["none"]].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_deny_beats_allow_wildcards_prefixes_hosts_and_super_users(broker_factory):
    a = start_authz(broker_factory, name="wildcards")
    alice, bob = add_user(a, "alice"), add_user(a, "bob")
    h = hexid()
    t, u, v = f"t-{h}", f"u-{h}-x", f"v-{h}"
    with a.admin() as admin:
        for topic in (t, u, v):
            admin_create_topic(admin, topic)
            admin_produce(admin, topic, [b"data"])
    grant(a,
          binding("User:*", R_TOPIC, "*", READ),                             # everyone reads all
          binding("User:alice", R_TOPIC, t, READ, permission=DENY),          # but alice not t
          binding("User:bob", R_TOPIC, f"u-{h}", READ, pattern=P_PREFIXED, permission=DENY),
          binding("User:alice", R_TOPIC, v, OP_ALL, permission=DENY),       # nothing on v
          binding(f"User:{ADMIN}", R_TOPIC, t, OP_ALL, permission=DENY))    # super user bypass
    with a.connect(alice) as al, a.connect(bob) as bo, a.admin() as admin:
        assert fetch(al, t).error_code == TOPIC_AUTHORIZATION_FAILED
        assert fetch(al, u).error_code == NONE
        # Deny Read does not deny Describe, which the wildcard Allow Read implies.
        assert list_offsets(al, t, LATEST).error_code == NONE
        assert list_offsets(al, v, LATEST).error_code == TOPIC_AUTHORIZATION_FAILED  # Deny All
        assert fetch(al, v).error_code == TOPIC_AUTHORIZATION_FAILED
        assert fetch(bo, t).error_code == NONE
        assert fetch(bo, u).error_code == TOPIC_AUTHORIZATION_FAILED
        assert list_offsets(bo, u, LATEST).error_code == NONE
        assert fetch(admin, t).error_code == NONE
        # Hosts: an Allow for another address does not apply; one for ours does.
        assert produce(al, t, records([b"w"])).error_code == TOPIC_AUTHORIZATION_FAILED
        grant(a, binding("User:alice", R_TOPIC, t, WRITE, host="192.0.2.1"))
        assert produce(al, t, records([b"w"])).error_code == TOPIC_AUTHORIZATION_FAILED
        grant(a, binding("User:alice", R_TOPIC, t, WRITE, host="127.0.0.1"))
        assert produce(al, t, records([b"w"])).error_code == NONE
        # A PREFIXED Allow, then a wildcard-principal Deny over it.
        grant(a, binding("User:alice", R_TOPIC, "u-", WRITE, pattern=P_PREFIXED))
        assert produce(al, u, records([b"w"])).error_code == NONE
        grant(a, binding("User:*", R_TOPIC, u, WRITE, permission=DENY))
        assert produce(al, u, records([b"w"])).error_code == TOPIC_AUTHORIZATION_FAILED
        assert produce(admin, u, records([b"admin"])).error_code == NONE
        # All allows every operation (Describe included) on a group.
        g = Ctx.group()
        assert find_coordinator(bo, g).error_code == GROUP_AUTHORIZATION_FAILED
        grant(a, binding("User:bob", R_GROUP, g, OP_ALL))
        assert find_coordinator(bo, g).error_code == NONE
        assert values_of(admin, t) == [b"data", b"w"]
        assert values_of(admin, u) == [b"data", b"w", b"admin"]


def test_allow_everyone_if_no_acl_found(broker_factory):
    a = start_authz(broker_factory, name="open",
                    extra_args=["--allow-everyone-if-no-acl-found", "true"])
    alice = add_user(a, "alice")
    with a.admin() as admin:
        t, u = admin_create_topic(admin), admin_create_topic(admin)
    with a.connect(alice) as al, a.admin() as admin:
        assert produce(al, t, records([b"open"])).error_code == NONE
        assert describe_acls(al).error_code == NONE  # no ACL on the cluster either
        # Once any ACL names the resource, only the ACLs decide.
        grant(a, binding("User:bob", R_TOPIC, t, READ))
        assert produce(al, t, records([b"closed"])).error_code == TOPIC_AUTHORIZATION_FAILED
        assert fetch(al, t).error_code == TOPIC_AUTHORIZATION_FAILED
        assert produce(al, u, records([b"still open"])).error_code == NONE
        grant(a, binding("User:bob", R_CLUSTER, CLUSTER, DESCRIBE))
        assert describe_acls(al).error_code == CLUSTER_AUTHORIZATION_FAILED
        assert values_of(admin, t) == [b"open"]
        assert values_of(admin, u) == [b"still open"]


def test_acl_apis_round_trip_and_persist_across_a_restart(broker_factory):
    a = start_authz(broker_factory, name="acls")
    bindings = [
        AclBinding(R_TOPIC, "orders-eu", P_LITERAL, "User:alice", "*", READ, ALLOW),
        AclBinding(R_TOPIC, "orders-", P_PREFIXED, "User:alice", "*", DESCRIBE, ALLOW),
        AclBinding(R_TOPIC, "*", P_LITERAL, "User:bob", "10.0.0.1", WRITE, DENY),
        AclBinding(R_GROUP, "billing", P_LITERAL, "User:alice", "*", READ, ALLOW),
        AclBinding(R_CLUSTER, CLUSTER, P_LITERAL, "User:ops", "*", ALTER, ALLOW),
        AclBinding(R_TXN, "tx-", P_PREFIXED, "User:alice", "*", WRITE, ALLOW),
    ]
    admin = a.admin_client()
    grant(a, *bindings)
    grant(a, bindings[0])  # creating an existing binding again changes nothing

    def described(rtype=R_ANY, name=None, pattern=P_ANY, principal=None, op=OP_ANY) -> set:
        f = AclBindingFilter(rtype, name, pattern, principal, None, op, PERM_ANY)
        return set(admin.describe_acls(f).result(TIMEOUT))
    assert described() == set(bindings)
    assert described(R_TOPIC, "orders-eu", P_MATCH) == set(bindings[:3])
    assert described(R_TOPIC, "orders-", P_LITERAL) == set()
    assert described(R_TOPIC, "orders-", P_PREFIXED) == {bindings[1]}
    assert described(principal="User:alice") == {bindings[i] for i in (0, 1, 3, 5)}
    assert described(R_CLUSTER) == {bindings[4]}
    # Refused with Kafka's INVALID_REQUEST: a cluster resource not named kafka-cluster.
    with a.admin() as raw:
        bad = (R_CLUSTER, "not-the-cluster", P_LITERAL, "User:x", "*", ALTER, ALLOW)
        assert create_acls(raw, [bad]) == [INVALID_REQUEST]
    assert described() == set(bindings)
    gone_filter = AclBindingFilter(R_ANY, None, P_ANY, "User:alice", None, READ, PERM_ANY)
    (fut,) = admin.delete_acls([gone_filter]).values()
    assert set(fut.result(TIMEOUT)) == {bindings[0], bindings[3]}
    remaining = set(bindings) - {bindings[0], bindings[3]}
    assert described() == remaining
    assert (a.broker.data_dir / "meta" / "acls.json").exists()
    a.broker.terminate()
    a.broker.start()
    a._admin_client = None
    admin = a.admin_client()
    assert described() == remaining
    a.broker.kill()  # a crash keeps them too: each change was durable before its answer
    a.broker.start()
    a._admin_client = None
    admin = a.admin_client()
    assert described() == remaining


def test_authorized_operations(authz):
    """describe_topics / describe_cluster / describe_consumer_groups with
    include_authorized_operations, and Metadata v10's bit fields: exactly the allowed and
    implied operations; the cluster's only with Describe on it."""
    user = fresh_user(authz, "alice-ops")
    p = f"User:{user}"
    client = authz.client(user)
    with authz.admin() as admin, authz.connect(user) as alice:
        t = admin_create_topic(admin)
        g = Ctx.group()
        assert offset_commit(admin, g, t, 0) == NONE
        grant(authz, binding(p, R_TOPIC, t, READ), binding(p, R_TOPIC, t, ALTER_CONFIGS),
              binding(p, R_GROUP, g, READ), binding(p, R_CLUSTER, CLUSTER, IDEMPOTENT_WRITE))
        desc = client.describe_topics(TopicCollection([t]), include_authorized_operations=True)
        ops = {op.value for op in desc[t].result(TIMEOUT).authorized_operations}
        assert ops == {READ, DESCRIBE, ALTER_CONFIGS, DESCRIBE_CONFIGS}
        md = metadata(alice, [t], topic_ops=True, cluster_ops=True, version=10)
        assert md.topics[0].authorized_operations == {READ, DESCRIBE, ALTER_CONFIGS,
                                                      DESCRIBE_CONFIGS}
        # IdempotentWrite on the cluster, but no Describe: Kafka reports no cluster operation.
        assert md.authorized_operations == set()
        if DESCRIBE_CLUSTER_DENIAL is None:
            assert describe_cluster(alice).authorized_operations == set()
        groups = client.describe_consumer_groups([g], include_authorized_operations=True)
        gops = {op.value for op in groups[g].result(TIMEOUT).authorized_operations}
        assert gops == {READ, DESCRIBE}
        grant(authz, binding(p, R_CLUSTER, CLUSTER, DESCRIBE))
        cluster = client.describe_cluster(include_authorized_operations=True).result(TIMEOUT)
        assert {op.value for op in cluster.authorized_operations} == {DESCRIBE, IDEMPOTENT_WRITE}
        md = metadata(alice, None, cluster_ops=True, version=10)
        assert md.authorized_operations == {DESCRIBE, IDEMPOTENT_WRITE}
        # Not asked: Kafka's "omitted" value (decoded as None).
        assert metadata(alice, [t], version=10).topics[0].authorized_operations is None
        # The super user may do everything.
        admin_client = authz.admin_client()
        desc = admin_client.describe_topics(TopicCollection([t]),
                                            include_authorized_operations=True)
        assert {op.value for op in desc[t].result(TIMEOUT).authorized_operations} == TOPIC_OPS
        cluster = admin_client.describe_cluster(include_authorized_operations=True).result(TIMEOUT)
        assert {op.value for op in cluster.authorized_operations} == CLUSTER_OPS


def test_table_changelog_is_readable_with_read_on_the_table(authz):
    """T.changelog is read (and described) with the rights on T: no ACL of its own."""
    user = fresh_user(authz, "alice-table")
    with authz.admin() as admin, authz.connect(user) as alice:
        t = admin_create_topic(admin, unique_topic("authz-table"),
                               configs={"cleanup.policy": "compact"})
        cl = f"{t}.changelog"
        wait_until(lambda: topic_exists(admin, cl), f"{cl}")
        admin_produce(admin, t, [b"v1", b"v2", b"v3"], keys=[b"k1", b"k2", b"k1"])
        want = [("+I", b"k1", b"v1"), ("+I", b"k2", b"v2"), ("-U", b"k1", b"v1"),
                ("+U", b"k1", b"v3")]

        def changes(conn: Kafka) -> list:
            p = fetch(conn, cl)
            assert p.error_code == NONE, p
            return [(dict(r.headers)["weir.op"].decode(), r.key, r.value)
                    for r in decode(p.records)]
        wait_until(lambda: len(changes(admin)) == len(want), "the changelog")
        assert changes(admin) == want
        p = fetch(alice, cl)
        assert (p.error_code, decode(p.records)) == (TOPIC_AUTHORIZATION_FAILED, [])
        assert list_offsets(alice, cl, LATEST).error_code == TOPIC_AUTHORIZATION_FAILED
        assert listed(alice) == set()
        grant(authz, binding(f"User:{user}", R_TOPIC, t, READ))
        assert changes(alice) == want
        assert (list_offsets(alice, cl, LATEST).error_code,
                list_offsets(alice, cl, LATEST).offset) == (NONE, len(want))
        assert listed(alice) == {t, cl}
        # Read on the table is not Write on it.
        assert produce(alice, t, records([b"x"], [b"k9"])).error_code == TOPIC_AUTHORIZATION_FAILED


# ---------------------------------------------------------------------------- CLI and audit
def weir_acl(*args: str, data_dir) -> str:
    """`weir acl VERB --data-dir D ARGS...` (the CLI's flag spelling lives only here)."""
    verb, *rest = args
    done = subprocess.run([str(weir_bin()), "acl", verb, "--data-dir", str(data_dir), *rest],
                          text=True, capture_output=True, timeout=60)
    assert done.returncode == 0, f"weir acl {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_weir_acl_cli_edits_a_stopped_brokers_acls(broker_factory):
    a = start_authz(broker_factory, name="cli", start=False)
    data = a.broker.data_dir
    subprocess.run([str(weir_bin()), "user", "add", "alice", "--data-dir", str(data)],
                   env={**os.environ, "WEIR_USER_PASSWORD": pw("alice")}, text=True,
                   capture_output=True, check=True, timeout=60)
    t = unique_topic("authz-cli")
    weir_acl("add", "--principal", "User:alice", "--operation", "Read", "--operation",
             "Describe", "--topic", t, data_dir=data)
    weir_acl("add", "--principal", "User:alice", "--operation", "Write", "--topic", t, "--deny",
             data_dir=data)
    weir_acl("add", "--principal", "User:alice", "--operation", "Read", "--group", "cli-",
             "--prefixed", data_dir=data)
    text = weir_acl("list", data_dir=data)
    assert "User:alice" in text and t in text and "cli-" in text, text
    as_json = json.dumps(json.loads(weir_acl("list", "--json", data_dir=data)))
    assert "User:alice" in as_json and t in as_json, as_json
    expected = {(R_TOPIC, t, P_LITERAL, "User:alice", "*", READ, ALLOW),
                (R_TOPIC, t, P_LITERAL, "User:alice", "*", DESCRIBE, ALLOW),
                (R_TOPIC, t, P_LITERAL, "User:alice", "*", WRITE, DENY),
                (R_GROUP, "cli-", P_PREFIXED, "User:alice", "*", READ, ALLOW)}
    a.broker.start()
    with a.admin() as admin, a.connect("alice") as alice:
        assert acls_of(admin, "User:alice") == expected
        admin_create_topic(admin, t)
        admin_produce(admin, t, [b"cli"])
        assert fetch(alice, t).error_code == NONE
        assert produce(alice, t, records([b"x"])).error_code == TOPIC_AUTHORIZATION_FAILED
        assert find_coordinator(alice, "cli-group").error_code == NONE
    a.broker.terminate()
    weir_acl("remove", "--principal", "User:alice", "--operation", "Read", "--topic", t,
             data_dir=data)
    a.broker.start()
    with a.admin() as admin, a.connect("alice") as alice:
        assert acls_of(admin, "User:alice") == expected - {
            (R_TOPIC, t, P_LITERAL, "User:alice", "*", READ, ALLOW)}
        assert fetch(alice, t).error_code == TOPIC_AUTHORIZATION_FAILED
        assert list_offsets(alice, t, LATEST).error_code == NONE  # Describe is still there
        assert values_of(admin, t) == [b"cli"]


def test_denials_are_audited(authz):
    user = fresh_user(authz, "alice-audit")
    with authz.admin() as admin, authz.connect(user) as alice:
        t = admin_create_topic(admin)
        assert fetch(alice, t).error_code == TOPIC_AUTHORIZATION_FAILED

    def lines() -> list[str]:
        return [line for line in authz.log().splitlines()
                if "authorization denied" in line and f"User:{user}" in line]
    wait_until(lambda: lines() != [], "the audit line of the denied Fetch")
    (line, *_) = lines()
    assert "weir::audit" in line, line
    assert t in line and "read" in line.lower(), line
    # The super user is never denied, so never audited as denied.
    assert not [line for line in authz.log().splitlines() if "authorization denied" in line
                and re.search(rf"User:{ADMIN}(?![\w-])", line)]
    # Its admin changes are: who, what, on which resource.
    created = [line for line in authz.log().splitlines()
               if "admin change" in line and f"resource=TOPIC:{t}" in line]
    assert len(created) == 1, created
    assert "weir::audit" in created[0] and f"principal=User:{ADMIN}" in created[0]
    assert 'action="create topic"' in created[0], created[0]


# ---------------------------------------------------------------------------- HTTP admin API
def http_call(url: str, auth: tuple[str, str] | str | None = None,
              method: str = "GET", body: dict | None = None) -> tuple[int, dict, dict]:
    """(status, JSON body or {}, headers by lower-case name) of an HTTP request with Basic
    (user, password) or Bearer (a token string) credentials."""
    import base64
    import urllib.error
    import urllib.request
    headers = {"Content-Type": "application/json"}
    if isinstance(auth, tuple):
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    elif isinstance(auth, str):
        headers["Authorization"] = f"Bearer {auth}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            return (r.status, json.loads(text) if text.startswith("{") else {},
                    {k.lower(): v for k, v in r.headers.items()})
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return (e.code, json.loads(text) if text.startswith("{") else {},
                {k.lower(): v for k, v in e.headers.items()})


def weir_token(*args: str, data_dir) -> str:
    done = subprocess.run([str(weir_bin()), "token", *args, "--data-dir", str(data_dir)],
                          text=True, capture_output=True, timeout=60)
    assert done.returncode == 0, f"weir token {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def test_http_table_api_authenticates_and_authorizes(authz):
    """Lookups, history, batch lookups and the storage view on the HTTP admin API: anonymous
    callers get 401 with a Basic challenge, a wrong password 401, a user without Read on the
    table 403; with Read, Basic credentials and a `weir token` bearer token read the row, until
    the token is revoked. /health stays open on the loopback listener."""
    user = fresh_user(authz, "alice-http")
    other = fresh_user(authz, "bob-http")
    base = authz.broker.http
    with authz.admin() as admin:
        t = admin_create_topic(admin, unique_topic("authz-http"),
                               configs={"cleanup.policy": "compact"})
        admin_produce(admin, t, [b"v1"], keys=[b"k1"])
    key_url = f"{base}/v1/tables/{t}/keys/k1"
    wait_until(lambda: http_call(key_url, (ADMIN, ADMIN_PASSWORD))[0] == 200, "the row")
    status, body, headers = http_call(key_url)
    assert status == 401 and "authentication required" in body["error"]
    assert headers["www-authenticate"] == 'Basic realm="weir"'
    status, _, headers = http_call(key_url, (user, "wrong"))
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="weir"'
    assert http_call(key_url, (user, pw(user)))[0] == 403
    assert http_call(f"{base}/v1/tables/no-such-{t}/keys/k1", (user, pw(user)))[0] == 403
    assert http_call(f"{base}/v1/topics/{t}/storage", (user, pw(user)))[0] == 403
    grant(authz, binding(f"User:{user}", R_TOPIC, t, READ))
    status, row, _ = http_call(key_url, (user, pw(user)))
    assert (status, row["key"], row["value"]) == (200, "k1", "v1")
    status, hist, _ = http_call(f"{key_url}/history", (user, pw(user)))
    assert status == 200 and [c["op"] for c in hist["changes"]] == ["+I"]
    status, batch, _ = http_call(f"{base}/v1/tables/{t}/lookup", (user, pw(user)), "POST",
                                 {"keys": ["k1", "k2"]})
    assert status == 200, batch
    assert http_call(f"{base}/v1/topics/{t}/storage", (user, pw(user)))[0] == 200
    assert http_call(key_url, (other, pw(other)))[0] == 403
    token = weir_token("create", "--principal", f"User:{user}", "--description", "svc",
                       data_dir=authz.broker.data_dir)
    assert token.startswith("weir_")
    status, row, _ = http_call(key_url, token)
    assert (status, row["value"]) == (200, "v1")
    assert http_call(key_url, token + "x")[0] == 401
    listed_tokens = weir_token("list", data_dir=authz.broker.data_dir)
    assert token not in listed_tokens and f"User:{user}\tsvc" in listed_tokens
    token_id = listed_tokens.split("\t")[0]
    time.sleep(0.02)  # a new mtime for the tokens file
    weir_token("revoke", token_id, data_dir=authz.broker.data_dir)
    assert http_call(key_url, token)[0] == 401
    assert http_call(f"{base}/health")[0] == 200
    assert http_call(f"{base}/metrics")[0] == 200


def test_http_probes_closed_need_credentials(broker_factory):
    """--http-probes-open false (the default off loopback): /health, /ready and /metrics
    answer 401 to anonymous callers and 200 to a user."""
    a = start_authz(broker_factory, name="probes", extra_args=["--http-probes-open", "false"],
                    start=False)
    a.broker.start(wait=False)

    def ready() -> bool:
        assert a.broker.alive(), a.broker.log_tail()
        try:
            return http_call(a.broker.http + "/ready", (ADMIN, ADMIN_PASSWORD))[0] == 200
        except OSError:
            return False  # not listening yet
    wait_until(ready, "ready", 60)
    for path in ["/health", "/ready", "/metrics"]:
        assert http_call(a.broker.http + path)[0] == 401, path
        assert http_call(a.broker.http + path, (ADMIN, ADMIN_PASSWORD))[0] == 200, path


# ---------------------------------------------------------------------------- weir CLI
def weir_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(weir_bin()), *args], text=True, capture_output=True,
                          timeout=60, env={**os.environ, **env})


def test_weir_admin_commands_log_in_with_sasl(authz):
    """`weir topic …` against a secured broker: over SASL with SCRAM-SHA-512 and PLAIN as the
    admin it creates and lists topics; as a user it sees only what its ACLs let it describe
    and cannot create; a wrong password exits 1 with SASL_AUTHENTICATION_FAILED; the PLAINTEXT
    listener (ANONYMOUS) is refused by the ACLs."""
    user = fresh_user(authz, "alice-cli")
    topic = unique_topic("authz-cli")
    sasl = {"WEIR_BOOTSTRAP": authz.sasl, "WEIR_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}
    admin = {**sasl, "WEIR_SASL_USERNAME": ADMIN, "WEIR_SASL_PASSWORD": ADMIN_PASSWORD}
    made = weir_cli("topic", "create", topic, "--partitions", "2", env=admin)
    assert made.returncode == 0, made.stderr
    for mechanism in ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]:
        listed = weir_cli("topic", "list", env={**admin, "WEIR_SASL_MECHANISM": mechanism})
        assert listed.returncode == 0, listed.stderr
        assert topic in listed.stdout.split(), listed.stdout
    alice = {**sasl, "WEIR_SASL_USERNAME": user, "WEIR_SASL_PASSWORD": pw(user),
             "WEIR_SASL_MECHANISM": "SCRAM-SHA-256"}  # the one credential add_user stores
    listed = weir_cli("topic", "list", "--json", env=alice)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    grant(authz, binding(f"User:{user}", R_TOPIC, topic, DESCRIBE))
    listed = weir_cli("topic", "list", "--json", env=alice)
    assert [t["name"] for t in json.loads(listed.stdout)] == [topic]
    refused = weir_cli("topic", "create", f"{topic}-x", env=alice)
    assert refused.returncode == 1 and "TOPIC_AUTHORIZATION_FAILED" in refused.stderr, refused
    wrong = weir_cli("topic", "list", env={**alice, "WEIR_SASL_PASSWORD": "wrong"})
    assert wrong.returncode == 1 and "SASL_AUTHENTICATION_FAILED" in wrong.stderr, wrong
    anonymous = weir_cli("topic", "create", f"{topic}-y", env={"WEIR_BOOTSTRAP": authz.plain})
    assert anonymous.returncode == 1 and "TOPIC_AUTHORIZATION_FAILED" in anonymous.stderr
