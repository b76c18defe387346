#!/usr/bin/env bash
# A real S3-compatible server for end-to-end tests: versitygw (Apache-2.0) with its posix
# backend, built from its Go module and run in the foreground on 127.0.0.1.
#
#   s3.sh install                          build the server once into the cache
#   s3.sh run DIR PORT ACCESS_KEY SECRET   serve DIR on 127.0.0.1:PORT (exec, foreground)
#   s3.sh bin                              print the server binary's path
set -euo pipefail

VERSION="${VERSITYGW_VERSION:-v1.8.0}"
CACHE="${RUNNEL_CACHE:-$HOME/.cache/runnel}"
HOME_DIR="$CACHE/s3-$VERSION"
BIN="$HOME_DIR/bin/versitygw"

die() { echo "s3.sh: $*" >&2; exit 1; }

# Installs Debian packages, only for tools that are missing.
need() {
  local tool=$1 pkg=${2:-$1}
  command -v "$tool" >/dev/null 2>&1 && return 0
  echo "s3.sh: installing $pkg (no $tool on PATH)" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2
  fi
}

# Minor version of the go on PATH (go1.26.8 -> 26), 0 if unknown.
go_minor() {
  go env GOVERSION 2>/dev/null | sed -nE 's/^go1\.([0-9]+).*/\1/p' | grep . || echo 0
}

install() {
  [ -x "$BIN" ] && return 0
  need go golang-go
  # The module needs Go 1.25. An older go (1.21+) fetches a newer toolchain through the Go
  # module proxy with GOTOOLCHAIN=auto (distro packages often default to "local").
  local minor toolchain=${GOTOOLCHAIN:-}
  minor=$(go_minor)
  [ "$minor" -ge 21 ] || die "Go $(go env GOVERSION 2>/dev/null) is too old; install Go >= 1.21"
  [ "$minor" -ge 25 ] || toolchain=auto
  mkdir -p "$HOME_DIR/bin"
  # One build at a time (tests may start several servers at once); the lock is held by a
  # subshell so it is never inherited by a server.
  (
    flock 9
    [ -x "$BIN" ] && exit 0
    # Build into a temp folder and rename, so an interrupted build never looks installed.
    tmp=$(mktemp -d "$HOME_DIR/build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    GOBIN="$tmp" GOFLAGS="${GOFLAGS:--buildvcs=false}" GOTOOLCHAIN="$toolchain" CGO_ENABLED=0 \
      go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
    mv "$tmp/versitygw" "$BIN"
  ) 9>"$HOME_DIR/.lock"
}

run() {
  [ $# -eq 4 ] || [ $# -eq 5 ] || die "usage: s3.sh run DIR PORT ACCESS_KEY SECRET_KEY [HOST]"
  local dir=$1 port=$2 access=$3 secret=$4 host=${5:-127.0.0.1}
  [ -x "$BIN" ] || install
  # Buckets live in DIR/data. Object metadata goes to a sidecar folder rather than xattrs, so
  # any filesystem works (tmpfs and overlayfs may lack user xattrs); versions get their own
  # folder so that they never show up as buckets. The root account is the only user.
  mkdir -p "$dir/data" "$dir/meta" "$dir/versions"
  export ROOT_ACCESS_KEY="$access" ROOT_SECRET_KEY="$secret"
  exec "$BIN" \
    --port "$host:$port" \
    --region us-east-1 \
    posix --sidecar "$dir/meta" --versioning-dir "$dir/versions" "$dir/data"
}

cmd=${1:-}
shift || true
case "$cmd" in
  install) install ;;
  run) run "$@" ;;
  bin) echo "$BIN" ;;
  *) die "usage: s3.sh install | run DIR PORT ACCESS_KEY SECRET_KEY [HOST] | bin" ;;
esac
