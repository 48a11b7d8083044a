# Sourced by the install scripts: `apt_install PKG...` installs Debian packages as root (or through
# sudo), running `apt-get update` once per script run, without recommends (r-base-core alone would
# otherwise pull in a TeX toolchain). Callers define log().
apt_updated=0
apt_install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
      log "need root (or sudo) to install Debian packages: $*"; exit 1
    fi
  fi
  if [ "$apt_updated" -eq 0 ]; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
