"""A short chaos run (compat-tests/chaos.py; `scripts/chaos.sh` runs it for longer): mixed
load while SIGKILLs, ENOSPC, failed fsyncs and store outages are injected, then the exact
checks — no acknowledged record lost, no duplicate, table state = fold of the log, changelog
= its derivation, every offset readable."""

from __future__ import annotations

import pytest

import chaos


@pytest.mark.timeout(900)
def test_short_chaos_run_loses_nothing(tmp_path):
    figures = chaos.run(minutes=1.5, seed=20261203, workdir=tmp_path)
    kinds = {"sigkill", "enospc", "fsync"} | ({"store_outage"} if "s3" in figures["store"] else set())
    assert set(figures["faults"]) == kinds, figures
    assert figures["failed_calls"] > 0, figures
    for topic, counts in figures.items():
        if isinstance(counts, dict) and "acked" in counts:
            assert counts["acked"] > 10_000, figures
