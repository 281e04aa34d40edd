/* journal: batches appended to a per-process file, copied into the spool
 * in one transaction at a time (see journal.h for the why and the
 * guarantees).
 *
 * The file has a fixed size, allocated when it is created, and is mapped
 * into memory: appending a batch is encoding it into the page cache, with no
 * system call, and what the mapping holds belongs to the file, not to the
 * process, so it outlives a process killed at any moment. Blocks are
 * allocated up front (posix_fallocate) so that a full disk can never turn a
 * write into the mapping into SIGBUS.
 *
 * Records carry a checksum seeded with the file's generation; the file is
 * never cut, so past the last record lie records of earlier generations,
 * which do not check against the current one and end a reading there. A
 * record's payload is written before its head, so a record cut short by the
 * death of its process does not check either.
 *
 * A flush is one spool_write_batches with the mark "<generation> <end>";
 * then the header takes the next generation and the next record goes right
 * after the header again. A recovery reads a dead process's file from the
 * mark on when the mark names the file's generation, and from the first
 * record otherwise: a batch is copied once even if its process died between
 * the commit and the new generation. */
#include "spool/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/tstamp.h"

#define MAGIC "CRJRNL02"
#define BYTE_ORDER_MARK 0x01020304u
#define HEADER_SIZE 32
#define RECORD_MAGIC 0x4352424au
#define RECORD_HEAD 16                  /* magic, length, checksum */
#define FILE_SIZE (4u << 20)            /* the whole journal; at most about a
                                           thousand requests wait in it */
#define RECORD_MAX (FILE_SIZE - HEADER_SIZE - RECORD_HEAD)
#define NULL_LEN UINT32_MAX             /* a NULL string */
#define NEW_SUFFIX ".new"               /* being created: not a journal yet */
#define STALE_NEW_SECONDS 60            /* a .new file nobody finished */

struct spool_journal {
    int fd;
    char *path;                 /* full path */
    const char *name;           /* in path: the file name, the mark's key */
    unsigned char *map;         /* the whole file */
    uint64_t gen;               /* generation in the header */
    size_t end;                 /* past the last waiting record */
    size_t batches, records;
    int64_t oldest_ns;
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

static int status_of_errno(int e)
{
    if (e == ENOSPC || e == EDQUOT || e == EFBIG)
        return SPOOL_FULL;
    if (e == EACCES || e == EPERM || e == EROFS)
        return SPOOL_READONLY;
    if (e == ENOENT || e == ENOTDIR)
        return SPOOL_CANTOPEN;
    return SPOOL_ERROR;
}

/* Finds a torn record, or one of another generation, not tampering: two
 * running sums of 64-bit words (Fletcher's, as SQLite's WAL checksum), a few
 * hundred nanoseconds for a request's batch. */
static uint64_t checksum(const unsigned char *p, size_t n, uint64_t gen)
{
    uint64_t a = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n, b = gen;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        a += w;
        b += a;
    }
    uint64_t w = 0;
    memcpy(&w, p + i, n - i);
    a += w;
    b += a;
    return a ^ (b << 1 | b >> 63);
}

static void header_bytes(unsigned char h[HEADER_SIZE], uint64_t gen)
{
    uint32_t bom = BYTE_ORDER_MARK, size = HEADER_SIZE;
    memset(h, 0, HEADER_SIZE);
    memcpy(h, MAGIC, 8);
    memcpy(h + 8, &bom, 4);
    memcpy(h + 12, &size, 4);
    memcpy(h + 16, &gen, 8);
}

/* 1 and *gen for a valid header, 0 otherwise. */
static int header_parse(const unsigned char *p, size_t n, uint64_t *gen)
{
    uint32_t bom, size;
    if (n < HEADER_SIZE || memcmp(p, MAGIC, 8) != 0)
        return 0;
    memcpy(&bom, p + 8, 4);
    memcpy(&size, p + 12, 4);
    if (bom != BYTE_ORDER_MARK || size != HEADER_SIZE)
        return 0;
    memcpy(gen, p + 16, 8);
    return 1;
}

/* ---- encoding ----------------------------------------------------------- */

