/* spool: the telemetry spool file (SQLite in WAL mode) that sits between the
 * API workers and the exporters. A worker writes each request's spans, logs
 * and error reports as one transaction, within a time budget, after the
 * response has left; an exporter reads the records past its cursor, forwards
 * them and moves the cursor. Opening creates and migrates the file. Pruning
 * and a size cap keep it bounded. docs/spool.md describes the file itself.
 *
 * A spool handle belongs to one thread at a time and must not cross fork():
 * open it in the process that uses it. Every function that returns int
 * returns a SPOOL_* status and leaves nothing half-done on failure; the
 * message of the last failure is spool_errmsg(). */
#ifndef CRUDDUR_SPOOL_SPOOL_H
#define CRUDDUR_SPOOL_SPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct spool spool;

/* Status codes. */
enum {
    SPOOL_OK = 0,
    SPOOL_ERROR = -1,     /* I/O error, corrupt or foreign file, bad argument */
    SPOOL_BUSY = -2,      /* the time budget ran out: locked by another writer, or slow */
    SPOOL_READONLY = -3,  /* the file or its directory cannot be written */
    SPOOL_FULL = -4,      /* the disk, or the size limit (spool_set_size_limit), is full */
    SPOOL_CANTOPEN = -5,  /* the file or its directory is missing or unreadable */
    SPOOL_INVALID = -6,   /* a record breaks the schema (ids, JSON ...): nothing written */
    SPOOL_NOTFOUND = -7,  /* no such cursor or exporter state */
};

/* The schema version this code writes (PRAGMA user_version). */
#define SPOOL_SCHEMA_VERSION 2

/* spool_open flags */
#define SPOOL_CREATE 0x1u        /* create the file if it is missing */
#define SPOOL_RDONLY 0x2u        /* read only, no migration (for queries and stats) */
#define SPOOL_NO_CHECKPOINT 0x4u /* never copy the WAL into the file from this
                                    handle: another process calls spool_checkpoint */
#define SPOOL_SMALL_CACHE 0x8u   /* a page cache of SPOOL_SMALL_CACHE_KIB: for a handle
                                    that appends or checkpoints, where another
                                    writer's commit empties the cache anyway */
#define SPOOL_SMALL_CACHE_KIB 256

#define SPOOL_DEFAULT_MODE 0640                   /* of a new file, exactly (umask ignored) */
#define SPOOL_DEFAULT_BUDGET_NS 200000000LL       /* spool_write */
#define SPOOL_DEFAULT_OP_BUDGET_NS 2000000000LL   /* lock waits of every other operation */

/* OTLP SpanKind and status code values, as stored. */
enum {
    SPOOL_KIND_UNSPECIFIED = 0, SPOOL_KIND_INTERNAL = 1, SPOOL_KIND_SERVER = 2,
    SPOOL_KIND_CLIENT = 3, SPOOL_KIND_PRODUCER = 4, SPOOL_KIND_CONSUMER = 5,
};
enum { SPOOL_STATUS_UNSET = 0, SPOOL_STATUS_OK = 1, SPOOL_STATUS_ERROR = 2 };

/* Opens (with SPOOL_CREATE, creates with `mode`, 0 meaning SPOOL_DEFAULT_MODE)
 * the spool at path: WAL journal, synchronous=NORMAL, a bounded WAL, and the
 * schema migrated to SPOOL_SCHEMA_VERSION. Lock waits are bounded by
 * SPOOL_DEFAULT_OP_BUDGET_NS. Returns SPOOL_OK and *out (close it with
 * spool_close), or a status with a message in err: SPOOL_CANTOPEN (missing
 * directory, or missing file without SPOOL_CREATE), SPOOL_READONLY (file or
 * directory not writable), SPOOL_BUSY, SPOOL_FULL, SPOOL_ERROR (not a spool,
 * or a schema newer than this program). */
int spool_open(const char *path, unsigned flags, unsigned mode, spool **out,
               char *err, size_t err_size);
/* Tries (briefly) to record the pending dropped count, then closes. NULL is fine. */
void spool_close(spool *s);
const char *spool_errmsg(const spool *s);
const char *spool_strstatus(int status);

/* Copies what the WAL holds into the database file (a PASSIVE checkpoint:
 * it waits for nobody and blocks no writer), so that the WAL can start over.
 * Without SPOOL_NO_CHECKPOINT, writers do this themselves after a commit each
 * time the WAL has grown by 1000 pages (and, when it still has not started
 * over past 8000, a RESTART checkpoint that holds other writers back for at
 * most 50 ms), at the cost of fsyncs after that request's commit.
 * SPOOL_BUSY when another checkpoint is running. *wal_pages (may be NULL) =
 * pages left in the WAL that could not be copied yet (readers still use them). */
