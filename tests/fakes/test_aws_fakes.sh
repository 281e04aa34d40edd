#!/bin/bash
# test_aws_fakes: the AWS fakes (xray_api.py, cloudwatch_logs.py,
# xray_daemon.py, sigv4.py) answer as the services do. Requests are signed
# by curl --aws-sigv4 (libcurl's CURLOPT_AWS_SIGV4, what the exporters use)
# and, once, by botocore itself; badly signed ones must be refused with
# AWS's own error types and words. The --count-only mode of the API fakes
# (fastaws.py, for benchmarks) must answer as the normal mode does, its
# signatures (sigv4.FastSigner) as botocore computes them.
# shellcheck shell=bash disable=SC2154
. "$(cd "$(dirname "$0")/../integration" && pwd)/lib.sh"

AWS_PY=/usr/bin/python3
FAKES=$abs_top_srcdir/tests/fakes
it_require curl "$AWS_PY"
"$AWS_PY" -c 'import botocore' 2>/dev/null ||
  { echo "$IT_NAME: ERROR: python3-botocore is not installed (scripts/lib/deps.sh)"; exit 99; }

KEY=AKIDFAKEEXAMPLE0001
SECRET=fake/secret+key/0001
REGION=eu-west-1

# start_fake NAME SCRIPT ARGS...: sets URL_<NAME>
start_fake() {
  local name=$1 script=$2; shift 2
  rm -f "$T/$name.port"
  "$AWS_PY" -I "$FAKES/$script" --port-file "$T/$name.port" "$@" >"$T/$name-fake.log" 2>&1 &
  local pid=$! i=0
  it_track "$pid"
  while [ ! -s "$T/$name.port" ]; do
    ws_alive "$pid" || it_fail "the $name fake died: $(cat "$T/$name-fake.log")"
    i=$((i + 1)); [ "$i" -lt 100 ] || it_fail "the $name fake did not start"
    sleep 0.1
  done
  printf -v "URL_$name" 'http://127.0.0.1:%s' "$(cat "$T/$name.port")"
}

# jget FILE EXPR: a Python expression on the JSON in FILE (as d).
jget() { "$AWS_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# expect WHAT GOT WANT
expect() { [ "$2" = "$3" ] || it_fail "$1: got '$2', want '$3'"; }

post() { curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' --data "$3" "$1$2" >/dev/null ||
  it_fail "could not drive $1$2"; }
stat_of() { curl -fsS --max-time 5 "$1/_fake/stat/$2"; }

# xray [CURL ARGS...] < body: signed POST /TraceSegments; prints the status,
# the answer in $T/body, its headers in $T/headers.
xray() {
  curl -sS -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 10 \
    -H 'Content-Type: application/json' --data-binary @- "$@" "$URL_xray/TraceSegments"
}
xray_signed() { xray --aws-sigv4 "aws:amz:$REGION:xray" -u "$KEY:$SECRET" "$@"; }
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: *//Ip" | head -n 1; }

NOW=$(date +%s)
TRACE=$(printf '1-%08x-%024x' "$NOW" 42)
# seg ID [EXTRA JSON MEMBERS]: a complete segment document, as a JSON string.
seg() {
  printf '{"name":"cruddur-api","id":"%s","trace_id":"%s","start_time":%s.125,"end_time":%s.250%s}' \
    "$1" "$TRACE" "$NOW" "$NOW" "${2:+,$2}"
}
# docs DOC...: a PutTraceSegments body
docs() { "$AWS_PY" -c 'import json,sys; print(json.dumps({"TraceSegmentDocuments": sys.argv[1:]}))' "$@"; }

# ---------------------------------------------------------------- X-Ray API
cat >"$T/creds.json" <<EOF
[{"AccessKeyId": "ASIATEMPFAKE0001", "SecretAccessKey": "temp/secret/1", "Token": "session-token-1",
  "Expiration": "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"},
 {"AccessKeyId": "ASIATEMPFAKE0002", "SecretAccessKey": "temp/secret/2", "Token": "session-token-2",
  "Expiration": "$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)"}]
EOF
start_fake xray xray_api.py --region "$REGION" --access-key "$KEY" --secret-key "$SECRET" \
  --creds-file "$T/creds.json" --store "$T/xray.jsonl"

# A mixed batch: a segment with an embedded subsegment, an independent
# subsegment, an in-progress segment.
full=$(seg 00000000000000a1 '"http":{"request":{"method":"GET","url":"http://127.0.0.1/api/activities/home","client_ip":"127.0.0.1"},"response":{"status":200,"content_length":12}},"annotations":{"route":"/api/activities/home","cached":false,"rows":3},"metadata":{"default":{"k":[1,2]}},"subsegments":[{"id":"00000000000000b1","name":"SQLite","start_time":'"$NOW"'.13,"end_time":'"$NOW"'.14,"namespace":"remote","sql":{"database_type":"SQLite","sanitized_query":"SELECT 1"}}],"cause":{"working_directory":"/srv","exceptions":[{"id":"00000000000000c1","type":"AppDbBusy","message":"database is locked","stack":[{"path":"src/app/db.c","line":42,"label":"app_db_exec"}]}]},"fault":true')
indep=$(printf '{"name":"SQLite","id":"00000000000000b2","trace_id":"%s","parent_id":"00000000000000a1","type":"subsegment","start_time":%s.15,"end_time":%s.16,"namespace":"remote"}' "$TRACE" "$NOW" "$NOW")
inprog=$(printf '{"name":"cruddur-api","id":"00000000000000a3","trace_id":"%s","start_time":%s.5,"in_progress":true}' "$TRACE" "$NOW")
code=$(docs "$full" "$indep" "$inprog" | xray_signed)
expect "valid batch status" "$code" 200
expect "valid batch unprocessed" "$(jget "$T/body" 'len(d["UnprocessedTraceSegments"])')" 0
[ -n "$(header x-amzn-RequestId)" ] || it_fail "no x-amzn-RequestId"
expect "accepted" "$(stat_of "$URL_xray" accepted)" 2
expect "in progress" "$(stat_of "$URL_xray" in_progress)" 1
expect "embedded subsegments" "$(stat_of "$URL_xray" embedded_subsegments)" 1
expect "stored lines" "$(wc -l <"$T/xray.jsonl")" 3
expect "deviations" "$(stat_of "$URL_xray" deviations)" 0

# The same documents again: counted as duplicates.
code=$(docs "$full" | xray_signed)
expect "re-send status" "$code" 200
expect "duplicates" "$(stat_of "$URL_xray" duplicates)" 1

# Invalid documents come back unprocessed, with the service's codes.
bad_name=$(seg 00000000000000d1 | sed 's/"cruddur-api"/"bad?name"/')
no_end=$(printf '{"name":"x","id":"00000000000000d2","trace_id":"%s","start_time":%s}' "$TRACE" "$NOW")
bad_trace=$(seg 00000000000000d3 | sed 's/"trace_id":"1-/"trace_id":"2-/')
orphan=$(printf '{"name":"x","id":"00000000000000d4","trace_id":"%s","type":"subsegment","start_time":%s,"end_time":%s}' "$TRACE" "$NOW" "$NOW")
bad_annot=$(seg 00000000000000d5 '"annotations":{"k":{"nested":1}}')
bad_sub=$(seg 00000000000000d6 '"subsegments":[{"id":"00000000000000e1","name":"s","start_time":1}]')
code=$(docs "$bad_name" "$no_end" "$bad_trace" "$orphan" "$bad_annot" "$bad_sub" 'not json' | xray_signed)
expect "invalid docs status" "$code" 200
got=$(jget "$T/body" '" ".join(u["ErrorCode"] for u in d["UnprocessedTraceSegments"])')
expect "error codes" "$got" "InvalidName MissingEndTime InvalidTraceId MissingParentId InvalidAnnotations MissingEndTime InvalidSegment"
expect "subsegment message" "$(jget "$T/body" 'd["UnprocessedTraceSegments"][5]["Message"]')" \
  "Invalid subsegment. ErrorCode: MissingEndTime, Cause: null"
expect "ids echoed" "$(jget "$T/body" 'd["UnprocessedTraceSegments"][0]["Id"]')" 00000000000000d1
expect "no id for garbage" "$(jget "$T/body" '"Id" in d["UnprocessedTraceSegments"][6]')" False
expect "nothing stored from them" "$(wc -l <"$T/xray.jsonl")" 4

# More than 50 documents: the whole request is refused.
many=(); for i in $(seq 1 51); do many+=("$(seg "$(printf '%016x' $((0x100 + i)))")"); done
code=$(docs "${many[@]}" | xray_signed)
expect "51 documents" "$code" 400
expect "51 documents type" "$(header x-amzn-ErrorType)" InvalidRequestException
expect "51 documents message" "$(jget "$T/body" 'd["Message"]')" "Exceeding maximum segment count: 50"

# A document over 64 kB.
big=$(seg 00000000000000f1 "\"metadata\":{\"pad\":\"$(head -c 70000 /dev/zero | tr '\0' x)\"}")
code=$(docs "$big" | xray_signed)
expect "big document" "$(jget "$T/body" 'd["UnprocessedTraceSegments"][0]["ErrorCode"]')" SegmentTooLarge

# Faults: throttling, 5xx, unprocessed (retryable and permanent).
post "$URL_xray" /_fake/faults '[{"kind":"throttle"},{"kind":"status","status":500},
  {"kind":"unprocessed","count":1},{"kind":"unprocessed","count":2,"code":"InvalidSegment","message":"Invalid segment. ErrorCode: InvalidSegment, Cause: null"}]'
