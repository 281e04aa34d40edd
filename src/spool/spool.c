/* spool: the telemetry spool file. API workers write one transaction per
 * request here (spool_write); exporters read past their cursors and
 * acknowledge (spool_read_*, spool_ack); maintenance keeps the file bounded
 * (spool_prune, spool_enforce_cap). The schema and views come from
 * sql/spool-schema.sql and sql/spool-views.sql, compiled in by scripts/sql2c.
 *
 * Time budgets: every operation sets a deadline. The busy handler waits for
 * locks only until then (instead of a fixed busy_timeout), and for writes a
 * progress handler interrupts statements still running past it, so a worker
 * never spends more than its budget on telemetry. */
#include "spool/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool/spool_sql.h"
#include "spool/walvfs.h"
#include "util/tstamp.h"

#define APPLICATION_ID 1129468752       /* 'CRSP', set by the v1 schema */
#define RES_CACHE 4                     /* resources a process writes with */
#define CHUNK_ROWS 1000                 /* rows per maintenance transaction */
#define CLOSE_BUDGET_NS 50000000LL      /* flushing the dropped count at close */
#define PROGRESS_OPS 1000               /* VM steps between deadline checks */
#define WAL_LIMIT_BYTES 33554432        /* -wal truncated back to this */
#define CKPT_FRAMES 1000                /* a writer checkpoints each time the WAL grew by this */
#define RESTART_FRAMES 8000             /* past this the WAL did not start over by itself */
#define CKPT_WAIT_NS 50000000LL         /* how long a restarting checkpoint waits for others */
#define BUSY_SPIN_NS 100000LL           /* yield, not sleep, for this long */
#define BUSY_SLEEP_NS 25000LL           /* then sleep this, doubling as the */
#define BUSY_SLEEP_MAX_NS 200000LL      /* wait grows, up to this: a waiter that
                                           polls seldom starves behind busy writers */

/* Version 2: the span and log tables as every request writes them, and
 * nothing else. A request's write is one commit of a few pages, and each
 * b-tree it touches costs a page read (after another worker's commit) and a
 * page written to the WAL: with two workers writing back to back, the time
 * and trace indexes cost more than the rows, and the json_valid() CHECKs
 * parsed every JSON text twice. spool_write checks the JSON texts instead
 * (json_is), before anything is locked; ids stay AUTOINCREMENT,
 * and the high-water marks of version 1 are carried over, so no id is handed
 * out twice. The views are dropped here (they name the tables being
 * replaced) and installed again by spool_open. Queries by trace id or time
 * read the tables through: the spool is a queue that the exporters drain. */
static const char spool_v2_sql[] =
    "DROP VIEW IF EXISTS trace_summary; DROP VIEW IF EXISTS slow_requests;"
    " DROP VIEW IF EXISTS route_stats; DROP VIEW IF EXISTS error_rate_by_route;"
    " DROP VIEW IF EXISTS exporter_backlog; DROP VIEW IF EXISTS spool_size;"
    " DELETE FROM meta WHERE key = 'views_hash';"
    "CREATE TABLE v2_seq AS SELECT name, seq FROM sqlite_sequence"
    " WHERE name IN ('span', 'log');"
    "CREATE TABLE span_v2 ("
    "  id             INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  trace_id       TEXT NOT NULL"
    "                 CHECK (length(trace_id) = 32"
    "                        AND trace_id <> '00000000000000000000000000000000'),"
    "  span_id        TEXT NOT NULL"
    "                 CHECK (length(span_id) = 16 AND span_id <> '0000000000000000'),"
    "  parent_span_id TEXT CHECK (parent_span_id IS NULL OR length(parent_span_id) = 16),"
    "  name           TEXT NOT NULL,"
    "  kind           INTEGER NOT NULL DEFAULT 1 CHECK (kind BETWEEN 0 AND 5),"
    "  start_ns       INTEGER NOT NULL,"
    "  end_ns         INTEGER NOT NULL CHECK (end_ns >= start_ns),"
    "  status_code    INTEGER NOT NULL DEFAULT 0 CHECK (status_code BETWEEN 0 AND 2),"
    "  status_message TEXT,"
    "  attributes     TEXT NOT NULL DEFAULT '{}',"
    "  events         TEXT NOT NULL DEFAULT '[]',"
    "  links          TEXT NOT NULL DEFAULT '[]',"
    "  trace_state    TEXT,"
    "  flags          INTEGER NOT NULL DEFAULT 1,"
    "  scope_name     TEXT NOT NULL DEFAULT '',"
    "  scope_version  TEXT,"
    "  resource_id    INTEGER NOT NULL REFERENCES resource (id)"
    ") STRICT;"
    "INSERT INTO span_v2 SELECT * FROM span ORDER BY id;"
    "DROP TABLE span;"
    "ALTER TABLE span_v2 RENAME TO span;"
    "CREATE TABLE log_v2 ("
    "  id              INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  time_ns         INTEGER NOT NULL,"
    "  observed_ns     INTEGER NOT NULL,"
    "  severity_number INTEGER NOT NULL DEFAULT 0 CHECK (severity_number BETWEEN 0 AND 24),"
    "  severity_text   TEXT,"
    "  body            TEXT,"
    "  attributes      TEXT NOT NULL DEFAULT '{}',"
    "  trace_id        TEXT CHECK (trace_id IS NULL OR length(trace_id) = 32),"
    "  span_id         TEXT CHECK (span_id IS NULL OR length(span_id) = 16),"
    "  flags           INTEGER NOT NULL DEFAULT 0,"
    "  scope_name      TEXT NOT NULL DEFAULT '',"
    "  scope_version   TEXT,"
    "  resource_id     INTEGER NOT NULL REFERENCES resource (id)"
    ") STRICT;"
    "INSERT INTO log_v2 SELECT * FROM log ORDER BY id;"
    "DROP TABLE log;"
    "ALTER TABLE log_v2 RENAME TO log;"
    "DELETE FROM sqlite_sequence WHERE name IN ('span', 'log');"
    "INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM v2_seq;"
    "DROP TABLE v2_seq;";

/* The built-in migrations: index i reaches version i + 1. */
static const spool_migration builtin_steps[] = {
    { 1, spool_schema_sql },
    { 2, spool_v2_sql },
};

enum stmt_id {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
    ST_RES_CHECK, ST_RES_INSERT, ST_RES_FIND,
    ST_ERROR_INSERT,
    ST_COUNTER_ADD, ST_COUNTER_GET,
    ST_READ_SPANS, ST_READ_LOGS, ST_READ_ERRORS,
    ST_CURSOR_GET, ST_CURSOR_SET, ST_CURSOR_DEL, ST_CURSOR_MIN,
    ST_DEAD_INSERT, ST_STATE_ACK, ST_STATE_FAIL, ST_STATE_GET,
    ST_DEL_SPANS, ST_DEL_LOGS, ST_DEL_ERRORS, ST_DEL_DEAD,
    ST_OLDEST, ST_ROW_ESTIMATE, ST_BEGIN_READ, ST_HIGH_IDS, ST_ORPHANS, ST_ORPHAN_DELETE,
    ST_PAGE_COUNT, ST_FREELIST, ST_PAGE_SIZE,
    ST_USER_VERSION, ST_APP_ID, ST_TABLE_COUNT, ST_META_GET, ST_META_SET,
    ST_PENDING_SPANS, ST_PENDING_LOGS, ST_PENDING_ERRORS,
    ST_MARK_DELETE, ST_MARK_LIST,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_RES_CHECK] = "SELECT 1 FROM resource WHERE id = ?1 AND attributes = ?2",
    [ST_RES_INSERT] = "INSERT INTO resource (attributes) VALUES (?1) "
                      "ON CONFLICT (attributes) DO NOTHING",
    [ST_RES_FIND] = "SELECT id FROM resource WHERE attributes = ?1",
    [ST_ERROR_INSERT] =
        "INSERT INTO error (uuid, time_ns, level, class, message, frames, request,"
        " context, trace_id, span_id, fingerprint, custom, resource_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        " ON CONFLICT (uuid) DO NOTHING",
    [ST_COUNTER_ADD] = "INSERT INTO counter (name, value) VALUES (?1, ?2) "
                       "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
    [ST_COUNTER_GET] = "SELECT value FROM counter WHERE name = ?1",
    [ST_READ_SPANS] =
        "SELECT s.id, s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind,"
        " s.start_ns, s.end_ns, s.status_code, s.status_message, s.attributes,"
        " s.events, s.links, s.trace_state, s.flags, s.scope_name, s.scope_version,"
        " s.resource_id, r.attributes"
        " FROM span AS s LEFT JOIN resource AS r ON r.id = s.resource_id"
        " WHERE s.id > ?1 ORDER BY s.id LIMIT ?2",
    [ST_READ_LOGS] =
        "SELECT l.id, l.time_ns, l.observed_ns, l.severity_number, l.severity_text,"
        " l.body, l.attributes, l.trace_id, l.span_id, l.flags, l.scope_name,"
        " l.scope_version, l.resource_id, r.attributes"
        " FROM log AS l LEFT JOIN resource AS r ON r.id = l.resource_id"
        " WHERE l.id > ?1 ORDER BY l.id LIMIT ?2",
    [ST_READ_ERRORS] =
        "SELECT e.id, e.uuid, e.time_ns, e.level, e.class, e.message, e.frames,"
        " e.request, e.context, e.trace_id, e.span_id, e.fingerprint, e.custom,"
        " e.resource_id, r.attributes"
        " FROM error AS e LEFT JOIN resource AS r ON r.id = e.resource_id"
        " WHERE e.id > ?1 ORDER BY e.id LIMIT ?2",
    [ST_CURSOR_GET] = "SELECT last_id FROM cursor WHERE exporter = ?1 AND stream = ?2",
    [ST_CURSOR_SET] = "INSERT INTO cursor (exporter, stream, last_id, updated_ns)"
                      " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (exporter, stream) DO UPDATE"
                      " SET last_id = excluded.last_id, updated_ns = excluded.updated_ns",
    [ST_CURSOR_DEL] = "DELETE FROM cursor WHERE exporter = ?1 AND stream = ?2",
    [ST_CURSOR_MIN] = "SELECT min(last_id) FROM cursor WHERE stream = ?1",
    [ST_DEAD_INSERT] = "INSERT INTO dead_letter (exporter, stream, record_id, reason,"
                       " payload, time_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_STATE_ACK] =
        "INSERT INTO export_state (exporter, sent, rejected, dead_lettered, failures,"
        " retry_at_ns, last_ok_ns, updated_ns) VALUES (?1, ?2, ?3, ?4, 0, 0, ?5, ?5)"
        " ON CONFLICT (exporter) DO UPDATE SET sent = sent + excluded.sent,"
        " rejected = rejected + excluded.rejected,"
        " dead_lettered = dead_lettered + excluded.dead_lettered,"
        " failures = 0, retry_at_ns = 0, last_ok_ns = excluded.last_ok_ns,"
        " updated_ns = excluded.updated_ns",
    [ST_STATE_FAIL] =
        "INSERT INTO export_state (exporter, failures, retry_at_ns, last_error, updated_ns)"
        " VALUES (?1, 1, ?2, ?3, ?4) ON CONFLICT (exporter) DO UPDATE"
        " SET failures = failures + 1, retry_at_ns = excluded.retry_at_ns,"
        " last_error = excluded.last_error, updated_ns = excluded.updated_ns",
    [ST_STATE_GET] = "SELECT failures, retry_at_ns, last_ok_ns, sent, rejected,"
                     " dead_lettered, updated_ns, last_error"
                     " FROM export_state WHERE exporter = ?1",
    [ST_DEL_SPANS] = "DELETE FROM span WHERE id IN"
                     " (SELECT id FROM span WHERE id <= ?1 ORDER BY id LIMIT ?2)",
    [ST_DEL_LOGS] = "DELETE FROM log WHERE id IN"
                    " (SELECT id FROM log WHERE id <= ?1 ORDER BY id LIMIT ?2)",
    [ST_DEL_ERRORS] = "DELETE FROM error WHERE id IN"
                      " (SELECT id FROM error WHERE id <= ?1 ORDER BY id LIMIT ?2)",
    [ST_DEL_DEAD] = "DELETE FROM dead_letter WHERE id IN"
                    " (SELECT id FROM dead_letter WHERE id <= ?1 ORDER BY id LIMIT ?2)",
    [ST_OLDEST] = "SELECT (SELECT start_ns FROM span ORDER BY id LIMIT 1),"
                  " (SELECT time_ns FROM log ORDER BY id LIMIT 1),"
                  " (SELECT time_ns FROM error ORDER BY id LIMIT 1),"
                  " (SELECT time_ns FROM dead_letter ORDER BY id LIMIT 1)",
    [ST_ROW_ESTIMATE] = "SELECT (SELECT coalesce(max(id) - min(id) + 1, 0) FROM span)"
                        " + (SELECT coalesce(max(id) - min(id) + 1, 0) FROM log)"
                        " + (SELECT coalesce(max(id) - min(id) + 1, 0) FROM error)"
                        " + (SELECT coalesce(max(id) - min(id) + 1, 0) FROM dead_letter)",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_HIGH_IDS] = "SELECT (SELECT coalesce(max(id), 0) FROM span),"
                    " (SELECT coalesce(max(id), 0) FROM log),"
                    " (SELECT coalesce(max(id), 0) FROM error)",
    [ST_ORPHANS] = "SELECT id FROM resource WHERE id NOT IN (SELECT resource_id FROM span"
                   " UNION SELECT resource_id FROM log UNION SELECT resource_id FROM error)",
    /* only rows newer than the snapshot that found the candidates need a look */
    [ST_ORPHAN_DELETE] =
        "DELETE FROM resource WHERE id = ?1"
        " AND NOT EXISTS (SELECT 1 FROM span WHERE id > ?2 AND resource_id = ?1)"
        " AND NOT EXISTS (SELECT 1 FROM log WHERE id > ?3 AND resource_id = ?1)"
        " AND NOT EXISTS (SELECT 1 FROM error WHERE id > ?4 AND resource_id = ?1)",
    [ST_PAGE_COUNT] = "PRAGMA page_count",
    [ST_FREELIST] = "PRAGMA freelist_count",
    [ST_PAGE_SIZE] = "PRAGMA page_size",
    [ST_USER_VERSION] = "PRAGMA user_version",
    [ST_APP_ID] = "PRAGMA application_id",
    [ST_TABLE_COUNT] = "SELECT count(*) FROM sqlite_schema",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_PENDING_SPANS] = "SELECT count(*) FROM span WHERE id > ?1",
    [ST_PENDING_LOGS] = "SELECT count(*) FROM log WHERE id > ?1",
    [ST_PENDING_ERRORS] = "SELECT count(*) FROM error WHERE id > ?1",
    [ST_MARK_DELETE] = "DELETE FROM meta WHERE key = ?1",
    /* ?1 = 'mark:PREFIX', ?2 = the same with its last character + 1 */
    [ST_MARK_LIST] = "SELECT key FROM meta WHERE key >= ?1 AND key < ?2 ORDER BY key",
};

