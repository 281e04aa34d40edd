#!/usr/bin/env bash
# cruddur-spool answers what docs/spool.md answers with SQL, and agrees with
# that SQL, on a spool that real requests through nginx and two FastCGI
# workers filled: a trace as a tree (the SERVER span at depth 0, its CLIENT
# span indented; any case of the id, and its X-Ray form), recent traces, a
# trace's logs, routes with their counts and percentiles, error reports
# with their trace, a client's requests, the exporters' backlog and the
# size by table. Exit codes: 1 for an unknown trace, 64 for a bad command
# line, 66 for a missing spool, 65 for a file that is not a spool. It never
# changes the file: the spool is byte for byte the same after every command.
. "$(dirname "$0")/lib.sh"
it_need nginx
it_require spawn-fcgi curl sqlite3 sha256sum

SPOOL_BIN=$abs_top_builddir/cruddur-spool
if [ ! -x "$SPOOL_BIN" ]; then
  echo "$IT_NAME: ERROR: $SPOOL_BIN is not built"
  exit 99
fi

it_env
export CRUDDUR_DB_BUSY_TIMEOUT_MS=100
it_init_db
ws_start_spawn_fcgi "$T" "$T/api.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx" "$T/api.sock" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/health-check" 20 || it_fail "no health-check answer"

q() { it_spool "$@"; }

# cli ARGS...: cruddur-spool on the test's spool; its output in $T/out, its
# messages in $T/err (and collected in $T/cli.log, where the sanitizer check
# looks), its exit code in $rc.
cli() {
  rc=0
  "$SPOOL_BIN" "$@" >"$T/out" 2>"$T/err" || rc=$?
  cat "$T/err" >>"$T/cli.log"
}
rows() { tail -n +3 "$T/out"; }             # the table without its header
nrows() { rows | wc -l | tr -d ' '; }

# ---- the requests -----------------------------------------------------------
tid_home=$(it_trace_id)
read -r status _ < <(it_get "$base/api/activities/home" \
  -H "traceparent: 00-$tid_home-$(it_hex 8)-01")
it_expect "home with a traceparent: 200" "$status" 200
for _ in 1 2 3 4 5; do
  read -r status _ < <(it_get "$base/api/activities/home")
  [ "$status" = 200 ] || it_fail "GET /api/activities/home answered $status"
done
for i in 1 2; do
  read -r status _ < <(it_get "$base/api/activities" -X POST \
    -H 'Content-Type: application/json' --data "{\"message\": \"spool cli $i\", \"ttl\": \"1-hour\"}")
  case "$status" in 2??) ;; *) it_fail "POST /api/activities answered $status" ;; esac
done

# A 5xx: the test route that fails on purpose, or (a build without test
# routes) the app database locked past the busy timeout.
tid_fail=$(it_trace_id)
read -r status _ < <(it_get "$base/api/test/fail" -H "traceparent: 00-$tid_fail-$(it_hex 8)-01")
if [ "$status" = 404 ]; then
  echo "NOTE GET /api/test/fail is not built in: a locked app database gives the 5xx"
  it_lock "$CRUDDUR_DB" dblock
  tid_fail=$(it_trace_id)
  read -r status _ < <(it_get "$base/api/activities" -X POST -H 'Content-Type: application/json' \
    -H "traceparent: 00-$tid_fail-$(it_hex 8)-01" --data '{"message": "while locked", "ttl": "1-hour"}')
  it_unlock dblock
  fail_route="POST /api/activities"
else
  fail_route="GET /api/test/fail"
fi
case "$status" in 5??) echo "PASS the failing request: $status" ;;
  *) it_fail "the failing request answered $status, not a 5xx" ;; esac

it_spool_wait "select count(*) from error where trace_id = '$tid_fail'" 1 10 ||
  it_fail "no error report for trace $tid_fail: $IT_GOT"
it_spool_wait "select count(*) from span where kind = 2
                 and json_extract(attributes, '$.\"http.route\"') = '/api/activities/home'" 6 10 ||
  it_fail "6 home requests not in the spool: $IT_GOT"
it_spool_wait "select count(*) from span where trace_id = '$tid_home' and kind = 3" 1 10 ||
  it_fail "no CLIENT span in trace $tid_home: $IT_GOT"

