#!/usr/bin/env bash
# Transient faults of every kind, one after another (500, 503 with
# Retry-After, 429 with Retry-After, an answer that never comes within the
# timeout, a connection reset, a 502, Rollbar's 429 with
# X-Rate-Limit-Remaining-Seconds): every record still arrives, none that the
# service accepted is sent again, and export_state counts the failures while
# they last and clears them after the next success.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"

ex_start_otlp
ex_start_rollbar --token rb
ex_spool_init
ex_seed_spans 3000
ex_seed_errors 20

# One fault per batch ("ok" lets a request through), so that each retry
# follows a single failure and waits at most a second.
ex_post "$OTLP_URL" /_fake/faults '[
  {"kind": "status", "status": 500}, {"kind": "ok"},
  {"kind": "status", "status": 503, "retry_after": "1"}, {"kind": "ok"},
  {"kind": "status", "status": 429, "retry_after": "1"}, {"kind": "ok"},
  {"kind": "hang", "seconds": 4}, {"kind": "ok"},
  {"kind": "reset"}, {"kind": "ok"},
  {"kind": "status", "status": 502}, {"kind": "ok"}]'
export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_URL OTEL_EXPORTER_OTLP_TIMEOUT=1500
ex_run otlp otlp --spool "$SPOOL" --batch-size 500 --max-wait 30 --verbose
ex_expect_rc 0 otlp
[ "$(ex_stat "$OTLP_URL" faults_pending)" = 0 ] || it_fail "faults left unused"
[ "$(ex_stat "$OTLP_URL" unique)" = 3000 ] || it_fail "arrived: $(ex_stat "$OTLP_URL" unique)"
[ "$(ex_stat "$OTLP_URL" duplicates)" = 0 ] || it_fail "re-sent: $(ex_stat "$OTLP_URL" duplicates)"
[ "$(ex_stat "$OTLP_URL" deviations)" = 0 ] || it_fail "deviations: $(ex_stat "$OTLP_URL" deviation_samples)"
grep -q 'HTTP 503' "$T/otlp.log" || it_fail "no 503 in the log"
grep -q 'timed out' "$T/otlp.log" || it_fail "no timeout in the log"
# failures were counted, then cleared by the success that followed
[ "$(ex_sql "SELECT sent, rejected, failures, retry_at_ns FROM export_state WHERE exporter = 'otlp'")" = \
  "3000|0|0|0" ] || it_fail "state: $(ex_sql 'SELECT * FROM export_state')"
[ -n "$(ex_sql "SELECT last_error FROM export_state WHERE exporter = 'otlp' AND last_error LIKE 'traces: %'")" ] ||
  it_fail "no last error kept"
[ "$(ex_sql "SELECT last_id FROM cursor WHERE exporter = 'otlp'")" = 3000 ] || it_fail "cursor"

# Rollbar: a rate limit with its own header, then a server error.
ex_post "$ROLLBAR_URL" /_fake/faults '[{"kind": "rate_limit", "seconds": 2}, {"kind": "status", "status": 503}]'
export ROLLBAR_ENDPOINT=$ROLLBAR_URL ROLLBAR_ACCESS_TOKEN=rb
start=$(date +%s%N)
ex_run rollbar rollbar --spool "$SPOOL" --max-wait 30 --verbose
ex_expect_rc 0 rollbar
took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$took" -ge 2000 ] || it_fail "the rate limit's 2 s were not honoured (took $took ms)"
[ "$(ex_stat "$ROLLBAR_URL" unique)" = 20 ] || it_fail "items: $(ex_stat "$ROLLBAR_URL" unique)"
[ "$(ex_stat "$ROLLBAR_URL" duplicates)" = 0 ] || it_fail "items re-sent"
[ "$(ex_stat "$ROLLBAR_URL" statuses)" = '{"200": 20, "429": 1, "503": 1}' ] ||
  it_fail "statuses: $(ex_stat "$ROLLBAR_URL" statuses)"
grep -q 'HTTP 429: rate limit reached' "$T/rollbar.log" || it_fail "no 429 in the log"
it_log "ok"
