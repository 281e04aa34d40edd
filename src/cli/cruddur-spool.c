/* cruddur-spool: answers the everyday questions about the telemetry spool
 * (a trace, recent traces, a trace's logs, routes, error reports, a client's
 * requests, the exporters' backlog, the size) with the SQL of docs/spool.md
 * and the views of sql/spool-views.sql, as aligned text columns.
 *
 *   cruddur-spool [--spool PATH] COMMAND [args]
 *
 * It never writes: spool_open(SPOOL_RDONLY) checks that the file is a spool
 * of this schema version, then the queries run on a connection of their own
 * opened SQLITE_OPEN_READONLY with query_only set, so that even a bug cannot
 * change the file. Every value from the command line is bound, never pasted
 * into SQL.
 *
 * Exit codes (sysexits): 0 done, 1 nothing found for trace/logs or any other
 * error, 64 bad command line, 65 the file is not a spool (or not of this
 * schema version), 66 the spool is missing or unreadable. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "app/config.h"
#include "cli/cli.h"
#include "spool/spool.h"
#include "util/buf.h"
#include "util/tstamp.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

#define PROG "cruddur-spool"
#define EXIT_NOTFOUND 1
#define LIMIT_MAX 10000         /* --limit N: 1 .. LIMIT_MAX; rows shown at most */
#define CLIENT_MAX 255          /* longest client address taken */
#define BUSY_TIMEOUT_MS 5000    /* a reader waits only while a WAL is recovered */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: " PROG " [--spool PATH] COMMAND [args]\n"
        "  trace TRACE_ID                    a trace as an indented tree: span, start offset,\n"
        "                                    duration, status\n"
        "  traces [--errors] [--limit N]     recent traces, newest first (default 20)\n"
        "  logs TRACE_ID                     the log records of one trace, in time order\n"
        "  routes [--since DUR]              per route: requests, errors, p50/p95/p99 ms\n"
        "  errors [--since DUR] [--limit N]  error reports, newest first (default 50)\n"
        "  requests CLIENT_ADDR [--limit N]  the requests of one client, newest first (default 50)\n"
        "  backlog                           each exporter's cursor and backlog\n"
        "  size                              the spool's rows and bytes by table\n"
        "  --help, --version\n"
        "--spool: default $CRUDDUR_SPOOL, else $CRUDDUR_STATE_DIR/spool.db.\n"
        "TRACE_ID: 32 hex digits, or the X-Ray form 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx.\n"
        "DUR: a number and a unit, s m h or d: 30s, 15m, 1h, 2d. N: 1 to %d.\n"
        "Times are UTC, durations milliseconds. The spool is opened read-only.\n"
        "exit codes: 0 done, 1 nothing found (trace, logs) or other errors, 64 usage,\n"
        "65 not a spool, 66 no spool there. See docs/spool.md.\n", LIMIT_MAX);
}

static void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(" PROG " --help tells the commands)\n", stderr);
    va_end(ap);
    return EX_USAGE;
}

/* ---- the command line ------------------------------------------------------ */

enum { OPT_ERRORS = 0x1u, OPT_LIMIT = 0x2u, OPT_SINCE = 0x4u };

typedef struct opts {
    const char *spool_path;
    const char *command;
    const char *arg;                /* the command's one argument, or NULL */
    unsigned given;                 /* OPT_* seen */
    long limit;
    int64_t since_ns;               /* --since: a duration */
    char trace_id[33];              /* the normalised TRACE_ID */
} opts;

typedef int (*command_fn)(sqlite3 *db, const opts *o, buf_t *out);

typedef struct command {
    const char *name;
    int nargs;                      /* 0, or 1 (ARG_* says what it is) */
    int arg_kind;
    unsigned options;               /* OPT_* it takes */
    long default_limit;
    command_fn run;
} command;

enum { ARG_NONE, ARG_TRACE, ARG_CLIENT };

static int cmd_query(sqlite3 *db, const opts *o, buf_t *out);
static int cmd_size(sqlite3 *db, const opts *o, buf_t *out);

