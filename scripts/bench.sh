#!/usr/bin/env bash
# Weir benchmark: a release `weir` driven by librdkafka's `rdkafka_performance`.
#
# For each durability mode (fsync: acks=all waits for the group-committed fsync; cached:
# write.caching=true, acks=all returns after the OS write) a fresh broker on a fresh data
# directory gets, for each message size (100 B and 1 KiB by default):
#   1. produce N messages with acks=all (throughput, per-message latency under load)
#   2. consume them back from offset 0 (throughput from the page cache)
#   3. a rate-limited latency probe (acks=all, linger.ms=0)
# with the broker's RSS after each phase. The disk (sequential write, 1 MiB O_DSYNC writes,
# 4 KiB O_DSYNC writes) and loopback TCP (iperf3) are measured in the same run, and the
# throughputs are quoted as a % of them. MB = 10^6 bytes throughout (as dd, iperf3 and
# rdkafka_performance report them).
#
# Usage: scripts/bench.sh
# Environment:
#   BENCH_SCALE=1          multiplies the message counts (2M x 100 B, 1M x 1 KiB at 1)
#   BENCH_SIZES="100 1024" message sizes in bytes
#   BENCH_MODES="fsync cached"
#   BENCH_LAT_RATE=1000    msgs/s of the latency probe; BENCH_LAT_MSGS=3000 its message count
#                          (BENCH_LAT_MSGS=0 skips the probe)
#   BENCH_DIR=$TMPDIR      parent of the scratch directory (dd files, broker data)
#   BENCH_KEEP=0           1 keeps the scratch directory (broker logs, latency files)
#   BENCH_IPERF_SECONDS=5  BENCH_DD_MB=1024
#   BENCH_LINGER_MS=5      producer linger.ms of the throughput runs (rdkafka_performance's own
#                          default is 1000, which holds the last batch back for a second)
#   BENCH_PRODUCER_OPTS / BENCH_CONSUMER_OPTS   extra rdkafka_performance arguments (e.g. "-X linger.ms=20")
#   WEIR_BIN               use this broker binary instead of building target/release/weir
#   CARGO_TARGET_DIR       honoured by the release build
#   WEIR_CACHE / WEIR_VENV where rdkafka_performance and the Python venv live
set -euo pipefail
export LC_ALL=C

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEIR_CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
WEIR_VENV="${WEIR_VENV:-$WEIR_CACHE/venv}"
BENCH_SCALE="${BENCH_SCALE:-1}"
BENCH_SIZES="${BENCH_SIZES:-100 1024}"
BENCH_MODES="${BENCH_MODES:-fsync cached}"
BENCH_LAT_RATE="${BENCH_LAT_RATE:-1000}"
BENCH_LAT_MSGS="${BENCH_LAT_MSGS:-3000}"
BENCH_KEEP="${BENCH_KEEP:-0}"
BENCH_IPERF_SECONDS="${BENCH_IPERF_SECONDS:-5}"
BENCH_DD_MB="${BENCH_DD_MB:-1024}"
BENCH_LINGER_MS="${BENCH_LINGER_MS:-5}"
BENCH_PRODUCER_OPTS="${BENCH_PRODUCER_OPTS:-}"
BENCH_CONSUMER_OPTS="${BENCH_CONSUMER_OPTS:-}"

# Reference figures from ../shared/ENVIRONMENT.md (this machine class), shown next to the
# ones measured in this run.
REF_DISK_SEQ=300      # MB/s
REF_DSYNC_1M=150      # MB/s
REF_DSYNC_4K_MS=3     # ms per write
REF_LOOPBACK=2500     # MB/s

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }
FAILURES=()
fail() { printf '[bench] FAILED: %s\n' "$*" >&2; FAILURES+=("$*"); }

for tool in dd python3 curl timeout awk du; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not on PATH"
done
[[ "$BENCH_SCALE" =~ ^[0-9]*\.?[0-9]+$ ]] || die "BENCH_SCALE must be a positive number, got '$BENCH_SCALE'"
for m in $BENCH_MODES; do
  [[ "$m" == fsync || "$m" == cached ]] || die "BENCH_MODES: unknown mode '$m' (fsync, cached)"
