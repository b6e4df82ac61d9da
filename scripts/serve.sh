#!/usr/bin/env bash
# Runs the broker on its embedded defaults (or with the `weir serve` flags given):
#
#   bash scripts/serve.sh [--data-dir DIR --listen HOST:PORT ...]
#
# The rocksdb crate compiles RocksDB and generates its bindings with libclang, so this first
# installs Debian's clang and libclang-dev when they are missing, then builds and runs a
# release `weir serve`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-build-deps.sh
exec cargo run --release --bin weir -- serve "$@"
