#!/usr/bin/env bash
# Builds the test cluster's programs once per source version into the cache and prints the folder
# that holds them:
#   runnel-kube  etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from the
#                Kubernetes Go modules (versions pinned in e2e/kube/go.mod), plus the cluster
#                launcher, the kubelet stand-in and the test HTTP server (e2e/kube/internal)
#   kubectl      a link to runnel-kube (it dispatches on its own name)
#   helm         Helm, from its Go module
set -euo pipefail

E2E=$(cd "$(dirname "$0")/.." && pwd)
CACHE="${RUNNEL_CACHE:-$HOME/.cache/runnel}"
HELM_VERSION=v3.22.0

die() { echo "build-kube.sh: $*" >&2; exit 1; }

# The node agent runs pods with ip (network namespaces), unshare and nsenter.
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
{ command -v unshare && command -v nsenter; } >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-kube.sh: installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
command -v go >/dev/null 2>&1 || die "Go is not installed (Kubernetes 1.37 needs Go >= 1.26)"
minor=$(go env GOVERSION | sed -nE 's/^go1\.([0-9]+).*/\1/p')
if [ "${minor:-0}" -lt 26 ]; then
  # An older go fetches the toolchain named in go.mod through the module proxy.
  export GOTOOLCHAIN=auto
fi

# The cache key covers every input of the build: sources, module pins and the Go version.
key=$(
  cd "$E2E/kube"
  { find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 | sort -z | xargs -0 sha256sum
    go env GOVERSION; } | sha256sum | cut -c1-16
)
OUT="$CACHE/kube-$key"
mkdir -p "$CACHE"
(
  flock 9
  if [ ! -x "$OUT/runnel-kube" ]; then
    echo "build-kube.sh: building runnel-kube into $OUT (a cold build takes several minutes)" >&2
    start=$(date +%s)
    tmp=$(mktemp -d "$CACHE/kube-build.XXXXXX")
    (cd "$E2E/kube" && go build -mod=readonly -ldflags='-s -w' -o "$tmp/runnel-kube" .)
    ln -s runnel-kube "$tmp/kubectl"
    rm -rf "$OUT" && mv "$tmp" "$OUT"
    echo "build-kube.sh: runnel-kube built in $(( $(date +%s) - start ))s" >&2
    # Older builds are superseded (about 270 MB each).
    for old in "$CACHE"/kube-*; do
      case "$old" in "$OUT"|*.lock|*/kube-build.*) ;; *) rm -rf "$old" ;; esac
    done
  fi
  helm_dir="$CACHE/helm-$HELM_VERSION"
  if [ ! -x "$helm_dir/helm" ]; then
    echo "build-kube.sh: building helm $HELM_VERSION" >&2
    start=$(date +%s)
    tmp=$(mktemp -d "$CACHE/helm-build.XXXXXX")
    GOBIN="$tmp" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    rm -rf "$helm_dir" && mv "$tmp" "$helm_dir"
    echo "build-kube.sh: helm built in $(( $(date +%s) - start ))s" >&2
  fi
  ln -sfn "$helm_dir/helm" "$OUT/helm"
) 9>"$CACHE/kube-build.lock"
echo "$OUT"
