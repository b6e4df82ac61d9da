"""Security with real clients: several listeners at once (PLAINTEXT, SSL, SASL_PLAINTEXT,
SASL_SSL), TLS from PEM files, SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 against users
stored as salted SCRAM credentials, KIP-368 re-authentication, and the SCRAM credential APIs.

Certificates are made here with the openssl command line (a CA, a server certificate for
127.0.0.1, a client certificate), never committed. The broker starts with a first admin user
from WEIR_ADMIN_USER / WEIR_ADMIN_PASSWORD.

Clients: confluent-kafka (librdkafka 2.16), kcat, kafka-python, and raw sockets for what no
client does on purpose (a request before authenticating, SaslHandshake v0's raw tokens).
"""

from __future__ import annotations

import re
import struct
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion, UserScramCredentialUpsertion)

import rawkafka
from conftest import free_port, unique_topic
from weirtest import consume, create_topic

ADMIN, ADMIN_PASSWORD = "admin", "admin-secret-1"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict:
    """A CA, a server certificate for 127.0.0.1/localhost (with its key, as the broker's PEM
    keystore) and a client certificate, all signed by the CA."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=Weir Test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    # X.509 v3 (an extension makes it so): webpki refuses v1 certificates.
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subject, ext in [("server", "/CN=localhost", ["-extfile", "server.ext"]),
                               ("client", "/O=Weir Test/CN=client-app", ["-extfile", "client.ext"])]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *ext, cwd=d)
    (d / "server-keystore.pem").write_text((d / "server.pem").read_text()
                                           + (d / "server.key").read_text())
    return {"ca": str(d / "ca.pem"), "keystore": str(d / "server-keystore.pem"),
            "client_cert": str(d / "client.pem"), "client_key": str(d / "client.key")}


class Secure:
    """A broker with all four listeners."""

    def __init__(self, broker, ports: dict):
        self.broker, self.ports = broker, ports

    def addr(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"


def start_secure(broker_factory, pki, extra_env: dict | None = None,
                 extra_args: list | None = None, name: str | None = None,
                 keystore: str | None = None) -> Secure:
    port = free_port()
    ports = {"PLAINTEXT": port, "SSL": free_port(), "SASL_PLAINTEXT": free_port(),
             "SASL_SSL": free_port()}
    listeners = ",".join(f"{n}://127.0.0.1:{p}" for n, p in ports.items())
    b = broker_factory(port=port, name=name, extra_args=[
        "--listeners", listeners, "--ssl-keystore-location", keystore or pki["keystore"],
        "--ssl-truststore-location", pki["ca"], "--ssl-client-auth", "requested",
        # Bad-credential tests fail many times from 127.0.0.1; the throttle has its own test.
        *(extra_args or ["--max-failed-authentications-per-ip", "0"])],
        env={"WEIR_ADMIN_USER": ADMIN, "WEIR_ADMIN_PASSWORD": ADMIN_PASSWORD,
             "WEIR_LOG": "info,weir_broker::session=debug,weir_auth=debug", **(extra_env or {})})
    return Secure(b, ports)


@pytest.fixture(scope="module")
def secure(request, tmp_path_factory, pki):
    # One broker for the module's read-mostly tests (a module-scoped factory of our own).
    from conftest import Broker
    workdir = tmp_path_factory.mktemp("secure-broker")
    holder: list = []

    def factory(**kw):
        b = Broker(workdir, **{k: v for k, v in kw.items() if k != "name"})
        holder.append(b)
        b.start()
        return b
    s = start_secure(factory, pki)
    yield s
    for b in holder:
        b.stop()


def sasl_conf(s: Secure, listener: str, mechanism: str, user: str, password: str,
              pki: dict) -> dict:
    conf = {"bootstrap.servers": s.addr(listener), "security.protocol": listener,
            "sasl.mechanisms": mechanism, "sasl.username": user, "sasl.password": password}
    if listener.endswith("SSL"):
        conf["ssl.ca.location"] = pki["ca"]
    return conf


def produce_with(conf: dict, topic: str, values: list[bytes], timeout: float = 30) -> list:
    """Each record's offset, or the error code its delivery report gave."""
    p = Producer({**conf, "acks": "all", "message.timeout.ms": int(timeout * 1000)})
    out: list = []
    for v in values:
        p.produce(topic, value=v, partition=0,
                  on_delivery=lambda err, msg: out.append(err.code() if err else msg.offset()))
    p.flush(timeout + 10)
    return out


