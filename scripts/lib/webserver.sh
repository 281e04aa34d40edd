# webserver.sh: starts and stops a web server in front of cruddur-api on
# loopback, for scripts/run-local, scripts/bench and tests/integration.
# Sourced (bash). Everything a caller starts is recorded in WS_PIDS and
# stopped by ws_stop_all, which callers run from an EXIT trap:
#
#   . scripts/lib/webserver.sh
#   trap ws_stop_all EXIT
#   ws_start_spawn_fcgi "$dir" "$dir/api.sock" 2 ./cruddur-api
#   ws_start_nginx "$dir" "$dir/api.sock" "$dir/www"        # sets WS_PORT
#   ws_wait_http "http://127.0.0.1:$WS_PORT/api/health-check"
#
# The configuration templates are cgi-bin/*.conf.in (WS_TEMPLATES).
# shellcheck shell=bash disable=SC2034

WS_TEMPLATES=${WS_TEMPLATES:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../cgi-bin" 2>/dev/null && pwd)}
WS_PIDS=()            # every process started here, stopped by ws_stop_all
WS_ALL_WORKERS=()     # the FastCGI workers among them
WS_PORT=              # the port of the last web server started
WS_WORKER_PIDS=()     # FastCGI workers of the last ws_start_spawn_fcgi / lighttpd
WS_SERVER_PID=        # the last web server started
WS_SUPERVISOR_PID=    # the last ws_start_prefork supervisor
WS_STOP_TIMEOUT=${WS_STOP_TIMEOUT:-10}   # seconds a process gets after SIGTERM

ws_log() { echo "webserver: $*" >&2; }

# A free TCP port on 127.0.0.1 (the kernel picks it).
ws_free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# True while PID runs (a zombie counts as gone: orphaned workers are reaped
# by init, which may take a while).
ws_alive() {
  local pid=$1 stat
  [ -n "$pid" ] && stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ] && [ "${stat:0:1}" != X ]
}

