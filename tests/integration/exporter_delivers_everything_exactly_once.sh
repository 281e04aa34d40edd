#!/usr/bin/env bash
# 10,000 spooled spans, 500 log records and 100 error reports reach the OTLP
# and Rollbar fakes exactly once, in payloads that pass their checks with no
# deviation from the specifications; the cursors, export_state and the
# summary lines say so, and a second run sends nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"

ex_start_otlp --key hc-key
ex_start_rollbar --token rb-token
ex_spool_init
ex_seed_spans 10000
ex_seed_logs 500
ex_seed_errors 100

export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_URL OTEL_EXPORTER_OTLP_HEADERS=x-honeycomb-team=hc-key CRUDDUR_OTLP_LOGS=1
ex_run honeycomb honeycomb --spool "$SPOOL" --batch-size 500
ex_expect_rc 0 honeycomb
line=$(ex_summary honeycomb)
case $line in
  *"honeycomb: sent 10500, batches 21, rejected 0, dead-lettered 0, backlog 0, "*": done") ;;
  *) it_fail "summary: $line" ;;
esac
[ "$(ex_stat "$OTLP_URL" spans)" = 10000 ] || it_fail "spans at the fake: $(ex_stat "$OTLP_URL" spans)"
[ "$(ex_stat "$OTLP_URL" logs)" = 500 ] || it_fail "logs at the fake: $(ex_stat "$OTLP_URL" logs)"
[ "$(ex_stat "$OTLP_URL" unique)" = 10500 ] || it_fail "unique records: $(ex_stat "$OTLP_URL" unique)"
[ "$(ex_stat "$OTLP_URL" duplicates)" = 0 ] || it_fail "duplicates: $(ex_stat "$OTLP_URL" duplicates)"
[ "$(ex_stat "$OTLP_URL" deviations)" = 0 ] ||
  it_fail "the payloads deviate from OTLP: $(ex_stat "$OTLP_URL" deviation_samples)"
[ "$(ex_stat "$OTLP_URL" gzip_requests)" = 21 ] || it_fail "gzip: $(ex_stat "$OTLP_URL" gzip_requests)"
[ "$(ex_sql "SELECT stream, last_id FROM cursor WHERE exporter = 'honeycomb' ORDER BY stream")" = \
  "$(printf 'log|500\nspan|10000')" ] || it_fail "cursors: $(ex_sql 'SELECT * FROM cursor')"
[ "$(ex_sql "SELECT sent, rejected, dead_lettered, failures FROM export_state WHERE exporter = 'honeycomb'")" = \
  "10500|0|0|0" ] || it_fail "state: $(ex_sql 'SELECT * FROM export_state')"

export ROLLBAR_ENDPOINT=$ROLLBAR_URL ROLLBAR_ACCESS_TOKEN=rb-token
ex_run rollbar rollbar --spool "$SPOOL" --batch-size 40
ex_expect_rc 0 rollbar
line=$(ex_summary rollbar)
case $line in
  *"rollbar: sent 100, batches 3, rejected 0, dead-lettered 0, backlog 0, "*) ;;
  *) it_fail "summary: $line" ;;
esac
[ "$(ex_stat "$ROLLBAR_URL" unique)" = 100 ] || it_fail "items: $(ex_stat "$ROLLBAR_URL" unique)"
[ "$(ex_stat "$ROLLBAR_URL" duplicates)" = 0 ] || it_fail "item duplicates"
[ "$(ex_stat "$ROLLBAR_URL" deviations)" = 0 ] ||
  it_fail "items deviate from the item API: $(ex_stat "$ROLLBAR_URL" deviation_samples)"
[ "$(ex_stat "$ROLLBAR_URL" items_without_trace_id)" = 0 ] || it_fail "items without trace ids"
[ "$(ex_sql "SELECT last_id FROM cursor WHERE exporter = 'rollbar' AND stream = 'error'")" = 100 ] ||
  it_fail "rollbar cursor"

# Nothing left: the next runs send nothing.
ex_run honeycomb2 honeycomb --spool "$SPOOL"
ex_expect_rc 0 honeycomb2
ex_run rollbar2 rollbar --spool "$SPOOL"
ex_expect_rc 0 rollbar2
[ "$(ex_stat "$OTLP_URL" requests)" = 21 ] || it_fail "a second honeycomb run sent something"
[ "$(ex_stat "$ROLLBAR_URL" requests)" = 100 ] || it_fail "a second rollbar run sent something"
ex_summary honeycomb2 | grep -q 'sent 0, batches 0, rejected 0, dead-lettered 0, backlog 0' ||
  it_fail "second summary: $(ex_summary honeycomb2)"
it_log "ok"
