/* crash: the fatal-signal recorder. The handler writes a fixed-format record
 * into a file opened at worker start (see crash.h for the format), then lets
 * the process die; crash_recover turns leftover files into records for
 * `critical` error reports at the next start.
 *
 * Everything the handler touches is prepared in advance: the file, the
 * signal stack, a formatting buffer, the frame array, and backtrace() itself
 * (warmed up once). The handler uses only async-signal-safe calls: write,
 * clock_gettime, getpid, sigaction, raise, and glibc's backtrace and
 * backtrace_symbols_fd, which after the warm-up neither allocate nor lock
 * anything of ours. */
#include "telemetry/crash.h"

#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ALTSTACK_EXTRA (64 * 1024)

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define N_SIGNALS (sizeof crash_signals / sizeof crash_signals[0])

struct crash_recorder {
    int fd;
    char path[PATH_MAX];
    void *altstack;
    stack_t old_stack;
    struct sigaction old_act[N_SIGNALS];
    volatile sig_atomic_t in_handler;
    volatile sig_atomic_t req_ready;     /* request fields below are consistent */
    char request[CRASH_REQUEST_SIZE];
    char trace_id[33];
    char span_id[17];
    char out[CRASH_REQUEST_SIZE + 512];  /* the record header, built in the handler */
    void *frames[CRASH_MAX_FRAMES];
};

/* The installed recorder, for the handler (see crash.h). */
static crash_recorder *volatile crash_active;

static const char *signame(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "SIG?";
    }
}

/* ---- async-signal-safe formatting ------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void s_puts(sbuf *b, const char *s)
{
    while (*s != '\0' && b->len < b->cap)
        b->p[b->len++] = *s++;
}

static void s_udec(sbuf *b, unsigned long long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && b->len < b->cap)
        b->p[b->len++] = tmp[--n];
}

static void s_dec(sbuf *b, long long v)
{
    if (v < 0) {
        s_puts(b, "-");
        s_udec(b, (unsigned long long)(-(v + 1)) + 1);
    } else {
        s_udec(b, (unsigned long long)v);
    }
}

static void s_hex16(sbuf *b, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0 && b->len < b->cap; i--)
        b->p[b->len++] = hex[(v >> (i * 4)) & 0xF];
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static void write_record(crash_recorder *c, int sig, const siginfo_t *si)
{
    sbuf b = {c->out, 0, sizeof c->out};
    struct timespec ts = {0, 0};
    clock_gettime(CLOCK_REALTIME, &ts);

    s_puts(&b, CRASH_MAGIC "\nsignal: ");
    s_dec(&b, sig);
    s_puts(&b, " ");
    s_puts(&b, signame(sig));
    s_puts(&b, "\ncode: ");
    s_dec(&b, si ? si->si_code : 0);
    s_puts(&b, "\naddr: 0x");
    s_hex16(&b, si ? (uint64_t)(uintptr_t)si->si_addr : 0);
    s_puts(&b, "\npid: ");
    s_dec(&b, (long long)getpid());
    s_puts(&b, "\ntime_ns: ");
    s_dec(&b, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    s_puts(&b, "\nrequest: ");
    bool ready = c->req_ready != 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (ready)
        s_puts(&b, c->request);
    s_puts(&b, "\ntrace_id: ");
    if (ready)
        s_puts(&b, c->trace_id);
    s_puts(&b, "\nspan_id: ");
    if (ready)
        s_puts(&b, c->span_id);
    s_puts(&b, "\nbacktrace:\n");
    write_all(c->fd, b.p, b.len);

    int n = backtrace(c->frames, CRASH_MAX_FRAMES);
    if (n > 0)
        backtrace_symbols_fd(c->frames, n, c->fd);
    write_all(c->fd, "end\n", 4);
}

static void crash_handler(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    int saved = errno;
    crash_recorder *c = crash_active;
    if (c != NULL && !c->in_handler) {
        c->in_handler = 1;
        write_record(c, sig, si);
    }
    /* Die as we would have: the default action, and the signal again. A
     * fault re-executes the faulting instruction on return anyway; a raised
     * signal (abort, kill) needs the raise. It stays pending until we
     * return, since the handler blocks it. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    errno = saved;
    raise(sig);
}

/* ---- install / per request ------------------------------------------- */