static const command commands[] = {
    { "trace", 1, ARG_TRACE, 0, 0, cmd_query },
    { "traces", 0, ARG_NONE, OPT_ERRORS | OPT_LIMIT, 20, cmd_query },
    { "logs", 1, ARG_TRACE, 0, 0, cmd_query },
    { "routes", 0, ARG_NONE, OPT_SINCE, 0, cmd_query },
    { "errors", 0, ARG_NONE, OPT_SINCE | OPT_LIMIT, 50, cmd_query },
    { "requests", 1, ARG_CLIENT, OPT_LIMIT, 50, cmd_query },
    { "backlog", 0, ARG_NONE, 0, 0, cmd_query },
    { "size", 0, ARG_NONE, 0, 0, cmd_size },
};

static const char *opt_name(unsigned opt)
{
    return opt == OPT_ERRORS ? "--errors" : opt == OPT_LIMIT ? "--limit" : "--since";
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: the value (moving *i past
 * it), NULL when argv[*i] is another option. *missing when it has none. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* 0 with o and *cmd filled; EX_USAGE after a message; -1 after --help or
 * --version (exit 0). */
static int parse_args(int argc, char **argv, opts *o, const command **cmd)
{
    const char *pos[3];
    int npos = 0, only_args = 0;
    const char *limit = NULL, *since = NULL;

    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (strnlen(a, CLI_ARG_MAX + 1) > CLI_ARG_MAX)
            return usage_error("argument %d is longer than %d bytes", i, CLI_ARG_MAX);
        if (only_args || a[0] != '-' || a[1] == '\0') {
            if (npos == 3)
                return usage_error("too many arguments");
            pos[npos++] = a;
        } else if (strcmp(a, "--") == 0) {
            only_args = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return -1;
        } else if (strcmp(a, "--version") == 0) {
            printf(PROG " " PACKAGE_VERSION "\n");
            return -1;
        } else if (strcmp(a, "--errors") == 0) {
            o->given |= OPT_ERRORS;
        } else if ((v = opt_value(argc, argv, &i, "--spool", &missing)) != NULL) {
            if (*v == '\0')
                return usage_error("--spool needs a path");
            o->spool_path = v;
        } else if ((v = opt_value(argc, argv, &i, "--limit", &missing)) != NULL) {
            limit = v;
            o->given |= OPT_LIMIT;
        } else if ((v = opt_value(argc, argv, &i, "--since", &missing)) != NULL) {
            since = v;
            o->given |= OPT_SINCE;
        } else if (missing) {
            return usage_error("%s needs a value", a);
        } else {
            return usage_error("unknown option '%.80s'", a);
        }
    }
    if (npos == 0)
        return usage_error("no command given");

    *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(pos[0], commands[i].name) == 0)
            *cmd = &commands[i];
    }
    const command *c = *cmd;
    if (c == NULL)
        return usage_error("unknown command '%.80s'", pos[0]);
    o->command = c->name;
    if (npos - 1 != c->nargs) {
        if (c->nargs == 0)
            return usage_error("%s takes no argument", c->name);
        return usage_error("%s takes one argument, the %s", c->name,
                           c->arg_kind == ARG_TRACE ? "trace id" : "client address");
    }
    for (unsigned opt = OPT_ERRORS; opt <= OPT_SINCE; opt <<= 1) {
        if ((o->given & opt) && !(c->options & opt))
            return usage_error("%s does not apply to %s", opt_name(opt), c->name);
    }

    o->limit = c->default_limit;
    if (limit != NULL && cli_parse_count(limit, 1, LIMIT_MAX, &o->limit) != 0)
        return usage_error("--limit must be a whole number from 1 to %d, not '%.80s'",
                           LIMIT_MAX, limit);
    if (since != NULL && cli_parse_duration(since, &o->since_ns) != 0)
        return usage_error("--since must be a duration such as 30s, 15m, 1h or 2d, "
                           "not '%.80s'", since);
    if (c->nargs == 1) {
        o->arg = pos[1];
        if (c->arg_kind == ARG_TRACE && cli_trace_id(o->arg, o->trace_id) != 0)
            return usage_error("not a trace id: '%.80s' (32 hex digits, or "
                               "1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx)", o->arg);
        if (c->arg_kind == ARG_CLIENT && (*o->arg == '\0' || strlen(o->arg) > CLIENT_MAX))
            return usage_error("the client address must be 1 to %d bytes", CLIENT_MAX);
    }
    return 0;
}

/* ---- queries ------------------------------------------------------------- */

