#!/usr/bin/env bash
# Mutation-fuzzes a fresh `weir serve` with captured real-client traffic (compat-tests/test_fuzz.py)
# for as many frames as you like, and prints frames/s, how many frames kept or closed the
# connection, responses, stalls and the broker's peak RSS. Any failure prints the seed and the
# frames in flight; `python compat-tests/fuzzlib.py frame SEED INDEX` rebuilds one frame.
#
#   scripts/fuzz.sh [FRAMES] [SEED]      default 1000000 frames, seed = current time
#   scripts/fuzz.sh capture              re-capture compat-tests/corpus/ (needs kcat, Java)
#
# Environment: WEIR_BIN (default $CARGO_TARGET_DIR/debug/weir), PYTHON (the test venv),
# WEIR_FUZZ_RSS_MIB (RSS budget above the broker's starting RSS, default 300).
set -euo pipefail
cd "$(dirname "$0")/../compat-tests"
PY=${PYTHON:-/root/.cache/weir/venv/bin/python}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/weir/target}
if [[ "${1:-}" == capture ]]; then
    exec "$PY" fuzzlib.py capture
fi
FRAMES=${1:-1000000}
SEED=${2:-$(date +%s)}
echo "fuzz: $FRAMES frames, seed $SEED, binary ${WEIR_BIN:-$CARGO_TARGET_DIR/debug/weir}"
WEIR_FUZZ_FRAMES=$FRAMES WEIR_FUZZ_SEED=$SEED WEIR_FUZZ_PROGRESS=1 \
    exec "$PY" -m pytest -x -q -s --timeout=0 test_fuzz.py -k mutated
