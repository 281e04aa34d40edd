#!/usr/bin/env bash
# The spans of real traffic (every route of the API through nginx, errors,
# a 5xx with its exception, requests that came with a trace context) reach
# the X-Ray API fake as segment documents it finds valid, each exactly once,
# although the service throttles, fails with a 500 and leaves documents
# unprocessed (to be sent again, or refused for good); the spool's counters
# and dead letters say what happened; nothing is sent twice on a second run;
# a server clock ten minutes off stops the exporter with "clock skew" and
# nothing lost.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"
it_need nginx
it_require spawn-fcgi
AWS_PY=/usr/bin/python3
"$AWS_PY" -c 'import botocore' 2>/dev/null ||
  { echo "$IT_NAME: ERROR: python3-botocore is not installed (scripts/lib/deps.sh)"; exit 99; }

KEY=AKIDXRAYTEST0001
SECRET=xray/test/secret
REGION=eu-west-1
EX_TIMEOUT=60

it_env
it_init_db
SPOOL=$CRUDDUR_SPOOL
ws_start_spawn_fcgi "$T" "$T/api.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx" "$T/api.sock" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/health-check" 20 || it_fail "no health-check answer"

# Traffic: every route, good and bad (http_check), requests that carry a
# trace context, and 5xx answers with their exception when the test routes
# are built in.
it_http_check "$base" >"$T/http_check.out" 2>&1 || true
for i in 1 2 3; do
  curl -s -o /dev/null --max-time 5 -H "traceparent: 00-$(it_trace_id)-$(it_hex 8)-01" \
    -H 'X-Forwarded-For: 203.0.113.7' -A "cruddur-it (xray; $i)" "$base/api/activities/home?limit=$i"
  curl -s -o /dev/null --max-time 5 "$base/api/test/fail"
done

# The spool is written after each answer: wait until it stops growing.
spans_now() { ex_sql "SELECT count(*) FROM span"; }
settle() {
  local prev=-1 cur i
  for i in $(seq 1 50); do
    cur=$(spans_now)
    [ "$cur" = "$prev" ] && [ "$cur" -gt 0 ] && return 0
    prev=$cur; sleep 0.3
  done
  it_fail "the spool did not settle ($cur spans)"
}
settle
N=$(spans_now)
[ "$N" -ge 50 ] || it_fail "only $N spans from the traffic"
it_log "$N spans, $(ex_sql "SELECT count(*) FROM span WHERE kind = 2") SERVER, $(ex_sql "SELECT count(*) FROM span WHERE status_code = 2") errors"

start_xray() {
  rm -f "$T/xray.port"
  "$AWS_PY" -I "$abs_top_srcdir/tests/fakes/xray_api.py" --port-file "$T/xray.port" --region "$REGION" \
    --access-key "$KEY" --secret-key "$SECRET" --store "$T/xray.jsonl" >"$T/xray-fake.log" 2>&1 &
  local pid=$! i=0
  it_track "$pid"
  while [ ! -s "$T/xray.port" ]; do
    ws_alive "$pid" || it_fail "the X-Ray fake died: $(cat "$T/xray-fake.log")"
    i=$((i + 1)); [ "$i" -lt 100 ] || it_fail "the X-Ray fake did not start"
    sleep 0.1
  done
  XRAY=http://127.0.0.1:$(cat "$T/xray.port")
}
start_xray

# The exporter reads only what is set here.
for v in $(env | sed -n 's/^\(AWS_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export AWS_ENDPOINT_URL_XRAY=$XRAY AWS_REGION=$REGION AWS_ACCESS_KEY_ID=$KEY \
  AWS_SECRET_ACCESS_KEY=$SECRET AWS_EC2_METADATA_DISABLED=true \
  AWS_SHARED_CREDENTIALS_FILE=$T/no-credentials AWS_CONFIG_FILE=$T/no-config
export CRUDDUR_XRAY_ANNOTATIONS="http.route,http.request.method,http.response.status_code,user_agent.original,error.type"

# Run 1: throttled, then a 500, then 3 documents unprocessed with a code
# worth another try, then 2 (of the next request) refused for good.
ex_post "$XRAY" /_fake/faults '[{"kind":"throttle"},{"kind":"status","status":500},
  {"kind":"unprocessed","count":3,"code":"ThrottledException","message":"Rate exceeded"},
  {"kind":"unprocessed","count":2,"code":"InvalidSegment","message":"Invalid segment. ErrorCode: InvalidSegment, Cause: null"}]'
