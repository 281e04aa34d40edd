/* export: the delivery engine every exporter target shares. It reads a
 * batch of records past the target's cursor in the spool (one short read),
 * has the target encode them, POSTs them, and classifies the answer:
 *
 *   ok        the cursor moves past the request and export_state records the
 *             delivery, in one spool transaction (spool_ack); records the
 *             service refused in a partial success go to dead_letter;
 *   retry     transport errors, timeouts, 408, 429, 5xx and the target's
 *             throttling answers: exponential backoff with full jitter, or
 *             the wait the service asked for, stored in export_state so that
 *             the next run (cron) waits too;
 *   reject    the service refused the request's records for good (400, 413,
 *             422): records the answer names are set aside, otherwise the
 *             request is split in halves until the bad records are alone;
 *             they go to dead_letter with the service's reason, the rest is
 *             delivered;
 *   auth      credentials refused (401, 403): stop, nothing dead-lettered;
 *   config    anything else that needs a person (404: wrong endpoint ...).
 *
 * Requests are acknowledged in id order, so a cursor is always a promise
 * that everything at or below it was delivered or dead-lettered. A record
 * is sent twice only when the process dies between the service's answer
 * and the spool commit.
 *
 * Targets whose service takes small requests (X-Ray: 50 documents) can have
 * several requests of a batch in flight at once (parallel): they go out on
 * separate connections, their answers are read in order, records an answer
 * took are marked done, and whatever did not go through cleanly is then
 * sent one request at a time by the rules above. The batch is still
 * acknowledged in id order.
 *
 * Data flow: spool (spool_read_*) -> target encode -> target build ->
 * httpc_post -> target classify -> spool_ack / spool_export_failed. */
#ifndef CRUDDUR_EXPORT_EXPORT_H
#define CRUDDUR_EXPORT_EXPORT_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include "export/httpc.h"
#include "spool/spool.h"
#include "util/buf.h"

/* Exit codes (sysexits.h), for cron. */
#define EXPORT_EXIT_OK 0
#define EXPORT_EXIT_SOFTWARE 1      /* anything else: spool trouble, bugs */
#define EXPORT_EXIT_USAGE 64        /* bad command line */
#define EXPORT_EXIT_TEMPFAIL 75     /* backend unreachable or in backoff; try later */
#define EXPORT_EXIT_CONFIG 78       /* configuration or credentials wrong */

#define EXPORT_KEY_SIZE 40
#define EXPORT_MAX_PARALLEL 16

/* ---- the batch a target encodes into ------------------------------------ */

/* Records of one resource and one instrumentation scope. */
typedef struct export_group {
    int64_t resource_id;
    char *resource_json;            /* the resource's attribute JSON (owned) */
    char *scope_name;               /* owned; NULL for none */
    char *scope_version;
} export_group;

/* One record, encoded by the target: arena[off .. off+len). */
typedef struct export_item {
    int64_t id;                     /* the spool row id */
    size_t off, len;
    uint32_t group;                 /* index in groups */
    uint8_t skip;                   /* nonzero: not to be sent (see reason) */
    uint8_t done;                   /* accepted by an earlier request of a partial success */
    uint8_t retry;                  /* refused for now: to be sent again, alone */
    uint8_t attempts;               /* item-level retries so far */
    size_t reason;                  /* with skip: offset of a reason in reasons */
    char key[EXPORT_KEY_SIZE];      /* what a service's answer may call it: span id, uuid, "" */
} export_item;

typedef struct export_batch {
    export_item *items;
    size_t n, cap;
    export_group *groups;
    size_t n_groups, cap_groups;
    buf_t arena;                    /* encoded records */
    buf_t reasons;                  /* NUL-separated reasons of skipped items */
    size_t max_items;               /* stop reading at this many records */
    size_t max_bytes;               /* or when the arena passes this many bytes */
} export_batch;

void export_batch_init(export_batch *b, size_t max_items, size_t max_bytes);
void export_batch_reset(export_batch *b);
void export_batch_free(export_batch *b);
/* The index of the group of (resource, scope), added when new. -1 on
 * allocation failure. */
