#!/usr/bin/env bash
# What the browser tests need, idempotently: Debian's Chromium (playwright-core drives it through
# executablePath; Playwright's own browser download cannot reach its CDN) and the fonts it renders
# the dashboard with. Usage: bash scripts/deps/chromium.sh
set -euo pipefail

log() { printf 'deps/chromium: %s\n' "$*" >&2; }

source "$(dirname "${BASH_SOURCE[0]}")/../lib/apt.sh"

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi

# Fail here, with the reason, rather than in the middle of the tests.
if ! out=$(chromium --headless --no-sandbox --disable-gpu --dump-dom about:blank 2>&1 >/dev/null); then
  log "chromium is installed but does not start headless: $out"
  exit 1
fi
log "$(chromium --version 2>/dev/null | head -1) works"
