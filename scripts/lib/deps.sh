# deps.sh: installs the Debian packages that building, running and testing
# Cruddur need, when some are missing. Sourced by scripts/run-local and
# scripts/test.

CRUDDUR_DEBS="build-essential autoconf automake libtool pkg-config \
libfcgi-dev libsqlite3-dev libjansson-dev libcurl4-openssl-dev zlib1g-dev check libsubunit-dev \
nginx lighttpd spawn-fcgi sqlite3 curl wrk time python3 python3-botocore"

cruddur_install_deps() {
  local missing=() p
  for p in $CRUDDUR_DEBS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "missing packages (${missing[*]}) and not root: install them first" >&2
      return 1
    fi
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # Do not let the packages' own services start on install (no init here).
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}