/* Query 1 of docs/spool.md. The trace's spans are read once (ts, one scan
 * of span: there is no index on trace_id), and the tree is built from those
 * few rows; the depth bound keeps a spool whose span ids loop (a corrupt or
 * hand-made file) from recursing forever. */
static const char trace_sql[] =
    "WITH RECURSIVE ts AS MATERIALIZED (\n"
    "  SELECT span_id, parent_span_id, name, start_ns, end_ns, status_code, status_message\n"
    "    FROM span WHERE trace_id = :trace\n"
    "), tree(span_id, depth, path) AS (\n"
    "  SELECT span_id, 0, printf('%020d %s', start_ns, span_id)\n"
    "    FROM ts AS s\n"
    "   WHERE parent_span_id IS NULL\n"
    "      OR NOT EXISTS (SELECT 1 FROM ts AS p WHERE p.span_id = s.parent_span_id)\n"
    "  UNION ALL\n"
    "  SELECT c.span_id, t.depth + 1, t.path || '/' || printf('%020d %s', c.start_ns, c.span_id)\n"
    "    FROM tree AS t JOIN ts AS c ON c.parent_span_id = t.span_id\n"
    "   WHERE t.depth < 64\n"
    ")\n"
    "SELECT printf('%*s%s', 2 * t.depth, '', s.name) AS span,\n"
    "       printf('%.3f', (s.start_ns - (SELECT min(start_ns) FROM ts)) / 1e6) AS at_ms,\n"
    "       printf('%.3f', (s.end_ns - s.start_ns) / 1e6) AS ms,\n"
    "       CASE s.status_code WHEN 2 THEN 'ERROR ' || coalesce(s.status_message, '')\n"
    "                          ELSE '' END AS status\n"
    "  FROM tree AS t JOIN ts AS s ON s.span_id = t.span_id\n"
    " ORDER BY t.path";

/* trace_summary's columns for the newest traces only. The view sums up
 * every trace, its spans joined to their parents (5 s for 800,000 spans
 * here). Here: one scan picks the newest traces and counts their spans, one
 * more reads their spans, and the roots are found among those (1.1 s). */
static const char traces_sql[] =
    "WITH recent AS MATERIALIZED (\n"
    "  SELECT trace_id, min(start_ns) AS start_ns, max(end_ns) AS end_ns,\n"
    "         count(*) AS span_count, sum(status_code = 2) AS error_count\n"
    "    FROM span\n"
    "   GROUP BY trace_id\n"
    "  HAVING :errors = 0 OR sum(status_code = 2) > 0\n"
    "   ORDER BY min(start_ns) DESC, trace_id LIMIT :limit\n"
    "), ts AS MATERIALIZED (\n"
    "  SELECT id, trace_id, span_id, parent_span_id, name, start_ns FROM span\n"
    "   WHERE trace_id IN (SELECT trace_id FROM recent)\n"
    ")\n"
    "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', r.start_ns / 1e9, 'unixepoch') AS start_utc,\n"
    "       r.trace_id,\n"
    "       (SELECT x.name FROM ts AS x\n"
    "         WHERE x.trace_id = r.trace_id\n"
    "           AND (x.parent_span_id IS NULL\n"
    "                OR NOT EXISTS (SELECT 1 FROM ts AS p\n"
    "                                WHERE p.trace_id = x.trace_id\n"
    "                                  AND p.span_id = x.parent_span_id))\n"
    "         ORDER BY x.start_ns, x.id LIMIT 1) AS root_name,\n"
    "       r.span_count,\n"
    "       round((r.end_ns - r.start_ns) / 1e6, 3) AS duration_ms,\n"
    "       r.error_count\n"
    "  FROM recent AS r\n"
    " ORDER BY r.start_ns DESC, r.trace_id";

/* Query 4. */
static const char logs_sql[] =
    "SELECT time_ns, severity_text, body, span_id\n"
    "  FROM log\n"
    " WHERE trace_id = :trace\n"
    " ORDER BY time_ns, id LIMIT :limit";

static const char routes_sql[] =
    "SELECT route, requests, errors, p50_ms, p95_ms, p99_ms FROM route_stats";

