#!/usr/bin/env bash
# The test bed's node: containerd and the kubelet, started together in one private mount namespace
# inside the test bed's network namespace (node.ts runs this as
# `unshare --mount --propagation private bash run-node.sh <node dir> <bin dir> <cgroup>`, from the daemon
# that runs in the test bed's network namespace).
#
# Why a private mount namespace (../../../docs/kube-testbed.md, "The node"):
#  - the kubelet sets vm.overcommit_memory, kernel.panic and kernel.panic_on_oops host-wide; stand-in
#    files bound over those three /proc/sys entries here keep the host's values untouched;
#  - a few paths ignore --root-dir (the device-plugin socket, /var/log/containers and /var/log/pods,
#    /run/containerd, /run/netns): folders of the node's own are bound over them, so two test beds
#    never collide and nothing is left on the host;
#  - every overlay, tmpfs and pod-network mount the kubelet and containerd make stays out of the
#    host's view and disappears with this namespace.
# The kubelet and runc must share this one namespace: the kubelet's volume mounts must be visible to
# the containers runc starts.
#
# Every process here joins the pids cgroup <cgroup>-node, so that stop (node.ts) finds containerd's
# shims too, which detach from their parent.
#
# `run-node.sh <node dir> <bin dir> <cgroup> kubelet` starts only the kubelet again (node.ts runs it
# through nsenter into this namespace, to restart the kubelet as an administrator would).
set -euo pipefail
dir=$1
bin=$2
cgroup=$3

echo $$ > "/sys/fs/cgroup/pids/$cgroup-node/cgroup.procs"

start_kubelet() {
  "$bin/kubelet" --config="$dir/kubelet.yaml" --kubeconfig="$dir/kubelet.kubeconfig" --root-dir="$dir/kubelet" \
    --node-ip="$(cat "$dir/node-ip")" --hostname-override="$(cat "$dir/node-name")" --v=1 >> "$dir/kubelet.log" 2>&1 &
  echo $! > "$dir/kubelet.pid"
}
if [ "${4:-}" = kubelet ]; then
  start_kubelet
  exit 0
fi

mkdir -p "$dir/proc-sys"
echo 1 > "$dir/proc-sys/overcommit_memory"
echo 10 > "$dir/proc-sys/panic"
echo 1 > "$dir/proc-sys/panic_on_oops"
mount --bind "$dir/proc-sys/overcommit_memory" /proc/sys/vm/overcommit_memory
mount --bind "$dir/proc-sys/panic" /proc/sys/kernel/panic
mount --bind "$dir/proc-sys/panic_on_oops" /proc/sys/kernel/panic_on_oops

# Mount points that must exist on the host's file system: the ones made here are listed, so that stop
# removes them again (empty directories; another test bed may be using one as its own mount point).
for p in /var/lib/kubelet/device-plugins /var/log/containers /var/log/pods /run/containerd /run/netns; do
  if [ ! -d "$p" ]; then
    mkdir -p "$p"
    echo "$p" >> "$dir/made-on-host"
  fi
  mkdir -p "$dir/bound$p"
  mount --bind "$dir/bound$p" "$p"
done

"$bin/containerd" --config "$dir/containerd.toml" > "$dir/containerd.log" 2>&1 &
containerd=$!
for _ in $(seq 1 200); do
  [ -S "$dir/containerd/containerd.sock" ] && break
  kill -0 "$containerd" 2> /dev/null || { echo "containerd exited: $(tail -5 "$dir/containerd.log")" >&2; exit 1; }
  sleep 0.05
done
[ -S "$dir/containerd/containerd.sock" ] || { echo "containerd did not open its socket in 10 s" >&2; exit 1; }

echo "$containerd" > "$dir/containerd.pid"
start_kubelet
# This shell stays (holding the namespace) until containerd ends.
wait "$containerd"
