#!/usr/bin/env bash
# cruddur-export xray --daemon sends each span as one UDP datagram to the
# X-Ray daemon, in the daemon's format ({"format": "json", "version": 1},
# a newline, the segment document), every document valid and within the
# daemon's 64 KiB buffer (a span with 200 kB of attributes is trimmed to
# fit), without any AWS credentials; what left the socket counts as sent,
# and a second run sends nothing again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"
AWS_PY=/usr/bin/python3
it_require "$AWS_PY"

N=300
ex_spool_init
ex_seed_spans "$N"
# One span whose attributes alone are over 200 kB.
ex_sql "UPDATE span SET attributes = json_object('http.route', '/api/activities/home',
          'app.blob', printf('%.*c', 200000, 'x'), 'app.more', printf('%.*c', 30000, 'y')) WHERE id = 7"

rm -f "$T/daemon.port" "$T/daemon.ctl"
"$AWS_PY" -I "$abs_top_srcdir/tests/fakes/xray_daemon.py" --port-file "$T/daemon.port" \
  --control-port-file "$T/daemon.ctl" --out "$T/daemon.jsonl" >"$T/daemon-fake.log" 2>&1 &
pid=$!
it_track "$pid"
for _ in $(seq 1 100); do [ -s "$T/daemon.port" ] && [ -s "$T/daemon.ctl" ] && break; ws_alive "$pid" || break; sleep 0.1; done
[ -s "$T/daemon.port" ] || it_fail "the daemon fake did not start: $(cat "$T/daemon-fake.log")"
CTL=http://127.0.0.1:$(cat "$T/daemon.ctl")
stat() { ex_stat "$CTL" "$1"; }

# No credentials, no endpoint: the daemon needs none.
for v in $(env | sed -n 's/^\(AWS_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
UDP=$(cat "$T/daemon.port")
export AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:$UDP AWS_EC2_METADATA_DISABLED=true \
  AWS_SHARED_CREDENTIALS_FILE=$T/no-credentials AWS_CONFIG_FILE=$T/no-config

ex_run run1 xray --daemon --spool "$SPOOL" --verbose
ex_expect_rc 0 run1
for _ in $(seq 1 50); do [ "$(stat datagrams)" -ge "$N" ] && break; sleep 0.1; done
[ "$(stat datagrams)" = "$N" ] || it_fail "$(stat datagrams) datagrams for $N spans"
[ "$(stat invalid)" = 0 ] || it_fail "invalid datagrams: $(stat reasons) $(stat error_codes)"
[ "$(stat valid)" = "$N" ] || it_fail "$(stat valid) valid datagrams"
[ "$(stat unique)" = "$N" ] || it_fail "$(stat unique) distinct documents"
[ "$(stat duplicates)" = 0 ] || it_fail "$(stat duplicates) documents sent twice"
[ "$(stat deviations)" = 0 ] || it_fail "deviations: $(curl -s "$CTL/_fake/stats")"
state=$(ex_sql "SELECT sent, rejected, dead_lettered FROM export_state WHERE exporter = 'xray'")
[ "$state" = "$N|0|0" ] || it_fail "export_state sent|rejected|dead_lettered: $state"

# The big span arrived, trimmed to fit, its ids and times intact.
"$AWS_PY" - "$T/daemon.jsonl" "$SPOOL" >"$T/check.out" 2>&1 <<'EOF' || it_fail "$(cat "$T/check.out")"
import json, sqlite3, sys
docs = {d["id"]: d for d in map(json.loads, open(sys.argv[1]))}
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[2], uri=True)
sid, tid, start = db.execute("SELECT span_id, trace_id, start_ns FROM span WHERE id = 7").fetchone()
d = docs.get(sid)
assert d is not None, "the big span is missing"
size = len(json.dumps(d, separators=(",", ":")).encode())
assert size <= 64000, "the big span's document is %d bytes" % size
assert d["trace_id"] == "1-%s-%s" % (tid[:8], tid[8:]), d["trace_id"]
assert abs(d["start_time"] - start / 1e9) < 1e-5, d["start_time"]
missing = [r[0] for r in db.execute("SELECT span_id FROM span") if r[0] not in docs]
assert not missing, "spans not sent: %s" % missing[:5]
print("ok, the big span in %d bytes" % size)
EOF
it_log "$(cat "$T/check.out")"

ex_run run2 xray --daemon --spool "$SPOOL" --verbose
ex_expect_rc 0 run2
sleep 0.3
[ "$(stat datagrams)" = "$N" ] || it_fail "a second run sent $(( $(stat datagrams) - N )) datagrams"

echo "$IT_NAME: PASS"