code=$(docs "$(seg 0000000000000101)" | xray_signed)
expect "throttled" "$code" 429
expect "throttled type" "$(header x-amzn-ErrorType)" ThrottledException
expect "throttled message" "$(jget "$T/body" 'd["Message"]')" "Rate exceeded"
code=$(docs "$(seg 0000000000000101)" | xray_signed)
expect "500" "$code" 500
code=$(docs "$(seg 0000000000000101)" "$(seg 0000000000000102)" | xray_signed)
expect "unprocessed retryable" "$(jget "$T/body" '[(u["Id"], u["ErrorCode"]) for u in d["UnprocessedTraceSegments"]]')" \
  "[('0000000000000102', 'ThrottledException')]"
code=$(docs "$(seg 0000000000000103)" "$(seg 0000000000000104)" "$(seg 0000000000000105)" | xray_signed)
expect "unprocessed permanent" "$(jget "$T/body" '[u["Id"] for u in d["UnprocessedTraceSegments"]]')" \
  "['0000000000000104', '0000000000000105']"
expect "injected count" "$(stat_of "$URL_xray" unprocessed_injected)" 3

# ---- signatures
docs "$(seg 0000000000000201)" >"$T/one.json"
code=$(xray <"$T/one.json")
expect "unsigned" "$code" 403
expect "unsigned type" "$(header x-amzn-ErrorType)" MissingAuthenticationTokenException
expect "unsigned message" "$(jget "$T/body" 'd["message"]')" "Missing Authentication Token"

code=$(xray -H 'Authorization: AWS4-HMAC-SHA256 Credential=x' <"$T/one.json")
expect "incomplete" "$(header x-amzn-ErrorType)" IncompleteSignatureException
expect "incomplete status" "$code" 403

code=$(xray --aws-sigv4 "aws:amz:$REGION:xray" -u "$KEY:wrong-secret" <"$T/one.json")
expect "bad secret" "$code" 403
expect "bad secret type" "$(header x-amzn-ErrorType)" InvalidSignatureException
msg=$(jget "$T/body" 'd["message"]')
[[ $msg == "The request signature we calculated does not match the signature you provided."* ]] ||
  it_fail "bad secret message: $(cat "$T/body")"
grep -q "wrong-secret\|$SECRET" "$T/body" && it_fail "a secret in an error message"

# libcurl before 8.3 signs a removed "Expect:" header (curl issue 11664).
code=$(xray_signed -H 'Expect:' <"$T/one.json")
expect "signed but absent" "$(header x-amzn-ErrorType)" IncompleteSignatureException
expect "signed but absent message" "$(jget "$T/body" 'd["message"]')" \
  "'expect' is named as a SignedHeader, but it does not exist in the HTTP request."

code=$(xray --aws-sigv4 "aws:amz:us-west-2:xray" -u "$KEY:$SECRET" <"$T/one.json")
expect "wrong region" "$(jget "$T/body" 'd["message"]')" "Credential should be scoped to a valid region, not 'us-west-2'. "
code=$(xray --aws-sigv4 "aws:amz:$REGION:logs" -u "$KEY:$SECRET" <"$T/one.json")
expect "wrong service" "$(jget "$T/body" 'd["message"]')" "Credential should be scoped to correct service: 'xray'. "

code=$(xray --aws-sigv4 "aws:amz:$REGION:xray" -u "AKIDUNKNOWN00000:$SECRET" <"$T/one.json")
expect "unknown key" "$(header x-amzn-ErrorType)" UnrecognizedClientException
expect "unknown key message" "$(jget "$T/body" 'd["message"]')" "The security token included in the request is invalid."

# The body changed after signing: the signature no longer matches.
code=$(xray_signed -H 'Content-Length: 60' <"$T/one.json" 2>/dev/null || true)
[ "$code" != 200 ] || it_fail "a truncated body was accepted"

# Temporary credentials from the creds file: token required, and expiry.
code=$(xray --aws-sigv4 "aws:amz:$REGION:xray" -u "ASIATEMPFAKE0001:temp/secret/1" \
  -H 'X-Amz-Security-Token: session-token-1' <"$T/one.json")
expect "temporary credentials" "$code" 200
code=$(xray --aws-sigv4 "aws:amz:$REGION:xray" -u "ASIATEMPFAKE0001:temp/secret/1" <"$T/one.json")
expect "no token" "$(header x-amzn-ErrorType)" UnrecognizedClientException
code=$(xray --aws-sigv4 "aws:amz:$REGION:xray" -u "ASIATEMPFAKE0001:temp/secret/1" \
  -H 'X-Amz-Security-Token: session-token-2' <"$T/one.json")
