#!/usr/bin/env bash
# THE test command: installs test dependencies, builds, checks formatting and lints, runs the
# Rust tests, then the compatibility suite (real clients against the real `weir` binary).
#
#   bash scripts/test.sh [extra pytest args, e.g. -k kcat]
#
# Honours CARGO_TARGET_DIR (default ./target), WEIR_VENV, WEIR_JARS.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

WEIR_CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
export WEIR_VENV="${WEIR_VENV:-$WEIR_CACHE/venv}"
export WEIR_JARS="${WEIR_JARS:-$WEIR_CACHE/jars}"

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing test dependencies"
bash scripts/install-test-deps.sh

# Build every target (tests included) so `cargo test` reuses these units: building only the
# binaries resolves features without the dev-dependencies, which rebuilds RocksDB (minutes).
step "cargo build"
cargo build -j2 --workspace --all-targets

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy -j2 --workspace --all-targets -- -D warnings

step "cargo test"
cargo test -j2 --workspace

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
export WEIR_BIN="${WEIR_BIN:-$TARGET_DIR/debug/weir}"
[[ -x "$WEIR_BIN" ]] || { echo "weir binary not found at $WEIR_BIN" >&2; exit 1; }

step "compat-tests (pytest, weir=$WEIR_BIN)"
cd compat-tests
"$WEIR_VENV/bin/python" -m pytest -v --timeout=300 -rfE "$@"
