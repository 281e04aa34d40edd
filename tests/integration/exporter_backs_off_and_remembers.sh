#!/usr/bin/env bash
# A 503 with Retry-After: 30 ends a cron run (exit 75) with the backoff
# stored in export_state; the next run, inside that window, sends nothing
# and exits 75 at once; once the window is over (here: cleared the way
# docs/exporters.md says), everything goes and the state is clean again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"

ex_start_otlp --key k
ex_spool_init
ex_seed_spans 500
ex_post "$OTLP_URL" /_fake/faults '{"kind": "status", "status": 503, "retry_after": "30"}'
export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_URL OTEL_EXPORTER_OTLP_HEADERS=x-honeycomb-team=k
now=$(date +%s)
ex_run first honeycomb --spool "$SPOOL" --max-wait 5
ex_expect_rc 75 first
grep -q 'HTTP 503: injected fault; next attempt after' "$T/first.log" || it_fail "first: $(cat "$T/first.log")"
retry_at=$(ex_sql "SELECT retry_at_ns / 1000000000 FROM export_state WHERE exporter = 'honeycomb'")
if [ "$retry_at" -lt $((now + 29)) ] || [ "$retry_at" -gt $((now + 32)) ]; then
  it_fail "retry_at $retry_at is not about now + 30 ($now)"
fi
[ "$(ex_sql "SELECT failures FROM export_state")" = 1 ] || it_fail "failures"
[ "$(ex_sql "SELECT last_id FROM cursor WHERE exporter = 'honeycomb'")" = 0 ] || it_fail "cursor moved"

# A restart (the next cron run) inside the window: nothing sent, 75 at once.
start=$(date +%s%N)
ex_run second honeycomb --spool "$SPOOL"
ex_expect_rc 75 second
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 5000 ] || it_fail "the second run waited"
grep -q 'in backoff after 1 failures until' "$T/second.log" || it_fail "second: $(cat "$T/second.log")"
ex_summary second | grep -q 'sent 0, batches 0, rejected 0, dead-lettered 0, backlog 500, .*: in backoff until' ||
  it_fail "summary: $(ex_summary second)"
[ "$(ex_stat "$OTLP_URL" requests)" = 1 ] || it_fail "the second run sent something"
"$EXPORT_BIN" honeycomb --spool "$SPOOL" --status >"$T/status.log" 2>&1
grep -q 'failures 1, next attempt 20' "$T/status.log" || it_fail "status: $(cat "$T/status.log")"

# The window is over.
ex_sql "UPDATE export_state SET retry_at_ns = 0 WHERE exporter = 'honeycomb'"
ex_run third honeycomb --spool "$SPOOL"
ex_expect_rc 0 third
[ "$(ex_stat "$OTLP_URL" unique)" = 500 ] || it_fail "arrived: $(ex_stat "$OTLP_URL" unique)"
[ "$(ex_sql "SELECT failures, retry_at_ns, sent FROM export_state")" = "0|0|500" ] ||
  it_fail "state: $(ex_sql 'SELECT * FROM export_state')"
it_log "ok"