/* route_stats over a window: the view's SQL with the start time bound. */
static const char routes_since_sql[] =
    "WITH req AS (\n"
    "  SELECT coalesce(json_extract(attributes, '$.\"http.route\"'), name) AS route,\n"
    "         end_ns - start_ns AS dur_ns,\n"
    "         status_code = 2 AS failed\n"
    "    FROM span\n"
    "   WHERE kind = 2 AND start_ns >= :since\n"
    "), ranked AS (\n"
    "  SELECT route, dur_ns, failed,\n"
    "         row_number() OVER (PARTITION BY route ORDER BY dur_ns) AS rn,\n"
    "         count(*) OVER (PARTITION BY route) AS n\n"
    "    FROM req\n"
    ")\n"
    "SELECT route, n AS requests, sum(failed) AS errors,\n"
    "       round(max(CASE WHEN rn = (50 * n + 99) / 100 THEN dur_ns END) / 1e6, 3) AS p50_ms,\n"
    "       round(max(CASE WHEN rn = (95 * n + 99) / 100 THEN dur_ns END) / 1e6, 3) AS p95_ms,\n"
    "       round(max(CASE WHEN rn = (99 * n + 99) / 100 THEN dur_ns END) / 1e6, 3) AS p99_ms\n"
    "  FROM ranked\n"
    " GROUP BY route\n"
    " ORDER BY p95_ms DESC, route";

/* Query 5, over a window of the caller's choice (it reads index error_time). */
static const char errors_sql[] =
    "SELECT time_ns, level, class, message, context, trace_id\n"
    "  FROM error\n"
    " WHERE time_ns >= :since\n"
    " ORDER BY time_ns DESC, id DESC LIMIT :limit";

/* Query 7. */
static const char requests_sql[] =
    "SELECT start_ns,\n"
    "       json_extract(attributes, '$.\"http.request.method\"') AS method,\n"
    "       json_extract(attributes, '$.\"url.path\"') AS path,\n"
    "       json_extract(attributes, '$.\"http.response.status_code\"') AS status,\n"
    "       (end_ns - start_ns) / 1e6 AS ms, trace_id\n"
    "  FROM span\n"
    " WHERE kind = 2 AND json_extract(attributes, '$.\"client.address\"') = :client\n"
    " ORDER BY start_ns DESC, id DESC LIMIT :limit";

static const char backlog_sql[] =
    "SELECT exporter, stream, last_id, max_id, backlog, pending_rows, oldest_pending_utc,\n"
    "       failures, last_error, last_ok_utc\n"
    "  FROM exporter_backlog";

static const char size_sql[] =
    "SELECT table_name, row_count, first_id, last_id, oldest_utc FROM spool_size";

/* Query 8: bytes per table, indexes counted with their table. */
static const char dbstat_sql[] =
    "SELECT coalesce(s.tbl_name, d.name), sum(d.pgsize)\n"
    "  FROM dbstat AS d LEFT JOIN sqlite_schema AS s ON s.name = d.name\n"
    " GROUP BY 1";

/* ---- running them ---------------------------------------------------------- */

enum { F_PLAIN, F_TIME_NS };   /* how a column's values are shown */

typedef struct colspec {
    const char *name;
    int align;                      /* CLI_LEFT, CLI_RIGHT */
    int format;                     /* F_* */
} colspec;

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        errorf("%s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Binds the parameter called name, if the statement has it. */
static int bind_text(sqlite3_stmt *st, const char *name, const char *value)
{
    int i = sqlite3_bind_parameter_index(st, name);
    return i == 0 ? SQLITE_OK : sqlite3_bind_text(st, i, value, -1, SQLITE_STATIC);
}

static int bind_int(sqlite3_stmt *st, const char *name, int64_t value)
{
    int i = sqlite3_bind_parameter_index(st, name);
    return i == 0 ? SQLITE_OK : sqlite3_bind_int64(st, i, value);
}

/* Column i of the current row as text, into scratch when it is converted. */
static const char *cell(sqlite3_stmt *st, int i, int format, char *scratch, size_t size)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return "";
    case SQLITE_INTEGER:
        if (format == F_TIME_NS) {
            if (size < CLI_TIME_SIZE ||
                cli_time_utc(sqlite3_column_int64(st, i), scratch) != 0)
                return "";
            return scratch;
        }
        snprintf(scratch, size, "%lld", (long long)sqlite3_column_int64(st, i));
        return scratch;
    case SQLITE_FLOAT:
        snprintf(scratch, size, "%.3f", sqlite3_column_double(st, i));
        return scratch;
    default: {
        const char *t = (const char *)sqlite3_column_text(st, i);
        return t != NULL ? t : "";
    }
    }
}