/* Writes into a fixed space (the mapped file past the last record). */
typedef struct enc {
    unsigned char *p;
    size_t len, cap;
    int full;                   /* it did not fit */
} enc;

static void put(enc *e, const void *v, size_t n)
{
    if (e->full || n > e->cap - e->len) {
        e->full = 1;
        return;
    }
    memcpy(e->p + e->len, v, n);
    e->len += n;
}

static void put_u32(enc *e, uint32_t v) { put(e, &v, 4); }
static void put_i32(enc *e, int32_t v) { put(e, &v, 4); }
static void put_i64(enc *e, int64_t v) { put(e, &v, 8); }

/* length (NULL_LEN for NULL), bytes, NUL: decoded strings point into the buffer */
static void put_str(enc *e, const char *s)
{
    if (s == NULL) {
        put_u32(e, NULL_LEN);
        return;
    }
    size_t n = strlen(s);
    if (n >= RECORD_MAX) {
        e->full = 1;
        return;
    }
    put_u32(e, (uint32_t)n);
    put(e, s, n + 1);
}

/* A fixed-size id field, "" included. */
static void put_id(enc *e, const char *v, size_t size)
{
    size_t n = strnlen(v, size - 1);
    put_u32(e, (uint32_t)n);
    put(e, v, n);
    put(e, "", 1);
}

static void encode_batch(enc *e, const spool_batch *b)
{
    put_u32(e, (uint32_t)b->n_spans);
    put_u32(e, (uint32_t)b->n_logs);
    put_u32(e, (uint32_t)b->n_errors);
    put_str(e, b->resource_json);
    put_str(e, b->scope_name);
    put_str(e, b->scope_version);
    for (size_t i = 0; i < b->n_spans; i++) {
        const spool_span *r = &b->spans[i];
        put_id(e, r->trace_id, sizeof r->trace_id);
        put_id(e, r->span_id, sizeof r->span_id);
        put_id(e, r->parent_span_id, sizeof r->parent_span_id);
        put_str(e, r->name);
        put_i32(e, r->kind);
        put_i64(e, r->start_ns);
        put_i64(e, r->end_ns);
        put_i32(e, r->status_code);
        put_str(e, r->status_message);
        put_str(e, r->attributes_json);
        put_str(e, r->events_json);
        put_str(e, r->links_json);
        put_str(e, r->trace_state);
        put_u32(e, r->flags);
    }
    for (size_t i = 0; i < b->n_logs; i++) {
        const spool_log *r = &b->logs[i];
        put_i64(e, r->time_ns);
        put_i64(e, r->observed_ns);
        put_i32(e, r->severity_number);
        put_str(e, r->severity_text);
        put_str(e, r->body);
        put_str(e, r->attributes_json);
        put_id(e, r->trace_id, sizeof r->trace_id);
        put_id(e, r->span_id, sizeof r->span_id);
        put_u32(e, r->flags);
    }
    for (size_t i = 0; i < b->n_errors; i++) {
        const spool_error *r = &b->errors[i];
        put_id(e, r->uuid, sizeof r->uuid);
        put_i64(e, r->time_ns);
        put_str(e, r->level);
        put_str(e, r->class_name);
        put_str(e, r->message);
        put_str(e, r->frames_json);
        put_str(e, r->request_json);
        put_str(e, r->context);
        put_str(e, r->fingerprint);
        put_str(e, r->custom_json);
        put_id(e, r->trace_id, sizeof r->trace_id);
        put_id(e, r->span_id, sizeof r->span_id);
    }
}

/* ---- decoding ----------------------------------------------------------- */

typedef struct dec {
    const unsigned char *p, *end;
    int bad;
} dec;

static void get(dec *d, void *v, size_t n)
{
    if (d->bad || (size_t)(d->end - d->p) < n) {
        d->bad = 1;
        memset(v, 0, n);
        return;
    }
    memcpy(v, d->p, n);
    d->p += n;
}

static uint32_t get_u32(dec *d) { uint32_t v; get(d, &v, 4); return v; }
static int32_t get_i32(dec *d) { int32_t v; get(d, &v, 4); return v; }
static int64_t get_i64(dec *d) { int64_t v; get(d, &v, 8); return v; }