def log_of(s: Secure) -> str:
    """The broker's log without terminal colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", s.broker.log_text())


def values_of(s: Secure, topic: str) -> list[bytes]:
    return [m.value() for m in consume(s.addr("PLAINTEXT"), topic, 0)]


@pytest.mark.parametrize("listener,mechanism", [
    ("SASL_SSL", "SCRAM-SHA-512"), ("SASL_SSL", "SCRAM-SHA-256"), ("SASL_SSL", "PLAIN"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-512"), ("SASL_PLAINTEXT", "PLAIN")])
def test_confluent_kafka_authenticates_and_round_trips(secure, pki, listener, mechanism):
    topic = unique_topic("sec")
    create_topic(secure.addr("PLAINTEXT"), topic, 1)
    conf = sasl_conf(secure, listener, mechanism, ADMIN, ADMIN_PASSWORD, pki)
    values = [b"%s-%d" % (mechanism.encode(), i) for i in range(20)]
    assert produce_with(conf, topic, values) == list(range(20))
    got = [m.value() for m in consume(secure.addr(listener), topic, 0,
                                      extra={k: v for k, v in conf.items()
                                             if k != "bootstrap.servers"})]
    assert got == values


@pytest.mark.parametrize("user,password,mechanism", [
    (ADMIN, "wrong-password", "SCRAM-SHA-512"), (ADMIN, "wrong-password", "PLAIN"),
    ("nobody", ADMIN_PASSWORD, "SCRAM-SHA-256"), ("nobody", ADMIN_PASSWORD, "PLAIN")])
def test_bad_credentials_are_refused_and_change_nothing(secure, pki, user, password, mechanism):
    topic = unique_topic("sec-bad")
    create_topic(secure.addr("PLAINTEXT"), topic, 1)
    conf = sasl_conf(secure, "SASL_SSL", mechanism, user, password, pki)
    errors: list = []
    conf["error_cb"] = lambda e: errors.append(e.code())
    assert produce_with(conf, topic, [b"x"], timeout=5) == [KafkaError._MSG_TIMED_OUT]
    assert KafkaError._AUTHENTICATION in errors
    assert values_of(secure, topic) == []
    log = log_of(secure)
    assert "authentication failed" in log
    assert "wrong-password" not in log and ADMIN_PASSWORD not in log


def test_unknown_mechanism_and_plaintext_to_a_tls_port_are_refused(secure, pki):
    topic = unique_topic("sec-proto")
    create_topic(secure.addr("PLAINTEXT"), topic, 1)
    for conf in [
        {**sasl_conf(secure, "SASL_SSL", "SCRAM-SHA-1", ADMIN, ADMIN_PASSWORD, pki)},
        {"bootstrap.servers": secure.addr("SASL_SSL"), "security.protocol": "PLAINTEXT"},
        {"bootstrap.servers": secure.addr("SSL"), "security.protocol": "SASL_PLAINTEXT",
         "sasl.mechanisms": "PLAIN", "sasl.username": ADMIN, "sasl.password": ADMIN_PASSWORD},
    ]:
        errors: list = []
        conf["error_cb"] = lambda e: errors.append(e.code())
        assert produce_with(conf, topic, [b"x"], timeout=4) == [KafkaError._MSG_TIMED_OUT]
        assert errors, conf
    assert values_of(secure, topic) == []


def test_ssl_client_certificate_names_the_principal(secure, pki):
    topic = unique_topic("sec-ssl")
    create_topic(secure.addr("PLAINTEXT"), topic, 1)
    conf = {"bootstrap.servers": secure.addr("SSL"), "security.protocol": "SSL",
            "ssl.ca.location": pki["ca"], "ssl.certificate.location": pki["client_cert"],
            "ssl.key.location": pki["client_key"]}
    assert produce_with(conf, topic, [b"a", b"b"]) == [0, 1]
    assert values_of(secure, topic) == [b"a", b"b"]
    assert "principal=User:CN=client-app,O=Weir Test" in log_of(secure)
    # Without a certificate (ssl.client.auth=requested) the client connects as ANONYMOUS.
    anon = {k: v for k, v in conf.items() if not k.startswith("ssl.c") and k != "ssl.key.location"}
    anon["ssl.ca.location"] = pki["ca"]
    assert produce_with(anon, topic, [b"c"]) == [2]


def test_kcat_over_sasl_ssl(secure, pki):
    """kcat (Debian's 1.7.1 on librdkafka 2.0.2) over SASL_SSL with PLAIN: produce and
    consume. Its SCRAM is refused exactly as Kafka 4.x refuses it: librdkafka before 2.6.1
    sends the client nonce twice in the client-final message (librdkafka#4895), which RFC
    5802's nonce check rejects — newer librdkafka (confluent-kafka 2.16 above) passes."""
    topic = unique_topic("sec-kcat")
    create_topic(secure.addr("PLAINTEXT"), topic, 1)

    def kcat(mechanism: str, password: str) -> list[str]:
        return ["kcat", "-b", secure.addr("SASL_SSL"), "-X", "security.protocol=SASL_SSL",
                "-X", f"sasl.mechanisms={mechanism}", "-X", f"sasl.username={ADMIN}",
                "-X", f"sasl.password={password}", "-X", f"ssl.ca.location={pki['ca']}"]
    lines = [f"line-{i}" for i in range(5)]
    put = subprocess.run(kcat("PLAIN", ADMIN_PASSWORD) + ["-P", "-t", topic, "-p", "0"],
                         input="\n".join(lines) + "\n", text=True, capture_output=True,
                         timeout=60)
    assert put.returncode == 0, put.stderr
    out = subprocess.run(kcat("PLAIN", ADMIN_PASSWORD) + ["-C", "-t", topic, "-p", "0", "-o",
                                                          "beginning", "-e", "-f", "%o %s\n"],
                         text=True, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{i} line-{i}" for i in range(5)]
    for mechanism, password in [("PLAIN", "nope"), ("SCRAM-SHA-512", ADMIN_PASSWORD)]:
        bad = subprocess.run(kcat(mechanism, password) + ["-L", "-m", "5"], text=True,
                             capture_output=True, timeout=60)
        assert bad.returncode != 0
        assert "SASL authentication error: Authentication failed" in bad.stderr, bad.stderr
    assert values_of(secure, topic) == [line.encode() for line in lines]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_kafka_python_over_sasl_ssl(secure, pki, mechanism):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP
    topic = unique_topic("sec-kp")
    create_topic(secure.addr("PLAINTEXT"), topic, 1)
    conf = dict(bootstrap_servers=secure.addr("SASL_SSL"), security_protocol="SASL_SSL",
                sasl_mechanism=mechanism, sasl_plain_username=ADMIN,
                sasl_plain_password=ADMIN_PASSWORD, ssl_cafile=pki["ca"])
    p = KafkaProducer(acks="all", **conf)
    offsets = [p.send(topic, value=b"kp-%d" % i, partition=0).get(30).offset for i in range(5)]
    p.close()
    assert offsets == list(range(5))
    c = KafkaConsumer(consumer_timeout_ms=5000, **conf)
    c.assign([KTP(topic, 0)])
    c.seek_to_beginning()
    assert [m.value for m in c] == [b"kp-%d" % i for i in range(5)]
    c.close()


def test_scram_credentials_are_managed_with_the_admin_api(secure, pki):
    admin = AdminClient(sasl_conf(secure, "SASL_SSL", "SCRAM-SHA-512", ADMIN, ADMIN_PASSWORD, pki))
    upsert = UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192),
                                          b"bob-password", b"some-salt-bytes!")
    for f in admin.alter_user_scram_credentials([upsert]).values():
        f.result(30)
    described = admin.describe_user_scram_credentials(["bob"])["bob"].result(30)
    infos = described.scram_credential_infos
    assert [(i.mechanism, i.iterations) for i in infos] == [(ScramMechanism.SCRAM_SHA_256, 8192)]
    topic = unique_topic("sec-bob")
    create_topic(secure.addr("PLAINTEXT"), topic, 1)
    bob = sasl_conf(secure, "SASL_SSL", "SCRAM-SHA-256", "bob", "bob-password", pki)
    assert produce_with(bob, topic, [b"from bob"]) == [0]
    # PLAIN checks the same credential.
    assert produce_with(sasl_conf(secure, "SASL_PLAINTEXT", "PLAIN", "bob", "bob-password", pki),
                        topic, [b"plain bob"]) == [1]
    # Refusals with Kafka's codes: bad iterations, deleting what is not there.
    bad = UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 10),
                                       b"pw", b"salt")
    with pytest.raises(Exception) as refused:
        for f in admin.alter_user_scram_credentials([bad]).values():
            f.result(30)
    assert refused.value.args[0].code() == KafkaError.UNACCEPTABLE_CREDENTIAL
    with pytest.raises(Exception) as missing:
        for f in admin.alter_user_scram_credentials(
                [UserScramCredentialDeletion("bob", ScramMechanism.SCRAM_SHA_512)]).values():
            f.result(30)
    assert missing.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    # Deleted, bob can no longer authenticate.
    for f in admin.alter_user_scram_credentials(
            [UserScramCredentialDeletion("bob", ScramMechanism.SCRAM_SHA_256)]).values():
        f.result(30)
    with pytest.raises(Exception) as gone:
        admin.describe_user_scram_credentials(["bob"])["bob"].result(30)
    assert gone.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    assert produce_with(bob, topic, [b"x"], timeout=4) == [KafkaError._MSG_TIMED_OUT]
    assert values_of(secure, topic) == [b"from bob", b"plain bob"]


