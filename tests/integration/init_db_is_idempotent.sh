#!/usr/bin/env bash
# cruddur-api --init-db creates and seeds the database once: running it again,
# or several times at once on a new file, gives the same rows, and never
# undoes what is in the database already.
. "$(dirname "$0")/lib.sh"
it_require sqlite3

it_env

expect() {   # expect NAME GOT WANTED
  [ "$2" = "$3" ] || it_fail "$1: got '$2', wanted '$3'"
  echo "ok   $1"
}

it_init_db
first=$(it_db_snapshot)
echo "$first"
counts=$(echo "$first" | grep -v '^rows ')
expect "seed: 5 users" "$(sqlite3 "$CRUDDUR_DB" 'select count(*) from users')" 5
expect "seed: 5 activities" "$(sqlite3 "$CRUDDUR_DB" 'select count(*) from activities')" 5
expect "seed: 2 message groups" "$(sqlite3 "$CRUDDUR_DB" 'select count(*) from message_groups')" 2
expect "seed: messages in both groups" \
  "$(sqlite3 "$CRUDDUR_DB" 'select count(distinct message_group_uuid) from messages')" 2
expect "seed: the handles" \
  "$(sqlite3 "$CRUDDUR_DB" 'select group_concat(handle, " ") from (select handle from users order by handle)')" \
  "andrewbrown bayko coco garek worf"

it_init_db
expect "second init: same rows" "$(it_db_snapshot)" "$first"
# Without a PATH, --init-db uses CRUDDUR_DB.
"$API_BIN" --init-db 2>>"$T/init.log" || it_fail "--init-db without a path failed"
expect "third init (CRUDDUR_DB): same rows" "$(it_db_snapshot)" "$first"

# Data already there survives another init (no re-seed, no reset).
sqlite3 "$CRUDDUR_DB" "update activities set likes_count = 42
                       where uuid = '68f126b0-1ceb-4a33-88be-d90fa7109eee'"
it_init_db
expect "init keeps existing data" \
  "$(sqlite3 "$CRUDDUR_DB" "select likes_count from activities
                           where uuid = '68f126b0-1ceb-4a33-88be-d90fa7109eee'")" 42
expect "integrity" "$(sqlite3 "$CRUDDUR_DB" 'pragma integrity_check')" ok

# Six inits at once on a new file: all succeed, one seed.
db2=$T/state/concurrent.db
pids=()
for i in 1 2 3 4 5 6; do
  "$API_BIN" --init-db "$db2" 2>>"$T/init-$i.log" &
  pids+=($!)
done
it_track "${pids[@]}"
failed=0
for i in "${!pids[@]}"; do
  rc=0
  wait "${pids[$i]}" || rc=$?
  if [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
    echo "concurrent init $((i + 1)) exited $rc: $(cat "$T/init-$((i + 1)).log")"
  fi
done
expect "concurrent inits: all exit 0" "$failed" 0
expect "concurrent inits: seeded once" "$(it_db_snapshot "$db2" | grep -v '^rows ')" "$counts"
expect "concurrent inits: integrity" "$(sqlite3 "$db2" 'pragma integrity_check')" ok
expect "concurrent inits: full-text index consistent" \
  "$(sqlite3 "$db2" "insert into activities_fts(activities_fts, rank) values ('integrity-check', 1); select 'ok'")" ok