static const char *get_str(dec *d)
{
    uint32_t n = get_u32(d);
    if (d->bad || n == NULL_LEN)
        return NULL;
    if ((size_t)(d->end - d->p) <= n || d->p[n] != '\0' || memchr(d->p, '\0', n) != NULL) {
        d->bad = 1;
        return NULL;
    }
    const char *s = (const char *)d->p;
    d->p += (size_t)n + 1;
    return s;
}

static void get_id(dec *d, char *out, size_t size)
{
    const char *s = get_str(d);
    if (s == NULL || strlen(s) >= size) {
        d->bad = 1;
        out[0] = '\0';
        return;
    }
    memcpy(out, s, strlen(s) + 1);
}

/* Decoded batches, and the records they point to. */
typedef struct batches {
    spool_batch *b;
    size_t n, cap;
    spool_span *sp;
    size_t nsp, capsp;
    spool_log *lg;
    size_t nlg, caplg;
    spool_error *er;
    size_t ner, caper;
    size_t *at;                 /* per batch: first span, log, error index (3 each) */
    size_t capat;
    size_t records;
} batches;

static void batches_free(batches *bs)
{
    free(bs->b);
    free(bs->sp);
    free(bs->lg);
    free(bs->er);
    free(bs->at);
    memset(bs, 0, sizeof *bs);
}

/* Grows *arr (of elem-sized items, *cap of them) to hold want; 0 on success. */
static int reserve(void **arr, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < want)
        ncap *= 2;
    void *grown = realloc(*arr, ncap * elem);
    if (grown == NULL)
        return -1;
    *arr = grown;
    *cap = ncap;
    return 0;
}

#define DECODE_BAD (-1)
#define DECODE_NOMEM (-2)

/* Decodes one batch from a record's payload into bs: 0, DECODE_BAD for a
 * malformed payload, DECODE_NOMEM (bs unchanged but for capacity). */
static int decode_batch(batches *bs, const unsigned char *p, size_t n)
{
    dec d = {p, p + n, 0};
    uint32_t ns = get_u32(&d), nl = get_u32(&d), ne = get_u32(&d);
    /* a span takes at least 67 bytes, a log 46, an error 55: the payload
     * bounds what the counts may claim (and so what is allocated for them) */
    if (d.bad || (uint64_t)ns * 67 + (uint64_t)nl * 46 + (uint64_t)ne * 55 > n)
        return DECODE_BAD;
    if (reserve((void **)&bs->b, &bs->cap, bs->n + 1, sizeof *bs->b) != 0 ||
        reserve((void **)&bs->at, &bs->capat, bs->n + 1, 3 * sizeof *bs->at) != 0 ||
        reserve((void **)&bs->sp, &bs->capsp, bs->nsp + ns, sizeof *bs->sp) != 0 ||
        reserve((void **)&bs->lg, &bs->caplg, bs->nlg + nl, sizeof *bs->lg) != 0 ||
        reserve((void **)&bs->er, &bs->caper, bs->ner + ne, sizeof *bs->er) != 0)
        return DECODE_NOMEM;
    spool_batch *b = &bs->b[bs->n];
    memset(b, 0, sizeof *b);
    b->resource_json = get_str(&d);
    b->scope_name = get_str(&d);
    b->scope_version = get_str(&d);
    for (uint32_t i = 0; i < ns; i++) {
        spool_span *r = &bs->sp[bs->nsp + i];
        memset(r, 0, sizeof *r);
        get_id(&d, r->trace_id, sizeof r->trace_id);
        get_id(&d, r->span_id, sizeof r->span_id);
        get_id(&d, r->parent_span_id, sizeof r->parent_span_id);
        r->name = get_str(&d);
        r->kind = get_i32(&d);
        r->start_ns = get_i64(&d);
        r->end_ns = get_i64(&d);
        r->status_code = get_i32(&d);
        r->status_message = get_str(&d);
        r->attributes_json = get_str(&d);
        r->events_json = get_str(&d);
        r->links_json = get_str(&d);
        r->trace_state = get_str(&d);
        r->flags = get_u32(&d);
    }
    for (uint32_t i = 0; i < nl; i++) {
        spool_log *r = &bs->lg[bs->nlg + i];
        memset(r, 0, sizeof *r);
        r->time_ns = get_i64(&d);
        r->observed_ns = get_i64(&d);
        r->severity_number = get_i32(&d);
        r->severity_text = get_str(&d);
        r->body = get_str(&d);
        r->attributes_json = get_str(&d);
        get_id(&d, r->trace_id, sizeof r->trace_id);
        get_id(&d, r->span_id, sizeof r->span_id);
        r->flags = get_u32(&d);
    }
    for (uint32_t i = 0; i < ne; i++) {
        spool_error *r = &bs->er[bs->ner + i];
        memset(r, 0, sizeof *r);
        get_id(&d, r->uuid, sizeof r->uuid);
        r->time_ns = get_i64(&d);
        r->level = get_str(&d);
        r->class_name = get_str(&d);
        r->message = get_str(&d);
        r->frames_json = get_str(&d);
        r->request_json = get_str(&d);
        r->context = get_str(&d);
        r->fingerprint = get_str(&d);
        r->custom_json = get_str(&d);
        get_id(&d, r->trace_id, sizeof r->trace_id);
        get_id(&d, r->span_id, sizeof r->span_id);
    }
    if (d.bad || d.p != d.end)
        return DECODE_BAD;
    b->n_spans = ns;
    b->n_logs = nl;
    b->n_errors = ne;
    bs->at[3 * bs->n] = bs->nsp;
    bs->at[3 * bs->n + 1] = bs->nlg;
    bs->at[3 * bs->n + 2] = bs->ner;
    bs->nsp += ns;
    bs->nlg += nl;
    bs->ner += ne;
    bs->records += (size_t)ns + nl + ne;
    bs->n++;
    return 0;
}