def test_requests_before_authentication_close_the_connection(secure):
    s = rawkafka.connect(secure.addr("SASL_PLAINTEXT"))
    # Metadata v1 (no topics = all) before any SASL: the broker closes the connection.
    metadata = rawkafka.header_v1(3, 1, 7) + struct.pack(">i", -1)
    s.sendall(rawkafka.frame(metadata))
    assert rawkafka.wait_closed(s) == b""
    # ApiVersions is answered, and lists the SASL APIs.
    s = rawkafka.connect(secure.addr("SASL_PLAINTEXT"))
    s.sendall(rawkafka.api_versions_request(0, 1))
    apis = rawkafka.parse_api_versions(rawkafka.recv_frame(s), 0)["apis"]
    assert apis[17] == (0, 1) and apis[36] == (0, 2)


def test_sasl_handshake_v0_raw_tokens(secure):
    """SaslHandshake v0, then the PLAIN token as a raw frame (no Kafka header): answered with
    an empty raw frame; the connection then serves requests. A wrong password closes it."""
    for password, ok in [(ADMIN_PASSWORD, True), ("bad", False)]:
        s = rawkafka.connect(secure.addr("SASL_PLAINTEXT"))
        mech = b"PLAIN"
        s.sendall(rawkafka.frame(rawkafka.header_v1(17, 0, 1) + struct.pack(">h", len(mech)) + mech))
        resp = rawkafka.recv_frame(s)
        corr, error = struct.unpack_from(">ih", resp)
        assert (corr, error) == (1, 0)
        s.sendall(rawkafka.frame(b"\x00" + ADMIN.encode() + b"\x00" + password.encode()))
        if ok:
            assert rawkafka.recv_frame(s) == b""
            s.sendall(rawkafka.api_versions_request(0, 2))
            assert struct.unpack_from(">i", rawkafka.recv_frame(s))[0] == 2
        else:
            assert rawkafka.wait_closed(s) == b""


