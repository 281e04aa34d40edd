#!/usr/bin/env bash
# A spool that cannot take a request's records never fails or delays that
# request beyond the spool budget (200 ms): the records are dropped, counted
# in counter 'dropped_records' once the spool works again, and a warning
# goes to stderr. Behind nginx with two FastCGI workers:
# 1. the spool locked by another process (BEGIN EXCLUSIVE);
# 2. a spool that is read-only when the workers start (chmod as a user;
#    chattr +i as root, where file modes do not stop writes), and becomes
#    writable again;
# 3. a spool path in a directory that does not exist.
. "$(dirname "$0")/lib.sh"
it_need nginx
it_require spawn-fcgi curl sqlite3

BUDGET_MS=200
MARGIN_MS=${IT_LATENCY_MARGIN_MS:-300}   # handling, scheduling, sanitizers
N=8                                      # requests while the spool is unwritable

it_env
export CRUDDUR_SPOOL_BUDGET_MS=$BUDGET_MS
it_init_db
ws_start_spawn_fcgi "$T" "$T/api.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx" "$T/api.sock" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/activities/notifications" 20 || it_fail "no answer"

q() { it_spool "$@"; }
dropped() { q "select coalesce((select value from counter where name = 'dropped_records'), 0)"; }

# requests LABEL BASE N IDS_FILE: N home requests, one after another, each
# with its own trace; every answer must be 200, the same as $T/home.json,
# and come within the budget plus the margin. Appends the trace ids.
requests() {
  local label=$1 url=$2/api/activities/home n=$3 ids=$4 i tid status secs ms worst=0 bad=0
  for i in $(seq "$n"); do
    tid=$(it_trace_id)
    echo "$tid" >> "$ids"
    read -r status secs < <(it_get "$url" -H "traceparent: 00-$tid-$(it_hex 8)-01")
    ms=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')
    [ "$ms" -gt "$worst" ] && worst=$ms
    if [ "$status" != 200 ] || ! cmp -s "$T/body" "$T/home.json"; then
      bad=$((bad + 1)); echo "     request $i: $status $(head -c 200 "$T/body")"
    fi
    if [ "$ms" -gt $((BUDGET_MS + MARGIN_MS)) ]; then
      bad=$((bad + 1)); echo "     request $i took $ms ms"
    fi
  done
  it_expect "$label: $n requests answered 200, correctly, each within $((BUDGET_MS + MARGIN_MS)) ms (slowest $worst ms)" "$bad" 0
}

