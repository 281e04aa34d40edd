/* cruddur-export: ships what the API spooled to one backend, one process per
 * target. Reads its configuration from the environment (and an env file, for
 * cron), takes a lock per target and spool so that runs never overlap, and
 * hands the work to the delivery engine (export.c) with the target's
 * encoder: otlp.c (honeycomb, otlp) or rollbar.c (rollbar).
 *
 *   cruddur-export TARGET [--once | --follow] [options]
 *
 * Exit codes (sysexits): 0 done, 75 backend unreachable or in backoff (or
 * another run holds the lock), 78 configuration or credentials wrong, 64 bad
 * command line, 1 anything else. Every run ends with one summary line. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/config.h"
#include "export/expcfg.h"
#include "export/export.h"
#include "export/httpc.h"
#include "export/otlp.h"
#include "export/rollbar.h"
#include "export/xray.h"
#include "export/cwlogs.h"
#include "spool/journal.h"
#include "spool/spool.h"
#include "util/tstamp.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

#define PROG "cruddur-export"
#define DEFAULT_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 5000

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: " PROG " TARGET [options]\n"
        "TARGET: honeycomb | otlp (any OTLP/HTTP endpoint) | rollbar | xray | cloudwatch\n"
        "  --once            drain what is in the spool, then exit (the default; for cron)\n"
        "  --follow          keep polling for new records until SIGTERM\n"
        "  --spool PATH      the spool (default $CRUDDUR_SPOOL, else $CRUDDUR_STATE_DIR/spool.db)\n"
        "  --env-file FILE   read NAME=VALUE settings (the environment wins)\n"
        "  --batch-size N    records per batch (default 512, xray 2000, cloudwatch 5000;\n"
        "                    rollbar sends one item a request)\n"
        "  --max-batches N   stop after N batches\n"
        "  --max-wait SECS   --once: longest wait for a retry within the run (default 10)\n"
        "  --interval SECS   --follow: pause when there is nothing to send (default 1)\n"
        "  --dry-run         print the requests it would send (secrets redacted), change nothing\n"
        "  --from-id ID      first move the cursor so that the run starts at record ID\n"
        "  --status          print the cursors, backlog and state, change nothing\n"
        "  --name NAME       the exporter's name in the spool (default TARGET)\n"
        "  --verbose         a line per request\n"
        "  --parallel N      requests in flight at once (default: xray 8, cloudwatch 4, others 1)\n"
        "  --daemon          xray: send to the X-Ray daemon over UDP ($AWS_XRAY_DAEMON_ADDRESS,\n"
        "                    default 127.0.0.1:2000) instead of the API; at most once\n"
        "  --help, --version\n"
        "exit codes: 0 done, 75 unreachable or in backoff (try later), 78 configuration\n"
        "or credentials, 64 usage, 1 other errors. See docs/exporters.md.\n");
}

typedef struct opts {
    const char *target;
    const char *name;
    const char *spool_path;
    const char *env_file;
    int follow, dry_run, verbose, status, daemon;
    int64_t batch_size, max_batches, max_wait_s, interval_s, from_id, parallel;
} opts;

static int parse_int(const char *s, int64_t min, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    static const struct option longopts[] = {
        { "once", no_argument, NULL, 'o' },
        { "follow", no_argument, NULL, 'f' },
        { "spool", required_argument, NULL, 's' },
        { "env-file", required_argument, NULL, 'e' },
        { "batch-size", required_argument, NULL, 'b' },
        { "max-batches", required_argument, NULL, 'm' },
        { "max-wait", required_argument, NULL, 'w' },
        { "interval", required_argument, NULL, 'i' },
        { "dry-run", no_argument, NULL, 'n' },
        { "from-id", required_argument, NULL, 'F' },
        { "status", no_argument, NULL, 'S' },
        { "name", required_argument, NULL, 'N' },
        { "verbose", no_argument, NULL, 'v' },
        { "daemon", no_argument, NULL, 'D' },
        { "parallel", required_argument, NULL, 'P' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    memset(o, 0, sizeof *o);
    o->max_wait_s = 10;
    o->interval_s = 1;
    o->from_id = -1;
    int c, at = 0;
    while ((c = getopt_long(argc, argv, "", longopts, &at)) != -1) {
        int bad = 0;
        switch (c) {
        case 'o': o->follow = 0; break;
        case 'f': o->follow = 1; break;
        case 's': o->spool_path = optarg; break;
        case 'e': o->env_file = optarg; break;
        case 'b': bad = parse_int(optarg, 1, &o->batch_size); break;
        case 'm': bad = parse_int(optarg, 1, &o->max_batches); break;
        case 'w': bad = parse_int(optarg, 0, &o->max_wait_s); break;
        case 'i': bad = parse_int(optarg, 1, &o->interval_s); break;
        case 'n': o->dry_run = 1; break;
        case 'F': bad = parse_int(optarg, 0, &o->from_id); break;
        case 'S': o->status = 1; break;
        case 'N': o->name = optarg; break;
        case 'v': o->verbose = 1; break;
        case 'D': o->daemon = 1; break;
        case 'P':
            bad = parse_int(optarg, 1, &o->parallel) || o->parallel > EXPORT_MAX_PARALLEL;
            break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf(PROG " " PACKAGE_VERSION "\n"); exit(0);
        default: usage(stderr); return -1;
        }
        if (bad) {
            fprintf(stderr, PROG ": bad value for --%s: %s\n", longopts[at].name, optarg);
            return -1;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return -1;
    }
    o->target = argv[optind];
    if (o->daemon && strcmp(o->target, "xray") != 0) {
        fprintf(stderr, PROG ": --daemon is for the xray target only\n");
        return -1;
    }
    if (o->batch_size > 100000) {
        fprintf(stderr, PROG ": --batch-size is at most 100000\n");
        return -1;
    }
    return 0;
}

/* ---- configuration -------------------------------------------------------- */

