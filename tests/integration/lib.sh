# lib.sh: what every integration test shares. Sourced by the test scripts
# (run by `make check` with abs_top_srcdir and abs_top_builddir exported, or
# by hand from the source tree). Gives each test:
#   T            its own temporary directory, removed at exit
#   API_BIN      the cruddur-api that was built
#   IT_DIR       this folder (http_check.py, fcgi_client.py, burst.py)
#   it_env       the program's settings for a database under $T
#   it_need      skips (exit 77) when a web server binary is absent
#   it_require   errors (exit 99) when another tool is absent
#   it_fail      stops the test with a message
#   it_spool     sqlite3 on the telemetry spool; it_spool_wait polls it
#   it_get       one request through curl (it_header reads its answer)
#   it_at_exit   a command for the EXIT trap (undo what rm -rf cannot)
# and an EXIT trap that stops, by pid, everything started through
# scripts/lib/webserver.sh (or it_track), even when the test fails, and
# fails the test if a sanitizer reported anything in the logs.
# shellcheck shell=bash
set -euo pipefail

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
abs_top_srcdir=${abs_top_srcdir:-$(cd "$IT_DIR/../.." && pwd)}
abs_top_builddir=${abs_top_builddir:-$abs_top_srcdir}
# shellcheck source=../../scripts/lib/webserver.sh
. "$abs_top_srcdir/scripts/lib/webserver.sh"

IT_NAME=$(basename "$0" .sh)
API_BIN=$abs_top_builddir/cruddur-api
PYTHON=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1

it_log() { echo "$IT_NAME: $*"; }
it_fail() { echo "$IT_NAME: FAIL: $*"; exit 1; }
it_skip() { echo "$IT_NAME: SKIP: $*"; exit 77; }

# it_expect NAME GOT WANTED: one check, printed PASS or FAIL; a failure is
# counted in IT_FAILS and the test goes on. it_done ends a test of checks.
IT_FAILS=0
it_expect() {
  if [ "$2" = "$3" ]; then echo "PASS $1"; else
    echo "FAIL $1: got '$2', wanted '$3'"; IT_FAILS=$((IT_FAILS + 1)); fi
}
it_done() {
  [ "$IT_FAILS" -eq 0 ] || it_fail "$IT_FAILS check(s) failed"
  echo "$IT_NAME: PASS"
}

PATH=$PATH:/usr/sbin:/sbin   # nginx and lighttpd live in sbin

# it_need SERVER...: skips the test (exit 77) when a web server is not
# installed. That is the only reason a test skips.
it_need() {
  local p
  for p in "$@"; do
    command -v "$p" >/dev/null 2>&1 || it_skip "$p is not installed"
  done
}

# it_require TOOL...: anything else a test needs; missing is an error (99).
it_require() {
  local p
  for p in "$@"; do
    command -v "$p" >/dev/null 2>&1 || {
      echo "$IT_NAME: ERROR: $p is not installed (scripts/lib/deps.sh lists the packages)"
      exit 99
    }
  done
}

if [ ! -x "$API_BIN" ]; then
  echo "$IT_NAME: ERROR: $API_BIN is not built"
  exit 99
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/cruddur-it.XXXXXX")
IT_KEEP=${IT_KEEP:-}      # set to keep $T for a look after a failure

# Also stops what a test started outside webserver.sh.
it_track() { ws_track "$@"; }

# Sanitizer reports in any log under $T fail the test. A test that makes a
# worker crash on purpose sets IT_SANITIZER_ALLOW to an ERE matching the
# report lines it expects (e.g. 'AddressSanitizer: SEGV'); other reports
# still fail it.
IT_SANITIZER_ALLOW=
it_check_logs() {
  local hits pat='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:'
  if [ -n "$IT_SANITIZER_ALLOW" ]; then
    hits=$(grep -rhE "$pat" "$T" 2>/dev/null | grep -vE "$IT_SANITIZER_ALLOW" || true)
    [ -z "$hits" ] && return 0
    hits=$(grep -rlE "$pat" "$T" 2>/dev/null || true)
  else
    hits=$(grep -rlE "$pat" "$T" 2>/dev/null || true)
    [ -z "$hits" ] && return 0
  fi
  echo "$IT_NAME: sanitizer reports in:"
  local f
  for f in $hits; do echo "---- $f"; grep -E -A 30 'Sanitizer|runtime error:' "$f" | head -n 60; done
  return 1
}

# it_at_exit COMMAND: run by the EXIT trap first (undo what rm -rf cannot).
IT_AT_EXIT=()
it_at_exit() { IT_AT_EXIT+=("$1"); }

it_cleanup() {
  local rc=$? c
  trap - EXIT
  set +e
  for c in "${IT_AT_EXIT[@]}"; do eval "$c"; done
  ws_stop_all
  if [ "$rc" -eq 0 ] && ! it_check_logs; then rc=1; fi
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    local f
    while IFS= read -r f; do
      [ -s "$f" ] || continue
      echo "---- last lines of $f"; tail -n 25 "$f"
    done < <(find "$T" \( -name '*.log' -o -name '*.out' \) 2>/dev/null)
  fi
  if [ -n "$IT_KEEP" ]; then echo "$IT_NAME: kept $T"; else rm -rf "$T"; fi
  exit "$rc"
}
trap it_cleanup EXIT
trap 'exit 130' INT TERM