ex_run run1 xray --spool "$SPOOL" --verbose --max-wait 40
ex_expect_rc 0 run1
stat() { ex_stat "$XRAY" "$1"; }
[ "$(stat faults_pending)" = 0 ] || it_fail "faults left unused: $(stat faults_pending)"
[ "$(stat deviations)" = 0 ] || it_fail "documents the guide advises against: $(curl -s "$XRAY/_fake/deviations")"
[ "$(stat unprocessed_invalid)" = 0 ] ||
  it_fail "documents X-Ray refuses: $(stat unprocessed_codes) $(grep -m 3 Unprocessed "$T/run1.log")"
[ "$(stat requests_refused)" = 0 ] || it_fail "requests refused: $(stat statuses)"
[ "$(stat auth_failed)" = 0 ] || it_fail "signatures refused: $(curl -s "$XRAY/_fake/stats")"
[ "$(stat duplicates)" = 0 ] || it_fail "$(stat duplicates) documents delivered twice"
[ "$(stat in_progress)" = 0 ] || it_fail "in-progress documents sent for finished spans"
# R documents refused for good: 2, or 1 if the request the fault met held
# only one (the fake leaves at most as many unprocessed as a request has).
codes=$(stat unprocessed_codes)
R=$("$AWS_PY" -c 'import json,sys; print(json.loads(sys.argv[1]).get("InvalidSegment", 0))' "$codes")
[ "$R" = 1 ] || [ "$R" = 2 ] || it_fail "unprocessed answers: $codes"
[ "$(stat unprocessed_injected)" = $((3 + R)) ] || it_fail "unprocessed answers: $codes"
[ "$(stat unique)" = $((N - R)) ] || it_fail "the service holds $(stat unique) documents, want $((N - R))"