/* Steps st to the end (or max_rows rows) and appends the rows as a table to
 * out. *rows = rows shown. 0, or EXIT_FAILURE after a message. */
static int table_of(sqlite3 *db, sqlite3_stmt *st, const colspec *cols, size_t n,
                    size_t max_rows, buf_t *out, size_t *rows)
{
    cli_column cc[CLI_TABLE_MAX_COLS];
    char scratch[CLI_TABLE_MAX_COLS][64];
    const char *cells[CLI_TABLE_MAX_COLS];
    cli_table *t = NULL;
    int status = EXIT_FAILURE, rc;

    for (size_t i = 0; i < n; i++) {
        cc[i].name = cols[i].name;
        cc[i].align = cols[i].align;
    }
    if (cli_table_new(cc, n, &t) != 0) {
        errorf("out of memory");
        return EXIT_FAILURE;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cli_table_rows(t) == max_rows) {
            errorf("only the first %zu rows are shown", max_rows);
            rc = SQLITE_DONE;
            break;
        }
        for (size_t i = 0; i < n; i++)
            cells[i] = cell(st, (int)i, cols[i].format, scratch[i], sizeof scratch[i]);
        if (cli_table_add(t, cells) != 0) {
            errorf("out of memory");
            goto done;
        }
    }
    if (rc != SQLITE_DONE) {
        errorf("%s", sqlite3_errmsg(db));
        goto done;
    }
    *rows = cli_table_rows(t);
    if (cli_table_render(t, out) != 0) {
        errorf("out of memory");
        goto done;
    }
    status = 0;
done:
    cli_table_free(t);
    return status;
}

/* prepare, bind (the binds in the opts that the statement names), table_of. */
static int run(sqlite3 *db, const char *sql, const opts *o, const colspec *cols, size_t n,
               size_t max_rows, buf_t *out, size_t *rows)
{
    sqlite3_stmt *st = prepare(db, sql);
    if (st == NULL)
        return EXIT_FAILURE;
    int64_t since = INT64_MIN;
    if (o->given & OPT_SINCE)
        since = tstamp_now_ns() - o->since_ns;
    int rc = bind_text(st, ":trace", o->trace_id);
    if (rc == SQLITE_OK)
        rc = bind_text(st, ":client", o->arg);
    if (rc == SQLITE_OK)
        rc = bind_int(st, ":limit", o->limit > 0 ? o->limit : (int64_t)max_rows + 1);
    if (rc == SQLITE_OK)
        rc = bind_int(st, ":since", since);
    if (rc == SQLITE_OK)
        rc = bind_int(st, ":errors", (o->given & OPT_ERRORS) != 0);
    int status;
    if (rc != SQLITE_OK) {
        errorf("%s", sqlite3_errmsg(db));
        status = EXIT_FAILURE;
    } else {
        status = table_of(db, st, cols, n, max_rows, out, rows);
    }
    sqlite3_finalize(st);
    return status;
}

#define N_OF(a) (sizeof (a) / sizeof (a)[0])

/* A command that is one query shown as a table. */
typedef struct query_cmd {
    const char *name;
    const char *sql;
    const char *since_sql;          /* with --since, when it differs; else NULL */
    const colspec *cols;
    size_t n_cols;
    const char *not_found;          /* no row is an error ("... TRACE_ID"), or NULL */
} query_cmd;

