#!/usr/bin/env bash
# Rotate the self-managed certificate of a running installation without dropping admission:
#   1. make a new CA and certificate,
#   2. trust old and new CA at once (caBundle holds both),
#   3. replace the Secret (the pods reload it in place, no restart),
#   4. wait until every pod has the new certificate, check that the API server still calls the
#      webhook (a server-side dry-run create of a ScaledObject with an inline policy must come
#      back capped), then trust only the new CA.
# The new certificate carries every name of the current one (read from the Secret), so extra
# names given to self-managed.sh (--ip-address, --dns-name) survive; more can be added here.
# If the API server cannot call the webhook, before or after the switch, the script stops
# with an error and leaves the old CA trusted.
# With the self-managed overlay (the default when it holds tls/), every step is written into
# the overlay and applied from it with server-side apply, as `kubectl apply --server-side -k`
# does: afterwards the overlay holds what the cluster holds and the next `apply -k` changes
# nothing. --apply-dir names the kustomization you apply, when yours includes the overlay.
# Without an overlay (`--overlay none`), the caBundle is patched and the Secret applied directly.
#
# Usage: certs-scripts/rotate.sh [--service keda-carbon] [--namespace keda-carbon]
#                                [--secret keda-carbon-tls] [--webhook keda-carbon] [--wait 180]
#                                [--overlay webhook-config/overlays/self-managed|none]
#                                [--apply-dir DIR] [--validity-days 365]
#                                [--ip-address IP]... [--dns-name NAME]... [--check-namespace default]
# Needs kubectl with rights to apply the MutatingWebhookConfiguration and the Secret, to read
# the Secret, to exec into the webhook's pods (to see the new certificate arrive) and to
# create ScaledObjects (dry run only, nothing is stored) in --check-namespace, a namespace
# the webhook is called for.
set -euo pipefail
# shellcheck source=certs-scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

service=keda-carbon
namespace=keda-carbon
secret=keda-carbon-tls
webhook=keda-carbon
wait_s=180
overlay=$REPO_ROOT/webhook-config/overlays/self-managed
apply_dir=
days=365
extra=()
check_ns=default
while (($#)); do
  case $1 in
    --service) service=${2:?}; shift 2 ;;
    --namespace) namespace=${2:?}; shift 2 ;;
    --secret) secret=${2:?}; shift 2 ;;
    --webhook) webhook=${2:?}; shift 2 ;;
    --wait) wait_s=${2:?}; shift 2 ;;
    --overlay) overlay=${2:?}; shift 2 ;;
    --apply-dir) apply_dir=${2:?}; shift 2 ;;
    --validity-days) days=${2:?}; shift 2 ;;
    --ip-address|--dns-name) extra+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --check-namespace) check_ns=${2:?}; shift 2 ;;
    -h|--help) usage "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
if ! valid_name "$service" || ! valid_name "$namespace"; then die "invalid --service or --namespace"; fi
valid_name "$check_ns" || die "invalid --check-namespace"
[[ $wait_s =~ ^[0-9]+$ ]] || die "--wait must be a number of seconds"
KUBECTL=${KUBECTL:-kubectl}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[[ $overlay == none || -f $overlay/tls/tls.crt ]] || overlay=none
apply_dir=${apply_dir:-$overlay}

old_bundle=$("$KUBECTL" get mutatingwebhookconfiguration "$webhook" -o jsonpath='{.webhooks[0].clientConfig.caBundle}') \
  || die "cannot read MutatingWebhookConfiguration $webhook"