done
for s in $BENCH_SIZES; do
  [[ "$s" =~ ^[0-9]+$ && "$s" -ge 1 ]] || die "BENCH_SIZES: bad size '$s'"
done

# ---------------------------------------------------------------------------- scratch + cleanup
SCRATCH_PARENT="${BENCH_DIR:-${TMPDIR:-/tmp}}"
mkdir -p "$SCRATCH_PARENT"
SCRATCH="$(mktemp -d "$SCRATCH_PARENT/weir-bench.XXXXXX")"
BROKER_PID=""
IPERF_PID=""

stop_pid() { # pid, seconds to wait after SIGTERM before SIGKILL
  local pid="$1" secs="${2:-10}" i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  stop_pid "$IPERF_PID" 2
  if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
    log "stopping broker (pid $BROKER_PID) on exit"
    stop_pid "$BROKER_PID" 30
  fi
  if [[ "$BENCH_KEEP" == 1 ]]; then
    log "scratch directory kept: $SCRATCH"
  else
    rm -rf "$SCRATCH"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_ports() { # count -> that many free loopback TCP ports, one per line
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

# ---------------------------------------------------------------------------- builds
if [[ -n "${WEIR_BIN:-}" ]]; then
  [[ -x "$WEIR_BIN" ]] || die "WEIR_BIN=$WEIR_BIN is not an executable"
  log "using WEIR_BIN=$WEIR_BIN (no build)"
else
  TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
  log "cargo build --release -j2 --bin weir (target dir $TARGET_DIR)"
  (cd "$REPO" && cargo build --release -j2 --bin weir) || die "release build of weir failed"
  WEIR_BIN="$TARGET_DIR/release/weir"
  [[ -x "$WEIR_BIN" ]] || die "build succeeded but $WEIR_BIN is missing"
fi

PERF="$("$REPO/scripts/build-rdkafka-perf.sh" | tail -n1)" || die "building rdkafka_performance failed (scripts/build-rdkafka-perf.sh)"
[[ -x "$PERF" ]] || die "rdkafka_performance not found at '$PERF'"
PERF_VERSION="$({ "$PERF" -h 2>&1 || true; } | grep -o 'librdkafka version [^ ]*' | head -n1 || true)"

# ---------------------------------------------------------------------------- references
loadavg() { awk '{ print $1 }' /proc/loadavg 2>/dev/null || echo '?'; }
LOAD_START="$(loadavg)"
dd_seconds() { # parses dd's final "N bytes (...) copied, S s, ..." line from a file -> "bytes seconds"
  local r
  r="$(awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s," || $i == "s") { print $1, $(i-1); exit } }' "$1")"
  [[ "$r" =~ ^[0-9]+\ [0-9.]+$ ]] || die "cannot parse dd output in $1: $(cat "$1")"
  echo "$r"
}

log "measuring the disk under $SCRATCH (${BENCH_DD_MB} MiB sequential write, conv=fdatasync)"
DDF="$SCRATCH/dd.bin"
dd if=/dev/zero of="$DDF" bs=1M count="$BENCH_DD_MB" conv=fdatasync 2>"$SCRATCH/dd-seq.txt" \
  || die "dd sequential write failed: $(cat "$SCRATCH/dd-seq.txt")"
r="$(dd_seconds "$SCRATCH/dd-seq.txt")"; b="${r% *}"; s="${r#* }"
DISK_SEQ="$(awk -v b="$b" -v s="$s" 'BEGIN { printf "%.0f", b / s / 1e6 }')"
rm -f "$DDF"

log "measuring 1 MiB O_DSYNC writes (256 x 1 MiB)"
dd if=/dev/zero of="$DDF" bs=1M count=256 oflag=dsync 2>"$SCRATCH/dd-dsync.txt" \
  || die "dd O_DSYNC write failed: $(cat "$SCRATCH/dd-dsync.txt")"
