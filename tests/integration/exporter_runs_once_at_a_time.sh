#!/usr/bin/env bash
# Two overlapping runs of the same target on the same spool: the second
# exits at once with 75, saying who holds the lock; nothing is sent twice.
# Another target on the same spool is not held up.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"

ex_start_otlp
ex_start_rollbar --token rb
ex_spool_init
ex_seed_spans 1000
ex_seed_errors 3
# The first request is answered only after 3 s.
ex_post "$OTLP_URL" /_fake/faults '{"kind": "delay", "seconds": 3}'
export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_URL ROLLBAR_ENDPOINT=$ROLLBAR_URL ROLLBAR_ACCESS_TOKEN=rb
"$EXPORT_BIN" otlp --spool "$SPOOL" --batch-size 500 >"$T/first.log" 2>&1 &
first=$!
it_track "$first"
i=0
until [ "$(ex_stat "$OTLP_URL" requests)" = 1 ]; do
  i=$((i + 1)); [ "$i" -lt 100 ] || it_fail "the first run sent nothing"
  sleep 0.1
done
start=$(date +%s%N)
ex_run second otlp --spool "$SPOOL" --batch-size 500
ex_expect_rc 75 second
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2000 ] || it_fail "the second run waited for the lock"
grep -q "otlp: another run (pid $first) is exporting from $SPOOL; exiting" "$T/second.log" ||
  it_fail "second: $(cat "$T/second.log")"
# another target runs meanwhile
ex_run rollbar rollbar --spool "$SPOOL"
ex_expect_rc 0 rollbar
wait "$first" || it_fail "the first run failed: $(cat "$T/first.log")"
[ "$(ex_stat "$OTLP_URL" unique)" = 1000 ] || it_fail "arrived: $(ex_stat "$OTLP_URL" unique)"
[ "$(ex_stat "$OTLP_URL" duplicates)" = 0 ] || it_fail "sent twice: $(ex_stat "$OTLP_URL" duplicates)"
[ "$(ex_stat "$OTLP_URL" requests)" = 2 ] || it_fail "requests: $(ex_stat "$OTLP_URL" requests)"
# and the lock is free again
ex_run third otlp --spool "$SPOOL"
ex_expect_rc 0 third
it_log "ok"
