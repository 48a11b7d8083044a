#!/usr/bin/env bash
# The Kubernetes test bed: a real control plane and a real node (kubelet, containerd, runc, CNI) with
# a registry of locally built images, all inside a network namespace made for the run.
#
#   bash scripts/kube-testbed.sh up      start it in the background (or find it running), then print
#                                        `export` lines: the API URL, token, CA, namespace, data volume
#                                        for `lectern start`, and KUBE_TESTBED_EXEC, the command prefix
#                                        that runs a command where the test bed's addresses are reachable
#   bash scripts/kube-testbed.sh down    stop it and remove everything it made
#   bash scripts/kube-testbed.sh run CMD...   `up` (quietly), then CMD inside the test bed's network namespace
#   bash scripts/kube-testbed.sh status
#
# Typical use:  eval "$(bash scripts/kube-testbed.sh up)"; $KUBE_TESTBED_EXEC node bin/lectern.js start
# Needs root (network namespaces, mounts, cgroups). KUBE_TESTBED_DIR (default /tmp/lectern-kube-testbed)
# holds its state; one test bed per directory. See docs/kube-testbed.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
STATE=${KUBE_TESTBED_DIR:-/tmp/lectern-kube-testbed}
export KUBE_TESTBED_DIR=$STATE

log() { printf 'kube-testbed: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

running() { [ -f "$STATE/daemon.pid" ] && kill -0 "$(cat "$STATE/daemon.pid")" 2> /dev/null; }

cmd_status() {
  if running && [ -f "$STATE/testbed.json" ]; then
    log "running (pid $(cat "$STATE/daemon.pid"), network namespace $(cat "$STATE/netns"), state in $STATE)"
  elif running; then
    log "starting (pid $(cat "$STATE/daemon.pid"))"
  else
    log "not running"
    return 1
  fi
}

cmd_up() {
  [ "$(id -u)" -eq 0 ] || die "needs root: it makes a network namespace, mounts and cgroups (run it with sudo)"
  if running && [ -f "$STATE/env" ]; then cat "$STATE/env"; return 0; fi
  if [ -d "$STATE" ]; then cmd_down 2> /dev/null || true; fi

  bash "$ROOT/scripts/deps/kube-testbed.sh" >&2
  bash "$ROOT/scripts/deps/kube-node.sh" >&2
  if [ -f "$ROOT/scripts/deps/kube-images.sh" ]; then bash "$ROOT/scripts/deps/kube-images.sh" >&2; fi
  command -v pasta > /dev/null || { source "$ROOT/scripts/lib/apt.sh"; apt_install passt; }
  # shellcheck source=ensure-node.sh
  source "$ROOT/scripts/ensure-node.sh"

  mkdir -p "$STATE"
  local id netns a b
  id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  netns="lectern-kt-$id"
  # 10.<a>.<b>.0/24 for the node, 10.<a>.<b+1>.0/24 for the pods: numbered per run.
  a=$((100 + RANDOM % 150))
  b=$(((RANDOM % 127) * 2))
  echo "$netns" > "$STATE/netns"
  ip netns add "$netns"
  ip -n "$netns" link set lo up
  ip -n "$netns" link add "kt-node" type bridge
  ip -n "$netns" addr add "10.$a.$b.1/24" dev kt-node
  ip -n "$netns" link set kt-node up
  ip netns exec "$netns" sysctl -qw net.ipv4.ip_forward=1
  # The way out, for package indexes (PyPI) in builds: pasta, as Lectern's own sandbox uses it.
  pasta --runas 0 --config-net --no-map-gw --udp-ns none --tcp-ns none --tcp-ports none --quiet \
    --pid "$STATE/pasta.pid" --netns "/run/netns/$netns" || die "pasta could not connect $netns to the outside"
  cat > "$STATE/network.json" << EOF
{ "id": "$id", "netns": "$netns", "nodeIp": "10.$a.$b.1", "nodeBridge": "kt-node", "podCidr": "10.$a.$((b + 1)).0/24", "podBridge": "kt-pods" }
EOF

  log "starting in $netns (state in $STATE)"
  nsenter --net="/run/netns/$netns" setsid node --import tsx "$ROOT/test/support/kube-testbed/daemon.ts" "$STATE" \
    > "$STATE/daemon.log" 2>&1 < /dev/null &
  echo $! > "$STATE/daemon.pid"
  local started=$SECONDS
  while [ ! -f "$STATE/env" ]; do
    if [ -f "$STATE/failed" ] || ! running; then
      die "failed to start: $(head -c 2000 "$STATE/failed" 2> /dev/null || tail -20 "$STATE/daemon.log")"
    fi
    [ $((SECONDS - started)) -lt 300 ] || die "not up within 300 s; its log: $STATE/daemon.log"
    sleep 0.2
  done
  log "up in $((SECONDS - started))s: $(node -p "const s = require('$STATE/testbed.json'); \`node \${s.node.name} (\${s.node.ip}): kubelet \${s.node.kubeletVersion}, \${s.node.runtimeVersion}; registry \${s.registry}\`")"
  cat "$STATE/env"
}

cmd_down() {
  [ -d "$STATE" ] || return 0
  if running; then
    local pid
    pid=$(cat "$STATE/daemon.pid")
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2> /dev/null || true
  fi
  # Whatever a dead daemon left: the node's processes (by their cgroups), pasta, the namespace.
  if [ -f "$STATE/network.json" ]; then
    local id
    id=$(sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p' "$STATE/network.json")
    if [ -n "$id" ]; then
      for _ in 1 2 3; do
        find /sys/fs/cgroup/*/lectern-kt-"$id"* -name cgroup.procs -exec cat {} + 2> /dev/null | xargs -r kill -KILL 2> /dev/null || true
        sleep 0.2
      done
      find /sys/fs/cgroup/*/lectern-kt-"$id"* -depth -type d -exec rmdir {} + 2> /dev/null || true
      # The data volumes (test/support/kube-testbed/state.ts volumesDir).
      rm -rf "/var/tmp/lectern-kt-$id"
    fi
  fi
  if [ -f "$STATE/pasta.pid" ]; then kill "$(cat "$STATE/pasta.pid")" 2> /dev/null || true; fi
  if [ -f "$STATE/netns" ]; then ip netns del "$(cat "$STATE/netns")" 2> /dev/null || true; fi
  if [ -f "$STATE/node/made-on-host" ]; then tac "$STATE/node/made-on-host" | xargs -r rmdir 2> /dev/null || true; fi
  rm -rf "$STATE"
  log "down"
}

cmd_run() {
  cmd_up > /dev/null
  exec nsenter --net="/run/netns/$(cat "$STATE/netns")" "$@"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  run) shift; cmd_run "$@" ;;
  *) die "usage: bash scripts/kube-testbed.sh up|down|status|run CMD..." ;;
esac
