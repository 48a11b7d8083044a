#!/usr/bin/env bash
# The posit-sdk acceptance check's needs (test/e2e/posit-sdk-integration.test.ts), idempotently:
#   - posit-sdk's source distribution, whose integration/ folder holds the SDK's own integration
#     tests, unpacked into ~/.cache/lectern-tests/posit-sdk/<version>/src
#   - a virtualenv there (venv/) with that posit-sdk, pytest and what the tests import
#   - python312: the path of a Python 3.12 (the SDK's flask bundle asks for 3.12), or no file
#     when none is installed; the test fails naming this file when it is missing
# The version is pinned so a new SDK release cannot change the check under us; raise it on purpose.
# Usage: bash scripts/deps/posit-sdk.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
VERSION=0.17.0
CACHE=${LECTERN_TEST_CACHE:-$HOME/.cache/lectern-tests}/posit-sdk/$VERSION
log() { printf 'deps/posit-sdk: %s\n' "$*" >&2; }

# A Python 3.12: pyenv's versions first (this machine's), then the usual system places.
find_python312() {
  local py
  for py in "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /opt/python/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
    [ -x "$py" ] || continue
    if "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then echo "$py"; return 0; fi
  done
  return 1
}

if py312=$(find_python312); then
  mkdir -p "$CACHE"
  echo "$py312" > "$CACHE/python312"
else
  rm -f "$CACHE/python312"
  log "no Python 3.12 found (pyenv versions, /opt/python, /usr/bin): the posit-sdk check will fail until one is installed"
fi

if [ -f "$CACHE/ready" ]; then
  log "posit-sdk $VERSION present in $CACHE"
  exit 0
fi

PYTHON=$(command -v python3)
log "fetching posit-sdk $VERSION's source distribution and creating its virtualenv in $CACHE (using $PYTHON)"
rm -rf "$CACHE/src" "$CACHE/venv" "$CACHE/download"
mkdir -p "$CACHE/download"
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: -d "$CACHE/download" "posit-sdk==$VERSION"
mkdir -p "$CACHE/src"
tar -xzf "$CACHE/download/posit_sdk-$VERSION.tar.gz" -C "$CACHE/src" --strip-components=1
[ -d "$CACHE/src/integration/tests" ] || { log "posit-sdk $VERSION's sdist has no integration/tests"; exit 1; }
rm -rf "$CACHE/download"

"$PYTHON" -m venv "$CACHE/venv"
# The tests import posit.connect, pytest, packaging, requests and typing_extensions.
"$CACHE/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "posit-sdk==$VERSION" pytest packaging requests typing_extensions
"$CACHE/venv/bin/python" -c 'import posit.connect, pytest, packaging, requests, typing_extensions'
touch "$CACHE/ready"
log "posit-sdk $VERSION ready"
