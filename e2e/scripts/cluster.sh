#!/usr/bin/env bash
# Runs a test cluster in the foreground for manual use; Ctrl-C tears it down.
#   e2e/scripts/cluster.sh [DIR] [NODES]
# Then: export KUBECONFIG=DIR/pki/admin.kubeconfig; BIN/kubectl get nodes
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$(mktemp -d /tmp/runnel-cluster.XXXXXX)}
nodes=${2:-2}
bin=$("$here/build-kube.sh")
echo "binaries: $bin" >&2
exec "$bin/runnel-kube" cluster --dir "$dir" --nodes "$nodes" \
  --image "runnel-e2e/httpd:dev=$bin/runnel-kube httpd"