expect "wrong token" "$(header x-amzn-ErrorType)" UnrecognizedClientException
code=$(xray --aws-sigv4 "aws:amz:$REGION:xray" -u "ASIATEMPFAKE0002:temp/secret/2" \
  -H 'X-Amz-Security-Token: session-token-2' <"$T/one.json")
expect "expired" "$code" 403
expect "expired type" "$(header x-amzn-ErrorType)" ExpiredTokenException
expect "expired message" "$(jget "$T/body" 'd["message"]')" "The security token included in the request is expired"
grep -q "session-token" "$T/body" && it_fail "a session token in an error message"

# The file changes (new credentials): read again.
sleep 1.1
cat >"$T/creds.json.new" <<EOF
[{"AccessKeyId": "ASIATEMPFAKE0003", "SecretAccessKey": "temp/secret/3", "Token": "session-token-3",
  "Expiration": "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"}]
EOF
mv "$T/creds.json.new" "$T/creds.json"
code=$(xray --aws-sigv4 "aws:amz:$REGION:xray" -u "ASIATEMPFAKE0003:temp/secret/3" \
  -H 'X-Amz-Security-Token: session-token-3' <"$T/one.json")
expect "rotated credentials" "$code" 200
code=$(xray --aws-sigv4 "aws:amz:$REGION:xray" -u "ASIATEMPFAKE0001:temp/secret/1" \
  -H 'X-Amz-Security-Token: session-token-1' <"$T/one.json")
expect "old credentials gone" "$(header x-amzn-ErrorType)" UnrecognizedClientException
post "$URL_xray" /_fake/faults '{"kind":"expired_token"}'
code=$(xray_signed <"$T/one.json")
expect "injected expiry" "$(header x-amzn-ErrorType)" ExpiredTokenException
post "$URL_xray" /_fake/credentials '{"expire": true}'
code=$(xray --aws-sigv4 "aws:amz:$REGION:xray" -u "ASIATEMPFAKE0003:temp/secret/3" \
  -H 'X-Amz-Security-Token: session-token-3' <"$T/one.json")
expect "expired by control" "$(header x-amzn-ErrorType)" ExpiredTokenException

# The server's clock ten minutes ahead: "Signature expired", with its Date.
post "$URL_xray" /_fake/clock '{"skew": 600}'
code=$(xray_signed <"$T/one.json")
expect "skewed clock" "$(header x-amzn-ErrorType)" InvalidSignatureException
msg=$(jget "$T/body" 'd["message"]')
[[ $msg =~ ^Signature\ expired:\ [0-9]{8}T[0-9]{6}Z\ is\ now\ earlier\ than\ [0-9]{8}T[0-9]{6}Z\ \([0-9]{8}T[0-9]{6}Z\ -\ 5\ min\.\)$ ]] ||
  it_fail "skew message: $(cat "$T/body")"
server_date=$(date -d "$(header Date)" +%s)
[ $((server_date - $(date +%s))) -ge 590 ] || it_fail "the Date header does not show the skew: $(header Date)"
post "$URL_xray" /_fake/clock '{"skew": 0}'

# Signed by botocore itself (not curl): accepted; a query string too.
"$AWS_PY" - "$URL_xray" "$KEY" "$SECRET" "$REGION" "$T/one.json" <<'EOF' || it_fail "botocore-signed request refused"
import sys, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, key, secret, region, path = sys.argv[1:]
body = open(path, "rb").read()
req = AWSRequest(method="POST", url=url + "/TraceSegments", data=body,
                 headers={"Content-Type": "application/json"})
SigV4Auth(Credentials(key, secret), "xray", region).add_auth(req)
r = urllib.request.urlopen(urllib.request.Request(url + "/TraceSegments", data=body,
                                                  headers=dict(req.headers), method="POST"))
assert r.status == 200, r.status
EOF
expect "auth failures counted" "$(($(stat_of "$URL_xray" auth_failed) >= 12))" 1

# ------------------------------------------------------ X-Ray API, --count-only
# --count-only (benchmarks) is served by fastaws.py: a lean keep-alive loop
# in worker processes, the signature computed by sigv4.FastSigner. First,
# FastSigner against botocore: 900 generated requests, half of them tampered
# with, must get the same answer from the verifier with it as without it
# (the canonical request and string to sign, shown in mismatch messages,
# included), and each signature it computes must equal botocore's.
"$AWS_PY" - "$FAKES" <<'EOF' || it_fail "FastSigner and botocore disagree"
import random, sys, time
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import fastaws, sigv4
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

REGION, SERVICE = "eu-west-1", "xray"
KEYS = [("AKIDCROSS0001", "s3cr\u00e9t/+key==", None), ("ASIACROSS0002", "temp/secret/2", "tok/en+2=="),
        ("ASIACROSS0003", "temp/secret/3", "token-3")]
now = time.time()
creds = sigv4.Credentials([sigv4.Credentials.entry({"AccessKeyId": k, "SecretAccessKey": s, "Token": t,
                                                    "Expiration": now - 60 if k.endswith("3") else None})
                           for k, s, t in KEYS])
seen = {"hashlib": 0, "botocore": 0}


class Checked(sigv4.FastSigner):
    """FastSigner, each answer compared with botocore's own computation."""
    def sign(self, method, target, host, hdrs, body, xdate, secret):
        got = sigv4.FastSigner.sign(self, method, target, host, hdrs, body, xdate, secret)
        seen["botocore" if got is None else "hashlib"] += 1
        if got is not None:
            req = AWSRequest(method=method, url="http://" + host + target, data=body, headers=hdrs)
            req.context["timestamp"] = xdate
            r = sigv4.Referee(BotoCredentials("x", secret, None), SERVICE, REGION)
            cr = r.canonical_request(req)
            sts = r.string_to_sign(req, cr)
            want = (cr, sts, r.signature(sts, req))
            assert got == want, "FastSigner differs from botocore:\n%r\n%r" % (got, want)
        return got


slow = sigv4.Verifier(SERVICE, REGION, creds, lambda: now)
fast = sigv4.Verifier(SERVICE, REGION, creds, lambda: now, fast=Checked(SERVICE, REGION))
rnd = random.Random(20261124)
PATHS = ["/TraceSegments", "/", "/a/b-c_d.e~f/", "/x/y", "/a%20b", "/a/./b", "/a/../b", "/q?b=2&a=1&a=0",
         "/caf\u00e9", "/a;b", "//x"]