crash_recorder *crash_install(const char *dir, char *err, size_t err_size)
{
    if (err_size > 0)
        err[0] = '\0';
    if (crash_active != NULL) {
        snprintf(err, err_size, "a crash recorder is already installed");
        return NULL;
    }
    crash_recorder *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    c->fd = -1;
    int n = snprintf(c->path, sizeof c->path, "%s/crash-%ld.txt", dir, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof c->path) {
        snprintf(err, err_size, "crash directory path too long");
        free(c);
        return NULL;
    }
    c->fd = open(c->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (c->fd < 0) {
        snprintf(err, err_size, "cannot open %s: %s", c->path, strerror(errno));
        free(c);
        return NULL;
    }
    /* Exactly 0640 whatever the umask: crash records may quote requests. */
    if (fchmod(c->fd, 0640) != 0) {
        /* not fatal: the file is usable */
    }

    /* backtrace() loads libgcc's unwinder on first use (malloc, dlopen). */
    void *warm[4];
    (void)backtrace(warm, 4);

    long sz = sysconf(_SC_SIGSTKSZ);
    size_t stack_size = (size_t)(sz > 0 ? sz : 16384) + ALTSTACK_EXTRA;
    c->altstack = malloc(stack_size);
    if (c->altstack == NULL) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    stack_t ss = {.ss_sp = c->altstack, .ss_size = stack_size, .ss_flags = 0};
    if (sigaltstack(&ss, &c->old_stack) != 0) {
        snprintf(err, err_size, "sigaltstack: %s", strerror(errno));
        free(c->altstack);
        c->altstack = NULL;
        goto fail;
    }

    crash_active = c;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_SIGNALS; i++)
        sigaddset(&sa.sa_mask, crash_signals[i]);
    for (size_t i = 0; i < N_SIGNALS; i++) {
        if (sigaction(crash_signals[i], &sa, &c->old_act[i]) != 0) {
            snprintf(err, err_size, "sigaction: %s", strerror(errno));
            while (i-- > 0)
                sigaction(crash_signals[i], &c->old_act[i], NULL);
            crash_active = NULL;
            sigaltstack(&c->old_stack, NULL);
            free(c->altstack);
            c->altstack = NULL;
            goto fail;
        }
    }
    return c;
fail:
    close(c->fd);
    unlink(c->path);
    free(c);
    return NULL;
}

static void copy_clean(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    if (src != NULL) {
        for (; src[i] != '\0' && i + 1 < size; i++) {
            unsigned char ch = (unsigned char)src[i];
            dst[i] = (ch < 0x20 || ch == 0x7F) ? ' ' : (char)ch;
        }
    }
    dst[i] = '\0';
}

static void copy_hex(char *dst, size_t size, const char *src)
{
    size_t want = size - 1, i = 0;
    if (src != NULL && strlen(src) == want) {
        for (; i < want; i++) {
            char ch = src[i];
            if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
                break;
            dst[i] = ch;
        }
        if (i < want)
            i = 0;
    }
    dst[i] = '\0';
}

void crash_set_request(crash_recorder *c, const char *request_line,
                       const char *trace_id_hex, const char *span_id_hex)
{
    if (c == NULL)
        return;
    c->req_ready = 0;
    atomic_signal_fence(memory_order_seq_cst);
    copy_clean(c->request, sizeof c->request, request_line);
    copy_hex(c->trace_id, sizeof c->trace_id, trace_id_hex);
    copy_hex(c->span_id, sizeof c->span_id, span_id_hex);
    atomic_signal_fence(memory_order_seq_cst);
    c->req_ready = 1;
}

void crash_clear_request(crash_recorder *c)
{
    if (c == NULL)
        return;
    c->req_ready = 0;
}

const char *crash_path(const crash_recorder *c)
{
    return c->path;
}

void crash_uninstall(crash_recorder *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < N_SIGNALS; i++)
        sigaction(crash_signals[i], &c->old_act[i], NULL);
    if (crash_active == c)
        crash_active = NULL;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == c->altstack) {
        if (c->old_stack.ss_sp == NULL || (c->old_stack.ss_flags & SS_DISABLE)) {
            stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
            sigaltstack(&off, NULL);
        } else {
            sigaltstack(&c->old_stack, NULL);
        }
    }
    free(c->altstack);
    struct stat st;
    if (fstat(c->fd, &st) == 0 && st.st_size == 0)
        unlink(c->path);
    close(c->fd);
    free(c);
}

/* ---- reading records back -------------------------------------------- */

static void set_hex_field(char *dst, size_t size, const char *v)
{
    copy_hex(dst, size, v);
}

static void parse_field(crash_record *r, char *line)
{
    char *colon = strchr(line, ':');
    if (colon == NULL)
        return;
    *colon = '\0';
    char *v = colon + 1;
    if (*v == ' ')
        v++;
    const char *k = line;
    if (strcmp(k, "signal") == 0) {
        char *end;
        long s = strtol(v, &end, 10);
        r->signo = (s > 0 && s < 128) ? (int)s : 0;
        while (*end == ' ')
            end++;
        copy_clean(r->signame, sizeof r->signame, end);
    } else if (strcmp(k, "code") == 0) {
        r->code = (int)strtol(v, NULL, 10);
    } else if (strcmp(k, "addr") == 0) {
        r->addr = (uint64_t)strtoull(v, NULL, 16);
    } else if (strcmp(k, "pid") == 0) {
        r->pid = strtol(v, NULL, 10);
    } else if (strcmp(k, "time_ns") == 0) {
        r->time_ns = strtoll(v, NULL, 10);
    } else if (strcmp(k, "request") == 0) {
        copy_clean(r->request, sizeof r->request, v);
    } else if (strcmp(k, "trace_id") == 0) {
        set_hex_field(r->trace_id, sizeof r->trace_id, v);
    } else if (strcmp(k, "span_id") == 0) {
        set_hex_field(r->span_id, sizeof r->span_id, v);
    }
}