/* Marks are meta rows under this prefix, so that they never meet the keys
 * the spool keeps for itself (views_hash). */
#define MARK_PREFIX "mark:"
#define MARK_KEY_MAX SPOOL_MARK_KEY_MAX

/* Spans and logs go in with multi-row INSERTs (across the batches of one
 * transaction): AUTOINCREMENT and statement overhead are paid per statement,
 * not per row. A statement takes 1 to MULTI_SMALL rows, or 16, 32 or
 * MULTI_MAX for the many batches of a journal (MULTI_SLOTS statements per
 * table at most). */
#define MULTI_SMALL 8
#define MULTI_MAX 64
#define MULTI_SLOTS (MULTI_SMALL + 3)
#define SPAN_COLS 17
#define LOG_COLS 12
static const char *const insert_prefix[2] = {
    "INSERT INTO span (trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns,"
    " status_code, status_message, attributes, events, links, trace_state, flags,"
    " scope_name, scope_version, resource_id) VALUES ",
    "INSERT INTO log (time_ns, observed_ns, severity_number, severity_text, body,"
    " attributes, trace_id, span_id, flags, scope_name, scope_version, resource_id) VALUES ",
};
static const int insert_cols[2] = { SPAN_COLS, LOG_COLS };

static const char *const stream_names[SPOOL_STREAM_COUNT] = { "span", "log", "error" };
static const enum stmt_id stream_delete[SPOOL_STREAM_COUNT] = {
    ST_DEL_SPANS, ST_DEL_LOGS, ST_DEL_ERRORS,
};

struct spool {
    sqlite3 *db;
    walvfs *vfs;                /* writers: the WAL written one commit at a time */
    sqlite3_stmt *st[ST_COUNT];
    sqlite3_stmt *multi[2][MULTI_SLOTS];  /* [0 span, 1 log][multi_slot(rows)] */
    int readonly;
    int no_checkpoint;          /* SPOOL_NO_CHECKPOINT */
    int ckpt_at;                /* WAL frames at which this writer checkpoints next */
    int wal_frames;             /* in the WAL after this handle's last commit */
    int64_t lock_deadline;      /* CLOCK_MONOTONIC ns; 0: do not wait for locks */
    int64_t wait_start;         /* when the current lock wait began */
    int64_t work_deadline;      /* 0: statements may run as long as they need */
    int64_t op_budget_ns;
    int64_t pending_dropped;
    int64_t default_max_pages;  /* PRAGMA max_page_count when opened */
    struct { char *json; int64_t id; } res[RES_CACHE];
    unsigned res_next;
    int prep_rc;                /* why the last stmt() failed */
    char errmsg[256];
};

/* ---- small helpers ------------------------------------------------------ */

__attribute__((format(printf, 3, 4)))
static void put_err(char *buf, size_t size, const char *fmt, ...)
{
    if (buf == NULL || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static int busy_wait(void *arg, int count)
{
    spool *s = arg;
    int64_t now = tstamp_mono_ns();
    if (count == 0)
        s->wait_start = now;
    if (s->lock_deadline == 0 || now >= s->lock_deadline)
        return 0;
    /* A writer holds the lock for about 100 us: yield for a short while
     * (a sleep would oversleep by the timer slack), then sleep in growing
     * steps, never past the deadline. */
    int64_t waited = now - s->wait_start;
    if (waited < BUSY_SPIN_NS) {
        sched_yield();
        return 1;
    }
    int64_t wait = BUSY_SLEEP_NS;
    while (wait < BUSY_SLEEP_MAX_NS && wait < waited / 4)
        wait *= 2;
    if (wait > s->lock_deadline - now)
        wait = s->lock_deadline - now;
    struct timespec ts = { (time_t)(wait / 1000000000), (long)(wait % 1000000000) };
    nanosleep(&ts, NULL);
    return 1;
}

static int progress_check(void *arg)
{
    spool *s = arg;
    return s->work_deadline != 0 && tstamp_mono_ns() > s->work_deadline;
}

static void op_begin(spool *s, int64_t budget_ns, int limit_work)
{
    int64_t now = tstamp_mono_ns();
    s->lock_deadline = now + budget_ns;
    s->work_deadline = limit_work ? now + budget_ns : 0;
}

static void op_end(spool *s)
{
    s->lock_deadline = 0;
    s->work_deadline = 0;
}

/* Called after each commit of this connection with the WAL's size in frames
 * (instead of SQLite's autocheckpoint, which, once the WAL is past its
 * threshold, checkpoints, and so syncs, after every commit).
 *
 * The WAL starts over only when a writer begins while every frame is back in
 * the database; with writers back to back that moment never comes and the
 * WAL would grow without end. So: a PASSIVE checkpoint each time the WAL
 * grew by CKPT_FRAMES (it waits for nobody), and, when the WAL is past
 * RESTART_FRAMES all the same, a RESTART checkpoint, which holds other
 * writers back (for at most CKPT_WAIT_NS, then gives up) until the last
 * frames are copied, so that the next writer starts the WAL over. Both take
 * about as long as their fsyncs (10 to 20 ms here): the RESTART, which stalls
 * every writer, comes once per 8000 frames (32 MiB of WAL, which
 * WAL_LIMIT_BYTES keeps rather than truncating and growing again). */
static int wal_commit_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    spool *s = arg;
    s->wal_frames = frames;
    if (s->no_checkpoint)
        return SQLITE_OK;
    if (frames < CKPT_FRAMES) {
        s->ckpt_at = CKPT_FRAMES;
        return SQLITE_OK;
    }
    if (frames < s->ckpt_at)
        return SQLITE_OK;
    int64_t lock = s->lock_deadline, work = s->work_deadline;
    s->lock_deadline = tstamp_mono_ns() + CKPT_WAIT_NS;
    s->work_deadline = 0;
    int mode = frames >= RESTART_FRAMES ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE;
    sqlite3_wal_checkpoint_v2(db, name, mode, NULL, NULL);
    s->lock_deadline = lock;
    s->work_deadline = work;
    s->ckpt_at = frames + CKPT_FRAMES;
    return SQLITE_OK;
}

/* The status for an SQLite result, looking at errno where SQLite's code is
 * too coarse (a full disk or read-only file system behind an I/O error). */
static int status_of(spool *s, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK: case SQLITE_ROW: case SQLITE_DONE:
        return SPOOL_OK;
    case SQLITE_BUSY: case SQLITE_LOCKED: case SQLITE_INTERRUPT:
        return SPOOL_BUSY;
    case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH:
        return SPOOL_READONLY;
    case SQLITE_FULL:
        return SPOOL_FULL;
    case SQLITE_CONSTRAINT: case SQLITE_MISMATCH: case SQLITE_TOOBIG:
        return SPOOL_INVALID;
    case SQLITE_CANTOPEN: case SQLITE_IOERR: {
        int e = s != NULL && s->db != NULL ? sqlite3_system_errno(s->db) : 0;
        if (e == ENOSPC || e == EDQUOT)
            return SPOOL_FULL;
        if (e == EROFS || e == EACCES || e == EPERM)
            return SPOOL_READONLY;
        return (rc & 0xff) == SQLITE_CANTOPEN ? SPOOL_CANTOPEN : SPOOL_ERROR;
    }
    default:
        return SPOOL_ERROR;
    }
}