static const colspec trace_cols[] = {
    { "span", CLI_LEFT, F_PLAIN }, { "at_ms", CLI_RIGHT, F_PLAIN },
    { "ms", CLI_RIGHT, F_PLAIN }, { "status", CLI_LEFT, F_PLAIN },
};
static const colspec traces_cols[] = {
    { "start_utc", CLI_LEFT, F_PLAIN }, { "trace_id", CLI_LEFT, F_PLAIN },
    { "root_name", CLI_LEFT, F_PLAIN }, { "spans", CLI_RIGHT, F_PLAIN },
    { "duration_ms", CLI_RIGHT, F_PLAIN }, { "errors", CLI_RIGHT, F_PLAIN },
};
static const colspec logs_cols[] = {
    { "time_utc", CLI_LEFT, F_TIME_NS }, { "severity", CLI_LEFT, F_PLAIN },
    { "body", CLI_LEFT, F_PLAIN }, { "span_id", CLI_LEFT, F_PLAIN },
};
static const colspec routes_cols[] = {
    { "route", CLI_LEFT, F_PLAIN }, { "requests", CLI_RIGHT, F_PLAIN },
    { "errors", CLI_RIGHT, F_PLAIN }, { "p50_ms", CLI_RIGHT, F_PLAIN },
    { "p95_ms", CLI_RIGHT, F_PLAIN }, { "p99_ms", CLI_RIGHT, F_PLAIN },
};
static const colspec errors_cols[] = {
    { "time_utc", CLI_LEFT, F_TIME_NS }, { "level", CLI_LEFT, F_PLAIN },
    { "class", CLI_LEFT, F_PLAIN }, { "message", CLI_LEFT, F_PLAIN },
    { "route", CLI_LEFT, F_PLAIN }, { "trace_id", CLI_LEFT, F_PLAIN },
};
static const colspec requests_cols[] = {
    { "time_utc", CLI_LEFT, F_TIME_NS }, { "method", CLI_LEFT, F_PLAIN },
    { "path", CLI_LEFT, F_PLAIN }, { "status", CLI_RIGHT, F_PLAIN },
    { "ms", CLI_RIGHT, F_PLAIN }, { "trace_id", CLI_LEFT, F_PLAIN },
};
static const colspec backlog_cols[] = {
    { "exporter", CLI_LEFT, F_PLAIN }, { "stream", CLI_LEFT, F_PLAIN },
    { "last_id", CLI_RIGHT, F_PLAIN }, { "max_id", CLI_RIGHT, F_PLAIN },
    { "backlog", CLI_RIGHT, F_PLAIN }, { "pending_rows", CLI_RIGHT, F_PLAIN },
    { "oldest_pending_utc", CLI_LEFT, F_PLAIN }, { "failures", CLI_RIGHT, F_PLAIN },
    { "last_error", CLI_LEFT, F_PLAIN }, { "last_ok_utc", CLI_LEFT, F_PLAIN },
};

static const query_cmd query_cmds[] = {
    { "trace", trace_sql, NULL, trace_cols, N_OF(trace_cols), "no span of trace" },
    { "traces", traces_sql, NULL, traces_cols, N_OF(traces_cols), NULL },
    { "logs", logs_sql, NULL, logs_cols, N_OF(logs_cols), "no log record of trace" },
    { "routes", routes_sql, routes_since_sql, routes_cols, N_OF(routes_cols), NULL },
    { "errors", errors_sql, NULL, errors_cols, N_OF(errors_cols), NULL },
    { "requests", requests_sql, NULL, requests_cols, N_OF(requests_cols), NULL },
    { "backlog", backlog_sql, NULL, backlog_cols, N_OF(backlog_cols), NULL },
};

static int cmd_query(sqlite3 *db, const opts *o, buf_t *out)
{
    const query_cmd *q = NULL;
    for (size_t i = 0; i < N_OF(query_cmds) && q == NULL; i++)
        if (strcmp(query_cmds[i].name, o->command) == 0)
            q = &query_cmds[i];
    if (q == NULL) {
        errorf("no query for %s", o->command);
        return EXIT_FAILURE;
    }
    const char *sql = (o->given & OPT_SINCE) && q->since_sql != NULL ? q->since_sql : q->sql;
    size_t rows = 0;
    int status = run(db, sql, o, q->cols, q->n_cols, LIMIT_MAX, out, &rows);
    if (status == 0 && rows == 0 && q->not_found != NULL) {
        /* nothing found: no table, not even its header, and a message */
        buf_reset(out);
        errorf("%s %s in the spool", q->not_found, o->trace_id);
        return EXIT_NOTFOUND;
    }
    return status;
}

/* Bytes per table from dbstat, when this SQLite has it. */
typedef struct table_bytes {
    char name[64];
    int64_t bytes;
} table_bytes;
#define MAX_TABLES 64