typedef struct setup {
    expcfg_headers headers;
    expcfg_headers log_headers;
    char *urls[2];
    export_target targets[2];
    export_target *list[2];
    size_t n;
    long timeout_ms;
    rollbar_config rb;
    xray_config xr;
    cwlogs_config cw;
    int have_xr, have_cw;
} setup;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static int config_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int config_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": configuration: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXPORT_EXIT_CONFIG;
}

static int otlp_timeout(const char *signal_var, long *ms)
{
    const char *v = env(signal_var) ? env(signal_var) : env("OTEL_EXPORTER_OTLP_TIMEOUT");
    int64_t t;
    if (v == NULL)
        return 0;
    if (parse_int(v, 1, &t) != 0 || t > 600000)
        return config_error("OTEL_EXPORTER_OTLP_TIMEOUT must be milliseconds (1 to 600000): %s", v);
    *ms = (long)t;
    return 0;
}

/* One OTLP signal: URL, headers and compression from the OTEL_ variables. */
static int setup_otlp_signal(setup *su, const opts *o, otlp_signal sig, const char *exporter,
                             const char *default_base)
{
    static const char *const upper[2] = { "TRACES", "LOGS" };
    static const char *const path[2] = { "v1/traces", "v1/logs" };
    char var[64], err[200];
    size_t i = su->n;
    expcfg_headers *h = sig == OTLP_TRACES ? &su->headers : &su->log_headers;

    snprintf(var, sizeof var, "OTEL_EXPORTER_OTLP_%s_ENDPOINT", upper[sig]);
    if (env(var) != NULL)
        su->urls[i] = strdup(env(var));
    else
        su->urls[i] = expcfg_join_url(env("OTEL_EXPORTER_OTLP_ENDPOINT") ? env("OTEL_EXPORTER_OTLP_ENDPOINT")
                                                                          : default_base,
                                      path[sig]);
    if (su->urls[i] == NULL)
        return EXPORT_EXIT_SOFTWARE;
    if (strncmp(su->urls[i], "http://", 7) != 0 && strncmp(su->urls[i], "https://", 8) != 0)
        return config_error("the OTLP endpoint must be an http:// or https:// URL: %s", su->urls[i]);
    if (expcfg_headers_parse(h, env("OTEL_EXPORTER_OTLP_HEADERS"), err, sizeof err) != 0)
        return config_error("OTEL_EXPORTER_OTLP_HEADERS: %s", err);
    snprintf(var, sizeof var, "OTEL_EXPORTER_OTLP_%s_HEADERS", upper[sig]);
    if (expcfg_headers_parse(h, env(var), err, sizeof err) != 0)
        return config_error("%s", err);
    if (expcfg_headers_set(h, "Content-Type", "application/json") != 0)
        return EXPORT_EXIT_SOFTWARE;
    if (strcmp(o->target, "honeycomb") == 0 && expcfg_headers_get(h, "x-honeycomb-team") == NULL)
        return config_error("%s", "honeycomb needs its API key: OTEL_EXPORTER_OTLP_HEADERS=x-honeycomb-team=KEY");
    snprintf(var, sizeof var, "OTEL_EXPORTER_OTLP_%s_COMPRESSION", upper[sig]);
    const char *comp = env(var) ? env(var) : env("OTEL_EXPORTER_OTLP_COMPRESSION");
    if (comp != NULL && strcmp(comp, "gzip") != 0 && strcmp(comp, "none") != 0)
        return config_error("OTEL_EXPORTER_OTLP_COMPRESSION must be gzip or none: %s", comp);
    snprintf(var, sizeof var, "OTEL_EXPORTER_OTLP_%s_TIMEOUT", upper[sig]);
    int rc = otlp_timeout(var, &su->timeout_ms);
    if (rc != 0)
        return rc;

    export_target *t = &su->targets[i];
    memset(t, 0, sizeof *t);
    otlp_target_init(t, sig);
    t->exporter = exporter;
    t->label = sig == OTLP_TRACES ? "traces" : "logs";
    t->url = su->urls[i];
    t->headers = (const char *const *)h->v;
    t->gzip = comp == NULL || strcmp(comp, "gzip") == 0;
    t->max_bytes = 4u << 20;
    su->list[su->n++] = t;
    return 0;
}