/* Records the failure of `what` and returns its status. */
static int fail(spool *s, int rc, const char *what)
{
    int status = status_of(s, rc);
    if ((rc & 0xff) == SQLITE_INTERRUPT)
        put_err(s->errmsg, sizeof s->errmsg, "%s: time budget exhausted", what);
    else
        put_err(s->errmsg, sizeof s->errmsg, "%s: %s", what, sqlite3_errmsg(s->db));
    return status;
}

/* The status when stmt() failed; errmsg already says why. */
static int prep_failed(spool *s)
{
    return status_of(s, s->prep_rc);
}

/* The cached statement, prepared on first use; NULL (with errmsg) on failure. */
static sqlite3_stmt *stmt(spool *s, enum stmt_id id)
{
    if (s->st[id] == NULL) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->st[id], NULL);
        if (rc != SQLITE_OK) {
            put_err(s->errmsg, sizeof s->errmsg, "prepare: %s", sqlite3_errmsg(s->db));
            s->prep_rc = rc;
            s->st[id] = NULL;
        }
    }
    return s->st[id];
}

/* Steps a statement without results to completion; returns the SQLite code
 * (SQLITE_DONE on success) and leaves the statement reset. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

static int run_id(spool *s, enum stmt_id id)
{
    sqlite3_stmt *st = stmt(s, id);
    return st != NULL ? run(st) : s->prep_rc;
}

/* Runs a single-row, single-int query; returns SQLITE_ROW with *v set (and
 * *is_null when given), SQLITE_DONE when there is no row, or an error. */
static int query_int(sqlite3_stmt *st, int64_t *v, int *is_null)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (is_null != NULL)
            *is_null = sqlite3_column_type(st, 0) == SQLITE_NULL;
        *v = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    return rc;
}

static void rollback(spool *s)
{
    s->work_deadline = 0;
    if (!sqlite3_get_autocommit(s->db))
        run_id(s, ST_ROLLBACK);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Binds a fixed-size id field: "" as NULL; the length is bounded by the field. */
static void bind_id(sqlite3_stmt *st, int i, const char *v, size_t size)
{
    size_t n = strnlen(v, size);
    if (n == 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, (int)n, SQLITE_STATIC);
}

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
    size_t n = 0;
    if (src != NULL) {
        n = strnlen((const char *)src, size - 1);
        memcpy(dst, src, n);
    }
    dst[n] = '\0';
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static uint64_t fnv1a(const char *p)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *p != '\0'; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    return h;
}

const char *spool_strstatus(int status)
{
    switch (status) {
    case SPOOL_OK: return "ok";
    case SPOOL_ERROR: return "error";
    case SPOOL_BUSY: return "busy";
    case SPOOL_READONLY: return "read-only";
    case SPOOL_FULL: return "full";
    case SPOOL_CANTOPEN: return "cannot open";
    case SPOOL_INVALID: return "invalid record";
    case SPOOL_NOTFOUND: return "not found";
    default: return "unknown status";
    }
}

const char *spool_errmsg(const spool *s)
{
    return s != NULL ? s->errmsg : "no spool";
}

const char *spool_stream_name(spool_stream st)
{
    return (unsigned)st < SPOOL_STREAM_COUNT ? stream_names[st] : NULL;
}

int spool_stream_parse(const char *name, spool_stream *out)
{
    for (unsigned i = 0; name != NULL && i < SPOOL_STREAM_COUNT; i++) {
        if (strcmp(name, stream_names[i]) == 0) {
            *out = (spool_stream)i;
            return SPOOL_OK;
        }
    }
    return SPOOL_NOTFOUND;
}

/* ---- migrations ---------------------------------------------------------- */

static int read_version(spool *s, int *version)
{
    sqlite3_stmt *st = stmt(s, ST_USER_VERSION);
    int64_t v = 0;
    if (st == NULL)
        return prep_failed(s);
    int rc = query_int(st, &v, NULL);
    if (rc != SQLITE_ROW)
        return fail(s, rc, "reading the schema version");
    *version = (int)v;
    return SPOOL_OK;
}

int spool_schema_version(spool *s, int *version)
{
    if (s == NULL || version == NULL)
        return SPOOL_ERROR;
    op_begin(s, s->op_budget_ns, 0);
    int status = read_version(s, version);
    op_end(s);
    return status;
}

/* Refuses files that are not spools: a database with tables but no version,
 * or one stamped by another application. */
static int check_identity(spool *s, int version)
{
    int64_t v = 0;
    sqlite3_stmt *st = stmt(s, version == 0 ? ST_TABLE_COUNT : ST_APP_ID);
    if (st == NULL)
        return prep_failed(s);
    int rc = query_int(st, &v, NULL);
    if (rc != SQLITE_ROW)
        return fail(s, rc, "reading the file's identity");
    if (version == 0 && v != 0) {
        put_err(s->errmsg, sizeof s->errmsg,
                "not a spool: the file has tables but no schema version");
        return SPOOL_ERROR;
    }
    if (version != 0 && v != APPLICATION_ID) {
        put_err(s->errmsg, sizeof s->errmsg,
                "not a spool: application_id is %" PRId64, v);
        return SPOOL_ERROR;
    }
    return SPOOL_OK;
}

/* *version, once the file is known to be a spool (or empty). The version
 * and the identity come from one snapshot: another process may be creating
 * the file, and its tables and version arrive in one commit. */
static int identify(spool *s, int *version)
{
    int rc = run_id(s, ST_BEGIN_READ);
    if (rc != SQLITE_DONE)
        return fail(s, rc, "reading the schema version");
    int status = read_version(s, version);
    if (status == SPOOL_OK)
        status = check_identity(s, *version);
    if (!sqlite3_get_autocommit(s->db))
        run_id(s, ST_ROLLBACK);
    return status;
}

/* One step, in its own write transaction with the version it reaches. */
static int apply_step(spool *s, const spool_migration *step)
{
    char sql[64];
    int version = 0, rc, status;

    rc = run_id(s, ST_BEGIN);
    if (rc != SQLITE_DONE)
        return fail(s, rc, "starting a migration");
    status = read_version(s, &version);        /* another process may have done it */
    if (status != SPOOL_OK || version >= step->version)
        goto done;
    status = check_identity(s, version);
    if (status != SPOOL_OK)
        goto done;
    if (version != step->version - 1) {
        put_err(s->errmsg, sizeof s->errmsg, "no migration from version %d to %d",
                version, step->version - 1);
        status = SPOOL_ERROR;
        goto done;
    }
    char *msg = NULL;
    rc = sqlite3_exec(s->db, step->sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK) {
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", step->version);
        rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        status = status_of(s, rc);
        put_err(s->errmsg, sizeof s->errmsg, "migration to version %d: %s", step->version,
                msg != NULL ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        goto done;
    }
    rc = run_id(s, ST_COMMIT);
    if (rc != SQLITE_DONE)
        status = fail(s, rc, "committing a migration");
done:
    rollback(s);
    return status;
}

/* Reinstalls the views when their text differs from what the file has. */
static int install_views(spool *s)
{
    char hash[17];
    snprintf(hash, sizeof hash, "%016" PRIx64, fnv1a(spool_views_sql));
    int rc, status = SPOOL_OK;
    for (int locked = 0; locked < 2; locked++) {
        sqlite3_stmt *get = stmt(s, ST_META_GET);
        if (get == NULL) {
            status = prep_failed(s);
            break;
        }
        sqlite3_bind_text(get, 1, "views_hash", -1, SQLITE_STATIC);
        rc = sqlite3_step(get);
        int same = rc == SQLITE_ROW && sqlite3_column_type(get, 0) == SQLITE_TEXT &&
                   strcmp(col_text(get, 0), hash) == 0;
        sqlite3_reset(get);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            status = fail(s, rc, "reading the views hash");
            break;
        }
        if (same)
            break;
        if (!locked) {
            rc = run_id(s, ST_BEGIN);
            if (rc != SQLITE_DONE) {
                status = fail(s, rc, "installing the views");
                break;
            }
            continue;
        }
        char *msg = NULL;
        rc = sqlite3_exec(s->db, spool_views_sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            status = status_of(s, rc);
            put_err(s->errmsg, sizeof s->errmsg, "installing the views: %s",
                    msg != NULL ? msg : sqlite3_errmsg(s->db));
            sqlite3_free(msg);
            break;
        }
        sqlite3_stmt *set = stmt(s, ST_META_SET);
        if (set == NULL) {
            status = prep_failed(s);
            break;
        }
        sqlite3_bind_text(set, 1, "views_hash", -1, SQLITE_STATIC);
        sqlite3_bind_text(set, 2, hash, -1, SQLITE_TRANSIENT);
        rc = run(set);
        if (rc == SQLITE_DONE)
            rc = run_id(s, ST_COMMIT);
        if (rc != SQLITE_DONE)
            status = fail(s, rc, "installing the views");
    }
    rollback(s);
    return status;
}

static int migrate(spool *s, const spool_migration *steps, size_t n, int known)
{
    int version = 0;
    int status = identify(s, &version);
    if (status != SPOOL_OK)
        return status;
    if (version > known) {
        put_err(s->errmsg, sizeof s->errmsg,
                "the spool has schema version %d; this program knows up to %d",
                version, known);
        return SPOOL_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        if (steps[i].version <= version)
            continue;
        status = apply_step(s, &steps[i]);
        if (status != SPOOL_OK)
            return status;
        version = steps[i].version;
    }
    return install_views(s);
}

int spool_migrate_with(spool *s, const spool_migration *steps, size_t n_steps)
{
    if (s == NULL || (steps == NULL && n_steps > 0))
        return SPOOL_ERROR;
    if (s->readonly) {
        put_err(s->errmsg, sizeof s->errmsg, "opened read-only");
        return SPOOL_READONLY;
    }
    int known = n_steps > 0 ? steps[n_steps - 1].version : 0;
    op_begin(s, s->op_budget_ns, 0);
    int status = migrate(s, steps, n_steps, known);
    op_end(s);
    return status;
}

/* ---- opening and closing ------------------------------------------------ */

static int dir_writable(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return access(".", W_OK) == 0;
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1;
    if (n >= sizeof dir)
        return 1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return access(dir, W_OK) == 0;
}

/* A status for errors while setting up: SQLite reports a directory where it
 * cannot create the -wal or -shm file as "unable to open". */
static int setup_fail(spool *s, int rc, const char *what, const char *path)
{
    int status = fail(s, rc, what);
    if (status != SPOOL_OK && status != SPOOL_BUSY && !dir_writable(path)) {
        put_err(s->errmsg, sizeof s->errmsg, "%s: the directory is not writable", what);
        status = SPOOL_READONLY;
    }
    return status;
}

static int create_file(const char *path, unsigned mode, char *err, size_t err_size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd >= 0) {
        /* exactly this mode, whatever the umask: exporters read it by group */
        int ok = fchmod(fd, (mode_t)mode) == 0;
        close(fd);
        if (!ok) {
            put_err(err, err_size, "chmod %s: %s", path, strerror(errno));
            return SPOOL_ERROR;
        }
        return SPOOL_OK;
    }
    int e = errno;
    if (e == EEXIST)
        return SPOOL_OK;
    put_err(err, err_size, "create %s: %s", path, strerror(e));
    if (e == ENOENT || e == ENOTDIR)
        return SPOOL_CANTOPEN;
    if (e == EACCES || e == EPERM || e == EROFS)
        return SPOOL_READONLY;
    if (e == ENOSPC || e == EDQUOT)
        return SPOOL_FULL;
    return SPOOL_CANTOPEN;
}