/* Points each batch at its records, once the arrays stopped moving. */
static void batches_link(batches *bs)
{
    for (size_t i = 0; i < bs->n; i++) {
        spool_batch *b = &bs->b[i];
        b->spans = b->n_spans > 0 ? &bs->sp[bs->at[3 * i]] : NULL;
        b->logs = b->n_logs > 0 ? &bs->lg[bs->at[3 * i + 1]] : NULL;
        b->errors = b->n_errors > 0 ? &bs->er[bs->at[3 * i + 2]] : NULL;
    }
}

/* Removes the batches the spool would refuse (a journal written by a buggy
 * or older program): the rest can still go in. Returns how many went. */
static size_t drop_invalid(batches *bs)
{
    size_t kept = 0, gone = 0;
    for (size_t i = 0; i < bs->n; i++) {
        if (spool_check_batch(&bs->b[i], NULL, 0) != SPOOL_OK) {
            bs->records -= bs->b[i].n_spans + bs->b[i].n_logs + bs->b[i].n_errors;
            gone++;
            continue;
        }
        bs->b[kept++] = bs->b[i];
    }
    bs->n = kept;
    return gone;
}

/* Decodes the records in p[0..n) until the first one that is torn, of
 * another generation or malformed (checksums compared when verify: not for
 * what this process wrote itself). *used = bytes of the records decoded. -1
 * when memory ran out. */
static int decode_records(batches *bs, const unsigned char *p, size_t n, int verify,
                          uint64_t gen, size_t *used)
{
    size_t off = 0;
    while (n - off >= RECORD_HEAD) {
        uint32_t magic, len;
        uint64_t sum;
        memcpy(&magic, p + off, 4);
        memcpy(&len, p + off + 4, 4);
        memcpy(&sum, p + off + 8, 8);
        if (magic != RECORD_MAGIC || len > RECORD_MAX || n - off - RECORD_HEAD < len ||
            (verify && checksum(p + off + RECORD_HEAD, len, gen) != sum))
            break;
        int rc = decode_batch(bs, p + off + RECORD_HEAD, len);
        if (rc == DECODE_NOMEM)
            return -1;
        if (rc != 0)
            break;
        off += RECORD_HEAD + len;
    }
    *used = off;
    batches_link(bs);
    return 0;
}