# names_of PEM_FILE : the current certificate's names beyond the Service's own four, as
# --dns-name/--ip-address arguments, one per line
names_of() {
  # shellcheck disable=SC2016 # JavaScript, not shell: nothing in it is for bash to expand
  node -e '
    const { X509Certificate } = require("crypto");
    const [file, ...own] = process.argv.slice(1);
    const san = new X509Certificate(require("fs").readFileSync(file)).subjectAltName ?? "";
    for (const entry of san.split(", ").filter(Boolean)) {
      const at = entry.indexOf(":");
      const [type, value] = [entry.slice(0, at), entry.slice(at + 1)];
      if (type === "DNS" && !own.includes(value)) console.log(`--dns-name\n${value}`);
      else if (type === "IP Address") console.log(`--ip-address\n${value}`);
      else if (type !== "DNS") { console.error(`a name of a kind keda-carbon certs cannot make: ${entry}`); process.exit(1); }
    }' "$1" "$service" "$service.$namespace" "$service.$namespace.svc" "$service.$namespace.svc.cluster.local"
}

# webhook_called : a server-side dry run of a ScaledObject whose inline policy caps it at 1
# comes back capped, so the API server called the webhook and trusted its certificate
# (failurePolicy Ignore would otherwise let it through unchanged). Nothing is stored.
webhook_called() {
  local max
  max=$("$KUBECTL" create --dry-run=server -o 'jsonpath={.spec.maxReplicaCount}' -f - 2>"$work/probe.err" <<PROBE
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  generateName: keda-carbon-rotate-probe-
  namespace: $check_ns
  annotations:
    keda-carbon.io/environmental-impact: '{"carbon":[{"measuredEmission":0,"allowedMaxReplicaCount":1}]}'
spec:
  scaleTargetRef: {name: keda-carbon-rotate-probe}
  maxReplicaCount: 10
  triggers: [{type: cpu, metricType: Utilization, metadata: {value: "60"}}]
PROBE
  ) && [[ $max == 1 ]]
}

# until_webhook_called SECONDS : webhook_called, tried every 2 s for up to SECONDS
until_webhook_called() {
  local deadline=$((SECONDS + $1))
  until webhook_called; do
    ((SECONDS < deadline)) || return 1
    sleep 2
  done
}

"$KUBECTL" get secret "$secret" -n "$namespace" -o 'jsonpath={.data.tls\.crt}' | base64 -d >"$work/current.crt" \
  || die "cannot read the certificate of Secret $namespace/$secret"