static int configure(spool *s, const char *path)
{
    int64_t pages = 0;
    int rc;
    sqlite3_stmt *st = stmt(s, ST_PAGE_COUNT);
    if (st == NULL)
        return setup_fail(s, s->prep_rc, "reading the file", path);
    rc = query_int(st, &pages, NULL);
    if (rc != SQLITE_ROW)
        return setup_fail(s, rc, "reading the file", path);
    /* before changing anything in a file that may not be ours */
    if (pages > 0) {
        int version = 0;
        int status = identify(s, &version);
        if (status != SPOOL_OK)
            return status;
    }
    if (s->readonly)
        return SPOOL_OK;

    /* Processes switching a new file to WAL at once: SQLite answers some of
     * them SQLITE_BUSY at once, without its busy handler, rather than risk a
     * deadlock. They try again, within the budget. */
    sqlite3_stmt *jm = NULL;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &jm, NULL);
    for (int tries = 0; rc == SQLITE_OK; tries++) {
        rc = sqlite3_step(jm);
        if ((rc & 0xff) != SQLITE_BUSY || !busy_wait(s, tries))
            break;
        sqlite3_reset(jm);
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_ROW) {
        if (sqlite3_stricmp(col_text(jm, 0), "wal") != 0) {
            put_err(s->errmsg, sizeof s->errmsg, "cannot use WAL mode (journal mode %s)",
                    col_text(jm, 0));
            sqlite3_finalize(jm);
            return dir_writable(path) ? SPOOL_ERROR : SPOOL_READONLY;
        }
    }
    sqlite3_finalize(jm);
    if (rc != SQLITE_ROW && rc != SQLITE_OK)
        return setup_fail(s, rc, "setting WAL mode", path);

    char sql[160];
    snprintf(sql, sizeof sql,
             "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = %d;"
             " PRAGMA wal_autocheckpoint = 0;", WAL_LIMIT_BYTES);
    rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return setup_fail(s, rc, "setting pragmas", path);
    s->ckpt_at = CKPT_FRAMES;
    sqlite3_wal_hook(s->db, wal_commit_hook, s);
    sqlite3_stmt *mp = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA max_page_count", -1, &mp, NULL) == SQLITE_OK &&
        sqlite3_step(mp) == SQLITE_ROW)
        s->default_max_pages = sqlite3_column_int64(mp, 0);
    sqlite3_finalize(mp);
    return SPOOL_OK;
}

int spool_open(const char *path, unsigned flags, unsigned mode, spool **out,
               char *err, size_t err_size)
{
    if (out != NULL)
        *out = NULL;
    if (path == NULL || *path == '\0' || out == NULL) {
        put_err(err, err_size, "spool_open: no path");
        return SPOOL_ERROR;
    }
    int rdonly = (flags & SPOOL_RDONLY) != 0;
    if (mode == 0)
        mode = SPOOL_DEFAULT_MODE;
    if ((flags & SPOOL_CREATE) && !rdonly) {
        int status = create_file(path, mode, err, err_size);
        if (status != SPOOL_OK)
            return status;
    } else {
        struct stat sb;
        if (stat(path, &sb) != 0) {
            put_err(err, err_size, "%s: %s", path, strerror(errno));
            return SPOOL_CANTOPEN;
        }
    }

    spool *s = calloc(1, sizeof *s);
    if (s == NULL) {
        put_err(err, err_size, "out of memory");
        return SPOOL_ERROR;
    }
    s->readonly = rdonly;
    s->no_checkpoint = (flags & SPOOL_NO_CHECKPOINT) != 0;
    s->op_budget_ns = SPOOL_DEFAULT_OP_BUDGET_NS;
    int oflags = (rdonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
    if (!rdonly)
        s->vfs = walvfs_new();      /* NULL: SQLite's own VFS, which works as well */
    int rc = sqlite3_open_v2(path, &s->db, oflags, s->vfs != NULL ? walvfs_name(s->vfs) : NULL);
    int status;
    if (rc != SQLITE_OK) {
        status = s->db != NULL ? setup_fail(s, rc, "open", path) : SPOOL_ERROR;
        goto failed;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if (!rdonly && sqlite3_db_readonly(s->db, "main") == 1) {
        put_err(s->errmsg, sizeof s->errmsg, "the file is not writable");
        status = SPOOL_READONLY;
        goto failed;
    }
    if (s->no_checkpoint)           /* not even the last one to close */
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    if (flags & SPOOL_SMALL_CACHE) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", SPOOL_SMALL_CACHE_KIB);
        sqlite3_exec(s->db, sql, NULL, NULL, NULL);     /* a hint: failing is harmless */
    }
    sqlite3_busy_handler(s->db, busy_wait, s);
    sqlite3_progress_handler(s->db, PROGRESS_OPS, progress_check, s);

    /* Creating or migrating a file that other processes open at the same
     * moment may wait for them; opening happens after a response, never
     * before one, so it gets the longer budget. */
    op_begin(s, SPOOL_DEFAULT_OP_BUDGET_NS, 0);
    status = configure(s, path);
    if (status == SPOOL_OK) {
        if (rdonly) {
            int version = 0;
            status = read_version(s, &version);
            if (status == SPOOL_OK && version != SPOOL_SCHEMA_VERSION) {
                put_err(s->errmsg, sizeof s->errmsg,
                        "the spool has schema version %d, this program reads %d%s",
                        version, SPOOL_SCHEMA_VERSION,
                        version < SPOOL_SCHEMA_VERSION ? ": open it read-write once" : "");
                status = SPOOL_ERROR;
            }
        } else {
            status = migrate(s, builtin_steps,
                             sizeof builtin_steps / sizeof builtin_steps[0],
                             SPOOL_SCHEMA_VERSION);
        }
    }
    op_end(s);
    if (status != SPOOL_OK)
        goto failed;
    *out = s;
    return SPOOL_OK;

failed:
    put_err(err, err_size, "%s: %s", path, s->errmsg);
    s->pending_dropped = 0;
    spool_close(s);
    return status;
}

static int counter_add_in_tx(spool *s, const char *name, int64_t delta);

void spool_close(spool *s)
{
    if (s == NULL)
        return;
    if (s->pending_dropped > 0 && !s->readonly && s->db != NULL) {
        op_begin(s, CLOSE_BUDGET_NS, 1);
        if (run_id(s, ST_BEGIN) == SQLITE_DONE &&
            counter_add_in_tx(s, "dropped_records", s->pending_dropped) == SQLITE_DONE &&
            run_id(s, ST_COMMIT) == SQLITE_DONE)
            s->pending_dropped = 0;
        rollback(s);
        op_end(s);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    for (int i = 0; i < 2 * MULTI_SLOTS; i++)
        sqlite3_finalize(s->multi[i / MULTI_SLOTS][i % MULTI_SLOTS]);
    for (int i = 0; i < RES_CACHE; i++)
        free(s->res[i].json);
    /* the VFS must outlive the connection: kept (leaked) if it would not close */
    if (sqlite3_close(s->db) == SQLITE_OK)
        walvfs_free(s->vfs);
    free(s);
}

void spool_set_no_checkpoint(spool *s, int no_checkpoint)
{
    if (s == NULL)
        return;
    s->no_checkpoint = no_checkpoint != 0;
    s->ckpt_at = CKPT_FRAMES;
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, s->no_checkpoint, (int *)NULL);
}

int spool_wal_pages(const spool *s)
{
    return s != NULL ? s->wal_frames : 0;
}

int spool_checkpoint_mode(spool *s, int mode, int *wal_pages, int *copied)
{
    if (wal_pages != NULL)
        *wal_pages = 0;
    if (copied != NULL)
        *copied = 0;
    if (s == NULL || (mode != SPOOL_CKPT_PASSIVE && mode != SPOOL_CKPT_RESTART))
        return SPOOL_ERROR;
    if (s->readonly)
        return SPOOL_READONLY;
    int log = 0, done = 0;
    op_begin(s, mode == SPOOL_CKPT_RESTART ? CKPT_WAIT_NS : s->op_budget_ns, 0);
    int rc = sqlite3_wal_checkpoint_v2(s->db, "main", mode == SPOOL_CKPT_RESTART ?
                                       SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE,
                                       &log, &done);
    op_end(s);
    if (rc != SQLITE_OK)
        return fail(s, rc, "checkpoint");
    if (wal_pages != NULL)
        *wal_pages = log;
    if (copied != NULL)
        *copied = done;
    return SPOOL_OK;
}

int spool_checkpoint(spool *s, int *wal_pages)
{
    int log = 0, done = 0;
    int status = spool_checkpoint_mode(s, SPOOL_CKPT_PASSIVE, &log, &done);
    if (wal_pages != NULL)
        *wal_pages = log > done ? log - done : 0;
    return status;
}

void spool_set_budget(spool *s, int64_t budget_ns)
{
    if (s != NULL)
        s->op_budget_ns = budget_ns > 0 ? budget_ns : SPOOL_DEFAULT_OP_BUDGET_NS;
}

int spool_set_size_limit(spool *s, int64_t max_bytes)
{
    if (s == NULL || max_bytes < 0)
        return SPOOL_ERROR;
    int64_t page_size = 0;
    sqlite3_stmt *st = stmt(s, ST_PAGE_SIZE);
    if (st == NULL)
        return prep_failed(s);
    op_begin(s, s->op_budget_ns, 0);
    int rc = query_int(st, &page_size, NULL);
    op_end(s);
    if (rc != SQLITE_ROW || page_size <= 0)
        return fail(s, rc, "reading the page size");
    /* 0 restores the ceiling the connection started with */
    int64_t pages = max_bytes > 0 ? max_bytes / page_size : s->default_max_pages;
    if (max_bytes == 0 && pages < 1)
        pages = 1073741823;         /* SQLite's default ceiling */
    if (pages < 1)
        pages = 1;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %" PRId64, pages);
    rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail(s, rc, "setting the size limit");
    return SPOOL_OK;
}

/* ---- writing ----------------------------------------------------------- */

/* The resource row for json, from the cache when its row is still there
 * (pruning may have deleted it; ids are compared with the text, so a stale
 * entry can never point at another resource). Inside the write transaction. */
static int resource_id(spool *s, const char *json, int64_t *id)
{
    sqlite3_stmt *st;
    int rc;
    for (int i = 0; i < RES_CACHE; i++) {
        if (s->res[i].json == NULL || strcmp(s->res[i].json, json) != 0)
            continue;
        if ((st = stmt(s, ST_RES_CHECK)) == NULL)
            return s->prep_rc;
        sqlite3_bind_int64(st, 1, s->res[i].id);
        sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW) {
            *id = s->res[i].id;
            return SQLITE_DONE;
        }
        if (rc != SQLITE_DONE)
            return rc;
        free(s->res[i].json);
        s->res[i].json = NULL;
        break;
    }
    if ((st = stmt(s, ST_RES_INSERT)) == NULL)
        return s->prep_rc;
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    rc = run(st);
    if (rc != SQLITE_DONE)
        return rc;
    if ((st = stmt(s, ST_RES_FIND)) == NULL)
        return s->prep_rc;
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    rc = query_int(st, id, NULL);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
    char *copy = strdup(json);
    if (copy != NULL) {                         /* no copy: just no caching */
        unsigned slot = s->res_next++ % RES_CACHE;
        free(s->res[slot].json);
        s->res[slot].json = copy;
        s->res[slot].id = *id;
    }
    return SQLITE_DONE;
}

