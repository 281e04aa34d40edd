#!/usr/bin/env bash
# Credentials the service refuses (Honeycomb 401, Rollbar 403) stop the run
# with exit 78: the cursor stays where it was, nothing is dead-lettered, and
# export_state keeps the service's answer. A missing key is caught before
# any request; a fixed key delivers everything.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"

ex_start_otlp --key right-key
ex_start_rollbar --token right-token
ex_spool_init
ex_seed_spans 300
ex_seed_errors 5

export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_URL
ex_run nokey honeycomb --spool "$SPOOL"
ex_expect_rc 78 nokey
grep -q 'honeycomb needs its API key' "$T/nokey.log" || it_fail "nokey: $(cat "$T/nokey.log")"
[ "$(ex_stat "$OTLP_URL" requests)" = 0 ] || it_fail "a request without a key"

export OTEL_EXPORTER_OTLP_HEADERS=x-honeycomb-team=wrong-key
ex_run wrong honeycomb --spool "$SPOOL"
ex_expect_rc 78 wrong
grep -q 'HTTP 401: invalid API key (credentials refused)' "$T/wrong.log" || it_fail "wrong: $(cat "$T/wrong.log")"
ex_summary wrong | grep -q 'sent 0, batches 1, rejected 0, dead-lettered 0, backlog 300, .*: credentials refused' ||
  it_fail "summary: $(ex_summary wrong)"
[ "$(ex_stat "$OTLP_URL" requests)" = 1 ] || it_fail "it kept trying"
[ "$(ex_sql "SELECT last_id FROM cursor WHERE exporter = 'honeycomb'")" = 0 ] || it_fail "cursor moved"
[ "$(ex_sql "SELECT count(*) FROM dead_letter")" = 0 ] || it_fail "dead letters"
[ "$(ex_sql "SELECT last_error FROM export_state WHERE exporter = 'honeycomb'")" = \
  "traces: HTTP 401: invalid API key" ] || it_fail "state: $(ex_sql 'SELECT * FROM export_state')"

export ROLLBAR_ENDPOINT=$ROLLBAR_URL ROLLBAR_ACCESS_TOKEN=wrong-token
ex_run rbwrong rollbar --spool "$SPOOL"
ex_expect_rc 78 rbwrong
grep -q 'HTTP 403: invalid access token' "$T/rbwrong.log" || it_fail "rbwrong: $(cat "$T/rbwrong.log")"
[ "$(ex_sql "SELECT last_id FROM cursor WHERE exporter = 'rollbar'")" = 0 ] || it_fail "rollbar cursor moved"
unset ROLLBAR_ACCESS_TOKEN
ex_run rbnone rollbar --spool "$SPOOL"
ex_expect_rc 78 rbnone

# Fixed: all of it goes.
export OTEL_EXPORTER_OTLP_HEADERS=x-honeycomb-team=right-key ROLLBAR_ACCESS_TOKEN=right-token
ex_run right honeycomb --spool "$SPOOL"
ex_expect_rc 0 right
ex_run rbright rollbar --spool "$SPOOL"
ex_expect_rc 0 rbright
[ "$(ex_stat "$OTLP_URL" unique)" = 300 ] || it_fail "spans: $(ex_stat "$OTLP_URL" unique)"
[ "$(ex_stat "$ROLLBAR_URL" unique)" = 5 ] || it_fail "items: $(ex_stat "$ROLLBAR_URL" unique)"
[ "$(ex_sql "SELECT count(*) FROM dead_letter")" = 0 ] || it_fail "dead letters"
it_log "ok"
