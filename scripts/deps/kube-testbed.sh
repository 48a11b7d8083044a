#!/usr/bin/env bash
# Builds the Kubernetes test bed's control plane, once, into ~/.cache/lectern-tests/kube/bin/ (outside the checkout, so CI's fresh clones reuse it):
#   kube-apiserver, kube-controller-manager, kube-scheduler  from k8s.io/kubernetes (pinned in
#                                                             test/kube/controlplane/go.mod)
#   etcd                                                      from go.etcd.io/etcd/server/v3 (same go.mod)
# and makes sure openssl (which test/support/kube.ts uses for the PKI) is installed.
# Skips the build when every binary is there, reports the pinned version, and was built from the
# same go.mod/go.sum (a stamp file records their hash). Modules come from the Go module proxy.
#
# Usage: bash scripts/deps/kube-testbed.sh [--force]
# Environment: KUBE_BUILD_P (go build -p, default 2), KUBE_BUILD_NICE (default 10),
#              LECTERN_KUBE_BIN (output directory, default ~/.cache/lectern-tests/kube/bin).
# See docs/kube-testbed.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
MOD="$ROOT/test/kube/controlplane"
BIN="${LECTERN_KUBE_BIN:-${HOME}/.cache/lectern-tests/kube/bin}"
STAMP="$BIN/.stamp"
started=$SECONDS

log() { printf 'kube-testbed: %s\n' "$*" >&2; }

force=0
[ "${1:-}" = "--force" ] && force=1

# test/support/kube.ts makes the test bed's certificates and keys with openssl.
if ! command -v openssl >/dev/null 2>&1; then
  # shellcheck source=lib/apt.sh
  . "$ROOT/scripts/lib/apt.sh"
  apt_install openssl
fi
command -v go >/dev/null 2>&1 || { log "go is not installed: Kubernetes $(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$MOD/go.mod") needs Go >= 1.26"; exit 1; }

# The pinned versions, read from the module so there is one place to change them.
mod_version() { awk -v m="$1" '$1 == m && $2 ~ /^v/ && $3 != "=>" { print $2; exit }' "$MOD/go.mod"; }
KUBE_VERSION=$(mod_version k8s.io/kubernetes)
ETCD_VERSION=$(mod_version go.etcd.io/etcd/server/v3)
[ -n "$KUBE_VERSION" ] && [ -n "$ETCD_VERSION" ] || { log "cannot read the pinned versions from $MOD/go.mod"; exit 1; }

want_stamp() {
  printf 'kubernetes=%s etcd=%s go=%s mod=%s\n' "$KUBE_VERSION" "$ETCD_VERSION" "$(go env GOVERSION)" \
    "$(cat "$MOD/go.mod" "$MOD/go.sum" | sha256sum | cut -c1-16)"
}

up_to_date() {
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler etcd; do
    [ -x "$BIN/$b" ] || return 1
  done
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(want_stamp)" ] || return 1
  # The binaries themselves must say the pinned version (not, say, a half-finished earlier build).
  versions_ok
}

# (No `cmd | grep -q` here: under pipefail it fails whenever grep's early exit SIGPIPEs cmd.)
versions_ok() {
  local out
  out=$("$BIN/kube-apiserver" --version 2>/dev/null) || return 1
  [ "$out" = "Kubernetes $KUBE_VERSION" ] || return 1
  out=$("$BIN/etcd" --version 2>/dev/null) || return 1
  [[ $'\n'"$out"$'\n' == *$'\n'"etcd Version: ${ETCD_VERSION#v}"$'\n'* ]]
}

if [ "$force" -eq 0 ] && up_to_date; then
  log "up to date in $BIN (Kubernetes $KUBE_VERSION, etcd $ETCD_VERSION)"
  exit 0
fi

P=${KUBE_BUILD_P:-2}
NICE=${KUBE_BUILD_NICE:-10}
mkdir -p "$BIN"
rm -f "$STAMP"

# What Kubernetes' own build (hack/lib/version.sh) stamps into the binaries; `--version` prints it.
minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
major=${KUBE_VERSION#v}; major=${major%%.*}
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

cd "$MOD"
log "downloading modules (Kubernetes $KUBE_VERSION, etcd $ETCD_VERSION)"
go mod download

log "building kube-apiserver, kube-controller-manager, kube-scheduler (go build -p $P, nice $NICE)"
t0=$SECONDS
# CGO off: static binaries, and no C toolchain needed; -trimpath keeps the build cache reusable.
CGO_ENABLED=0 nice -n "$NICE" go build -p "$P" -trimpath -ldflags "$ldflags" -o "$BIN/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler
log "kube-* built in $((SECONDS - t0))s"

log "building etcd"
t0=$SECONDS
CGO_ENABLED=0 nice -n "$NICE" go build -p "$P" -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
log "etcd built in $((SECONDS - t0))s"

versions_ok || {
  log "the new binaries do not report the pinned versions: kube-apiserver '$("$BIN/kube-apiserver" --version 2>&1)'," \
    "etcd '$("$BIN/etcd" --version 2>&1 | head -1)' (want $KUBE_VERSION, $ETCD_VERSION)"
  exit 1
}
want_stamp > "$STAMP"
log "done in $((SECONDS - started))s: $(cd "$BIN" && du -ch kube-apiserver kube-controller-manager kube-scheduler etcd | tail -1 | cut -f1) in $BIN"
