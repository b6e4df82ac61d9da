"""Security with the Java client (kafka-clients 3.9.1, java/SecurityAdmin.java).

On a broker with PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL listeners (`start_secure` from
test_security.py, certificates from its `pki` fixture, trusted by the JVM straight from PEM):

- a topic is created, records are produced (acks=all, idempotent) and read back with
  assign() over SASL_SSL with SCRAM-SHA-512, over SASL_SSL with PLAIN, and over SSL with a
  client certificate (a PEM keystore: PKCS#8 key and certificate), whose subject is the
  principal the broker logs;
- a wrong password (SCRAM-SHA-512) or an unknown user (PLAIN) is SaslAuthenticationException
  for the AdminClient and the producer, and nothing is created or written;
- the SCRAM credential APIs: alter/describeUserScramCredentials (SHA-512 with 4096
  iterations, SHA-256 with 8192), logging in with each, Kafka's refusals (too few iterations,
  deleting a missing credential, describing a user without credentials), describing without
  names lists every user (the Java client sends an empty list, which Kafka treats as "all"),
  and a deleted credential no longer logs in while the other mechanism still does.

On brokers with `--authorizer acl --super-users User:admin` (`start_authz` from
test_authorization.py):

- the ACL APIs: a user without ACLs is refused Create/Describe/DeleteAcls with
  ClusterAuthorizationException; createAcls, describeAcls with ANY, MATCH (literal, prefixed
  and wildcard bindings) and principal filters, deleteAcls with several filters;
- a group consumer with Read on the topic prefix but not on the group gets
  GroupAuthorizationException and commits nothing; with Read on the group it consumes and
  commits.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import _BROKERS_KEY, COMPAT, unique_topic
from javatest import SRC, classpath, compile_java
from authz_matrix import add_user, pw, start_authz
from test_security import ADMIN, ADMIN_PASSWORD, log_of, openssl, values_of
from test_security import pki, secure  # noqa: F401  (module-scoped fixtures: CA, broker)
from weirtest import admin as plaintext_admin
from weirtest import create_topic

BUILD = COMPAT / ".build" / "java-security"
JAVA_TIMEOUT_S = 120

SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SASL_AUTH_FAILED = "org.apache.kafka.common.errors.SaslAuthenticationException"
CLUSTER_AUTH_FAILED = "org.apache.kafka.common.errors.ClusterAuthorizationException"


@pytest.fixture(scope="module")
def compiled() -> Path:
    return compile_java(BUILD, [SRC / "SecurityAdmin.java"])


@pytest.fixture
def sec(secure, request):
    """The module's four-listener broker, its log attached to a failing test's report."""
    request.node.stash[_BROKERS_KEY] = [secure.broker]
    assert secure.broker.alive(), "the module's broker is not running"
    return secure


def java(compiled: Path, *args) -> list[str]:
    """Runs a SecurityAdmin subcommand; its stdout lines (the last one is "OK")."""
    cmd = ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
           "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
           "-cp", classpath(compiled), "SecurityAdmin", *map(str, args)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=JAVA_TIMEOUT_S)
    stdout, stderr = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == 0, f"exit {p.returncode}\n--- stdout\n{stdout}\n--- stderr\n{stderr[-6000:]}"
    lines = stdout.splitlines()
    assert lines[-1:] == ["OK"], stdout
    return lines[:-1]


def write_props(path: Path, props: dict) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


def sasl_props(path: Path, protocol: str, mechanism: str, user: str, password: str,
               ca: str | None = None) -> Path:
    module = PLAIN_MODULE if mechanism == "PLAIN" else SCRAM_MODULE
    props = {"security.protocol": protocol, "sasl.mechanism": mechanism,
             "sasl.jaas.config": f'{module} required username="{user}" password="{password}";'}
    if ca is not None:
        props |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": ca}
    return write_props(path, props)


def client_cert_props(path: Path, pki: dict) -> Path:
    """SSL with the client certificate as a PEM keystore: the PKCS#8 key, then the chain."""
    key = path.parent / "client.pk8"
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", pki["client_key"], "-out", str(key),
            cwd=path.parent)
    keystore = path.parent / "client-keystore.pem"
    keystore.write_text(key.read_text() + Path(pki["client_cert"]).read_text())
    return write_props(path, {"security.protocol": "SSL",
                              "ssl.truststore.type": "PEM", "ssl.truststore.location": pki["ca"],
                              "ssl.keystore.type": "PEM", "ssl.keystore.location": str(keystore)})


