#!/usr/bin/env bash
# Log records of two workers, spread over three days and spooled seconds out
# of time order (in the order the workers finished them), reach the
# CloudWatch Logs fake in batches it finds valid: chronological, less than
# 24 hours, one stream per host and day, within the size limits (a 1.5 MB
# body cut to fit, multibyte text counted in bytes), and as batches, not
# one event at a time. The group and streams are created when the service
# says they do not exist (also a stream deleted in the middle of the run),
# throttling (a 400 there) and a 500 are retried, events the service
# reports in rejectedLogEventsInfo are dead-lettered, and records too old or
# too new for CloudWatch are dead-lettered without being sent, each with its
# reason. Nothing is lost, nothing sent twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"
AWS_PY=/usr/bin/python3
"$AWS_PY" -c 'import botocore' 2>/dev/null ||
  { echo "$IT_NAME: ERROR: python3-botocore is not installed (scripts/lib/deps.sh)"; exit 99; }

KEY=AKIDLOGSTEST0001
SECRET=logs/test/secret
REGION=eu-west-1
GROUP=cruddur-it
EX_TIMEOUT=90

ex_spool_init
# Two workers of one host; 900 records in bursts over the last 50 hours,
# each a few seconds off the one before; UTF-8 bodies, one of 1.5 MB and one of 600 kB
# of two-byte characters; 3 records 15 days old and 2 three hours ahead
# among them.
"$AWS_PY" - "$SPOOL" >"$T/seed.out" <<'EOF' || it_fail "seeding: $(cat "$T/seed.out")"
import json, random, sqlite3, sys, time
random.seed(7)
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA busy_timeout = 5000")
res = []
for pid in (101, 102):
    cur = db.execute("INSERT INTO resource (attributes) VALUES (?)", (json.dumps(
        {"service.name": "cruddur-api", "service.version": "0.1.0", "host.name": "web-1",
         "process.pid": pid}),))
    res.append(cur.lastrowid)
