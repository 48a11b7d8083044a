#!/usr/bin/env bash
# `npm test`: runs package.json's test:all (install what the tests need, then every check and test
# suite) on Node >= 24. npm's scripts inherit the Node that started npm, which may be older (this
# machine's is 20), so this script first puts Node 24 first on PATH (scripts/ensure-node.sh) and
# then starts npm again, on it; every `node` and `npm` below then runs on that Node.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure-node.sh
exec npm run --silent test:all
