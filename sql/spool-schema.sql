-- Spool schema, version 1: the telemetry every request leaves behind, waiting
-- for the exporters. Applied by spool_open() to an empty file, inside the
-- transaction that sets PRAGMA user_version = 1. Later versions add steps in
-- src/spool/spool.c; never edit this file once released, add a migration.
--
-- Conventions: times are Unix nanoseconds (INTEGER); ids are lowercase hex
-- text; JSON columns are checked with json_valid(); row ids come from
-- AUTOINCREMENT so that a deleted id is never handed out again (an exporter's
-- cursor promises that every row at or below it was delivered).
-- Every index and CHECK costs each request's write, so the hot tables avoid
-- what is dear in SQLite: a hex test (ltrim or GLOB, several microseconds a
-- row: spool_write checks that ids are lowercase hex, the schema their
-- length), IN lists (each execution builds a temporary b-tree: BETWEEN and OR
-- instead), and an index on resource_id (spool_prune scans instead).

-- Marks the file as a spool ('CRSP'), so that a wrong path is refused.
PRAGMA application_id = 1129468752;

-- Key/value facts about the file itself (the hash of the installed views).
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value ANY
) STRICT, WITHOUT ROWID;

-- Who produced the telemetry: service.name, host.name, process.pid ...
-- One row per distinct attribute set, shared by spans, logs and errors.
CREATE TABLE resource (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  attributes TEXT NOT NULL UNIQUE
             CHECK (json_valid(attributes) AND json_type(attributes) = 'object')
) STRICT;

CREATE TABLE span (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  trace_id       TEXT NOT NULL
                 CHECK (length(trace_id) = 32
                        AND trace_id <> '00000000000000000000000000000000'),
  span_id        TEXT NOT NULL
                 CHECK (length(span_id) = 16
                        AND span_id <> '0000000000000000'),
  parent_span_id TEXT  -- NULL for a root span
                 CHECK (parent_span_id IS NULL OR length(parent_span_id) = 16),
  name           TEXT NOT NULL,
  kind           INTEGER NOT NULL DEFAULT 1 CHECK (kind BETWEEN 0 AND 5),
  start_ns       INTEGER NOT NULL,
  end_ns         INTEGER NOT NULL CHECK (end_ns >= start_ns),
  status_code    INTEGER NOT NULL DEFAULT 0 CHECK (status_code BETWEEN 0 AND 2),
  status_message TEXT,
  attributes     TEXT NOT NULL DEFAULT '{}'
                 CHECK (json_valid(attributes) AND json_type(attributes) = 'object'),
  events         TEXT NOT NULL DEFAULT '[]'
                 CHECK (json_valid(events) AND json_type(events) = 'array'),
  links          TEXT NOT NULL DEFAULT '[]'
                 CHECK (json_valid(links) AND json_type(links) = 'array'),
  trace_state    TEXT,
  flags          INTEGER NOT NULL DEFAULT 1,
  scope_name     TEXT NOT NULL DEFAULT '',
  scope_version  TEXT,
  resource_id    INTEGER NOT NULL REFERENCES resource (id)
) STRICT;
CREATE INDEX span_trace ON span (trace_id, span_id);
CREATE INDEX span_start ON span (start_ns);

