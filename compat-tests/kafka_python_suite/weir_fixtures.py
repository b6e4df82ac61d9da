"""kafka-python's integration-test broker fixture, backed by Weir.

`compat-tests/test_kafka_python_suite.py` installs this file as `test/integration/fixtures.py`
in a scratch copy of kafka-python's test tree (from its sdist). The sdist's own
`fixtures.py` is installed unmodified beside it as `test/integration/kafka_python_fixtures.py`
and everything about *clients* comes from there: `create_topics`, `client_params` and
`KafkaFixture._enrich_client_params` (bootstrap `localhost:PORT`, `security_protocol`, SASL
user `alice` / `alice-secret`, `ssl_cafile=<ssl_dir>/ca-cert`, `ssl_check_hostname=False`).

What this module replaces is how the broker starts. kafka-python's fixture runs Apache Kafka
in KRaft mode from a Kafka distribution (`servers/<version>/kafka-bin`, not in the sdist,
nor is its `test/service.py`): `kafka-storage.sh format --add-scram MECH=[name=alice,...]`,
then a server.properties with `listeners=TRANSPORT://localhost:PORT`,
`sasl.enabled.mechanisms=MECH`, JKS keystores made by keytool, `num.partitions`, and
`StandardAuthorizer` with `allow.everyone.if.no.acl.found=true`. Here the same broker is
`weir serve` with the equivalent flags:

    --listeners TRANSPORT://localhost:PORT --node-id BROKER_ID --num-partitions N
    --auto-create-topics-enable true|false
    --authorizer acl --allow-everyone-if-no-acl-found true
    SASL: --sasl-enabled-mechanisms MECH, after `weir user add alice [--mechanism MECH]`
          (SCRAM: a credential for that mechanism only, as `--add-scram` makes; PLAIN: Weir
          checks PLAIN against the stored SCRAM credential, where Kafka's JAAS has user_alice)
    SSL:  --ssl-keystore-location PEM --ssl-truststore-location CA --ssl-client-auth none

The certificates are the compat suite's `pki` fixture (test_security.py: an openssl-made CA
and a server certificate for localhost/127.0.0.1), made at test time; their paths come in
WEIR_KP_SSL_CA / WEIR_KP_SSL_KEYSTORE, and the CA is copied to `<ssl_dir>/ca-cert`, where
kafka-python's tests and `_enrich_client_params` look for it. The `weir serve` process itself
is the compat suite's `Broker` (compat-tests/conftest.py, found through WEIR_COMPAT_TESTS).
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import py

# The sdist's fixtures.py imports test.service (ExternalService, SpawnedService: Kafka/ZooKeeper
# process wrappers), which the sdist does not ship. Nothing here runs them; any use fails loudly.
if "test.service" not in sys.modules:
    _service = types.ModuleType("test.service")

    class _NotShipped:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("test.service is not in kafka-python's sdist; "
                               "brokers are started by weir_fixtures.KafkaFixture")

    _service.ExternalService = _service.SpawnedService = _NotShipped
    sys.modules["test.service"] = _service

from test.integration import kafka_python_fixtures as _upstream  # noqa: E402

# Re-exported unchanged for the sdist's conftest.py and tests.
create_topics = _upstream.create_topics
client_params = _upstream.client_params
get_open_port = _upstream.get_open_port
ZookeeperFixture = _upstream.ZookeeperFixture  # imported by the sdist's conftest; never started


def _compat_conftest():
    """compat-tests/conftest.py (Broker, free_port, weir_bin), loaded under its own name so it
    does not collide with this run's root conftest module."""
    name = "weir_compat_conftest"
    if name in sys.modules:
        return sys.modules[name]
    compat = os.environ.get("WEIR_COMPAT_TESTS")
    if not compat:
        raise RuntimeError("WEIR_COMPAT_TESTS (the compat-tests directory) is not set; run this "
                           "suite through compat-tests/test_kafka_python_suite.py")
    spec = importlib.util.spec_from_file_location(name, os.path.join(compat, "conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


class _WeirChild:
    """Stands where kafka-python's fixture keeps its SpawnedService (`fixture.child`)."""

    def __init__(self, broker):
        self.broker = broker

    def dump_logs(self):
        print(self.broker.log_tail(400))


class KafkaFixture(_upstream.KafkaFixture):
    """kafka-python's KafkaFixture with the broker process replaced by `weir serve`."""

    #: fixtures whose broker was started in this process (the run's conftest attaches their
    #: logs to failing tests)
    started = []

    @classmethod
    def instance(cls, broker_id, zookeeper=None, zk_chroot=None,
                 host="localhost", port=None, external=False,
                 transport='PLAINTEXT', replicas=1, partitions=4,
                 sasl_mechanism=None, auto_create_topic=True, tmp_dir=None):
        if external:
            raise RuntimeError("KAFKA_URI (an external broker) is not supported here: "
                               "these tests start Weir themselves")
        fixture = cls(host, port, broker_id, transport=transport, replicas=replicas,
                      partitions=partitions, sasl_mechanism=sasl_mechanism,
                      auto_create_topic=auto_create_topic, tmp_dir=tmp_dir)
        try:
            fixture.open()
        except BaseException:
            fixture.close()
            raise
        return fixture

    def __init__(self, host, port, broker_id, zookeeper=None, zk_chroot=None,
                 replicas=1, partitions=2, transport='PLAINTEXT',
                 sasl_mechanism=None, auto_create_topic=True,
                 tmp_dir=None, external=False):
        # Not super().__init__(): Fixture.__init__ insists on a Kafka distribution (KAFKA_ROOT).
        # The attributes below are the ones the upstream class and its tests read.
        self.compat = _compat_conftest()
        self.external = False
        self.running = False
        self.child = None
        self.weir = None
        self.host = host
        self.auto_port = port is None
        self.port = self.compat.free_port() if port is None else port
        self.broker_id = broker_id
        self.transport = transport.upper()
        if sasl_mechanism is not None:
            self.sasl_mechanism = sasl_mechanism.upper()
            assert self.sasl_enabled, 'sasl_mechanism defined without enabling SASL transport'
        else:
            self.sasl_mechanism = None
            assert not self.sasl_enabled, 'SASL transport requires sasl_mechanism'
        self.replicas = replicas
        self.partitions = partitions
        self.auto_create_topic = auto_create_topic
        self.tmp_dir = tmp_dir
        self.ssl_dir = None
        self.zookeeper = None
        self.zk_chroot = None

    # ------------------------------------------------------------------ lifecycle
    def open(self):
        if self.running:
            self.out("Instance already running")
            return
        if self.tmp_dir is None:
            self.tmp_dir = py.path.local.mkdtemp()  # pylint: disable=no-member
        self.tmp_dir.ensure(dir=True)
        self.data_dir = self.tmp_dir.join('data').strpath
        if self.ssl_enabled:
            self._install_ssl_resources()
        if self.sasl_enabled:
            self._add_user()
        self.start()

    def _install_ssl_resources(self):
        ca, keystore = os.environ.get("WEIR_KP_SSL_CA"), os.environ.get("WEIR_KP_SSL_KEYSTORE")
        if not ca or not keystore:
            raise RuntimeError("WEIR_KP_SSL_CA / WEIR_KP_SSL_KEYSTORE (PEM CA and server "
                               "keystore) are not set")
        self.ssl_dir = os.path.join(self.tmp_dir.strpath, 'ssl')
        os.makedirs(self.ssl_dir, exist_ok=True)
        shutil.copyfile(ca, os.path.join(self.ssl_dir, 'ca-cert'))
        shutil.copyfile(keystore, os.path.join(self.ssl_dir, 'server-keystore.pem'))

    def _add_user(self):
        """`weir user add` before the first start, as Kafka's `kafka-storage.sh format
        --add-scram` (SCRAM) or its JAAS `user_alice=...` (PLAIN)."""
        args = [str(self.compat.weir_bin()), 'user', 'add', self.broker_user,
                '--data-dir', self.data_dir]
        if self.sasl_mechanism.startswith('SCRAM-SHA-'):
            args += ['--mechanism', self.sasl_mechanism]
        env = dict(os.environ, WEIR_USER_PASSWORD=self.broker_password)
        proc = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=60)
        if proc.returncode != 0:
            raise RuntimeError("weir user add failed (rc=%d): %s" % (
                proc.returncode, (proc.stdout + proc.stderr).decode('utf-8', 'replace')))

    def weir_args(self):
        args = [
            '--listeners', '%s://%s:%d' % (self.transport, self.host, self.port),
            '--node-id', str(self.broker_id),
            '--num-partitions', str(self.partitions),
            '--auto-create-topics-enable', 'true' if self.auto_create_topic else 'false',
            '--authorizer', 'acl', '--allow-everyone-if-no-acl-found', 'true',
        ]
        if self.sasl_enabled:
            args += ['--sasl-enabled-mechanisms', self.sasl_mechanism]
        if self.ssl_enabled:
            args += ['--ssl-keystore-location', os.path.join(self.ssl_dir, 'server-keystore.pem'),
                     '--ssl-truststore-location', os.path.join(self.ssl_dir, 'ca-cert'),
                     '--ssl-client-auth', 'none']
        return args

    def start(self):
        if self.running:
            return True
        self.weir = self.compat.Broker(
            Path(self.tmp_dir.strpath) / 'weir', data_dir=Path(self.data_dir), port=self.port,
            extra_args=self.weir_args(), env={'WEIR_LOG': os.environ.get('WEIR_LOG', 'info')})
        self.out("Starting: %s" % ' '.join(self.weir.command()))
        self.child = _WeirChild(self.weir)
        KafkaFixture.started.append(self)
        self.weir.start()  # waits for GET /ready and the listener port
        self.out("Done!")
        self.running = True
        return True

    def stop(self):
        if not self.running:
            return
        self.out("Stopping...")
        self.weir.stop()
        self.running = False
        self.out("Stopped!")

    def close(self):
        if self.weir is not None and self.weir.alive():
            self.weir.stop()
        self.running = False
        if self.tmp_dir is not None:
            self.tmp_dir.remove(ignore_errors=True)
            self.tmp_dir = None

    def dump_logs(self):
        if self.child is not None:
            self.child.dump_logs()

    # ------------------------------------------------------------------ admin tools
    def get_topic_names(self):
        """What `kafka-topics.sh --list --bootstrap-server ... --command-config` answers in
        kafka-python's fixture: topic names, read by another client (librdkafka) over the
        same listener with the same credentials."""
        from confluent_kafka.admin import AdminClient
        conf = {'bootstrap.servers': self.bootstrap_server(),
                'security.protocol': self.transport,
                'socket.timeout.ms': 10000}
        if self.sasl_enabled:
            conf.update({'sasl.mechanisms': self.sasl_mechanism,
                         'sasl.username': self.broker_user,
                         'sasl.password': self.broker_password})
        if self.ssl_enabled:
            conf['ssl.ca.location'] = os.path.join(self.ssl_dir, 'ca-cert')
        return sorted(AdminClient(conf).list_topics(timeout=30).topics)

    def _create_topic_via_cli(self, topic_name, num_partitions, replication_factor):
        raise RuntimeError("kafka-topics.sh is used only for KAFKA_VERSION < 0.10.1")

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass
