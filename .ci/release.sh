#!/usr/bin/env bash
# A release a user can take, for the version in package.json, written to dist/release/:
#
#   keda-carbon-VERSION.tgz             the Helm chart (helm package of webhook-config/chart)
#   keda-carbon.yaml                    one plain install manifest rendered from that chart
#                                       (kubectl apply -f), namespace keda-carbon, no hooks
#   keda-carbon-image-VERSION.oci.tar   the image built from the Dockerfile, as an OCI archive
#                                       whose reference is the chart's default image
#   SHA256SUMS                          of the three
#
#   .ci/release.sh [--no-image] [--out DIR]
#
# The chart's version and appVersion must equal package.json's version, and the image
# reference in the manifest must be the one the archive carries: a release whose parts
# disagree is refused. The image needs buildah and a local node:22-bookworm-slim (no
# registry is needed when ../shared/k8s/base-image.sh has built one); --no-image skips it.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist/release
image=1
while (($#)); do
  case $1 in
    --no-image) image=0 ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    *) echo "release.sh: unknown option $1 (--no-image, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done

fail() { echo "release.sh: $*" >&2; exit 1; }

bash .ci/tools.sh >/dev/null
helm=$PWD/.tools/bin/helm
version=$(node -p 'require("./package.json").version')
chart=webhook-config/chart
chart_field() { sed -nE "s/^$1:[[:space:]]*\"?([^\"]*)\"?[[:space:]]*$/\1/p" "$chart/Chart.yaml"; }
[[ $(chart_field version) == "$version" ]] || fail "$chart/Chart.yaml version is $(chart_field version), package.json says $version"
[[ $(chart_field appVersion) == "$version" ]] || fail "$chart/Chart.yaml appVersion is $(chart_field appVersion), package.json says $version"

rm -rf "$out"
mkdir -p "$out"
"$helm" lint --strict "$chart" >/dev/null || fail "helm lint --strict $chart failed"
"$helm" package "$chart" --destination "$out" >/dev/null
packaged=$out/keda-carbon-$version.tgz
[[ -f $packaged ]] || fail "helm package did not write $packaged"

# The Namespace first, so `kubectl apply -f keda-carbon.yaml` works on an empty cluster.
{
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: keda-carbon\n'
  "$helm" template keda-carbon "$packaged" --namespace keda-carbon --no-hooks
} >"$out/keda-carbon.yaml"

# the image every Deployment of the manifest runs: one reference, the chart's default
ref=$(sed -nE 's/^[[:space:]]+image:[[:space:]]*"?([^" ]+)"?[[:space:]]*$/\1/p' "$out/keda-carbon.yaml" | sort -u)
[[ $(wc -l <<<"$ref") == 1 && -n $ref ]] || fail "the manifest names more or fewer than one image: $ref"
[[ $ref == *":$version" ]] || fail "the manifest's image $ref is not tagged $version"

if ((image)); then
  command -v buildah >/dev/null || fail "buildah not found (apt-get install buildah), or use --no-image"
  archive=$out/keda-carbon-image-$version.oci.tar
  # npm inside the build trusts the host's CA bundle (a TLS-intercepting proxy may sit between
  # it and the registry); the mount exists only while a RUN step runs, the image is unchanged
  npmrc=$(mktemp)
  trap 'rm -f "$npmrc"' EXIT
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$npmrc"
  buildah bud --layers --target runtime -t "$ref" \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -v "$npmrc:/usr/local/etc/npmrc:ro" . >"$out/image-build.log" 2>&1 ||
    { tail -n 30 "$out/image-build.log" >&2; fail "the image did not build"; }
  rm -f "$out/image-build.log"
  buildah push -q "$ref" "oci-archive:$archive:$ref" >/dev/null || fail "buildah push to $archive failed"
fi

(cd "$out" && sha256sum -- * >SHA256SUMS)
echo "release $version in $out:"
(cd "$out" && ls -1)
echo "image: $ref"