static int setup_targets(setup *su, const opts *o, const char *exporter)
{
    memset(su, 0, sizeof *su);
    su->timeout_ms = DEFAULT_TIMEOUT_MS;
    if (strcmp(o->target, "honeycomb") == 0 || strcmp(o->target, "otlp") == 0) {
        const char *base = strcmp(o->target, "honeycomb") == 0 ? "https://api.honeycomb.io"
                                                                : "http://localhost:4318";
        int rc = setup_otlp_signal(su, o, OTLP_TRACES, exporter, base);
        if (rc == 0 && env("CRUDDUR_OTLP_LOGS") && strcmp(env("CRUDDUR_OTLP_LOGS"), "0") != 0)
            rc = setup_otlp_signal(su, o, OTLP_LOGS, exporter, base);
        return rc;
    }
    if (strcmp(o->target, "rollbar") == 0) {
        char err[200];
        if (rollbar_config_from_env(&su->rb, err, sizeof err) != 0)
            return config_error("%s", err);
        export_target *t = &su->targets[0];
        memset(t, 0, sizeof *t);
        rollbar_target_init(t, &su->rb);
        t->exporter = exporter;
        t->label = "items";
        su->list[su->n++] = t;
        return 0;
    }
    if (strcmp(o->target, "xray") == 0) {
        char err[300];
        if (xray_config_from_env(&su->xr, o->daemon, &stop_requested, err, sizeof err) != 0)
            return config_error("%s", err);
        su->have_xr = 1;
        export_target *t = &su->targets[0];
        memset(t, 0, sizeof *t);
        xray_target_init(t, &su->xr);
        t->exporter = exporter;
        t->label = o->daemon ? "xray daemon" : "segments";
        t->parallel = o->daemon ? 1 : 8;  /* 50 documents a request: keep several in flight */
        su->list[su->n++] = t;
        return 0;
    }
    if (strcmp(o->target, "cloudwatch") == 0) {
        char err[300];
        if (cwlogs_config_from_env(&su->cw, &stop_requested, err, sizeof err) != 0)
            return config_error("%s", err);
        su->have_cw = 1;
        export_target *t = &su->targets[0];
        memset(t, 0, sizeof *t);
        cwlogs_target_init(t, &su->cw);
        t->exporter = exporter;
        t->label = "log events";
        t->parallel = 4;
        su->list[su->n++] = t;
        return 0;
    }
    fprintf(stderr, PROG ": unknown target '%s' (honeycomb, otlp, rollbar, xray or cloudwatch)\n",
            o->target);
    return EXPORT_EXIT_USAGE;
}

