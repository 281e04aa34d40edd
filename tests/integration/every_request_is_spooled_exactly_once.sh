#!/usr/bin/env bash
# 1,000 concurrent requests through nginx to two FastCGI workers leave
# exactly 1,000 SERVER spans in the spool, one per request and trace, each
# with its access record, and nothing dropped.
. "$(dirname "$0")/lib.sh"
it_need nginx
it_require spawn-fcgi curl sqlite3

N=1000
THREADS=32
ROUTE="GET /api/activities/home"

it_env
it_init_db
ws_start_spawn_fcgi "$T" "$T/api.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx" "$T/api.sock" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/health-check" 20 || it_fail "no health-check answer"


# Each request carries its own traceparent; its answer must name that trace.
# Writes the trace ids to $T/sent and prints "ok N" or the failures.
t0=$(date +%s%N)
"$PYTHON" "$IT_DIR/burst.py" "$WS_PORT" "$N" "$THREADS" cruddur-it/burst "$T/sent" > "$T/burst.out"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "     ($N requests, $THREADS at a time, in $ms ms)"
it_expect "all $N answers are 200 and name their trace" "$(head -n 1 "$T/burst.out")" "ok $N"
[ "$(head -n 1 "$T/burst.out")" = "ok $N" ] || cat "$T/burst.out"

# The spool is written after each answer: wait for the last ones.
count_sql="select count(*) from span where kind = 2 and name = '$ROUTE'
             and json_extract(attributes, '$.\"user_agent.original\"') = 'cruddur-it/burst'"
if ! it_spool_wait "$count_sql" "$N" 20; then
  echo "     (after 20 s the spool holds $IT_GOT)"
fi
sleep 0.5   # anything written twice would show now
it_expect "exactly $N SERVER spans for $ROUTE" "$(it_spool "$count_sql")" "$N"
it_expect "each trace id once" \
  "$(it_spool "select count(distinct trace_id) from span where kind = 2 and name = '$ROUTE'
                 and json_extract(attributes, '$.\"user_agent.original\"') = 'cruddur-it/burst'")" "$N"
it_spool "select trace_id from span where kind = 2 and name = '$ROUTE'
            and json_extract(attributes, '$.\"user_agent.original\"') = 'cruddur-it/burst'" |
  sort > "$T/spooled"
sort "$T/sent" > "$T/sent.sorted"
if cmp -s "$T/spooled" "$T/sent.sorted"; then
  echo "PASS the spooled trace ids are exactly those sent"
else
  echo "FAIL the spooled trace ids differ from those sent:"
  diff "$T/sent.sorted" "$T/spooled" | head -n 10
  IT_FAILS=$((IT_FAILS + 1))
fi
it_expect "one access record per request" \
  "$(it_spool "select count(*), count(distinct trace_id) from log
                 where json_extract(attributes, '$.\"http.response.status_code\"') = 200
                   and trace_id in (select trace_id from span where kind = 2
                     and json_extract(attributes, '$.\"user_agent.original\"') = 'cruddur-it/burst')")" \
  "$N|$N"
it_expect "every SERVER span has its INTERNAL child" \
  "$(it_spool "select count(*) from span s where s.kind = 2
                 and json_extract(s.attributes, '$.\"user_agent.original\"') = 'cruddur-it/burst'
                 and exists (select 1 from span c where c.trace_id = s.trace_id
                               and c.parent_span_id = s.span_id and c.kind = 1)")" "$N"
it_expect "nothing dropped" \
  "$(it_spool "select coalesce((select value from counter where name = 'dropped_records'), 0)")" 0
it_expect "span ids unique" "$(it_spool "select count(*) - count(distinct span_id) from span")" 0

for pid in "${WS_WORKER_PIDS[@]}"; do
  ws_alive "$pid" || it_fail "worker $pid died during the run"
done
it_done
