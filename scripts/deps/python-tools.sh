#!/usr/bin/env bash
# Tools the execution tests hand to Lectern, in one virtualenv (.cache/py/tools), idempotently:
# uv (the PyPI package ships its binary), Lectern's default package manager for restores.
#
# Quarto is not installed: its PyPI package (quarto-cli) is a source distribution whose build
# downloads Quarto from GitHub, which this machine cannot reach, and Debian does not package it.
# The Quarto tests run against `quarto` from PATH (or LECTERN_TEST_QUARTO) when one is installed.
# Usage: bash scripts/deps/python-tools.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
TOOLS=$PWD/.cache/py/tools
log() { printf 'deps/python-tools: %s\n' "$*" >&2; }

if [ -x "$TOOLS/bin/uv" ] && "$TOOLS/bin/uv" --version >/dev/null 2>&1; then
  log "$("$TOOLS/bin/uv" --version) present"
  exit 0
fi
PYTHON=$(command -v python3)
log "creating $TOOLS with uv (using $PYTHON)"
rm -rf "$TOOLS"
mkdir -p "$(dirname "$TOOLS")"
"$PYTHON" -m venv "$TOOLS"
"$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check uv
log "$("$TOOLS/bin/uv" --version) installed"