static void record_init(crash_record *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->path = path;
}

int crash_parse(char *text, size_t len, const char *path, crash_record_fn fn, void *arg,
                size_t *found)
{
    crash_record rec;
    bool in_rec = false, in_bt = false;
    char *p = text, *end = text + len;
    *found = 0;
    record_init(&rec, path);
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        *le = '\0';
        if (le > p && le[-1] == '\r')
            le[-1] = '\0';
        if (strcmp(p, CRASH_MAGIC) == 0) {
            if (in_rec) {
                (*found)++;
                if (fn(arg, &rec) != 0)
                    return 1;
            }
            record_init(&rec, path);
            in_rec = true;
            in_bt = false;
        } else if (in_rec && strcmp(p, "end") == 0) {
            rec.complete = true;
            (*found)++;
            if (fn(arg, &rec) != 0)
                return 1;
            in_rec = false;
            in_bt = false;
        } else if (in_rec && in_bt) {
            if (*p != '\0' && rec.n_frames < CRASH_MAX_FRAMES)
                rec.frames[rec.n_frames++] = p;
        } else if (in_rec && strcmp(p, "backtrace:") == 0) {
            in_bt = true;
        } else if (in_rec) {
            parse_field(&rec, p);
        }
        p = le + 1;
    }
    if (in_rec) {
        (*found)++;
        if (fn(arg, &rec) != 0)
            return 1;
    }
    return 0;
}

/* pid from "crash-<pid>.txt", or -1. */
static long file_pid(const char *name)
{
    if (strncmp(name, "crash-", 6) != 0)
        return -1;
    const char *p = name + 6;
    long pid = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        if (pid > (LONG_MAX - 9) / 10)
            return -1;
        pid = pid * 10 + (*p++ - '0');
    }
    return strcmp(p, ".txt") == 0 && pid > 0 ? pid : -1;
}

static void keep_corrupt(const char *path, int fd, const char *text, size_t len, bool own)
{
    char bad[PATH_MAX + 16];
    snprintf(bad, sizeof bad, "%s.corrupt", path);
    if (!own) {
        rename(path, bad);
        return;
    }
    /* Our own file stays open for our crashes: copy it aside, then empty it. */
    int out = open(bad, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (out >= 0) {
        write_all(out, text, len);
        close(out);
    }
    if (ftruncate(fd, 0) != 0) {
        /* nothing better to do: it will be looked at again next start */
    }
}

static void recover_file(const char *path, long pid, crash_record_fn fn, void *arg,
                         crash_recover_stats *st)
{
    bool own = pid == (long)getpid();
    if (!own && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
        return;   /* a live worker's file */
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat a, b;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &a) != 0 || stat(path, &b) != 0 ||
        a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        close(fd);   /* someone else has it, or had it and removed it */
        return;
    }
    size_t cap = a.st_size > CRASH_MAX_FILE ? CRASH_MAX_FILE : (size_t)a.st_size;
    char *text = malloc(cap + 1);
    size_t len = 0;
    if (text == NULL) {
        close(fd);
        return;
    }
    while (len < cap) {
        ssize_t n = read(fd, text + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    text[len] = '\0';

    size_t found = 0;
    int rc = 0;
    char *copy = NULL;
    if (len > 0) {
        copy = malloc(len + 1);   /* crash_parse writes NULs into its buffer */
        if (copy != NULL)
            memcpy(copy, text, len + 1);
        rc = crash_parse(text, len, path, fn, arg, &found);
    }
    if (st != NULL)
        st->records += found - (size_t)(rc != 0);
    if (rc != 0) {
        if (st != NULL)
            st->files_kept++;
    } else if (len > 0 && found == 0) {
        keep_corrupt(path, fd, copy ? copy : "", copy ? len : 0, own);
        if (st != NULL)
            st->corrupt++;
    } else {
        if (own) {
            if (ftruncate(fd, 0) != 0 && st != NULL)
                st->files_kept++;
        } else {
            unlink(path);
        }
        if (st != NULL && len > 0)
            st->files_done++;
    }
    free(copy);
    free(text);
    close(fd);
}

int crash_recover(const char *dir, crash_record_fn fn, void *arg, crash_recover_stats *stats)
{
    if (stats != NULL)
        memset(stats, 0, sizeof *stats);
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct dirent *de;
    char path[PATH_MAX];
    while ((de = readdir(d)) != NULL) {
        long pid = file_pid(de->d_name);
        if (pid < 0)
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue;
        recover_file(path, pid, fn, arg, stats);
    }
    closedir(d);
    return 0;
}
