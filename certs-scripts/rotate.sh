#!/usr/bin/env bash
# Rotate the self-managed certificate of a running installation without dropping admission:
#   1. make a new CA and certificate,
#   2. trust old and new CA at once (caBundle holds both),
#   3. replace the Secret (the pods reload it in place, no restart),
#   4. wait until the kubelet has synced the Secret volume, then trust only the new CA.
#
# Usage: certs-scripts/rotate.sh [--service keda-carbon] [--namespace keda-carbon]
#                                [--secret keda-carbon-tls] [--webhook keda-carbon] [--wait 120]
# Needs kubectl with rights to patch the MutatingWebhookConfiguration and apply the Secret.
set -euo pipefail
# shellcheck source=certs-scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

service=keda-carbon
namespace=keda-carbon
secret=keda-carbon-tls
webhook=keda-carbon
wait_s=120
while (($#)); do
  case $1 in
    --service) service=${2:?}; shift 2 ;;
    --namespace) namespace=${2:?}; shift 2 ;;
    --secret) secret=${2:?}; shift 2 ;;
    --webhook) webhook=${2:?}; shift 2 ;;
    --wait) wait_s=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
valid_name "$service" && valid_name "$namespace" || die "invalid --service or --namespace"
[[ $wait_s =~ ^[0-9]+$ ]] || die "--wait must be a number of seconds"
KUBECTL=${KUBECTL:-kubectl}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

old_bundle=$("$KUBECTL" get mutatingwebhookconfiguration "$webhook" -o jsonpath='{.webhooks[0].clientConfig.caBundle}') \
  || die "cannot read MutatingWebhookConfiguration $webhook"
new_bundle=$(keda_carbon certs --service "$service" --namespace "$namespace" --out-dir "$work/tls")

patch_bundle() { # patch_bundle BASE64 : set caBundle on every webhook of the configuration
  local n ops="" i
  n=$("$KUBECTL" get mutatingwebhookconfiguration "$webhook" -o jsonpath='{range .webhooks[*]}x{end}')
  for ((i = 0; i < ${#n}; i++)); do
    ops+="${ops:+,}{\"op\":\"add\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$1\"}"
  done
  "$KUBECTL" patch mutatingwebhookconfiguration "$webhook" --type=json -p "[$ops]" >/dev/null
}

if [[ -n $old_bundle ]]; then
  both=$( { base64 -d <<<"$old_bundle"; cat "$work/tls/ca.crt"; } | base64 | tr -d '\n')
  patch_bundle "$both"
  note "caBundle trusts the old and the new CA"
fi

"$KUBECTL" create secret tls "$secret" -n "$namespace" \
  --cert="$work/tls/tls.crt" --key="$work/tls/tls.key" --dry-run=client -o json \
  | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const o=JSON.parse(s);o.data["ca.crt"]=process.argv[1];process.stdout.write(JSON.stringify(o))})' \
    "$(base64 <"$work/tls/ca.crt" | tr -d '\n')" \
  | "$KUBECTL" apply --server-side --force-conflicts --field-manager=keda-carbon-certs -f - >/dev/null
note "Secret $namespace/$secret replaced; waiting ${wait_s}s for the kubelet to sync it into the pods"
sleep "$wait_s"

patch_bundle "$new_bundle"
note "caBundle now trusts only the new CA"
