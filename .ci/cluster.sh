#!/usr/bin/env bash
# A throwaway Kubernetes control plane (etcd, kube-apiserver, the KEDA CRDs) on loopback
# for the end-to-end suite, stopped again when the shell exits, pass or fail.
#
#   source .ci/cluster.sh              start it; the caller's shell gets the variables
#                                      below and an EXIT trap that stops it (.ci/run does this)
#   .ci/cluster.sh [COMMAND ARGS...]   start it, run COMMAND (default: npm run test:e2e),
#                                      stop it; exit with COMMAND's status (2: no cluster)
#
# The scripts come from ${KEDA_CARBON_K8S_DIR:-../shared/k8s} (relative to the repo root):
# its up.sh and down.sh. Each run gets its own state directory and four free ports, so
# parallel runs do not collide. Exported: KEDA_CARBON_E2E_KUBECONFIG (what the e2e suite
# reads; it never falls back to KUBECONFIG), KUBECONFIG (for kubectl), K8S_HOME and the
# K8S_*_PORT variables. If the control plane cannot start, KEDA_CARBON_E2E_KUBECONFIG names
# a file that does not exist, so the e2e suite fails loudly instead of skipping.

_kc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_kc_k8s_dir=${KEDA_CARBON_K8S_DIR:-../shared/k8s}
case $_kc_k8s_dir in /*) ;; *) _kc_k8s_dir=$_kc_root/$_kc_k8s_dir ;; esac

_kc_cluster_stop() {
  if [[ -n ${K8S_HOME:-} && -d $K8S_HOME ]]; then
    bash "$_kc_k8s_dir/down.sh" --purge >/dev/null 2>&1 || true
    rm -rf "$K8S_HOME"
  fi
}

# 0 when the control plane is up and the variables are exported.
_kc_cluster_start() {
  if [[ ! -f $_kc_k8s_dir/up.sh ]]; then
    echo "cluster.sh: no control plane scripts at $_kc_k8s_dir (set KEDA_CARBON_K8S_DIR)" >&2
    return 2
  fi
  K8S_HOME=$(mktemp -d "${TMPDIR:-/tmp}/keda-carbon-k8s.XXXXXX") || return 2
  export K8S_HOME
  local ports
  ports=$(node -e '
    const net = require("net");
    const servers = [0, 1, 2, 3].map(() => net.createServer());
    Promise.all(servers.map((s) => new Promise((r) => s.listen(0, "127.0.0.1", () => r(s.address().port)))))
      .then((p) => { console.log(p.join(" ")); servers.forEach((s) => s.close()); });
  ') || return 2
  read -r K8S_API_PORT K8S_CRD_PORT K8S_ETCD_PORT K8S_ETCD_PEER_PORT <<<"$ports"
  export K8S_API_PORT K8S_CRD_PORT K8S_ETCD_PORT K8S_ETCD_PEER_PORT
  echo "cluster.sh: starting the control plane (API on 127.0.0.1:$K8S_API_PORT)" >&2
  local kubeconfig
  if ! kubeconfig=$(bash "$_kc_k8s_dir/up.sh") || [[ ! -f $kubeconfig ]]; then
    echo "cluster.sh: the control plane did not start" >&2
    export KEDA_CARBON_E2E_KUBECONFIG=$K8S_HOME/kubeconfig.control-plane-did-not-start
    return 2
  fi
  export KEDA_CARBON_E2E_KUBECONFIG=$kubeconfig KUBECONFIG=$kubeconfig
  echo "cluster.sh: control plane up; KEDA_CARBON_E2E_KUBECONFIG=$kubeconfig" >&2
}

if (return 0 2>/dev/null); then
  # sourced: leave the caller's shell options alone; stop the cluster when it exits
  trap _kc_cluster_stop EXIT
  _kc_cluster_start || true
else
  set -uo pipefail
  trap _kc_cluster_stop EXIT
  trap 'exit 130' INT TERM
  [[ $# -gt 0 ]] || set -- npm run test:e2e
  _kc_cluster_start || exit 2
  cd "$_kc_root" || exit 2
  "$@"
  exit $?
fi