int64_t export_batch_group(export_batch *b, const spool_origin *o);
/* Adds a record whose encoding the target appended to the arena from
 * `start` on. key may be NULL. 0 or -1. */
int export_batch_add(export_batch *b, int64_t id, size_t start, uint32_t group, const char *key);
/* Adds a record that could not be encoded: it is dead-lettered with reason
 * at the next acknowledgement, never sent. 0 or -1. */
int export_batch_add_bad(export_batch *b, int64_t id, const char *reason);
/* True when the batch is full (items or bytes). */
int export_batch_full(const export_batch *b);
const char *export_item_reason(const export_batch *b, const export_item *it);

/* For classify_items: the service refused item i for good (it is
 * dead-lettered with reason), or for now (it is sent again, without the
 * items the service took, after a backoff; after EXPORT_ITEM_RETRIES such
 * rounds it is dead-lettered with reason). 0 or -1. */
#define EXPORT_ITEM_RETRIES 8
int export_item_refuse(export_batch *b, size_t i, const char *reason);
int export_item_retry(export_batch *b, size_t i, const char *reason);
/* True when item i is to be sent: neither skipped nor already done. */
int export_item_live(const export_batch *b, size_t i);

/* ---- what a target tells the engine about an answer --------------------- */
typedef enum export_verdict {
    EXPORT_OK = 0,                  /* accepted (rejected > 0: in part) */
    EXPORT_RETRY,                   /* transient: try the same request later */
    EXPORT_REJECT,                  /* refused for good: split, dead-letter */
    EXPORT_AUTH,                    /* credentials refused */
    EXPORT_CONFIG,                  /* the endpoint or the request is wrong */
    EXPORT_AGAIN,                   /* the target fixed what was wrong (created a
                                       missing log stream, say): send again now,
                                       without backoff; at most 3 times in a row */
} export_verdict;

typedef struct export_answer {
    export_verdict verdict;
    int64_t rejected;               /* OK: records refused (partial success) */
    int64_t wait_ms;                /* RETRY: asked-for wait, -1 none. OK: pause
                                       before the next request (rate limit), 0 none */
    char message[512];              /* the service's reason, for logs and dead letters */
} export_answer;

/* ---- a target ------------------------------------------------------------- */
typedef struct export_target export_target;
struct export_target {
    const char *exporter;           /* the name in the spool (cursor, export_state) */
    spool_stream stream;            /* what it reads */
    const char *label;              /* for messages, e.g. "honeycomb traces" */
    const char *url;
    const char *const *headers;     /* "Name: value", NULL-terminated */
    int gzip;                       /* compress request bodies */
    size_t per_request;             /* records per request; 0: the whole batch */
    size_t parallel;                /* requests of a batch in flight at once, each on
                                       its own connection (needs classify_items;
                                       0 or 1: one at a time) */
    size_t max_batch;               /* records per batch, at most (0: no limit) */
    size_t max_bytes;               /* encoded bytes per batch, about (0: 4 MiB) */
    void *ctx;
    /* Encodes one record (spool_span, spool_log or spool_error, by stream)
     * into b: export_batch_add, or export_batch_add_bad when the record
     * cannot be encoded. 0, or -1 on allocation failure. */
    int (*encode)(void *ctx, export_batch *b, const void *record, const spool_origin *o);
    /* Writes the request body for the items [lo, hi) that are not skipped
     * (there is at least one). 0 or -1. */
    int (*build)(void *ctx, const export_batch *b, size_t lo, size_t hi, buf_t *body);
    /* Classifies an HTTP answer (r->status != 0) to a request of n records. */
    void (*classify)(void *ctx, const httpc_response *r, size_t n, export_answer *a);

    /* Optional hooks; NULL for the behaviour above. */