/* The cached INSERT of `rows` rows into span (table 0) or log (table 1). */
/* How many rows the next statement takes, of `left` still to insert. */
static size_t multi_rows(size_t left)
{
    if (left <= MULTI_SMALL)
        return left;
    size_t k = MULTI_MAX;
    while (k > left)
        k /= 2;
    return k > MULTI_SMALL ? k : MULTI_SMALL;
}

static sqlite3_stmt *multi_stmt(spool *s, int table, size_t rows)
{
    size_t i = rows <= MULTI_SMALL ? rows - 1 : rows == 16 ? MULTI_SMALL
             : rows == 32 ? MULTI_SMALL + 1 : MULTI_SMALL + 2;
    sqlite3_stmt **slot = &s->multi[table][i];
    if (*slot != NULL)
        return *slot;
    size_t cols = (size_t)insert_cols[table], len = strlen(insert_prefix[table]);
    char *sql = malloc(len + rows * (2 * cols + 3) + 1);
    if (sql == NULL) {
        s->prep_rc = SQLITE_NOMEM;
        put_err(s->errmsg, sizeof s->errmsg, "out of memory");
        return NULL;
    }
    char *p = sql + len;
    memcpy(sql, insert_prefix[table], len);
    for (size_t r = 0; r < rows; r++) {
        *p++ = r > 0 ? ',' : ' ';
        *p++ = '(';
        for (size_t c = 0; c < cols; c++) {
            *p++ = '?';
            *p++ = c + 1 < cols ? ',' : ')';
        }
    }
    *p = '\0';
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
    free(sql);
    if (rc != SQLITE_OK) {
        put_err(s->errmsg, sizeof s->errmsg, "prepare: %s", sqlite3_errmsg(s->db));
        s->prep_rc = rc;
        *slot = NULL;
    }
    return *slot;
}

static void bind_span(sqlite3_stmt *st, int at, const spool_batch *b, const spool_span *sp,
                      int64_t res)
{
    bind_id(st, at + 1, sp->trace_id, sizeof sp->trace_id);
    bind_id(st, at + 2, sp->span_id, sizeof sp->span_id);
    bind_id(st, at + 3, sp->parent_span_id, sizeof sp->parent_span_id);
    bind_text_or_null(st, at + 4, sp->name);
    sqlite3_bind_int(st, at + 5, sp->kind);
    sqlite3_bind_int64(st, at + 6, sp->start_ns);
    sqlite3_bind_int64(st, at + 7, sp->end_ns);
    sqlite3_bind_int(st, at + 8, sp->status_code);
    bind_text_or_null(st, at + 9, sp->status_message);
    sqlite3_bind_text(st, at + 10, sp->attributes_json ? sp->attributes_json : "{}", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, at + 11, sp->events_json ? sp->events_json : "[]", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, at + 12, sp->links_json ? sp->links_json : "[]", -1,
                      SQLITE_STATIC);
    bind_text_or_null(st, at + 13, sp->trace_state);
    sqlite3_bind_int64(st, at + 14, sp->flags);
    sqlite3_bind_text(st, at + 15, b->scope_name ? b->scope_name : "", -1, SQLITE_STATIC);
    bind_text_or_null(st, at + 16, b->scope_version);
    sqlite3_bind_int64(st, at + 17, res);
}

static void bind_log(sqlite3_stmt *st, int at, const spool_batch *b, const spool_log *lg,
                     int64_t res, int64_t now)
{
    sqlite3_bind_int64(st, at + 1, lg->time_ns);
    sqlite3_bind_int64(st, at + 2, lg->observed_ns != 0 ? lg->observed_ns : now);
    sqlite3_bind_int(st, at + 3, lg->severity_number);
    bind_text_or_null(st, at + 4, lg->severity_text);
    bind_text_or_null(st, at + 5, lg->body);
    sqlite3_bind_text(st, at + 6, lg->attributes_json ? lg->attributes_json : "{}", -1,
                      SQLITE_STATIC);
    bind_id(st, at + 7, lg->trace_id, sizeof lg->trace_id);
    bind_id(st, at + 8, lg->span_id, sizeof lg->span_id);
    sqlite3_bind_int64(st, at + 9, lg->flags);
    sqlite3_bind_text(st, at + 10, b->scope_name ? b->scope_name : "", -1, SQLITE_STATIC);
    bind_text_or_null(st, at + 11, b->scope_version);
    sqlite3_bind_int64(st, at + 12, res);
}

/* The rows of one stream (0 spans, 1 logs) of n batches, in order, up to
 * MULTI_MAX rows a statement; res[i] is the resource row of batch i. */
static int insert_rows(spool *s, int table, const spool_batch *b, size_t n, const int64_t *res,
                       int64_t now)
{
    size_t bi = 0, ri = 0, left = 0;
    for (size_t i = 0; i < n; i++)
        left += table == 0 ? b[i].n_spans : b[i].n_logs;
    int rc = SQLITE_DONE;
    while (rc == SQLITE_DONE && left > 0) {
        size_t k = multi_rows(left);
        sqlite3_stmt *st = multi_stmt(s, table, k);
        if (st == NULL)
            return s->prep_rc;
        for (size_t r = 0; r < k; r++) {
            while (ri >= (table == 0 ? b[bi].n_spans : b[bi].n_logs)) {
                bi++;
                ri = 0;
            }
            if (table == 0)
                bind_span(st, (int)r * SPAN_COLS, &b[bi], &b[bi].spans[ri], res[bi]);
            else
                bind_log(st, (int)r * LOG_COLS, &b[bi], &b[bi].logs[ri], res[bi], now);
            ri++;
        }
        left -= k;
        rc = run(st);
    }
    return rc;
}

static int insert_error(spool *s, const spool_error *er, int64_t res)
{
    sqlite3_stmt *st = stmt(s, ST_ERROR_INSERT);
    if (st == NULL)
        return s->prep_rc;
    bind_id(st, 1, er->uuid, sizeof er->uuid);
    sqlite3_bind_int64(st, 2, er->time_ns);
    sqlite3_bind_text(st, 3, er->level ? er->level : "error", -1, SQLITE_STATIC);
    bind_text_or_null(st, 4, er->class_name);
    sqlite3_bind_text(st, 5, er->message ? er->message : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, er->frames_json ? er->frames_json : "[]", -1, SQLITE_STATIC);
    bind_text_or_null(st, 7, er->request_json);
    bind_text_or_null(st, 8, er->context);
    bind_id(st, 9, er->trace_id, sizeof er->trace_id);
    bind_id(st, 10, er->span_id, sizeof er->span_id);
    bind_text_or_null(st, 11, er->fingerprint);
    bind_text_or_null(st, 12, er->custom_json);
    sqlite3_bind_int64(st, 13, res);
    return run(st);
}

static int counter_add_in_tx(spool *s, const char *name, int64_t delta)
{
    sqlite3_stmt *st = stmt(s, ST_COUNTER_ADD);
    if (st == NULL)
        return s->prep_rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, delta);
    return run(st);
}

/* True for a field of `size` bytes holding size - 1 lowercase hex digits,
 * not all zero (W3C), or "" when the id is optional. SQL checks the length
 * only: a hex test there costs more than the rest of the row. */
static int valid_id(const char *v, size_t size, int optional)
{
    /* 1 for '0' .. '9' and 'a' .. 'f' */
    static const unsigned char hex[256] = {
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
        ['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
        ['e'] = 1, ['f'] = 1,
    };
    if (v[0] == '\0')
        return optional;
    size_t n = size - 1;
    unsigned ok = 1, nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        ok &= hex[c];               /* the NUL of a short id fails here too */
        nonzero |= c ^ '0';
    }
    return ok && v[n] == '\0' && nonzero != 0;
}

/* ---- JSON syntax (RFC 8259, what json_valid() accepts), without SQLite:
 * the span and log tables no longer check it themselves (see spool_v2_sql). */

#define JSON_MAX_DEPTH 2000             /* as SQLite's JSON functions */

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* 1 for the bytes a JSON string holds as they are: not '"', '\\' or a
 * control character (the NUL that ends the text included). */
static const unsigned char json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,  /* 50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 80 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 90 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* a0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* b0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* c0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* d0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* e0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* f0 */
};

static const char *json_string_end(const char *p)
{
    for (p++;; p++) {
        while (json_plain[(unsigned char)*p])
            p++;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)                   /* control characters, and the end */
            return NULL;
        if (c == '\\') {
            c = (unsigned char)*++p;
            if (c == 'u') {
                if (!is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]))
                    return NULL;
                p += 4;
            } else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
                return NULL;
            }
        }
    }
}

static const char *json_number_end(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (is_digit(*p))
        while (is_digit(*p))
            p++;
    else
        return NULL;
    if (*p == '.') {
        if (!is_digit(*++p))
            return NULL;
        while (is_digit(*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!is_digit(*p))
            return NULL;
        while (is_digit(*p))
            p++;
    }
    return p;
}

/* The end of the value at p (no white space before it), or NULL. */
static const char *json_value_end(const char *p, int depth)
{
    switch (*p) {
    case '"':
        return json_string_end(p);
    case '{': case '[': {
        char close = *p == '{' ? '}' : ']';
        if (depth >= JSON_MAX_DEPTH)
            return NULL;
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                if (*p != '"' || (p = json_string_end(p)) == NULL)
                    return NULL;
                p = json_ws(p);
                if (*p != ':')
                    return NULL;
                p = json_ws(p + 1);
            }
            if ((p = json_value_end(p, depth + 1)) == NULL)
                return NULL;
            p = json_ws(p);
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p = json_ws(p + 1);
        }
    }
    case 't':
        return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return json_number_end(p);
    }
}

/* True when text (NULL: the default, "{}" or "[]") is one JSON object
 * (open '{') or array (open '['), white space around it allowed. */
static int json_is(const char *text, char open)
{
    if (text == NULL)
        return 1;
    const char *p = json_ws(text);
    if (*p != open || (p = json_value_end(p, 0)) == NULL)
        return 0;
    return *json_ws(p) == '\0';
}

static int bad_json(char *err, size_t err_size, const char *kind, size_t i, const char *field,
                    const char *what)
{
    put_err(err, err_size, "spool_write: %s %zu: %s is not a JSON %s", kind, i, field, what);
    return SPOOL_INVALID;
}

static int bad_id(char *err, size_t err_size, const char *kind, size_t i, const char *field)
{
    put_err(err, err_size, "spool_write: %s %zu: %s is not lowercase hex of the right length",
            kind, i, field);
    return SPOOL_INVALID;
}

/* Checks the ids and the JSON texts of the span and log records (error
 * reports: the table checks its own) before anything is locked or written. */