HOSTS = ["127.0.0.1:4567", "localhost", "xray.eu-west-1.amazonaws.com", "[::1]:8080", "h\u00f4te"]
EXTRA = [("Content-Type", "application/json"), ("X-Amz-Target", "Logs_20140328.PutLogEvents"),
         ("X-Custom", "  a   b \t c  "), ("X-Latin", "caf\u00e9 cr\u00e8me"), ("X-Empty", ""),
         ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"), ("Content-Encoding", "identity")]


def signed_request():
    """A request signed by botocore as a client signs it: (method, target, {name: [values]}, body)."""
    key, secret, token = KEYS[2] if rnd.random() < 0.15 else rnd.choice(KEYS[:2])
    method = rnd.choice(["POST", "POST", "GET", "PUT"])
    target = rnd.choice(PATHS) if rnd.random() < 0.4 else rnd.choice(PATHS[:4])
    host = rnd.choice(HOSTS) if rnd.random() < 0.3 else rnd.choice(HOSTS[:3])
    body = bytes(rnd.getrandbits(8) for _ in range(rnd.choice([0, 1, 50, 3000])))
    req = AWSRequest(method=method, url="http://" + host + target, data=body)
    for name, value in EXTRA:
        if rnd.random() < (0.1 if name == "X-Amz-Content-Sha256" else 0.5):
            req.headers[name] = value
    if rnd.random() < 0.2:
        req.headers["X-Dup"] = "one"
        req.headers["X-Dup"] = "two"    # sent twice, signed as "one,two"
    SigV4Auth(BotoCredentials(key, secret, token), SERVICE, REGION).add_auth(req)
    hdrs = {"host": [host]}
    for name, value in req.headers.items():
        hdrs.setdefault(name.lower(), []).append(value)
    return method, target, hdrs, body


def tamper(method, target, hdrs, body):
    hdrs = {k: list(v) for k, v in hdrs.items()}
    auth = hdrs["authorization"][0]
    what = rnd.randrange(13)
    if what == 0 and body:
        body = body[:-1] + bytes([body[-1] ^ 1])
    elif what == 1:
        hdrs["authorization"] = [auth[:-1] + ("0" if auth[-1] != "0" else "1")]
    elif what == 2:
        hdrs["x-amz-date"] = [hdrs["x-amz-date"][0][:-2] + "%02d" % ((int(hdrs["x-amz-date"][0][-3:-1]) + 1) % 60) + "Z"]
    elif what == 3:
        hdrs["authorization"] = [auth.replace("/eu-west-1/", "/us-west-2/")]
    elif what == 4:
        hdrs["authorization"] = [auth.replace("/xray/", "/logs/")]
    elif what == 5:
        hdrs["authorization"] = [auth.replace("CROSS", "OTHER")]
    elif what == 6:
        hdrs.pop("x-amz-security-token", None) or hdrs.__setitem__("x-amz-security-token", ["stray"])
    elif what == 7:
        hdrs["authorization"] = [auth.replace("SignedHeaders=", "SignedHeaders=X-Custom;").replace("SignedHeaders=X-Custom;host", "SignedHeaders=Host")]
        hdrs.setdefault("x-custom", ["z"])
    elif what == 8:
        hdrs["authorization"] = [auth.replace("host;", "")]
    elif what == 9:
        hdrs["host"] = ["example.org"]
    elif what == 10:
        method = "DELETE"
    elif what == 11:
        hdrs["authorization"] = [auth.replace("SignedHeaders=", "SignedHeaders=expect;")]
    else:
        hdrs["x-amz-date"] = [sigv4.amz_date(sigv4.parse_amz_date(hdrs["x-amz-date"][0]) + rnd.choice([-1, 1]) * 400)]
    return method, target, hdrs, body


def outcome(v, method, target, hdrs, body):
    h = fastaws.Request(method, target, fastaws.Headers(hdrs))
    try:
        v.verify(h, body)
        return "ok"
    except sigv4.AuthError as e:
        return (e.status, e.etype, e.message)


tally = {}
for i in range(900):
    r = signed_request()
    if i % 2:
        r = tamper(*r)
    a, b = outcome(slow, *r), outcome(fast, *r)
    if r[2]["authorization"][0].count("CROSS0003") and not i % 2:
        assert a[1] == "ExpiredTokenException", a
    assert a == b, "verifiers differ on %r:\nbotocore: %r\nfast:     %r" % (r[:3], a, b)
    k = "accepted" if a == "ok" else a[1] + (" (expired)" if "expired:" in a[2] else "")
    tally[k] = tally.get(k, 0) + 1
assert tally.get("accepted", 0) >= 300 and tally.get("ExpiredTokenException", 0) >= 30 and tally.get("InvalidSignatureException", 0) >= 80, tally
assert seen["hashlib"] >= 300 and seen["botocore"] >= 100, seen
print("signatures: 900 requests, the same answer with and without FastSigner (%s); signatures computed "
      "by hashlib %d times, all equal to botocore's; by botocore %d times"
      % (", ".join("%s %d" % kv for kv in sorted(tally.items())), seen["hashlib"], seen["botocore"]))
EOF

# Then the two fakes side by side, same credentials: the count-only one must
# answer every request as the normal one does (status, error type, message).
cat >"$T/creds2.json" <<EOF
[{"AccessKeyId": "ASIATEMPFAKE0001", "SecretAccessKey": "temp/secret/1", "Token": "session-token-1",
  "Expiration": "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"},
 {"AccessKeyId": "ASIATEMPFAKE0002", "SecretAccessKey": "temp/secret/2", "Token": "session-token-2",
  "Expiration": "$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)"}]
EOF
start_fake xn xray_api.py --region "$REGION" --access-key "$KEY" --secret-key "$SECRET" --creds-file "$T/creds2.json"
start_fake xc xray_api.py --count-only --workers 3 --region "$REGION" --access-key "$KEY" --secret-key "$SECRET" \
  --creds-file "$T/creds2.json"
# answer_of NAME FILE PATH CURL ARGS...: "status error-type" of a request to
# fake NAME; the answer's body stays in $T/cmp/$CASE.NAME.body.
mkdir -p "$T/cmp"
: >"$T/cmp/cases"
CASE=0
answer_of() {
  local name=$1 file=$2 path=$3; shift 3
  local url_var="URL_$name"
  curl -sS -o "$T/cmp/$CASE.$name.body" -w '%{http_code} %header{x-amzn-errortype}' --max-time 10 \
    --data-binary @"$file" "$@" "${!url_var}$path"
}
# same_answer A B WHAT WANT_STATUS FILE PATH CURL ARGS...: fakes A and B
# answer alike (status and type here, the rest in same_messages)
same_answer() {
  local fa=$1 fb=$2 what=$3 want=$4 file=$5 path=$6 a b; shift 6
  a=$(answer_of "$fa" "$file" "$path" "$@")
  b=$(answer_of "$fb" "$file" "$path" "$@")
  [ "$a" = "$b" ] || it_fail "count-only, $what: got '$b', the normal fake says '$a'"
  [ "${b%% *}" = "$want" ] || it_fail "count-only, $what: status ${b%% *}, want $want: $b"
  printf '%s %s %s %s\n' "$CASE" "$fa" "$fb" "$what" >>"$T/cmp/cases"
  LAST=$T/cmp/$CASE.$fb.body
  CASE=$((CASE + 1))
}
# same_messages: the answers' messages or bodies alike, for every case so far
# (the fakes' ports, so the hash of a canonical request, and the second a
# request was signed in may differ)
same_messages() {
  "$AWS_PY" - "$T/cmp" <<'EOF' || it_fail "count-only: answers differ"
import json, re, sys


def shown(path):
    try:
        d = json.load(open(path))
    except ValueError:
        d = {}
    if "message" in d or "Message" in d:
        m = re.sub(r"127\.0\.0\.1:[0-9]+", "HOST:PORT", d.get("message") or d.get("Message"))
        return re.sub(r"\b[0-9]{8}T[0-9]{6}Z\b", "DATE", re.sub(r"\n[0-9a-f]{64}'\n$", "\nHASH\n", m))
    if "UnprocessedTraceSegments" in d:
        return d["UnprocessedTraceSegments"]
    return sorted(k for k in d if k != "nextSequenceToken")


n = 0
for line in open(sys.argv[1] + "/cases"):
    case, a, b, what = line.rstrip("\n").split(" ", 3)
    x, y = (shown("%s/%s.%s.body" % (sys.argv[1], case, f)) for f in (a, b))
    if x != y:
        sys.exit("count-only, %s: answered\n%s\nthe normal fake:\n%s" % (what, y, x))
    n += 1
print("count-only: %d answers as the normal fake's" % n)
EOF
  : >"$T/cmp/cases"
}
same_xray() {
  local what=$1 want=$2 file=$3; shift 3
  same_answer xn xc "$what" "$want" "$file" /TraceSegments -H 'Content-Type: application/json' "$@"
}
SIG=(--aws-sigv4 "aws:amz:$REGION:xray" -u "$KEY:$SECRET")
same_xray "valid" 200 "$T/one.json" "${SIG[@]}"
same_xray "unsigned" 403 "$T/one.json"
same_xray "incomplete" 403 "$T/one.json" -H 'Authorization: AWS4-HMAC-SHA256 Credential=x'
same_xray "bad secret" 403 "$T/one.json" --aws-sigv4 "aws:amz:$REGION:xray" -u "$KEY:wrong-secret"
same_xray "signed but absent" 403 "$T/one.json" "${SIG[@]}" -H 'Expect:'
same_xray "wrong region" 403 "$T/one.json" --aws-sigv4 "aws:amz:us-west-2:xray" -u "$KEY:$SECRET"
same_xray "wrong service" 403 "$T/one.json" --aws-sigv4 "aws:amz:$REGION:logs" -u "$KEY:$SECRET"
same_xray "unknown key" 403 "$T/one.json" --aws-sigv4 "aws:amz:$REGION:xray" -u "AKIDUNKNOWN00000:$SECRET"
same_xray "two Content-Type headers" 403 "$T/one.json" "${SIG[@]}" -H 'Content-Type: text/plain'
same_xray "temporary credentials" 200 "$T/one.json" --aws-sigv4 "aws:amz:$REGION:xray" \
  -u "ASIATEMPFAKE0001:temp/secret/1" -H 'X-Amz-Security-Token: session-token-1'
same_xray "no token" 403 "$T/one.json" --aws-sigv4 "aws:amz:$REGION:xray" -u "ASIATEMPFAKE0001:temp/secret/1"
same_xray "wrong token" 403 "$T/one.json" --aws-sigv4 "aws:amz:$REGION:xray" \
  -u "ASIATEMPFAKE0001:temp/secret/1" -H 'X-Amz-Security-Token: session-token-2'
same_xray "expired" 403 "$T/one.json" --aws-sigv4 "aws:amz:$REGION:xray" \
  -u "ASIATEMPFAKE0002:temp/secret/2" -H 'X-Amz-Security-Token: session-token-2'
same_xray "a token with a long-term key" 403 "$T/one.json" "${SIG[@]}" -H 'X-Amz-Security-Token: session-token-1'
docs "${many[@]}" >"$T/x51.json"
same_xray "51 documents" 400 "$T/x51.json" "${SIG[@]}"
docs "$big" "$(seg 00000000000000f2)" >"$T/xbig.json"
same_xray "a document over 64 kB" 200 "$T/xbig.json" "${SIG[@]}"
echo 'not json' >"$T/notjson.json"
same_xray "not JSON" 400 "$T/notjson.json" "${SIG[@]}"
echo '{"Other": []}' >"$T/other.json"
same_xray "no TraceSegmentDocuments" 400 "$T/other.json" "${SIG[@]}"
echo '{"TraceSegmentDocuments": [1, 2]}' >"$T/numbers.json"
same_xray "documents not strings" 400 "$T/numbers.json" "${SIG[@]}"
same_xray "PUT" 404 "$T/one.json" "${SIG[@]}" -X PUT
same_xray "gzip" 400 "$T/one.json" "${SIG[@]}" -H 'Content-Encoding: gzip'
same_messages
post "$URL_xc" /_fake/clock '{"skew": -600}'
post "$URL_xc" /_fake/clock '{"skew": 600}'
b=$(answer_of xc "$T/one.json" /TraceSegments "${SIG[@]}")
expect "count-only, skewed clock" "$b" "403 InvalidSignatureException"
[[ $(jget "$T/cmp/$CASE.xc.body" 'd["message"]') == "Signature expired: "* ]] ||
  it_fail "count-only, skewed clock: $(cat "$T/cmp/$CASE.xc.body")"
expect "count-only, clock_skew" "$(stat_of "$URL_xc" clock_skew)" 600.0
post "$URL_xc" /_fake/clock '{"skew": 0}'
post "$URL_xc" /_fake/credentials '{"expire": true}'
b=$(answer_of xc "$T/one.json" /TraceSegments --aws-sigv4 "aws:amz:$REGION:xray" \
  -u "ASIATEMPFAKE0001:temp/secret/1" -H 'X-Amz-Security-Token: session-token-1')
expect "count-only, expired by control" "$b" "403 ExpiredTokenException"
post "$URL_xc" /_fake/credentials '{"add": [{"AccessKeyId": "AKIDADDED0000001", "SecretAccessKey": "added/secret"}]}'
b=$(answer_of xc "$T/one.json" /TraceSegments --aws-sigv4 "aws:amz:$REGION:xray" -u "AKIDADDED0000001:added/secret")
expect "count-only, added credentials" "$b" "200 "
code=$(curl -sS -o "$T/body" -w '%{http_code}' -X POST --data '{"kind":"throttle"}' "$URL_xc/_fake/faults")
expect "count-only, no faults" "$code $(jget "$T/body" 'd["error"]')" \
  "400 /_fake/faults is not available with --count-only"
# Counted: the 64 kB document is not, the others are.
expect "count-only, counted" "$(stat_of "$URL_xc" counted)" 4
expect "count-only, too large" "$(stat_of "$URL_xc" unprocessed_codes)" '{"SegmentTooLarge": 1}'

# Over the wire as the exporter talks: 6 keep-alive connections at once, 5
# requests each (one connection pipelines two requests in one write, one
# ends its header lines with LF alone), then one request without a
# Content-Length (411, and the connection closes). Counted over all the
# workers, and reset for all of them.
post "$URL_xc" /_fake/reset '{}'
expect "count-only, reset" "$(stat_of "$URL_xc" counted)/$(stat_of "$URL_xc" requests)" 0/0
docs "$(seg 0000000000000401)" "$(seg 0000000000000402)" "$(seg 0000000000000403)" >"$T/three.json"
"$AWS_PY" - "$URL_xc" "$KEY" "$SECRET" "$REGION" "$T/three.json" <<'EOF' || it_fail "count-only over keep-alive connections"
import json, socket, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, key, secret, region, path = sys.argv[1:]
host = url[len("http://"):]
body = open(path, "rb").read()


def signed(eol="\r\n", length=True):
    req = AWSRequest(method="POST", url=url + "/TraceSegments", data=body,
                     headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), "xray", region).add_auth(req)
    head = "POST /TraceSegments HTTP/1.1" + eol + "Host: " + host + eol
    head += "".join("%s: %s%s" % (k, v, eol) for k, v in req.headers.items())
    if length:
        head += "Content-Length: %d%s" % (len(body), eol)
    return (head + eol).encode() + body


