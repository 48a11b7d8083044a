#!/usr/bin/env bash
# `npm run test:kube`: the Kubernetes suite (test/kube/*.test.ts) inside the test bed. Waits for the
# node and images that scripts/test-deps.sh builds in the background, starts the test bed unless one
# is running (bash scripts/kube-testbed.sh up), runs the suite in its network namespace, and stops the
# test bed again if this script started it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
log() { printf 'test-kube: %s\n' "$*" >&2; }

if [ -f .cache/kube-build.log ] && [ ! -f .cache/kube-build.status ]; then
  log "waiting for the background build of the test bed's node and images (.cache/kube-build.log)"
  started=$SECONDS
  until [ -f .cache/kube-build.status ]; do
    [ $((SECONDS - started)) -lt 5400 ] || { log "the background build did not finish within 90 minutes; its log: .cache/kube-build.log"; exit 1; }
    sleep 5
  done
  log "the background build finished after waiting $((SECONDS - started))s"
fi
if [ -f .cache/kube-build.status ] && [ "$(cat .cache/kube-build.status)" != 0 ]; then
  tail -20 .cache/kube-build.log >&2
  log "building the test bed's node or images failed (above; the whole log: .cache/kube-build.log)"
  exit 1
fi

started_here=0
bash scripts/kube-testbed.sh status 2> /dev/null || started_here=1
bash scripts/kube-testbed.sh up > /dev/null
status=0
bash scripts/kube-testbed.sh run bash "$ROOT/scripts/test-suite.sh" kube 1 || status=$?
if [ "$started_here" = 1 ]; then bash scripts/kube-testbed.sh down; fi
exit "$status"
