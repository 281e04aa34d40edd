#!/usr/bin/env bash
# The AWS targets find credentials the way the AWS tools do, proven with the
# real binary against the X-Ray and CloudWatch Logs fakes (which check every
# signature) and the instance metadata / container credentials fake, with
# HOME in the test's own directory:
#   - each source alone delivers: environment keys (with and without a
#     session token), the shared credentials file (AWS_PROFILE's section, or
#     [default]), a profile only the config file has (its region used too),
#     container credentials over AWS_CONTAINER_CREDENTIALS_FULL_URI with
#     AWS_CONTAINER_AUTHORIZATION_TOKEN or ..._TOKEN_FILE (read at each
#     fetch), and IMDSv2 (a token PUT before any GET);
#   - with all of them present the first wins: environment, then the
#     credentials file, the config file, the container, instance metadata,
#     and sources after the winner are never asked;
#   - credentials that live under five minutes are fetched again before each
#     request: each request signed by its own, and none refused when the
#     service expires every key between two batches of a --follow run;
#   - credentials the service expires or the metadata service revokes in the
#     middle of a --follow run are fetched again once, the request sent again
#     and nothing lost or delivered twice (X-Ray and CloudWatch Logs);
#   - no credentials anywhere, or a container token the endpoint refuses: exit
#     78 with a message naming the sources, the cursor where it was; a
#     container endpoint that is down: exit 75;
#   - no key id, secret or token the test or the fakes handed out ever shows
#     in the exporter's output (--verbose on every run, and --dry-run, which
#     does not even look credentials up).
# shellcheck disable=SC2154 # URL_* are set by start_aws_fake, the rest by lib.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_lib.sh"
AWS_PY=/usr/bin/python3
"$AWS_PY" -c 'import botocore' 2>/dev/null ||
  { echo "$IT_NAME: ERROR: python3-botocore is not installed (scripts/lib/deps.sh)"; exit 99; }

REGION=eu-west-1
EX_TIMEOUT=30
SECRETS=$T/secrets.txt      # every secret handed out, for the final check
: >"$SECRETS"

# start_aws_fake NAME SCRIPT ARGS...: sets URL_<NAME>.
start_aws_fake() {
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

# The container endpoint's token: a file the fake reads at every request.
CTOKEN_FILE=$T/container.token
CTOKEN=ctok-$(it_hex 16)
printf '%s\n' "$CTOKEN" >"$CTOKEN_FILE"
echo "$CTOKEN" >>"$SECRETS"

# Instance metadata and container credentials on one port (--verbose: its
# log lists every request, in order); the service fakes accept what it
# hands out (--creds-file) and the long-term keys added below.
start_aws_fake meta aws_metadata.py --verbose --creds-file "$T/issued.json" \
  --container-token-file "$CTOKEN_FILE"
META=$URL_meta
start_aws_fake xray xray_api.py --region "$REGION" --creds-file "$T/issued.json" --store "$T/xray.jsonl"
XRAY=$URL_xray
start_aws_fake logs cloudwatch_logs.py --region "$REGION" --creds-file "$T/issued.json" \
  --store "$T/logs.jsonl"
LOGS=$URL_logs

# Long-term keys (the last four characters of each id are distinct: the
# fakes count requests by them) and one temporary pair from the environment.
ENV_KEY=AKIAENVKEYTEST00E001;  ENV_SECRET=env/secret+$(it_hex 12)
STS_KEY=ASIAENVSTSTEST00S001;  STS_SECRET=sts/secret+$(it_hex 12); STS_TOKEN=FwoGZXIvYXdz$(it_hex 40)
DEF_KEY=AKIACREDDEFAULT0D001;  DEF_SECRET=default/secret=$(it_hex 12)
CI_KEY=AKIACREDPROFILE0C001;   CI_SECRET=ci/secret+$(it_hex 12)
CFG_KEY=AKIACONFIGPROFIG001;   CFG_SECRET=cfg/secret/$(it_hex 12)
CFGD_KEY=AKIACONFIGDEFAUG002;  CFGD_SECRET=cfgdefault/secret/$(it_hex 12)
printf '%s\n' "$ENV_SECRET" "$STS_SECRET" "$STS_TOKEN" "$DEF_SECRET" "$CI_SECRET" "$CFG_SECRET" \
  "$CFGD_SECRET" >>"$SECRETS"
long_term='[{"AccessKeyId":"'$ENV_KEY'","SecretAccessKey":"'$ENV_SECRET'"},
  {"AccessKeyId":"'$STS_KEY'","SecretAccessKey":"'$STS_SECRET'","Token":"'$STS_TOKEN'"},
  {"AccessKeyId":"'$DEF_KEY'","SecretAccessKey":"'$DEF_SECRET'"},
  {"AccessKeyId":"'$CI_KEY'","SecretAccessKey":"'$CI_SECRET'"},
  {"AccessKeyId":"'$CFG_KEY'","SecretAccessKey":"'$CFG_SECRET'"},
  {"AccessKeyId":"'$CFGD_KEY'","SecretAccessKey":"'$CFGD_SECRET'"}]'