static void setup_free(setup *su)
{
    expcfg_headers_free(&su->headers);
    expcfg_headers_free(&su->log_headers);
    free(su->urls[0]);
    free(su->urls[1]);
    rollbar_config_free(&su->rb);
    if (su->have_xr)
        xray_config_free(&su->xr);
    if (su->have_cw)
        cwlogs_config_free(&su->cw);
}

/* Records read per batch when --batch-size is not given: what one request
 * takes for the HTTP targets, and for the AWS ones, whose requests are
 * small, enough for several requests in flight at once. */
static int64_t default_batch(const opts *o)
{
    if (strcmp(o->target, "xray") == 0 && !o->daemon)
        return 2000;    /* 40 requests of 50 documents */
    if (strcmp(o->target, "cloudwatch") == 0)
        return 5000;    /* 2 requests of up to 1 MiB, for API-shaped records */
    return 0;           /* the engine's default, 512 */
}

/* ---- the lock ----------------------------------------------------------------- */

/* flock on SPOOL.export-NAME.lock: held until the process exits. 0, 1 when
 * another process holds it (its pid in *holder), -1 on error. */
static int take_lock(const char *spool_path, const char *name, int *fd_out, long *holder)
{
    size_t len = strlen(spool_path) + strlen(name) + 32;
    char *path = malloc(len);
    if (path == NULL)
        return -1;
    snprintf(path, len, "%s.export-%s.lock", spool_path, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        *holder = strtol(buf, NULL, 10);
        close(fd);
        return e == EWOULDBLOCK ? 1 : -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    /* only for the message a second run prints: failing to write it is harmless */
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        pid[0] = '\0';
    *fd_out = fd;
    return 0;
}

/* ---- --status ----------------------------------------------------------------- */

static void print_status(spool *s, const char *exporter, export_target *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t cursor = 0, rows = 0;
        int rc = spool_cursor_get(s, exporter, list[i]->stream, &cursor);
        spool_count_after(s, list[i]->stream, cursor, &rows);
        printf("%s %s: cursor %" PRId64 "%s, backlog %" PRId64 "\n", exporter,
               spool_stream_name(list[i]->stream), cursor,
               rc == SPOOL_NOTFOUND ? " (not registered)" : "", rows);
    }
    spool_export_state es;
    if (spool_export_state_get(s, exporter, &es) == SPOOL_OK) {
        char ok[TSTAMP_ISO_SIZE] = "never", retry[TSTAMP_ISO_SIZE] = "now";
        if (es.last_ok_ns > 0)
            tstamp_iso8601(es.last_ok_ns / 1000, ok);
        if (es.retry_at_ns > tstamp_now_ns())
            tstamp_iso8601(es.retry_at_ns / 1000, retry);
        printf("%s: sent %" PRId64 ", rejected %" PRId64 ", dead-lettered %" PRId64
               ", failures %" PRId64 ", next attempt %s, last success %s\n",
               exporter, es.sent, es.rejected, es.dead_lettered, es.failures, retry, ok);
        if (es.last_error[0] != '\0')
            printf("%s: last error: %s\n", exporter, es.last_error);
    } else {
        printf("%s: no state yet\n", exporter);
    }
}