int spool_check_batch(const spool_batch *b, char *err, size_t err_size)
{
    if (b == NULL || (b->n_spans > 0 && b->spans == NULL) || (b->n_logs > 0 && b->logs == NULL) ||
        (b->n_errors > 0 && b->errors == NULL)) {
        put_err(err, err_size, "spool_write: records missing");
        return SPOOL_INVALID;
    }
    for (size_t i = 0; i < b->n_spans; i++) {
        const spool_span *r = &b->spans[i];
        if (!valid_id(r->trace_id, sizeof r->trace_id, 0))
            return bad_id(err, err_size, "span", i, "trace_id");
        if (!valid_id(r->span_id, sizeof r->span_id, 0))
            return bad_id(err, err_size, "span", i, "span_id");
        if (!valid_id(r->parent_span_id, sizeof r->parent_span_id, 1))
            return bad_id(err, err_size, "span", i, "parent_span_id");
        if (!json_is(r->attributes_json, '{'))
            return bad_json(err, err_size, "span", i, "attributes", "object");
        if (!json_is(r->events_json, '['))
            return bad_json(err, err_size, "span", i, "events", "array");
        if (!json_is(r->links_json, '['))
            return bad_json(err, err_size, "span", i, "links", "array");
    }
    for (size_t i = 0; i < b->n_logs; i++) {
        const spool_log *r = &b->logs[i];
        if (!valid_id(r->trace_id, sizeof r->trace_id, 1))
            return bad_id(err, err_size, "log", i, "trace_id");
        if (!valid_id(r->span_id, sizeof r->span_id, 1))
            return bad_id(err, err_size, "log", i, "span_id");
        if (!json_is(r->attributes_json, '{'))
            return bad_json(err, err_size, "log", i, "attributes", "object");
    }
    for (size_t i = 0; i < b->n_errors; i++) {
        const spool_error *r = &b->errors[i];
        if (!valid_id(r->trace_id, sizeof r->trace_id, 1))
            return bad_id(err, err_size, "error", i, "trace_id");
        if (!valid_id(r->span_id, sizeof r->span_id, 1))
            return bad_id(err, err_size, "error", i, "span_id");
    }
    return SPOOL_OK;
}

/* Sets (value != NULL) or deletes the mark, inside the transaction. */
static int mark_in_tx(spool *s, const spool_mark *m)
{
    char key[sizeof MARK_PREFIX + MARK_KEY_MAX];
    snprintf(key, sizeof key, MARK_PREFIX "%s", m->key);
    sqlite3_stmt *st = stmt(s, m->value != NULL ? ST_META_SET : ST_MARK_DELETE);
    if (st == NULL)
        return s->prep_rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (m->value != NULL)
        sqlite3_bind_text(st, 2, m->value, -1, SQLITE_STATIC);
    return run(st);
}

static int check_mark_key(spool *s, const char *key)
{
    if (key == NULL || *key == '\0' || strlen(key) > MARK_KEY_MAX) {
        put_err(s->errmsg, sizeof s->errmsg, "a mark key is 1 to %d bytes", MARK_KEY_MAX);
        return SPOOL_ERROR;
    }
    return SPOOL_OK;
}

/* The resource ids of up to this many batches live on the stack; more take
 * a heap array. */
#define RES_SLOTS 64

int spool_write_batches(spool *s, const spool_batch *b, size_t n, const spool_mark *mark,
                        unsigned flags, int64_t budget_ns)
{
    if (s == NULL || (b == NULL && n > 0))
        return SPOOL_ERROR;
    if (mark != NULL && check_mark_key(s, mark->key) != SPOOL_OK)
        return SPOOL_ERROR;
    size_t n_spans = 0, n_logs = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(flags & SPOOL_CHECKED) &&
            spool_check_batch(&b[i], s->errmsg, sizeof s->errmsg) != SPOOL_OK)
            return SPOOL_INVALID;
        n_spans += b[i].n_spans;
        n_logs += b[i].n_logs;
    }
    if (s->readonly) {
        put_err(s->errmsg, sizeof s->errmsg, "opened read-only");
        return SPOOL_READONLY;
    }
    int64_t res_slots[RES_SLOTS], *res = res_slots;
    if (n > RES_SLOTS && (res = malloc(n * sizeof *res)) == NULL) {
        put_err(s->errmsg, sizeof s->errmsg, "out of memory");
        return SPOOL_ERROR;
    }
    op_begin(s, budget_ns > 0 ? budget_ns : SPOOL_DEFAULT_BUDGET_NS, 1);
    const char *what = "begin";
    int64_t now = tstamp_now_ns();
    int rc = run_id(s, ST_BEGIN);
    if (rc != SQLITE_DONE)
        goto failed;
    /* one lookup per distinct resource (a worker has one) */
    what = "resource";
    for (size_t i = 0; rc == SQLITE_DONE && i < n; i++) {
        const char *json = b[i].resource_json != NULL ? b[i].resource_json : "{}";
        const char *prev = i == 0 ? NULL
                         : b[i - 1].resource_json != NULL ? b[i - 1].resource_json : "{}";
        if (prev != NULL && strcmp(prev, json) == 0)
            res[i] = res[i - 1];
        else
            rc = resource_id(s, json, &res[i]);
    }
    if (rc == SQLITE_DONE && n_spans > 0) {
        what = "span";
        rc = insert_rows(s, 0, b, n, res, now);
    }
    if (rc == SQLITE_DONE && n_logs > 0) {
        what = "log";
        rc = insert_rows(s, 1, b, n, res, now);
    }
    for (size_t i = 0; rc == SQLITE_DONE && i < n; i++) {
        what = "error report";
        for (size_t k = 0; rc == SQLITE_DONE && k < b[i].n_errors; k++)
            rc = insert_error(s, &b[i].errors[k], res[i]);
    }
    if (rc == SQLITE_DONE && s->pending_dropped > 0) {
        what = "counter";
        rc = counter_add_in_tx(s, "dropped_records", s->pending_dropped);
    }
    if (rc == SQLITE_DONE && mark != NULL) {
        what = "mark";
        rc = mark_in_tx(s, mark);
    }
    if (rc != SQLITE_DONE)
        goto failed;
    what = "commit";
    rc = run_id(s, ST_COMMIT);
    if (rc != SQLITE_DONE)
        goto failed;
    s->pending_dropped = 0;
    op_end(s);
    if (res != res_slots)
        free(res);
    return SPOOL_OK;

failed:;
    char buf[64];
    snprintf(buf, sizeof buf, "spool_write (%s)", what);
    int status = fail(s, rc, buf);
    rollback(s);
    op_end(s);
    if (res != res_slots)
        free(res);
    return status;
}

int spool_write(spool *s, const spool_batch *b, int64_t budget_ns)
{
    if (s == NULL || b == NULL)
        return SPOOL_ERROR;
    return spool_write_batches(s, b, 1, NULL, 0, budget_ns);
}

int spool_mark_get(spool *s, const char *key, char *value, size_t size)
{
    if (value != NULL && size > 0)
        value[0] = '\0';
    if (s == NULL || value == NULL || size == 0 || check_mark_key(s, key) != SPOOL_OK)
        return SPOOL_ERROR;
    char k[sizeof MARK_PREFIX + MARK_KEY_MAX];
    snprintf(k, sizeof k, MARK_PREFIX "%s", key);
    sqlite3_stmt *st = stmt(s, ST_META_GET);
    if (st == NULL)
        return prep_failed(s);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    op_begin(s, s->op_budget_ns, 0);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        copy_text(value, size, sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    op_end(s);
    if (rc == SQLITE_ROW)
        return SPOOL_OK;
    if (rc == SQLITE_DONE)
        return SPOOL_NOTFOUND;
    return fail(s, rc, "mark");
}

int spool_mark_set(spool *s, const spool_mark *mark)
{
    if (s == NULL || mark == NULL || check_mark_key(s, mark->key) != SPOOL_OK)
        return SPOOL_ERROR;
    if (s->readonly)
        return SPOOL_READONLY;
    op_begin(s, s->op_budget_ns, 1);
    int rc = mark_in_tx(s, mark);
    op_end(s);
    return rc == SQLITE_DONE ? SPOOL_OK : fail(s, rc, "mark");
}

int spool_mark_each(spool *s, const char *prefix, spool_mark_fn fn, void *ctx)
{
    if (s == NULL || prefix == NULL || fn == NULL || *prefix == '\0' ||
        strlen(prefix) > MARK_KEY_MAX)
        return SPOOL_ERROR;
    char lo[sizeof MARK_PREFIX + MARK_KEY_MAX], hi[sizeof lo];
    snprintf(lo, sizeof lo, MARK_PREFIX "%s", prefix);
    memcpy(hi, lo, sizeof hi);
    size_t len = strlen(hi);
    if ((unsigned char)hi[len - 1] == 0xff)
        return SPOOL_ERROR;
    hi[len - 1] = (char)((unsigned char)hi[len - 1] + 1);
    sqlite3_stmt *st = stmt(s, ST_MARK_LIST);
    if (st == NULL)
        return prep_failed(s);
    /* the keys are copied out first: fn may change marks */
    char (*keys)[MARK_KEY_MAX + 1] = NULL;
    size_t n = 0, cap = 0;
    sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
    op_begin(s, s->op_budget_ns, 0);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = col_text(st, 0);
        if (k == NULL || strlen(k) <= strlen(MARK_PREFIX) ||
            strlen(k) > strlen(MARK_PREFIX) + MARK_KEY_MAX)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            void *grown = realloc(keys, ncap * sizeof *keys);
            if (grown == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            keys = grown;
            cap = ncap;
        }
        snprintf(keys[n++], sizeof keys[0], "%s", k + strlen(MARK_PREFIX));
    }
    sqlite3_reset(st);
    op_end(s);
    int status = rc == SQLITE_DONE ? SPOOL_OK : fail(s, rc, "marks");
    for (size_t i = 0; status == SPOOL_OK && i < n; i++)
        if (fn(ctx, keys[i]) != 0)
            break;
    free(keys);
    return status;
}

void spool_note_dropped(spool *s, int64_t n)
{
    if (s != NULL && n > 0)
        s->pending_dropped += n;
}

int64_t spool_pending_dropped(const spool *s)
{
    return s != NULL ? s->pending_dropped : 0;
}

int64_t spool_take_dropped(spool *s)
{
    if (s == NULL)
        return 0;
    int64_t n = s->pending_dropped;
    s->pending_dropped = 0;
    return n;
}

int spool_counter_add(spool *s, const char *name, int64_t delta)
{
    if (s == NULL || name == NULL)
        return SPOOL_ERROR;
    if (s->readonly)
        return SPOOL_READONLY;
    op_begin(s, s->op_budget_ns, 1);
    int rc = counter_add_in_tx(s, name, delta);
    int status = rc == SQLITE_DONE ? SPOOL_OK : fail(s, rc, "counter");
    op_end(s);
    return status;
}

