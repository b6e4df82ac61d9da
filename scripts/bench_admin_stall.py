"""Load generators of scripts/bench-admin-stall.sh (confluent-kafka).

  latency BOOTSTRAP TOPIC COUNT
      COUNT produce+fetch round trips, one at a time: produce one record (acks=1, no
      linger), and time until a consumer already assigned to the partition receives it.
      Prints one JSON object: count, p50_ms, p99_ms, max_ms.
  churn BOOTSTRAP TOPICS PARTITIONS
      Until SIGTERM: create TOPICS topics of PARTITIONS partitions in one CreateTopics
      request, then delete them in one DeleteTopics request. Then prints one JSON object:
      cycles, partitions_created, partitions_deleted, seconds, errors.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def latency(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 0,
                         "enable.idempotence": False})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-never-joined",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 500,
                         "fetch.min.bytes": 1, "enable.partition.eof": False})
    tp = TopicPartition(topic, 0)
    _, end = consumer.get_watermark_offsets(tp, timeout=10)
    consumer.assign([TopicPartition(topic, 0, end)])
    # Warm up: connections, metadata, the first fetch.
    samples: list[float] = []
    for i in range(count + 20):
        payload = f"ping-{i}".encode()
        started = time.perf_counter()
        producer.produce(topic, value=payload, partition=0)
        producer.flush(30)
        while True:
            msg = consumer.poll(30)
            if msg is None:
                raise SystemExit(f"no record within 30 s (round trip {i})")
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise SystemExit(f"consumer error: {msg.error()}")
            if msg.value() == payload:
                break
        if i >= 20:
            samples.append((time.perf_counter() - started) * 1000)
    consumer.close()
    samples.sort()
    print(json.dumps({"count": len(samples), "p50_ms": percentile(samples, 0.50),
                      "p99_ms": percentile(samples, 0.99), "max_ms": samples[-1]}))


def churn(bootstrap: str, topics: int, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 60000})
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    started = time.monotonic()
    stats = {"cycles": 0, "partitions_created": 0, "partitions_deleted": 0, "errors": []}
    while not stopping:
        names = [f"churn-{uuid.uuid4().hex[:10]}" for _ in range(topics)]
        created = admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names],
            request_timeout=60)
        ok = []
        for name, future in created.items():
            try:
                future.result(timeout=60)
                ok.append(name)
                stats["partitions_created"] += partitions
            except Exception as e:  # noqa: BLE001 - counted and reported
                stats["errors"].append(f"create {name}: {e}")
        if ok:
            for name, future in admin.delete_topics(ok, request_timeout=60).items():
                try:
                    future.result(timeout=60)
                    stats["partitions_deleted"] += partitions
                except Exception as e:  # noqa: BLE001 - counted and reported
                    stats["errors"].append(f"delete {name}: {e}")
        stats["cycles"] += 1
    stats["seconds"] = round(time.monotonic() - started, 1)
    stats["errors"] = stats["errors"][:5]
    print(json.dumps(stats))


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "latency" and len(sys.argv) == 5:
        latency(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif mode == "churn" and len(sys.argv) == 5:
        churn(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