# While the workers run (and hold the WAL), it answers as well.
cli --spool "$CRUDDUR_SPOOL" traces --limit 3
it_expect "traces next to running workers: exit 0, three rows" "$rc|$(nrows)" "0|3"

# Everything from here on reads a spool that nothing else writes: the
# workers stopped (and so checkpointed). An exporter's cursor and state are
# set by hand for the backlog, as a run of cruddur-export would leave them.
for pid in "${WS_WORKER_PIDS[@]}"; do
  ws_alive "$pid" || it_fail "worker $pid died during the run"
done
ws_stop_all
sqlite3 -batch "$CRUDDUR_SPOOL" \
  "insert into cursor (exporter, stream, last_id) values ('honeycomb', 'span', 2), ('rollbar', 'error', 0);
   insert into export_state (exporter, failures, last_error) values ('honeycomb', 1, 'HTTP 503');"
before=$(sha256sum "$CRUDDUR_SPOOL" | cut -d' ' -f1)

# ---- trace ------------------------------------------------------------------
cli --spool "$CRUDDUR_SPOOL" trace "$tid_home"
it_expect "trace: exit 0" "$rc" 0
it_expect "trace: a header line, then dashes" "$(head -n 2 "$T/out" | cut -c1-4 | tr '\n' ' ')" "span ---- "
it_expect "trace: one line per span" "$(nrows)" \
  "$(q "select count(*) from span where trace_id = '$tid_home'")"
it_expect "trace: the SERVER span first, at depth 0, at 0 ms" \
  "$(rows | head -n 1 | awk '{print $1, $2, $3}')" "GET /api/activities/home 0.000"
client=$(q "select name from span where trace_id = '$tid_home' and kind = 3 order by start_ns limit 1")
it_expect "trace: the CLIENT span '$client' is indented under it" \
  "$(rows | grep -F -- "$client" | head -n 1 | grep -cE '^  +[^ ]')" 1
it_expect "trace: every line under the first is indented" \
  "$(rows | tail -n +2 | grep -cvE '^  +[^ ]' || true)" 0
it_expect "trace: the durations are the spool's" \
  "$(rows | awk 'NR == 1 {print $(NF)}')" \
  "$(q "select printf('%.3f', (end_ns - start_ns) / 1e6) from span
          where trace_id = '$tid_home' and kind = 2")"
cp "$T/out" "$T/trace.lower"
cli --spool "$CRUDDUR_SPOOL" trace "${tid_home^^}"
it_expect "trace: an uppercase id, the same answer" "$rc|$(cmp -s "$T/out" "$T/trace.lower"; echo $?)" "0|0"
cli --spool "$CRUDDUR_SPOOL" trace "1-${tid_home:0:8}-${tid_home:8}"
it_expect "trace: the X-Ray form, the same answer" "$rc|$(cmp -s "$T/out" "$T/trace.lower"; echo $?)" "0|0"
cli --spool "$CRUDDUR_SPOOL" trace "$tid_fail"
it_expect "trace: the failed request's SERVER span says ERROR" \
  "$rc|$(rows | head -n 1 | grep -c "^$fail_route .* ERROR")" "0|1"
unknown=$(it_trace_id)
cli --spool "$CRUDDUR_SPOOL" trace "$unknown"
it_expect "trace: an unknown id exits 1, prints nothing, says so" \
  "$rc|$(wc -c < "$T/out")|$(grep -c "$unknown" "$T/err")" "1|0|1"

# ---- traces ------------------------------------------------------------------
cli --spool "$CRUDDUR_SPOOL" traces --limit 100
it_expect "traces: exit 0" "$rc" 0
it_expect "traces: every trace, newest first" "$(rows | awk '{print $2}')" \
  "$(q "select trace_id from trace_summary order by start_ns desc, trace_id limit 100")"
it_expect "traces: the home trace with its root and span count" \
  "$(rows | awk -v t="$tid_home" '$2 == t {print $3, $4, $5}')" \
  "$(q "select root_name || ' ' || span_count from trace_summary where trace_id = '$tid_home'")"
cli --spool "$CRUDDUR_SPOOL" traces --errors
it_expect "traces --errors: only the failed trace" "$rc|$(rows | awk '{print $2}')" \
  "0|$(q "select trace_id from trace_summary where has_error order by start_ns desc")"