ex_post "$XRAY" /_fake/credentials '{"add": '"$long_term"'}'
ex_post "$LOGS" /_fake/credentials '{"add": '"$long_term"'}'

# The shared files, in the test's own home.
export HOME=$T/home
mkdir -p "$HOME/.aws"
cat >"$HOME/.aws/credentials" <<EOF
# written by $IT_NAME
[default]
aws_access_key_id = $DEF_KEY
aws_secret_access_key = $DEF_SECRET

[ci]
aws_access_key_id=$CI_KEY
aws_secret_access_key=$CI_SECRET   ; inline comment
EOF
cat >"$HOME/.aws/config" <<EOF
[default]
region = $REGION
aws_access_key_id = $CFGD_KEY
aws_secret_access_key = $CFGD_SECRET

[profile cfg]
region = $REGION
s3 =
  max_concurrent_requests = 4
aws_access_key_id = $CFG_KEY
aws_secret_access_key = $CFG_SECRET
EOF

# aws_clean: no AWS_* variable but the region, the endpoints and
# AWS_EC2_METADATA_DISABLED=true; each step adds its own.
aws_clean() {
  local v
  for v in $(compgen -e AWS_ || true); do unset "$v"; done
  export AWS_REGION=$REGION AWS_ENDPOINT_URL_XRAY=$XRAY AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=$LOGS \
    AWS_EC2_METADATA_DISABLED=true
}
use_env() { export AWS_ACCESS_KEY_ID=$ENV_KEY AWS_SECRET_ACCESS_KEY=$ENV_SECRET; }
use_container_token() {
  export AWS_CONTAINER_CREDENTIALS_FULL_URI=$META/v2/credentials/cruddur
  export AWS_CONTAINER_AUTHORIZATION_TOKEN=$CTOKEN
}
use_imds() {
  unset AWS_EC2_METADATA_DISABLED
  export AWS_EC2_METADATA_SERVICE_ENDPOINT=$META
}

