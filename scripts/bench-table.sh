#!/usr/bin/env bash
# Table-topic benchmark: a release `weir` and the `bench_table` load generator
# (broker/examples/bench_table.rs).
#
#   1. upsert throughput: BENCH_ROWS upserts (1 KiB values by default) over BENCH_KEYS keys
#      (the first pass inserts, later passes update), acks=1, one connection per partition;
#   2. lookup latency: GET /v1/tables/{topic}/keys/{key} of random keys on one keep-alive
#      HTTP connection while the upserts go on (p50/p99/p999 of the HTTP round trip);
#   3. RocksDB disk usage (the table directories) next to the topic's log size, the table
#      gauges from /metrics, and the broker's RSS.
# MB = 10^6 bytes.
#
# Usage: scripts/bench-table.sh
# Environment:
#   BENCH_KEYS=1000000 BENCH_ROWS=2000000 BENCH_VALUE_BYTES=1024 BENCH_PARTITIONS=2
#   BENCH_BATCH=200 (records per produce request; a batch must fit max.message.bytes)  BENCH_LOOKUP_SECS=20
#   BENCH_DIR=$TMPDIR  parent of the scratch directory;  BENCH_KEEP=0 (1 keeps it)
#   WEIR_BIN  use this broker binary;  CARGO_TARGET_DIR honoured by the release build
set -euo pipefail
export LC_ALL=C

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_KEYS="${BENCH_KEYS:-1000000}"
BENCH_ROWS="${BENCH_ROWS:-2000000}"
BENCH_VALUE_BYTES="${BENCH_VALUE_BYTES:-1024}"
BENCH_PARTITIONS="${BENCH_PARTITIONS:-2}"
BENCH_BATCH="${BENCH_BATCH:-200}"
BENCH_LOOKUP_SECS="${BENCH_LOOKUP_SECS:-20}"
BENCH_KEEP="${BENCH_KEEP:-0}"
TOPIC=bench-table

log() { printf '[bench-table] %s\n' "$*" >&2; }
die() { printf '[bench-table] ERROR: %s\n' "$*" >&2; exit 1; }

for tool in python3 curl du awk; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not on PATH"
done

SCRATCH_PARENT="${BENCH_DIR:-${TMPDIR:-/tmp}}"
mkdir -p "$SCRATCH_PARENT"
SCRATCH="$(mktemp -d "$SCRATCH_PARENT/weir-bench-table.XXXXXX")"
BROKER_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
  fi
  if [[ "$BENCH_KEEP" == 1 ]]; then log "scratch directory kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------- build
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
log "building release binary and load generator"
(cd "$REPO" && cargo build -j2 --release --bin weir --example bench_table) >&2
WEIR_BIN="${WEIR_BIN:-$TARGET_DIR/release/weir}"
LOADGEN="$TARGET_DIR/release/examples/bench_table"
[[ -x "$WEIR_BIN" && -x "$LOADGEN" ]] || die "build did not produce $WEIR_BIN and $LOADGEN"

# ---------------------------------------------------------------------------- broker
read -r KAFKA_PORT HTTP_PORT < <(python3 -c '
import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
DATA="$SCRATCH/data"
"$WEIR_BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$KAFKA_PORT" \
  --http "127.0.0.1:$HTTP_PORT" >"$SCRATCH/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null || die "broker not ready (see $SCRATCH/broker.log)"
"$WEIR_BIN" topic create "$TOPIC" --bootstrap "127.0.0.1:$KAFKA_PORT" \
  --partitions "$BENCH_PARTITIONS" --config cleanup.policy=compact >&2

rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$BROKER_PID/status"; }

# ---------------------------------------------------------------------------- run
log "machine: $(nproc) cores; $BENCH_ROWS upserts over $BENCH_KEYS keys, $BENCH_VALUE_BYTES B values, $BENCH_PARTITIONS partitions"
"$LOADGEN" --bootstrap "127.0.0.1:$KAFKA_PORT" --http "127.0.0.1:$HTTP_PORT" --topic "$TOPIC" \
  --partitions "$BENCH_PARTITIONS" --keys "$BENCH_KEYS" --rows "$BENCH_ROWS" \
  --value-bytes "$BENCH_VALUE_BYTES" --batch "$BENCH_BATCH" --lookup-secs "$BENCH_LOOKUP_SECS"
echo "broker RSS after the run: $(rss_mib) MiB"

# Let the broker's housekeeping publish the gauges, then report sizes.
sleep 2
METRICS="$(curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics")"
gauge_sum() { printf '%s\n' "$METRICS" | awk -v m="$1" -v t="topic=\"$TOPIC\"" '$1 ~ "^"m"[{]" && index($1, t) {s += $2} END {printf "%.0f", s}'; }
table_bytes=0
log_bytes=0
for d in "$DATA"/topics/"$TOPIC"-*; do
  t="$(du -sb "$d/table" | awk '{print $1}')"
  table_bytes=$((table_bytes + t))
  log_bytes=$((log_bytes + $(du -sb "$d" | awk '{print $1}') - t))
done
changelog_bytes="$(du -scb "$DATA"/topics/"$TOPIC".changelog-* | tail -1 | awk '{print $1}')"
echo "table rows (weir_table_rows): $(gauge_sum weir_table_rows)"
echo "RocksDB on disk: $((table_bytes / 1000000)) MB (state, history, offsets; memtables $(( $(gauge_sum weir_table_memtable_bytes) / 1000000 )) MB, compaction pending $(( $(gauge_sum weir_table_pending_compaction_bytes) / 1000000 )) MB)"
echo "topic log on disk: $((log_bytes / 1000000)) MB; changelog on disk: $((changelog_bytes / 1000000)) MB"