# Direct children of PID (read from /proc, no process names involved).
ws_children() {
  local parent=$1 f stat
  for f in /proc/[0-9]*/stat; do
    read -r stat 2>/dev/null < "$f" || continue
    stat=${stat##*) }   # "S PPID ..."
    stat=${stat#* }
    if [ "${stat%% *}" = "$parent" ]; then f=${f#/proc/}; echo "${f%/stat}"; fi
  done
  return 0
}

# Records processes for ws_stop_all: web servers and FastCGI workers apart,
# so that servers stop first.
ws_track() { WS_PIDS+=("$@"); }
ws_track_worker() { WS_PIDS+=("$@"); WS_ALL_WORKERS+=("$@"); }

# Escapes a value for the right-hand side of a sed s||| command.
ws_sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# ws_render TEMPLATE OUT NAME=VALUE...: copies TEMPLATE to OUT with each
# @NAME@ replaced by VALUE.
ws_render() {
  local tmpl=$1 out=$2; shift 2
  local args=() kv
  for kv in "$@"; do
    args+=(-e "s|@${kv%%=*}@|$(ws_sed_escape "${kv#*=}")|g")
  done
  sed "${args[@]}" "$tmpl" > "$out"
}

# "user root;" for nginx when running as root: its workers would otherwise
# switch to nobody and could not enter a private (0700) directory.
ws_user_line() {
  if [ "$(id -u)" -eq 0 ]; then echo 'user root;'; fi
}

# The program's settings from this environment as lighttpd "NAME" => "value"
# pairs (lighttpd hands a CGI program only what its config names).
ws_env_pairs() {
  local name val out="" sep=""
  while IFS= read -r name; do
    val=${!name}
    val=${val//\\/\\\\}
    val=${val//\"/\\\"}
    out+="$sep\"$name\" => \"$val\""
    sep=", "
  done < <(compgen -e | grep -E '^(CRUDDUR_|OTEL_|FRONTEND_URL$|BACKEND_URL$|ROLLBAR_|ASAN_OPTIONS$|UBSAN_OPTIONS$|LSAN_OPTIONS$|TZ$)' | sort)
  printf '%s' "$out"
}

# True once something accepts TCP connections on 127.0.0.1:PORT.
ws_port_open() {
  (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ws_wait_port PID PORT SECONDS: waits until PORT accepts connections (0), or
# PID died or time ran out (1).
ws_wait_port() {
  local pid=$1 port=$2 limit=$(( $3 * 10 )) i=0
  while [ "$i" -lt "$limit" ]; do
    ws_port_open "$port" && return 0
    ws_alive "$pid" || return 1
    sleep 0.1; i=$((i + 1))
  done
  return 1
}

# ws_wait_http URL [SECONDS]: polls URL until it answers 2xx (bounded).
ws_wait_http() {
  local url=$1 limit=$(( ${2:-20} * 5 )) i=0
  while [ "$i" -lt "$limit" ]; do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.2; i=$((i + 1))
  done
  ws_log "no answer from $url after ${2:-20}s"
  return 1
}

# ws_start_spawn_fcgi DIR SOCKET N BIN: N FastCGI workers of BIN sharing the
# unix socket SOCKET (mode 0600), with their stderr in DIR/api.log. Sets
# WS_WORKER_PIDS. The environment passes on to the workers.
ws_start_spawn_fcgi() {
  local dir=$1 sock=$2 n=$3 bin=$4 before pids
  before=0
  [ -f "$dir/api.log" ] && before=$(wc -l < "$dir/api.log")
  rm -f "$sock"
  # spawn-fcgi points its children's stderr at /dev/null: a shell in between
  # keeps it (and execs, so the pid is the program's).
  # shellcheck disable=SC2016,SC2094
  if ! spawn-fcgi -s "$sock" -M 0600 -F "$n" -P "$dir/spawn-fcgi.pid" -- \
       /bin/sh -c 'exec "$1" 2>>"$2"' cruddur-api "$bin" "$dir/api.log" \
       >>"$dir/api.log" 2>&1; then
    ws_log "spawn-fcgi failed:"; tail -n 20 "$dir/api.log" >&2
    return 1
  fi
  # With -F each child's pid is printed ("child spawned successfully: PID: N")
  # and written to the pid file; take both.
  pids=$( { tail -n +"$((before + 1))" "$dir/api.log" |
              sed -n 's/.*child spawned successfully: PID: *\([0-9][0-9]*\).*/\1/p'
            cat "$dir/spawn-fcgi.pid" 2>/dev/null; echo; } | grep -E '^[0-9]+$' | sort -u)
  # shellcheck disable=SC2206
  WS_WORKER_PIDS=($pids)
  ws_track_worker "${WS_WORKER_PIDS[@]}"
  if [ "${#WS_WORKER_PIDS[@]}" -ne "$n" ]; then
    ws_log "expected $n workers, found ${#WS_WORKER_PIDS[@]}"
    return 1
  fi
}

# ws_start_prefork DIR SOCKET N BIN: BIN's own supervisor (--listen
# unix:SOCKET --workers N), which restarts workers that die, with its and
# their stderr in DIR/api.log. Sets WS_SUPERVISOR_PID and WS_WORKER_PIDS (the
# workers of the moment). The supervisor is stopped like a web server, so
# ws_stop_all also stops the workers it has when stopping.
ws_start_prefork() {
  local dir=$1 sock=$2 n=$3 bin=$4 pid i=0
  mkdir -p "$dir"
  rm -f "$sock"
  "$bin" --listen "unix:$sock" --workers "$n" </dev/null >>"$dir/api.log" 2>&1 &
  pid=$!
  ws_track "$pid"
  WS_SUPERVISOR_PID=$pid
  WS_WORKER_PIDS=()
  while [ "$i" -lt 150 ]; do
    ws_alive "$pid" || break
    # shellcheck disable=SC2207
    WS_WORKER_PIDS=($(ws_children "$pid"))
    [ -S "$sock" ] && [ "${#WS_WORKER_PIDS[@]}" -ge "$n" ] && return 0
    sleep 0.1; i=$((i + 1))
  done
  ws_log "cruddur-api --listen unix:$sock --workers $n did not start:"
  tail -n 20 "$dir/api.log" >&2
  return 1
}

# ws_start_nginx DIR SOCKET DOCROOT [PORT]: nginx on 127.0.0.1:PORT (a free
# port when not given) with its files in DIR, passing /api/ and /rollbar/ to
# the FastCGI socket. Sets WS_PORT and WS_SERVER_PID. Options:
#   WS_NGINX_KEEP_CONN=on     fastcgi_keep_conn on
#   WS_NGINX_ACCESS_LOG=off   no access log (the bench)
#   WS_NGINX_WORKERS=N        worker_processes
ws_start_nginx() {
  local dir=$1 sock=$2 docroot=$3 fixed=${4:-} port attempt pid
  mkdir -p "$dir" "$docroot"
  for attempt in 1 2 3; do
    port=${fixed:-$(ws_free_port)}
    ws_render "$WS_TEMPLATES/nginx.conf.in" "$dir/nginx.conf" \
      PORT="$port" LISTEN=127.0.0.1 DIR="$dir" SOCKET="$sock" DOCROOT="$docroot" \
      USER_LINE="$(ws_user_line)"
    if [ "${WS_NGINX_KEEP_CONN:-off}" = on ]; then
      sed -i 's/fastcgi_keep_conn off;/fastcgi_keep_conn on;/' "$dir/nginx.conf"
      # Kept connections need an upstream keepalive pool.
      sed -i "s|server unix:$(ws_sed_escape "$sock");|&\n        keepalive 8;|" "$dir/nginx.conf"
    fi
    if [ "${WS_NGINX_ACCESS_LOG:-on}" = off ]; then
      sed -i 's|^\( *\)access_log .*;|\1access_log off;|' "$dir/nginx.conf"
    fi
    if [ -n "${WS_NGINX_WORKERS:-}" ]; then
      sed -i "s/^worker_processes .*;/worker_processes $WS_NGINX_WORKERS;/" "$dir/nginx.conf"
    fi
    : > "$dir/error.log"
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' \
      </dev/null >>"$dir/nginx.out" 2>&1 &
    pid=$!
    ws_track "$pid"
    if ws_wait_port "$pid" "$port" 15; then
      WS_PORT=$port WS_SERVER_PID=$pid
      return 0
    fi
    ws_stop_pid "$pid"
    if [ -z "$fixed" ] && grep -q 'in use' "$dir/error.log" "$dir/nginx.out" 2>/dev/null; then
      ws_log "port $port taken meanwhile, trying another (attempt $attempt)"
      continue
    fi
    break
  done
  ws_log "nginx did not start:"; tail -n 20 "$dir/error.log" "$dir/nginx.out" >&2
  return 1
}

# ws_start_lighttpd MODE DIR BIN DOCROOT [PORT]: lighttpd on 127.0.0.1:PORT
# running BIN through mod_fastcgi (MODE fastcgi: lighttpd spawns 2 workers on
# DIR/api.sock-N) or mod_cgi (MODE cgi). The program's settings are taken
# from this environment (ws_env_pairs). Sets WS_PORT, WS_SERVER_PID and, for
# fastcgi, WS_WORKER_PIDS.
ws_start_lighttpd() {
  local mode=$1 dir=$2 bin=$3 docroot=$4 fixed=${5:-} port attempt pid env
  mkdir -p "$dir" "$docroot"
  env=$(ws_env_pairs)
  for attempt in 1 2 3; do
    port=${fixed:-$(ws_free_port)}
    ws_render "$WS_TEMPLATES/lighttpd-$mode.conf.in" "$dir/lighttpd.conf" \
      PORT="$port" LISTEN=127.0.0.1 DIR="$dir" SOCKET="$dir/api.sock" DOCROOT="$docroot" \
      API_BIN="$bin" ENV="$env"
    : > "$dir/error.log"
    lighttpd -D -f "$dir/lighttpd.conf" </dev/null >>"$dir/lighttpd.out" 2>&1 &
    pid=$!
    ws_track "$pid"
    if ws_wait_port "$pid" "$port" 15; then
      WS_PORT=$port WS_SERVER_PID=$pid
      WS_WORKER_PIDS=()
      if [ "$mode" = fastcgi ]; then
        # The bin-path workers are lighttpd's children; track them too, so
        # that they are stopped even if lighttpd is killed.
        local i=0
        while [ "$i" -lt 50 ]; do
          # shellcheck disable=SC2207
          WS_WORKER_PIDS=($(ws_children "$pid"))
          [ "${#WS_WORKER_PIDS[@]}" -ge 2 ] && break
          sleep 0.1; i=$((i + 1))
        done
        ws_track_worker "${WS_WORKER_PIDS[@]}"
      fi
      return 0
    fi
    ws_stop_pid "$pid"
    if [ -z "$fixed" ] && grep -q 'in use' "$dir/error.log" "$dir/lighttpd.out" 2>/dev/null; then
      ws_log "port $port taken meanwhile, trying another (attempt $attempt)"
      continue
    fi
    break
  done
  ws_log "lighttpd did not start:"; tail -n 20 "$dir/error.log" "$dir/lighttpd.out" >&2
  return 1
}

# ws_stop_pid PID...: SIGTERM, up to WS_STOP_TIMEOUT seconds, then SIGKILL.
ws_stop_pid() {
  local pid left i=0
  for pid in "$@"; do
    ws_alive "$pid" && kill -TERM "$pid" 2>/dev/null
  done
  while [ "$i" -lt $((WS_STOP_TIMEOUT * 10)) ]; do
    left=0
    for pid in "$@"; do ws_alive "$pid" && left=1; done
    [ "$left" -eq 0 ] && break
    sleep 0.1; i=$((i + 1))
  done
  for pid in "$@"; do
    if ws_alive "$pid"; then
      ws_log "pid $pid ignored SIGTERM for ${WS_STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  # Reap those that are our own children.
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
  return 0
}

# Stops everything started here: the web servers first (no new requests),
# then the workers (including any lighttpd started since). Safe to call
# twice and from an EXIT trap.
ws_stop_all() {
  local pid servers=() workers=()
  [ "${#WS_PIDS[@]}" -gt 0 ] || return 0
  for pid in "${WS_PIDS[@]}"; do
    case " ${WS_ALL_WORKERS[*]} " in
      *" $pid "*) workers+=("$pid") ;;
      *) servers+=("$pid")
         # Workers a server started after we looked (lighttpd restarts them).
         # shellcheck disable=SC2207
         ws_alive "$pid" && workers+=($(ws_children "$pid")) ;;
    esac
  done
  [ "${#servers[@]}" -eq 0 ] || ws_stop_pid "${servers[@]}"
  [ "${#workers[@]}" -eq 0 ] || ws_stop_pid "${workers[@]}"
  WS_PIDS=() WS_ALL_WORKERS=() WS_WORKER_PIDS=()
  return 0
}