def answer(f):
    status = f.readline()
    n = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    return status, f.read(n)


conns = [socket.create_connection(("127.0.0.1", int(host.split(":")[1]))) for _ in range(6)]
files = [c.makefile("rb") for c in conns]
sent = 0
for rnd in range(5):
    for i, c in enumerate(conns):
        if i == 0 and rnd == 0:
            c.sendall(signed() + signed())
            expect = 2
        else:
            c.sendall(signed("\n" if i == 1 else "\r\n"))
            expect = 1
        for _ in range(expect):
            status, data = answer(files[i])
            assert status.startswith(b"HTTP/1.1 200 "), (status, data)
            assert json.loads(data) == {"UnprocessedTraceSegments": []}, data
            sent += 1
c = socket.create_connection(("127.0.0.1", int(host.split(":")[1])))
c.sendall(signed(length=False)[:-len(body)])
f = c.makefile("rb")
status, data = answer(f)
assert status.startswith(b"HTTP/1.1 411 "), status
assert f.read() == b"", "the connection stays open after a 411"
assert sent == 31, sent
EOF
expect "count-only, counted over workers" "$(stat_of "$URL_xc" counted)" 93
expect "count-only, requests" "$(stat_of "$URL_xc" requests)" 32
expect "count-only, statuses" "$(stat_of "$URL_xc" statuses)" '{"200": 31, "411": 1}'
busy=$(stat_of "$URL_xc" worker_requests | "$AWS_PY" -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n))')
[ "$busy" -ge 2 ] || it_fail "count-only: one worker served every connection: $(stat_of "$URL_xc" worker_requests)"
# Expect: 100-continue is answered (curl would wait 5 s for it), chunked bodies are read.
start=$(date +%s%N)
b=$(answer_of xc "$T/xbig.json" /TraceSegments "${SIG[@]}" -H 'Content-Type: application/json' \
  -H 'Expect: 100-continue' --expect100-timeout 5)
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 4000 ] || it_fail "count-only: no 100 Continue"
expect "count-only, Expect: 100-continue" "$b" "200 "
b=$(answer_of xc "$T/one.json" /TraceSegments "${SIG[@]}" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked')
expect "count-only, chunked" "$b" "200 "
expect "count-only, counted at the end" "$(stat_of "$URL_xc" counted)" 95

# ------------------------------------------------------------- CloudWatch Logs
start_fake logs cloudwatch_logs.py --region "$REGION" --access-key "$KEY" --secret-key "$SECRET" \
  --store "$T/logs.jsonl" --allow-missing-signed-headers
# logs OPERATION [CURL ARGS...] < body
logs() {
  local op=$1; shift
  curl -sS -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 10 \
    --aws-sigv4 "aws:amz:$REGION:logs" -u "$KEY:$SECRET" \
    -H 'Content-Type: application/x-amz-json-1.1' -H "X-Amz-Target: Logs_20140328.$op" \
    --data-binary @- "$@" "$URL_logs/"
}
# events GROUP STREAM OFFSET_MS...: a PutLogEvents body, events at now + each offset
events() {
  "$AWS_PY" -c '
import json, sys, time
now = int(time.time() * 1000)
g, s = sys.argv[1], sys.argv[2]
ev = [{"timestamp": now + int(o), "message": "GET /api/activities/home 200 %d" % i}
      for i, o in enumerate(sys.argv[3:])]
print(json.dumps({"logGroupName": g, "logStreamName": s, "logEvents": ev}))' "$@"
}
H=3600000
D=$((24 * H))

code=$(events /cruddur/api w1 0 | logs PutLogEvents)
expect "no group" "$code" 400
expect "no group type" "$(jget "$T/body" 'd["__type"]')" ResourceNotFoundException
expect "no group message" "$(jget "$T/body" 'd["message"]')" "The specified log group does not exist."
expect "json 1.1 answers" "$(header Content-Type)" application/x-amz-json-1.1
code=$(echo '{"logGroupName":"/cruddur/api"}' | logs CreateLogGroup)
expect "create group" "$code" 200
code=$(echo '{"logGroupName":"/cruddur/api"}' | logs CreateLogGroup)
expect "group twice" "$(jget "$T/body" '(d["__type"], d["message"])')" \
  "('ResourceAlreadyExistsException', 'The specified log group already exists')"
code=$(events /cruddur/api w1 0 | logs PutLogEvents)
expect "no stream message" "$(jget "$T/body" 'd["message"]')" "The specified log stream does not exist."
code=$(echo '{"logGroupName":"/cruddur/api","logStreamName":"w1"}' | logs CreateLogStream)
expect "create stream" "$code" 200
code=$(echo '{"logGroupName":"/cruddur/api","logStreamName":"w1"}' | logs CreateLogStream)
expect "stream twice" "$(jget "$T/body" 'd["message"]')" "The specified log stream already exists"
code=$(echo '{"logGroupName":"/nope","logStreamName":"w1"}' | logs CreateLogStream)
expect "stream without group" "$(jget "$T/body" 'd["__type"]')" ResourceNotFoundException

code=$(events /cruddur/api w1 -2000 -1000 0 | logs PutLogEvents)
expect "put" "$code" 200
expect "put answer" "$(jget "$T/body" 'sorted(d)')" "['nextSequenceToken']"
expect "events accepted" "$(stat_of "$URL_logs" accepted)" 3

code=$(echo '{"logGroupName":"/cruddur/api","logStreamName":"w1","logEvents":[]}' | logs PutLogEvents)
expect "empty" "$(jget "$T/body" 'd["message"]')" \
  "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy constraint: Member must have length greater than or equal to 1"
code=$(events /cruddur/api w1 0 -1000 | logs PutLogEvents)
expect "order" "$(jget "$T/body" 'd["message"]')" \
  "Log events in a single PutLogEvents request must be in chronological order."
code=$(events /cruddur/api w1 $((-30 * H)) 0 | logs PutLogEvents)
expect "span" "$(jget "$T/body" 'd["message"]')" \
  "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
"$AWS_PY" -c '
import json, time
print(json.dumps({"logGroupName": "/cruddur/api", "logStreamName": "w1",
  "logEvents": [{"timestamp": int(time.time() * 1000), "message": "\u00e9" * 524276}]}))' >"$T/big.json"
code=$(logs PutLogEvents <"$T/big.json")
expect "big event" "$(jget "$T/body" 'd["message"]')" "Log event too large: 1048578 bytes exceeds limit of 1048576"
"$AWS_PY" -c '
import json, time
t = int(time.time() * 1000)
print(json.dumps({"logGroupName": "/cruddur/api", "logStreamName": "w1",
  "logEvents": [{"timestamp": t, "message": "y" * 200000} for _ in range(6)]}))' >"$T/upload.json"
code=$(logs PutLogEvents <"$T/upload.json")
expect "upload" "$(jget "$T/body" 'd["message"]')" "Upload too large: 1200156 bytes exceeds limit of 1048576"
"$AWS_PY" -c '
import json, time
t = int(time.time() * 1000)
print(json.dumps({"logGroupName": "/cruddur/api", "logStreamName": "w1",
  "logEvents": [{"timestamp": t, "message": "z"} for _ in range(10001)]}))' >"$T/many.json"
code=$(logs PutLogEvents <"$T/many.json")
msg=$(jget "$T/body" 'd["message"]')
[[ $msg == *"Member must have length less than or equal to 10000" ]] ||
  it_fail "10001 events: $(head -c 300 "$T/body")"
expect "nothing stored from refused batches" "$(stat_of "$URL_logs" accepted)" 3

# Too old (15 days), too new (3 hours ahead): reported, not stored.
code=$(events /cruddur/api w1 $((-15 * D)) $((-15 * D + 1000)) -5000 0 $((3 * H)) | logs PutLogEvents)
expect "rejected info" "$(jget "$T/body" 'd["rejectedLogEventsInfo"]')" \
  "{'tooOldLogEventEndIndex': 2, 'tooNewLogEventStartIndex': 4}"
expect "stored after partial" "$(stat_of "$URL_logs" accepted)" 5
# Retention: an invalid value is refused; with 1 day, 2-day-old events expire.
code=$(echo '{"logGroupName":"/cruddur/api","retentionInDays":2}' | logs PutRetentionPolicy)
expect "bad retention" "$(jget "$T/body" 'd["__type"]')" InvalidParameterException
code=$(echo '{"logGroupName":"/cruddur/api","retentionInDays":1}' | logs PutRetentionPolicy)
expect "retention" "$code" 200
code=$(events /cruddur/api w1 $((-2 * D)) -1000 | logs PutLogEvents)
expect "expired info" "$(jget "$T/body" 'd["rejectedLogEventsInfo"]')" "{'expiredLogEventEndIndex': 1}"

# Faults: throttling is a 400 there; 500; injected rejectedLogEventsInfo;
# a stream deleted behind the exporter's back.
post "$URL_logs" /_fake/faults '[{"kind":"throttle"},{"kind":"unavailable"},
  {"kind":"rejected","tooOldLogEventEndIndex":1},{"kind":"delete_stream"}]'
