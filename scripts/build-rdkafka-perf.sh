#!/usr/bin/env bash
# Builds librdkafka's standard load generator, `rdkafka_performance`, from the librdkafka
# source that the `rdkafka-sys` crate bundles (crates.io is reachable here; GitHub is not).
#
#   result: ${WEIR_CACHE:-$HOME/.cache/weir}/bin/rdkafka_performance
#
# Idempotent: if the binary exists and was built from the wanted crate version, nothing
# is done. Nothing of librdkafka ends up in the repository; everything lives in the cache.
#
# Environment:
#   WEIR_CACHE             cache root (default $HOME/.cache/weir)
#   RDKAFKA_SYS_VERSION    rdkafka-sys crate version (default 4.10.0+2.12.1 -> librdkafka 2.12.1)
#   MAKE_JOBS              parallel make jobs (default 2)
set -euo pipefail

WEIR_CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
RDKAFKA_SYS_VERSION="${RDKAFKA_SYS_VERSION:-4.10.0+2.12.1}"
MAKE_JOBS="${MAKE_JOBS:-2}"
SRC_ROOT="$WEIR_CACHE/rdkafka-src"
BIN_DIR="$WEIR_CACHE/bin"
OUT="$BIN_DIR/rdkafka_performance"
MARKER="$BIN_DIR/.rdkafka_performance.version"

log() { printf '[build-rdkafka-perf] %s\n' "$*" >&2; }
die() { printf '[build-rdkafka-perf] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -x "$OUT" && -f "$MARKER" && "$(cat "$MARKER")" == "$RDKAFKA_SYS_VERSION" ]]; then
  log "up to date: $OUT (rdkafka-sys $RDKAFKA_SYS_VERSION)"
  echo "$OUT"
  exit 0
fi

# ---------------------------------------------------------------------------- apt
APT_PACKAGES=(build-essential pkg-config python3 libzstd-dev liblz4-dev libsasl2-dev libssl-dev zlib1g-dev)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  SUDO=
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
  log "apt-get install ${missing[*]}"
  # stdout carries only the binary's path (callers capture it), so apt talks on stderr
  $SUDO apt-get update -qq >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH (needed to fetch rdkafka-sys from crates.io)"

# ---------------------------------------------------------------------------- source
# A throwaway crate whose only purpose is to make cargo download rdkafka-sys.
FETCH_DIR="$SRC_ROOT/fetch"
mkdir -p "$FETCH_DIR/src"
cat >"$FETCH_DIR/Cargo.toml" <<EOF
[package]
name = "weir-rdkafka-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
rdkafka-sys = "=$RDKAFKA_SYS_VERSION"

[workspace]
EOF
echo 'fn main() {}' >"$FETCH_DIR/src/main.rs"
log "cargo fetch rdkafka-sys =$RDKAFKA_SYS_VERSION"
(cd "$FETCH_DIR" && cargo fetch --quiet >&2) || die "cargo fetch of rdkafka-sys =$RDKAFKA_SYS_VERSION failed"

CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
crate_dir=""
for d in "$CARGO_HOME_DIR"/registry/src/*/rdkafka-sys-"$RDKAFKA_SYS_VERSION"; do
  if [[ -f "$d/librdkafka/configure" ]]; then crate_dir="$d"; break; fi
done
[[ -n "$crate_dir" ]] || die "rdkafka-sys-$RDKAFKA_SYS_VERSION/librdkafka not found under $CARGO_HOME_DIR/registry/src"
log "librdkafka source: $crate_dir/librdkafka"

# ---------------------------------------------------------------------------- build
BUILD_DIR="$SRC_ROOT/librdkafka-$RDKAFKA_SYS_VERSION"
rm -rf "$BUILD_DIR"
cp -a "$crate_dir/librdkafka" "$BUILD_DIR"
# The crate ships its files read-only on some setups; configure writes next to them.
chmod -R u+w "$BUILD_DIR"
chmod +x "$BUILD_DIR/configure" "$BUILD_DIR"/mklove/*.sh 2>/dev/null || true
cd "$BUILD_DIR"
log "configure (log: $BUILD_DIR/weir-build.log)"
{
  ./configure --disable-curl
} >"$BUILD_DIR/weir-build.log" 2>&1 || { tail -n 40 "$BUILD_DIR/weir-build.log" >&2; die "librdkafka ./configure failed"; }
log "make -j$MAKE_JOBS -C src lib"
make -j"$MAKE_JOBS" -C src lib >>"$BUILD_DIR/weir-build.log" 2>&1 \
  || { tail -n 40 "$BUILD_DIR/weir-build.log" >&2; die "librdkafka library build failed"; }
log "make -C examples rdkafka_performance"
make -C examples rdkafka_performance >>"$BUILD_DIR/weir-build.log" 2>&1 \
  || { tail -n 40 "$BUILD_DIR/weir-build.log" >&2; die "rdkafka_performance build failed"; }
[[ -x examples/rdkafka_performance ]] || die "examples/rdkafka_performance missing after make"

mkdir -p "$BIN_DIR"
# examples link librdkafka statically (librdkafka.a), so the binary is self-contained.
cp -f examples/rdkafka_performance "$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"
printf '%s' "$RDKAFKA_SYS_VERSION" >"$MARKER"
# `-h` is not a real option: it prints the usage (with the librdkafka version) and exits 1.
usage="$("$OUT" -h 2>&1 || true)"
version="$(grep -o 'librdkafka version [^ ]*' <<<"$usage" | head -n1 || true)"
[[ -n "$version" ]] || die "$OUT does not run: $usage"
log "built $OUT ($version)"
echo "$OUT"