it_expect "traces --errors: the failed trace is among them" "$(rows | grep -c "$tid_fail")" 1
cli --spool "$CRUDDUR_SPOOL" traces --limit=1
it_expect "traces --limit=1: one row" "$rc|$(nrows)" "0|1"

# ---- logs ----------------------------------------------------------------------
cli --spool "$CRUDDUR_SPOOL" logs "$tid_home"
it_expect "logs: exit 0, one line per record" "$rc|$(nrows)" \
  "0|$(q "select count(*) from log where trace_id = '$tid_home'")"
it_expect "logs: in time order, with their span ids" "$(rows | awk '{print $NF}')" \
  "$(q "select span_id from log where trace_id = '$tid_home' order by time_ns, id")"
it_expect "logs: times in UTC ISO 8601" \
  "$(rows | head -n 1 | awk '{print $1}')" \
  "$(q "select strftime('%Y-%m-%dT%H:%M:%fZ', (time_ns + 500000) / 1000000 / 1000.0, 'unixepoch')
          from log where trace_id = '$tid_home' order by time_ns, id limit 1")"
missing=0
while IFS= read -r body; do
  grep -qF -- "$body" "$T/out" || missing=$((missing + 1))
done < <(q "select body from log where trace_id = '$tid_home'")
it_expect "logs: every body is there" "$missing" 0
cli --spool "$CRUDDUR_SPOOL" logs "$unknown"
it_expect "logs: an unknown id exits 1" "$rc|$(wc -c < "$T/out")" "1|0"