def raw_plain_login(addr: str, password: str, source: str = "127.0.0.1") -> bool:
    """SaslHandshake v0 and a raw PLAIN token as admin, from `source`: whether the broker
    accepted it."""
    import socket
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
    s.settimeout(10)
    mech = b"PLAIN"
    s.sendall(rawkafka.frame(rawkafka.header_v1(17, 0, 1) + struct.pack(">h", len(mech)) + mech))
    assert struct.unpack_from(">ih", rawkafka.recv_frame(s)) == (1, 0)
    s.sendall(rawkafka.frame(b"\x00" + ADMIN.encode() + b"\x00" + password.encode()))
    try:
        return rawkafka.recv_frame(s) == b""
    except (EOFError, OSError):
        return False  # closed: refused
    finally:
        s.close()


def test_failed_authentications_are_throttled_per_address(broker_factory, pki):
    """max_failed_authentications_per_ip=3: after three wrong passwords from 127.0.0.1 even
    the right one is refused (without being checked) for the rest of the minute, and the log
    says why; 127.0.0.2, which has not failed, still logs in."""
    s = start_secure(broker_factory, pki,
                     extra_args=["--max-failed-authentications-per-ip", "3"])
    addr = s.addr("SASL_PLAINTEXT")
    assert raw_plain_login(addr, ADMIN_PASSWORD)
    assert [raw_plain_login(addr, "wrong") for _ in range(3)] == [False] * 3
    assert not raw_plain_login(addr, ADMIN_PASSWORD)
    assert "too many failed authentications from this address" in log_of(s)
    assert raw_plain_login(addr, ADMIN_PASSWORD, source="127.0.0.2")


