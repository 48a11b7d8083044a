#!/usr/bin/env bash
# Installs what the test suites need, idempotently (fast when everything is already there):
#   - Debian packages: PostgreSQL server binaries, git, a Python that can make virtualenvs
#   - rsconnect-python clients in .cache/py/rsconnect-latest (newest), .cache/py/rsconnect-1.28 (legacy flow)
#     and .cache/py/rsconnect-<version> for each release of test/rsconnect-versions.txt (the version matrix)
#   - Node 24 (scripts/ensure-node.sh), node_modules (npm ci when missing or older than package-lock.json)
#   - dist/ (npm run build), last
# Usage: bash scripts/test-deps.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
started=$SECONDS

log() { printf 'test-deps: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- Debian packages
source "$ROOT/scripts/lib/apt.sh"

have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }
# A python3 that can create virtualenvs with pip (Debian's needs python3-venv for ensurepip).
pick_python() {
  local py
  for py in "$(command -v python3 2>/dev/null || true)" /usr/bin/python3; do
    [ -n "$py" ] && [ -x "$py" ] || continue
    if "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then echo "$py"; return 0; fi
  done
  return 1
}

need=()
have_postgres || need+=(postgresql)
# git: git-backed content fetches with it, and its tests serve repositories with git http-backend.
{ command -v git >/dev/null && [ -x "$(git --exec-path 2>/dev/null)/git-http-backend" ]; } || need+=(git)
pick_python >/dev/null || need+=(python3 python3-venv)
if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi
have_postgres || { log "PostgreSQL server binaries still missing under /usr/lib/postgresql"; exit 1; }

# ---------------------------------------------------------------- rsconnect-python virtualenvs
PYTHON=$(pick_python) || { log "no python3 able to create virtualenvs"; exit 1; }

rsconnect_version() {
  "$1/bin/python" -c 'import importlib.metadata as m; print(m.version("rsconnect-python"))' 2>/dev/null
}

ensure_venv() { # dir pip-requirement
  local dir=$1 req=$2
  # A virtualenv's scripts name its interpreter by absolute path: one made at another path (a moved
  # or since-deleted checkout) still has a bin/rsconnect, which no longer runs.
  if [ -x "$dir/bin/rsconnect" ] && [ "$(head -c 2 "$dir/bin/rsconnect")" = '#!' ] \
    && [ "$(head -n 1 "$dir/bin/rsconnect")" = "#!$dir/bin/python" ] && rsconnect_version "$dir" >/dev/null; then return 0; fi
  log "creating $dir with $req (using $PYTHON)"
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$req"
  "$dir/bin/rsconnect" version >/dev/null 2>&1 || "$dir/bin/rsconnect" --help >/dev/null
}

ensure_venv "$ROOT/.cache/py/rsconnect-latest" 'rsconnect-python'
ensure_venv "$ROOT/.cache/py/rsconnect-1.28" 'rsconnect-python==1.28.*'
log "rsconnect-python: latest=$(rsconnect_version "$ROOT/.cache/py/rsconnect-latest") 1.28=$(rsconnect_version "$ROOT/.cache/py/rsconnect-1.28")"
# The releases between 1.29.0 and the newest, one virtualenv each (test/rsconnect-versions.txt).
matrix=()
while read -r version; do
  case "$version" in '' | '#'*) continue ;; esac
  ensure_venv "$ROOT/.cache/py/rsconnect-$version" "rsconnect-python==$version"
  matrix+=("$version")
done < "$ROOT/test/rsconnect-versions.txt"
log "rsconnect-python matrix: ${matrix[*]}"

# ---------------------------------------------------------------- content runtimes
# Each script installs one area's needs (sandbox, Python tools and Quarto, R and pandoc), idempotently.
# The Kubernetes test bed's node and images take longest to build on a fresh machine (tens of
# minutes): they build in the background while the faster suites run, and scripts/test-kube.sh waits
# for them (their log: .cache/kube-build.log).
for deps in "$ROOT"/scripts/deps/*.sh; do
  [ -e "$deps" ] || continue
  case "$(basename "$deps")" in kube-node.sh | kube-images.sh) continue ;; esac
  bash "$deps"
done
mkdir -p "$ROOT/.cache"
rm -f "$ROOT/.cache/kube-build.status"
(
  status=0
  nice -n 5 bash "$ROOT/scripts/deps/kube-node.sh" && nice -n 5 bash "$ROOT/scripts/deps/kube-images.sh" || status=$?
  echo "$status" > "$ROOT/.cache/kube-build.status"
) > "$ROOT/.cache/kube-build.log" 2>&1 < /dev/null &
log "building the Kubernetes test bed's node and images in the background (pid $!, log .cache/kube-build.log)"

# ---------------------------------------------------------------- node_modules
# On Node 24 (scripts/ensure-node.sh; already first on PATH when run by `npm test`).
source "$ROOT/scripts/ensure-node.sh"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
fi

# ---------------------------------------------------------------- build (last)
log "npm run build"
npm run build --silent

log "done in $((SECONDS - started))s"
