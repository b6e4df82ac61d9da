#!/usr/bin/env bash
# Chaos run (compat-tests/chaos.py): idempotent producers, table upserts and a consumer group
# on one broker tiering to SeaweedFS (file:// when SeaweedFS is not installed) for MINUTES,
# while SIGKILLs, ENOSPC on appends, failed fsyncs and object-store outages are injected; then
# checks that no acknowledged record is lost, nothing is duplicated, the table state is the
# fold of its log, the changelog its derivation, and every offset is readable. Prints figures.
#
#   scripts/chaos.sh [MINUTES] [SEED]     default 30 minutes, seed = current time
#
# Environment: WEIR_BIN (default $CARGO_TARGET_DIR/debug/weir), PYTHON (the test venv).
# Needs what scripts/install-test-deps.sh installs, and a C compiler (for faultfs).
set -euo pipefail
cd "$(dirname "$0")/../compat-tests"
PY=${PYTHON:-/root/.cache/weir/venv/bin/python}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/weir/target}
exec "$PY" chaos.py --minutes "${1:-30}" --seed "${2:-$(date +%s)}"
