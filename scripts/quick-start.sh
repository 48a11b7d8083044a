#!/usr/bin/env bash
# The README's first command: on a fresh Debian/Ubuntu machine, installs what running content needs
# (bubblewrap and passt for the sandbox, as root or through sudo) and Node 24, installs and builds
# Lectern when it is not built yet, then runs `lectern start` with its embedded defaults (arguments are passed on).
# Usage: bash scripts/quick-start.sh [--config FILE]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps/sandbox.sh
# Node 24 first on PATH (fetched once from the npm registry when the one on PATH is older), so npm
# and Lectern below run on it.
source scripts/ensure-node.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if [ ! -f dist/cli/main.js ] || [ -n "$(find src dashboard -newer dist/cli/main.js -type f -print -quit)" ]; then
  npm run build --silent
fi
exec node bin/lectern.js start "$@"
