#!/usr/bin/env bash
# The webhook as an image on a real node: start a throwaway control plane and one node beside
# it, assemble the base image, build the project's image from its Dockerfile with buildah,
# load it into the node, run COMMAND, and tear everything down on exit, pass or fail.
#
#   .ci/node.sh [COMMAND ARGS...]     default: npx tap --disable-coverage --jobs=1 test/node
#
# Needs root (the node changes host networking and cgroups). Installs the Debian packages it
# lacks. The control plane scripts come from ${KEDA_CARBON_K8S_DIR:-../shared/k8s} (relative to
# the repo root). Only one node may run on a host. COMMAND gets KEDA_CARBON_NODE_KUBECONFIG,
# KEDA_CARBON_NODE_IMAGE (the release's image, loaded into the node's containerd),
# KEDA_CARBON_RELEASE_DIR (what npm run release wrote), KUBECONFIG, K8S_HOME and the K8S_* ports.
# The test files run one at a time: both installs own cluster-wide objects of the same names. Timings of each step go to stderr.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
k8s_dir=${KEDA_CARBON_K8S_DIR:-../shared/k8s}
case $k8s_dir in /*) ;; *) k8s_dir=$root/$k8s_dir ;; esac
started=$(date +%s)

say() { echo "node.sh [$(($(date +%s) - started))s] $*" >&2; }
fail() { say "ERROR: $*"; exit 2; }

[[ $(id -u) == 0 ]] || fail "must run as root (the node needs it)"
[[ -f $k8s_dir/node-up.sh ]] || fail "no node scripts at $k8s_dir (set KEDA_CARBON_K8S_DIR)"

need=()
for pair in containerd:containerd runc:runc iptables:iptables conntrack:conntrack socat:socat buildah:buildah debootstrap:debootstrap \
  /usr/lib/cni/bridge:containernetworking-plugins gcc:gcc xz:xz-utils; do
  cmd=${pair%%:*}
  if [[ $cmd == /* ]]; then [[ -e $cmd ]] || need+=("${pair#*:}"); else command -v "$cmd" >/dev/null || need+=("${pair#*:}"); fi
done
if ((${#need[@]})); then
  say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2 || fail "apt-get install failed"
fi

K8S_HOME=$(mktemp -d "${TMPDIR:-/tmp}/keda-carbon-node.XXXXXX") || fail "no temporary directory"
export K8S_HOME
hosts_mark='# keda-carbon node test'

stop() {
  local status=$?
  say "tearing down"
  bash "$k8s_dir/node-down.sh" --purge >/dev/null 2>&1 || say "node-down.sh failed"
  bash "$k8s_dir/down.sh" --purge >/dev/null 2>&1 || say "down.sh failed"
  # lines the tests add for the API server to reach the webhook Service by name
  if grep -q "$hosts_mark" /etc/hosts 2>/dev/null; then
    grep -v "$hosts_mark" /etc/hosts >"$K8S_HOME/hosts" && cat "$K8S_HOME/hosts" >/etc/hosts
  fi
  rm -rf "$K8S_HOME"
  say "done (exit $status)"
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

ports=$(node -e '
  const net = require("net");
  const servers = Array.from({ length: 11 }, () => net.createServer());
  Promise.all(servers.map((s) => new Promise((r) => s.listen(0, "127.0.0.1", () => r(s.address().port)))))
    .then((p) => { console.log(p.join(" ")); servers.forEach((s) => s.close()); });
') || fail "no free ports"
read -r K8S_API_PORT K8S_CRD_PORT K8S_ETCD_PORT K8S_ETCD_PEER_PORT K8S_KUBELET_PORT K8S_KUBELET_HEALTHZ_PORT \
  K8S_CM_PORT K8S_SCHED_PORT K8S_PROXY_HEALTHZ_PORT K8S_PROXY_METRICS_PORT _ <<<"$ports"
export K8S_API_PORT K8S_CRD_PORT K8S_ETCD_PORT K8S_ETCD_PEER_PORT K8S_KUBELET_PORT K8S_KUBELET_HEALTHZ_PORT \
  K8S_CM_PORT K8S_SCHED_PORT K8S_PROXY_HEALTHZ_PORT K8S_PROXY_METRICS_PORT

say "control plane (API on 127.0.0.1:$K8S_API_PORT)"
kubeconfig=$(bash "$k8s_dir/up.sh" 2>"$K8S_HOME/up.log" | tail -n 1)
[[ -f $kubeconfig ]] || { tail -n 20 "$K8S_HOME/up.log" >&2; fail "the control plane did not start"; }
export KUBECONFIG=$kubeconfig KEDA_CARBON_NODE_KUBECONFIG=$kubeconfig

say "node"
bash "$k8s_dir/node-up.sh" >/dev/null 2>"$K8S_HOME/node-up.log" || { tail -n 20 "$K8S_HOME/node-up.log" >&2; fail "the node did not start"; }
say "base images"
bash "$k8s_dir/base-image.sh" 2>"$K8S_HOME/base-image.log" >&2 || { tail -n 20 "$K8S_HOME/base-image.log" >&2; fail "base-image.sh failed"; }

# The image is the release's (npm run release): the chart, the plain manifest and the image
# archive are built here exactly as a user takes them, and the tests install those.
say "building the release (chart, manifest, image from the Dockerfile)"
bash "$root/.ci/tools.sh" >&2 || fail "tools.sh could not install helm and kubectl"
release_dir=$K8S_HOME/release
bash "$root/.ci/release.sh" --out "$release_dir" >"$K8S_HOME/release.log" 2>&1 \
  || { tail -n 30 "$K8S_HOME/release.log" >&2; fail "the release did not build"; }
image=$(sed -n 's/^image: //p' "$K8S_HOME/release.log")
archive=$(ls "$release_dir"/keda-carbon-image-*.oci.tar)
ctr --address "$K8S_HOME/node/containerd/containerd.sock" -n k8s.io images import "$archive" >/dev/null || fail "ctr import failed"
export KEDA_CARBON_NODE_IMAGE=$image KEDA_CARBON_NODE_HOSTS_MARK=$hosts_mark KEDA_CARBON_RELEASE_DIR=$release_dir
say "ready: image $image loaded into the node"

cd "$root" || exit 2
[[ $# -gt 0 ]] || set -- npx tap --disable-coverage --jobs=1 --timeout=1800 test/node
"$@"