def test_reauthentication_keeps_a_long_lived_producer_working(broker_factory, pki):
    """connections.max.reauth.ms=1500: librdkafka re-authenticates (KIP-368) before the
    session ends; a producer writing for 6 s loses nothing and is never cut off."""
    s = start_secure(broker_factory, pki, extra_args=["--connections-max-reauth-ms", "1500"])
    topic = unique_topic("sec-reauth")
    create_topic(s.addr("PLAINTEXT"), topic, 1)
    p = Producer({**sasl_conf(s, "SASL_SSL", "SCRAM-SHA-512", ADMIN, ADMIN_PASSWORD, pki),
                  "acks": "all"})
    out: list = []
    deadline = time.monotonic() + 6
    n = 0
    while time.monotonic() < deadline:
        p.produce(topic, value=b"r%d" % n, partition=0,
                  on_delivery=lambda err, msg: out.append(err.code() if err else msg.offset()))
        n += 1
        p.poll(0.05)
    p.flush(30)
    assert out == list(range(n))
    log = log_of(s)
    assert "SASL session expired" not in log
    assert log.count("authenticated") >= 3  # the first time, then at least twice more


def test_weir_user_add_before_the_first_start(broker_factory, pki, tmp_path):
    from conftest import weir_bin
    data = tmp_path / "precreated" / "data"
    subprocess.run([str(weir_bin()), "user", "add", "ops", "--data-dir", str(data),
                    "--mechanism", "SCRAM-SHA-512"], input="ops-pass\n", text=True,
                   check=True, capture_output=True, timeout=60)
    listed = subprocess.run([str(weir_bin()), "user", "list", "--data-dir", str(data)], text=True,
                            check=True, capture_output=True, timeout=60).stdout
    assert listed == "ops\tSCRAM-SHA-512 (iterations 4096)\n"
    assert "ops-pass" not in (data / "meta" / "users.json").read_text()
    s = start_secure(broker_factory, pki, name="precreated")
    topic = unique_topic("sec-ops")
    create_topic(s.addr("PLAINTEXT"), topic, 1)
    assert produce_with(sasl_conf(s, "SASL_SSL", "SCRAM-SHA-512", "ops", "ops-pass", pki),
                        topic, [b"ops"]) == [0]


def new_server_keystore(d: Path, name: str) -> tuple[str, str]:
    """A fresh CA and a server certificate for 127.0.0.1 it signs: (keystore PEM, CA PEM)."""
    d.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN={name} CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "server.ext",
            cwd=d)
    keystore = d / "keystore.pem"
    keystore.write_text((d / "server.pem").read_text() + (d / "server.key").read_text())
    return str(keystore), str(d / "ca.pem")


def tls_handshake_ok(port: int, cafile: str) -> bool:
    """Whether a TLS client trusting only `cafile` completes a handshake with 127.0.0.1:port."""
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=cafile)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                return True
    except ssl.SSLError:
        return False


