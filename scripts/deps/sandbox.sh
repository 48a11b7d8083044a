#!/usr/bin/env bash
# What the local content sandbox needs, idempotently: bubblewrap, pasta (package passt: each job's
# own network namespace), util-linux's setpriv, prlimit and unshare (switching to the RunAs user,
# rlimits when no cgroup is writable, the namespace), useradd (creating the RunAs user), and
# iproute2 (the network isolation test's "internet" namespace). Usage: bash scripts/deps/sandbox.sh
set -euo pipefail

log() { printf 'deps/sandbox: %s\n' "$*" >&2; }

source "$(dirname "${BASH_SOURCE[0]}")/../lib/apt.sh"

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v pasta >/dev/null 2>&1 || need+=(passt)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
{ command -v setpriv && command -v prlimit && command -v unshare; } >/dev/null 2>&1 || need+=(util-linux)
command -v useradd >/dev/null 2>&1 || need+=(passwd)

if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi

# Fail here, with the reason, rather than in the middle of the tests.
if ! out=$(bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid --die-with-parent true 2>&1); then
  log "bubblewrap is installed but cannot create namespaces here: $out"
  exit 1
fi
log "bubblewrap $(bwrap --version | awk '{print $2}') works"
if [ "$(id -u)" -eq 0 ] && ! out=$(unshare --net true 2>&1); then
  log "network namespaces cannot be created here (needed for [Applications] NetworkIsolation): $out"
  exit 1
fi