int spool_counter_get(spool *s, const char *name, int64_t *value)
{
    if (s == NULL || name == NULL || value == NULL)
        return SPOOL_ERROR;
    *value = 0;
    sqlite3_stmt *st = stmt(s, ST_COUNTER_GET);
    if (st == NULL)
        return prep_failed(s);
    op_begin(s, s->op_budget_ns, 0);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = query_int(st, value, NULL);
    op_end(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SPOOL_OK : fail(s, rc, "counter");
}

/* ---- reading ------------------------------------------------------------ */

/* The caller's function for one kind of record. */
typedef union reader_fn {
    spool_span_fn span;
    spool_log_fn log;
    spool_error_fn error;
} reader_fn;

/* Decodes the row st is on and hands it to fn; its id goes to *id. Returns
 * what fn returned (nonzero: stop reading). */
typedef int (*row_fn)(sqlite3_stmt *st, reader_fn fn, void *ctx, int64_t *id);

static int span_row(sqlite3_stmt *st, reader_fn fn, void *ctx, int64_t *id)
{
    spool_span r;
    memset(&r, 0, sizeof r);
    spool_origin o = {
        .id = sqlite3_column_int64(st, 0),
        .resource_id = sqlite3_column_int64(st, 17),
        .resource_json = col_text(st, 18),
        .scope_name = col_text(st, 15),
        .scope_version = col_text(st, 16),
    };
    copy_text(r.trace_id, sizeof r.trace_id, sqlite3_column_text(st, 1));
    copy_text(r.span_id, sizeof r.span_id, sqlite3_column_text(st, 2));
    copy_text(r.parent_span_id, sizeof r.parent_span_id, sqlite3_column_text(st, 3));
    r.name = col_text(st, 4);
    r.kind = sqlite3_column_int(st, 5);
    r.start_ns = sqlite3_column_int64(st, 6);
    r.end_ns = sqlite3_column_int64(st, 7);
    r.status_code = sqlite3_column_int(st, 8);
    r.status_message = col_text(st, 9);
    r.attributes_json = col_text(st, 10);
    r.events_json = col_text(st, 11);
    r.links_json = col_text(st, 12);
    r.trace_state = col_text(st, 13);
    r.flags = (unsigned)sqlite3_column_int64(st, 14);
    *id = o.id;
    return fn.span(ctx, &r, &o);
}

static int log_row(sqlite3_stmt *st, reader_fn fn, void *ctx, int64_t *id)
{
    spool_log r;
    memset(&r, 0, sizeof r);
    spool_origin o = {
        .id = sqlite3_column_int64(st, 0),
        .resource_id = sqlite3_column_int64(st, 12),
        .resource_json = col_text(st, 13),
        .scope_name = col_text(st, 10),
        .scope_version = col_text(st, 11),
    };
    r.time_ns = sqlite3_column_int64(st, 1);
    r.observed_ns = sqlite3_column_int64(st, 2);
    r.severity_number = sqlite3_column_int(st, 3);
    r.severity_text = col_text(st, 4);
    r.body = col_text(st, 5);
    r.attributes_json = col_text(st, 6);
    copy_text(r.trace_id, sizeof r.trace_id, sqlite3_column_text(st, 7));
    copy_text(r.span_id, sizeof r.span_id, sqlite3_column_text(st, 8));
    r.flags = (unsigned)sqlite3_column_int64(st, 9);
    *id = o.id;
    return fn.log(ctx, &r, &o);
}

static int error_row(sqlite3_stmt *st, reader_fn fn, void *ctx, int64_t *id)
{
    spool_error r;
    memset(&r, 0, sizeof r);
    spool_origin o = {
        .id = sqlite3_column_int64(st, 0),
        .resource_id = sqlite3_column_int64(st, 13),
        .resource_json = col_text(st, 14),
    };
    copy_text(r.uuid, sizeof r.uuid, sqlite3_column_text(st, 1));
    r.time_ns = sqlite3_column_int64(st, 2);
    r.level = col_text(st, 3);
    r.class_name = col_text(st, 4);
    r.message = col_text(st, 5);
    r.frames_json = col_text(st, 6);
    r.request_json = col_text(st, 7);
    r.context = col_text(st, 8);
    copy_text(r.trace_id, sizeof r.trace_id, sqlite3_column_text(st, 9));
    copy_text(r.span_id, sizeof r.span_id, sqlite3_column_text(st, 10));
    r.fingerprint = col_text(st, 11);
    r.custom_json = col_text(st, 12);
    *id = o.id;
    return fn.error(ctx, &r, &o);
}

/* Up to limit rows of statement id past after_id, in id order, each to fn
 * (through row) until it returns nonzero; *last_id: the last row fn took.
 * have_fn: the caller gave a function. */
static int read_rows(spool *s, enum stmt_id id, row_fn row, reader_fn fn, bool have_fn,
                     int64_t after_id, size_t limit, void *ctx, int64_t *last_id)
{
    if (last_id != NULL)
        *last_id = after_id;
    if (s == NULL || !have_fn)
        return SPOOL_ERROR;
    sqlite3_stmt *st = stmt(s, id);
    if (st == NULL)
        return prep_failed(s);
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
    op_begin(s, s->op_budget_ns, 0);
    int64_t last = after_id;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t row_id = 0;
        if (row(st, fn, ctx, &row_id) != 0)
            break;
        last = row_id;
    }
    int status = rc == SQLITE_ROW || rc == SQLITE_DONE ? SPOOL_OK : fail(s, rc, "read");
    sqlite3_reset(st);
    op_end(s);
    if (status == SPOOL_OK && last_id != NULL)
        *last_id = last;
    return status;
}

int spool_read_spans(spool *s, int64_t after_id, size_t limit, spool_span_fn fn,
                     void *ctx, int64_t *last_id)
{
    return read_rows(s, ST_READ_SPANS, span_row, (reader_fn){.span = fn}, fn != NULL, after_id,
                     limit, ctx, last_id);
}

int spool_read_logs(spool *s, int64_t after_id, size_t limit, spool_log_fn fn,
                    void *ctx, int64_t *last_id)
{
    return read_rows(s, ST_READ_LOGS, log_row, (reader_fn){.log = fn}, fn != NULL, after_id,
                     limit, ctx, last_id);
}

int spool_read_errors(spool *s, int64_t after_id, size_t limit, spool_error_fn fn,
                      void *ctx, int64_t *last_id)
{
    return read_rows(s, ST_READ_ERRORS, error_row, (reader_fn){.error = fn}, fn != NULL, after_id,
                     limit, ctx, last_id);
}

int spool_count_after(spool *s, spool_stream stream, int64_t after_id, int64_t *rows)
{
    static const enum stmt_id ids[SPOOL_STREAM_COUNT] = {
        ST_PENDING_SPANS, ST_PENDING_LOGS, ST_PENDING_ERRORS,
    };
    if (rows != NULL)
        *rows = 0;
    if (s == NULL || rows == NULL || spool_stream_name(stream) == NULL)
        return SPOOL_ERROR;
    sqlite3_stmt *st = stmt(s, ids[stream]);
    if (st == NULL)
        return prep_failed(s);
    sqlite3_bind_int64(st, 1, after_id);
    op_begin(s, s->op_budget_ns, 0);
    int rc = query_int(st, rows, NULL);
    op_end(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SPOOL_OK : fail(s, rc, "count");
}

/* ---- cursors and exporter state ----------------------------------------- */

static int check_exporter(spool *s, const char *exporter, spool_stream st)
{
    if (s == NULL)
        return SPOOL_ERROR;
    if (exporter == NULL || *exporter == '\0' || spool_stream_name(st) == NULL) {
        put_err(s->errmsg, sizeof s->errmsg, "no exporter name, or unknown stream");
        return SPOOL_ERROR;
    }
    return SPOOL_OK;
}

int spool_cursor_get(spool *s, const char *exporter, spool_stream stream, int64_t *last_id)
{
    if (last_id != NULL)
        *last_id = 0;
    if (last_id == NULL || check_exporter(s, exporter, stream) != SPOOL_OK)
        return SPOOL_ERROR;
    sqlite3_stmt *st = stmt(s, ST_CURSOR_GET);
    if (st == NULL)
        return prep_failed(s);
    sqlite3_bind_text(st, 1, exporter, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, stream_names[stream], -1, SQLITE_STATIC);
    op_begin(s, s->op_budget_ns, 0);
    int rc = query_int(st, last_id, NULL);
    op_end(s);
    if (rc == SQLITE_ROW)
        return SPOOL_OK;
    if (rc == SQLITE_DONE)
        return SPOOL_NOTFOUND;
    return fail(s, rc, "cursor");
}

static int cursor_set_in_tx(spool *s, const char *exporter, spool_stream stream,
                            int64_t last_id, int64_t now)
{
    sqlite3_stmt *st = stmt(s, ST_CURSOR_SET);
    if (st == NULL)
        return s->prep_rc;
    sqlite3_bind_text(st, 1, exporter, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, stream_names[stream], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, last_id);
    sqlite3_bind_int64(st, 4, now);
    return run(st);
}

int spool_cursor_set(spool *s, const char *exporter, spool_stream stream, int64_t last_id)
{
    if (check_exporter(s, exporter, stream) != SPOOL_OK)
        return SPOOL_ERROR;
    if (s->readonly)
        return SPOOL_READONLY;
    op_begin(s, s->op_budget_ns, 1);
    int rc = cursor_set_in_tx(s, exporter, stream, last_id, tstamp_now_ns());
    op_end(s);
    return rc == SQLITE_DONE ? SPOOL_OK : fail(s, rc, "cursor");
}

int spool_cursor_remove(spool *s, const char *exporter, spool_stream stream)
{
    if (check_exporter(s, exporter, stream) != SPOOL_OK)
        return SPOOL_ERROR;
    if (s->readonly)
        return SPOOL_READONLY;
    sqlite3_stmt *st = stmt(s, ST_CURSOR_DEL);
    if (st == NULL)
        return prep_failed(s);
    sqlite3_bind_text(st, 1, exporter, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, stream_names[stream], -1, SQLITE_STATIC);
    op_begin(s, s->op_budget_ns, 1);
    int rc = run(st);
    op_end(s);
    if (rc != SQLITE_DONE)
        return fail(s, rc, "cursor");
    return sqlite3_changes(s->db) > 0 ? SPOOL_OK : SPOOL_NOTFOUND;
}

int spool_ack(spool *s, const spool_delivery *d)
{
    if (d == NULL || check_exporter(s, d->exporter, d->stream) != SPOOL_OK ||
        (d->n_dead > 0 && d->dead == NULL))
        return SPOOL_ERROR;
    if (s->readonly)
        return SPOOL_READONLY;
    int64_t now = tstamp_now_ns();
    sqlite3_stmt *st;
    op_begin(s, s->op_budget_ns, 1);
    int rc = run_id(s, ST_BEGIN);
    if (rc == SQLITE_DONE)
        rc = cursor_set_in_tx(s, d->exporter, d->stream, d->last_id, now);
    for (size_t i = 0; rc == SQLITE_DONE && i < d->n_dead; i++) {
        if ((st = stmt(s, ST_DEAD_INSERT)) == NULL) {
            rc = s->prep_rc;
            break;
        }
        sqlite3_bind_text(st, 1, d->exporter, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, stream_names[d->stream], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, d->dead[i].record_id);
        bind_text_or_null(st, 4, d->dead[i].reason);
        bind_text_or_null(st, 5, d->dead[i].payload);
        sqlite3_bind_int64(st, 6, now);
        rc = run(st);
    }
    if (rc == SQLITE_DONE) {
        if ((st = stmt(s, ST_STATE_ACK)) == NULL) {
            rc = s->prep_rc;
        } else {
            sqlite3_bind_text(st, 1, d->exporter, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, d->sent);
            sqlite3_bind_int64(st, 3, d->rejected);
            sqlite3_bind_int64(st, 4, (int64_t)d->n_dead);
            sqlite3_bind_int64(st, 5, now);
            rc = run(st);
        }
    }
    if (rc == SQLITE_DONE)
        rc = run_id(s, ST_COMMIT);
    int status = rc == SQLITE_DONE ? SPOOL_OK : fail(s, rc, "ack");
    rollback(s);
    op_end(s);
    return status;
}

int spool_export_failed(spool *s, const char *exporter, const char *error, int64_t retry_at_ns)
{
    if (check_exporter(s, exporter, SPOOL_STREAM_SPAN) != SPOOL_OK)
        return SPOOL_ERROR;
    if (s->readonly)
        return SPOOL_READONLY;
    sqlite3_stmt *st = stmt(s, ST_STATE_FAIL);
    if (st == NULL)
        return prep_failed(s);
    sqlite3_bind_text(st, 1, exporter, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, retry_at_ns);
    bind_text_or_null(st, 3, error);
    sqlite3_bind_int64(st, 4, tstamp_now_ns());
    op_begin(s, s->op_budget_ns, 1);
    int rc = run(st);
    op_end(s);
    return rc == SQLITE_DONE ? SPOOL_OK : fail(s, rc, "export state");
}

int spool_export_state_get(spool *s, const char *exporter, spool_export_state *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (out == NULL || check_exporter(s, exporter, SPOOL_STREAM_SPAN) != SPOOL_OK)
        return SPOOL_ERROR;
    sqlite3_stmt *st = stmt(s, ST_STATE_GET);
    if (st == NULL)
        return prep_failed(s);
    sqlite3_bind_text(st, 1, exporter, -1, SQLITE_STATIC);
    op_begin(s, s->op_budget_ns, 0);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->failures = sqlite3_column_int64(st, 0);
        out->retry_at_ns = sqlite3_column_int64(st, 1);
        out->last_ok_ns = sqlite3_column_int64(st, 2);
        out->sent = sqlite3_column_int64(st, 3);
        out->rejected = sqlite3_column_int64(st, 4);
        out->dead_lettered = sqlite3_column_int64(st, 5);
        out->updated_ns = sqlite3_column_int64(st, 6);
        copy_text(out->last_error, sizeof out->last_error, sqlite3_column_text(st, 7));
    }
    sqlite3_reset(st);
    op_end(s);
    if (rc == SQLITE_ROW)
        return SPOOL_OK;
    if (rc == SQLITE_DONE)
        return SPOOL_NOTFOUND;
    return fail(s, rc, "export state");
}