def https_get(url: str, cafile: str, auth: tuple[str, str] | None = None) -> int:
    import base64
    import ssl
    import urllib.error
    import urllib.request
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10,
                                    context=ssl.create_default_context(cafile=cafile)) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_certificates_reload_on_sighup_and_on_file_change_for_kafka_and_http(
        broker_factory, pki, tmp_path):
    """The listener certificate is replaced on disk: after SIGHUP new TLS connections (Kafka
    SSL listener and the HTTPS admin API alike) present the new one, and the old CA no longer
    verifies them; replacing it again is picked up without a signal (the files are watched).
    A broken file leaves the working certificate in place. The HTTP API over TLS still needs
    credentials for its data."""
    import os
    import signal
    live = tmp_path / "live-keystore.pem"
    live.write_text(Path(pki["keystore"]).read_text())
    s = start_secure(lambda **kw: broker_factory(start=False, **kw), pki, keystore=str(live),
                     extra_args=["--max-failed-authentications-per-ip", "0",
                                 "--http-tls", "true"])
    https = f"https://127.0.0.1:{s.broker.http_port}"
    s.broker.start(wait=False)  # the fixture's readiness probe speaks plain HTTP
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert s.broker.alive(), s.broker.log_tail()
        try:
            if https_get(f"{https}/ready", pki["ca"]) == 200:
                break
        except OSError:
            time.sleep(0.1)
    ssl_port = s.ports["SSL"]
    assert tls_handshake_ok(ssl_port, pki["ca"])
    assert https_get(f"{https}/health", pki["ca"]) == 200
    topic = unique_topic("sec-https")
    create_topic(s.addr("PLAINTEXT"), topic, 1)
    assert https_get(f"{https}/v1/topics/{topic}/storage", pki["ca"],
                     (ADMIN, ADMIN_PASSWORD)) == 200

    new_keystore, new_ca = new_server_keystore(tmp_path / "second", "Second")
    live.write_text(Path(new_keystore).read_text())
    s.broker.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not tls_handshake_ok(ssl_port, new_ca) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tls_handshake_ok(ssl_port, new_ca)
    assert not tls_handshake_ok(ssl_port, pki["ca"])
    assert https_get(f"{https}/health", new_ca) == 200
    assert "TLS certificate, key and trust store reloaded" in log_of(s)
    assert 'trigger="SIGHUP"' in log_of(s)

    # A broken file is refused; the certificate in use stays.
    live.write_text("not a certificate\n")
    s.broker.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "TLS reload failed" not in log_of(s) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "TLS reload failed" in log_of(s)
    assert tls_handshake_ok(ssl_port, new_ca)

    # Back to the first certificate, without a signal: the watcher notices the change.
    live.write_text(Path(pki["keystore"]).read_text())
    os.utime(live)
    deadline = time.monotonic() + 20
    while not tls_handshake_ok(ssl_port, pki["ca"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tls_handshake_ok(ssl_port, pki["ca"])
    assert 'trigger="file change"' in log_of(s)
    # Kafka clients over the reloaded certificate still work end to end.
    conf = sasl_conf(s, "SASL_SSL", "SCRAM-SHA-512", ADMIN, ADMIN_PASSWORD, pki)
    assert produce_with(conf, topic, [b"after-reload"]) == [0]


def test_client_certificates_with_acls_for_kcat_kafka_python_and_confluent(broker_factory, pki):
    """SSL with client certificates and ACLs: the certificate's subject is the principal the
    ACLs name. Without a grant kcat, kafka-python and confluent-kafka are refused with
    TOPIC_AUTHORIZATION_FAILED; with Write and Read on the topic for
    `User:CN=client-app,O=Weir Test` all three produce and read back exactly what was written."""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType,
                                       NewTopic, ResourcePatternType, ResourceType)
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP
    from kafka.errors import TopicAuthorizationFailedError
    s = start_secure(broker_factory, pki, extra_args=[
        "--max-failed-authentications-per-ip", "0", "--authorizer", "acl",
        "--super-users", f"User:{ADMIN}"])
    admin = AdminClient(sasl_conf(s, "SASL_PLAINTEXT", "PLAIN", ADMIN, ADMIN_PASSWORD, pki))
    topic = unique_topic("sec-cert")
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    ssl_conf = {"bootstrap.servers": s.addr("SSL"), "security.protocol": "SSL",
                "ssl.ca.location": pki["ca"], "ssl.certificate.location": pki["client_cert"],
                "ssl.key.location": pki["client_key"]}
    kcat = ["kcat", "-b", s.addr("SSL"), "-X", "security.protocol=SSL",
            "-X", f"ssl.ca.location={pki['ca']}",
            "-X", f"ssl.certificate.location={pki['client_cert']}",
            "-X", f"ssl.key.location={pki['client_key']}"]
    kp = dict(bootstrap_servers=s.addr("SSL"), security_protocol="SSL", ssl_cafile=pki["ca"],
              ssl_certfile=pki["client_cert"], ssl_keyfile=pki["client_key"])

    denied = subprocess.run(kcat + ["-P", "-t", topic, "-p", "0"], input="no\n", text=True,
                            capture_output=True, timeout=60)
    assert denied.returncode != 0 and "authorization failed" in denied.stderr.lower(), \
        denied.stderr
    assert produce_with(ssl_conf, topic, [b"no"], timeout=5) == [
        KafkaError.TOPIC_AUTHORIZATION_FAILED]
    p = KafkaProducer(acks="all", max_block_ms=10000, **kp)
    with pytest.raises(TopicAuthorizationFailedError):
        p.send(topic, value=b"no", partition=0).get(30)
    p.close()

    principal = "User:CN=client-app,O=Weir Test"
    admin.create_acls([AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL,
                                  principal, "*", op, AclPermissionType.ALLOW)
                       for op in (AclOperation.WRITE, AclOperation.READ)])
    put = subprocess.run(kcat + ["-P", "-t", topic, "-p", "0"], input="kcat-0\nkcat-1\n",
                         text=True, capture_output=True, timeout=60)
    assert put.returncode == 0, put.stderr
    assert produce_with(ssl_conf, topic, [b"ck-2"]) == [2]
    p = KafkaProducer(acks="all", **kp)
    assert p.send(topic, value=b"kp-3", partition=0).get(30).offset == 3
    p.close()
    want = [b"kcat-0", b"kcat-1", b"ck-2", b"kp-3"]
    got = subprocess.run(kcat + ["-C", "-t", topic, "-p", "0", "-o", "beginning", "-e"],
                         text=True, capture_output=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines() == [v.decode() for v in want]
    c = KafkaConsumer(consumer_timeout_ms=5000, **kp)
    c.assign([KTP(topic, 0)])
    c.seek_to_beginning()
    assert [m.value for m in c] == want
    c.close()
    assert [m.value() for m in consume(s.addr("SSL"), topic, 0, extra={
        k: v for k, v in ssl_conf.items() if k != "bootstrap.servers"})] == want


def test_weir_admin_commands_over_tls(secure, pki, tmp_path):
    """`weir topic …` over SASL_SSL and SSL: with the CA it lists the topics; without one it
    says it needs it; with a CA that did not sign the broker's certificate the handshake
    fails (exit 2)."""
    import os
    from conftest import weir_bin
    topic = unique_topic("sec-cli")
    create_topic(secure.addr("PLAINTEXT"), topic, 1)

    def weir(env: dict) -> subprocess.CompletedProcess:
        return subprocess.run([str(weir_bin()), "topic", "list"], text=True,
                              capture_output=True, timeout=60, env={**os.environ, **env})
    sasl_ssl = {"WEIR_BOOTSTRAP": secure.addr("SASL_SSL"), "WEIR_SECURITY_PROTOCOL": "SASL_SSL",
                "WEIR_SASL_USERNAME": ADMIN, "WEIR_SASL_PASSWORD": ADMIN_PASSWORD}
    ok = weir({**sasl_ssl, "WEIR_SSL_CA_LOCATION": pki["ca"]})
    assert ok.returncode == 0 and topic in ok.stdout.split(), ok.stderr
    ssl = weir({"WEIR_BOOTSTRAP": secure.addr("SSL"), "WEIR_SECURITY_PROTOCOL": "SSL",
                "WEIR_SSL_CA_LOCATION": pki["ca"]})
    assert ssl.returncode == 0 and topic in ssl.stdout.split(), ssl.stderr
    no_ca = weir(sasl_ssl)
    assert no_ca.returncode == 1 and "needs --ssl-ca-location" in no_ca.stderr, no_ca.stderr
    _, other_ca = new_server_keystore(tmp_path / "other", "Other")
    wrong = weir({**sasl_ssl, "WEIR_SSL_CA_LOCATION": other_ca})
    assert wrong.returncode == 2 and "TLS handshake" in wrong.stderr, wrong.stderr