# The program's settings: a database under $T, the origin http_check.py uses.
it_env() {
  export CRUDDUR_STATE_DIR="$T/state"
  export CRUDDUR_DB="$T/state/cruddur.db"
  export CRUDDUR_SPOOL="$T/state/spool.db"
  export CRUDDUR_USER_HANDLE=andrewbrown
  export FRONTEND_URL=http://localhost:3000
  export BACKEND_URL=http://127.0.0.1:4567
  export CRUDDUR_BODY_LIMIT=65536
  unset CRUDDUR_HOME_LIMIT CRUDDUR_DB_BUSY_TIMEOUT_MS
  # Telemetry at its defaults: spool above, crash files in $T/state/crash.
  unset CRUDDUR_TELEMETRY CRUDDUR_CRASH_DIR CRUDDUR_SPOOL_BUDGET_MS CRUDDUR_LOG_LEVEL \
    OTEL_TRACES_SAMPLER OTEL_TRACES_SAMPLER_ARG OTEL_SERVICE_NAME OTEL_RESOURCE_ATTRIBUTES
  mkdir -p "$CRUDDUR_STATE_DIR"
}

# it_spool SQL...: runs SQL on the spool ($IT_SPOOL if set, else
# $CRUDDUR_SPOOL; read-only, waiting out a writer's lock), one row a line,
# columns separated by |.
it_spool() {
  sqlite3 -batch -readonly -cmd '.timeout 5000' "${IT_SPOOL:-$CRUDDUR_SPOOL}" "$@"
}

# it_spool_wait SQL WANTED [SECONDS]: polls until SQL prints WANTED (the
# spool is written after each answer has left); 1 with the last value in
# IT_GOT when SECONDS (default 10) run out.
it_spool_wait() {
  local sql=$1 want=$2 limit=$(( ${3:-10} * 10 )) i=0
  IT_GOT=
  while [ "$i" -lt "$limit" ]; do
    if [ -f "${IT_SPOOL:-$CRUDDUR_SPOOL}" ]; then
      IT_GOT=$(it_spool "$sql" 2>&1 || true)
      [ "$IT_GOT" = "$want" ] && return 0
    fi
    sleep 0.1; i=$((i + 1))
  done
  return 1
}

# it_lock FILE NAME: another process takes SQLite file FILE's write lock
# (BEGIN EXCLUSIVE) and holds it until it_unlock NAME (at most 60 s).
it_lock() {
  "$PYTHON" - "$1" "$T/lock-$2" <<'EOF' &
import os, sqlite3, sys, time
db, flag = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db, timeout=5, isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
open(flag + ".held", "w").close()
deadline = time.time() + 60
while not os.path.exists(flag + ".release") and time.time() < deadline:
    time.sleep(0.01)
c.execute("ROLLBACK")
EOF
  eval "IT_LOCK_PID_$2=$!"
  it_track "$!"
  local i
  for i in $(seq 100); do [ -e "$T/lock-$2.held" ] && return 0; sleep 0.05; done
  it_fail "could not lock $1"
}

# it_unlock NAME: releases what it_lock NAME holds, and waits for it.
it_unlock() {
  local pid_var="IT_LOCK_PID_$1"
  touch "$T/lock-$1.release"
  wait "${!pid_var}" || true
}

# it_get URL [CURL ARGS...]: one request; prints "STATUS SECONDS" (000 when
# no answer came), leaves the body in $T/body and the headers in $T/headers.
it_get() {
  local url=$1; shift
  curl -sS -o "$T/body" -D "$T/headers" -w '%{http_code} %{time_total}\n' --max-time 10 \
    "$@" "$url" 2>>"$T/curl.err" || true
}

# it_header NAME: that header's value in the last it_get answer.
it_header() {
  tr -d '\r' < "$T/headers" | sed -n "s/^$1: *//Ip" | head -n 1
}

# it_hex N: N random bytes as lowercase hex; it_trace_id: a new trace id
# whose first 4 bytes are the time, as the program makes them.
it_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
it_trace_id() { printf '%08x%s' "$(date +%s)" "$(it_hex 12)"; }

# Creates the database (it_env first).
# shellcheck disable=SC2120
it_init_db() {
  "$API_BIN" --init-db "${1:-$CRUDDUR_DB}" 2>>"$T/init.log" ||
    it_fail "cruddur-api --init-db ${1:-$CRUDDUR_DB} failed: $(tail -n 5 "$T/init.log")"
}

# A digest of everything in the app database: row counts and a checksum of
# every row of every table, in a fixed order.
# shellcheck disable=SC2120
it_db_snapshot() {
  local db=${1:-$CRUDDUR_DB}
  sqlite3 -batch "$db" \
    "select 'users', count(*) from users;
     select 'activities', count(*) from activities;
     select 'message_groups', count(*) from message_groups;
     select 'messages', count(*) from messages;
     select 'schema', user_version from pragma_user_version;"
  {
    sqlite3 -batch "$db" "select * from users order by uuid;"
    sqlite3 -batch "$db" "select * from activities order by id;"
    sqlite3 -batch "$db" "select * from message_groups order by uuid;"
    sqlite3 -batch "$db" "select * from messages order by id;"
    sqlite3 -batch "$db" "select rowid, * from activities_fts order by rowid;"
  } | sha256sum | sed 's/ .*//; s/^/rows /'
}

# Runs http_check.py against BASE_URL; its output goes to the test log.
it_http_check() {
  "$PYTHON" "$IT_DIR/http_check.py" "$@"
}