# ============================================================================ TLS and SASL
@pytest.mark.parametrize("listener,mechanism", [
    ("SASL_SSL", "SCRAM-SHA-512"), ("SASL_SSL", "PLAIN"), ("SSL", "client-certificate")])
def test_java_round_trip(sec, pki, compiled, tmp_path, listener, mechanism):
    if listener == "SSL":
        props = client_cert_props(tmp_path / "client.properties", pki)
    else:
        props = sasl_props(tmp_path / "client.properties", listener, mechanism, ADMIN,
                           ADMIN_PASSWORD, pki["ca"])
    topic = unique_topic("java-rt")
    n = 5
    assert java(compiled, "roundtrip", sec.addr(listener), props, topic, n) == [
        f"created topic={topic} partitions=1",
        *[f"produced partition=0 offset={i} value=v-{i}" for i in range(n)],
        *[f"consumed partition=0 offset={i} key=k-{i} value=v-{i}" for i in range(n)],
        f"end_offset={n}",
    ]
    assert values_of(sec, topic) == [b"v-%d" % i for i in range(n)]
    if listener == "SSL":
        assert "principal=User:CN=client-app,O=Weir Test" in log_of(sec)


@pytest.mark.parametrize("mechanism,user,password", [
    ("SCRAM-SHA-512", ADMIN, "wrong-password"), ("PLAIN", "nobody", ADMIN_PASSWORD)])
def test_java_bad_login_is_refused_and_changes_nothing(sec, pki, compiled, tmp_path,
                                                      mechanism, user, password):
    topic = unique_topic("java-bad")
    create_topic(sec.addr("PLAINTEXT"), topic, 1)
    props = sasl_props(tmp_path / "bad.properties", "SASL_SSL", mechanism, user, password,
                       pki["ca"])
    assert java(compiled, "bad-login", sec.addr("SASL_SSL"), props, topic) == [
        f"describeCluster={SASL_AUTH_FAILED}",
        f"createTopics={SASL_AUTH_FAILED}",
        f"send={SASL_AUTH_FAILED}",
    ]
    assert values_of(sec, topic) == []
    topics = plaintext_admin(sec.addr("PLAINTEXT")).list_topics(timeout=30).topics
    assert topic in topics and f"{topic}-new" not in topics
    assert "wrong-password" not in log_of(sec)


def test_java_scram_credential_admin_api(sec, pki, compiled, tmp_path):
    props = sasl_props(tmp_path / "admin.properties", "SASL_SSL", "SCRAM-SHA-512", ADMIN,
                       ADMIN_PASSWORD, pki["ca"])
    got = java(compiled, "scram", sec.addr("SASL_SSL"), props)
    described_all = [line for line in got if line.startswith("all ")]
    assert [line for line in got if not line.startswith("all ")] == [
        "describe_before=org.apache.kafka.common.errors.ResourceNotFoundException",
        f"login_before SCRAM-SHA-512={SASL_AUTH_FAILED}",
        "upserted SCRAM_SHA_512:4096",
        "described javauser SCRAM_SHA_512:4096",
        "upserted SCRAM_SHA_256:8192",
        "described javauser SCRAM_SHA_256:8192,SCRAM_SHA_512:4096",
        # The first user from WEIR_ADMIN_USER: both mechanisms, 4096 iterations.
        "described admin SCRAM_SHA_256:4096,SCRAM_SHA_512:4096",
        "described javauser SCRAM_SHA_256:8192,SCRAM_SHA_512:4096",
        "login SCRAM-SHA-512 nodes=1",
        "login SCRAM-SHA-256 nodes=1",
        f"login SCRAM-SHA-512 with the SCRAM-SHA-256 password={SASL_AUTH_FAILED}",
        "too_few_iterations=org.apache.kafka.common.errors.UnacceptableCredentialException",
        "deleted SCRAM_SHA_512",
        "described javauser SCRAM_SHA_256:8192",
        "delete_again=org.apache.kafka.common.errors.ResourceNotFoundException",
        f"login_after SCRAM-SHA-512={SASL_AUTH_FAILED}",
        "login_after SCRAM-SHA-256 nodes=1",
    ]
    log = log_of(sec)
    assert "java-pass-512" not in log and "java-pass-256" not in log
    # describeUserScramCredentials() without names sends an empty (not null) user list,
    # which Kafka answers with every user (ScramImage.describe: null or empty means all).
    assert described_all == [
        "all count=2",
        "all admin SCRAM_SHA_256:4096,SCRAM_SHA_512:4096",
        "all javauser SCRAM_SHA_256:8192,SCRAM_SHA_512:4096",
    ]