r="$(dd_seconds "$SCRATCH/dd-dsync.txt")"; b="${r% *}"; s="${r#* }"
DISK_DSYNC="$(awk -v b="$b" -v s="$s" 'BEGIN { printf "%.0f", b / s / 1e6 }')"
rm -f "$DDF"

log "measuring 4 KiB O_DSYNC writes (300 x 4 KiB)"
dd if=/dev/zero of="$DDF" bs=4k count=300 oflag=dsync 2>"$SCRATCH/dd-4k.txt" \
  || die "dd 4 KiB O_DSYNC write failed: $(cat "$SCRATCH/dd-4k.txt")"
r="$(dd_seconds "$SCRATCH/dd-4k.txt")"; s="${r#* }"
DISK_DSYNC4K_MS="$(awk -v s="$s" 'BEGIN { printf "%.2f", s / 300 * 1000 }')"
rm -f "$DDF"

LOOPBACK=""
LOOPBACK_NOTE=""
if ! command -v iperf3 >/dev/null 2>&1; then
  log "iperf3 missing: apt-get install iperf3"
  SUDO=
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends iperf3; } >"$SCRATCH/apt-iperf3.txt" 2>&1; then
    LOOPBACK_NOTE="iperf3 could not be installed (see apt output); loopback not measured"
    log "$LOOPBACK_NOTE"
    tail -n 5 "$SCRATCH/apt-iperf3.txt" >&2 || true
  fi
fi
if command -v iperf3 >/dev/null 2>&1; then
  log "measuring loopback TCP with iperf3 (${BENCH_IPERF_SECONDS} s)"
  IPORT="$(free_ports 1)"
  iperf3 -s -1 -B 127.0.0.1 -p "$IPORT" >"$SCRATCH/iperf3-server.txt" 2>&1 &
  IPERF_PID=$!
  iperf_ok=0
  for ((i = 0; i < 50; i++)); do
    # iperf3 can exit 0 with an "error" JSON when it races the server's start: only a report
    # with received bytes counts.
    if iperf3 -c 127.0.0.1 -p "$IPORT" -t "$BENCH_IPERF_SECONDS" -J >"$SCRATCH/iperf3.json" 2>"$SCRATCH/iperf3-client.txt" \
      && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["end"]["sum_received"]["bytes"] > 0 else 1)' "$SCRATCH/iperf3.json" 2>/dev/null; then
      iperf_ok=1
      break
    fi
    # Connection refused while the server starts: retry briefly.
    kill -0 "$IPERF_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ((iperf_ok)); then
    LOOPBACK="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.0f" % (d["end"]["sum_received"]["bits_per_second"] / 8 / 1e6))' "$SCRATCH/iperf3.json")" \
      || { LOOPBACK=""; LOOPBACK_NOTE="could not parse iperf3 output"; }
  else
    LOOPBACK_NOTE="iperf3 client failed: $(tail -n 2 "$SCRATCH/iperf3-client.txt" 2>/dev/null | tr '\n' ' ')"
    log "$LOOPBACK_NOTE"
  fi
  stop_pid "$IPERF_PID" 2
  wait "$IPERF_PID" 2>/dev/null || true
  IPERF_PID=""
fi

# ---------------------------------------------------------------------------- topic creation helper
ADMIN_PY=""
if [[ ! -x "$WEIR_VENV/bin/python" ]]; then
  log "no Python venv at $WEIR_VENV: running scripts/install-test-deps.sh for confluent-kafka"
  "$REPO/scripts/install-test-deps.sh" >"$SCRATCH/install-test-deps.txt" 2>&1 \
    || { log "install-test-deps.sh failed (topics will be auto-created instead):"; tail -n 5 "$SCRATCH/install-test-deps.txt" >&2; }
fi
if [[ -x "$WEIR_VENV/bin/python" ]] && "$WEIR_VENV/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  ADMIN_PY="$WEIR_VENV/bin/python"
else
  log "confluent_kafka not available: topics will be auto-created by Metadata (broker-wide write.caching only)"
