#!/usr/bin/env bash
# Install with certificates from cert-manager and check that they arrived:
# the serving Certificate is Ready and cainjector filled the webhook's caBundle.
#
# Usage: certs-scripts/cert-manager.sh [--overlay webhook-config/overlays/cert-manager] [--timeout 120s]
set -euo pipefail
# shellcheck source=certs-scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

overlay=$REPO_ROOT/webhook-config/overlays/cert-manager
timeout=120s
while (($#)); do
  case $1 in
    --overlay) overlay=${2:?}; shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    -h|--help) usage "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
KUBECTL=${KUBECTL:-kubectl}

"$KUBECTL" get crd certificates.cert-manager.io issuers.cert-manager.io >/dev/null 2>&1 \
  || die "cert-manager is not installed (no certificates.cert-manager.io CRD); see https://cert-manager.io/docs/installation/"

"$KUBECTL" apply --server-side -k "$overlay"
"$KUBECTL" -n keda-carbon wait --for=condition=Ready certificate/keda-carbon-ca certificate/keda-carbon-serving --timeout="$timeout"

deadline=$((SECONDS + ${timeout%s}))
until [[ -n $("$KUBECTL" get mutatingwebhookconfiguration keda-carbon -o jsonpath='{.webhooks[0].clientConfig.caBundle}') ]]; do
  ((SECONDS < deadline)) || die "cainjector did not fill the caBundle of MutatingWebhookConfiguration keda-carbon; check the cert-manager-cainjector logs"
  sleep 2
done
note "certificate ready and caBundle injected"
"$KUBECTL" -n keda-carbon rollout status deployment/keda-carbon --timeout="$timeout"