    /* Instead of classify, for services that answer per record: sees the
     * live items of [lo, hi) the request carried and may mark them with
     * export_item_refuse / export_item_retry. With verdict EXPORT_OK, the
     * unmarked live items are done; a.rejected is ignored. */
    void (*classify_items)(void *ctx, const httpc_response *r, export_batch *b, size_t lo,
                           size_t hi, export_answer *a);
    /* The end of the request that starts at item lo of a batch whose
     * range ends at hi: lo < result <= hi. For limits beyond per_request
     * (bytes per request, a time span). Only its first request of a batch
     * is sent ahead while the next batch is read. */
    size_t (*next_request)(void *ctx, const export_batch *b, size_t lo, size_t hi);
    /* Called before every request (not in a dry run): sets signing and
     * refreshed credentials on h (httpc_set_aws_sigv4) and may change the
     * headers; the engine reads t->headers after the call, so a target
     * whose header array moves keeps a pointer to its export_target in
     * ctx and updates t->headers. after_auth_error: the service just refused the
     * credentials; return EXPORT_EXIT_OK only when new ones were obtained
     * (the request is then sent once more). An EXPORT_EXIT_* code: OK,
     * TEMPFAIL (a credential source is unreachable: retried with backoff),
     * CONFIG (no usable credentials). The message goes in err. */
    int (*authorize)(void *ctx, httpc *h, int after_auth_error, char *err, size_t err_size);
    /* Replaces the HTTP POST (a UDP transport, say): sends body and fills
     * r as an answer would (r->status 200 when sent). Return as httpc_post. */
    int (*send)(void *ctx, const void *body, size_t len, httpc_response *r);
};

/* ---- running ---------------------------------------------------------- */
typedef struct export_options {
    size_t batch_size;              /* records read per batch (0: 512), capped by max_batch */
    int64_t max_batches;            /* stop after this many batches (0: no limit) */
    int follow;                     /* poll for new records until *stop */
    int dry_run;                    /* print the requests to `out`, send and change nothing */
    int verbose;                    /* a line per request on `log` */
    int64_t max_wait_ms;            /* --once: longest wait for a retry within the run */
    int64_t poll_ms;                /* --follow: pause when there is nothing to send */
    int64_t checkpoint_ms;          /* --follow: spool_checkpoint this often (0: never) */
    FILE *out;                      /* dry-run payloads (NULL: stdout) */
    FILE *log;                      /* messages (NULL: stderr) */
    const volatile sig_atomic_t *stop;
    uint64_t seed;                  /* jitter seed (0: from the clock and pid) */
    int64_t dry_from_id;            /* dry run: start at this record id (0: at the cursor) */
    size_t parallel;                /* overrides the targets' parallel (0: theirs;
                                       at most EXPORT_MAX_PARALLEL) */
    const char *journals_of;        /* --follow: the spool's path, to copy the journals
                                       of dead workers in with each checkpoint (NULL: no) */
    int64_t item_retry_ms;          /* first wait before records answered "retry" are
                                       sent again, doubling, at most 5 s (0: 100 ms) */
} export_options;

typedef struct export_stats {
    int64_t sent;                   /* records the services accepted */
    int64_t batches;                /* batches read */
    int64_t requests;               /* HTTP requests made */
    int64_t rejected;               /* records refused (dead-lettered or counted) */
    int64_t dead_lettered;
    int64_t retries;                /* failed attempts */
    int64_t backlog;                /* records left past the cursors at the end */
    int64_t bytes;                  /* request bytes on the wire */
    int64_t elapsed_ns;
    char status[256];               /* how the run ended, in words */
} export_stats;

/* Runs the targets (which share one exporter name and so one export_state)
 * against the spool: drains each in turn, and with follow keeps polling
 * until *stop. Returns an EXPORT_EXIT_* code and fills *st. */
int export_run(spool *s, httpc *h, export_target *const *targets, size_t n_targets,
               const export_options *o, export_stats *st);

/* Writes the one summary line a run ends with:
 * "honeycomb: sent 10000, batches 20, rejected 0, dead-lettered 0, backlog 0, 1.234 s: done". */
void export_stats_line(const char *exporter, const export_stats *st, char *out, size_t size);

/* Sets the cursors of the targets' streams so that the next record sent is
 * the first with id >= from_id (from_id 1 or 0: everything still in the
 * spool). An SPOOL_* status. */
int export_reset_cursor(spool *s, const char *exporter, spool_stream stream, int64_t from_id);

#endif