code=$(events /cruddur/api w1 0 | logs PutLogEvents)
expect "throttled" "$code $(jget "$T/body" 'd["__type"], d["message"]')" "400 ('ThrottlingException', 'Rate exceeded')"
code=$(events /cruddur/api w1 0 | logs PutLogEvents)
expect "unavailable" "$code $(header x-amzn-ErrorType)" "500 ServiceUnavailableException"
code=$(events /cruddur/api w1 0 1 | logs PutLogEvents)
expect "injected rejected" "$(jget "$T/body" 'd["rejectedLogEventsInfo"]')" "{'tooOldLogEventEndIndex': 1}"
code=$(events /cruddur/api w1 0 | logs PutLogEvents)
expect "deleted stream" "$(jget "$T/body" 'd["message"]')" "The specified log stream does not exist."
code=$(echo '{"logGroupName":"/cruddur/api"}' | logs DescribeLogStreams)
expect "describe" "$(jget "$T/body" 'len(d["logStreams"])')" 0
code=$(echo '{"logGroupName":"/cruddur/api","logStreamName":"w1"}' | logs CreateLogStream)
code=$(echo '{"logGroupName":"/cruddur/api","logStreamNamePrefix":"w"}' | logs DescribeLogStreams)
expect "describe again" "$(jget "$T/body" '[s["logStreamName"] for s in d["logStreams"]]')" "['w1']"