int spool_checkpoint(spool *s, int *wal_pages);
/* spool_checkpoint with a mode, telling (either pointer may be NULL) the
 * pages in the WAL and how many of them are now in the database. RESTART
 * waits (50 ms at most, then SPOOL_BUSY) until no writer is busy and every
 * reader uses the last commit, copies every frame and syncs, and so lets the
 * next writer start the WAL over; writers wait meanwhile. For a WAL that
 * PASSIVE checkpoints could not empty. */
enum { SPOOL_CKPT_PASSIVE = 0, SPOOL_CKPT_RESTART = 1 };
int spool_checkpoint_mode(spool *s, int mode, int *wal_pages, int *copied);
/* As SPOOL_NO_CHECKPOINT at open, on (nonzero) or off, from now on. */
void spool_set_no_checkpoint(spool *s, int no_checkpoint);
/* Pages in the WAL after this handle's last commit (0 before the first). */
int spool_wal_pages(const spool *s);

/* Budget for the lock waits of operations other than spool_write (reads,
 * cursors, pruning); <= 0 restores SPOOL_DEFAULT_OP_BUDGET_NS. */
void spool_set_budget(spool *s, int64_t budget_ns);
/* A hard limit on the file's size (PRAGMA max_page_count on this
 * connection): writes that would grow it past max_bytes fail with SPOOL_FULL
 * instead of filling the disk. 0 removes the limit. */
int spool_set_size_limit(spool *s, int64_t max_bytes);

/* ---- records -------------------------------------------------------------
 * Ids are lowercase hex. Strings are borrowed for the duration of the call.
 * JSON texts follow docs/spool.md: attributes are a flat object whose values
 * are strings, integers, doubles (always with '.' or an exponent), booleans or
 * homogeneous arrays of those. A NULL JSON pointer stores the empty object or
 * array. */
typedef struct spool_span {
    char trace_id[33];
    char span_id[17];
    char parent_span_id[17];        /* "" for a root span */
    const char *name;
    int kind;                       /* SPOOL_KIND_* */
    int64_t start_ns, end_ns;       /* Unix time, nanoseconds */
    int status_code;                /* SPOOL_STATUS_* */
    const char *status_message;     /* NULL: none */
    const char *attributes_json;    /* object */
    const char *events_json;        /* array of {"name","time_ns","attributes"} */
    const char *links_json;         /* array of {"trace_id","span_id","trace_state","attributes"} */
    const char *trace_state;        /* W3C tracestate; NULL: none */
    unsigned flags;                 /* W3C trace flags: 1 = sampled */
} spool_span;

typedef struct spool_log {
    int64_t time_ns;                /* when it happened */
    int64_t observed_ns;            /* when it was recorded; 0: now */
    int severity_number;            /* OTLP 1..24 (9 INFO, 13 WARN, 17 ERROR); 0 unset */
    const char *severity_text;
    const char *body;
    const char *attributes_json;    /* object */
    char trace_id[33];              /* "" outside a trace */
    char span_id[17];
    unsigned flags;                 /* W3C trace flags of that trace */
} spool_log;

typedef struct spool_error {
    char uuid[37];                  /* lowercase 8-4-4-4-12; the same uuid twice keeps the first */
    int64_t time_ns;
    const char *level;              /* critical, error, warning, info, debug; NULL: error */
    const char *class_name;
    const char *message;
    const char *frames_json;        /* array of {"filename","lineno","method"} */
    const char *request_json;       /* object, secrets already scrubbed; NULL: none */
    const char *context;            /* the route, e.g. "GET /api/activities/home" */
    const char *fingerprint;        /* NULL: let the service group */
    const char *custom_json;        /* object; NULL: none */
    char trace_id[33];              /* "" when unknown */
    char span_id[17];
} spool_error;

/* One request's worth of telemetry, from one resource and one scope. */
typedef struct spool_batch {
    const char *resource_json;      /* object: service.name, host.name ...; NULL: {} */
    const char *scope_name, *scope_version;
    const spool_span *spans;
    size_t n_spans;
    const spool_log *logs;
    size_t n_logs;
    const spool_error *errors;
    size_t n_errors;
} spool_batch;