int main(int argc, char **argv)
{
    opts o;
    if (parse_args(argc, argv, &o) != 0)
        return EXPORT_EXIT_USAGE;
    char err[300];
    if (o.env_file != NULL && expcfg_load_env_file(o.env_file, err, sizeof err) < 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXPORT_EXIT_CONFIG;
    }
    const char *name = o.name ? o.name : o.target;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, PROG ": cannot set up libcurl\n");
        return EXPORT_EXIT_SOFTWARE;
    }
    setup su;
    int rc = setup_targets(&su, &o, name);
    if (rc != 0) {
        setup_free(&su);
        curl_global_cleanup();
        return rc;
    }
    /* the API's rule for where the spool is (src/app/config.h) */
    char *spool_path = NULL;
    char perr[256] = "out of memory";
    if (o.spool_path != NULL)
        spool_path = strdup(o.spool_path);
    else if (config_spool_path(NULL, &spool_path, perr, sizeof perr) != 0)
        spool_path = NULL;
    if (spool_path == NULL) {
        fprintf(stderr, PROG ": %s\n", perr);
        setup_free(&su);
        return EXPORT_EXIT_SOFTWARE;
    }

    int lock_fd = -1;
    int readonly = o.dry_run || o.status;
    if (!readonly) {
        long holder = 0;
        int lr = take_lock(spool_path, name, &lock_fd, &holder);
        if (lr != 0) {
            if (lr > 0)
                fprintf(stderr, PROG ": %s: another run (pid %ld) is exporting from %s; exiting\n",
                        name, holder, spool_path);
            free(spool_path);
            setup_free(&su);
            return lr > 0 ? EXPORT_EXIT_TEMPFAIL : EXPORT_EXIT_CONFIG;
        }
    }

    spool *s = NULL;
    int src = spool_open(spool_path, readonly ? SPOOL_RDONLY : SPOOL_CREATE, 0, &s, err, sizeof err);
    if (src != SPOOL_OK) {
        fprintf(stderr, PROG ": %s: cannot open the spool %s: %s\n", name, spool_path, err);
        free(spool_path);
        setup_free(&su);
        if (lock_fd >= 0)
            close(lock_fd);
        if (src == SPOOL_BUSY)
            return EXPORT_EXIT_TEMPFAIL;
        return src == SPOOL_CANTOPEN || src == SPOOL_READONLY ? EXPORT_EXIT_CONFIG
                                                              : EXPORT_EXIT_SOFTWARE;
    }

    if (o.status) {
        print_status(s, name, su.list, su.n);
        spool_close(s);
        free(spool_path);
        setup_free(&su);
        return EXPORT_EXIT_OK;
    }
    if (o.from_id >= 0 && !o.dry_run) {
        for (size_t i = 0; i < su.n; i++)
            if (export_reset_cursor(s, name, su.list[i]->stream, o.from_id) != SPOOL_OK) {
                fprintf(stderr, PROG ": %s: moving the cursor: %s\n", name, spool_errmsg(s));
                spool_close(s);
                free(spool_path);
                setup_free(&su);
                return EXPORT_EXIT_SOFTWARE;
            }
    }

    /* Journals of API workers that died and were not restarted: their
     * requests were answered, so their telemetry belongs in the spool. */
    if (!o.dry_run) {
        spool_journal_recovery jr;
        if (spool_journal_recover(s, spool_path, 200000000, &jr) == SPOOL_OK && jr.journals > 0 &&
            o.verbose)
            fprintf(stderr, PROG ": %s: copied %zu records from %zu journals of stopped workers\n",
                    name, jr.records, jr.journals);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    httpc *h = NULL;
    if (httpc_new(&h, CONNECT_TIMEOUT_MS, su.timeout_ms, &stop_requested) != 0) {
        fprintf(stderr, PROG ": cannot set up libcurl\n");
        spool_close(s);
        free(spool_path);
        setup_free(&su);
        return EXPORT_EXIT_SOFTWARE;
    }

    export_options eo = {
        .batch_size = (size_t)(o.batch_size ? o.batch_size : default_batch(&o)),
        .max_batches = o.max_batches,
        .follow = o.follow,
        .dry_run = o.dry_run,
        .verbose = o.verbose,
        .max_wait_ms = o.max_wait_s * 1000,
        .poll_ms = o.interval_s * 1000,
        .checkpoint_ms = 5000,
        .stop = &stop_requested,
        .dry_from_id = o.dry_run && o.from_id > 0 ? o.from_id : 0,
        .parallel = (size_t)o.parallel,
        .journals_of = spool_path,
    };
    export_stats st;
    rc = export_run(s, h, su.list, su.n, &eo, &st);
    char line[512];
    export_stats_line(name, &st, line, sizeof line);
    fprintf(stderr, PROG ": %s\n", line);

    httpc_free(h);
    curl_global_cleanup();
    spool_close(s);
    free(spool_path);
    setup_free(&su);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}
