-- app-schema: the tables of the Cruddur app database (cruddur.db).
-- Applied by `cruddur-api --init-db` (app_db_init in src/app/db.c) to a
-- database whose user_version is 0; everything is IF NOT EXISTS so that
-- applying it twice changes nothing. Later versions of the schema go in the
-- migration list of src/app/db.c, each raising user_version by one.
--
-- Times are integer Unix microseconds (*_us); the API prints them as ISO 8601.
-- Ids are lowercase UUID strings. Handles compare case-insensitively (NOCASE),
-- so "Worf" and "worf" cannot be two people and a mention finds either.

CREATE TABLE IF NOT EXISTS users (
  uuid          TEXT PRIMARY KEY NOT NULL,
  display_name  TEXT NOT NULL,
  handle        TEXT NOT NULL COLLATE NOCASE UNIQUE,
  email         TEXT,
  created_at_us INTEGER NOT NULL
) STRICT;

-- activities has an INTEGER PRIMARY KEY besides its uuid: the full-text
-- index refers to rows by rowid, and only an explicit INTEGER PRIMARY KEY
-- keeps rowids stable across VACUUM.
CREATE TABLE IF NOT EXISTS activities (
  id                     INTEGER PRIMARY KEY,
  uuid                   TEXT NOT NULL UNIQUE,
  user_uuid              TEXT NOT NULL REFERENCES users(uuid),
  message                TEXT NOT NULL,
  replies_count          INTEGER NOT NULL DEFAULT 0 CHECK (replies_count >= 0),
  reposts_count          INTEGER NOT NULL DEFAULT 0 CHECK (reposts_count >= 0),
  likes_count            INTEGER NOT NULL DEFAULT 0 CHECK (likes_count >= 0),
  -- A reply names its parent and expires with it.
  reply_to_activity_uuid TEXT REFERENCES activities(uuid),
  expires_at_us          INTEGER NOT NULL,
  created_at_us          INTEGER NOT NULL
) STRICT;

-- Home: top-level activities newest first (the rowid breaks ties).
CREATE INDEX IF NOT EXISTS activities_home
  ON activities(created_at_us) WHERE reply_to_activity_uuid IS NULL;
-- A user's activities, and the acting user's activities for notifications.
CREATE INDEX IF NOT EXISTS activities_user
  ON activities(user_uuid, created_at_us);
-- Replies of a set of activities, oldest first.
CREATE INDEX IF NOT EXISTS activities_replies
  ON activities(reply_to_activity_uuid, created_at_us)
  WHERE reply_to_activity_uuid IS NOT NULL;

-- Full-text search over activities.message (external content: the text is
-- stored once, in activities). unicode61 treats '#' and '@' as separators, so
-- "#cloud" and "@worf" find the words cloud and worf.
CREATE VIRTUAL TABLE IF NOT EXISTS activities_fts USING fts5(
  message,
  content = 'activities',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER IF NOT EXISTS activities_fts_insert AFTER INSERT ON activities BEGIN
  INSERT INTO activities_fts(rowid, message) VALUES (new.id, new.message);
END;
CREATE TRIGGER IF NOT EXISTS activities_fts_delete AFTER DELETE ON activities BEGIN
  INSERT INTO activities_fts(activities_fts, rowid, message)
    VALUES ('delete', old.id, old.message);
END;
-- Only a change of the text touches the index (not the counters).
CREATE TRIGGER IF NOT EXISTS activities_fts_update AFTER UPDATE OF message ON activities BEGIN
  INSERT INTO activities_fts(activities_fts, rowid, message)
    VALUES ('delete', old.id, old.message);
  INSERT INTO activities_fts(rowid, message) VALUES (new.id, new.message);
END;

-- A two-way conversation. The pair is stored in uuid order, so one pair of
-- people has exactly one group.
CREATE TABLE IF NOT EXISTS message_groups (
  uuid          TEXT PRIMARY KEY NOT NULL,
  user_a_uuid   TEXT NOT NULL REFERENCES users(uuid),
  user_b_uuid   TEXT NOT NULL REFERENCES users(uuid),
  updated_at_us INTEGER NOT NULL,
  CHECK (user_a_uuid < user_b_uuid),
  UNIQUE (user_a_uuid, user_b_uuid)
) STRICT;

-- The UNIQUE index serves lookups by user_a; this one those by user_b.
CREATE INDEX IF NOT EXISTS message_groups_user_b
  ON message_groups(user_b_uuid);

CREATE TABLE IF NOT EXISTS messages (
  id                 INTEGER PRIMARY KEY,
  uuid               TEXT NOT NULL UNIQUE,
  message_group_uuid TEXT NOT NULL REFERENCES message_groups(uuid),
  user_uuid          TEXT NOT NULL REFERENCES users(uuid),
  message            TEXT NOT NULL,
  created_at_us      INTEGER NOT NULL
) STRICT;

-- A conversation in time order, and its last message.
CREATE INDEX IF NOT EXISTS messages_group_time
  ON messages(message_group_uuid, created_at_us);

PRAGMA user_version = 1;
