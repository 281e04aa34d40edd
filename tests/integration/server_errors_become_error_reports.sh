#!/usr/bin/env bash
# A 5xx answer leaves an error report in the spool, tied to the request's
# trace and SERVER span, whose status is ERROR with an exception event; the
# client sees no detail, and no secret of the request reaches the spool.
# Two ways to a 5xx: the app database locked past its busy timeout (503, any
# build), and GET /api/test/fail (500, builds with --enable-test-routes).
. "$(dirname "$0")/lib.sh"
it_need nginx
it_require spawn-fcgi curl sqlite3

it_env
export CRUDDUR_DB_BUSY_TIMEOUT_MS=100
it_init_db
ws_start_spawn_fcgi "$T" "$T/api.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx" "$T/api.sock" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/health-check" 20 || it_fail "no health-check answer"

q() { it_spool "$@"; }

# check_report LABEL TRACE_ID STATUS ROUTE CLASS: the SERVER span and the
# error report of one failed request.
check_report() {
  local label=$1 tid=$2 status=$3 route=$4 class=$5 sid
  if ! it_spool_wait "select count(*) from error where trace_id = '$tid'" 1 10; then
    it_expect "$label: one error report in the trace" "$IT_GOT" 1
    return
  fi
  it_spool_wait "select count(*) from span where trace_id = '$tid' and kind = 2" 1 5 || true
  sid=$(q "select span_id from span where trace_id = '$tid' and kind = 2")
  it_expect "$label: SERVER span $route, status ERROR, http.response.status_code $status" \
    "$(q "select name, status_code,
                 json_extract(attributes, '$.\"http.response.status_code\"')
            from span where trace_id = '$tid' and kind = 2")" "$route|2|$status"
  it_expect "$label: the SERVER span has an exception event" \
    "$(q "select count(*) from span, json_each(span.events) as e
            where span.trace_id = '$tid' and span.kind = 2
              and json_extract(e.value, '$.name') = 'exception'")" 1
  it_expect "$label: report level error, class $class, on the SERVER span, context the route" \
    "$(q "select level, class, span_id, context from error where trace_id = '$tid'")" \
    "error|$class|$sid|$route"
  it_expect "$label: the report has a message, a backtrace and the request" \
    "$(q "select length(message) > 0, json_array_length(frames) > 0,
                 json_extract(request, '$.method') = '${route%% *}'
            from error where trace_id = '$tid'")" "1|1|1"
  it_expect "$label: an access record with status $status" \
    "$(q "select count(*) from log where trace_id = '$tid'
            and json_extract(attributes, '$.\"http.response.status_code\"') = $status")" 1
}

# 1. The app database locked by another process: the write waits out its
# busy timeout (100 ms) and the API answers 503.
it_lock "$CRUDDUR_DB" dblock
tid=$(it_trace_id)
read -r status _ < <(it_get "$base/api/activities" -X POST -H 'Content-Type: application/json' \
  -H "traceparent: 00-$tid-$(it_hex 8)-01" --data '{"message": "while locked", "ttl": "1-hour"}')
it_unlock dblock
it_expect "locked database: 503" "$status" 503
it_expect "locked database: the answer names its trace" \
  "$(it_header X-Amzn-Trace-Id | cut -c1-44)" "Root=1-${tid:0:8}-${tid:8}"
check_report "locked database" "$tid" 503 "POST /api/activities" DatabaseBusy

# 2. The test route that fails on purpose, with secrets in the request.
tid=$(it_trace_id)
read -r status _ < <(it_get "$base/api/test/fail?api_key=hunter2-key&page=2" \
  -H "traceparent: 00-$tid-$(it_hex 8)-01" \
  -H "Authorization: Bearer sekrit-bearer-token" -H "Cookie: session=sekrit-cookie" \
  -H "X-Api-Key: sekrit-api-key")
if [ "$status" = 404 ]; then
  echo "SKIP GET /api/test/fail: this cruddur-api was built without --enable-test-routes"
else
  it_expect "test/fail: 500" "$status" 500
  it_expect "test/fail: the answer is the API's error, without the detail" \
    "$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["error"])' "$T/body")|$(
       grep -c 'on purpose' "$T/body" || true)" "internal_error|0"
  check_report "test/fail" "$tid" 500 "GET /api/test/fail" InternalError
  it_expect "test/fail: the report's request has its headers, secrets redacted" \
    "$(q "select count(*), min(h.value), max(h.value)
            from error, json_each(error.request, '$.headers') as h
           where error.trace_id = '$tid'
             and lower(h.key) in ('authorization', 'cookie', 'x-api-key')")" \
    "3|[REDACTED]|[REDACTED]"
  it_expect "test/fail: the report's url keeps the path, redacts the key" \
    "$(q "select instr(json_extract(request, '$.url'), '/api/test/fail') > 0,
                 instr(json_extract(request, '$.url'), 'page=2') > 0
            from error where trace_id = '$tid'")" "1|1"
  leaks=$(q ".dump" | grep -c -E 'hunter2|sekrit' || true)
  it_expect "test/fail: no secret anywhere in the spool" "$leaks" 0
fi

for pid in "${WS_WORKER_PIDS[@]}"; do
  ws_alive "$pid" || it_fail "worker $pid died during the run"
done
it_done