/* Writes the whole batch as ONE transaction, or nothing. Gives up when
 * budget_ns (<= 0: SPOOL_DEFAULT_BUDGET_NS) has passed, whether waiting for
 * the lock or writing (the checkpoint a writer runs after its commit now and
 * then, see spool_checkpoint, is not bounded). Also records the pending
 * dropped count (see spool_note_dropped). Ids are checked to be lowercase hex
 * before anything is locked. Returns SPOOL_OK, SPOOL_BUSY, SPOOL_READONLY,
 * SPOOL_FULL, SPOOL_INVALID or SPOOL_ERROR. On failure nothing was written
 * and nothing was counted: call spool_note_dropped if you give the records up. */
int spool_write(spool *s, const spool_batch *b, int64_t budget_ns);

/* Marks: small named values a writer keeps in the spool (in table meta,
 * apart from the spool's own keys), set in the same transaction as the
 * records they account for. A journal (spool/journal.h) records in its mark
 * how far its file has been copied into the spool. Keys are 1 to
 * SPOOL_MARK_KEY_MAX bytes. */
#define SPOOL_MARK_KEY_MAX 200
typedef struct spool_mark {
    const char *key;
    const char *value;              /* NULL: delete the mark */
} spool_mark;

/* spool_write for n batches (n may be 0) as ONE transaction: all of them or
 * nothing, within budget_ns. When mark is not NULL it is set (or deleted) in
 * that same transaction. Statuses as spool_write's. */
#define SPOOL_CHECKED 0x1u      /* flags: every batch passed spool_check_batch already */
int spool_write_batches(spool *s, const spool_batch *batches, size_t n, const spool_mark *mark,
                        unsigned flags, int64_t budget_ns);

/* value (size bytes, truncated) = the mark; SPOOL_NOTFOUND when it is not set. */
int spool_mark_get(spool *s, const char *key, char *value, size_t size);
/* Sets or deletes a mark on its own, in its own transaction. */
int spool_mark_set(spool *s, const spool_mark *mark);
/* Calls fn with the key of every mark that starts with prefix, in key order,
 * until fn returns nonzero. fn may call spool functions. */
typedef int (*spool_mark_fn)(void *ctx, const char *key);
int spool_mark_each(spool *s, const char *prefix, spool_mark_fn fn, void *ctx);

/* SPOOL_OK when spool_write would take the batch's records (lowercase hex
 * ids of the right length, JSON texts of the right shape); SPOOL_INVALID
 * with a message in err otherwise. Locks and writes nothing. */
int spool_check_batch(const spool_batch *b, char *err, size_t err_size);

/* Remembers n records lost (spool unavailable, queue full ...). The next
 * successful spool_write adds them to counter 'dropped_records' in its own
 * transaction, so losses during an outage show once the spool works again. */
void spool_note_dropped(spool *s, int64_t n);
int64_t spool_pending_dropped(const spool *s);
/* Returns the pending count and forgets it: for a caller that will count
 * those records through another handle (spool_close would write it). */
int64_t spool_take_dropped(spool *s);

/* Adds delta to a counter now, in its own transaction. */
int spool_counter_add(spool *s, const char *name, int64_t delta);
/* *value = the counter, 0 when it does not exist. */
int spool_counter_get(spool *s, const char *name, int64_t *value);

/* ---- reading, for exporters ------------------------------------------- */
typedef enum spool_stream {
    SPOOL_STREAM_SPAN = 0, SPOOL_STREAM_LOG = 1, SPOOL_STREAM_ERROR = 2,
} spool_stream;
#define SPOOL_STREAM_COUNT 3
/* "span", "log", "error" (the table names); NULL for an unknown value. */
const char *spool_stream_name(spool_stream st);
int spool_stream_parse(const char *name, spool_stream *out);

/* Where a record read back came from. Pointers are valid during the callback only. */
typedef struct spool_origin {
    int64_t id;                     /* the row id: what a cursor counts */
    int64_t resource_id;
    const char *resource_json;
    const char *scope_name;         /* NULL for error reports */
    const char *scope_version;
} spool_origin;

/* Callbacks return 0 to take the record and go on, nonzero to stop without
 * taking it. They must not call spool functions (copy what they need). */
typedef int (*spool_span_fn)(void *ctx, const spool_span *r, const spool_origin *o);
typedef int (*spool_log_fn)(void *ctx, const spool_log *r, const spool_origin *o);
typedef int (*spool_error_fn)(void *ctx, const spool_error *r, const spool_origin *o);

/* Calls fn for up to limit records with id > after_id, in id order, from one
 * consistent snapshot. *last_id (may be NULL) = the id of the last record
 * taken, after_id if none. Ids become visible in increasing order: a record
 * committed later never has a smaller id than one already read. */
