"""CLI, TOML config file, WEIR_* environment, auto-create, graceful shutdown."""

from __future__ import annotations

import subprocess

from confluent_kafka import KafkaError, Producer

from conftest import free_port, unique_topic, weir_bin
from weirtest import admin, consume, create_topic, gen_records, produce, wait_topic, expected_tuple, msg_tuple


def test_serve_help_documents_flags():
    p = subprocess.run([str(weir_bin()), "serve", "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    text = p.stdout.decode()
    for flag in ("--config", "--data-dir", "--listen", "--advertised", "--http"):
        assert flag in text, f"{flag} not documented in `weir serve --help`:\n{text}"


def _auto_create_partitions(broker, topic) -> int:
    """Produce one record (producer metadata auto-creates); return the partition count."""
    produce(broker.bootstrap, topic, gen_records(1, seed=1), timeout=60)
    md = admin(broker.bootstrap).list_topics(topic=topic, timeout=10)
    t = md.topics[topic]
    assert t.error is None, t.error
    return len(t.partitions)


def test_toml_config_file(broker_factory, tmp_path):
    port, hport = free_port(), free_port()
    data = tmp_path / "toml-data"
    cfg = tmp_path / "weir.toml"
    cfg.write_text(
        f'data_dir = "{data}"\n'
        f'listen = "127.0.0.1:{port}"\n'
        f'http = "127.0.0.1:{hport}"\n'
        "num_partitions = 3\n")
    b = broker_factory(use_flags=False, config_file=cfg, port=port, http_port=hport, data_dir=data)
    topic = unique_topic("toml")
    assert _auto_create_partitions(b, topic) == 3
    md = admin(b.bootstrap).list_topics(timeout=10)
    assert f"{md.brokers[1].host}:{md.brokers[1].port}" == b.bootstrap
    assert (data / "topics").is_dir(), f"data not under data_dir {data}"
    assert b.partition_dir(topic, 2).is_dir()


def test_flags_override_toml(broker_factory, tmp_path):
    cfg = tmp_path / "weir.toml"
    cfg.write_text("num_partitions = 3\n")
    b = broker_factory(config_file=cfg, env={"WEIR_NUM_PARTITIONS": "2"})
    # Environment beats the file (same precedence as flags).
    assert _auto_create_partitions(b, unique_topic("prec")) == 2


def test_env_num_partitions(broker_factory):
    b = broker_factory(env={"WEIR_NUM_PARTITIONS": "2"})
    assert _auto_create_partitions(b, unique_topic("env")) == 2


def test_auto_create_disabled(broker_factory):
    b = broker_factory(env={"WEIR_AUTO_CREATE_TOPICS_ENABLE": "false"})
    topic = unique_topic("noauto")
    # Metadata for an unknown topic: UNKNOWN_TOPIC_OR_PART.
    md = admin(b.bootstrap).list_topics(topic=topic, timeout=10)
    assert md.topics[topic].error is not None
    assert md.topics[topic].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    # Producing fails with UNKNOWN_TOPIC_OR_PART.
    p = Producer({"bootstrap.servers": b.bootstrap, "message.timeout.ms": 5000,
                  "topic.metadata.propagation.max.ms": 1000})
    errs = []
    p.produce(topic, value=b"x", on_delivery=lambda e, m: errs.append(e))
    assert p.flush(30) == 0
    assert len(errs) == 1 and errs[0] is not None, errs
    assert errs[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), errs[0]
    assert topic not in admin(b.bootstrap).list_topics(timeout=10).topics
    # Explicit creation still works.
    create_topic(b.bootstrap, topic)
    assert produce(b.bootstrap, topic, gen_records(2, seed=1)) == [(0, 0), (0, 1)]


def test_sigterm_exits_zero_and_keeps_data(broker_factory):
    b = broker_factory()
    topic = unique_topic("term")
    cached = unique_topic("term-cached")
    create_topic(b.bootstrap, topic, partitions=2)
    create_topic(b.bootstrap, cached, config={"write.caching": "true"})
    recs = gen_records(2000, seed=4)
    produce(b.bootstrap, topic, recs)
    produce(b.bootstrap, cached, recs, {"acks": "1"})
    assert b.terminate() == 0, "weir serve must exit 0 on SIGTERM\n" + b.log_tail()
    b.start()
    wait_topic(b.bootstrap, topic, 2)
    want = [expected_tuple(i, r) for i, r in enumerate(recs)]
    assert [msg_tuple(m) for m in consume(b.bootstrap, topic)] == want
    assert [msg_tuple(m) for m in consume(b.bootstrap, cached)] == want
    # Topic configs survive too.
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource(ConfigResource.Type.TOPIC, cached)
    a = admin(b.bootstrap)  # keep the client alive while its future resolves
    cfg = a.describe_configs([res])[res].result(timeout=30)
    assert cfg["write.caching"].value == "true"
    # New writes continue at the next offset.
    assert produce(b.bootstrap, topic, gen_records(1, seed=2)) == [(0, 2000)]
    assert b.terminate() == 0


def test_sigint_exits_zero(broker_factory):
    import signal
    b = broker_factory()
    b.proc.send_signal(signal.SIGINT)
    assert b.proc.wait(timeout=30) == 0
