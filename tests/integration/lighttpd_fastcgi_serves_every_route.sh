#!/usr/bin/env bash
# lighttpd running cruddur-api as a FastCGI application it starts itself
# (mod_fastcgi bin-path, two processes) answers every route and every error
# of the contract.
. "$(dirname "$0")/lib.sh"
it_need lighttpd
it_require curl sqlite3

it_env
it_init_db
ws_start_lighttpd fastcgi "$T/lighttpd" "$API_BIN" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/health-check" 20 || it_fail "no health-check answer"
[ "${#WS_WORKER_PIDS[@]}" -eq 2 ] || it_fail "expected 2 workers, lighttpd has: ${WS_WORKER_PIDS[*]}"

it_http_check "$base"

for pid in "${WS_WORKER_PIDS[@]}"; do
  if ! ws_alive "$pid"; then it_fail "worker $pid died during the run"; fi
done