fi

# create_topics BOOTSTRAP WRITE_CACHING TOPIC... : CreateTopics with write.caching, then
# DescribeConfigs to check the broker reports it back.
create_topics() {
  "$ADMIN_PY" - "$@" <<'EOF'
import sys
from confluent_kafka.admin import AdminClient, NewTopic, ConfigResource
boot, caching, topics = sys.argv[1], sys.argv[2], sys.argv[3:]
admin = AdminClient({"bootstrap.servers": boot})
futures = admin.create_topics(
    [NewTopic(t, num_partitions=1, replication_factor=1, config={"write.caching": caching}) for t in topics],
    operation_timeout=30, request_timeout=30)
for t, f in futures.items():
    f.result(timeout=60)
res = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics], request_timeout=30)
bad = []
for r, f in res.items():
    entry = f.result(timeout=60).get("write.caching")
    got = entry.value if entry is not None else None
    if got != caching:
        bad.append(f"{r.name}: write.caching={got!r}, expected {caching!r}")
if bad:
    sys.exit("DescribeConfigs disagrees with CreateTopics: " + "; ".join(bad))
print(f"created {', '.join(topics)} with write.caching={caching}")
EOF
}

# ---------------------------------------------------------------------------- per-phase helpers
declare -A R # results, keyed "mode/size/field"

rss_mib() { # pid -> VmRSS in MiB (or "?")
  awk '/^VmRSS:/ { printf "%.0f", $2 / 1024; found = 1 } END { if (!found) printf "?" }' "/proc/$1/status" 2>/dev/null || printf '?'
}
hwm_mib() {
  awk '/^VmHWM:/ { printf "%.0f", $2 / 1024; found = 1 } END { if (!found) printf "?" }' "/proc/$1/status" 2>/dev/null || printf '?'
}