/* ---- pruning and the size cap -------------------------------------------- */

/* Deletes up to `limit` rows with id <= bound from one table, oldest first,
 * adding them to `counter` when given, in one transaction. *n = rows deleted. */
static int delete_chunk(spool *s, enum stmt_id id, int64_t bound, int64_t limit,
                        const char *counter, int64_t *n)
{
    *n = 0;
    sqlite3_stmt *st = stmt(s, id);
    if (st == NULL)
        return prep_failed(s);
    op_begin(s, s->op_budget_ns, 1);
    int rc = run_id(s, ST_BEGIN);
    if (rc == SQLITE_DONE) {
        sqlite3_bind_int64(st, 1, bound);
        sqlite3_bind_int64(st, 2, limit);
        rc = run(st);
    }
    int64_t changed = sqlite3_changes(s->db);
    if (rc == SQLITE_DONE && counter != NULL && changed > 0)
        rc = counter_add_in_tx(s, counter, changed);
    if (rc == SQLITE_DONE)
        rc = run_id(s, ST_COMMIT);
    int status = rc == SQLITE_DONE ? SPOOL_OK : fail(s, rc, "delete");
    rollback(s);
    op_end(s);
    if (status == SPOOL_OK)
        *n = changed;
    return status;
}

/* Deletes the resources no record refers to. Finding them takes a scan of
 * every record, done in a read transaction so that writers go on meanwhile;
 * each deletion then checks only the records written since that snapshot
 * (ids only grow, so those are the ones past its highest ids). A writer that
 * cached a resource re-checks it inside its own transaction, so none can
 * refer to one deleted here. */
static int delete_orphans(spool *s)
{
    sqlite3_stmt *begin = stmt(s, ST_BEGIN_READ), *high = stmt(s, ST_HIGH_IDS);
    sqlite3_stmt *find = stmt(s, ST_ORPHANS), *del = stmt(s, ST_ORPHAN_DELETE);
    if (begin == NULL || high == NULL || find == NULL || del == NULL)
        return prep_failed(s);
    int64_t hi[3] = { 0, 0, 0 }, *ids = NULL;
    size_t n = 0, cap = 0;
    int status = SPOOL_OK;

    op_begin(s, s->op_budget_ns, 0);
    int rc = run(begin);
    if (rc == SQLITE_DONE) {
        rc = sqlite3_step(high);
        for (int i = 0; rc == SQLITE_ROW && i < 3; i++)
            hi[i] = sqlite3_column_int64(high, i);
        sqlite3_reset(high);
    }
    while (rc == SQLITE_ROW && (rc = sqlite3_step(find)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            int64_t *grown = realloc(ids, ncap * sizeof *ids);
            if (grown == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            ids = grown;
            cap = ncap;
        }
        ids[n++] = sqlite3_column_int64(find, 0);
    }
    sqlite3_reset(find);
    if (rc != SQLITE_DONE)
        status = fail(s, rc, "finding unused resources");
    rollback(s);                                /* ends the read transaction */
    op_end(s);

    for (size_t done = 0; status == SPOOL_OK && done < n; ) {
        op_begin(s, s->op_budget_ns, 1);
        rc = run_id(s, ST_BEGIN);
        for (size_t k = 0; rc == SQLITE_DONE && k < CHUNK_ROWS && done < n; k++, done++) {
            sqlite3_bind_int64(del, 1, ids[done]);
            for (int i = 0; i < 3; i++)
                sqlite3_bind_int64(del, 2 + i, hi[i]);
            rc = run(del);
        }
        if (rc == SQLITE_DONE)
            rc = run_id(s, ST_COMMIT);
        if (rc != SQLITE_DONE)
            status = fail(s, rc, "deleting unused resources");
        rollback(s);
        op_end(s);
    }
    free(ids);
    return status;
}

int spool_prune(spool *s, int64_t *deleted)
{
    if (deleted != NULL)
        *deleted = 0;
    if (s == NULL)
        return SPOOL_ERROR;
    if (s->readonly)
        return SPOOL_READONLY;
    int64_t total = 0;
    for (int i = 0; i < SPOOL_STREAM_COUNT; i++) {
        sqlite3_stmt *st = stmt(s, ST_CURSOR_MIN);
        if (st == NULL)
            return prep_failed(s);
        int64_t bound = 0;
        int is_null = 1;
        sqlite3_bind_text(st, 1, stream_names[i], -1, SQLITE_STATIC);
        op_begin(s, s->op_budget_ns, 0);
        int rc = query_int(st, &bound, &is_null);
        op_end(s);
        if (rc != SQLITE_ROW)
            return fail(s, rc, "reading cursors");
        if (is_null)                /* no exporter for this stream: keep it all */
            continue;
        int64_t n;
        do {
            int status = delete_chunk(s, stream_delete[i], bound, CHUNK_ROWS, NULL, &n);
            if (status != SPOOL_OK)
                return status;
            total += n;
            if (deleted != NULL)
                *deleted = total;
        } while (n == CHUNK_ROWS);
    }
    return delete_orphans(s);
}

int spool_used_bytes(spool *s, int64_t *bytes)
{
    if (s == NULL || bytes == NULL)
        return SPOOL_ERROR;
    int64_t pages = 0, free_pages = 0, size = 0;
    sqlite3_stmt *a = stmt(s, ST_PAGE_COUNT), *b = stmt(s, ST_FREELIST);
    sqlite3_stmt *c = stmt(s, ST_PAGE_SIZE);
    if (a == NULL || b == NULL || c == NULL)
        return prep_failed(s);
    op_begin(s, s->op_budget_ns, 0);
    int rc = query_int(a, &pages, NULL);
    if (rc == SQLITE_ROW)
        rc = query_int(b, &free_pages, NULL);
    if (rc == SQLITE_ROW)
        rc = query_int(c, &size, NULL);
    op_end(s);
    if (rc != SQLITE_ROW)
        return fail(s, rc, "reading the size");
    *bytes = (pages - free_pages) * size;
    return SPOOL_OK;
}

int spool_enforce_cap(spool *s, int64_t max_bytes, int64_t *dropped)
{
    static const enum stmt_id dels[4] = { ST_DEL_SPANS, ST_DEL_LOGS, ST_DEL_ERRORS, ST_DEL_DEAD };
    if (dropped != NULL)
        *dropped = 0;
    if (s == NULL || max_bytes < 0)
        return SPOOL_ERROR;
    int status = spool_prune(s, NULL);
    if (status != SPOOL_OK)
        return status;
    int64_t total = 0, used = 0;
    for (;;) {
        if ((status = spool_used_bytes(s, &used)) != SPOOL_OK)
            return status;
        if (used <= max_bytes)
            break;
        /* the stream whose first record is oldest loses a chunk */
        sqlite3_stmt *st = stmt(s, ST_OLDEST);
        if (st == NULL)
            return prep_failed(s);
        op_begin(s, s->op_budget_ns, 0);
        int rc = sqlite3_step(st);
        int pick = -1;
        int64_t oldest = 0;
        for (int i = 0; rc == SQLITE_ROW && i < 4; i++) {
            if (sqlite3_column_type(st, i) == SQLITE_NULL)
                continue;
            int64_t t = sqlite3_column_int64(st, i);
            if (pick < 0 || t < oldest) {
                pick = i;
                oldest = t;
            }
        }
        sqlite3_reset(st);
        op_end(s);
        if (rc != SQLITE_ROW)
            return fail(s, rc, "finding the oldest records");
        if (pick < 0)
            break;                  /* nothing left to drop */
        /* about as many rows as the excess is worth, at least a few */
        int64_t rows = 0, n = 0;
        if ((st = stmt(s, ST_ROW_ESTIMATE)) == NULL)
            return prep_failed(s);
        op_begin(s, s->op_budget_ns, 0);
        rc = query_int(st, &rows, NULL);
        op_end(s);
        if (rc != SQLITE_ROW)
            return fail(s, rc, "counting records");
        int64_t limit = used > 0 ? (int64_t)((double)(used - max_bytes) / (double)used
                                             * (double)rows) + 1 : 1;
        if (limit < 16)
            limit = 16;
        if (limit > CHUNK_ROWS)
            limit = CHUNK_ROWS;
        status = delete_chunk(s, dels[pick], INT64_MAX, limit, "dropped_by_cap", &n);
        if (status != SPOOL_OK)
            return status;
        total += n;
        if (dropped != NULL)
            *dropped = total;
        if (n == 0)
            break;
    }
    /* Freed pages stay in the file for the next writes to reuse: the file
     * stops growing rather than shrinks (VACUUM would lock writers out). */
    return total > 0 ? delete_orphans(s) : SPOOL_OK;
}
