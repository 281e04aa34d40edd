#!/usr/bin/env bash
# kill -9 of the exporter while a request is in flight, after the service
# has taken the batch but before its answer (and so the spool commit): the
# rerun delivers everything, the batch in flight at most once more, and the
# dead process's lock is gone with it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"

ex_start_otlp
ex_spool_init
ex_seed_spans 2000
# The third request is taken, then answered only after 20 s.
ex_post "$OTLP_URL" /_fake/faults '[{"kind": "ok"}, {"kind": "ok"}, {"kind": "delay", "seconds": 20}]'
export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_URL
"$EXPORT_BIN" otlp --spool "$SPOOL" --batch-size 300 >"$T/killed.log" 2>&1 &
pid=$!
it_track "$pid"
i=0
until [ "$(ex_stat "$OTLP_URL" accepted)" = 900 ]; do
  i=$((i + 1)); [ "$i" -lt 150 ] || it_fail "the third batch never arrived: $(ex_stat "$OTLP_URL" accepted)"
  sleep 0.1
done
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
[ "$(ex_sql "SELECT last_id FROM cursor WHERE exporter = 'otlp'")" = 600 ] ||
  it_fail "cursor after the kill: $(ex_sql 'SELECT * FROM cursor')"

ex_run rerun otlp --spool "$SPOOL" --batch-size 300
ex_expect_rc 0 rerun
[ "$(ex_stat "$OTLP_URL" unique)" = 2000 ] || it_fail "arrived: $(ex_stat "$OTLP_URL" unique)"
dups=$(ex_stat "$OTLP_URL" duplicates)
[ "$dups" = 300 ] || it_fail "expected exactly the batch in flight again (300), got $dups"
[ "$(ex_sql "SELECT last_id FROM cursor WHERE exporter = 'otlp'")" = 2000 ] || it_fail "final cursor"
it_log "ok (the batch in flight, 300 spans, was sent twice; nothing else)"
