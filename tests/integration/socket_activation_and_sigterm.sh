#!/usr/bin/env bash
# cruddur-api serves FastCGI on a listening socket it is given on fd 0
# (spawn-fcgi, lighttpd bin-path) or on fd 3 with LISTEN_FDS/LISTEN_PID
# (systemd socket activation), and on one of its own (--listen, --workers).
# SIGTERM stops an idle worker promptly with status 0, and a request in hand
# when SIGTERM arrives is still answered before the worker exits.
. "$(dirname "$0")/lib.sh"
it_require sqlite3

it_env
it_init_db

# Makes the listening socket the way a supervisor would, puts it on fd 0 or
# fd 3, and execs the program (same pid: LISTEN_PID names it).
# argv: MODE ADDRESS PROGRAM [ARGS...]; MODE fd0 | fd3 | fd3-not-ours;
# ADDRESS unix:/path, or tcp:FILE (a free loopback port, written to FILE).
launcher='
import os, socket, sys
mode, addr, prog = sys.argv[1:4]
if addr.startswith("unix:"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(addr[5:])
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
s.listen(64)
port = s.getsockname()[1] if addr.startswith("tcp:") else 0
target = 0 if mode == "fd0" else 3
if s.fileno() != target:
    os.dup2(s.fileno(), target)
    s.close()
os.set_inheritable(target, True)
if mode != "fd0":
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid() + (0 if mode == "fd3" else 1))
if addr.startswith("tcp:"):
    with open(addr[4:] + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(addr[4:] + ".tmp", addr[4:])
os.execv(prog, sys.argv[3:])
'

# start MODE ADDRESS [ARGS...]: sets PID.
start() {
  local mode=$1 addr=$2; shift 2
  if [ "$mode" = fd0 ]; then
    "$PYTHON" -c "$launcher" "$mode" "$addr" "$API_BIN" "$@" 2>>"$T/api.log" &
  else
    "$PYTHON" -c "$launcher" "$mode" "$addr" "$API_BIN" "$@" </dev/null \
      >"$T/$mode.stdout" 2>>"$T/api.log" &
  fi
  PID=$!
  it_track "$PID"
}

# wait_exit PID SECONDS: sets RC to PID's exit status; fails if PID still
# runs after SECONDS. (Not in $(...): only this shell can wait for PID.)
wait_exit() {
  local pid=$1 i=0
  while ws_alive "$pid" && [ "$i" -lt $(( $2 * 10 )) ]; do sleep 0.1; i=$((i + 1)); done
  if ws_alive "$pid"; then it_fail "pid $pid still runs $2 s after SIGTERM"; fi
  RC=0
  wait "$pid" || RC=$?
}

# fcgi ADDRESS METHOD URI [BODY]: the status of the answer; the answer is in
# $T/answer.
fcgi() {
  "$PYTHON" "$IT_DIR/fcgi_client.py" "$@" > "$T/answer" || it_fail "no FastCGI answer to $2 $3"
  local status
  status=$(sed -n 's/^Status: *\([0-9][0-9]*\).*/\1/p' "$T/answer" | head -n 1)
  echo "${status:-200}"
}

expect() {   # expect NAME GOT WANTED
  [ "$2" = "$3" ] || it_fail "$1: got '$2', wanted '$3'; answer: $(head -c 600 "$T/answer")"
  echo "ok   $1"
}

# 1. fd 0, a unix socket.
start fd0 "unix:$T/fd0.sock"
for _ in $(seq 50); do [ -S "$T/fd0.sock" ] && break; sleep 0.1; done
addr="unix:$T/fd0.sock"
expect "fd 0: health-check" "$(fcgi "$addr" GET /api/health-check)" 200
grep -q '"success": *true' "$T/answer" || it_fail "fd 0: health-check body: $(cat "$T/answer")"
expect "fd 0: home" "$(fcgi "$addr" GET /api/activities/home)" 200
grep -q 'Cloud is fun!' "$T/answer" || it_fail "fd 0: home lacks the seed post"
expect "fd 0: unknown route" "$(fcgi "$addr" GET /api/nope)" 404
# The only worker survives a web server hanging up mid-body, and one that
# never reads the answer.
"$PYTHON" "$IT_DIR/fcgi_client.py" --hang-up-mid-body "$addr" POST /api/activities \
  '{"message": "never finished", "ttl": "1-hour"}'
expect "fd 0: after a hang-up mid-body" "$(fcgi "$addr" GET /api/health-check)" 200
"$PYTHON" -c 'import sys
sys.path.insert(0, sys.argv[1])
import fcgi_client as f
for _ in range(3):
    s = f.connect(sys.argv[2])
    f.begin(s, f.params_for("GET", "/api/activities/home", b""))
    s.sendall(f.stream(f.STDIN, b""))
    s.close()' "$IT_DIR" "$addr"
expect "fd 0: after hang-ups before the answer" "$(fcgi "$addr" GET /api/health-check)" 200
expect "fd 0: nothing stored from the cut body" \
  "$(sqlite3 "$CRUDDUR_DB" "select count(*) from activities where message = 'never finished'")" 0
sleep 0.3   # idle: waiting for the next connection
t0=$(date +%s%N)
kill -TERM "$PID"
wait_exit "$PID" 5
expect "fd 0: SIGTERM on an idle worker exits 0" "$RC" 0
echo "     (stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms)"

# 2. fd 3 under socket activation (LISTEN_FDS=1, LISTEN_PID = its pid), TCP.
start fd3 "tcp:$T/fd3.port"
for _ in $(seq 50); do [ -s "$T/fd3.port" ] && break; sleep 0.1; done
[ -s "$T/fd3.port" ] || it_fail "the fd 3 launcher wrote no port"
addr=127.0.0.1:$(cat "$T/fd3.port")
expect "fd 3: health-check" "$(fcgi "$addr" GET /api/health-check)" 200
expect "fd 3: notifications" "$(fcgi "$addr" GET /api/activities/notifications)" 200
grep -q 'I am a white unicorn' "$T/answer" || it_fail "fd 3: notifications lack coco's mention"

# A request in hand when SIGTERM arrives (the worker waits for the second
# half of the body) is answered in full, then the worker exits 0.
body='{"message": "answered after SIGTERM", "ttl": "1-hour"}'
"$PYTHON" "$IT_DIR/fcgi_client.py" --term-during-body "$PID" "$addr" POST /api/activities \
  "$body" > "$T/answer" || it_fail "the request in hand got no answer: $(cat "$T/answer")"
status=$(sed -n 's/^Status: *\([0-9][0-9]*\).*/\1/p' "$T/answer" | head -n 1)
expect "fd 3: request in hand at SIGTERM answered" "${status:-200}" 200
grep -q 'answered after SIGTERM' "$T/answer" || it_fail "the answer lacks the activity"
wait_exit "$PID" 5
expect "fd 3: then exits 0" "$RC" 0
expect "fd 3: the activity is stored" \
  "$(sqlite3 "$CRUDDUR_DB" "select count(*) from activities where message = 'answered after SIGTERM'")" 1

# 3. LISTEN_PID naming another process: fd 3 is not ours, so no FastCGI
# (the program answers one CGI request from an empty environment and exits).
start fd3-not-ours "unix:$T/notours.sock"
wait_exit "$PID" 5
grep -q '^Status: 400' "$T/fd3-not-ours.stdout" ||
  it_fail "LISTEN_PID of another process: expected one CGI answer, got: $(cat "$T/fd3-not-ours.stdout")"
echo "ok   LISTEN_PID of another process: fd 3 left alone, one CGI answer, exit $RC"

# 4. --listen with --workers: the supervisor stops its workers on SIGTERM.
"$API_BIN" --listen "unix:$T/own.sock" --workers 2 </dev/null 2>>"$T/api.log" &
PID=$!
it_track "$PID"
for _ in $(seq 50); do [ -S "$T/own.sock" ] && break; sleep 0.1; done
addr="unix:$T/own.sock"
expect "--listen --workers 2: health-check" "$(fcgi "$addr" GET /api/health-check)" 200
for _ in $(seq 20); do
  mapfile -t kids < <(ws_children "$PID")
  [ "${#kids[@]}" -ge 2 ] && break; sleep 0.1
done
expect "--listen --workers 2: two workers" "${#kids[@]}" 2
it_track "${kids[@]}"
kill -TERM "$PID"
wait_exit "$PID" 35
expect "--workers: SIGTERM exits 0" "$RC" 0
for k in "${kids[@]}"; do
  if ws_alive "$k"; then it_fail "worker $k outlived its supervisor"; fi
done
echo "ok   --workers: no worker left"

# 5. Socket activation with --workers (a systemd service of several workers).
start fd3 "unix:$T/fd3w.sock" --workers 2
for _ in $(seq 50); do [ -S "$T/fd3w.sock" ] && break; sleep 0.1; done
addr="unix:$T/fd3w.sock"
expect "fd 3 + --workers 2: health-check" "$(fcgi "$addr" GET /api/health-check)" 200
for _ in $(seq 20); do
  mapfile -t kids < <(ws_children "$PID")
  [ "${#kids[@]}" -ge 2 ] && break; sleep 0.1
done
expect "fd 3 + --workers 2: two workers" "${#kids[@]}" 2
it_track "${kids[@]}"
kill -TERM "$PID"
wait_exit "$PID" 35
expect "fd 3 + --workers 2: SIGTERM exits 0" "$RC" 0
for k in "${kids[@]}"; do
  if ws_alive "$k"; then it_fail "worker $k outlived its supervisor"; fi
done
echo "ok   fd 3 + --workers 2: no worker left"
