#!/usr/bin/env bash
# Every bad request (too large, wrong type, malformed or invalid JSON, failed
# validation, unknown targets, rough clients) and every read leaves the app
# database exactly as it was: same row counts, same bytes in every row. A
# write afterwards does change the digest, so the comparison can fail.
. "$(dirname "$0")/lib.sh"
it_need nginx
it_require spawn-fcgi curl sqlite3

it_env
it_init_db
ws_start_spawn_fcgi "$T" "$T/api.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx" "$T/api.sock" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/health-check" 20 || it_fail "no health-check answer"

before=$(it_db_snapshot)
echo "$before"
it_http_check "$base" --only bad,read
after=$(it_db_snapshot)
if [ "$before" != "$after" ]; then
  echo "before:"; echo "$before"; echo "after:"; echo "$after"
  it_fail "bad input or reads changed the database"
fi
echo "ok   database unchanged by bad input and reads"

# Control: a valid create changes the digest.
curl -fsS -o /dev/null -H 'Content-Type: application/json' \
  --data '{"message": "control", "ttl": "1-hour"}' "$base/api/activities" ||
  it_fail "the control create failed"
changed=$(it_db_snapshot)
[ "$changed" != "$before" ] || it_fail "a create did not change the digest: the check is blind"
echo "ok   a valid create changes the digest"
