#!/usr/bin/env bash
# Requests the sampler leaves out write no spans, but still their log
# records and error reports, with the trace id the client was told.
# 1. OTEL_TRACES_SAMPLER=always_off: nothing is sampled.
# 2. The default sampler (parentbased_always_on) follows the caller's
#    sampled flag: traceparent ...-00 is not sampled, ...-01 is.
# Behind nginx with two FastCGI workers.
. "$(dirname "$0")/lib.sh"
it_need nginx
it_require spawn-fcgi curl sqlite3

it_env
it_init_db

q() { it_spool "$@"; }

# answered_trace: the trace id of the last answer's X-Amzn-Trace-Id.
answered_trace() {
  it_header X-Amzn-Trace-Id | sed -n 's/^Root=1-\([0-9a-f]\{8\}\)-\([0-9a-f]\{24\}\)\($\|;.*\)/\1\2/p'
}

# check_logs LABEL TRACE_ID: the access record and the service's record
# of a home request, with the trace id and a span id, and no span.
check_logs() {
  local label=$1 tid=$2
  if it_spool_wait "select count(*) from log where trace_id = '$tid'
                      and json_extract(attributes, '$.\"http.response.status_code\"') = 200" 1 10; then
    echo "PASS $label: the access record, in trace $tid"
  else
    it_expect "$label: the access record in trace $tid" "$IT_GOT" 1
  fi
  it_expect "$label: its span id is there, its severity INFO" \
    "$(q "select length(span_id), severity_text from log where trace_id = '$tid'
            and json_extract(attributes, '$.\"http.response.status_code\"') is not null")" "16|INFO"
  it_expect "$label: the service's record too" \
    "$(q "select count(*) > 0 from log where trace_id = '$tid'
            and json_extract(attributes, '$.\"http.response.status_code\"') is null")" 1
  it_expect "$label: no span" "$(q "select count(*) from span where trace_id = '$tid'")" 0
}

# 1. always_off.
export OTEL_TRACES_SAMPLER=always_off
ws_start_spawn_fcgi "$T" "$T/api.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx" "$T/api.sock" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/activities/notifications" 20 || it_fail "no answer"

tid=$(it_trace_id)
read -r status _ < <(it_get "$base/api/activities/home" -H "traceparent: 00-$tid-$(it_hex 8)-01")
it_expect "always_off, traceparent: 200" "$status" 200
it_expect "always_off, traceparent: the answer names the caller's trace" "$(answered_trace)" "$tid"
check_logs "always_off, traceparent" "$tid"

read -r status _ < <(it_get "$base/api/activities/home")
it_expect "always_off, new trace: 200" "$status" 200
tid=$(answered_trace)
[ -n "$tid" ] || it_fail "always_off: no X-Amzn-Trace-Id Root in: $(tr -d '\r' < "$T/headers")"
check_logs "always_off, new trace" "$tid"

# An error report does not depend on sampling: /rollbar/test files a warning.
read -r status _ < <(it_get "$base/rollbar/test")
it_expect "always_off, /rollbar/test: 200 Hello World!" "$status $(cat "$T/body")" "200 Hello World!"
tid=$(answered_trace)
if it_spool_wait "select level, message from error where trace_id = '$tid'" "warning|Hello World!" 10; then
  echo "PASS always_off, /rollbar/test: a warning report in its trace"
else
  it_expect "always_off, /rollbar/test: a warning report in its trace" "$IT_GOT" "warning|Hello World!"
fi
it_expect "always_off: not one span in the spool" "$(q "select count(*) from span")" 0
it_expect "always_off: nothing dropped" \
  "$(q "select coalesce((select value from counter where name = 'dropped_records'), 0)")" 0

# 2. The default sampler, two more workers on the same spool.
ws_stop_all
unset OTEL_TRACES_SAMPLER
ws_start_spawn_fcgi "$T" "$T/api.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx2" "$T/api.sock" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/activities/notifications" 20 || it_fail "no answer from the default sampler"

tid=$(it_trace_id)
read -r status _ < <(it_get "$base/api/activities/home" -H "traceparent: 00-$tid-$(it_hex 8)-00")
it_expect "default sampler, caller not sampled: 200" "$status" 200
it_expect "default sampler, caller not sampled: the answer names the caller's trace" "$(answered_trace)" "$tid"
check_logs "default sampler, caller not sampled" "$tid"

tid=$(it_trace_id)
read -r status _ < <(it_get "$base/api/activities/home" -H "traceparent: 00-$tid-$(it_hex 8)-01")
it_expect "default sampler, caller sampled: 200" "$status" 200
if it_spool_wait "select count(*) from span where trace_id = '$tid' and kind = 2" 1 10; then
  echo "PASS default sampler, caller sampled: its SERVER span"
else
  it_expect "default sampler, caller sampled: its SERVER span" "$IT_GOT" 1
fi

for pid in "${WS_WORKER_PIDS[@]}"; do
  ws_alive "$pid" || it_fail "worker $pid died during the run"
done
it_done
