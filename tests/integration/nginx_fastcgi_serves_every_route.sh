#!/usr/bin/env bash
# nginx in front of two cruddur-api FastCGI workers started by spawn-fcgi on
# a unix socket answers every route and every error of the contract.
. "$(dirname "$0")/lib.sh"
it_need nginx
it_require spawn-fcgi curl sqlite3

it_env
it_init_db
ws_start_spawn_fcgi "$T" "$T/api.sock" 2 "$API_BIN"
ws_start_nginx "$T/nginx" "$T/api.sock" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/health-check" 20 || it_fail "no health-check answer"

it_http_check "$base"

# The same two workers answered everything and are still there.
for pid in "${WS_WORKER_PIDS[@]}"; do
  if ! ws_alive "$pid"; then it_fail "worker $pid died during the run"; fi
done
