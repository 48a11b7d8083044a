#!/usr/bin/env bash
# Builds the Kubernetes test bed's node, once, into ~/.cache/lectern-tests/kube/bin/ (outside the
# checkout, so CI's fresh clones reuse it), each from its upstream Go module at the version below:
#   kubelet, kubectl           k8s.io/kubernetes, pinned in test/kube/controlplane/go.mod (the control plane's)
#   containerd, its runc shim, ctr   github.com/containerd/containerd/v2
#   runc (with seccomp)        github.com/opencontainers/runc
#   cni/bridge, host-local, loopback  github.com/containernetworking/plugins (the CNI plugins, in their own directory)
#   crane                      github.com/google/go-containerregistry (the test bed's registry, image pushes)
# `go install module@version` checks every module against the Go checksum database, so a pin here is
# as strict as a go.sum. Skips the build when every binary is there and was built from the same pins
# (a stamp file records them). See docs/kube-testbed.md.
#
# Usage: bash scripts/deps/kube-node.sh [--force]
# Environment: KUBE_BUILD_P (go build -p, default 2), KUBE_BUILD_NICE (default 10),
#              LECTERN_KUBE_BIN (output directory, default ~/.cache/lectern-tests/kube/bin).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
MOD="$ROOT/test/kube/controlplane"
BIN="${LECTERN_KUBE_BIN:-${HOME}/.cache/lectern-tests/kube/bin}"
STAMP="$BIN/.node-stamp"
started=$SECONDS

CONTAINERD_VERSION=v2.4.2
RUNC_VERSION=v1.5.3
CNI_PLUGINS_VERSION=v1.10.0
CRANE_VERSION=v0.22.1

log() { printf 'kube-node: %s\n' "$*" >&2; }

force=0
[ "${1:-}" = "--force" ] && force=1

command -v go >/dev/null 2>&1 || { log "go is not installed: the node's components are built from Go modules (Go >= 1.26)"; exit 1; }
KUBE_VERSION=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$MOD/go.mod")

want_stamp() {
  printf 'kubernetes=%s containerd=%s runc=%s cni=%s crane=%s go=%s mod=%s\n' "$KUBE_VERSION" "$CONTAINERD_VERSION" \
    "$RUNC_VERSION" "$CNI_PLUGINS_VERSION" "$CRANE_VERSION" "$(go env GOVERSION)" "$(cat "$MOD/go.mod" "$MOD/go.sum" | sha256sum | cut -c1-16)"
}
BINARIES=(kubelet kubectl containerd containerd-shim-runc-v2 ctr runc cni/bridge cni/host-local cni/loopback crane)

up_to_date() {
  local b
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(want_stamp)" ] || return 1
  [ "$("$BIN/kubelet" --version 2>/dev/null)" = "Kubernetes $KUBE_VERSION" ] &&
    [[ "$("$BIN/containerd" --version 2>/dev/null)" == *" ${CONTAINERD_VERSION#v} "* ]]
}

if [ "$force" -eq 0 ] && up_to_date; then
  log "up to date in $BIN (kubelet $KUBE_VERSION, containerd $CONTAINERD_VERSION, runc $RUNC_VERSION, CNI plugins $CNI_PLUGINS_VERSION)"
  exit 0
fi

# runc's seccomp support is cgo against libseccomp: without it every sandbox fails with
# "seccomp: config provided but seccomp not supported".
if ! [ -f /usr/include/seccomp.h ]; then
  # shellcheck source=../lib/apt.sh
  . "$ROOT/scripts/lib/apt.sh"
  apt_install libseccomp-dev
fi

P=${KUBE_BUILD_P:-2}
NICE=${KUBE_BUILD_NICE:-10}
mkdir -p "$BIN"
rm -f "$STAMP"
export GOBIN="$BIN" GOFLAGS=-buildvcs=false

build() { # what, then the go command's arguments
  local what=$1 t0=$SECONDS
  shift
  nice -n "$NICE" go "$@" || { log "building $what failed (its output is above)"; exit 1; }
  log "$what built in $((SECONDS - t0))s"
}

# The same version stamping as scripts/deps/kube-testbed.sh: `kubelet --version` prints it.
minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
major=${KUBE_VERSION#v}; major=${major%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
(cd "$MOD" && CGO_ENABLED=0 build "kubelet and kubectl $KUBE_VERSION" build -p "$P" -trimpath -ldflags "$ldflags" -o "$BIN/" \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl)

CGO_ENABLED=1 build "runc $RUNC_VERSION" install -p "$P" -trimpath -tags seccomp -ldflags "-s -w" "github.com/opencontainers/runc@$RUNC_VERSION"
GOBIN="$BIN/cni" CGO_ENABLED=0 build "CNI plugins $CNI_PLUGINS_VERSION" install -p "$P" -trimpath -ldflags "-s -w" \
  "github.com/containernetworking/plugins/plugins/main/bridge@$CNI_PLUGINS_VERSION" \
  "github.com/containernetworking/plugins/plugins/ipam/host-local@$CNI_PLUGINS_VERSION" \
  "github.com/containernetworking/plugins/plugins/main/loopback@$CNI_PLUGINS_VERSION"
# Its Makefile stamps the version so; without it the node reports containerd://2.4.2+unknown.
CGO_ENABLED=0 build "containerd $CONTAINERD_VERSION" install -p "$P" -trimpath -tags "no_btrfs no_devmapper no_zfs" \
  -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION#v}" \
  "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
  "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
  "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION"
CGO_ENABLED=0 build "crane $CRANE_VERSION" install -p "$P" -trimpath -ldflags "-s -w" "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"

[ "$("$BIN/kubelet" --version 2>&1)" = "Kubernetes $KUBE_VERSION" ] || { log "the new kubelet reports '$("$BIN/kubelet" --version 2>&1)', not $KUBE_VERSION"; exit 1; }
want_stamp > "$STAMP"
log "done in $((SECONDS - started))s"
