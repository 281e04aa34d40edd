#!/usr/bin/env bash
# --dry-run prints the requests it would send, secrets redacted, and changes
# nothing: no request, no cursor, no state; --status reads without writing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"

ex_start_otlp --key secret-key
ex_spool_init
ex_seed_spans 120
before=$(sha256sum "$SPOOL" | cut -d' ' -f1)
export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_URL OTEL_EXPORTER_OTLP_HEADERS=x-honeycomb-team=secret-key
ex_run dry honeycomb --spool "$SPOOL" --dry-run --batch-size 50
ex_expect_rc 0 dry
[ "$(grep -c "^POST $OTLP_URL/v1/traces\$" "$T/dry.log")" = 3 ] || it_fail "requests printed: $(head "$T/dry.log")"
grep -q '^x-honeycomb-team: \[REDACTED\]$' "$T/dry.log" || it_fail "the key header is not shown redacted"
if grep -q secret-key "$T/dry.log"; then it_fail "the key was printed"; fi
[ "$(grep -o '"spanId":"[0-9a-f]*"' "$T/dry.log" | sort -u | wc -l)" = 120 ] || it_fail "spans printed"
ex_summary dry | grep -q 'sent 120, batches 3, .*backlog 0, .*: dry run, nothing changed' ||
  it_fail "summary: $(ex_summary dry)"
[ "$(ex_stat "$OTLP_URL" requests)" = 0 ] || it_fail "the dry run sent something"
[ "$(ex_sql "SELECT count(*) FROM cursor") $(ex_sql "SELECT count(*) FROM export_state")" = "0 0" ] ||
  it_fail "the dry run registered a cursor or state"
# --from-id previews a replay
ex_run dry2 honeycomb --spool "$SPOOL" --dry-run --from-id 101
[ "$(grep -o '"spanId":"[0-9a-f]*"' "$T/dry2.log" | sort -u | wc -l)" = 20 ] || it_fail "--from-id in a dry run"
ex_run status honeycomb --spool "$SPOOL" --status
ex_expect_rc 0 status
grep -q '^honeycomb span: cursor 0 (not registered), backlog 120$' "$T/status.log" ||
  it_fail "status: $(cat "$T/status.log")"
[ "$(sha256sum "$SPOOL" | cut -d' ' -f1)" = "$before" ] || it_fail "the spool file changed"
it_log "ok"
