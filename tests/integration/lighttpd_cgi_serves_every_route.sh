#!/usr/bin/env bash
# lighttpd running cruddur-api as a plain CGI program (mod_cgi, one process
# per request) answers every route and every error of the contract.
. "$(dirname "$0")/lib.sh"
it_need lighttpd
it_require curl sqlite3

it_env
it_init_db
ws_start_lighttpd cgi "$T/lighttpd" "$API_BIN" "$T/www"
base=http://127.0.0.1:$WS_PORT
ws_wait_http "$base/api/health-check" 20 || it_fail "no health-check answer"

it_http_check "$base"