/* ---- the journal -------------------------------------------------------- */

/* The next generation: the records waiting so far are done with. */
static void forget_pending(spool_journal *j)
{
    j->gen++;
    unsigned char h[HEADER_SIZE];
    header_bytes(h, j->gen);
    memcpy(j->map, h, HEADER_SIZE);
    j->end = HEADER_SIZE;
    j->batches = 0;
    j->records = 0;
    j->oldest_ns = 0;
}

int spool_journal_open(const char *spool_path, unsigned mode, spool_journal **out, char *err,
                       size_t err_size)
{
    if (out != NULL)
        *out = NULL;
    if (spool_path == NULL || *spool_path == '\0' || out == NULL) {
        put_err(err, err_size, "spool_journal_open: no path");
        return SPOOL_ERROR;
    }
    if (mode == 0)
        mode = SPOOL_DEFAULT_MODE;
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint64_t)tstamp_mono_ns() * 0x9e3779b97f4a7c15ULL;
    spool_journal *j = calloc(1, sizeof *j);
    size_t plen = strlen(spool_path) + 64;
    char *tmp = malloc(plen);
    if (j == NULL || tmp == NULL || (j->path = malloc(plen)) == NULL) {
        free(j != NULL ? j->path : NULL);
        free(j);
        free(tmp);
        put_err(err, err_size, "out of memory");
        return SPOOL_ERROR;
    }
    snprintf(j->path, plen, "%s-journal-%ld-%016" PRIx64, spool_path, (long)getpid(), r);
    snprintf(tmp, plen, "%s" NEW_SUFFIX, j->path);
    const char *slash = strrchr(j->path, '/');
    j->name = slash != NULL ? slash + 1 : j->path;
    if (strlen(j->name) > SPOOL_MARK_KEY_MAX) {
        put_err(err, err_size, "journal: the spool's file name is too long for one");
        free(tmp);
        free(j->path);
        free(j);
        return SPOOL_ERROR;
    }
    j->map = MAP_FAILED;
    j->gen = 1;
    j->end = HEADER_SIZE;
    unsigned char h[HEADER_SIZE];
    header_bytes(h, j->gen);
    /* made under a name recovery ignores, locked, then given its name: a
     * recovery never sees a journal its owner does not hold yet */
    int e = 0;
    j->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
    if (j->fd < 0 || fchmod(j->fd, (mode_t)mode) != 0 || flock(j->fd, LOCK_EX | LOCK_NB) != 0)
        e = errno;
    else if ((e = posix_fallocate(j->fd, 0, FILE_SIZE)) != 0)
        ;
    else if ((j->map = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0)) ==
             MAP_FAILED)
        e = errno;
    else {
        memcpy(j->map, h, HEADER_SIZE);
        if (rename(tmp, j->path) != 0)
            e = errno;
    }
    if (e != 0) {
        put_err(err, err_size, "journal %s: %s", tmp, strerror(e));
        if (j->map != MAP_FAILED)
            munmap(j->map, FILE_SIZE);
        if (j->fd >= 0) {
            unlink(tmp);
            close(j->fd);
        }
        free(tmp);
        free(j->path);
        free(j);
        return status_of_errno(e);
    }
    free(tmp);
    *out = j;
    return SPOOL_OK;
}

int spool_journal_append(spool_journal *j, const spool_batch *b)
{
    if (j == NULL || b == NULL)
        return SPOOL_ERROR;
    if (spool_check_batch(b, NULL, 0) != SPOOL_OK)
        return SPOOL_INVALID;
    if (j->end + RECORD_HEAD >= FILE_SIZE)
        return SPOOL_FULL;
    /* the payload first, its head last: a record cut short never checks */
    enc e = {j->map + j->end + RECORD_HEAD, 0, FILE_SIZE - j->end - RECORD_HEAD, 0};
    encode_batch(&e, b);
    if (e.full)
        return SPOOL_FULL;      /* copy the journal into the spool first */
    uint32_t magic = RECORD_MAGIC, len = (uint32_t)e.len;
    uint64_t sum = checksum(e.p, e.len, j->gen);
    unsigned char head[RECORD_HEAD];
    memcpy(head, &magic, 4);
    memcpy(head + 4, &len, 4);
    memcpy(head + 8, &sum, 8);
    /* the compiler must not move the head's store before the payload's: a
     * process can be killed between any two instructions */
    atomic_signal_fence(memory_order_seq_cst);
    memcpy(j->map + j->end, head, RECORD_HEAD);
    j->end += RECORD_HEAD + e.len;
    if (j->batches++ == 0)
        j->oldest_ns = tstamp_mono_ns();
    j->records += b->n_spans + b->n_logs + b->n_errors;
    return SPOOL_OK;
}

