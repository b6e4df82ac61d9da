"""The admin CLI (`weir topic …`, `weir group …`) against a running broker, exact output.

Every command is the real binary talking the Kafka protocol to a broker started by the
`broker` fixture; records are produced with kcat and groups are created by kcat's balanced
consumer and by confluent-kafka group consumers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import free_port, weir_bin

KCAT = shutil.which("kcat")
needs_kcat = pytest.mark.skipif(KCAT is None, reason="kcat not installed (scripts/install-test-deps.sh)")
TIMEOUT = 60


def weir(broker, *args, env: dict | None = None, bootstrap: bool = True,
         expect: int = 0) -> subprocess.CompletedProcess:
    """Run `weir ARGS --bootstrap …`, assert the exit code, return the completed process."""
    cmd = [str(weir_bin()), *args]
    if bootstrap:
        cmd += ["--bootstrap", broker.bootstrap]
    full_env = {k: v for k, v in os.environ.items() if k != "WEIR_BOOTSTRAP"}
    # `topic describe` reads the storage view from the HTTP admin API.
    full_env["WEIR_HTTP_ADDR"] = f"127.0.0.1:{broker.http_port}"
    full_env.update(env or {})
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT,
                       env=full_env, text=True)
    assert p.returncode == expect, (
        f"{' '.join(cmd)} exited {p.returncode}, expected {expect}\n"
        f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def out(broker, *args) -> str:
    p = weir(broker, *args)
    assert p.stderr == "", p.stderr
    return p.stdout


def js(broker, *args):
    return json.loads(out(broker, *args, "--json"))


def fails(broker, *args, code: int = 1) -> str:
    p = weir(broker, *args, expect=code)
    assert p.stdout == ""
    return p.stderr


STORAGE_HEADINGS = ["PARTITION", "LEADER", "LOG START OFFSET", "LOG END OFFSET",
                    "LOCAL START OFFSET", "LOCAL BYTES", "REMOTE START OFFSET",
                    "REMOTE END OFFSET", "REMOTE SEGMENTS", "REMOTE BYTES"]


def local_bytes(broker, topic: str, p: int) -> int:
    return sum(f.stat().st_size for f in broker.partition_dir(topic, p).glob("*.log"))


def describe_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """The text of `weir topic describe` after its 5 header lines, split into cells."""
    lines = text.splitlines()[5:]
    return re.split(r"\s{2,}", lines[0].strip()), [line.split() for line in lines[1:]]


def untiered_row(broker, topic: str, p: int, end: int) -> list[str]:
    """A partition nothing was tiered from: everything local, one segment."""
    return [str(p), "1", "0", str(end), "0", str(local_bytes(broker, topic, p)), "-", "-", "0", "0"]


def kcat_produce(broker, topic: str, partition: int, lines: list[str]) -> None:
    data = "".join(f"{line}\n" for line in lines).encode()
    p = subprocess.run([KCAT, "-b", broker.bootstrap, "-X", "socket.timeout.ms=10000",
                        "-t", topic, "-p", str(partition), "-P"],
                       input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")


def topic_ids(broker) -> dict:
    return {t["name"]: t["topic_id"] for t in js(broker, "topic", "list")}


# ---------------------------------------------------------------------------------- topics

@needs_kcat
def test_topic_create_list_describe_alter_delete(broker):
    assert out(broker, "topic", "list") == "TOPIC  PARTITIONS\n"
    assert out(broker, "topic", "create", "cli-orders", "--partitions", "3",
               "--config", "retention.ms=86400000",
               "--config", "cleanup.policy=delete") == \
        "Created topic cli-orders with 3 partitions.\n"
    # Without --partitions the broker's num.partitions (1) applies.
    assert out(broker, "topic", "create", "cli-a") == "Created topic cli-a with 1 partition.\n"
    assert out(broker, "topic", "list") == (
        "TOPIC       PARTITIONS\n"
        "cli-a       1\n"
        "cli-orders  3\n")

    kcat_produce(broker, "cli-orders", 0, ["a", "b", "c", "d", "e"])
    kcat_produce(broker, "cli-orders", 2, ["x", "y"])
    ids = topic_ids(broker)
    text = out(broker, "topic", "describe", "cli-orders")
    assert text.startswith(
        "Topic: cli-orders\n"
        f"Topic ID: {ids['cli-orders']}\n"
        "Partitions: 3\n"
        "Configs: cleanup.policy=delete, retention.ms=86400000\n"
        "\n")
    assert describe_rows(text) == (STORAGE_HEADINGS, [
        untiered_row(broker, "cli-orders", 0, 5),
        untiered_row(broker, "cli-orders", 1, 0),
        untiered_row(broker, "cli-orders", 2, 2)])

    assert out(broker, "topic", "alter", "cli-orders", "--config", "segment.bytes=1048576",
               "--config", "retention.ms=3600000", "--delete-config", "cleanup.policy") == \
        "Altered topic cli-orders: set segment.bytes=1048576, retention.ms=3600000; " \
        "deleted cleanup.policy.\n"
    assert out(broker, "topic", "alter", "cli-orders", "--delete-config", "segment.bytes") == \
        "Altered topic cli-orders: deleted segment.bytes.\n"
    assert out(broker, "topic", "describe", "cli-orders").splitlines()[3] == \
        "Configs: retention.ms=3600000"
    text = out(broker, "topic", "describe", "cli-a")
    assert text.startswith(
        "Topic: cli-a\n"
        f"Topic ID: {ids['cli-a']}\n"
        "Partitions: 1\n"
        "Configs: (none)\n"
        "\n")
    assert describe_rows(text) == (STORAGE_HEADINGS, [untiered_row(broker, "cli-a", 0, 0)])

    assert out(broker, "topic", "delete", "cli-a") == "Deleted topic cli-a.\n"
    assert out(broker, "topic", "list") == "TOPIC       PARTITIONS\ncli-orders  3\n"


@needs_kcat
def test_topic_json(broker):
    created = js(broker, "topic", "create", "cli-j", "--partitions", "2",
                 "--config", "retention.bytes=1000000")
    topic_id = created.pop("topic_id")
    assert isinstance(topic_id, str) and len(topic_id) == 36
    assert created == {"name": "cli-j", "partitions": 2, "replication_factor": 1,
                       "configs": {"retention.bytes": "1000000"}}
    assert js(broker, "topic", "list") == [
        {"name": "cli-j", "topic_id": topic_id, "partitions": 2, "internal": False}]
    kcat_produce(broker, "cli-j", 1, [str(i) for i in range(7)])
    assert js(broker, "topic", "describe", "cli-j") == {
        "name": "cli-j",
        "topic_id": topic_id,
        "internal": False,
        "partitions": [
            {"partition": p, "leader": 1, "log_start_offset": 0, "log_end_offset": end,
             "storage": {"partition": p, "local_start_offset": 0, "log_end_offset": end,
                         "local_bytes": local_bytes(broker, "cli-j", p), "local_segments": 1,
                         "remote_start_offset": None, "remote_end_offset": None,
                         "remote_bytes": 0, "remote_segments": 0,
                         "pending_upload_segments": 0, "pending_upload_bytes": 0}}
            for p, end in ((0, 0), (1, 7))
        ],
        "configs": {"retention.bytes": "1000000"},
    }
    assert js(broker, "topic", "alter", "cli-j", "--config", "retention.ms=1000",
              "--delete-config", "retention.bytes") == {
        "name": "cli-j", "set": {"retention.ms": "1000"}, "deleted": ["retention.bytes"]}
    assert js(broker, "topic", "describe", "cli-j")["configs"] == {"retention.ms": "1000"}
    assert js(broker, "topic", "delete", "cli-j") == {"name": "cli-j", "topic_id": topic_id}
    assert js(broker, "topic", "list") == []


def test_topic_errors_exit_1_with_kafka_error(broker):
    out(broker, "topic", "create", "cli-e")
    assert fails(broker, "topic", "create", "cli-e") == \
        "error: cannot create topic cli-e: TOPIC_ALREADY_EXISTS: Topic 'cli-e' already exists.\n"
    assert fails(broker, "topic", "create", "cli-e2", "--partitions", "0") == (
        "error: cannot create topic cli-e2: INVALID_PARTITIONS: "
        "Number of partitions must be larger than 0, got 0\n")
    assert fails(broker, "topic", "create", "cli-e3", "--config", "no.such.config=1") == \
        "error: cannot create topic cli-e3: INVALID_CONFIG: Unknown topic config name: no.such.config\n"
    assert fails(broker, "topic", "describe", "nosuch") == \
        "error: cannot describe topic nosuch: UNKNOWN_TOPIC_OR_PARTITION\n"
    assert fails(broker, "topic", "delete", "nosuch") == (
        "error: cannot delete topic nosuch: UNKNOWN_TOPIC_OR_PARTITION: "
        "This server does not host this topic: nosuch\n")
    assert fails(broker, "topic", "alter", "cli-e", "--config", "retention.ms=abc") == (
        "error: cannot alter topic cli-e: INVALID_CONFIG: Invalid value abc for configuration "
        "retention.ms: value \"abc\" is not a valid long\n")
    # Nothing was created by the failed attempts.
    assert out(broker, "topic", "list") == "TOPIC  PARTITIONS\ncli-e  1\n"


def test_usage_errors_exit_2(broker):
    p = weir(broker, "topic", "alter", "cli-x", expect=2)
    assert "--config <KEY=VALUE>" in p.stderr
    p = weir(broker, "topic", "create", "cli-x", "--config", "novalue", expect=2)
    assert "expected KEY=VALUE, got `novalue`" in p.stderr


def test_connection_failure_exit_2(broker):
    port = free_port()
    p = weir(broker, "topic", "list", "--bootstrap", f"127.0.0.1:{port}", bootstrap=False,
             expect=2)
    assert p.stdout == ""
    assert p.stderr.startswith(f"error: cannot connect to broker at 127.0.0.1:{port}: "), p.stderr
    assert "refused" in p.stderr.lower(), p.stderr
    p = weir(broker, "group", "list", "--bootstrap", f"127.0.0.1:{port}", bootstrap=False,
             expect=2)
    assert p.stderr.startswith(f"error: cannot connect to broker at 127.0.0.1:{port}: "), p.stderr


def test_bootstrap_from_environment(broker):
    env = {"WEIR_BOOTSTRAP": broker.bootstrap}
    p = weir(broker, "topic", "create", "cli-env", env=env, bootstrap=False)
    assert p.stdout == "Created topic cli-env with 1 partition.\n"
    # The flag may also come before the subcommand's own arguments.
    p = weir(broker, "topic", "--bootstrap", broker.bootstrap, "list", bootstrap=False)
    assert p.stdout == "TOPIC    PARTITIONS\ncli-env  1\n"


# ---------------------------------------------------------------------------------- groups

@needs_kcat
def test_group_list_and_describe_after_kcat_balanced_consumer(broker):
    out(broker, "topic", "create", "cli-g", "--partitions", "2")
    kcat_produce(broker, "cli-g", 0, ["a", "b", "c", "d"])
    kcat_produce(broker, "cli-g", 1, ["e"])
    assert out(broker, "group", "list") == "GROUP  STATE  PROTOCOL TYPE\n"
    # kcat's balanced consumer reads to the end (-e), commits and leaves the group.
    p = subprocess.run([KCAT, "-b", broker.bootstrap, "-X", "socket.timeout.ms=10000",
                        "-G", "cli-kcat-group", "-o", "beginning", "-e", "-q",
                        "-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100",
                        "cli-g"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    assert sorted(p.stdout.decode().split()) == ["a", "b", "c", "d", "e"]
    kcat_produce(broker, "cli-g", 1, ["f", "g"])  # lag 2 on partition 1

    assert out(broker, "group", "list") == (
        "GROUP           STATE  PROTOCOL TYPE\n"
        "cli-kcat-group  Empty  consumer\n")
    assert js(broker, "group", "list") == [
        {"group_id": "cli-kcat-group", "state": "Empty", "protocol_type": "consumer"}]
    assert out(broker, "group", "describe", "cli-kcat-group") == (
        "Group: cli-kcat-group\n"
        "State: Empty\n"
        "Protocol type: consumer\n"
        "Protocol: -\n"
        "Members: 0\n"
        "\n"
        "TOPIC  PARTITION  COMMITTED OFFSET  LOG END OFFSET  LAG\n"
        "cli-g  0          4                 4               0\n"
        "cli-g  1          1                 3               2\n")
    described = js(broker, "group", "describe", "cli-kcat-group")
    for o in described["offsets"]:
        o.pop("metadata")
    assert described == {
        "group_id": "cli-kcat-group",
        "state": "Empty",
        "protocol_type": "consumer",
        "protocol": "",
        "members": [],
        "offsets": [
            {"topic": "cli-g", "partition": 0, "committed_offset": 4, "log_end_offset": 4,
             "lag": 0, "member_id": None},
            {"topic": "cli-g", "partition": 1, "committed_offset": 1, "log_end_offset": 3,
             "lag": 2, "member_id": None},
        ],
    }


def test_group_describe_active_members_and_assignments(broker):
    from confluent_kafka import Consumer, TopicPartition

    out(broker, "topic", "create", "cli-m", "--partitions", "3")
    out(broker, "topic", "create", "cli-n", "--partitions", "1")
    from weirtest import Rec, produce
    produce(broker.bootstrap, "cli-m", [Rec(None, b"v", partition=p) for p in (0, 0, 0, 1, 2)])
    produce(broker.bootstrap, "cli-n", [Rec(None, b"v")])

    c = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "cli-members",
        "client.id": "cli-test-consumer",
        "group.instance.id": "instance-1",
        "partition.assignment.strategy": "range",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 30000,
        "socket.timeout.ms": 10000,
    })
    try:
        c.subscribe(["cli-m", "cli-n"])
        deadline = time.monotonic() + TIMEOUT
        got = 0
        while got < 6 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        assert got == 6, f"consumed {got} of 6 records"
        # Commit partition 0 of cli-m at 2 (lag 1) and cli-n at its end; nothing for the rest.
        c.commit(offsets=[TopicPartition("cli-m", 0, 2), TopicPartition("cli-n", 0, 1)],
                 asynchronous=False)

        described = js(broker, "group", "describe", "cli-members")
        assert len(described["members"]) == 1, described
        member = described["members"][0]
        member_id = member.pop("member_id")
        host = member.pop("host")
        assert member_id.startswith("cli-test-consumer"), member_id
        assert host.endswith("127.0.0.1"), host
        assert member == {
            "group_instance_id": "instance-1",
            "client_id": "cli-test-consumer",
            "assignment": [{"topic": "cli-m", "partitions": [0, 1, 2]},
                           {"topic": "cli-n", "partitions": [0]}],
        }
        for o in described["offsets"]:
            o.pop("metadata")
        assert {k: described[k] for k in ("group_id", "state", "protocol_type", "protocol")} == {
            "group_id": "cli-members", "state": "Stable", "protocol_type": "consumer",
            "protocol": "range"}
        assert described["offsets"] == [
            {"topic": "cli-m", "partition": 0, "committed_offset": 2, "log_end_offset": 3,
             "lag": 1, "member_id": member_id},
            {"topic": "cli-m", "partition": 1, "committed_offset": None, "log_end_offset": 1,
             "lag": None, "member_id": member_id},
            {"topic": "cli-m", "partition": 2, "committed_offset": None, "log_end_offset": 1,
             "lag": None, "member_id": member_id},
            {"topic": "cli-n", "partition": 0, "committed_offset": 1, "log_end_offset": 1,
             "lag": 0, "member_id": member_id},
        ]

        w = max(len("MEMBER ID"), len(member_id))
        hw = max(len("HOST"), len(host))
        assert out(broker, "group", "describe", "cli-members") == (
            "Group: cli-members\n"
            "State: Stable\n"
            "Protocol type: consumer\n"
            "Protocol: range\n"
            "Members: 1\n"
            "\n"
            f"{'MEMBER ID':<{w}}  INSTANCE ID  CLIENT ID          {'HOST':<{hw}}  ASSIGNMENT\n"
            f"{member_id:<{w}}  instance-1   cli-test-consumer  {host:<{hw}}  "
            "cli-m:0,1,2 cli-n:0\n"
            "\n"
            "TOPIC  PARTITION  COMMITTED OFFSET  LOG END OFFSET  LAG\n"
            "cli-m  0          2                 3               1\n"
            "cli-m  1          -                 1               -\n"
            "cli-m  2          -                 1               -\n"
            "cli-n  0          1                 1               0\n")
        assert out(broker, "group", "list") == (
            "GROUP        STATE   PROTOCOL TYPE\n"
            "cli-members  Stable  consumer\n")
    finally:
        c.close()


def test_group_describe_unknown_group_exits_1(broker):
    assert fails(broker, "group", "describe", "no-such-group") == \
        "error: group no-such-group does not exist\n"