code=$(events /cruddur/api w1 0 | logs PutLogEvents --aws-sigv4 "aws:amz:$REGION:xray")
expect "logs with an xray signature" "$(jget "$T/body" 'd["__type"]')" InvalidSignatureException
code=$(events /cruddur/api w1 0 | logs Nope)
expect "unknown operation" "$(jget "$T/body" 'd["__type"]')" UnknownOperationException
expect "logs deviations" "$(stat_of "$URL_logs" deviations)" 0
# --allow-missing-signed-headers: a signed "Expect:" that is not sent passes
# (signed as empty) and counts as a deviation.
code=$(events /cruddur/api w1 0 | logs PutLogEvents -H 'Expect:')
expect "lenient signed but absent" "$code" 200
expect "lenient deviation" "$(stat_of "$URL_logs" deviations)" 1

# ------------------------------------------------ CloudWatch Logs, --count-only
# Side by side again: every operation answered as the normal fake answers
# it, group and stream creation shared by all the workers (each request
# here comes on a new connection), events counted as the normal fake
# stores them.
start_fake ln cloudwatch_logs.py --region "$REGION" --access-key "$KEY" --secret-key "$SECRET"
start_fake lc cloudwatch_logs.py --count-only --workers 3 --region "$REGION" --access-key "$KEY" --secret-key "$SECRET"
# same_logs WHAT WANT_STATUS OPERATION FILE
same_logs() {
  same_answer ln lc "$1" "$2" "$4" / --aws-sigv4 "aws:amz:$REGION:logs" -u "$KEY:$SECRET" \
    -H 'Content-Type: application/x-amz-json-1.1' -H "X-Amz-Target: Logs_20140328.$3"
}
# The request bodies, written at once (ev(offsets...): events at now + each
# offset in ms, messages of `size` characters)
"$AWS_PY" - "$T" <<'EOF'
import json, sys, time
now = int(time.time() * 1000)


def ev(*offsets, size=40):
    return [{"timestamp": now + o, "message": ("GET /api/activities/home 200 %d " % i).ljust(size, "x")}
            for i, o in enumerate(offsets)]


