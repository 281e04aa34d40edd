# export_lib.sh: what the exporter integration tests share, on top of
# lib.sh (sourced first: $T, it_track, it_fail ...). Gives each test:
#   EXPORT_BIN       the cruddur-export that was built
#   ex_spool_init    a fresh spool at $SPOOL (created the way the programs do)
#   ex_seed_spans N [FROM]      N spans with ids FROM.. (default 1), names "span-<i>"
#   ex_seed_logs N              N log records
#   ex_seed_errors N            N error reports (uuids derived from their number)
#   ex_start_otlp ARGS...       the OTLP fake; sets OTLP_URL (base URL)
#   ex_start_rollbar ARGS...    the Rollbar fake; sets ROLLBAR_URL
#   ex_stat URL KEY             a counter from URL/_fake/stats
#   ex_post URL PATH JSON       drives a fake (faults, poison)
#   ex_run LOG ARGS...          runs cruddur-export (bounded in time), output to
#                               $T/LOG.log, exit code in EX_RC
#   ex_sql SQL                  sqlite3 on the spool (read-write)
# It also clears every AWS_* variable the caller had and sets
# AWS_EC2_METADATA_DISABLED=true and AWS_SHARED_CREDENTIALS_FILE /
# AWS_CONFIG_FILE to files that do not exist.
# shellcheck shell=bash disable=SC2154,SC2034

EXPORT_BIN=$abs_top_builddir/cruddur-export
FAKES=$abs_top_srcdir/tests/fakes
[ -x "$EXPORT_BIN" ] || { echo "$IT_NAME: ERROR: $EXPORT_BIN is not built"; exit 99; }
it_require sqlite3 curl "$PYTHON"

SPOOL=$T/spool.db
EX_TIMEOUT=${EX_TIMEOUT:-40}
# The exporter reads only what a test sets.
unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT OTEL_EXPORTER_OTLP_LOGS_ENDPOINT \
  OTEL_EXPORTER_OTLP_HEADERS OTEL_EXPORTER_OTLP_TRACES_HEADERS OTEL_EXPORTER_OTLP_LOGS_HEADERS \
  OTEL_EXPORTER_OTLP_TIMEOUT OTEL_EXPORTER_OTLP_COMPRESSION CRUDDUR_OTLP_LOGS \
  ROLLBAR_ACCESS_TOKEN ROLLBAR_ENDPOINT ROLLBAR_ENVIRONMENT CRUDDUR_SPOOL CRUDDUR_STATE_DIR
# Nor any AWS setting of the caller's: no developer's keys, profile, files or
# endpoints, and never the real instance metadata address. A test that wants
# a source sets it (and unsets AWS_EC2_METADATA_DISABLED for its IMDS fake).
for _v in $(compgen -e AWS_ || true); do unset "$_v"; done
unset _v
export AWS_EC2_METADATA_DISABLED=true AWS_SHARED_CREDENTIALS_FILE=$T/no-aws-credentials \
  AWS_CONFIG_FILE=$T/no-aws-config

ex_sql() { sqlite3 -batch -cmd '.timeout 5000' "$SPOOL" "$@"; }

# The spool is created by the first program that opens it: here an exporter
# with nothing to send (it makes no request), whose cursor is then removed.
ex_spool_init() {
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 "$EXPORT_BIN" otlp --spool "$SPOOL" --name init \
    >"$T/init-spool.log" 2>&1 || it_fail "could not create the spool: $(cat "$T/init-spool.log")"
  ex_sql "DELETE FROM cursor WHERE exporter = 'init'; DELETE FROM export_state WHERE exporter = 'init';
          INSERT INTO resource (attributes) VALUES
            ('{\"service.name\":\"cruddur-api\",\"service.version\":\"0.1.0\",\"host.name\":\"test\",\"process.pid\":42}');"
}