percentiles() { # file of per-message latencies in microseconds -> "p50 p99 max count" in ms
  python3 - "$1" <<'EOF'
import sys
try:
    with open(sys.argv[1]) as f:
        v = sorted(int(x) for x in f if x.strip())
except (OSError, ValueError):
    v = []
if not v:
    print("? ? ? 0"); sys.exit()
def p(q):  # nearest rank
    k = max(0, min(len(v) - 1, int(-(-q * len(v) // 100)) - 1))
    return v[k] / 1000
print("%.2f %.2f %.2f %d" % (p(50), p(99), v[-1] / 1000, len(v)))
EOF
}

msg_count() { # size -> message count for the throughput runs
  awk -v size="$1" -v scale="$BENCH_SCALE" 'BEGIN {
    base = 200000000 / size; if (base < 1000000) base = 1000000;
    n = int(base * scale); if (n < 1000) n = 1000; print n }'
}

start_broker() { # mode
  local mode="$1" caching=false ports
  [[ "$mode" == cached ]] && caching=true
  DATA="$SCRATCH/data-$mode"
  rm -rf "$DATA"
  mkdir -p "$DATA"
  mapfile -t ports < <(free_ports 2)
  KPORT="${ports[0]}"
  HPORT="${ports[1]}"
  BOOT="127.0.0.1:$KPORT"
  BROKER_LOG="$SCRATCH/broker-$mode.log"
  log "starting weir ($mode: WEIR_WRITE_CACHING=$caching) on $BOOT, http 127.0.0.1:$HPORT, data $DATA"
  NO_COLOR=1 WEIR_WRITE_CACHING="$caching" "$WEIR_BIN" serve --data-dir "$DATA" --listen "$BOOT" \
    --advertised "$BOOT" --http "127.0.0.1:$HPORT" >"$BROKER_LOG" 2>&1 &
  BROKER_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
      local rc=0
      wait "$BROKER_PID" || rc=$?
      BROKER_PID=""
      tail -n 30 "$BROKER_LOG" >&2
      die "weir exited during startup (exit $rc); log above"
    fi
    if curl -sf -o /dev/null "http://127.0.0.1:$HPORT/ready" && (exec 3<>"/dev/tcp/127.0.0.1/$KPORT") 2>/dev/null; then
      log "broker ready after $(awk -v i="$i" 'BEGIN { printf "%.1f", i / 10 }') s (pid $BROKER_PID, RSS $(rss_mib "$BROKER_PID") MiB)"
      return 0
    fi
    sleep 0.1
  done
  tail -n 30 "$BROKER_LOG" >&2
  die "weir did not become ready within 30 s (GET /ready on 127.0.0.1:$HPORT and a TCP connect to $BOOT)"
}

stop_broker() { # mode
  local mode="$1" rc=0 i waited
  R[$mode/hwm]="$(hwm_mib "$BROKER_PID")"
  kill -TERM "$BROKER_PID"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$BROKER_PID" 2>/dev/null || break
    sleep 0.1
  done
  waited="$(awk -v i="$i" 'BEGIN { printf "%.1f", i / 10 }')"
  if kill -0 "$BROKER_PID" 2>/dev/null; then
    fail "$mode: broker still running 30 s after SIGTERM; sending SIGKILL"
    kill -KILL "$BROKER_PID" 2>/dev/null || true
  fi
  wait "$BROKER_PID" || rc=$?
  R[$mode/exit]="exit $rc after SIGTERM (${waited} s)"
  ((rc == 0)) || fail "$mode: broker exited with status $rc after SIGTERM (expected 0)"
  BROKER_PID=""
  local n
  n="$(grep -cE '\b(ERROR|WARN)\b' "$BROKER_LOG" || true)"
  R[$mode/logprobs]="$n"
  if ((n > 0)); then
    log "$mode: broker logged $n WARN/ERROR line(s); first ones:"
    grep -E '\b(ERROR|WARN)\b' "$BROKER_LOG" | head -n 10 >&2
  fi
}

client_timeout() { # count size -> seconds
  awk -v n="$1" -v s="$2" 'BEGIN { printf "%d", 120 + n * (s + 60) / 10e6 }'
}

# run_perf LOGFILE TIMEOUT ARGS... -> rdkafka_performance exit status (124 = timeout)
run_perf() {
  local out="$1" t="$2" rc=0
  shift 2
  timeout --signal=TERM --kill-after=10 "$t" "$PERF" "$@" >"$out" 2>&1 || rc=$?
  return "$rc"
}

bench_size() { # mode size
  local mode="$1" size="$2" topic="bench-$1-$2" n t rc line
  n="$(msg_count "$size")"
  t="$(client_timeout "$n" "$size")"
  R[$mode/$size/n]="$n"

  # ---- produce
  local plog="$SCRATCH/produce-$mode-$size.log" lat="$SCRATCH/latency-$mode-$size.txt"
  log "$mode $size B: producing $n messages with acks=all"
  rc=0
  # shellcheck disable=SC2086
  run_perf "$plog" "$t" -P -t "$topic" -p 0 -b "$BOOT" -s "$size" -c "$n" -a -1 -l -A "$lat" -X "linger.ms=$BENCH_LINGER_MS" $BENCH_PRODUCER_OPTS || rc=$?
  line="$(grep 'messages produced' "$plog" | tail -n1 || true)"
  # "% N messages produced (B bytes), D delivered (offset O, F failed) in T ms: X msgs/s and Y MB/s, ..."
  if ((rc != 0)) || [[ -z "$line" ]]; then
    fail "$mode $size B: produce run failed (exit $rc$( ((rc == 124)) && echo ", timed out after ${t}s")): $(grep -v '^|' "$plog" | tail -n 5 | tr '\n' ' ')"
    R[$mode/$size/p_fail]=1
  else
    local delivered failed ms
    delivered="$(sed -E 's/.* ([0-9]+) delivered .*/\1/' <<<"$line")"
    failed="$(sed -E 's/.*, ([0-9]+) failed\).*/\1/' <<<"$line")"
    ms="$(sed -E 's/.* in ([0-9]+)ms: .*/\1/' <<<"$line")"
    R[$mode/$size/p_msgs]="$(sed -E 's/.*ms: ([0-9]+) msgs\/s and .*/\1/' <<<"$line")"
    R[$mode/$size/p_mb]="$(sed -E 's/.* and ([0-9.]+) MB\/s.*/\1/' <<<"$line")"
    R[$mode/$size/p_ms]="$ms"
    ((delivered == n && failed == 0)) || fail "$mode $size B: $delivered of $n delivered, $failed failed: $line"
    read -r "R[$mode/$size/p50]" "R[$mode/$size/p99]" "R[$mode/$size/pmax]" _ < <(percentiles "$lat") || true
    # bytes the broker wrote for the topic (records + batch headers + indexes)
    local disk
    disk="$(du -sb "$DATA" | awk '{ print $1 }')"
    R[$mode/$size/log_mb]="$(awk -v b="$disk" -v ms="$ms" 'BEGIN { if (ms > 0) printf "%.1f", b / (ms / 1000) / 1e6; else print "?" }')"
    log "$mode $size B: ${R[$mode/$size/p_msgs]} msgs/s, ${R[$mode/$size/p_mb]} MB/s, latency p50 ${R[$mode/$size/p50]} ms p99 ${R[$mode/$size/p99]} ms"
  fi
  R[$mode/$size/rss_p]="$(rss_mib "$BROKER_PID")"

  # ---- consume
  local clog="$SCRATCH/consume-$mode-$size.log"
  log "$mode $size B: consuming $n messages from offset 0"
  rc=0
  # shellcheck disable=SC2086
  run_perf "$clog" "$t" -C -t "$topic" -p 0 -b "$BOOT" -o beginning -c "$n" -e $BENCH_CONSUMER_OPTS || rc=$?
  line="$(grep 'consumed in' "$clog" | tail -n1 || true)"
  # "% N messages (B bytes) consumed in T ms: X msgs/s (Y MB/s)"
  if ((rc != 0)) || [[ -z "$line" ]]; then
    fail "$mode $size B: consume run failed (exit $rc$( ((rc == 124)) && echo ", timed out after ${t}s")): $(tail -n 5 "$clog" | tr '\n' ' ')"
  else
    local got
    got="$(sed -E 's/^% ([0-9]+) messages .*/\1/' <<<"$line")"
    R[$mode/$size/c_msgs]="$(sed -E 's/.*ms: ([0-9]+) msgs\/s .*/\1/' <<<"$line")"
    R[$mode/$size/c_mb]="$(sed -E 's/.*\(([0-9.]+) MB\/s\).*/\1/' <<<"$line")"
    if [[ -n "${R[$mode/$size/p_fail]:-}" ]]; then
      : # the count is meaningless after a failed produce run
    elif ((got != n)); then
      fail "$mode $size B: consumed $got of $n messages: $line"
    fi
    grep -q 'Consume error' "$clog" && fail "$mode $size B: consumer reported errors: $(grep 'Consume error' "$clog" | head -n 3 | tr '\n' ' ')"
    log "$mode $size B: consumed $got: ${R[$mode/$size/c_msgs]} msgs/s, ${R[$mode/$size/c_mb]} MB/s"
  fi
  R[$mode/$size/rss_c]="$(rss_mib "$BROKER_PID")"

  # ---- latency probe: a steady, unsaturated acks=all producer
  if ((BENCH_LAT_MSGS > 0)); then
    local llog="$SCRATCH/latprobe-$mode-$size.log" llat="$SCRATCH/latprobe-$mode-$size.txt"
    log "$mode $size B: latency probe, $BENCH_LAT_MSGS messages at $BENCH_LAT_RATE msgs/s, linger.ms=0"
    rc=0
    run_perf "$llog" "$(awk -v n="$BENCH_LAT_MSGS" -v r="$BENCH_LAT_RATE" 'BEGIN { printf "%d", 120 + n / r }')" \
      -P -t "$topic" -p 0 -b "$BOOT" -s "$size" -c "$BENCH_LAT_MSGS" -r "$BENCH_LAT_RATE" -a -1 -l -A "$llat" -X linger.ms=0 || rc=$?
    if ((rc != 0)); then
      fail "$mode $size B: latency probe failed (exit $rc): $(grep -v '^|' "$llog" | tail -n 5 | tr '\n' ' ')"
    else
      read -r "R[$mode/$size/l50]" "R[$mode/$size/l99]" "R[$mode/$size/lmax]" _ < <(percentiles "$llat") || true
      log "$mode $size B: probe latency p50 ${R[$mode/$size/l50]} ms p99 ${R[$mode/$size/l99]} ms max ${R[$mode/$size/lmax]} ms"
    fi
  else
    R[$mode/$size/l50]=skipped
    R[$mode/$size/l99]=""
  fi
  rm -f "$lat" "${llat:-}" 2>/dev/null || true
}

# ---------------------------------------------------------------------------- run
for mode in $BENCH_MODES; do
  start_broker "$mode"
  R[$mode/rss_start]="$(rss_mib "$BROKER_PID")"
  caching=false
  [[ "$mode" == cached ]] && caching=true
  topics=()
  for size in $BENCH_SIZES; do topics+=("bench-$mode-$size"); done
  R[$mode/topics]="auto-created (Metadata)"
  if [[ -n "$ADMIN_PY" ]]; then
    if out="$(create_topics "$BOOT" "$caching" "${topics[@]}" 2>&1)"; then
      log "$out"
      R[$mode/topics]="CreateTopics write.caching=$caching"
    else
      fail "$mode: CreateTopics/DescribeConfigs via confluent-kafka failed, falling back to auto-creation: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
    fi
  fi
  for size in $BENCH_SIZES; do
    bench_size "$mode" "$size"
  done
  stop_broker "$mode"
done

# ---------------------------------------------------------------------------- report
pct() { # value reference -> "NN%" or "-"
  awk -v v="$1" -v r="$2" 'BEGIN { if (v == "" || v == "?" || r == "" || r == 0) print "-"; else printf "%.0f%%", 100 * v / r }'
}
v() { printf '%s' "${R[$1]:-?}"; }

echo
echo "=============================================================================================="
echo " Weir benchmark  $(date -u '+%Y-%m-%d %H:%M:%SZ')  $(uname -r)  $(nproc) cores"
if GIT_REV="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"; then
  git -C "$REPO" diff --quiet HEAD 2>/dev/null || GIT_REV="$GIT_REV + uncommitted changes"
else
  GIT_REV="no commit yet"
fi
echo " broker: $WEIR_BIN ($GIT_REV)"
echo " client: rdkafka_performance, $PERF_VERSION; acks=all, linger.ms=$BENCH_LINGER_MS, 1 partition, librdkafka defaults otherwise${BENCH_PRODUCER_OPTS:+; producer $BENCH_PRODUCER_OPTS}${BENCH_CONSUMER_OPTS:+; consumer $BENCH_CONSUMER_OPTS}"
LOAD_END="$(loadavg)"
echo " BENCH_SCALE=$BENCH_SCALE; scratch on $(df -P "$SCRATCH" | awk 'NR == 2 { print $1 }'); 1-min load average $LOAD_START at start, $LOAD_END at end"
if awk -v a="$LOAD_START" -v b="$LOAD_END" -v n="$(nproc)" 'BEGIN { exit !((a + 0 > n * 0.5) || (b + 0 > n + 1)) }'; then
  echo " WARNING: other processes were busy on this machine; throughput and latency figures are noisy"
fi
echo "=============================================================================================="
echo
echo "Reference figures (MB = 10^6 bytes)       measured now    ENVIRONMENT.md"
printf '  disk sequential write (dd %4d MiB)   %8s MB/s   %8s MB/s\n' "$BENCH_DD_MB" "$DISK_SEQ" "$REF_DISK_SEQ"
printf '  1 MiB O_DSYNC writes                  %8s MB/s   %8s MB/s\n' "$DISK_DSYNC" "$REF_DSYNC_1M"
printf '  one 4 KiB O_DSYNC write               %8s ms     %8s ms\n' "$DISK_DSYNC4K_MS" "$REF_DSYNC_4K_MS"
printf '  loopback TCP (iperf3)                 %8s MB/s   %8s MB/s%s\n' "${LOOPBACK:-n/a}" "$REF_LOOPBACK" "${LOOPBACK_NOTE:+   ($LOOPBACK_NOTE)}"
LOOP_REF="${LOOPBACK:-$REF_LOOPBACK}"
LOOP_REF_NOTE="measured"
[[ -z "$LOOPBACK" ]] && LOOP_REF_NOTE="ENVIRONMENT.md figure"
echo
echo "Produce, acks=all (latency = enqueue -> delivery report per message, from rdkafka_performance -l)"
printf '  %-6s %6s %9s | %10s %9s %8s %8s %8s | %15s %15s | %7s\n' \
  mode size messages msgs/s MB/s "%disk" "%dsync" "log MB/s" "p50/p99 load" "p50/p99 probe" "RSS MiB"
for mode in $BENCH_MODES; do
  for size in $BENCH_SIZES; do
    printf '  %-6s %6s %9s | %10s %9s %8s %8s %8s | %15s %15s | %7s\n' \
      "$mode" "$size" "$(v "$mode/$size/n")" "$(v "$mode/$size/p_msgs")" "$(v "$mode/$size/p_mb")" \
      "$(pct "${R[$mode/$size/p_mb]:-}" "$DISK_SEQ")" "$(pct "${R[$mode/$size/p_mb]:-}" "$DISK_DSYNC")" \
      "$(v "$mode/$size/log_mb")" \
      "$(v "$mode/$size/p50")/$(v "$mode/$size/p99")" "$(v "$mode/$size/l50")${R[$mode/$size/l99]:+/${R[$mode/$size/l99]}}" \
      "$(v "$mode/$size/rss_p")"
  done
done
echo
echo "Consume from offset 0 (page cache), same messages"
printf '  %-6s %6s %9s | %10s %9s %10s | %7s\n' mode size messages msgs/s MB/s "%loopback" "RSS MiB"
for mode in $BENCH_MODES; do
  for size in $BENCH_SIZES; do
    printf '  %-6s %6s %9s | %10s %9s %10s | %7s\n' \
      "$mode" "$size" "$(v "$mode/$size/n")" "$(v "$mode/$size/c_msgs")" "$(v "$mode/$size/c_mb")" \
      "$(pct "${R[$mode/$size/c_mb]:-}" "$LOOP_REF")" "$(v "$mode/$size/rss_c")"
  done
done
echo
echo "Broker"
for mode in $BENCH_MODES; do
  printf '  %-6s topics %s; RSS at start %s MiB, peak %s MiB; %s; WARN/ERROR log lines: %s\n' \
    "$mode" "$(v "$mode/topics")" "$(v "$mode/rss_start")" "$(v "$mode/hwm")" "$(v "$mode/exit")" "$(v "$mode/logprobs")"
done
echo
echo "Notes: MB/s counts message payload bytes only; 'log MB/s' is the broker's data directory size"
echo "after the produce run divided by its duration. %disk and %dsync compare produce MB/s with the"
echo "sequential and 1 MiB O_DSYNC references, %loopback compares consume MB/s with the $LOOP_REF_NOTE"
echo "loopback figure. 'load' latencies come from the saturating throughput run (they include time"
echo "queued in the client); 'probe' latencies from $BENCH_LAT_MSGS messages at $BENCH_LAT_RATE msgs/s with linger.ms=0."
if ((${#FAILURES[@]})); then
  echo
  echo "FAILURES (${#FAILURES[@]}):"
  for f in "${FAILURES[@]}"; do echo "  - $f"; done
  exit 1
fi