# ---- routes ----------------------------------------------------------------------
view_routes=$(q "select route || ' ' || requests || ' ' || errors || ' ' || printf('%.3f', p50_ms)
                        || ' ' || printf('%.3f', p95_ms) || ' ' || printf('%.3f', p99_ms)
                   from route_stats")
cli --spool "$CRUDDUR_SPOOL" routes
it_expect "routes: exit 0" "$rc" 0
it_expect "routes: the rows of route_stats" "$(rows | awk '{$1 = $1; print}')" "$view_routes"
it_expect "routes: the 6 home requests, no error" \
  "$(rows | awk '$1 == "/api/activities/home" {print $2, $3}')" "6 0"
it_expect "routes: the 2 posts and the failure" \
  "$(rows | awk '$1 == "/api/activities" || $1 == "/api/test/fail" {n += $2; e += $3}
                 END {print n, e}')" "3 1"
cli --spool "$CRUDDUR_SPOOL" routes --since 1h
it_expect "routes --since 1h: the same, every request is that recent" \
  "$rc|$(rows | awk '{$1 = $1; print}' | sort)" "0|$(sort <<<"$view_routes")"
sleep 2
cli --spool "$CRUDDUR_SPOOL" routes --since 1s
it_expect "routes --since 1s: none (the last request is older)" "$rc|$(nrows)" "0|0"

# ---- errors ----------------------------------------------------------------------
cli --spool "$CRUDDUR_SPOOL" errors
it_expect "errors: exit 0, every report" "$rc|$(nrows)" "0|$(q "select count(*) from error")"
it_expect "errors: the 5xx, on its route, with its trace id" \
  "$(rows | grep -F "$tid_fail" | grep -cF "$fail_route")" 1
it_expect "errors: newest first, as the spool has them" "$(rows | awk '{print $NF}')" \
  "$(q "select coalesce(trace_id, '') from error order by time_ns desc, id desc")"
cli --spool "$CRUDDUR_SPOOL" errors --since 1d --limit 1
it_expect "errors --since 1d --limit 1: one" "$rc|$(nrows)" "0|1"
cli --spool "$CRUDDUR_SPOOL" errors --since 1s
it_expect "errors --since 1s: none" "$rc|$(nrows)" "0|0"

# ---- requests ----------------------------------------------------------------------
addr=$(q "select json_extract(attributes, '$.\"client.address\"') from span
           where trace_id = '$tid_home' and kind = 2")
cli --spool "$CRUDDUR_SPOOL" requests "$addr" --limit 200
it_expect "requests $addr: exit 0, every request of that client" "$rc|$(nrows)" \
  "0|$(q "select count(*) from span where kind = 2
            and json_extract(attributes, '$.\"client.address\"') = '$addr'")"
it_expect "requests: newest first, with their trace ids" "$(rows | awk '{print $NF}')" \
  "$(q "select trace_id from span where kind = 2
          and json_extract(attributes, '$.\"client.address\"') = '$addr'
        order by start_ns desc, id desc")"
it_expect "requests: the home request with its method, path and status" \
  "$(rows | awk -v t="$tid_home" '$NF == t {print $2, $3, $4}')" "GET /api/activities/home 200"
cli --spool "$CRUDDUR_SPOOL" requests "$addr" --limit 3
it_expect "requests --limit 3: three" "$rc|$(nrows)" "0|3"
cli --spool "$CRUDDUR_SPOOL" requests "10.255.0.1' OR '1'='1"
it_expect "requests: an address is a value, not SQL" "$rc|$(nrows)" "0|0"

# ---- backlog and size ----------------------------------------------------------------
cli --spool "$CRUDDUR_SPOOL" backlog
it_expect "backlog: exit 0, a row per exporter and stream" "$rc|$(rows | awk '{print $1, $2, $3, $4, $5, $6}')" \
  "0|$(q "select exporter || ' ' || stream || ' ' || last_id || ' ' || max_id || ' ' || backlog
                 || ' ' || pending_rows from exporter_backlog")"
it_expect "backlog: the exporter's failure" "$(grep -c 'HTTP 503' "$T/out")" 1
cli --spool "$CRUDDUR_SPOOL" size
it_expect "size: exit 0, every table with its rows" "$rc|$(rows | awk '{print $1, $2}')" \
  "0|$(q "select table_name || ' ' || row_count from spool_size")"
it_expect "size: the bytes of the span table" \
  "$(rows | awk '$1 == "span" {print $(NF - 1), $NF}' | grep -cE '^[0-9]+\.[0-9] KiB$')" 1

# ---- where the spool is, and what is not one --------------------------------------------
cli size
it_expect "default: \$CRUDDUR_SPOOL" "$rc|$(nrows)" "0|8"
(unset CRUDDUR_SPOOL; cli size; echo "$rc|$(nrows)" > "$T/state-dir.rc")
it_expect "default: \$CRUDDUR_STATE_DIR/spool.db" "$(cat "$T/state-dir.rc")" "0|8"
CRUDDUR_SPOOL=$T/state/none.db cli size
it_expect "a missing spool: 66" "$rc" 66
cli --spool "$T/nowhere/spool.db" backlog
it_expect "a missing directory: 66" "$rc" 66
cli --spool "$CRUDDUR_DB" traces
it_expect "the app database is not a spool: 65" "$rc|$(grep -c 'not a spool' "$T/err")" "65|1"
echo "not a database at all, but long enough to look like one to a reader ......" > "$T/text.db"
cli --spool "$T/text.db" size
it_expect "a text file is not a spool: 65" "$rc" 65

# ---- the command line ------------------------------------------------------------------
usage_case() {   # usage_case LABEL ARGS...: exit 64 and a message
  local label=$1; shift
  cli --spool "$CRUDDUR_SPOOL" "$@"
  it_expect "usage: $label: 64" "$rc|$([ -s "$T/err" ] && echo said)" "64|said"
}
usage_case "no command"
usage_case "an unknown command" frobnicate
usage_case "a bad trace id" trace not-a-trace-id
usage_case "a trace id of zeros" trace 00000000000000000000000000000000
usage_case "a trace id of 31 digits" logs "${tid_home:1}"
usage_case "no trace id" trace
usage_case "two arguments" trace "$tid_home" "$tid_home"
usage_case "a bad duration" routes --since 15
usage_case "a unit it does not know" errors --since 1y
usage_case "a limit of 0" traces --limit 0
usage_case "a limit too large" traces --limit 10001
usage_case "an option of another command" backlog --errors
usage_case "an unknown option" size --verbose
usage_case "an argument too long" requests "$(printf '%05000d' 0)"
cli --help
it_expect "--help: exit 0, the usage" "$rc|$(grep -c '^usage: cruddur-spool' "$T/out")" "0|1"
cli --version
it_expect "--version: exit 0" "$rc|$(grep -c '^cruddur-spool ' "$T/out")" "0|1"

# ---- nothing changed ------------------------------------------------------------------
it_expect "the spool is byte for byte what it was" \
  "$(sha256sum "$CRUDDUR_SPOOL" | cut -d' ' -f1)" "$before"

it_done
