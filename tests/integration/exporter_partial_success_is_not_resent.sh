#!/usr/bin/env bash
# An OTLP partial success: the records the service took are done and never
# sent again; the ones it refused (and named) are dead-lettered with its
# message, counted as rejected, and the run goes on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"

ex_start_otlp
ex_spool_init
ex_seed_spans 1000
ex_post "$OTLP_URL" /_fake/faults '{"kind": "partial", "rejected": 3}'
export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_URL
ex_run otlp otlp --spool "$SPOOL" --batch-size 250
ex_expect_rc 0 otlp
ex_summary otlp | grep -q 'sent 997, batches 4, rejected 3, dead-lettered 3, backlog 0' ||
  it_fail "summary: $(ex_summary otlp)"
[ "$(ex_stat "$OTLP_URL" requests)" = 4 ] || it_fail "requests: $(ex_stat "$OTLP_URL" requests)"
[ "$(ex_stat "$OTLP_URL" unique)" = 997 ] || it_fail "accepted: $(ex_stat "$OTLP_URL" unique)"
[ "$(ex_stat "$OTLP_URL" duplicates)" = 0 ] || it_fail "re-sent"
# the fake refuses the last three of the first request: records 248..250
[ "$(ex_sql "SELECT group_concat(record_id) FROM (SELECT record_id FROM dead_letter ORDER BY record_id)")" = \
  "248,249,250" ] || it_fail "dead letters: $(ex_sql 'SELECT record_id, reason FROM dead_letter')"
[ "$(ex_sql "SELECT count(*) FROM dead_letter WHERE exporter = 'otlp' AND stream = 'span'
             AND reason LIKE 'dropped 3: %' AND payload LIKE '{\"traceId\":%'")" = 3 ] ||
  it_fail "dead letter reasons: $(ex_sql 'SELECT reason FROM dead_letter')"
[ "$(ex_sql "SELECT sent, rejected, dead_lettered FROM export_state WHERE exporter = 'otlp'")" = "997|3|3" ] ||
  it_fail "state: $(ex_sql 'SELECT * FROM export_state')"
it_log "ok"
