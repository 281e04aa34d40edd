#!/usr/bin/env bash
# A request that arrives with a W3C traceparent is recorded in the spool as a
# SERVER span of that trace, whose parent is the caller's span, with the HTTP
# attributes, the service's INTERNAL span and a CLIENT span per statement
# under it, one access log record, and nothing more. X-Amzn-Trace-Id is
# honoured when no traceparent comes; traceparent wins over it; an invalid
# one starts a new trace. Behind nginx with two FastCGI workers, and as CGI
# under lighttpd.
. "$(dirname "$0")/lib.sh"
it_need nginx
it_require spawn-fcgi curl sqlite3

it_env
it_init_db
ws_start_spawn_fcgi "$T" "$T/api.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx" "$T/api.sock" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/health-check" 20 || it_fail "no health-check answer"

fails=0
expect() {   # expect NAME GOT WANTED
  if [ "$2" = "$3" ]; then
    echo "PASS $1"
  else
    echo "FAIL $1: got '$2', wanted '$3'"
    fails=$((fails + 1))
  fi
}
q() { it_spool "$@"; }

ua="cruddur-it/1.0 (traceparent)"

# check_request LABEL TRACE_ID PARENT PORT: the whole trace of one home
# request, as it must be in the spool.
check_request() {
  local label=$1 tid=$2 parent=$3 port=$4 n sid
  if ! it_spool_wait "select count(*) from span where trace_id = '$tid' and kind = 2" 1 10; then
    expect "$label: one SERVER span for trace $tid" "$IT_GOT" 1
    return
  fi
  # Its CLIENT and log records come in the same transaction; a moment for
  # nothing more to arrive.
  sleep 0.2
  expect "$label: one SERVER span for the trace" \
    "$(q "select count(*) from span where trace_id = '$tid' and kind = 2")" 1
  sid=$(q "select span_id from span where trace_id = '$tid' and kind = 2")
  expect "$label: its parent is the caller's span" \
    "$(q "select parent_span_id from span where span_id = '$sid' and trace_id = '$tid'")" "$parent"
  expect "$label: named after the route" \
    "$(q "select name from span where span_id = '$sid'")" "GET /api/activities/home"
  expect "$label: status not ERROR" \
    "$(q "select status_code <> 2 from span where span_id = '$sid'")" 1
  expect "$label: ends after it starts" \
    "$(q "select end_ns >= start_ns and start_ns > 1600000000000000000 from span where span_id = '$sid'")" 1
  local a
  a=$(q "select json_extract(attributes, '$.\"http.request.method\"'),
                json_extract(attributes, '$.\"url.path\"'),
                json_extract(attributes, '$.\"url.scheme\"'),
                json_extract(attributes, '$.\"http.route\"'),
                json_extract(attributes, '$.\"http.response.status_code\"'),
                json_type(attributes, '$.\"http.response.status_code\"'),
                json_extract(attributes, '$.\"server.address\"'),
                json_extract(attributes, '$.\"server.port\"'),
                json_type(attributes, '$.\"server.port\"'),
                json_extract(attributes, '$.\"client.address\"'),
                json_extract(attributes, '$.\"user_agent.original\"')
           from span where span_id = '$sid'")
  expect "$label: SERVER span attributes" "$a" \
    "GET|/api/activities/home|http|/api/activities/home|200|integer|127.0.0.1|$port|integer|127.0.0.1|$ua"

  # The service's INTERNAL span, under the SERVER span.
  expect "$label: home-activities-span under the SERVER span" \
    "$(q "select count(*) from span where trace_id = '$tid' and kind = 1
            and name = 'home-activities-span' and parent_span_id = '$sid'")" 1
  local want_len want_ids
  want_len=$("$PYTHON" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$T/home.json")
  want_ids=$("$PYTHON" -c 'import json, sys
print(",".join(sorted({a["handle"] for a in json.load(open(sys.argv[1]))})))' "$T/home.json")
  expect "$label: home-activities-span attributes (app.now, app.result_length, app.user_ids)" \
    "$(q "select json_type(attributes, '$.\"app.now\"') = 'text'
                 and length(json_extract(attributes, '$.\"app.now\"')) > 0,
                 json_extract(attributes, '$.\"app.result_length\"'),
                 json_type(attributes, '$.\"app.user_ids\"'),
                 (select group_concat(value, ',') from
                    (select value from json_each(attributes, '$.\"app.user_ids\"') order by value))
            from span where trace_id = '$tid' and name = 'home-activities-span'")" \
    "1|$want_len|array|$want_ids"

  # A CLIENT span per statement, each inside this trace, none with a literal.
  n=$(q "select count(*) from span where trace_id = '$tid' and kind = 3")
  if [ "$n" -ge 1 ]; then echo "PASS $label: $n CLIENT span(s)"; else
    echo "FAIL $label: no CLIENT span"; fails=$((fails + 1)); fi
  expect "$label: every CLIENT span is a sqlite statement with its text and operation" \
    "$(q "select count(*) from span where trace_id = '$tid' and kind = 3
            and json_extract(attributes, '$.\"db.system.name\"') = 'sqlite'
            and length(json_extract(attributes, '$.\"db.operation.name\"')) > 0
            and length(json_extract(attributes, '$.\"db.query.text\"')) > 0")" "$n"
  expect "$label: no literal value in a statement's text" \
    "$(q "select count(*) from span where trace_id = '$tid' and kind = 3
            and (instr(json_extract(attributes, '$.\"db.query.text\"'), '''') > 0
                 or instr(json_extract(attributes, '$.\"db.query.text\"'), 'andrewbrown') > 0)")" 0
  expect "$label: every CLIENT span's parent is a span of the trace" \
    "$(q "select count(*) from span c where c.trace_id = '$tid' and c.kind = 3
            and exists (select 1 from span p where p.trace_id = c.trace_id
                          and p.span_id = c.parent_span_id)")" "$n"
  expect "$label: nothing but SERVER, INTERNAL and CLIENT spans; one root" \
    "$(q "select count(*) from span where trace_id = '$tid' and kind not between 1 and 3")|$(
       q "select count(*) from span s where s.trace_id = '$tid'
            and not exists (select 1 from span p where p.trace_id = s.trace_id
                              and p.span_id = s.parent_span_id)")" "0|1"
  expect "$label: span ids unique in the trace" \
    "$(q "select count(*) = count(distinct span_id) from span where trace_id = '$tid'")" 1

  # One access record, tied to the SERVER span; other records tied to spans
  # of the trace; no error report.
  expect "$label: one access record, INFO, status 200, on the SERVER span" \
    "$(q "select count(*), max(severity_number), max(severity_text),
                 max(json_extract(attributes, '$.\"http.response.status_code\"')), max(span_id)
            from log where trace_id = '$tid'
             and json_extract(attributes, '$.\"http.response.status_code\"') is not null")" \
    "1|9|INFO|200|$sid"
  expect "$label: every log record of the trace is tied to one of its spans" \
    "$(q "select count(*) from log l where l.trace_id = '$tid'
            and not exists (select 1 from span s where s.trace_id = l.trace_id
                              and s.span_id = l.span_id)")" 0
  expect "$label: no error report" "$(q "select count(*) from error where trace_id = '$tid'")" 0
}

# 1. traceparent (and tracestate).
tid=$(it_trace_id); parent=$(it_hex 8)
tstate="congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
read -r status _ < <(it_get "$base/api/activities/home" -A "$ua" \
  -H "traceparent: 00-$tid-$parent-01" -H "tracestate: $tstate")
cp "$T/body" "$T/home.json"
expect "traceparent: 200" "$status" 200
xray=$(it_header X-Amzn-Trace-Id)
if [[ $xray =~ ^Root=1-${tid:0:8}-${tid:8}(\;|$) ]]; then
  echo "PASS traceparent: X-Amzn-Trace-Id answers Root=1-${tid:0:8}-${tid:8}"
else
  echo "FAIL traceparent: X-Amzn-Trace-Id is '$xray'"; fails=$((fails + 1))
fi
check_request "nginx+FastCGI, traceparent" "$tid" "$parent" "$WS_PORT"
expect "traceparent: tracestate kept on the SERVER span" \
  "$(q "select trace_state from span where trace_id = '$tid' and kind = 2")" "$tstate"

# 2. X-Amzn-Trace-Id alone.
tid2=$(it_trace_id); parent2=$(it_hex 8)
read -r status _ < <(it_get "$base/api/activities/home" -A "$ua" \
  -H "X-Amzn-Trace-Id: Root=1-${tid2:0:8}-${tid2:8};Parent=$parent2;Sampled=1")
expect "X-Amzn-Trace-Id: 200" "$status" 200
if it_spool_wait "select parent_span_id from span where trace_id = '$tid2' and kind = 2" "$parent2" 10; then
  echo "PASS X-Amzn-Trace-Id: SERVER span in trace $tid2 under $parent2"
else
  echo "FAIL X-Amzn-Trace-Id: SERVER span parent: '$IT_GOT'"; fails=$((fails + 1))
fi

# 3. Both: traceparent wins.
tid3=$(it_trace_id); parent3=$(it_hex 8); other=$(it_trace_id)
read -r status _ < <(it_get "$base/api/activities/home" -A "$ua" \
  -H "traceparent: 00-$tid3-$parent3-01" \
  -H "X-Amzn-Trace-Id: Root=1-${other:0:8}-${other:8};Parent=$(it_hex 8);Sampled=1")
expect "both headers: 200" "$status" 200
if it_spool_wait "select parent_span_id from span where trace_id = '$tid3' and kind = 2" "$parent3" 10; then
  echo "PASS both headers: traceparent wins"
else
  echo "FAIL both headers: SERVER span of the traceparent trace: '$IT_GOT'"; fails=$((fails + 1))
fi
expect "both headers: nothing in the X-Amzn-Trace-Id trace" \
  "$(q "select count(*) from span where trace_id = '$other'")" 0

# 4. An invalid traceparent (version ff) starts a new trace, without parent.
tid4=$(it_trace_id)
read -r status _ < <(it_get "$base/api/activities/home" -A "$ua" \
  -H "traceparent: ff-$tid4-$(it_hex 8)-01")
expect "invalid traceparent: 200" "$status" 200
xray=$(it_header X-Amzn-Trace-Id)
new=$(printf '%s' "$xray" | sed -n 's/^Root=1-\([0-9a-f]\{8\}\)-\([0-9a-f]\{24\}\).*/\1\2/p')
if [ -n "$new" ] && [ "$new" != "$tid4" ]; then
  echo "PASS invalid traceparent: a new trace $new"
else
  echo "FAIL invalid traceparent: X-Amzn-Trace-Id '$xray'"; fails=$((fails + 1))
fi
if [ -n "$new" ] && it_spool_wait "select count(*), count(parent_span_id) from span
                                     where trace_id = '$new' and kind = 2" "1|0" 10; then
  echo "PASS invalid traceparent: a root SERVER span"
else
  echo "FAIL invalid traceparent: SERVER span (count, with parent): '$IT_GOT'"; fails=$((fails + 1))
fi
expect "invalid traceparent: nothing in its trace id" \
  "$(q "select count(*) from span where trace_id = '$tid4'")" 0

# 5. The same request as a CGI program under lighttpd, into the same spool.
if command -v lighttpd >/dev/null 2>&1; then
  ws_start_lighttpd cgi "$T/lighttpd" "$API_BIN" "$T/www"
  lbase=http://127.0.0.1:$WS_PORT
  # (Not health-check: it also reports the spool's state, which is not
  # what this waits for.)
  ws_wait_http "$lbase/api/activities/notifications" 20 || it_fail "no answer from lighttpd"
  tid5=$(it_trace_id); parent5=$(it_hex 8)
  read -r status _ < <(it_get "$lbase/api/activities/home" -A "$ua" \
    -H "traceparent: 00-$tid5-$parent5-01")
  cp "$T/body" "$T/home.json"
  expect "lighttpd CGI: 200" "$status" 200
  check_request "lighttpd CGI, traceparent" "$tid5" "$parent5" "$WS_PORT"
else
  echo "SKIP lighttpd CGI: lighttpd is not installed"
fi

for pid in "${WS_ALL_WORKERS[@]}"; do
  ws_alive "$pid" || it_fail "worker $pid died during the run"
done
[ "$fails" -eq 0 ] || it_fail "$fails check(s) failed"
echo "$IT_NAME: PASS"
