#!/usr/bin/env bash
# Runs every check and test of the repository. Safe on a fresh machine: it installs what is
# missing and reuses a build cache outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runnel/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

need_component() {
  if ! cargo "$1" --version >/dev/null 2>&1; then
    rustup component add "$2"
  fi
}
need_component fmt rustfmt
need_component clippy clippy

echo "== go: gofmt, vet (e2e/kube)"
(
  cd e2e/kube
  unformatted=$(gofmt -l .)
  if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted"; exit 1; fi
  go vet ./...
)
echo "== e2e prerequisites: cluster binaries, Kafka jars, S3 server (cached)"
time_step() { local s; s=$(date +%s); "$@"; echo "   ($(( $(date +%s) - s ))s: $*)"; }
time_step bash -c 'bash e2e/scripts/build-kube.sh >/dev/null'
time_step bash e2e/scripts/kafka.sh install
time_step bash e2e/scripts/s3.sh install

echo "== Debian packages: librocksdb-dev and libclang (the RocksDB state backend, linked, not"
echo "   compiled), chromium (the dashboard's browser test)"
packages=(librocksdb-dev libclang-dev chromium)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi
export ROCKSDB_LIB_DIR="${ROCKSDB_LIB_DIR:-/usr/lib/$(gcc -dumpmachine)}"
features=(--features runnel/rocksdb)

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked "${features[@]}" -- -D warnings
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast "${features[@]}"