size_t spool_journal_batches(const spool_journal *j)
{
    return j != NULL ? j->batches : 0;
}

size_t spool_journal_records(const spool_journal *j)
{
    return j != NULL ? j->records : 0;
}

size_t spool_journal_bytes(const spool_journal *j)
{
    return j != NULL ? j->end - HEADER_SIZE : 0;
}

int64_t spool_journal_oldest_ns(const spool_journal *j)
{
    return j != NULL ? j->oldest_ns : 0;
}

const char *spool_journal_name(const spool_journal *j)
{
    return j != NULL ? j->name : NULL;
}

/* Copies bs into the spool with the mark "<gen> <end>". */
static int copy_in(spool *s, const char *name, const batches *bs, uint64_t gen, size_t end,
                   unsigned flags, int64_t budget_ns)
{
    char value[48];
    snprintf(value, sizeof value, "%" PRIu64 " %zu", gen, end);
    spool_mark m = {name, value};
    return spool_write_batches(s, bs->b, bs->n, &m, flags, budget_ns);
}

int spool_journal_flush(spool_journal *j, spool *s, int64_t budget_ns)
{
    if (j == NULL || s == NULL)
        return SPOOL_ERROR;
    if (j->batches == 0)
        return SPOOL_OK;
    batches bs = {0};
    size_t used = 0, len = j->end - HEADER_SIZE;
    /* what this process wrote itself: no checksums to compare */
    if (decode_records(&bs, j->map + HEADER_SIZE, len, 0, j->gen, &used) != 0 || used != len ||
        bs.n != j->batches) {
        batches_free(&bs);
        return SPOOL_ERROR;     /* out of memory */
    }
    /* checked when appended */
    int status = copy_in(s, j->name, &bs, j->gen, j->end, SPOOL_CHECKED, budget_ns);
    batches_free(&bs);
    if (status == SPOOL_OK)
        forget_pending(j);
    return status;
}

size_t spool_journal_discard(spool_journal *j)
{
    if (j == NULL)
        return 0;
    size_t n = j->records;
    forget_pending(j);
    return n;
}

void spool_journal_close(spool_journal *j, spool *s)
{
    if (j == NULL)
        return;
    if (j->batches == 0) {
        /* the file first: a mark without its file is only garbage */
        unlink(j->path);
        if (s != NULL) {
            spool_mark m = {j->name, NULL};
            spool_mark_set(s, &m);
        }
    }
    munmap(j->map, FILE_SIZE);
    close(j->fd);               /* releases the lock */
    free(j->path);
    free(j);
}

/* ---- recovery ----------------------------------------------------------- */

