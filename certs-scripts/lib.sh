# Shared helpers for the certs-scripts; sourced, not run.
# shellcheck shell=bash

die() { echo "error: $*" >&2; exit 1; }
note() { echo "==> $*" >&2; }

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The keda-carbon command: KEDA_CARBON_BIN when set (e.g. "docker run --rm IMAGE"), the
# installed binary, or the repository's build.
keda_carbon() {
  if [[ -n ${KEDA_CARBON_BIN:-} ]]; then
    # word splitting is wanted: KEDA_CARBON_BIN may be a command with arguments
    # shellcheck disable=SC2086
    $KEDA_CARBON_BIN "$@"
  elif command -v keda-carbon >/dev/null 2>&1; then
    keda-carbon "$@"
  elif [[ -f $REPO_ROOT/dist/cli/main.js ]]; then
    node "$REPO_ROOT/dist/cli/main.js" "$@"
  else
    die "keda-carbon not found: install it, run 'npm run build', or set KEDA_CARBON_BIN"
  fi
}

# The comment block at the top of a script, without the '#' (what --help prints).
usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$1"; }

valid_name() { [[ $1 =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]]; }
