#!/usr/bin/env bash
# Copies into files/ what the chart shares with the kustomize components, so the two installs
# render the same objects from one source: the environmental-impact CRDs (rendered from the
# component by kustomize), the PrometheusRule and the Grafana dashboard. Run it after changing
# any of those (npm run gen runs it after generating the CRD schema); test/deploy/chart.test.ts
# fails while a copy differs from its source.
set -euo pipefail
chart=$(cd "$(dirname "$0")" && pwd)
config=$(dirname "$chart")
kubectl=${KUBECTL:-$(dirname "$config")/.tools/bin/kubectl}

mkdir -p "$chart/files/crds"
cp "$config/components/monitoring/prometheusrule.yaml" "$chart/files/prometheusrule.yaml"
cp "$config/components/monitoring/dashboard.json" "$chart/files/dashboard.json"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rendered="$work/crds.yaml"
"$kubectl" kustomize "$config/components/environmental-impact-crd" >"$rendered"
# kustomize prints the CRDs sorted by name, separated by "---"
awk -v dir="$chart/files/crds" '
  /^---$/ { next }
  /^apiVersion:/ && buf != "" { docs[n++] = buf; buf = "" }
  { buf = buf $0 "\n" }
  END { if (buf != "") docs[n++] = buf; for (i = 0; i < n; i++) printf "%s", docs[i] > (dir "/doc" i ".yaml") }
' "$rendered"
for doc in "$chart"/files/crds/doc*.yaml; do
  name=$(sed -n 's/^  name: //p' "$doc" | head -n 1)
  mv "$doc" "$chart/files/crds/$name.yaml"
done
ls "$chart/files/crds"