CREATE TABLE log (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns         INTEGER NOT NULL,
  observed_ns     INTEGER NOT NULL,
  severity_number INTEGER NOT NULL DEFAULT 0 CHECK (severity_number BETWEEN 0 AND 24),
  severity_text   TEXT,
  body            TEXT,
  attributes      TEXT NOT NULL DEFAULT '{}'
                  CHECK (json_valid(attributes) AND json_type(attributes) = 'object'),
  trace_id        TEXT  -- NULL outside a trace
                  CHECK (trace_id IS NULL OR length(trace_id) = 32),
  span_id         TEXT
                  CHECK (span_id IS NULL OR length(span_id) = 16),
  flags           INTEGER NOT NULL DEFAULT 0,
  scope_name      TEXT NOT NULL DEFAULT '',
  scope_version   TEXT,
  resource_id     INTEGER NOT NULL REFERENCES resource (id)
) STRICT;
CREATE INDEX log_trace ON log (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX log_time ON log (time_ns);

-- Error reports, shaped for Rollbar's item API. uuid makes a report
-- idempotent: writing the same uuid twice keeps the first.
CREATE TABLE error (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid        TEXT NOT NULL UNIQUE
              CHECK (length(uuid) = 36 AND substr(uuid, 9, 1) = '-'
                     AND substr(uuid, 14, 1) = '-' AND substr(uuid, 19, 1) = '-'
                     AND substr(uuid, 24, 1) = '-'
                     AND ltrim(uuid, '0123456789abcdef-') = ''
                     AND length(replace(uuid, '-', '')) = 32),
  time_ns     INTEGER NOT NULL,
  level       TEXT NOT NULL DEFAULT 'error'
              CHECK (level = 'error' OR level = 'critical' OR level = 'warning'
                     OR level = 'info' OR level = 'debug'),
  class       TEXT NOT NULL,
  message     TEXT NOT NULL DEFAULT '',
  frames      TEXT NOT NULL DEFAULT '[]'
              CHECK (json_valid(frames) AND json_type(frames) = 'array'),
  request     TEXT CHECK (request IS NULL OR (json_valid(request)
                          AND json_type(request) = 'object')),
  context     TEXT,  -- the route template, e.g. "GET /api/activities/home"
  trace_id    TEXT CHECK (trace_id IS NULL OR length(trace_id) = 32),
  span_id     TEXT CHECK (span_id IS NULL OR length(span_id) = 16),
  fingerprint TEXT,
  custom      TEXT CHECK (custom IS NULL OR (json_valid(custom)
                          AND json_type(custom) = 'object')),
  resource_id INTEGER NOT NULL REFERENCES resource (id)
) STRICT;
CREATE INDEX error_time ON error (time_ns);
CREATE INDEX error_trace ON error (trace_id) WHERE trace_id IS NOT NULL;

-- What each exporter has delivered: every row of `stream` with id <= last_id.
-- A row here registers the exporter for that stream: pruning keeps every row
-- some registered exporter has not yet passed.
CREATE TABLE cursor (
  exporter   TEXT NOT NULL,
  stream     TEXT NOT NULL CHECK (stream IN ('span', 'log', 'error')),
  last_id    INTEGER NOT NULL DEFAULT 0 CHECK (last_id >= 0),
  updated_ns INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (exporter, stream)
) STRICT, WITHOUT ROWID;

-- Each exporter's health, kept here so that the next cron run honours the
-- backoff the previous run decided.
CREATE TABLE export_state (
  exporter      TEXT PRIMARY KEY,
  failures      INTEGER NOT NULL DEFAULT 0,  -- consecutive failed attempts
  retry_at_ns   INTEGER NOT NULL DEFAULT 0,  -- do not send before this time
  last_error    TEXT,
  last_ok_ns    INTEGER NOT NULL DEFAULT 0,
  sent          INTEGER NOT NULL DEFAULT 0,  -- records the service accepted
  rejected      INTEGER NOT NULL DEFAULT 0,  -- records the service refused
  dead_lettered INTEGER NOT NULL DEFAULT 0,  -- of those, moved to dead_letter
  updated_ns    INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- Records a service rejected for good, with its reason and what was sent.
CREATE TABLE dead_letter (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  exporter  TEXT NOT NULL,
  stream    TEXT NOT NULL CHECK (stream IN ('span', 'log', 'error')),
  record_id INTEGER NOT NULL,
  reason    TEXT NOT NULL,
  payload   TEXT,
  time_ns   INTEGER NOT NULL
) STRICT;
CREATE INDEX dead_letter_exporter ON dead_letter (exporter, stream, record_id);

-- Events worth counting: dropped_records, dropped_by_cap, ...
CREATE TABLE counter (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