int spool_read_spans(spool *s, int64_t after_id, size_t limit, spool_span_fn fn,
                     void *ctx, int64_t *last_id);
int spool_read_logs(spool *s, int64_t after_id, size_t limit, spool_log_fn fn,
                    void *ctx, int64_t *last_id);
int spool_read_errors(spool *s, int64_t after_id, size_t limit, spool_error_fn fn,
                      void *ctx, int64_t *last_id);

/* *rows = how many records of the stream have an id > after_id: the backlog
 * past a cursor (counts rows, so it takes time in proportion to them). */
int spool_count_after(spool *s, spool_stream st, int64_t after_id, int64_t *rows);

/* An exporter's cursor: every record of the stream with id <= last_id was
 * delivered. A cursor row registers the exporter for that stream: pruning
 * keeps what it has not passed. get: SPOOL_NOTFOUND and *last_id = 0 when the
 * exporter never registered. set: creates or moves it (backwards too). remove:
 * unregisters, so the exporter no longer holds back pruning. */
int spool_cursor_get(spool *s, const char *exporter, spool_stream st, int64_t *last_id);
int spool_cursor_set(spool *s, const char *exporter, spool_stream st, int64_t last_id);
int spool_cursor_remove(spool *s, const char *exporter, spool_stream st);

/* A record a service refused for good. */
typedef struct spool_dead_letter {
    int64_t record_id;
    const char *reason;
    const char *payload;            /* what was sent; NULL: nothing kept */
} spool_dead_letter;

/* What one successful send delivered. */
typedef struct spool_delivery {
    const char *exporter;
    spool_stream stream;
    int64_t last_id;                /* the new cursor */
    int64_t sent;                   /* records the service accepted */
    int64_t rejected;               /* records it refused (including the dead letters) */
    const spool_dead_letter *dead;
    size_t n_dead;
} spool_delivery;

/* In one transaction: moves the cursor, stores the dead letters, adds to
 * the exporter's sent/rejected/dead_lettered, clears its failures and
 * backoff, and sets last_ok_ns. */
int spool_ack(spool *s, const spool_delivery *d);
/* Records a failed attempt: failures + 1, the error, and the time before
 * which the next attempt must not start (0: at once). */
int spool_export_failed(spool *s, const char *exporter, const char *error, int64_t retry_at_ns);

typedef struct spool_export_state {
    int64_t failures, retry_at_ns, last_ok_ns, sent, rejected, dead_lettered, updated_ns;
    char last_error[256];           /* "" when none; truncated */
} spool_export_state;
/* SPOOL_NOTFOUND (and *out zeroed) for an exporter with no state yet. */
int spool_export_state_get(spool *s, const char *exporter, spool_export_state *out);

/* ---- keeping the file bounded ------------------------------------------ */
/* Deletes the span, log and error rows every exporter registered for their
 * stream has passed (a stream with no registered exporter keeps everything),
 * then the resources no row refers to any more. Works in short transactions
 * so that writers are never held up long. *deleted (may be NULL) = rows
 * deleted, resources not included. */
int spool_prune(spool *s, int64_t *deleted);
/* Bytes in use by the database (pages minus free pages); the WAL not included. */
int spool_used_bytes(spool *s, int64_t *bytes);
/* Prunes, then, while more than max_bytes are in use, deletes the oldest
 * records (span, log, error or dead letter, whichever is oldest) and adds them
 * to counter 'dropped_by_cap'. Freed pages stay in the file for later writes:
 * the file stops growing, it does not shrink. *dropped (may be NULL) =
 * records deleted by the cap. */
int spool_enforce_cap(spool *s, int64_t max_bytes, int64_t *dropped);

/* ---- migrations ---------------------------------------------------------
 * spool_open runs the built-in list. This is the machinery, for tests and
 * tools: runs every step above the file's version, in order, each in its own
 * transaction together with the PRAGMA user_version it reaches, then
 * reinstalls the views if they changed. Steps are sorted by version; the
 * first one to run must be the file's version + 1, and so on without gaps. A
 * failing step leaves the file at the version before it, data untouched. */
typedef struct spool_migration {
    int version;                    /* the version this step reaches */
    const char *sql;                /* statements, run with sqlite3_exec */
} spool_migration;
int spool_migrate_with(spool *s, const spool_migration *steps, size_t n_steps);
/* *version = PRAGMA user_version of the file. */
int spool_schema_version(spool *s, int *version);

#endif