# ============================================================================ ACLs
def authz_props(tmp_path: Path, user: str, password: str) -> Path:
    return sasl_props(tmp_path / f"{user}.properties", "SASL_PLAINTEXT", "PLAIN", user, password)


def test_java_acl_admin_api(broker_factory, compiled, tmp_path):
    a = start_authz(broker_factory, name="java-acls")
    add_user(a, "javauser")
    admin_props = authz_props(tmp_path, ADMIN, ADMIN_PASSWORD)
    user_props = authz_props(tmp_path, "javauser", pw("javauser"))
    u = "User:javauser@*"
    read_prefix = f"ALLOW {u} READ TOPIC:PREFIXED:java-"
    deny_secret = f"DENY {u} WRITE TOPIC:LITERAL:java-secret"
    read_group = f"ALLOW {u} READ GROUP:LITERAL:java-group"
    write_orders = f"ALLOW {u} WRITE TOPIC:LITERAL:java-orders"
    auditor = "ALLOW User:auditor@* DESCRIBE TOPIC:LITERAL:*"

    def listing(label: str, *bindings: str) -> list[str]:
        return [f"{label} count={len(bindings)}", *[f"{label} {b}" for b in sorted(bindings)]]

    assert java(compiled, "acls", a.sasl, admin_props, user_props) == [
        f"user createAcls={CLUSTER_AUTH_FAILED}",
        f"user describeAcls={CLUSTER_AUTH_FAILED}",
        f"user deleteAcls={CLUSTER_AUTH_FAILED}",
        *listing("initial"),
        "created 5",
        *listing("any", read_prefix, deny_secret, read_group, write_orders, auditor),
        *listing("match java-orders", read_prefix, write_orders, auditor),
        *listing("match java-secret", read_prefix, deny_secret, auditor),
        *listing("principal auditor", auditor),
        *listing("deleted[0]", deny_secret),
        *listing("deleted[1]", read_group),
        *listing("deleted[2]"),
        *listing("after", read_prefix, write_orders, auditor),
    ]


def test_java_group_consumer_needs_read_on_the_group(broker_factory, compiled, tmp_path):
    a = start_authz(broker_factory, name="java-group")
    add_user(a, "javauser")
    admin_props = authz_props(tmp_path, ADMIN, ADMIN_PASSWORD)
    user_props = authz_props(tmp_path, "javauser", pw("javauser"))
    topic, group, n = "java-orders", "java-group", 4
    assert java(compiled, "group-auth", a.sasl, admin_props, user_props, "javauser", topic,
                group, n) == [
        *[f"produced partition=0 offset={i} value=g-{i}" for i in range(n)],
        "granted READ TOPIC:PREFIXED:java-",
        "without group ACL: consumed=0 error="
        f"org.apache.kafka.common.errors.GroupAuthorizationException group={group}",
        "committed_before={}",
        f"granted READ GROUP:LITERAL:{group}",
        *[f"consumed partition=0 offset={i} value=g-{i}" for i in range(n)],
        "committed by the consumer",
        f"committed_after={{{topic}-0={n}}}",
    ]
