#!/usr/bin/env bash
# A record the service refuses for good (OTLP 400 naming it, Rollbar 422),
# and one the exporter cannot even encode: each ends in dead_letter with the
# reason and what was sent; every other record is delivered, once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"

ex_start_otlp
ex_start_rollbar --token rb
ex_spool_init
ex_seed_spans 1000
ex_seed_errors 30
ex_sql "UPDATE span SET name = 'poisoned span' WHERE id = 777;
        UPDATE span SET links = '[{\"trace_id\":\"not hex\",\"span_id\":\"x\"}]' WHERE id = 12;
        UPDATE error SET message = 'poisoned item' WHERE id = 17;"
ex_post "$OTLP_URL" /_fake/poison '{"match": "poisoned"}'
ex_post "$ROLLBAR_URL" /_fake/poison '{"match": "poisoned"}'

export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_URL
ex_run otlp otlp --spool "$SPOOL" --batch-size 400
ex_expect_rc 0 otlp
ex_summary otlp | grep -q 'sent 998, batches 3, rejected 2, dead-lettered 2, backlog 0' ||
  it_fail "summary: $(ex_summary otlp)"
[ "$(ex_stat "$OTLP_URL" unique)" = 998 ] || it_fail "arrived: $(ex_stat "$OTLP_URL" unique)"
[ "$(ex_stat "$OTLP_URL" duplicates)" = 0 ] || it_fail "duplicates"
[ "$(ex_sql "SELECT record_id, reason FROM dead_letter WHERE exporter = 'otlp' ORDER BY record_id")" = \
  "$(printf '12|links are not readable\n777|record 6553f1000000000000000000000000c3:0000000000000309 refused: invalid data at resourceSpans[0].scopeSpans[0].spans[376]')" ] ||
  it_fail "dead letters: $(ex_sql 'SELECT record_id, reason FROM dead_letter')"
[ "$(ex_sql "SELECT payload LIKE '%\"name\":\"poisoned span\"%' FROM dead_letter WHERE record_id = 777")" = 1 ] ||
  it_fail "the dead letter does not keep what was sent"

export ROLLBAR_ENDPOINT=$ROLLBAR_URL ROLLBAR_ACCESS_TOKEN=rb
ex_run rollbar rollbar --spool "$SPOOL"
ex_expect_rc 0 rollbar
ex_summary rollbar | grep -q 'sent 29, batches 1, rejected 1, dead-lettered 1, backlog 0' ||
  it_fail "summary: $(ex_summary rollbar)"
[ "$(ex_stat "$ROLLBAR_URL" unique)" = 29 ] || it_fail "items: $(ex_stat "$ROLLBAR_URL" unique)"
[ "$(ex_sql "SELECT record_id, reason FROM dead_letter WHERE exporter = 'rollbar'")" = \
  "17|Invalid format. item 00000011-0000-4000-8000-000000000011: data.body is invalid" ] ||
  it_fail "rollbar dead letter: $(ex_sql "SELECT record_id, reason FROM dead_letter WHERE exporter = 'rollbar'")"
[ "$(ex_sql "SELECT sent, rejected, dead_lettered FROM export_state WHERE exporter = 'rollbar'")" = "29|1|1" ] ||
  it_fail "rollbar state"
it_log "ok"