ex_seed_spans() {
  local n=$1 from=${2:-1}
  ex_sql "WITH RECURSIVE k(i) AS (SELECT $from UNION ALL SELECT i + 1 FROM k WHERE i < $from + $n - 1)
    INSERT INTO span (id, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns,
                      status_code, status_message, attributes, events, scope_name, scope_version, resource_id)
    SELECT i, printf('%08x%024x', 1700000000, (i + 3) / 4), printf('%016x', i),
           CASE WHEN i % 4 THEN printf('%016x', (i + 3) / 4 * 4) END,
           'span-' || i, CASE WHEN i % 4 = 0 THEN 2 ELSE 3 END,
           1700000000000000000 + i * 1000, 1700000000000000000 + i * 1000 + 700,
           CASE WHEN i % 50 = 0 THEN 2 ELSE 0 END, CASE WHEN i % 50 = 0 THEN 'boom' END,
           json_object('http.request.method', 'GET', 'http.route', '/api/activities/home',
                       'http.response.status_code', 200, 'app.ratio', 0.25, 'app.cached', json('false'),
                       'app.user_ids', json_array('andrewbrown', 'worf')),
           CASE WHEN i % 50 = 0 THEN '[{\"name\":\"exception\",\"time_ns\":1700000000000000500,\"attributes\":{\"exception.type\":\"AppDbBusy\"}}]'
                ELSE '[]' END,
           'cruddur', '0.1.0', (SELECT max(id) FROM resource)
      FROM k;"
}

ex_seed_logs() {
  local n=$1
  ex_sql "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n)
    INSERT INTO log (time_ns, observed_ns, severity_number, severity_text, body, attributes,
                     trace_id, span_id, flags, scope_name, resource_id)
    SELECT 1700000000000000000 + i, 1700000000000000000 + i + 5, 9, 'INFO',
           'GET /api/activities/home 200 ' || i,
           json_object('http.response.status_code', 200, 'duration_ms', 1.5),
           printf('%08x%024x', 1700000000, i), printf('%016x', i), 1, 'cruddur',
           (SELECT max(id) FROM resource)
      FROM k;"
}

ex_seed_errors() {
  local n=$1
  ex_sql "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n)
    INSERT INTO error (uuid, time_ns, level, class, message, frames, request, context,
                       trace_id, span_id, fingerprint, resource_id)
    SELECT printf('%08x-0000-4000-8000-%012x', i, i), 1700000000000000000 + i, 'error',
           'AppDbBusy', 'database is locked ' || i,
           '[{\"filename\":\"src/app/db.c\",\"lineno\":42,\"method\":\"app_db_exec\"},{\"filename\":\"cgi-bin/cruddur-api.c\",\"method\":\"main\"}]',
           '{\"method\":\"GET\",\"url\":\"http://127.0.0.1/api/activities/home\",\"headers\":{\"Authorization\":\"[REDACTED]\"}}',
           'GET /api/activities/home', printf('%08x%024x', 1700000000, i), printf('%016x', i),
           'fp' || (i % 3), (SELECT max(id) FROM resource)
      FROM k;"
}

# Starts a fake and waits for its port file.
ex_start_fake() {
  local name=$1; shift
  local portfile=$T/$name.port
  rm -f "$portfile"
  "$PYTHON" -I "$FAKES/${name}_receiver.py" --port-file "$portfile" "$@" >"$T/$name-fake.log" 2>&1 &
  local pid=$!
  it_track "$pid"
  local i=0
  while [ ! -s "$portfile" ]; do
    ws_alive "$pid" || it_fail "the $name fake died: $(cat "$T/$name-fake.log")"
    i=$((i + 1)); [ "$i" -lt 100 ] || it_fail "the $name fake did not start"
    sleep 0.1
  done
  EX_FAKE_URL=http://127.0.0.1:$(cat "$portfile")
}

# shellcheck disable=SC2120
ex_start_otlp() { ex_start_fake otlp "$@"; OTLP_URL=$EX_FAKE_URL; }
# shellcheck disable=SC2120
ex_start_rollbar() { ex_start_fake rollbar "$@"; ROLLBAR_URL=$EX_FAKE_URL; }

ex_stat() { curl -fsS --max-time 5 "$1/_fake/stat/$2"; }

ex_post() {
  curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' --data "$3" "$1$2" >/dev/null ||
    it_fail "could not drive the fake: $1$2"
}

# ex_run LOG ARGS...: one exporter run, bounded; its output in $T/LOG.log.
ex_run() {
  local log=$T/$1.log; shift
  set +e
  timeout -k 5 "$EX_TIMEOUT" "$EXPORT_BIN" "$@" >"$log" 2>&1
  EX_RC=$?
  set -e
  echo "---- cruddur-export $* (exit $EX_RC)" >>"$T/runs.out"
  cat "$log" >>"$T/runs.out"
}

# The summary line of a run's log.
ex_summary() { grep -E '^cruddur-export: [a-z]+: sent ' "$T/$1.log" | tail -n 1; }

ex_expect_rc() {
  [ "$EX_RC" -eq "$1" ] || it_fail "expected exit $1, got $EX_RC: $(tail -n 5 "$T/$2.log")"
}