# settle LABEL BASE IDS BEFORE: once the spool is writable again, more requests
# (their trace ids appended to IDS) until every request of IDS that did not
# reach the spool is counted: dropped_records = BEFORE + PER x those, and
# the last request is in the spool. A worker adds its count with its next
# successful write, and one that found the file unwritable waits a while
# before it opens it again (requests meanwhile are dropped and counted too).
settle() {
  local label=$1 url=$2/api/activities/home ids=$3 before=$4 i=0 tid lost want got=
  while [ "$i" -lt 75 ]; do
    tid=$(it_trace_id)
    echo "$tid" >> "$ids"
    it_get "$url" -H "traceparent: 00-$tid-$(it_hex 8)-01" >/dev/null
    sleep 0.2
    lost=$(q "with sent(t) as (values $(sed "s/.*/('&')/" "$ids" | paste -sd,))
              select count(*) from sent
               where not exists (select 1 from span where trace_id = t and kind = 2)")
    want=$((before + lost * per))
    got=$(dropped)
    if [ "$got" = "$want" ] &&
       [ "$(q "select count(*) from span where trace_id = '$tid' and kind = 2")" = 1 ]; then
      echo "PASS $label: dropped_records grew by $((want - before)) = $lost unspooled requests x $per records ($(wc -l < "$ids") requests in all)"
      return 0
    fi
    i=$((i + 1))
  done
  echo "FAIL $label: dropped_records $got, wanted $want ($lost unspooled requests x $per records + $before)"
  IT_FAILS=$((IT_FAILS + 1))
}

# What one home request leaves in the spool.
tid=$(it_trace_id)
read -r status _ < <(it_get "$base/api/activities/home" -H "traceparent: 00-$tid-$(it_hex 8)-01")
[ "$status" = 200 ] || it_fail "home answered $status"
cp "$T/body" "$T/home.json"
it_spool_wait "select count(*) from span where trace_id = '$tid' and kind = 2" 1 10 ||
  it_fail "the spool works at all: no SERVER span for trace $tid ($IT_GOT)"
sleep 0.2
per=$(q "select (select count(*) from span where trace_id = '$tid')
              + (select count(*) from log where trace_id = '$tid')
              + (select count(*) from error where trace_id = '$tid')")
echo "     (a home request leaves $per records)"
it_expect "nothing dropped yet" "$(dropped)" 0

# 1. Locked by another process.
it_lock "$CRUDDUR_SPOOL" spoollock
: > "$T/locked.ids"
requests "locked spool" "$base" "$N" "$T/locked.ids"
# The last answer is out before its records are tried: let that try run out
# of budget too, so that the lock is released after every try failed. The
# copier thread tries one journal at a time: the last records may wait for
# the try of the journal before theirs, so two budgets.
sleep "$(awk -v b="$BUDGET_MS" -v m="$MARGIN_MS" 'BEGIN { printf "%.3f", (2 * b + m) / 1000 }')"
it_unlock spoollock
cp "$T/locked.ids" "$T/locked.all"
settle "locked spool" "$base" "$T/locked.all" 0
it_expect "locked spool: none of those requests was written late" \
  "$(q "select count(*) from span where trace_id in ($(sed "s/.*/'&'/" "$T/locked.ids" | paste -sd,))")" 0
if grep -q 'telemetry spool .*dropped' "$T/api.log"; then
  echo "PASS locked spool: a warning on stderr"
else
  echo "FAIL locked spool: no warning about dropped records in the workers' stderr"; IT_FAILS=$((IT_FAILS + 1))
fi

# 2. Read-only when the workers start: two more workers, behind their own
# nginx, on a spool of their own. File modes stop a user; root needs the
# immutable flag (where the file system has one).
spool2=$T/ro/spool.db
mkdir -p "$T/ro" "$T/ro-api"
CRUDDUR_SPOOL=$spool2 ws_start_spawn_fcgi "$T/ro-api" "$T/ro.sock" 2 "$API_BIN"
ro_workers=("${WS_WORKER_PIDS[@]}")
ws_start_nginx "$T/nginx2" "$T/ro.sock" "$T/www"
base2=http://127.0.0.1:$WS_PORT
ws_wait_http "$base2/api/activities/notifications" 20 || it_fail "no answer from the second nginx"
IT_SPOOL=$spool2 it_spool_wait "select count(*) > 0 from span" 1 10 || it_fail "$spool2 was not written"
ws_stop_pid "${ro_workers[@]}"   # the last handle closes: no -wal, no -shm left
ro_how=
if [ "$(id -u)" -ne 0 ]; then
  chmod 0444 "$spool2"; chmod 0555 "$T/ro"
  ro_how="chmod"
  # shellcheck disable=SC2016   # expanded at exit
  it_at_exit 'chmod 0755 "$T/ro"'
elif command -v chattr >/dev/null 2>&1 && chattr +i "$spool2" 2>/dev/null; then
  ro_how="chattr"
  # rm -rf cannot remove an immutable file.
  # shellcheck disable=SC2016   # expanded at exit
  it_at_exit 'chattr -i "$spool2" 2>/dev/null'
fi
if [ -z "$ro_how" ]; then
  echo "SKIP read-only spool: running as root on a file system without chattr +i"
else
  CRUDDUR_SPOOL=$spool2 ws_start_spawn_fcgi "$T/ro-api" "$T/ro.sock" 2 "$API_BIN"
  : > "$T/ro.ids"
  requests "read-only spool ($ro_how)" "$base2" "$N" "$T/ro.ids"
  if [ "$ro_how" = chmod ]; then chmod 0755 "$T/ro"; chmod 0640 "$spool2"; else chattr -i "$spool2"; fi
  cp "$T/ro.ids" "$T/ro.all"
  # shellcheck disable=SC2034   # read by it_spool
  IT_SPOOL=$spool2
  settle "read-only spool" "$base2" "$T/ro.all" 0
  it_expect "read-only spool: none of those requests was written late" \
    "$(q "select count(*) from span where trace_id in ($(sed "s/.*/'&'/" "$T/ro.ids" | paste -sd,))")" 0
  unset IT_SPOOL
  if grep -q "telemetry spool $spool2.*dropped" "$T/ro-api/api.log"; then
    echo "PASS read-only spool: a warning on stderr"
  else
    echo "FAIL read-only spool: no warning about dropped records in the workers' stderr"; IT_FAILS=$((IT_FAILS + 1))
  fi
fi

# 3. A spool in a directory that does not exist: two more workers behind
# their own nginx.
mkdir -p "$T/missing"
CRUDDUR_SPOOL=$T/no-such-dir/spool.db ws_start_spawn_fcgi "$T/missing" "$T/missing.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx3" "$T/missing.sock" "$T/www"
base3=http://127.0.0.1:$WS_PORT
ws_wait_http "$base3/api/activities/notifications" 20 || it_fail "no answer with a missing spool directory"
: > "$T/missing.ids"
requests "missing spool directory" "$base3" "$N" "$T/missing.ids"
it_expect "missing spool directory: not created" "$([ -e "$T/no-such-dir" ] && echo created || echo absent)" absent
if grep -q 'no-such-dir' "$T/missing/api.log"; then
  echo "PASS missing spool directory: a warning on stderr"
else
  echo "FAIL missing spool directory: no warning naming the spool in the workers' stderr"; IT_FAILS=$((IT_FAILS + 1))
fi

for pid in "${WS_ALL_WORKERS[@]}"; do
  case " ${ro_workers[*]} " in *" $pid "*) continue ;; esac   # stopped on purpose
  ws_alive "$pid" || it_fail "worker $pid died during the run"
done
it_done