state=$(ex_sql "SELECT sent, rejected, dead_lettered, failures FROM export_state WHERE exporter = 'xray'")
[ "$state" = "$((N - R))|$R|$R|0" ] || it_fail "export_state sent|rejected|dead_lettered|failures: $state"
dl=$(ex_sql "SELECT count(*), count(DISTINCT record_id) FROM dead_letter WHERE exporter = 'xray' AND stream = 'span'
             AND reason LIKE '%InvalidSegment%'")
[ "$dl" = "$R|$R" ] || it_fail "dead letters: $(ex_sql "SELECT record_id, reason FROM dead_letter")"
ex_summary run1 | grep -q "sent $((N - R)), .*rejected $R, dead-lettered $R, backlog 0" ||
  it_fail "summary: $(ex_summary run1)"
{ grep -q ' -> 429' "$T/run1.log" && grep -q ' -> 500' "$T/run1.log"; } ||
  it_fail "the throttling and the 500 did not show in --verbose"

# Document by document: every span is in the service once or dead-lettered,
# and each document says what the span said.
"$AWS_PY" - "$SPOOL" "$T/xray.jsonl" "$R" >"$T/crosscheck.out" 2>&1 <<'EOF' || it_fail "cross-check: $(cat "$T/crosscheck.out")"
import json, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
spans = {r[0]: r for r in db.execute(
    "SELECT span_id, trace_id, parent_span_id, kind, name, start_ns, end_ns, status_code, id FROM span")}
dead = {r[0] for r in db.execute("SELECT s.span_id FROM dead_letter d JOIN span s ON s.id = d.record_id"
                                 " WHERE d.exporter = 'xray'")}
docs = [json.loads(l) for l in open(sys.argv[2])]
seen = {}
errors = []
for d in docs:
    seen[d["id"]] = seen.get(d["id"], 0) + 1
    s = spans.get(d["id"])
    if s is None:
        errors.append("document %s is no span of the spool" % d["id"]); continue
    span_id, trace_id, parent, kind, name, start_ns, end_ns, status, rid = s
    if d["trace_id"] != "1-%s-%s" % (trace_id[:8], trace_id[8:]):
        errors.append("%s: trace_id %s for %s" % (d["id"], d["trace_id"], trace_id))
    if abs(d["start_time"] - start_ns / 1e9) > 1e-5 or abs(d["end_time"] - end_ns / 1e9) > 1e-5:
        errors.append("%s: times %s..%s for %d..%d ns" % (d["id"], d["start_time"], d["end_time"], start_ns, end_ns))
    if kind == 2:
        if d.get("type") is not None:
            errors.append("%s: a SERVER span sent as a %s" % (d["id"], d["type"]))
        if parent and d.get("parent_id") != parent:
            errors.append("%s: segment parent_id %s, span parent %s" % (d["id"], d.get("parent_id"), parent))
    elif parent:
        if d.get("type") != "subsegment" or d.get("parent_id") != parent:
            errors.append("%s: kind %d span with parent %s sent as %s/%s" % (d["id"], kind, parent,
                                                                            d.get("type"), d.get("parent_id")))
    if status == 2 and not (d.get("fault") or d.get("error")):
        errors.append("%s: an error span without fault/error" % d["id"])
twice = [k for k, n in seen.items() if n > 1]
missing = [k for k in spans if k not in seen and k not in dead]
both = [k for k in dead if k in seen]
if twice: errors.append("delivered twice: %s" % twice[:5])
if missing: errors.append("neither delivered nor dead-lettered: %s" % missing[:5])
if both: errors.append("delivered and dead-lettered: %s" % both[:5])
if len(dead) != int(sys.argv[3]): errors.append("%d dead-lettered spans" % len(dead))
print("\n".join(errors) or "ok %d documents" % len(docs))
sys.exit(1 if errors else 0)
EOF
it_log "$(cat "$T/crosscheck.out")"

# Run 2: nothing left, nothing sent again.
before=$(stat requests)
ex_run run2 xray --spool "$SPOOL" --verbose
ex_expect_rc 0 run2
[ "$(stat requests)" = "$before" ] || it_fail "a second run sent $(( $(stat requests) - before )) requests"

# Run 3: new traffic while the service's clock is ten minutes ahead: the
# signature is refused as expired, the exporter says the clock is skewed,
# exits 78 and keeps the spans; with the clock right they all arrive.
for i in 1 2; do curl -s -o /dev/null --max-time 5 "$base/api/activities/home"; done
settle
N2=$(spans_now)
[ "$N2" -gt "$N" ] || it_fail "no new spans"
ex_post "$XRAY" /_fake/clock '{"skew": 600}'
ex_run run3 xray --spool "$SPOOL" --verbose
ex_expect_rc 78 run3
grep -qi "clock skew" "$T/run3.log" || it_fail "no word of the clock skew: $(tail -n 3 "$T/run3.log")"
grep -q "Signature expired" "$T/run3.log" || it_fail "the service's answer is not shown: $(tail -n 3 "$T/run3.log")"
[ "$(ex_sql "SELECT dead_lettered FROM export_state WHERE exporter = 'xray'")" = "$R" ] ||
  it_fail "spans dead-lettered after a clock skew"
ex_post "$XRAY" /_fake/clock '{"skew": 0}'
ex_run run4 xray --spool "$SPOOL" --verbose
ex_expect_rc 0 run4
[ "$(stat unique)" = $((N2 - R)) ] || it_fail "after the clock was right: $(stat unique) documents, want $((N2 - R))"
[ "$(stat duplicates)" = 0 ] || it_fail "$(stat duplicates) documents delivered twice"
[ "$(stat deviations)" = 0 ] || it_fail "deviations: $(curl -s "$XRAY/_fake/deviations")"

echo "$IT_NAME: PASS"
