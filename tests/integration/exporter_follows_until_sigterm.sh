#!/usr/bin/env bash
# --follow ships what arrives while it runs, and SIGTERM ends it cleanly
# (exit 0, a summary line) within a second, even in the middle of a wait.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"

ex_start_otlp
ex_spool_init
ex_seed_spans 100
export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_URL
"$EXPORT_BIN" otlp --spool "$SPOOL" --follow --interval 1 >"$T/follow.log" 2>&1 &
pid=$!
it_track "$pid"
wait_for() {
  local i=0
  until [ "$(ex_stat "$OTLP_URL" unique)" = "$1" ]; do
    i=$((i + 1)); [ "$i" -lt 100 ] || it_fail "expected $1 spans at the fake, got $(ex_stat "$OTLP_URL" unique)"
    sleep 0.1
  done
}
wait_for 100
ex_seed_spans 50 101
wait_for 150
# a long backoff in progress does not delay the stop
ex_post "$OTLP_URL" /_fake/faults '{"kind": "status", "status": 503, "retry_after": "60"}'
ex_seed_spans 10 151
i=0
until [ "$(ex_stat "$OTLP_URL" requests)" -ge 3 ] && [ "$(ex_stat "$OTLP_URL" faults_pending)" = 0 ]; do
  i=$((i + 1)); [ "$i" -lt 100 ] || it_fail "the fault was never hit"
  sleep 0.1
done
start=$(date +%s%N)
kill -TERM "$pid"
wait "$pid" || it_fail "--follow exited with $? on SIGTERM: $(cat "$T/follow.log")"
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2000 ] || it_fail "SIGTERM took too long"
grep -Eq '^cruddur-export: otlp: sent 150, batches [0-9]+, rejected 0, dead-lettered 0, backlog 10, .*: stopped$' \
  "$T/follow.log" || it_fail "summary: $(tail -n 3 "$T/follow.log")"
[ "$(ex_sql "SELECT last_id FROM cursor WHERE exporter = 'otlp'")" = 150 ] || it_fail "cursor"
it_log "ok"