G = {"logGroupName": "/cruddur/api"}
S = dict(G, logStreamName="w1")
DAY = 86400000
bodies = {
    "c1": dict(S, logEvents=ev(0)),
    "c2": G,
    "c3": S,
    "c4": {"logGroupName": "/nope", "logStreamName": "w1"},
    "c5": dict(S, logEvents=ev(-2000, -1000, 0)),
    "c6": dict(S, logEvents=[]),
    "c7": dict(S, logEvents=ev(0, -1000)),
    "c8": dict(S, logEvents=ev(-30 * 3600000, 0)),
    "c9": dict(S, logEvents=[{"timestamp": now, "message": "\u00e9" * 524276}]),
    "c10": dict(S, logEvents=ev(*[0] * 6, size=200000)),
    "c11": dict(S, logEvents=ev(*[0] * 10001, size=1)),
    "c12": dict(S, logEvents=ev(*[0] * 10000, size=78)),
    "c13": dict(S, logEvents=[{"timestamp": now, "message": ""}, {"timestamp": -1, "message": "x"},
                              {"message": "y"}]),
    "c14": dict(S, logEvents=[{"timestamp": "now", "message": "x"}]),
    "c15": dict(S, logEvents=[{"timestamp": now, "message": 3}]),
    "c16": dict(S, logEvents=["x"]),
    "c17": {"logGroupName": "bad name!", "logStreamName": "", "logEvents": ev(0)},
    "c18": dict(S, logEvents=ev(-15 * DAY, -15 * DAY + 1000, -5000, 0, 3 * 3600000)),
    "c19": dict(G, retentionInDays=2),
    "c20": dict(G, retentionInDays=1),
    "c21": dict(S, logEvents=ev(-2 * DAY, -1000)),
    "c22": dict(G, logStreamNamePrefix="w"),
}
for name, b in bodies.items():
    with open("%s/%s" % (sys.argv[1], name), "w") as f:
        json.dump(b, f)
EOF
same_logs "no group" 400 PutLogEvents "$T/c1"
same_logs "create group" 200 CreateLogGroup "$T/c2"
same_logs "group twice" 400 CreateLogGroup "$T/c2"
same_logs "no stream" 400 PutLogEvents "$T/c1"
same_logs "create stream" 200 CreateLogStream "$T/c3"
same_logs "stream twice" 400 CreateLogStream "$T/c3"
same_logs "stream without group" 400 CreateLogStream "$T/c4"
for _ in 1 2 3; do
  same_logs "put" 200 PutLogEvents "$T/c1"
done
same_logs "put 3" 200 PutLogEvents "$T/c5"
same_logs "no events" 400 PutLogEvents "$T/c6"
same_logs "order" 400 PutLogEvents "$T/c7"
same_logs "24 hours" 400 PutLogEvents "$T/c8"
same_logs "event too large" 400 PutLogEvents "$T/c9"
same_logs "upload too large" 400 PutLogEvents "$T/c10"
same_logs "10001 events" 400 PutLogEvents "$T/c11"
same_logs "10000 events, 1 MB" 200 PutLogEvents "$T/c12"
same_logs "bad events" 400 PutLogEvents "$T/c13"
same_logs "a string timestamp" 400 PutLogEvents "$T/c14"
same_logs "a number for a message" 400 PutLogEvents "$T/c15"
same_logs "an event not an object" 400 PutLogEvents "$T/c16"
same_logs "bad names" 400 PutLogEvents "$T/c17"
same_logs "too old and too new" 200 PutLogEvents "$T/c18"
expect "count-only, rejected info" "$(jget "$LAST" 'd["rejectedLogEventsInfo"]')" \
  "{'tooOldLogEventEndIndex': 2, 'tooNewLogEventStartIndex': 4}"
same_logs "bad retention" 400 PutRetentionPolicy "$T/c19"
same_logs "retention" 200 PutRetentionPolicy "$T/c20"
same_logs "expired by retention" 200 PutLogEvents "$T/c21"
expect "count-only, expired info" "$(jget "$LAST" 'd["rejectedLogEventsInfo"]')" "{'expiredLogEventEndIndex': 1}"
same_logs "describe" 200 DescribeLogStreams "$T/c22"
expect "count-only, describe" "$(jget "$LAST" '[s["logStreamName"] for s in d["logStreams"]]')" "['w1']"
same_logs "unknown operation" 400 Nope "$T/c22"
same_messages
expect "count-only, counted as stored" "$(stat_of "$URL_lc" counted)" "$(stat_of "$URL_ln" accepted)"
expect "count-only, events counted" "$(stat_of "$URL_lc" counted)" 10009
expect "count-only, same refusals" "$(stat_of "$URL_lc" refused)" "$(stat_of "$URL_ln" refused)"
post "$URL_ln" /_fake/delete '{"group": "/cruddur/api", "stream": "w1"}'
post "$URL_lc" /_fake/delete '{"group": "/cruddur/api", "stream": "w1"}'
same_logs "deleted stream" 400 PutLogEvents "$T/c1"
same_messages
post "$URL_lc" /_fake/reset '{}'
expect "count-only, reset" "$(stat_of "$URL_lc" counted)/$(stat_of "$URL_lc" groups)/$(stat_of "$URL_lc" requests)" 0/0/0
busy=$(stat_of "$URL_lc" worker_requests)
expect "count-only, workers after reset" "$busy" "[0, 0, 0]"

# ------------------------------------------------------------- X-Ray daemon
rm -f "$T/daemon.port" "$T/daemon.ctl"
"$AWS_PY" -I "$FAKES/xray_daemon.py" --port-file "$T/daemon.port" --control-port-file "$T/daemon.ctl" \
  --out "$T/daemon.jsonl" >"$T/daemon-fake.log" 2>&1 &
it_track $!
for _ in $(seq 1 100); do [ -s "$T/daemon.port" ] && break; sleep 0.1; done
[ -s "$T/daemon.port" ] || it_fail "the daemon fake did not start"
UDP=$(cat "$T/daemon.port")
CTL=http://127.0.0.1:$(cat "$T/daemon.ctl")
hdr='{"format":"json","version":1}'
# udp PAYLOAD...: one datagram each (bash's /dev/udp may split a write at newlines)
udp() {
  "$AWS_PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in sys.argv[2:]:
    s.sendto(p.encode(), ("127.0.0.1", int(sys.argv[1])))' "$UDP" "$@"
}
udp "$hdr"$'\n'"$(seg 0000000000000301)" "$hdr"$'\n'"$inprog" "$(seg 0000000000000302)" \
  '{"format":"json","version":2}'$'\n'"$(seg 0000000000000303)" "$hdr"$'\n'"$no_end"
for _ in $(seq 1 50); do [ "$(stat_of "$CTL" datagrams)" = 5 ] && break; sleep 0.1; done
expect "datagrams" "$(stat_of "$CTL" datagrams)" 5
expect "valid datagrams" "$(stat_of "$CTL" valid)" 2
expect "reasons" "$(stat_of "$CTL" reasons)" '{"bad_header": 1, "invalid_segment": 1, "no_body": 1}'
expect "daemon file" "$(wc -l <"$T/daemon.jsonl")" 2

it_log "ok"
