#!/usr/bin/env bash
# Builds Helm, once, into ~/.cache/lectern-tests/helm/bin/helm (outside the checkout, so fresh
# clones reuse it), from helm.sh/helm/v4 as pinned in test/helm/go.mod. The chart tests
# (test/unit/helm-chart.test.ts, test/kube/helm-chart.test.ts) run `helm lint` and `helm template` with it.
# Skips the build when the binary is there, reports the pinned version, and was built from the same
# go.mod/go.sum (a stamp file records their hash). Modules come from the Go module proxy.
#
# Usage: bash scripts/deps/helm.sh [--force]
# Environment: HELM_BUILD_P (go build -p, default 2), HELM_BUILD_NICE (default 10),
#              LECTERN_HELM_BIN (output directory, default ~/.cache/lectern-tests/helm/bin).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
MOD="$ROOT/test/helm"
BIN="${LECTERN_HELM_BIN:-${HOME}/.cache/lectern-tests/helm/bin}"
STAMP="$BIN/.stamp"
started=$SECONDS

log() { printf 'helm: %s\n' "$*" >&2; }

force=0
[ "${1:-}" = "--force" ] && force=1

HELM_VERSION=$(awk '$1 == "require" && $2 == "helm.sh/helm/v4" { print $3 }' "$MOD/go.mod")
[ -n "$HELM_VERSION" ] || { log "cannot read the pinned Helm version from $MOD/go.mod"; exit 1; }
command -v go >/dev/null 2>&1 || { log "go is not installed: Helm $HELM_VERSION needs Go >= $(awk '$1 == "go" { print $2 }' "$MOD/go.mod")"; exit 1; }

want_stamp() {
  printf 'helm=%s go=%s mod=%s\n' "$HELM_VERSION" "$(go env GOVERSION)" "$(cat "$MOD/go.mod" "$MOD/go.sum" | sha256sum | cut -c1-16)"
}

# `helm version --template` prints exactly the version stamped in at build time.
version_ok() {
  local out
  out=$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null) || return 1
  [ "$out" = "$HELM_VERSION" ]
}

if [ "$force" -eq 0 ] && [ -x "$BIN/helm" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(want_stamp)" ] && version_ok; then
  log "up to date in $BIN (Helm $HELM_VERSION)"
  exit 0
fi

P=${HELM_BUILD_P:-2}
NICE=${HELM_BUILD_NICE:-10}
mkdir -p "$BIN"
rm -f "$STAMP"

cd "$MOD"
log "downloading modules (Helm $HELM_VERSION)"
go mod download

log "building helm (go build -p $P, nice $NICE)"
t0=$SECONDS
# What Helm's own Makefile stamps in (`helm version` prints it); CGO off: a static binary, no C toolchain.
CGO_ENABLED=0 nice -n "$NICE" go build -p "$P" -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  -o "$BIN/helm" helm.sh/helm/v4/cmd/helm
log "built in $((SECONDS - t0))s"

version_ok || { log "the new helm does not report $HELM_VERSION: '$("$BIN/helm" version 2>&1)'"; exit 1; }
want_stamp > "$STAMP"
log "done in $((SECONDS - started))s: $(du -h "$BIN/helm" | cut -f1) in $BIN/helm"
