#!/usr/bin/env bash
# Context-store benchmark: a `weir` broker (release by default) and scripts/bench_context.py.
#
#   1. loads a typed table (value.format=json, value.schema) with BENCH_UPDATES updates over
#      BENCH_KEYS keys (confluent-kafka, acks=1, 5% deletes);
#   2. as-of-join throughput (rows/s) for each size in BENCH_JOIN_ROWS: the input is generated
#      and streamed in Arrow record batches of BENCH_BATCH_ROWS while the answer is read and
#      counted, so neither side of the client holds the whole input or output; the broker's
#      peak RSS during each join (VmRSS sampled every 20 ms, and VmHWM after resetting it);
#   3. snapshot export throughput (MB/s of Arrow IPC, rows/s);
#   4. the baseline in the same run: the same updates exported to Parquet and DuckDB's
#      ASOF LEFT JOIN over the same inputs (also written to Parquet), rows/s side by side,
#      with the number of matched rows of both (they must agree).
# MB = 10^6 bytes.
#
# Usage: scripts/bench-context.sh
# Environment:
#   BENCH_KEYS=100000 BENCH_UPDATES=1000000 BENCH_PARTITIONS=4
#   BENCH_JOIN_ROWS=1000000,10000000  BENCH_BATCH_ROWS=200000
#   BENCH_DIR=$TMPDIR  parent of the scratch directory;  BENCH_KEEP=0 (1 keeps it)
#   WEIR_BIN  use this broker binary (a debug build works too) instead of building
#             target/release/weir;  CARGO_TARGET_DIR honoured by the release build
#   WEIR_CACHE / WEIR_VENV  where the Python venv (pyarrow, duckdb, confluent-kafka) lives
set -euo pipefail
export LC_ALL=C

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEIR_CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
export WEIR_VENV="${WEIR_VENV:-$WEIR_CACHE/venv}"

log() { printf '[bench-context] %s\n' "$*" >&2; }
die() { printf '[bench-context] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -z "${WEIR_BIN:-}" ]]; then
  TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
  case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
  log "building release binary"
  (cd "$REPO" && cargo build -j2 --release --bin weir) >&2
  WEIR_BIN="$TARGET_DIR/release/weir"
fi
[[ -x "$WEIR_BIN" ]] || die "no weir binary at $WEIR_BIN"
if [[ ! -x "$WEIR_VENV/bin/python" ]]; then
  bash "$REPO/scripts/install-test-deps.sh"
fi

exec "$WEIR_VENV/bin/python" "$REPO/scripts/bench_context.py" --weir "$WEIR_BIN" \
  --keys "${BENCH_KEYS:-100000}" --updates "${BENCH_UPDATES:-1000000}" \
  --partitions "${BENCH_PARTITIONS:-4}" --join-rows "${BENCH_JOIN_ROWS:-1000000,10000000}" \
  --batch-rows "${BENCH_BATCH_ROWS:-200000}" --keep "${BENCH_KEEP:-0}" \
  ${BENCH_DIR:+--scratch "$BENCH_DIR"}