typedef struct recover_ctx {
    spool *s;
    const char *dir;
    int64_t budget_ns;
    spool_journal_recovery *st;
} recover_ctx;

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Reads up to FILE_SIZE bytes of fd from its start; NULL on failure. */
static unsigned char *read_file(int fd, size_t size, size_t *got)
{
    if (size > FILE_SIZE)
        size = FILE_SIZE;
    unsigned char *p = malloc(size > 0 ? size : 1);
    size_t n = 0;
    while (p != NULL && n < size) {
        ssize_t k = pread(fd, p + n, size - n, (off_t)n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    *got = n;
    return p;
}

/* One journal of a dead process (fd locked): copies what the spool does not
 * have yet, then removes file and mark. SPOOL_OK when it is gone. */
static int recover_one(recover_ctx *c, const char *path, const char *name, int fd, size_t size)
{
    size_t n = 0;
    unsigned char *p = read_file(fd, size, &n);
    if (p == NULL)
        return SPOOL_ERROR;
    uint64_t gen = 0;
    int status = SPOOL_OK;
    if (header_parse(p, n, &gen)) {
        char value[64];
        uint64_t mgen = 0;
        size_t mend = 0, from = HEADER_SIZE;
        status = spool_mark_get(c->s, name, value, sizeof value);
        if (status == SPOOL_OK && sscanf(value, "%" SCNu64 " %zu", &mgen, &mend) == 2 &&
            mgen == gen && mend > from)
            from = mend;
        if (status == SPOOL_OK || status == SPOOL_NOTFOUND)
            status = SPOOL_OK;
        batches bs = {0};
        size_t used = 0;
        if (status == SPOOL_OK && from < n) {
            if (decode_records(&bs, p + from, n - from, 1, gen, &used) != 0)
                status = SPOOL_ERROR;
            else if (bs.n > 0)
                status = copy_in(c->s, name, &bs, gen, from + used, 0, c->budget_ns);
            if (status == SPOOL_INVALID && drop_invalid(&bs) > 0)
                status = copy_in(c->s, name, &bs, gen, from + used, SPOOL_CHECKED, c->budget_ns);
            if (status == SPOOL_OK && c->st != NULL) {
                c->st->batches += bs.n;
                c->st->records += bs.records;
            }
        }
        batches_free(&bs);
    }
    free(p);
    if (status != SPOOL_OK)
        return status;
    unlink(path);
    spool_mark m = {name, NULL};
    spool_mark_set(c->s, &m);
    return SPOOL_OK;
}

static void recover_entry(recover_ctx *c, const char *name)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", c->dir, name) >= sizeof path)
        return;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    struct stat sb;
    /* held: its process lives; unlinked: another recovery finished it */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        sb.st_nlink == 0) {
        close(fd);
        return;
    }
    if (has_suffix(name, NEW_SUFFIX)) {
        /* a journal its process never finished creating holds nothing */
        if (time(NULL) - sb.st_mtime > STALE_NEW_SECONDS)
            unlink(path);
    } else if (recover_one(c, path, name, fd, (size_t)sb.st_size) == SPOOL_OK) {
        if (c->st != NULL)
            c->st->journals++;
    } else if (c->st != NULL) {
        c->st->kept++;
    }
    close(fd);
}

/* A mark whose journal is gone (its process died between removing the file
 * and the mark): deleted. */
static int drop_stale_mark(void *arg, const char *key)
{
    recover_ctx *c = arg;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", c->dir, key) >= sizeof path)
        return 0;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        spool_mark m = {key, NULL};
        spool_mark_set(c->s, &m);
    }
    return 0;
}

int spool_journal_recover(spool *s, const char *spool_path, int64_t budget_ns,
                          spool_journal_recovery *st)
{
    if (st != NULL)
        memset(st, 0, sizeof *st);
    if (s == NULL || spool_path == NULL || *spool_path == '\0')
        return SPOOL_ERROR;
    char dir[4096], prefix[512];
    const char *slash = strrchr(spool_path, '/');
    const char *base = slash != NULL ? slash + 1 : spool_path;
    size_t dlen = slash == NULL ? 1 : slash == spool_path ? 1 : (size_t)(slash - spool_path);
    if (dlen >= sizeof dir || (size_t)snprintf(prefix, sizeof prefix, "%s-journal-", base) >=
                                  sizeof prefix)
        return SPOOL_ERROR;
    if (slash == NULL)
        memcpy(dir, ".", 2);
    else {
        memcpy(dir, spool_path, dlen);
        dir[dlen] = '\0';
    }
    recover_ctx c = {s, dir, budget_ns, st};
    DIR *d = opendir(dir);
    if (d == NULL)
        return status_of_errno(errno);
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, plen) == 0)
            recover_entry(&c, e->d_name);
    closedir(d);
    return spool_mark_each(s, prefix, drop_stale_mark, &c);
}