xstat() { ex_stat "$XRAY" "$1"; }
mstat() { ex_stat "$META" "$1"; }
lstat() { ex_stat "$LOGS" "$1"; }
# keys_of URL: the fake's requests by key id (JSON); keys_since URL BEFORE:
# the key ids that signed requests since, sorted, blank-separated.
keys_of() { curl -fsS --max-time 5 "$1/_fake/stats" |
  "$AWS_PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["auth_keys"]))'; }
keys_since() {
  keys_of "$1" | "$AWS_PY" -c 'import json,sys
before = json.loads(sys.argv[1]); now = json.load(sys.stdin)
print(" ".join(sorted(k for k, n in now.items() if n > before.get(k, 0))))' "$2"
}
shown() { echo "****${1: -4}"; }
# The last credentials the metadata fake handed out through VIA (imds,
# container): their key id.
last_issued() {
  curl -fsS --max-time 5 "$META/_fake/credentials" | "$AWS_PY" -c 'import json,sys
c = [x for x in json.load(sys.stdin) if x["via"] == sys.argv[1]]
print(c[-1]["AccessKeyId"] if c else "none")' "$1"
}
cursor() { ex_sql "SELECT coalesce((SELECT last_id FROM cursor WHERE exporter = '$1'), 0)"; }

SEEDED=0
seed() { ex_seed_spans "$1" $((SEEDED + 1)); SEEDED=$((SEEDED + $1)); }

# deliver NAME [ARGS...]: three new spans and one xray run that must send
# them all; KEYS_USED: the key ids that signed its requests.
deliver() {
  local name=$1 before; shift
  seed 3
  before=$(keys_of "$XRAY")
  ex_run "$name" xray --spool "$SPOOL" --verbose "$@"
  ex_expect_rc 0 "$name"
  [ "$(xstat unique)" = "$SEEDED" ] || it_fail "$name: the service holds $(xstat unique) documents, want $SEEDED"
  KEYS_USED=$(keys_since "$XRAY" "$before")
}
expect_keys() { [ "$KEYS_USED" = "$2" ] || it_fail "$1: requests signed by [$KEYS_USED], want [$2]"; }
# expect_meta NAME COUNTER WANT
expect_meta() { [ "$(mstat "$2")" = "$3" ] || it_fail "$1: the metadata fake's $2 is $(mstat "$2"), want $3"; }

# follow_start LOG ARGS...: a --follow run in the background (bounded);
# follow_stop: SIGTERM, its exit code in EX_RC, its output in runs.out.
follow_start() {
  FOLLOW_LOG=$T/$1.log; shift
  timeout -k 5 "$EX_TIMEOUT" "$EXPORT_BIN" "$@" >"$FOLLOW_LOG" 2>&1 &
  FOLLOW_PID=$!
  it_track "$FOLLOW_PID"
}
follow_stop() {
  kill -TERM "$FOLLOW_PID" 2>/dev/null || true
  set +e; wait "$FOLLOW_PID"; EX_RC=$?; set -e
  { echo "---- cruddur-export --follow (exit $EX_RC)"; cat "$FOLLOW_LOG"; } >>"$T/runs.out"
}
# wait_for WHAT CMD WANT: polls CMD until it prints WANT (10 s at most).
wait_for() {
  local i got
  for i in $(seq 1 100); do
    got=$($2) || true
    [ "$got" = "$3" ] && return 0
    sleep 0.1
  done
  it_fail "$1: $2 is '$got', want '$3' ($(tail -n 3 "$FOLLOW_LOG"))"
}
xunique() { xstat unique; }

ex_spool_init

# ---- each source on its own --------------------------------------------------
mv "$HOME/.aws" "$HOME/aws.off"     # the files only where a step wants them

aws_clean; use_env
deliver env
expect_keys env "$(shown $ENV_KEY)"

aws_clean
export AWS_ACCESS_KEY_ID=$STS_KEY AWS_SECRET_ACCESS_KEY=$STS_SECRET AWS_SESSION_TOKEN=$STS_TOKEN
deliver env-session-token
expect_keys env-session-token "$(shown $STS_KEY)"

mv "$HOME/aws.off" "$HOME/.aws"
aws_clean; export AWS_PROFILE=ci
deliver credentials-file-profile
expect_keys credentials-file-profile "$(shown $CI_KEY)"

aws_clean
deliver credentials-file-default
expect_keys credentials-file-default "$(shown $DEF_KEY)"

# A profile only the config file has; its region, with AWS_REGION unset
# (the fakes refuse a signature scoped to another region).
aws_clean; unset AWS_REGION; export AWS_PROFILE=cfg
deliver config-file-profile
expect_keys config-file-profile "$(shown $CFG_KEY)"
mv "$HOME/.aws" "$HOME/aws.off"
expect_meta "before any metadata source" credential_fetches 0

aws_clean; use_container_token
deliver container-token
expect_keys container-token "$(shown "$(last_issued container)")"
expect_meta container-token container_fetches 1
expect_meta container-token unauthorized 0

# The token file, read at each fetch: the endpoint's token changes first.
CTOKEN=ctok-$(it_hex 16)
printf '%s\n' "$CTOKEN" >"$CTOKEN_FILE.new" && mv "$CTOKEN_FILE.new" "$CTOKEN_FILE"
echo "$CTOKEN" >>"$SECRETS"
aws_clean
export AWS_CONTAINER_CREDENTIALS_FULL_URI=$META/v2/credentials/cruddur \
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$CTOKEN_FILE
deliver container-token-file
expect_keys container-token-file "$(shown "$(last_issued container)")"
expect_meta container-token-file container_fetches 2
expect_meta container-token-file unauthorized 0

aws_clean; use_imds
lines=$(wc -l <"$T/meta-fake.log")
deliver imds
expect_keys imds "$(shown "$(last_issued imds)")"
expect_meta imds imds_fetches 1
expect_meta imds token_requests 1
expect_meta imds unauthorized 0
# In the fake's request log: the token PUT came before every GET.
tail -n +$((lines + 1)) "$T/meta-fake.log" | sed -n 's/^aws_metadata "\([A-Z]*\) \([^ ]*\) HTTP[^"]*" \([0-9]*\).*/\1 \2 \3/p' \
  >"$T/imds-requests.out"
first=$(head -n 1 "$T/imds-requests.out")
[ "$first" = "PUT /latest/api/token 200" ] || it_fail "the first IMDS request: '$first' ($(tr '\n' ';' <"$T/imds-requests.out"))"
grep -q "^GET /latest/meta-data/iam/security-credentials/cruddur-export 200$" "$T/imds-requests.out" ||
  it_fail "no credentials GET: $(tr '\n' ';' <"$T/imds-requests.out")"
! grep -v ' 200$' "$T/imds-requests.out" >/dev/null || it_fail "IMDS requests refused: $(tr '\n' ';' <"$T/imds-requests.out")"

# ---- the order: all present, the first wins; later ones never asked ----------
mv "$HOME/aws.off" "$HOME/.aws"
fetches=$(mstat credential_fetches); tokens=$(mstat token_requests)
aws_clean; use_env; use_container_token; use_imds
deliver order-env
expect_keys order-env "$(shown $ENV_KEY)"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
deliver order-credentials-file
expect_keys order-credentials-file "$(shown $DEF_KEY)"
mv "$HOME/.aws/credentials" "$HOME/credentials.off"
deliver order-config-file
expect_keys order-config-file "$(shown $CFGD_KEY)"
expect_meta "environment and files first" credential_fetches "$fetches"
expect_meta "environment and files first" token_requests "$tokens"
mv "$HOME/.aws/config" "$HOME/config.off"
deliver order-container
expect_keys order-container "$(shown "$(last_issued container)")"
expect_meta "the container before instance metadata" container_fetches 3
expect_meta "the container before instance metadata" token_requests "$tokens"
unset AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN
deliver order-imds
expect_keys order-imds "$(shown "$(last_issued imds)")"
expect_meta order-imds imds_fetches 2
mv "$HOME/credentials.off" "$HOME/.aws/credentials"
mv "$HOME/config.off" "$HOME/.aws/config"
mv "$HOME/.aws" "$HOME/aws.off"

# ---- refresh before expiry: credentials that live 4 minutes -------------------
ex_post "$META" /_fake/config '{"lifetime": 240}'
aws_clean; use_imds
fetches=$(mstat imds_fetches); requests=$(xstat requests)
seed 27
before=$(keys_of "$XRAY")
ex_run short-lived xray --spool "$SPOOL" --verbose --batch-size 10
ex_expect_rc 0 short-lived
[ "$(xstat unique)" = "$SEEDED" ] || it_fail "short-lived: $(xstat unique) documents, want $SEEDED"
n=$(( $(xstat requests) - requests )); f=$(( $(mstat imds_fetches) - fetches ))
used=$(keys_since "$XRAY" "$before" | wc -w)
[ "$n" -ge 3 ] || it_fail "short-lived: $n requests for 3 batches"
[ "$f" -ge "$n" ] || it_fail "short-lived: $f credential fetches for $n requests"
[ "$used" = "$n" ] || it_fail "short-lived: $n requests signed with $used different keys"
[ "$(xstat auth_failed)" = 0 ] || it_fail "signatures refused: $(curl -s "$XRAY/_fake/stats")"

# --follow: between two batches the service expires every key issued so
# far; the next request is signed with new ones, and none is refused.
seed 2
follow_start follow-short xray --follow --spool "$SPOOL" --verbose
wait_for "follow-short, first batch" xunique "$SEEDED"
ex_post "$XRAY" /_fake/credentials '{"expire": true}'
seed 2
wait_for "follow-short, after the keys expired" xunique "$SEEDED"
follow_stop
[ "$EX_RC" = 0 ] || it_fail "follow-short: exit $EX_RC: $(tail -n 3 "$FOLLOW_LOG")"
[ "$(xstat auth_failed)" = 0 ] ||
  it_fail "follow-short: requests refused after the keys expired: $(curl -s "$XRAY/_fake/stats")"
[ "$(xstat duplicates)" = 0 ] || it_fail "follow-short: $(xstat duplicates) documents delivered twice"

# ---- refresh after an authentication error -----------------------------------
# Credentials for an hour: the exporter keeps them until the service refuses
# them, then fetches new ones once and sends the same documents again.
ex_post "$META" /_fake/config '{"lifetime": 3600}'
xray_after_refusal() {
  local name=$1 control=$2 url=$3 body=$4 etype=$5 fetches
  local refused0; refused0=$(curl -fsS "$XRAY/_fake/stats" | "$AWS_PY" -c \
    'import json,sys; print(json.load(sys.stdin).get("auth_'"$etype"'", 0))')
  fetches=$(mstat imds_fetches)
  ex_post "$url" "$control" "$body"
  seed 4
  wait_for "$name" xunique "$SEEDED"
  local refused1; refused1=$(curl -fsS "$XRAY/_fake/stats" | "$AWS_PY" -c \
    'import json,sys; print(json.load(sys.stdin).get("auth_'"$etype"'", 0))')
  # At least one refusal (requests in flight together may meet it each).
  [ $((refused1 - refused0)) -ge 1 ] || it_fail "$name: no request was refused with $etype"
  [ $(( $(mstat imds_fetches) - fetches )) = 1 ] ||
    it_fail "$name: $(( $(mstat imds_fetches) - fetches )) credential fetches, want 1"
}
aws_clean; use_imds
seed 3
follow_start follow-refused xray --follow --spool "$SPOOL" --verbose
wait_for "follow-refused, first batch" xunique "$SEEDED"
xray_after_refusal "the service expired the key" /_fake/credentials "$XRAY" '{"expire": true}' ExpiredTokenException
key=$(last_issued imds)
xray_after_refusal "the metadata service revoked the key" /_fake/revoke "$META" '{"AccessKeyId": "'"$key"'"}' \
  UnrecognizedClientException
follow_stop
[ "$EX_RC" = 0 ] || it_fail "follow-refused: exit $EX_RC: $(tail -n 3 "$FOLLOW_LOG")"
[ "$(xstat duplicates)" = 0 ] || it_fail "follow-refused: $(xstat duplicates) documents delivered twice"
[ "$(xstat unique)" = "$SEEDED" ] || it_fail "follow-refused: $(xstat unique) documents, want $SEEDED"
[ "$(cursor xray)" = "$SEEDED" ] || it_fail "follow-refused: the cursor is at $(cursor xray), want $SEEDED"
grep -q "credentials refused .*sending once more with fresh ones" "$FOLLOW_LOG" ||
  it_fail "follow-refused: --verbose does not say the credentials were fetched again"

# CloudWatch Logs, container credentials: the same after the service
# expired them (the group and stream are created with the first ones).
LOGGED=0
seed_logs() {
  ex_sql "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $1)
    INSERT INTO log (time_ns, observed_ns, severity_number, severity_text, body, attributes,
                     trace_id, span_id, flags, scope_name, resource_id)
    SELECT CAST(strftime('%s', 'now') AS INTEGER) * 1000000000 + i, CAST(strftime('%s', 'now') AS INTEGER) * 1000000000 + i,
           9, 'INFO', 'GET /api/activities/home 200 ' || ($LOGGED + i), '{}',
           printf('%08x%024x', 1700000000, $LOGGED + i), printf('%016x', $LOGGED + i), 1, 'cruddur',
           (SELECT max(id) FROM resource)
      FROM k;"
  LOGGED=$((LOGGED + $1))
}
lunique() { lstat unique; }
aws_clean; use_container_token
seed_logs 5
fetches=$(mstat container_fetches)
follow_start follow-logs cloudwatch --follow --spool "$SPOOL" --verbose
wait_for "follow-logs, first batch" lunique "$LOGGED"
[ "$(mstat container_fetches)" = $((fetches + 1)) ] || it_fail "follow-logs: $(( $(mstat container_fetches) - fetches )) fetches for the first batch"
ex_post "$LOGS" /_fake/credentials '{"expire": true}'
seed_logs 5
wait_for "follow-logs, after the key expired" lunique "$LOGGED"
follow_stop
[ "$EX_RC" = 0 ] || it_fail "follow-logs: exit $EX_RC: $(tail -n 3 "$FOLLOW_LOG")"
[ "$(mstat container_fetches)" = $((fetches + 2)) ] ||
  it_fail "follow-logs: $(( $(mstat container_fetches) - fetches )) container fetches, want 2"
[ "$(lstat auth_ExpiredTokenException)" -ge 1 ] || it_fail "follow-logs: $(curl -s "$LOGS/_fake/stats")"
[ "$(lstat duplicates)" = 0 ] || it_fail "follow-logs: $(lstat duplicates) events delivered twice"

# ---- a dry run does not look credentials up ------------------------------------
aws_clean; use_imds
fetches=$(mstat credential_fetches); tokens=$(mstat token_requests); requests=$(xstat requests)
seed 3
ex_run dry-run xray --spool "$SPOOL" --verbose --dry-run
ex_expect_rc 0 dry-run
grep -q 'TraceSegments' "$T/dry-run.log" || it_fail "dry-run: no request shown: $(head -n 5 "$T/dry-run.log")"
expect_meta dry-run credential_fetches "$fetches"
expect_meta dry-run token_requests "$tokens"
[ "$(xstat requests)" = "$requests" ] || it_fail "dry-run: requests were sent"
aws_clean; export AWS_ACCESS_KEY_ID=$STS_KEY AWS_SECRET_ACCESS_KEY=$STS_SECRET AWS_SESSION_TOKEN=$STS_TOKEN
ex_run dry-run-env xray --spool "$SPOOL" --verbose --dry-run
ex_expect_rc 0 dry-run-env
ex_run dry-run-logs cloudwatch --spool "$SPOOL" --verbose --dry-run
ex_expect_rc 0 dry-run-logs
aws_clean; use_env
ex_run delivered xray --spool "$SPOOL"
ex_expect_rc 0 delivered

# ---- no credentials: 78; a container token refused: 78; endpoint down: 75 ---------
expect_stuck() {
  local name=$1 rc=$2 pattern=$3 before=$4 requests=$5
  ex_expect_rc "$rc" "$name"
  grep -q -- "$pattern" "$T/$name.log" || it_fail "$name: no '$pattern' in: $(tail -n 3 "$T/$name.log")"
  [ "$(cursor xray)" = "$before" ] || it_fail "$name: the cursor moved from $before to $(cursor xray)"
  [ "$(xstat requests)" = "$requests" ] || it_fail "$name: requests were sent"
}
seed 3
at=$(cursor xray); requests=$(xstat requests)
[ "$at" -lt "$SEEDED" ] || it_fail "nothing left to send"

aws_clean
ex_run no-credentials xray --spool "$SPOOL" --verbose
expect_stuck no-credentials 78 "no AWS credentials found: tried the environment" "$at" "$requests"
grep -q "AWS_EC2_METADATA_DISABLED" "$T/no-credentials.log" ||
  it_fail "no-credentials: the message does not say instance metadata is disabled: $(tail -n 2 "$T/no-credentials.log")"

# The session token of the environment's pair expired with the others in
# the fakes: read again after the refusal, the environment has the same.
aws_clean
export AWS_ACCESS_KEY_ID=$STS_KEY AWS_SECRET_ACCESS_KEY=$STS_SECRET AWS_SESSION_TOKEN=$STS_TOKEN
ex_run env-refused xray --spool "$SPOOL" --verbose
ex_expect_rc 78 env-refused
grep -q "ExpiredTokenException.*credentials refused" "$T/env-refused.log" ||
  it_fail "env-refused: $(tail -n 2 "$T/env-refused.log")"
[ "$(cursor xray)" = "$at" ] || it_fail "env-refused: the cursor moved from $at to $(cursor xray)"
requests=$(xstat requests)

aws_clean; use_container_token
AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong-$(it_hex 16)
export AWS_CONTAINER_AUTHORIZATION_TOKEN
echo "$AWS_CONTAINER_AUTHORIZATION_TOKEN" >>"$SECRETS"
ex_run container-token-refused xray --spool "$SPOOL" --verbose
expect_stuck container-token-refused 78 "answered 403.*check the authorization token" "$at" "$requests"

aws_clean
down=$(ws_free_port)   # nothing listens there
export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$down/v2/credentials/cruddur \
  AWS_CONTAINER_AUTHORIZATION_TOKEN=$CTOKEN
ex_run container-down xray --spool "$SPOOL" --verbose --max-wait 1
expect_stuck container-down 75 "container credentials endpoint http://127.0.0.1:[0-9]* did not answer" "$at" "$requests"

# ---- no secret in any output ------------------------------------------------------
curl -fsS --max-time 5 "$META/_fake/credentials" | "$AWS_PY" -c 'import json,sys
for c in json.load(sys.stdin):
    print(c["SecretAccessKey"]); print(c["Token"])' >>"$SECRETS"
handed=$(curl -fsS --max-time 5 "$META/_fake/credentials" | "$AWS_PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$handed" -ge 10 ] || it_fail "only $handed credentials handed out"
# Key ids too: the exporter has no reason to print them.
{ printf '%s\n' "$ENV_KEY" "$STS_KEY" "$DEF_KEY" "$CI_KEY" "$CFG_KEY" "$CFGD_KEY"
  curl -fsS --max-time 5 "$META/_fake/credentials" | "$AWS_PY" -c 'import json,sys
for c in json.load(sys.stdin): print(c["AccessKeyId"])'; } >>"$SECRETS"
if grep -F -n -f "$SECRETS" "$T/runs.out" >"$T/leaks.txt"; then
  it_fail "a credential in the exporter's output: $(cut -c 1-120 "$T/leaks.txt" | head -n 3)"
fi
runs=$(grep -c '^---- cruddur-export' "$T/runs.out")
it_log "$runs exporter runs, $handed credentials handed out, $(grep -c . "$SECRETS") secrets and key ids checked"

echo "$IT_NAME: PASS"