now_ns = time.time_ns()
S = 10**9
H = 3600 * S
recs = []
for i in range(900):
    # 30 bursts of traffic over 50 hours, 30 records each within 20 s
    t = now_ns - 50 * H + (i // 30) * (50 * H // 30) + (i % 30) * S * 2 // 3 + random.randint(-3 * S, 3 * S)
    recs.append((t, "rec-%d GET /api/activities/home 200 caf\u00e9 \u2603" % i, 9, "INFO"))
recs.insert(random.randrange(len(recs)), (now_ns - 5 * H, "rec-900 big " + "x" * 1500000, 17, "ERROR"))
recs.insert(random.randrange(len(recs)), (now_ns - 7 * H, "rec-901 wide " + "\u00e9" * 300000, 13, "WARN"))
for i in range(3):
    recs.insert(random.randrange(len(recs)), (now_ns - 15 * 24 * H - i * S, "rec-%d too old" % (902 + i), 9, "INFO"))
for i in range(2):
    recs.insert(random.randrange(len(recs)), (now_ns + 3 * H + i * S, "rec-%d too new" % (905 + i), 9, "INFO"))
for t, body, sev, text in recs:
    db.execute("INSERT INTO log (time_ns, observed_ns, severity_number, severity_text, body, attributes,"
               " trace_id, span_id, flags, scope_name, resource_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
               (t, t + 5000, sev, text, body, json.dumps({"http.response.status_code": 200}),
                "%08x%024x" % (t // S, random.getrandbits(96)), "%016x" % random.getrandbits(64),
                1, "cruddur", random.choice(res)))
db.commit()
print(len(recs))
EOF
TOTAL=$(cat "$T/seed.out")
[ "$TOTAL" = 907 ] || it_fail "seeded $TOTAL records"
ooo=$(ex_sql "SELECT count(*) FROM log a JOIN log b ON b.id = a.id + 1 WHERE b.time_ns < a.time_ns")
[ "$ooo" -gt 100 ] || it_fail "the spool is not out of order enough ($ooo)"

rm -f "$T/logs.port"
"$AWS_PY" -I "$abs_top_srcdir/tests/fakes/cloudwatch_logs.py" --port-file "$T/logs.port" --region "$REGION" \
  --access-key "$KEY" --secret-key "$SECRET" --store "$T/logs.jsonl" >"$T/logs-fake.log" 2>&1 &
pid=$!
it_track "$pid"
for _ in $(seq 1 100); do [ -s "$T/logs.port" ] && break; ws_alive "$pid" || break; sleep 0.1; done
[ -s "$T/logs.port" ] || it_fail "the CloudWatch Logs fake did not start: $(cat "$T/logs-fake.log")"
LOGS=http://127.0.0.1:$(cat "$T/logs.port")
stat() { ex_stat "$LOGS" "$1"; }
# jfield JSON EXPR: a Python expression on JSON (as d)
jfield() { "$AWS_PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

for v in $(env | sed -n 's/^\(AWS_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=$LOGS AWS_REGION=$REGION AWS_ACCESS_KEY_ID=$KEY \
  AWS_SECRET_ACCESS_KEY=$SECRET AWS_EC2_METADATA_DISABLED=true \
  AWS_SHARED_CREDENTIALS_FILE=$T/no-credentials AWS_CONFIG_FILE=$T/no-config
export CRUDDUR_CW_LOG_GROUP=$GROUP CRUDDUR_CW_RETENTION_DAYS=14
unset CRUDDUR_CW_LOG_STREAM CRUDDUR_CW_MAX_EVENT_BYTES

# Faults for PutLogEvents, in order: throttling, a 500, two events reported
# too old, and the stream deleted under the exporter.
ex_post "$LOGS" /_fake/faults '[{"kind":"throttle"},{"kind":"unavailable"},
  {"kind":"rejected","tooOldLogEventEndIndex":2},{"kind":"delete_stream"}]'
ex_run run1 cloudwatch --spool "$SPOOL" --verbose --max-wait 60
ex_expect_rc 0 run1
[ "$(stat faults_pending)" = 0 ] || it_fail "faults left unused: $(stat faults_pending)"
[ "$(stat deviations)" = 0 ] || it_fail "deviations: $(curl -s "$LOGS/_fake/deviations")"
[ "$(stat auth_failed)" = 0 ] || it_fail "signatures refused: $(curl -s "$LOGS/_fake/stats")"
# Every batch valid: PutLogEvents refused only for a missing group or stream.
refused=$(stat refused)
[ "$(jfield "$refused" 'sorted(d.get("PutLogEvents", {}))')" = "['ResourceNotFoundException']" ] ||
  it_fail "batches the service refuses: $refused $(grep -m 3 ' -> 400' "$T/run1.log")"
[ "$(stat groups_created)" = 1 ] || it_fail "log groups created: $(stat groups_created)"
[ "$(stat retention_set)" = 1 ] || it_fail "retention set $(stat retention_set) times"
[ "$(stat duplicates)" = 0 ] || it_fail "$(stat duplicates) events delivered twice"
# 907 seeded: 5 never sent (age); the service reported K of the rest too
# old (the injected rejectedLogEventsInfo: 2, 1 if it met a one-event batch).
K=$(stat events_too_old)
[ "$K" = 1 ] || [ "$K" = 2 ] || it_fail "events reported too old: $K"
[ "$(stat unique)" = $((902 - K)) ] || it_fail "the service holds $(stat unique) events, want $((902 - K))"

dl=$(ex_sql "SELECT reason, count(*) FROM dead_letter WHERE exporter = 'cloudwatch' GROUP BY reason ORDER BY reason")
want="more than 2 hours ahead|2
older than 14 days|3
refused by CloudWatch Logs: older than 14 days|$K"
[ "$dl" = "$want" ] || it_fail "dead letters by reason:
$dl"
state=$(ex_sql "SELECT sent, dead_lettered, failures FROM export_state WHERE exporter = 'cloudwatch'")
[ "$state" = "$((902 - K))|$((5 + K))|0" ] || it_fail "export_state sent|dead_lettered|failures: $state"
ex_summary run1 | grep -q "dead-lettered $((5 + K)), backlog 0" || it_fail "summary: $(ex_summary run1)"

# Event by event, against the spool.
"$AWS_PY" - "$SPOOL" "$LOGS" "$GROUP" >"$T/crosscheck.out" 2>&1 <<'EOF' || it_fail "cross-check: $(cat "$T/crosscheck.out")"
import json, sqlite3, sys, time, urllib.request
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
logs = {}
for rid, t, body, attrs in db.execute(
        "SELECT l.id, l.time_ns, l.body, r.attributes FROM log l JOIN resource r ON r.id = l.resource_id"):
    logs[body.split(" ", 1)[0]] = (rid, t, body, json.loads(attrs)["host.name"])
dead = {r[0] for r in db.execute("SELECT record_id FROM dead_letter WHERE exporter = 'cloudwatch'")}
stored = json.load(urllib.request.urlopen(sys.argv[2] + "/_fake/stored"))
group = stored.get(sys.argv[3])
errors = []
if group is None:
    print("no log group %s: %s" % (sys.argv[3], list(stored))); sys.exit(1)
if group["retentionInDays"] != 14:
    errors.append("retention %s" % group["retentionInDays"])
seen = {}
for sname, events in group["streams"].items():
    for e in events:
        try:
            m = json.loads(e["message"])
        except ValueError:
            errors.append("%s: a message that is not JSON: %r" % (sname, e["message"][:80])); continue
        body = m.get("message", "")
        key = body.split(" ", 1)[0]
        seen[key] = seen.get(key, 0) + 1
        if key not in logs:
            errors.append("%s: an event of no record: %r" % (sname, body[:60])); continue
        rid, t, sbody, host = logs[key]
        if e["timestamp"] != t // 1000000:
            errors.append("%s: timestamp %d for %d ns" % (key, e["timestamp"], t))
        day = time.strftime("%Y-%m-%d", time.gmtime(t / 1e9))
        if sname != "%s/%s" % (host, day):
            errors.append("%s: in stream %s, want %s/%s" % (key, sname, host, day))
        if len(e["message"].encode()) + 26 > 1048576:
            errors.append("%s: an event over the limit" % key)
        if key == "rec-900":
            if "truncated" not in body or not body.startswith("rec-900 big xxx"):
                errors.append("rec-900: not cut as documented: ...%r" % body[-60:])
        elif body != sbody:
            errors.append("%s: body %r, spooled %r" % (key, body[:60], sbody[:60]))
        for k in ("time", "level"):
            if k not in m:
                errors.append("%s: no %s in the message" % (key, k))
twice = [k for k, n in seen.items() if n > 1]
missing = [k for k, v in logs.items() if k not in seen and v[0] not in dead]
if twice: errors.append("delivered twice: %s" % twice[:5])
if missing: errors.append("neither delivered nor dead-lettered: %s" % missing[:5])
days = sorted(group["streams"])
print("\n".join(errors) or "ok %d events in %d streams: %s" % (sum(seen.values()), len(days), " ".join(days)))
sys.exit(1 if errors else 0)
EOF
it_log "$(cat "$T/crosscheck.out")"
host_days=$(curl -fsS "$LOGS/_fake/stored" |
  "$AWS_PY" -c 'import json,sys; print(len(json.load(sys.stdin)[sys.argv[1]]["streams"]))' "$GROUP")
[ "$(stat streams_created)" = $((host_days + 1)) ] ||
  it_fail "$(stat streams_created) streams created for $host_days host-days and one deletion"

# Batches, not single events: the records of one day go together although
# the spool has them seconds out of order (two reads of 512 records, a few
# UTC days each, plus the answers that make the exporter send again).
puts=$(jfield "$(stat operations)" 'd.get("PutLogEvents", 0)')
[ "$puts" -le 40 ] || it_fail "$puts PutLogEvents requests for $((902 - K)) events"
it_log "$puts PutLogEvents requests; refused: $refused"

# A second run sends nothing.
before=$(stat requests)
ex_run run2 cloudwatch --spool "$SPOOL" --verbose
ex_expect_rc 0 run2
[ "$(stat requests)" = "$before" ] || it_fail "a second run sent $(( $(stat requests) - before )) requests"

echo "$IT_NAME: PASS"
