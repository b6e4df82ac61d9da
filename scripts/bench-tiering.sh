#!/usr/bin/env bash
# Tiering benchmark: upload throughput and remote read throughput (MB/s) of a release `weir`
# against the local-filesystem object store and against SeaweedFS (S3), with librdkafka's
# rdkafka_performance as the client. See scripts/bench_tiering.py for what is measured.
#
# Usage: scripts/bench-tiering.sh
# Environment:
#   BENCH_MB=1000            megabytes produced per store (1 KB messages)
#   BENCH_SEGMENT_MB=64      segment.bytes of the topic, in MB
#   BENCH_STORES=file,s3     which stores to measure
#   BENCH_PAYLOAD=repeated   repeated (rdkafka_performance) or random (incompressible values)
#   BENCH_DIR=$TMPDIR        parent of the scratch directory
#   WEIR_BIN                 use this broker binary instead of building target/release/weir
#   WEIR_CACHE / WEIR_VENV   where rdkafka_performance and the Python venv (SeaweedFS) live
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEIR_CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
export WEIR_VENV="${WEIR_VENV:-$WEIR_CACHE/venv}"

if [[ -z "${WEIR_BIN:-}" ]]; then
  bash "$REPO/scripts/install-build-deps.sh"
  (cd "$REPO" && cargo build --release -j2 --bin weir)
  WEIR_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/weir"
fi
[[ -x "$WEIR_BIN" ]] || { echo "no weir binary at $WEIR_BIN" >&2; exit 1; }
PERF="$("$REPO/scripts/build-rdkafka-perf.sh" | tail -n1)"
if [[ ! -x "$WEIR_VENV/bin/weed" ]]; then
  bash "$REPO/scripts/install-test-deps.sh"
fi
exec "$WEIR_VENV/bin/python" "$REPO/scripts/bench_tiering.py" --weir "$WEIR_BIN" --perf "$PERF" \
  --mb "${BENCH_MB:-1000}" --segment-mb "${BENCH_SEGMENT_MB:-64}" \
  --stores "${BENCH_STORES:-file,s3}" --payload "${BENCH_PAYLOAD:-repeated}" \
  ${BENCH_DIR:+--scratch "$BENCH_DIR"}
