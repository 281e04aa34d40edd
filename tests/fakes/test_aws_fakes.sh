#!/bin/bash
# test_aws_fakes: the AWS fakes (xray_api.py, cloudwatch_logs.py,
# xray_daemon.py, sigv4.py) answer as the services do. Requests are signed
# by curl --aws-sigv4 (libcurl's CURLOPT_AWS_SIGV4, what the exporters use)
# and, once, by botocore itself; badly signed ones must be refused with
# AWS's own error types and words.
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