names=$(names_of "$work/current.crt") || die "cannot read the names of the current certificate in Secret $namespace/$secret"
mapfile -t kept <<<"$names"
[[ -n $names ]] || kept=()
((${#kept[@]} == 0)) || note "the new certificate keeps the current one's names: ${kept[*]}"

until_webhook_called 10 || die "the API server does not call the webhook even before the rotation (a dry-run ScaledObject in $check_ns came back uncapped: $(tr '\n' ' ' <"$work/probe.err")); nothing was changed. Is --check-namespace one the webhook is called for?"

new_bundle=$(keda_carbon certs --service "$service" --namespace "$namespace" --out-dir "$work/tls" --validity-days "$days" "${kept[@]}" "${extra[@]}")

# apply_rendered KIND NAME : server-side apply one object of the kustomization, with kubectl's
# own field manager, so the fields stay owned by whoever runs `kubectl apply --server-side -k`
apply_rendered() {
  "$KUBECTL" kustomize "$apply_dir" >"$work/rendered.yaml" || die "kubectl kustomize $apply_dir failed"
  # shellcheck disable=SC2016 # JavaScript, not shell: nothing in it is for bash to expand
  node -e '
    const fs = require("fs");
    const [file, kind, name] = process.argv.slice(1);
    const docs = fs.readFileSync(file, "utf8").split(/^---$/m);
    const hit = docs.filter((d) => new RegExp(`^kind: ${kind}$`, "m").test(d) && new RegExp(`^  name: ${name}$`, "m").test(d));
    if (hit.length !== 1) { console.error(`${kind} ${name}: found ${hit.length} in the kustomization`); process.exit(1); }
    process.stdout.write(hit[0]);' "$work/rendered.yaml" "$1" "$2" >"$work/one.yaml" || die "cannot find $1 $2 in $apply_dir"
  "$KUBECTL" apply --server-side -f "$work/one.yaml" >/dev/null
}

write_bundle_patch() { # write_bundle_patch BASE64
  (umask 077; cat >"$overlay/ca-bundle.patch.yaml" <<PATCH
# generated by certs-scripts/rotate.sh: the CA that signed tls/tls.crt
- op: add
  path: /webhooks/0/clientConfig/caBundle
  value: $1
PATCH
  )
}

patch_bundle() { # patch_bundle BASE64 : set caBundle on every webhook of the configuration
  if [[ $overlay != none ]]; then
    write_bundle_patch "$1"
    apply_rendered MutatingWebhookConfiguration "$webhook"
    return
  fi
  local n ops="" i
  n=$("$KUBECTL" get mutatingwebhookconfiguration "$webhook" -o jsonpath='{range .webhooks[*]}x{end}')
  for ((i = 0; i < ${#n}; i++)); do
    ops+="${ops:+,}{\"op\":\"add\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$1\"}"
  done
  "$KUBECTL" patch mutatingwebhookconfiguration "$webhook" --type=json -p "[$ops]" >/dev/null
}

replace_secret() {
  if [[ $overlay != none ]]; then
    (umask 077; cp "$work/tls/tls.crt" "$work/tls/tls.key" "$work/tls/ca.crt" "$overlay/tls/")
    apply_rendered Secret "$secret"
    return
  fi
  "$KUBECTL" create secret tls "$secret" -n "$namespace" \
    --cert="$work/tls/tls.crt" --key="$work/tls/tls.key" --dry-run=client -o json \
    | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const o=JSON.parse(s);o.data["ca.crt"]=process.argv[1];process.stdout.write(JSON.stringify(o))})' \
      "$(base64 <"$work/tls/ca.crt" | tr -d '\n')" \
    | "$KUBECTL" apply --server-side --force-conflicts --field-manager=keda-carbon-certs -f - >/dev/null
}

# every Running pod of the Service has the new certificate file, and has had time to load it
pods_have_new_cert() {
  local pods pod selector
  # shellcheck disable=SC2016 # a Go template, not shell
  selector=$("$KUBECTL" get service "$service" -n "$namespace" -o go-template='{{range $k, $v := .spec.selector}}{{$k}}={{$v}},{{end}}') || return 1
  pods=$("$KUBECTL" get pods -n "$namespace" -l "${selector%,}" --field-selector=status.phase=Running -o name) || return 1
  [[ -n $pods ]] || return 1
  for pod in $pods; do
    "$KUBECTL" exec -n "$namespace" "$pod" -- cat /etc/keda-carbon/tls/tls.crt 2>/dev/null | cmp -s - "$work/tls/tls.crt" || return 1
  done
}

if [[ -n $old_bundle ]]; then
  both=$( { base64 -d <<<"$old_bundle"; cat "$work/tls/ca.crt"; } | base64 | tr -d '\n')
  patch_bundle "$both"
  note "caBundle trusts the old and the new CA"
fi

replace_secret
note "Secret $namespace/$secret replaced; waiting up to ${wait_s}s for the kubelet to sync it into the pods"
deadline=$((SECONDS + wait_s))
until pods_have_new_cert; do
  ((SECONDS < deadline)) || die "the pods do not have the new certificate after ${wait_s}s; the caBundle still trusts both CAs (run again, or finish by hand)"
  sleep 5
done
# the pods re-read the files on an interval; give them that long to switch
sleep 15

# Both CAs are still trusted, but the old one cannot vouch for the new certificate: a call
# that works now works with the new CA alone.
until_webhook_called 60 || die "the API server no longer calls the webhook with the new certificate (a dry-run ScaledObject in $check_ns came back uncapped: $(tr '\n' ' ' <"$work/probe.err")); the caBundle still trusts both CAs. Compare the names of the new certificate with the address in the webhook's clientConfig"
note "the API server calls the webhook with the new certificate"

patch_bundle "$new_bundle"
note "caBundle now trusts only the new CA"
[[ $overlay == none ]] || note "$overlay holds the new certificate and caBundle: keep it (it is what the cluster holds)"