static size_t read_bytes(sqlite3 *db, table_bytes *tb, size_t max)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(db, dbstat_sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return 0;                   /* no dbstat: the size column stays empty */
    }
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        snprintf(tb[n].name, sizeof tb[n].name, "%s", name != NULL ? name : "");
        tb[n].bytes = sqlite3_column_int64(st, 1);
        n++;
    }
    sqlite3_finalize(st);
    return n;
}

static int cmd_size(sqlite3 *db, const opts *o, buf_t *out)
{
    static const cli_column cols[] = {
        { "table_name", CLI_LEFT }, { "row_count", CLI_RIGHT }, { "first_id", CLI_RIGHT },
        { "last_id", CLI_RIGHT }, { "oldest_utc", CLI_LEFT }, { "size", CLI_RIGHT },
    };
    table_bytes tb[MAX_TABLES];
    char scratch[N_OF(cols)][64];
    const char *cells[N_OF(cols)];
    cli_table *t = NULL;
    int status = EXIT_FAILURE, rc;
    (void)o;

    /* both queries in one read transaction: one snapshot */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        errorf("%s", sqlite3_errmsg(db));
        return EXIT_FAILURE;
    }
    size_t ntb = read_bytes(db, tb, MAX_TABLES);
    sqlite3_stmt *st = prepare(db, size_sql);
    if (st == NULL)
        goto done;
    if (cli_table_new(cols, N_OF(cols), &t) != 0) {
        errorf("out of memory");
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (size_t i = 0; i < 5; i++)
            cells[i] = cell(st, (int)i, F_PLAIN, scratch[i], sizeof scratch[i]);
        cells[5] = "";
        for (size_t i = 0; i < ntb; i++) {
            if (strcmp(tb[i].name, cells[0]) == 0) {
                snprintf(scratch[5], sizeof scratch[5], "%.1f KiB", (double)tb[i].bytes / 1024.0);
                cells[5] = scratch[5];
            }
        }
        if (cli_table_add(t, cells) != 0) {
            errorf("out of memory");
            goto done;
        }
    }
    if (rc != SQLITE_DONE) {
        errorf("%s", sqlite3_errmsg(db));
        goto done;
    }
    if (cli_table_render(t, out) != 0) {
        errorf("out of memory");
        goto done;
    }
    status = 0;
done:
    cli_table_free(t);
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return status;
}

/* ---- main -------------------------------------------------------------------- */

/* Checks with spool_open that path is a spool this program reads, then opens
 * the connection the queries use. 0, or an exit code after a message. */
static int open_spool(const char *path, sqlite3 **out)
{
    char err[512];
    spool *s = NULL;
    int status = spool_open(path, SPOOL_RDONLY, 0, &s, err, sizeof err);
    spool_close(s);
    if (status != SPOOL_OK) {
        errorf("%s", err);
        switch (status) {
        case SPOOL_CANTOPEN: return EX_NOINPUT;
        case SPOOL_ERROR: return EX_DATAERR;        /* not a spool, or another version */
        default: return EXIT_FAILURE;
        }
    }
    /* spool.h gives no connection: a second one, read-only as well */
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
        rc = sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        errorf("%s: %s", path, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return EXIT_FAILURE;
    }
    *out = db;
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    const command *cmd = NULL;
    int status = parse_args(argc, argv, &o, &cmd);
    if (status != 0)
        return status < 0 ? 0 : status;

    char *path = NULL;
    if (o.spool_path != NULL) {
        path = strdup(o.spool_path);
    } else {
        char err[256];
        if (config_spool_path(NULL, &path, err, sizeof err) != 0) {
            errorf("%s", err);
            return EXIT_FAILURE;
        }
    }
    if (path == NULL) {
        errorf("out of memory");
        return EXIT_FAILURE;
    }

    sqlite3 *db = NULL;
    buf_t out = BUF_INIT;
    status = open_spool(path, &db);
    if (status == 0)
        status = cmd->run(db, &o, &out);
    sqlite3_close(db);
    free(path);

    if (out.len > 0 && fwrite(out.data, 1, out.len, stdout) != out.len && status == 0)
        status = EXIT_FAILURE;
    buf_free(&out);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        errorf("writing the answer failed");
        if (status == 0)
            status = EXIT_FAILURE;
    }
    return status;
}
