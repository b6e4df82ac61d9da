#!/usr/bin/env bash
# Admin-stall benchmark: does topic churn stall other clients' produce and fetch?
#
#   1. idle: BENCH_COUNT produce+fetch round trips (one record, acks=1, then received by a
#      consumer already assigned to the partition), one at a time; p50/p99/max;
#   2. churn: the same while another client creates and deletes topics in a loop
#      (BENCH_CHURN_TOPICS topics of BENCH_CHURN_PARTITIONS partitions per CreateTopics
#      request, then one DeleteTopics request);
#   3. the p99 ratio churn/idle (issue 10's target: within 3x) and how many partitions the
#      churn created and deleted meanwhile.
# Load generators: scripts/bench_admin_stall.py (confluent-kafka).
#
# Usage: scripts/bench-admin-stall.sh
# Environment:
#   BENCH_COUNT=2000  BENCH_CHURN_TOPICS=10  BENCH_CHURN_PARTITIONS=50
#   BENCH_PROFILE=release (or debug: the binary to build and run)
#   BENCH_PYTHON  a python with confluent-kafka (default: /root/.cache/weir/venv/bin/python
#                 if present, else python3)
#   BENCH_DIR=$TMPDIR  parent of the scratch directory;  BENCH_KEEP=0 (1 keeps it)
#   WEIR_BIN  use this broker binary (no build);  CARGO_TARGET_DIR honoured by the build
set -euo pipefail
export LC_ALL=C

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_COUNT="${BENCH_COUNT:-2000}"
BENCH_CHURN_TOPICS="${BENCH_CHURN_TOPICS:-10}"
BENCH_CHURN_PARTITIONS="${BENCH_CHURN_PARTITIONS:-50}"
BENCH_PROFILE="${BENCH_PROFILE:-release}"
BENCH_KEEP="${BENCH_KEEP:-0}"
TOPIC=bench-stall

log() { printf '[bench-admin-stall] %s\n' "$*" >&2; }
die() { printf '[bench-admin-stall] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -z "${BENCH_PYTHON:-}" ]]; then
  if [[ -x /root/.cache/weir/venv/bin/python ]]; then
    BENCH_PYTHON=/root/.cache/weir/venv/bin/python
  else
    BENCH_PYTHON=python3
  fi
fi
for tool in "$BENCH_PYTHON" curl awk; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not on PATH"
done
"$BENCH_PYTHON" -c 'import confluent_kafka' 2>/dev/null \
  || die "$BENCH_PYTHON has no confluent_kafka (scripts/install-test-deps.sh)"
HELPER="$REPO/scripts/bench_admin_stall.py"

SCRATCH_PARENT="${BENCH_DIR:-${TMPDIR:-/tmp}}"
mkdir -p "$SCRATCH_PARENT"
SCRATCH="$(mktemp -d "$SCRATCH_PARENT/weir-bench-admin-stall.XXXXXX")"
BROKER_PID=""
CHURN_PID=""
cleanup() {
  local rc=$?
  for pid in "$CHURN_PID" "$BROKER_PID"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ "$BENCH_KEEP" == 1 ]]; then log "scratch directory kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------- build
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
if [[ -z "${WEIR_BIN:-}" ]]; then
  case "$BENCH_PROFILE" in
    release) log "building release binary"; (cd "$REPO" && cargo build -j2 --release --bin weir) >&2 ;;
    debug) log "building debug binary"; (cd "$REPO" && cargo build -j2 --bin weir) >&2 ;;
    *) die "BENCH_PROFILE must be release or debug" ;;
  esac
  WEIR_BIN="$TARGET_DIR/$BENCH_PROFILE/weir"
fi
[[ -x "$WEIR_BIN" ]] || die "no broker binary at $WEIR_BIN"

# ---------------------------------------------------------------------------- broker
read -r KAFKA_PORT HTTP_PORT < <(python3 -c '
import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
"$WEIR_BIN" serve --data-dir "$SCRATCH/data" --listen "$BOOTSTRAP" \
  --http "127.0.0.1:$HTTP_PORT" >"$SCRATCH/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null || die "broker not ready (see $SCRATCH/broker.log)"
"$WEIR_BIN" topic create "$TOPIC" --bootstrap "$BOOTSTRAP" --partitions 1 >&2

field() { "$BENCH_PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# ---------------------------------------------------------------------------- run
log "machine: $(nproc) cores; $WEIR_BIN; $BENCH_COUNT round trips per phase"
log "phase 1: idle"
IDLE="$("$BENCH_PYTHON" "$HELPER" latency "$BOOTSTRAP" "$TOPIC" "$BENCH_COUNT")"

log "phase 2: while creating and deleting $BENCH_CHURN_TOPICS x $BENCH_CHURN_PARTITIONS partitions per request"
"$BENCH_PYTHON" "$HELPER" churn "$BOOTSTRAP" "$BENCH_CHURN_TOPICS" "$BENCH_CHURN_PARTITIONS" \
  >"$SCRATCH/churn.json" 2>"$SCRATCH/churn.log" &
CHURN_PID=$!
sleep 3  # let the churn get going
kill -0 "$CHURN_PID" 2>/dev/null || die "churn client exited early: $(cat "$SCRATCH/churn.log")"
BUSY="$("$BENCH_PYTHON" "$HELPER" latency "$BOOTSTRAP" "$TOPIC" "$BENCH_COUNT")"
kill -TERM "$CHURN_PID"
wait "$CHURN_PID" || die "churn client failed: $(cat "$SCRATCH/churn.log")"
CHURN_PID=""
CHURN="$(cat "$SCRATCH/churn.json")"

# ---------------------------------------------------------------------------- report
printf '%-28s %10s %10s %10s\n' "produce+fetch round trip" "p50 ms" "p99 ms" "max ms"
for phase in idle churn; do
  if [[ "$phase" == idle ]]; then r="$IDLE"; else r="$BUSY"; fi
  printf '%-28s %10.2f %10.2f %10.2f\n' "$phase" "$(field "$r" p50_ms)" "$(field "$r" p99_ms)" "$(field "$r" max_ms)"
done
awk -v a="$(field "$BUSY" p99_ms)" -v b="$(field "$IDLE" p99_ms)" -v c="$(field "$BUSY" p50_ms)" -v d="$(field "$IDLE" p50_ms)" \
  'BEGIN { printf "p99 churn/idle: %.2fx (target: within 3x); p50 churn/idle: %.2fx\n", a / b, c / d }'
echo "churn: $(field "$CHURN" partitions_created) partitions created and $(field "$CHURN" partitions_deleted) deleted in $(field "$CHURN" cycles) cycles over $(field "$CHURN" seconds) s; errors: $(field "$CHURN" errors)"
