"""Seeded mutation fuzzing of the broker with real client traffic (issue 10, item 6).

The corpus (compat-tests/corpus/, captured by `python fuzzlib.py capture` from confluent-kafka
producing with every codec and acks setting, a consumer group, admin calls; kcat producing
with every codec, consuming and listing metadata; kafka-python producing and consuming in a
group; Java kafka-clients' admin, idempotent producer and consumer) is mutated — bit flips,
byte overwrites, truncation, splices of two frames, rewritten frame length prefixes,
plausible inner lengths, extreme counts/varints inserted or overwritten, duplicated regions —
and sent over pipelined connections. Proves: after WEIR_FUZZ_FRAMES (default 100,000) frames
the broker never died (checked every 2,000 frames), its RSS stayed within base + 300 MiB, its
log has no panic or allocation-failure line, and a real client still produces and consumes.
Each frame is a pure function of (corpus, seed, index): a failure prints the seed and the
frames in flight; `python fuzzlib.py frame SEED INDEX` rebuilds any of them.
"""

from __future__ import annotations

import collections
import os

import fuzzlib
from conftest import unique_topic
from weirtest import consume, expected_tuple, gen_records, msg_tuple, produce

FRAMES = int(os.environ.get("WEIR_FUZZ_FRAMES", "100000"))
SEED = int(os.environ.get("WEIR_FUZZ_SEED", "20261203"))
RSS_BUDGET_MIB = int(os.environ.get("WEIR_FUZZ_RSS_MIB", "300"))
CHECK_EVERY = 2000
PROGRESS = os.environ.get("WEIR_FUZZ_PROGRESS") == "1"  # scripts/fuzz.sh: a line per 50,000


def assert_served(broker) -> None:
    topic = unique_topic("after-fuzz")
    recs = gen_records(20, seed=11)
    assert produce(broker.bootstrap, topic, recs, timeout=60) == [(0, i) for i in range(20)]
    got = [msg_tuple(m) for m in consume(broker.bootstrap, topic, timeout=60)]
    assert got == [expected_tuple(i, r) for i, r in enumerate(recs)]


def test_corpus_holds_real_traffic_of_every_client():
    by_client = {f.stem: fuzzlib.split_frames(f.read_bytes()) for f in fuzzlib.CORPUS.glob("*.bin")}
    assert set(by_client) >= {"confluent", "kcat", "kafka-python", "java"}, sorted(by_client)
    for client, frames in by_client.items():
        assert frames, f"{client}: empty corpus file"
        assert all(fuzzlib.api_of(f)[0] in range(0, 100) for f in frames), client
    apis = collections.Counter(fuzzlib.api_of(f)[0] for fs in by_client.values() for f in fs)
    # Produce, Fetch, ListOffsets, Metadata, OffsetCommit, OffsetFetch, FindCoordinator,
    # JoinGroup, Heartbeat, SyncGroup, ApiVersions, CreateTopics, DeleteTopics, DescribeConfigs.
    for key in (0, 1, 2, 3, 8, 9, 10, 11, 12, 14, 18, 19, 20, 32):
        assert apis[key] > 0, f"no API {key} request in the corpus: {dict(apis)}"


def test_mutated_client_traffic_never_hurts_the_broker(broker, tmp_path):
    corpus = fuzzlib.load_corpus()
    watch = fuzzlib.Watch(broker, RSS_BUDGET_MIB)
    blaster = fuzzlib.Blaster(broker.bootstrap)
    items = ((i, fuzzlib.mutate(corpus, SEED, i)[0]) for i in range(FRAMES))
    print(f"\nfuzz seed={SEED} frames={FRAMES} corpus={len(corpus)} frames")

    def describe(i: int) -> str:
        return f"seed {SEED} index {i}: {fuzzlib.mutate(corpus, SEED, i)[1]}"

    def check(stats: fuzzlib.Stats) -> None:
        watch(stats)
        if PROGRESS and stats.frames % 50_000 < CHECK_EVERY:
            print(f"  {stats.line()}", flush=True)

    try:
        stats = blaster.run(items, check=check, check_every=CHECK_EVERY)
        watch(stats)
    except (AssertionError, OSError) as e:
        raise AssertionError(f"seed {SEED}: {e}\n{blaster.stats.line()}\n"
                             + fuzzlib.failure_report(blaster, tmp_path / "frames.txt", describe)) from e
    print(f"fuzz seed={SEED}: {stats.line()}")
    assert stats.frames == FRAMES, stats.line()
    assert stats.confirmed + stats.closes + stats.stalls == FRAMES
    bad = fuzzlib.bad_log_lines(broker.log_text())
    assert not bad, f"seed {SEED}: broker log:\n" + "\n".join(bad[:20])
    assert_served(broker)
    watch(stats)
