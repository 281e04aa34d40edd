/* Unit tests for spool: schema and migrations, the write path with its
 * budget and failure modes, reading back, cursors, pruning, the size cap and
 * the views. Each test works in its own temporary directory. */
#include <ftw.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "spool/spool.h"
#include "spool/spool_sql.h"

static char dir[64];
static char path[128];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void setup(void)
{
    strcpy(dir, "/tmp/test_spool.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/spool.db", dir);
}

static void teardown(void)
{
    chmod(dir, 0700);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- helpers ------------------------------------------------------------ */

static const char *RES = "{\"service.name\":\"cruddur-api\",\"host.name\":\"test\",\"process.pid\":42}";

static spool *open_ok(void)
{
    char err[256] = "";
    spool *s = NULL;
    int rc = spool_open(path, SPOOL_CREATE, 0, &s, err, sizeof err);
    ck_assert_msg(rc == SPOOL_OK, "open: %d %s", rc, err);
    ck_assert_ptr_nonnull(s);
    return s;
}

static sqlite3 *raw_open(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_free(msg);
}

/* The first column of the first row as an integer (-999 when no row). */
static int64_t q_int(const char *sql)
{
    sqlite3 *db = raw_open();
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    int64_t v = -999;
    int rc = sqlite3_step(st);
    ck_assert_msg(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static double q_double(const char *sql)
{
    sqlite3 *db = raw_open();
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    double v = -999;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void q_text(const char *sql, char *out, size_t size)
{
    sqlite3 *db = raw_open();
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void hex_id(char *out, size_t digits, uint64_t hi, uint64_t lo)
{
    if (digits == 32)
        snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, hi, lo);
    else
        snprintf(out, 17, "%016" PRIx64, lo);
}

static spool_span mk_span(uint64_t trace, uint64_t id, uint64_t parent, const char *name,
                          int kind, int64_t start, int64_t dur, int status, const char *attrs)
{
    spool_span sp;
    memset(&sp, 0, sizeof sp);
    hex_id(sp.trace_id, 32, 0x65f0a1b2, trace);
    hex_id(sp.span_id, 16, 0, id);
    if (parent != 0)
        hex_id(sp.parent_span_id, 16, 0, parent);
    sp.name = name;
    sp.kind = kind;
    sp.start_ns = start;
    sp.end_ns = start + dur;
    sp.status_code = status;
    sp.attributes_json = attrs;
    sp.flags = 1;
    return sp;
}

static spool_log mk_log(int64_t t, const char *body)
{
    spool_log lg;
    memset(&lg, 0, sizeof lg);
    lg.time_ns = t;
    lg.observed_ns = t + 1;
    lg.severity_number = 9;
    lg.severity_text = "INFO";
    lg.body = body;
    lg.attributes_json = "{\"http.response.status_code\":200}";
    return lg;
}

static spool_error mk_error(unsigned n, int64_t t, const char *msg)
{
    spool_error er;
    memset(&er, 0, sizeof er);
    snprintf(er.uuid, sizeof er.uuid, "%08x-1111-4222-8333-444455556666", n);
    er.time_ns = t;
    er.class_name = "RuntimeError";
    er.message = msg;
    return er;
}

static int write_spans(spool *s, const spool_span *sp, size_t n)
{
    spool_batch b = { .resource_json = RES, .scope_name = "cruddur", .spans = sp, .n_spans = n };
    return spool_write(s, &b, 0);
}

/* n plain spans, one per call, in traces 1..n. */
static void write_n_spans(spool *s, int n)
{
    for (int i = 1; i <= n; i++) {
        spool_span sp = mk_span((uint64_t)i, (uint64_t)i, 0, "GET /x", SPOOL_KIND_SERVER,
                                1000000000LL * i, 1000, 0, NULL);
        ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_OK);
    }
}

/* Runs fn in a child process without privileges (root ignores file modes);
 * returns fn's result. Without root, fn runs here. */
static int unprivileged(int (*fn)(void))
{
    if (geteuid() != 0)
        return fn();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(100);
        _exit(fn() + 50);   /* statuses are small negatives */
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_ne(WEXITSTATUS(st), 100);
    return WEXITSTATUS(st) - 50;
}

/* ---- schema and migrations ------------------------------------------------ */

START_TEST(test_create_schema)
{
    spool *s = open_ok();
    int v = -1;
    ck_assert_int_eq(spool_schema_version(s, &v), SPOOL_OK);
    ck_assert_int_eq(v, SPOOL_SCHEMA_VERSION);
    spool_close(s);

    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640);
    ck_assert_int_eq(q_int("PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
    ck_assert_int_eq(q_int("PRAGMA application_id"), 1129468752);
    char mode[16];
    q_text("PRAGMA journal_mode", mode, sizeof mode);
    ck_assert_str_eq(mode, "wal");
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
                           " ('meta','resource','span','log','error','cursor','export_state',"
                           "  'dead_letter','counter')"), 9);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE type = 'view' AND name IN"
                           " ('trace_summary','slow_requests','route_stats','error_rate_by_route',"
                           "  'exporter_backlog','spool_size')"), 6);
    /* the tables every request writes have no index but their ids */
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                           " AND tbl_name IN ('span','log')"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN"
                           " ('error_time','error_trace')"), 2);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE name IN ('span','log')"
                           " AND sql LIKE '%json_valid%'"), 0);
    ck_assert_int_eq(q_int("SELECT length(value) FROM meta WHERE key = 'views_hash'"), 16);
}
END_TEST

START_TEST(test_custom_mode)
{
    spool *s = NULL;
    char err[256];
    ck_assert_int_eq(spool_open(path, SPOOL_CREATE, 0600, &s, err, sizeof err), SPOOL_OK);
    spool_close(s);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
}
END_TEST

START_TEST(test_open_empty_existing_file)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    spool *s = NULL;
    char err[256];
    ck_assert_int_eq(spool_open(path, 0, 0, &s, err, sizeof err), SPOOL_OK);
    spool_close(s);
    ck_assert_int_eq(q_int("PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 0);
}
END_TEST

START_TEST(test_missing_directory_or_file)
{
    spool *s = (spool *)1;
    char err[256] = "";
    char p[200];
    snprintf(p, sizeof p, "%s/no/such/dir/spool.db", dir);
    int64_t t0 = mono_ns();
    ck_assert_int_eq(spool_open(p, SPOOL_CREATE, 0, &s, err, sizeof err), SPOOL_CANTOPEN);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
    ck_assert_int_eq(spool_open(path, 0, 0, &s, err, sizeof err), SPOOL_CANTOPEN);
    ck_assert_ptr_null(s);
    ck_assert_int_ne(access(path, F_OK), 0);      /* not created without SPOOL_CREATE */
    ck_assert_int_lt(mono_ns() - t0, 1000000000LL);
}
END_TEST

/* Processes that create the same new spool at once all get it: the WAL
 * switch that SQLite refuses to some of them at first, and a file whose
 * tables another process is just committing. Fifty rounds, as a round
 * meets the race only now and then. */
START_TEST(test_many_open_a_new_file_at_once)
{
    enum { N = 4, ROUNDS = 50 };
    char base[sizeof path];
    memcpy(base, path, sizeof base);
    for (int r = 0; r < ROUNDS; r++) {
        snprintf(path, sizeof path, "%.100s.%d", base, r);
        pid_t pids[N];
        fflush(NULL);
        for (int i = 0; i < N; i++) {
            pids[i] = fork();
            ck_assert_int_ge(pids[i], 0);
            if (pids[i] == 0) {
                spool *s = NULL;
                char err[256];
                int rc = spool_open(path, SPOOL_CREATE, 0, &s, err, sizeof err);
                if (rc == SPOOL_OK) {
                    spool_span sp = mk_span((uint64_t)i + 1, 1, 0, "x", 2, 1, 1, 0, NULL);
                    spool_batch b = { .spans = &sp, .n_spans = 1 };
                    rc = spool_write(s, &b, 5000000000LL);
                } else {
                    fprintf(stderr, "round %d: %s\n", r, err);
                }
                spool_close(s);
                _exit(rc == SPOOL_OK ? 0 : 1);
            }
        }
        for (int i = 0; i < N; i++) {
            int st = 0;
            ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
            ck_assert(WIFEXITED(st));
            ck_assert_msg(WEXITSTATUS(st) == 0, "round %d: a process failed", r);
        }
        ck_assert_int_eq(q_int("PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
        ck_assert_int_eq(q_int("SELECT count(*) FROM span"), N);
        ck_assert_int_eq(q_int("SELECT count(*) FROM resource"), 1);
    }
}
END_TEST

START_TEST(test_refuses_foreign_files)
{
    spool *s = NULL;
    char err[256];
    sqlite3 *db = raw_open();
    raw_exec(db, "CREATE TABLE users (id INTEGER PRIMARY KEY)");
    sqlite3_close(db);
    ck_assert_int_eq(spool_open(path, SPOOL_CREATE, 0, &s, err, sizeof err), SPOOL_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "not a spool"));
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE name = 'span'"), 0);

    db = raw_open();
    raw_exec(db, "PRAGMA user_version = 1");
    sqlite3_close(db);
    ck_assert_int_eq(spool_open(path, SPOOL_CREATE, 0, &s, err, sizeof err), SPOOL_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "application_id"));

    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a database, not even close to one; it is plain text...........\n", f);
    fclose(f);
    ck_assert_int_eq(spool_open(path, SPOOL_CREATE, 0, &s, err, sizeof err), SPOOL_ERROR);
    ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_refuses_newer_schema)
{
    spool_close(open_ok());
    sqlite3 *db = raw_open();
    raw_exec(db, "PRAGMA user_version = 7");
    sqlite3_close(db);
    spool *s = NULL;
    char err[256];
    ck_assert_int_eq(spool_open(path, 0, 0, &s, err, sizeof err), SPOOL_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "version 7"));
    ck_assert_int_eq(spool_open(path, SPOOL_RDONLY, 0, &s, err, sizeof err), SPOOL_ERROR);
    ck_assert_int_eq(q_int("PRAGMA user_version"), 7);
}
END_TEST

static int n_read;
static int64_t sum_start;
static int count_span(void *ctx, const spool_span *r, const spool_origin *o)
{
    (void)ctx; (void)o;
    n_read++;
    sum_start += r->start_ns;
    return 0;
}

START_TEST(test_migrate_previous_version_keeps_data)
{
    spool *s = open_ok();
    write_n_spans(s, 3);
    /* a later schema: a new column filled from existing data, and a table */
    static const spool_migration steps[] = {
        { SPOOL_SCHEMA_VERSION + 1, "ALTER TABLE span ADD COLUMN duration_ns INTEGER;"
                                    "UPDATE span SET duration_ns = end_ns - start_ns;" },
        { SPOOL_SCHEMA_VERSION + 2,
          "CREATE TABLE sampling (route TEXT PRIMARY KEY, ratio REAL) STRICT;"
          "INSERT INTO sampling SELECT DISTINCT name, 1.0 FROM span;" },
    };
    ck_assert_int_eq(spool_migrate_with(s, steps, 2), SPOOL_OK);
    int v = 0;
    ck_assert_int_eq(spool_schema_version(s, &v), SPOOL_OK);
    ck_assert_int_eq(v, SPOOL_SCHEMA_VERSION + 2);
    n_read = 0;
    sum_start = 0;
    ck_assert_int_eq(spool_read_spans(s, 0, 100, count_span, NULL, NULL), SPOOL_OK);
    ck_assert_int_eq(n_read, 3);
    ck_assert_int_eq(sum_start, 6000000000LL);
    /* still writable after the migration */
    spool_span sp = mk_span(9, 9, 0, "GET /y", SPOOL_KIND_SERVER, 5, 10, 0, NULL);
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_OK);
    /* running the same steps again does nothing */
    ck_assert_int_eq(spool_migrate_with(s, steps, 2), SPOOL_OK);
    spool_close(s);

    ck_assert_int_eq(q_int("SELECT sum(duration_ns) FROM span WHERE id <= 3"), 3000);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sampling"), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 4);
    ck_assert_int_eq(q_int("PRAGMA user_version"), SPOOL_SCHEMA_VERSION + 2);
    /* and this program, which knows versions up to its own, now refuses it */
    char err[256];
    ck_assert_int_eq(spool_open(path, 0, 0, &s, err, sizeof err), SPOOL_ERROR);
}
END_TEST

START_TEST(test_failed_migration_changes_nothing)
{
    spool *s = open_ok();
    write_n_spans(s, 2);
    static const spool_migration bad[] = {
        { SPOOL_SCHEMA_VERSION + 1, "CREATE TABLE half (x);"
             "ALTER TABLE span ADD COLUMN extra TEXT;"
             "INSERT INTO no_such_table VALUES (1);" },
    };
    ck_assert_int_eq(spool_migrate_with(s, bad, 1), SPOOL_ERROR);
    ck_assert_ptr_nonnull(strstr(spool_errmsg(s), "no_such_table"));
    static const spool_migration gap[] = { { SPOOL_SCHEMA_VERSION + 2, "CREATE TABLE later (x);" } };
    ck_assert_int_eq(spool_migrate_with(s, gap, 1), SPOOL_ERROR);
    ck_assert_ptr_nonnull(strstr(spool_errmsg(s), "no migration"));
    spool_close(s);
    ck_assert_int_eq(q_int("PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE name IN ('half','later')"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM pragma_table_info('span') WHERE name = 'extra'"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 2);
}
END_TEST

/* The JSON check of spool_write against SQLite's own json_valid(), which the
 * tables used to run: the same verdict on texts made by small random edits
 * of valid objects (and on those objects). */
START_TEST(test_json_check_agrees_with_sqlite)
{
    static const char *const seeds[] = {
        "{\"a\":1}", "{\"k\":[1,-2.5e+3,0.0,1E9,true,false,null,\"x\"],\"o\":{}}",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9 caf\xc3\xa9\"}", "{ \"n\" : { \"a\" : [ [ ] , { } ] } }",
        "{\"db.query.text\":\"SELECT a.id FROM t WHERE x > ?1\",\"port\":443}",
    };
    static const char alphabet[] = "{}[]\",:\\/ \t\n0123456789-+.eEtrufalsnu\x01\x1f\x7f\xc3\xa9x";
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT CASE WHEN json_valid(?1)"
                                            " THEN json_type(?1) = 'object' ELSE 0 END",
                                        -1, &st, NULL), SQLITE_OK);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    int took = 0;
    for (int i = 0; i < 20000; i++) {
        char t[256];
        snprintf(t, sizeof t, "%s", seeds[i % (sizeof seeds / sizeof seeds[0])]);
        for (int e = i < 50 ? 0 : 1 + i % 3; e > 0; e--) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t len = strlen(t), at = (size_t)(x >> 8) % (len + 1);
            char c = alphabet[(x >> 40) % (sizeof alphabet - 1)];
            switch (x % 3) {
            case 0:                                     /* insert */
                if (len + 2 < sizeof t) {
                    memmove(t + at + 1, t + at, len - at + 1);
                    t[at] = c;
                }
                break;
            case 1:                                     /* delete */
                if (at < len)
                    memmove(t + at, t + at + 1, len - at);
                break;
            default:                                    /* replace */
                if (at < len)
                    t[at] = c;
            }
        }
        spool_span sp = mk_span(1, 1, 0, "n", 1, 10, 5, 0, t);
        spool_batch b = { .spans = &sp, .n_spans = 1 };
        int ours = spool_check_batch(&b, NULL, 0) == SPOOL_OK;
        sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        int theirs = sqlite3_column_int(st, 0);
        sqlite3_reset(st);
        ck_assert_msg(ours == theirs, "'%s': spool %d, json_valid %d", t, ours, theirs);
        took += ours;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* both kinds were tried */
    ck_assert_int_gt(took, 1000);
    ck_assert_int_lt(took, 19000);
}
END_TEST

START_TEST(test_views_reinstalled_when_changed)
{
    spool_close(open_ok());
    sqlite3 *db = raw_open();
    raw_exec(db, "DROP VIEW route_stats; UPDATE meta SET value = 'old' WHERE key = 'views_hash'");
    sqlite3_close(db);
    spool_close(open_ok());
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE name = 'route_stats'"), 1);
    ck_assert_int_eq(q_int("SELECT value <> 'old' FROM meta WHERE key = 'views_hash'"), 1);
}
END_TEST

/* ---- writing and reading back -------------------------------------------- */

/* A file written by the version 1 schema (indexes, json_valid() CHECKs)
 * becomes version 2 with its rows, ids and high-water marks. */
START_TEST(test_migrate_from_version_1)
{
    sqlite3 *db = raw_open();
    raw_exec(db, "PRAGMA journal_mode = WAL");
    raw_exec(db, "BEGIN");
    raw_exec(db, spool_schema_sql);
    raw_exec(db, "PRAGMA user_version = 1");
    raw_exec(db, spool_views_sql);
    raw_exec(db, "INSERT INTO meta VALUES ('views_hash', 'from version 1')");
    raw_exec(db, "INSERT INTO resource (attributes) VALUES ('{\"service.name\":\"old\"}')");
    for (int i = 1; i <= 5; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "INSERT INTO span (trace_id, span_id, name, kind, start_ns, end_ns, attributes,"
                 " resource_id) VALUES ('65f0a1b2000000000000000000000001', '%016x', 'GET /v1',"
                 " 2, %d, %d, '{\"n\":%d}', 1)", i, i * 10, i * 10 + 5, i);
        raw_exec(db, sql);
    }
    raw_exec(db, "INSERT INTO log (time_ns, observed_ns, body, trace_id, span_id, resource_id)"
                 " VALUES (7, 8, 'old log', '65f0a1b2000000000000000000000001',"
                 " '0000000000000001', 1)");
    /* the newest rows went (pruned): their ids must not come back */
    raw_exec(db, "DELETE FROM span WHERE id >= 4");
    raw_exec(db, "COMMIT");
    sqlite3_close(db);
    ck_assert_int_eq(q_int("SELECT seq FROM sqlite_sequence WHERE name = 'span'"), 5);

    spool *s = open_ok();
    int v = 0;
    ck_assert_int_eq(spool_schema_version(s, &v), SPOOL_OK);
    ck_assert_int_eq(v, 2);
    spool_span sp = mk_span(9, 9, 0, "GET /v2", SPOOL_KIND_SERVER, 100, 5, 0, "{\"new\":true}");
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_OK);
    spool_log lg = mk_log(200, "new log");
    spool_batch b = { .resource_json = RES, .logs = &lg, .n_logs = 1 };
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);
    spool_close(s);

    ck_assert_int_eq(q_int("PRAGMA user_version"), 2);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE id <= 3 AND name = 'GET /v1'"
                           " AND json_extract(attributes, '$.n') = id"), 3);
    ck_assert_int_eq(q_int("SELECT id FROM span WHERE name = 'GET /v2'"), 6);
    ck_assert_int_eq(q_int("SELECT group_concat(id) = '1,2' FROM log"), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                           " AND tbl_name IN ('span','log')"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE name IN ('span','log')"
                           " AND sql LIKE '%json_valid%'"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE name LIKE '%v2%'"), 0);
    /* the views are back, and read the new tables */
    ck_assert_int_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE type = 'view'"), 6);
    ck_assert_int_eq(q_int("SELECT span_count FROM trace_summary"
                           " WHERE trace_id = '65f0a1b2000000000000000000000001'"), 3);
    ck_assert_int_eq(q_int("SELECT length(value) FROM meta WHERE key = 'views_hash'"), 16);
}
END_TEST

/* {"a":[[...]]} with `arrays` arrays inside the object. */
static void nested_object(char *out, int arrays)
{
    size_t n = 0;
    memcpy(out, "{\"a\":", 5);
    n = 5;
    for (int d = 0; d < arrays; d++)
        out[n++] = '[';
    for (int d = 0; d < arrays; d++)
        out[n++] = ']';
    out[n++] = '}';
    out[n] = '\0';
}

/* The JSON texts of spans and logs are checked by spool_write itself. */
START_TEST(test_json_syntax_checked)
{
    static const char *const good[] = {
        "{}", " { } ", "{\"a\":1}", "{\"a\":[1,-2.5e+3,0.0,1E9,true,false,null,\"x\"]}",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00 caf\xc3\xa9\"}",
        "{\"nested\":{\"a\":{\"b\":[[],{}]}}}", "\t\r\n{\"k\" : \"v\" , \"l\" : [ ] }\n",
    };
    static const char *const bad[] = {
        "", " ", "[]", "1", "\"s\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}",
        "{\"a\":1}}", "{\"a\":1} x", "{a:1}", "{'a':1}", "{\"a\":01}", "{\"a\":1.}",
        "{\"a\":.5}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":-}", "{\"a\":tru}",
        "{\"a\":nul}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"tab\there\"}",
        "{\"a\":\"open}", "{\"a\":[1 2]}", "{\"a\":NaN}",
    };
    spool *s = open_ok();
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        spool_span sp = mk_span(1, i + 1, 0, "n", 1, 10, 5, 0, good[i]);
        ck_assert_msg(write_spans(s, &sp, 1) == SPOOL_OK, "refused %s: %s", good[i],
                      spool_errmsg(s));
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spool_span sp = mk_span(1, 100, 0, "n", 1, 10, 5, 0, bad[i]);
        ck_assert_msg(write_spans(s, &sp, 1) == SPOOL_INVALID, "took %s", bad[i]);
        ck_assert_str_eq(spool_errmsg(s), "spool_write: span 0: attributes is not a JSON object");
        spool_log lg = mk_log(1, "x");
        lg.attributes_json = bad[i];
        spool_batch b = { .logs = &lg, .n_logs = 1 };
        ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    }
    /* nesting: as deep as SQLite's JSON functions go (2000), and no deeper */
    char deep[4200];
    nested_object(deep, 1999);                       /* 2000 levels with the object */
    spool_span sp = mk_span(1, 200, 0, "n", 1, 10, 5, 0, deep);
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_OK);
    nested_object(deep, 2000);
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_INVALID);
    sp = mk_span(1, 201, 0, "n", 1, 10, 5, 0, NULL);
    sp.events_json = "[{\"name\":\"e\",\"time_ns\":1,\"attributes\":{}}]";
    sp.links_json = "[ ]";
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_OK);
    sp.events_json = "{}";
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_INVALID);
    ck_assert_str_eq(spool_errmsg(s), "spool_write: span 0: events is not a JSON array");
    sp.events_json = NULL;
    sp.links_json = "[1,]";
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_INVALID);
    ck_assert_str_eq(spool_errmsg(s), "spool_write: span 0: links is not a JSON array");
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"),
                     (int64_t)(sizeof good / sizeof good[0]) + 2);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE json_valid(attributes)"
                           " AND json_valid(events) AND json_valid(links)"),
                     (int64_t)(sizeof good / sizeof good[0]) + 2);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log"), 0);
}
END_TEST

START_TEST(test_ids_never_reused)
{
    spool *s = open_ok();
    write_n_spans(s, 3);
    sqlite3 *db = raw_open();
    raw_exec(db, "DELETE FROM span");
    sqlite3_close(db);
    write_n_spans(s, 1);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT id FROM span"), 4);
}
END_TEST

struct got {
    int n_spans, n_logs, n_errors;
    spool_span span[2];
    char span_text[2][8][128];
    spool_log log;
    char log_text[4][128];
    spool_error error;
    char error_text[9][128];
    char resource[128], scope[32], scope_version[32];
    int64_t ids[3];
};

static void keep(char *dst, const char *src)
{
    snprintf(dst, 128, "%s", src != NULL ? src : "(null)");
}

static int got_span(void *ctx, const spool_span *r, const spool_origin *o)
{
    struct got *g = ctx;
    int i = g->n_spans++;
    g->span[i] = *r;
    keep(g->span_text[i][0], r->name);
    keep(g->span_text[i][1], r->status_message);
    keep(g->span_text[i][2], r->attributes_json);
    keep(g->span_text[i][3], r->events_json);
    keep(g->span_text[i][4], r->links_json);
    keep(g->span_text[i][5], r->trace_state);
    keep(g->resource, o->resource_json);
    snprintf(g->scope, sizeof g->scope, "%s", o->scope_name);
    snprintf(g->scope_version, sizeof g->scope_version, "%s",
             o->scope_version ? o->scope_version : "(null)");
    g->ids[0] = o->id;
    return 0;
}

static int got_log(void *ctx, const spool_log *r, const spool_origin *o)
{
    struct got *g = ctx;
    g->n_logs++;
    g->log = *r;
    keep(g->log_text[0], r->severity_text);
    keep(g->log_text[1], r->body);
    keep(g->log_text[2], r->attributes_json);
    keep(g->log_text[3], o->scope_name);
    g->ids[1] = o->id;
    return 0;
}

static int got_error(void *ctx, const spool_error *r, const spool_origin *o)
{
    struct got *g = ctx;
    g->n_errors++;
    g->error = *r;
    keep(g->error_text[0], r->level);
    keep(g->error_text[1], r->class_name);
    keep(g->error_text[2], r->message);
    keep(g->error_text[3], r->frames_json);
    keep(g->error_text[4], r->request_json);
    keep(g->error_text[5], r->context);
    keep(g->error_text[6], r->fingerprint);
    keep(g->error_text[7], r->custom_json);
    keep(g->error_text[8], o->resource_json);
    g->ids[2] = o->id;
    return 0;
}

START_TEST(test_write_and_read_back_every_field)
{
    spool *s = open_ok();
    spool_span sp[2];
    sp[0] = mk_span(0xabc, 0x1111, 0, "GET /api/activities/home", SPOOL_KIND_SERVER,
                    1700000000000000000LL, 2500000, SPOOL_STATUS_ERROR,
                    "{\"http.route\":\"/api/activities/home\",\"app.ratio\":0.5,\"ok\":true}");
    sp[0].status_message = "boom";
    sp[0].events_json = "[{\"name\":\"exception\",\"time_ns\":1700000000000000100,"
                        "\"attributes\":{\"exception.type\":\"E\"}}]";
    sp[0].links_json = "[{\"trace_id\":\"0123456789abcdef0123456789abcdef\","
                       "\"span_id\":\"0123456789abcdef\"}]";
    sp[0].trace_state = "vendor=1";
    sp[0].flags = 1;
    sp[1] = mk_span(0xabc, 0x2222, 0x1111, "home-activities-span", SPOOL_KIND_INTERNAL,
                    1700000000000000500LL, 1000, SPOOL_STATUS_UNSET, NULL);
    sp[1].flags = 0;
    spool_log lg = mk_log(1700000000000000900LL, "GET /api/activities/home 500");
    lg.severity_number = 17;
    lg.severity_text = "ERROR";
    strcpy(lg.trace_id, sp[0].trace_id);
    strcpy(lg.span_id, sp[0].span_id);
    lg.flags = 1;
    spool_error er = mk_error(0xdeadbeef, 1700000000000000950LL, "it broke");
    er.level = "critical";
    er.frames_json = "[{\"filename\":\"src/app/x.c\",\"lineno\":3,\"method\":\"f\"}]";
    er.request_json = "{\"method\":\"GET\",\"headers\":{\"Authorization\":\"[REDACTED]\"}}";
    er.context = "GET /api/activities/home";
    er.fingerprint = "fp1";
    er.custom_json = "{\"app.user\":\"andrew\"}";
    strcpy(er.trace_id, sp[0].trace_id);
    strcpy(er.span_id, sp[0].span_id);
    spool_batch b = {
        .resource_json = RES, .scope_name = "cruddur", .scope_version = "0.1.0",
        .spans = sp, .n_spans = 2, .logs = &lg, .n_logs = 1, .errors = &er, .n_errors = 1,
    };
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);

    struct got g;
    memset(&g, 0, sizeof g);
    int64_t last = -1;
    ck_assert_int_eq(spool_read_spans(s, 0, 10, got_span, &g, &last), SPOOL_OK);
    ck_assert_int_eq(g.n_spans, 2);
    ck_assert_int_eq(last, 2);
    ck_assert_str_eq(g.span[0].trace_id, "0000000065f0a1b20000000000000abc");
    ck_assert_str_eq(g.span[0].span_id, "0000000000001111");
    ck_assert_str_eq(g.span[0].parent_span_id, "");
    ck_assert_str_eq(g.span[1].parent_span_id, "0000000000001111");
    ck_assert_str_eq(g.span_text[0][0], "GET /api/activities/home");
    ck_assert_int_eq(g.span[0].kind, SPOOL_KIND_SERVER);
    ck_assert_int_eq(g.span[1].kind, SPOOL_KIND_INTERNAL);
    ck_assert_int_eq(g.span[0].start_ns, 1700000000000000000LL);
    ck_assert_int_eq(g.span[0].end_ns, 1700000000002500000LL);
    ck_assert_int_eq(g.span[0].status_code, SPOOL_STATUS_ERROR);
    ck_assert_str_eq(g.span_text[0][1], "boom");
    ck_assert_str_eq(g.span_text[1][1], "(null)");
    ck_assert_str_eq(g.span_text[0][2], sp[0].attributes_json);
    ck_assert_str_eq(g.span_text[1][2], "{}");
    ck_assert_str_eq(g.span_text[0][3], sp[0].events_json);
    ck_assert_str_eq(g.span_text[1][3], "[]");
    ck_assert_str_eq(g.span_text[0][4], sp[0].links_json);
    ck_assert_str_eq(g.span_text[0][5], "vendor=1");
    ck_assert_uint_eq(g.span[0].flags, 1);
    ck_assert_uint_eq(g.span[1].flags, 0);
    ck_assert_str_eq(g.resource, RES);
    ck_assert_str_eq(g.scope, "cruddur");
    ck_assert_str_eq(g.scope_version, "0.1.0");

    ck_assert_int_eq(spool_read_logs(s, 0, 10, got_log, &g, &last), SPOOL_OK);
    ck_assert_int_eq(g.n_logs, 1);
    ck_assert_int_eq(last, 1);
    ck_assert_int_eq(g.log.time_ns, 1700000000000000900LL);
    ck_assert_int_eq(g.log.observed_ns, 1700000000000000901LL);
    ck_assert_int_eq(g.log.severity_number, 17);
    ck_assert_str_eq(g.log_text[0], "ERROR");
    ck_assert_str_eq(g.log_text[1], "GET /api/activities/home 500");
    ck_assert_str_eq(g.log_text[2], "{\"http.response.status_code\":200}");
    ck_assert_str_eq(g.log_text[3], "cruddur");
    ck_assert_str_eq(g.log.trace_id, sp[0].trace_id);
    ck_assert_str_eq(g.log.span_id, sp[0].span_id);
    ck_assert_uint_eq(g.log.flags, 1);

    ck_assert_int_eq(spool_read_errors(s, 0, 10, got_error, &g, &last), SPOOL_OK);
    ck_assert_int_eq(g.n_errors, 1);
    ck_assert_str_eq(g.error.uuid, "deadbeef-1111-4222-8333-444455556666");
    ck_assert_int_eq(g.error.time_ns, 1700000000000000950LL);
    ck_assert_str_eq(g.error_text[0], "critical");
    ck_assert_str_eq(g.error_text[1], "RuntimeError");
    ck_assert_str_eq(g.error_text[2], "it broke");
    ck_assert_str_eq(g.error_text[3], er.frames_json);
    ck_assert_str_eq(g.error_text[4], er.request_json);
    ck_assert_str_eq(g.error_text[5], "GET /api/activities/home");
    ck_assert_str_eq(g.error_text[6], "fp1");
    ck_assert_str_eq(g.error_text[7], "{\"app.user\":\"andrew\"}");
    ck_assert_str_eq(g.error_text[8], RES);
    ck_assert_str_eq(g.error.trace_id, sp[0].trace_id);
    ck_assert_str_eq(g.error.span_id, sp[0].span_id);
    spool_close(s);

    /* what sqlite3 users see */
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE parent_span_id IS NULL"), 1);
    ck_assert_int_eq(q_int("SELECT json_extract(attributes, '$.ok') FROM span WHERE id = 1"), 1);
    ck_assert(q_double("SELECT json_extract(attributes, '$.\"app.ratio\"') FROM span WHERE id = 1")
              == 0.5);
}
END_TEST

START_TEST(test_minimal_records_get_defaults)
{
    spool *s = open_ok();
    spool_log lg;
    memset(&lg, 0, sizeof lg);
    lg.time_ns = 5;
    spool_error er = mk_error(1, 6, NULL);
    spool_batch b = { .logs = &lg, .n_logs = 1, .errors = &er, .n_errors = 1 };
    int64_t before = wall_ns();
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);
    spool_close(s);
    ck_assert_int_ge(q_int("SELECT observed_ns FROM log"), before);
    ck_assert_int_eq(q_int("SELECT trace_id IS NULL AND span_id IS NULL AND attributes = '{}'"
                           " AND scope_name = '' FROM log"), 1);
    ck_assert_int_eq(q_int("SELECT level = 'error' AND frames = '[]' AND message = ''"
                           " AND request IS NULL AND trace_id IS NULL FROM error"), 1);
    ck_assert_int_eq(q_int("SELECT attributes = '{}' FROM resource"), 1);
}
END_TEST

START_TEST(test_resources_shared_and_recreated)
{
    spool *s = open_ok();
    write_n_spans(s, 3);
    ck_assert_int_eq(q_int("SELECT count(*) FROM resource"), 1);
    spool_span sp = mk_span(7, 7, 0, "x", 1, 1, 1, 0, NULL);
    spool_batch b = { .resource_json = "{\"service.name\":\"other\"}", .spans = &sp, .n_spans = 1 };
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM resource"), 2);
    /* someone deletes everything, resources included: the cached id is not trusted */
    sqlite3 *db = raw_open();
    raw_exec(db, "DELETE FROM span; DELETE FROM resource");
    sqlite3_close(db);
    write_n_spans(s, 1);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span JOIN resource r ON r.id = span.resource_id"
                           " WHERE r.attributes LIKE '%cruddur-api%'"), 1);
    ck_assert_int_eq(q_int("SELECT resource_id FROM span"), 3);
}
END_TEST

START_TEST(test_duplicate_error_uuid_keeps_first)
{
    spool *s = open_ok();
    spool_error a = mk_error(42, 1, "first"), b2 = mk_error(42, 2, "second");
    spool_batch b = { .errors = &a, .n_errors = 1 };
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);
    b.errors = &b2;
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM error"), 1);
    char m[32];
    q_text("SELECT message FROM error", m, sizeof m);
    ck_assert_str_eq(m, "first");
}
END_TEST

static void expect_invalid_span(spool *s, spool_span sp)
{
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_INVALID);
}

START_TEST(test_schema_checks_records)
{
    spool *s = open_ok();
    spool_span good = mk_span(1, 1, 0, "n", 1, 10, 5, 0, "{\"a\":1}");
    spool_span sp;
    sp = good; sp.attributes_json = "{\"a\":";           expect_invalid_span(s, sp);
    sp = good; sp.attributes_json = "[1,2]";             expect_invalid_span(s, sp);
    sp = good; sp.events_json = "{}";                    expect_invalid_span(s, sp);
    sp = good; sp.events_json = "[{\"name\":}]";         expect_invalid_span(s, sp);
    sp = good; sp.links_json = "nope";                   expect_invalid_span(s, sp);
    sp = good; strcpy(sp.trace_id, "0000000065F0A1B20000000000000001"); expect_invalid_span(s, sp);
    ck_assert_str_eq(spool_errmsg(s), "spool_write: span 0: trace_id is not lowercase hex"
                     " of the right length");
    sp = good; strcpy(sp.trace_id, "00000000000000000000000000000000"); expect_invalid_span(s, sp);
    sp = good; strcpy(sp.trace_id, "abc");               expect_invalid_span(s, sp);
    sp = good; strcpy(sp.span_id, "");                   expect_invalid_span(s, sp);
    sp = good; strcpy(sp.parent_span_id, "xyz");         expect_invalid_span(s, sp);
    sp = good; sp.name = NULL;                           expect_invalid_span(s, sp);
    sp = good; sp.kind = 9;                              expect_invalid_span(s, sp);
    sp = good; sp.status_code = 3;                       expect_invalid_span(s, sp);
    sp = good; sp.end_ns = 9;                            expect_invalid_span(s, sp);
    /* an unterminated id field is bounded by its size, and refused */
    sp = good; memset(sp.span_id, 'a', sizeof sp.span_id); expect_invalid_span(s, sp);

    spool_log lg = mk_log(1, "x");
    lg.severity_number = 25;
    spool_batch b = { .logs = &lg, .n_logs = 1 };
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    lg = mk_log(1, "x");
    strcpy(lg.span_id, "00000000000000zz");
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    ck_assert_ptr_nonnull(strstr(spool_errmsg(s), "log 0: span_id"));
    lg = mk_log(1, "x");
    strcpy(lg.trace_id, "0123");
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    spool_error er = mk_error(1, 1, "m");
    er.level = "fatal";
    b = (spool_batch){ .errors = &er, .n_errors = 1 };
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    er = mk_error(1, 1, "m");
    strcpy(er.uuid, "DEADBEEF-1111-4222-8333-444455556666");
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    er = mk_error(1, 1, "m");
    er.request_json = "[]";
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    er = mk_error(1, 1, "m");
    er.class_name = NULL;
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    b = (spool_batch){ .resource_json = "not json", .spans = &good, .n_spans = 1 };
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    b = (spool_batch){ .spans = NULL, .n_spans = 1 };
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    ck_assert_ptr_nonnull(strstr(spool_errmsg(s), "records missing"));

    ck_assert_int_eq(write_spans(s, &good, 1), SPOOL_OK);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log") + q_int("SELECT count(*) FROM error"), 0);
}
END_TEST

START_TEST(test_batch_is_atomic)
{
    spool *s = open_ok();
    spool_span sp[3] = {
        mk_span(1, 1, 0, "a", 2, 10, 5, 0, NULL),
        mk_span(1, 2, 1, "b", 1, 11, 1, 0, NULL),
        mk_span(1, 3, 1, "c", 3, 12, 1, 0, NULL),
    };
    spool_log lg[2] = { mk_log(20, "ok"), mk_log(21, "bad") };
    lg[1].attributes_json = "{\"unterminated\": \"";
    spool_batch b = { .resource_json = "{\"service.name\":\"fresh\"}", .spans = sp, .n_spans = 3,
                      .logs = lg, .n_logs = 2 };
    spool_note_dropped(s, 4);
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_INVALID);
    ck_assert_ptr_nonnull(strstr(spool_errmsg(s), "log"));
    ck_assert_int_eq(spool_pending_dropped(s), 4);     /* not counted: nothing was written */
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM resource"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM counter"), 0);
    /* the handle is still usable, and ids of the rolled-back rows are free */
    lg[1].attributes_json = NULL;
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 3);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log"), 2);
    ck_assert_int_eq(q_int("SELECT value FROM counter WHERE name = 'dropped_records'"), 4);
}
END_TEST

/* ---- budgets and failure modes -------------------------------------------- */

START_TEST(test_busy_within_budget)
{
    spool *s = open_ok();
    sqlite3 *db = raw_open();
    raw_exec(db, "BEGIN IMMEDIATE");
    spool_span sp = mk_span(1, 1, 0, "x", 2, 1, 1, 0, NULL);
    int64_t t0 = mono_ns();
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_BUSY);
    int64_t default_elapsed = mono_ns() - t0;
    spool_batch b = { .spans = &sp, .n_spans = 1 };
    t0 = mono_ns();
    ck_assert_int_eq(spool_write(s, &b, 50000000), SPOOL_BUSY);
    int64_t elapsed = mono_ns() - t0;
    /* only a generous upper bound: sanitizers and a loaded machine are slow */
    ck_assert_msg(elapsed < 50000000 + 500000000, "waited %" PRId64 " ns", elapsed);
    ck_assert_msg(default_elapsed < SPOOL_DEFAULT_BUDGET_NS + 500000000,
                  "waited %" PRId64 " ns", default_elapsed);
    /* other operations are bounded too */
    spool_set_budget(s, 30000000);
    t0 = mono_ns();
    ck_assert_int_eq(spool_cursor_set(s, "honeycomb", SPOOL_STREAM_SPAN, 1), SPOOL_BUSY);
    ck_assert_int_lt(mono_ns() - t0, 30000000 + 500000000);
    /* opening an existing spool needs no write lock */
    spool *s2 = NULL;
    char err[256];
    ck_assert_int_eq(spool_open(path, 0, 0, &s2, err, sizeof err), SPOOL_OK);
    spool_close(s2);
    raw_exec(db, "COMMIT");
    sqlite3_close(db);
    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 1);
}
END_TEST

START_TEST(test_waits_for_a_short_lock)
{
    spool_close(open_ok());
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        sqlite3 *db = NULL;
        if (sqlite3_open(path, &db) != SQLITE_OK ||
            sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            _exit(1);
        if (write(fds[1], "x", 1) != 1)
            _exit(1);
        struct timespec ts = { 0, 80000000 };
        nanosleep(&ts, NULL);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(db);
        _exit(0);
    }
    char c;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    spool *s = open_ok();
    spool_span sp = mk_span(1, 1, 0, "x", 2, 1, 1, 0, NULL);
    spool_batch b = { .spans = &sp, .n_spans = 1 };
    int64_t t0 = mono_ns();
    ck_assert_int_eq(spool_write(s, &b, 3000000000LL), SPOOL_OK);
    ck_assert_int_gt(mono_ns() - t0, 10000000);     /* it did wait */
    spool_close(s);
    int st = 0;
    waitpid(pid, &st, 0);
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_slow_write_interrupted)
{
    spool *s = open_ok();
    enum { N = 20000 };
    spool_span *sp = calloc(N, sizeof *sp);
    ck_assert_ptr_nonnull(sp);
    for (int i = 0; i < N; i++)
        sp[i] = mk_span((uint64_t)i + 1, (uint64_t)i + 1, 0, "bulk", 1, i, 1, 0,
                        "{\"k\":\"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\"}");
    spool_batch b = { .spans = sp, .n_spans = N };
    int64_t t0 = mono_ns();
    ck_assert_int_eq(spool_write(s, &b, 2000000), SPOOL_BUSY);
    int64_t elapsed = mono_ns() - t0;
    ck_assert_msg(elapsed < 2000000 + 500000000, "took %" PRId64 " ns", elapsed);
    ck_assert_ptr_nonnull(strstr(spool_errmsg(s), "budget"));
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 0);
    /* with time enough it goes through */
    ck_assert_int_eq(spool_write(s, &b, 60000000000LL), SPOOL_OK);
    free(sp);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), N);
}
END_TEST

static int open_status(void)
{
    spool *s = NULL;
    char err[256];
    int rc = spool_open(path, 0, 0, &s, err, sizeof err);
    spool_close(s);
    return rc;
}

static int open_rdonly_and_read(void)
{
    spool *s = NULL;
    char err[256];
    int rc = spool_open(path, SPOOL_RDONLY, 0, &s, err, sizeof err);
    if (rc != SPOOL_OK)
        return rc;
    n_read = 0;
    rc = spool_read_spans(s, 0, 10, count_span, NULL, NULL);
    if (rc == SPOOL_OK && n_read != 2)
        rc = SPOOL_ERROR;
    spool_span sp = mk_span(1, 1, 0, "x", 2, 1, 1, 0, NULL);
    if (rc == SPOOL_OK && write_spans(s, &sp, 1) != SPOOL_READONLY)
        rc = SPOOL_ERROR;
    spool_close(s);
    return rc;
}

START_TEST(test_read_only_file)
{
    spool *s = open_ok();
    write_n_spans(s, 2);
    spool_close(s);
    ck_assert_int_eq(chmod(dir, 0777), 0);
    ck_assert_int_eq(chmod(path, 0444), 0);
    int64_t t0 = mono_ns();
    ck_assert_int_eq(unprivileged(open_status), SPOOL_READONLY);
    ck_assert_int_lt(mono_ns() - t0, 1000000000LL);
    /* a reader can still use it */
    ck_assert_int_eq(unprivileged(open_rdonly_and_read), SPOOL_OK);
}
END_TEST

START_TEST(test_read_only_directory)
{
    spool *s = open_ok();
    write_n_spans(s, 2);
    spool_close(s);
    ck_assert_int_eq(access(path, F_OK), 0);
    ck_assert_int_eq(chmod(path, 0666), 0);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    int64_t t0 = mono_ns();
    ck_assert_int_eq(unprivileged(open_status), SPOOL_READONLY);
    ck_assert_int_lt(mono_ns() - t0, 1000000000LL);
}
END_TEST

START_TEST(test_full)
{
    spool *s = open_ok();
    write_n_spans(s, 1);
    int64_t used = 0;
    ck_assert_int_eq(spool_used_bytes(s, &used), SPOOL_OK);
    ck_assert_int_gt(used, 0);
    ck_assert_int_eq(spool_set_size_limit(s, used), SPOOL_OK);
    char *big = malloc(200000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 199990);
    memcpy(big, "{\"k\":\"", 6);
    strcpy(big + 199990, "\"}");
    spool_span sp = mk_span(2, 2, 0, "big", 2, 1, 1, 0, big);
    int64_t t0 = mono_ns();
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_FULL);
    ck_assert_int_lt(mono_ns() - t0, 1000000000LL);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 1);
    ck_assert_int_eq(spool_set_size_limit(s, 0), SPOOL_OK);
    ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_OK);
    free(big);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 2);
}
END_TEST

START_TEST(test_dropped_counted_after_outage)
{
    spool *s = open_ok();
    spool_span sp[4];
    for (int i = 0; i < 4; i++)
        sp[i] = mk_span(1, (uint64_t)i + 1, 0, "x", 2, 1, 1, 0, NULL);
    spool_log lg[2] = { mk_log(1, "a"), mk_log(2, "b") };
    spool_batch b = { .resource_json = RES, .spans = sp, .n_spans = 4, .logs = lg, .n_logs = 2 };
    spool_note_dropped(s, 5);            /* e.g. lost before the spool opened */

    sqlite3 *db = raw_open();
    raw_exec(db, "BEGIN IMMEDIATE");
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(spool_write(s, &b, 20000000), SPOOL_BUSY);
        spool_note_dropped(s, 6);        /* the caller gives the batch up */
    }
    ck_assert_int_eq(spool_pending_dropped(s), 17);
    ck_assert_int_eq(q_int("SELECT count(*) FROM counter"), 0);
    raw_exec(db, "COMMIT");
    sqlite3_close(db);

    ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);
    ck_assert_int_eq(spool_pending_dropped(s), 0);
    int64_t v = 0;
    ck_assert_int_eq(spool_counter_get(s, "dropped_records", &v), SPOOL_OK);
    ck_assert_int_eq(v, 17);
    /* close records what is still pending */
    spool_note_dropped(s, 3);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT value FROM counter WHERE name = 'dropped_records'"), 20);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 4);
}
END_TEST

static int64_t wal_size(void)
{
    char p[160];
    struct stat sb;
    snprintf(p, sizeof p, "%s-wal", path);
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static void write_wide_spans(spool *s, int n)
{
    char attrs[3000];
    memset(attrs, 'w', sizeof attrs);
    memcpy(attrs, "{\"k\":\"", 6);
    strcpy(attrs + sizeof attrs - 3, "\"}");
    for (int i = 0; i < n; i++) {
        spool_span sp = mk_span((uint64_t)i + 1, 1, 0, "x", 2, i, 1, 0, attrs);
        ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_OK);
    }
}

START_TEST(test_checkpoints)
{
    /* by default writers keep the WAL near 1000 pages */
    spool *s = open_ok();
    write_wide_spans(s, 1500);
    ck_assert_int_lt(wal_size(), 1200 * 4120);
    spool_close(s);

    /* with SPOOL_NO_CHECKPOINT it grows until someone checkpoints */
    char err[256];
    ck_assert_int_eq(spool_open(path, SPOOL_NO_CHECKPOINT, 0, &s, err, sizeof err), SPOOL_OK);
    write_wide_spans(s, 1500);
    ck_assert_int_gt(wal_size(), 1200 * 4120);
    int left = -1;
    spool *maint = open_ok();
    ck_assert_int_eq(spool_checkpoint(maint, &left), SPOOL_OK);
    ck_assert_int_eq(left, 0);
    /* the next write starts the WAL over: it writes at the start of the file,
     * which does not grow (and is cut back to journal_size_limit, 32 MiB, when
     * it is longer) */
    int64_t before = wal_size();
    write_wide_spans(s, 1);
    ck_assert_int_le(wal_size(), before < 33554432 ? before : 33554432);
    spool_close(maint);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 3001);
}
END_TEST

START_TEST(test_counters)
{
    spool *s = open_ok();
    int64_t v = -1;
    ck_assert_int_eq(spool_counter_get(s, "crash_reports", &v), SPOOL_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(spool_counter_add(s, "crash_reports", 2), SPOOL_OK);
    ck_assert_int_eq(spool_counter_add(s, "crash_reports", 40), SPOOL_OK);
    ck_assert_int_eq(spool_counter_get(s, "crash_reports", &v), SPOOL_OK);
    ck_assert_int_eq(v, 42);
    spool_close(s);
}
END_TEST

/* ---- reading, cursors, delivery ---------------------------------------- */

static int stop_at_third(void *ctx, const spool_span *r, const spool_origin *o)
{
    (void)r; (void)o;
    int *n = ctx;
    return ++*n == 3;
}

START_TEST(test_read_limit_and_stop)
{
    spool *s = open_ok();
    write_n_spans(s, 5);
    int64_t last = -1;
    n_read = 0;
    ck_assert_int_eq(spool_read_spans(s, 0, 2, count_span, NULL, &last), SPOOL_OK);
    ck_assert_int_eq(n_read, 2);
    ck_assert_int_eq(last, 2);
    n_read = 0;
    ck_assert_int_eq(spool_read_spans(s, last, 100, count_span, NULL, &last), SPOOL_OK);
    ck_assert_int_eq(n_read, 3);
    ck_assert_int_eq(last, 5);
    n_read = 0;
    ck_assert_int_eq(spool_read_spans(s, 5, 100, count_span, NULL, &last), SPOOL_OK);
    ck_assert_int_eq(n_read, 0);
    ck_assert_int_eq(last, 5);
    int n = 0;
    ck_assert_int_eq(spool_read_spans(s, 0, 100, stop_at_third, &n, &last), SPOOL_OK);
    ck_assert_int_eq(last, 2);           /* the third was not taken */
    spool_close(s);
}
END_TEST

START_TEST(test_cursor_get_set)
{
    spool *s = open_ok();
    int64_t v = -1;
    ck_assert_int_eq(spool_cursor_get(s, "honeycomb", SPOOL_STREAM_SPAN, &v), SPOOL_NOTFOUND);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(spool_cursor_set(s, "honeycomb", SPOOL_STREAM_SPAN, 5), SPOOL_OK);
    ck_assert_int_eq(spool_cursor_set(s, "honeycomb", SPOOL_STREAM_LOG, 9), SPOOL_OK);
    ck_assert_int_eq(spool_cursor_get(s, "honeycomb", SPOOL_STREAM_SPAN, &v), SPOOL_OK);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(spool_cursor_set(s, "honeycomb", SPOOL_STREAM_SPAN, 2), SPOOL_OK);
    ck_assert_int_eq(spool_cursor_get(s, "honeycomb", SPOOL_STREAM_SPAN, &v), SPOOL_OK);
    ck_assert_int_eq(v, 2);
    ck_assert_int_eq(spool_cursor_get(s, "xray", SPOOL_STREAM_SPAN, &v), SPOOL_NOTFOUND);
    ck_assert_int_eq(spool_cursor_remove(s, "honeycomb", SPOOL_STREAM_SPAN), SPOOL_OK);
    ck_assert_int_eq(spool_cursor_remove(s, "honeycomb", SPOOL_STREAM_SPAN), SPOOL_NOTFOUND);
    ck_assert_int_eq(spool_cursor_get(s, "honeycomb", SPOOL_STREAM_LOG, &v), SPOOL_OK);
    ck_assert_int_eq(v, 9);
    ck_assert_int_eq(spool_cursor_set(s, "", SPOOL_STREAM_LOG, 1), SPOOL_ERROR);
    ck_assert_int_eq(spool_cursor_set(s, "x", (spool_stream)7, 1), SPOOL_ERROR);
    ck_assert_int_eq(spool_cursor_set(s, "x", SPOOL_STREAM_LOG, -1), SPOOL_INVALID);

    spool_stream st;
    ck_assert_int_eq(spool_stream_parse("error", &st), SPOOL_OK);
    ck_assert_int_eq(st, SPOOL_STREAM_ERROR);
    ck_assert_int_eq(spool_stream_parse("spans", &st), SPOOL_NOTFOUND);
    ck_assert_str_eq(spool_stream_name(SPOOL_STREAM_LOG), "log");
    ck_assert_ptr_null(spool_stream_name((spool_stream)3));
    spool_close(s);
}
END_TEST

START_TEST(test_ack_and_export_state)
{
    spool *s = open_ok();
    spool_export_state es;
    ck_assert_int_eq(spool_export_state_get(s, "rollbar", &es), SPOOL_NOTFOUND);
    ck_assert_int_eq(es.sent, 0);
    ck_assert_int_eq(spool_export_failed(s, "rollbar", "HTTP 503", 1234), SPOOL_OK);
    ck_assert_int_eq(spool_export_failed(s, "rollbar", "HTTP 429", 5678), SPOOL_OK);
    ck_assert_int_eq(spool_export_state_get(s, "rollbar", &es), SPOOL_OK);
    ck_assert_int_eq(es.failures, 2);
    ck_assert_int_eq(es.retry_at_ns, 5678);
    ck_assert_str_eq(es.last_error, "HTTP 429");

    spool_dead_letter dead[2] = {
        { 3, "422 invalid level", "{\"x\":1}" },
        { 4, "413 too large", NULL },
    };
    spool_delivery d = { .exporter = "rollbar", .stream = SPOOL_STREAM_ERROR, .last_id = 10,
                         .sent = 8, .rejected = 2, .dead = dead, .n_dead = 2 };
    int64_t before = wall_ns();
    ck_assert_int_eq(spool_ack(s, &d), SPOOL_OK);
    ck_assert_int_eq(spool_ack(s, &(spool_delivery){ .exporter = "rollbar",
                     .stream = SPOOL_STREAM_ERROR, .last_id = 12, .sent = 2 }), SPOOL_OK);
    int64_t v = 0;
    ck_assert_int_eq(spool_cursor_get(s, "rollbar", SPOOL_STREAM_ERROR, &v), SPOOL_OK);
    ck_assert_int_eq(v, 12);
    ck_assert_int_eq(spool_export_state_get(s, "rollbar", &es), SPOOL_OK);
    ck_assert_int_eq(es.failures, 0);
    ck_assert_int_eq(es.retry_at_ns, 0);
    ck_assert_int_eq(es.sent, 10);
    ck_assert_int_eq(es.rejected, 2);
    ck_assert_int_eq(es.dead_lettered, 2);
    ck_assert_int_ge(es.last_ok_ns, before);
    ck_assert_str_eq(es.last_error, "HTTP 429");     /* kept for the record */
    /* a failing ack changes nothing */
    spool_dead_letter bad = { 5, NULL, NULL };         /* reason is required */
    d = (spool_delivery){ .exporter = "rollbar", .stream = SPOOL_STREAM_ERROR, .last_id = 20,
                          .sent = 1, .dead = &bad, .n_dead = 1 };
    ck_assert_int_eq(spool_ack(s, &d), SPOOL_INVALID);
    ck_assert_int_eq(spool_cursor_get(s, "rollbar", SPOOL_STREAM_ERROR, &v), SPOOL_OK);
    ck_assert_int_eq(v, 12);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM dead_letter WHERE exporter = 'rollbar'"
                           " AND stream = 'error'"), 2);
    ck_assert_int_eq(q_int("SELECT record_id FROM dead_letter WHERE reason = '413 too large'"), 4);
}
END_TEST

/* ---- pruning and the cap -------------------------------------------------- */

START_TEST(test_prune_respects_cursors)
{
    spool *s = open_ok();
    write_n_spans(s, 10);
    for (int i = 0; i < 4; i++) {
        spool_log lg = mk_log(i, "l");
        spool_error er = mk_error((unsigned)i, i, "e");
        spool_batch b = { .resource_json = "{\"process.pid\":7}", .logs = &lg, .n_logs = 1,
                          .errors = &er, .n_errors = 1 };
        ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);
    }
    ck_assert_int_eq(spool_cursor_set(s, "honeycomb", SPOOL_STREAM_SPAN, 7), SPOOL_OK);
    ck_assert_int_eq(spool_cursor_set(s, "xray", SPOOL_STREAM_SPAN, 4), SPOOL_OK);
    ck_assert_int_eq(spool_cursor_set(s, "rollbar", SPOOL_STREAM_ERROR, 4), SPOOL_OK);
    int64_t n = -1;
    ck_assert_int_eq(spool_prune(s, &n), SPOOL_OK);
    ck_assert_int_eq(n, 4 + 4);
    ck_assert_int_eq(q_int("SELECT min(id) FROM span"), 5);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 6);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log"), 4);       /* no exporter: kept */
    ck_assert_int_eq(q_int("SELECT count(*) FROM error"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM resource"), 2);  /* logs still use pid 7 */

    ck_assert_int_eq(spool_cursor_remove(s, "xray", SPOOL_STREAM_SPAN), SPOOL_OK);
    ck_assert_int_eq(spool_cursor_set(s, "cloudwatch", SPOOL_STREAM_LOG, 4), SPOOL_OK);
    ck_assert_int_eq(spool_prune(s, &n), SPOOL_OK);
    ck_assert_int_eq(n, 3 + 4);
    ck_assert_int_eq(q_int("SELECT min(id) FROM span"), 8);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM resource"), 1);  /* pid 7 unused now */
    ck_assert_int_eq(spool_prune(s, &n), SPOOL_OK);
    ck_assert_int_eq(n, 0);
    /* the writer's cached resource survived: it is still in use */
    write_n_spans(s, 1);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span s JOIN resource r ON r.id = s.resource_id"), 4);
}
END_TEST

START_TEST(test_prune_in_chunks)
{
    spool *s = open_ok();
    enum { N = 2500 };
    spool_span *sp = calloc(N, sizeof *sp);
    ck_assert_ptr_nonnull(sp);
    for (int i = 0; i < N; i++)
        sp[i] = mk_span(1, (uint64_t)i + 1, 0, "x", 1, i, 1, 0, NULL);
    spool_batch b = { .spans = sp, .n_spans = N };
    ck_assert_int_eq(spool_write(s, &b, 60000000000LL), SPOOL_OK);
    free(sp);
    ck_assert_int_eq(spool_cursor_set(s, "honeycomb", SPOOL_STREAM_SPAN, 2200), SPOOL_OK);
    int64_t n = 0;
    ck_assert_int_eq(spool_prune(s, &n), SPOOL_OK);
    ck_assert_int_eq(n, 2200);
    spool_close(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 300);
}
END_TEST

START_TEST(test_enforce_cap)
{
    spool *s = open_ok();
    char attrs[1200];
    memset(attrs, 'a', sizeof attrs);
    memcpy(attrs, "{\"k\":\"", 6);
    strcpy(attrs + sizeof attrs - 3, "\"}");
    for (int i = 0; i < 600; i++) {
        spool_span sp = mk_span((uint64_t)i + 1, 1, 0, "x", 2, 1000 + i, 1, 0, attrs);
        spool_log lg = mk_log(1000 + i, attrs);
        spool_batch b = { .resource_json = RES, .spans = &sp, .n_spans = 1, .logs = &lg, .n_logs = 1 };
        ck_assert_int_eq(spool_write(s, &b, 0), SPOOL_OK);
    }
    ck_assert_int_eq(spool_cursor_set(s, "cloudwatch", SPOOL_STREAM_LOG, 100), SPOOL_OK);
    int64_t before = 0, after = 0, dropped = -1;
    ck_assert_int_eq(spool_used_bytes(s, &before), SPOOL_OK);
    ck_assert_int_gt(before, 1000000);
    /* under the cap: only the prune happens */
    ck_assert_int_eq(spool_enforce_cap(s, before * 2, &dropped), SPOOL_OK);
    ck_assert_int_eq(dropped, 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log"), 500);
    ck_assert_int_eq(spool_used_bytes(s, &before), SPOOL_OK);
    int64_t cap = before / 2;
    ck_assert_int_eq(spool_enforce_cap(s, cap, &dropped), SPOOL_OK);
    ck_assert_int_eq(spool_used_bytes(s, &after), SPOOL_OK);
    ck_assert_int_le(after, cap);
    ck_assert_int_gt(after, cap * 3 / 4);      /* no more than needed, give or take */
    ck_assert_int_gt(dropped, 0);
    int64_t v = 0;
    ck_assert_int_eq(spool_counter_get(s, "dropped_by_cap", &v), SPOOL_OK);
    ck_assert_int_eq(v, dropped);
    /* the freed pages are reused: writing as much again does not grow the file */
    int64_t pages = q_int("PRAGMA page_count");
    ck_assert_int_gt(q_int("PRAGMA freelist_count"), 0);
    for (int i = 0; i < 50; i++) {
        spool_span sp = mk_span(7000 + (uint64_t)i, 1, 0, "x", 2, 9000 + i, 1, 0, attrs);
        ck_assert_int_eq(write_spans(s, &sp, 1), SPOOL_OK);
    }
    ck_assert_int_eq(q_int("PRAGMA page_count"), pages);
    spool_close(s);
    /* the oldest went, the newest stayed */
    ck_assert_int_eq(q_int("SELECT max(id) FROM span"), 650);
    ck_assert_int_eq(q_int("SELECT max(id) FROM log"), 600);
    ck_assert_int_gt(q_int("SELECT min(id) FROM span"), 1);
    ck_assert_int_eq(q_int("SELECT (650 - count(*)) FROM span") +
                     q_int("SELECT (500 - count(*)) FROM log"), dropped);
}
END_TEST

/* ---- views ---------------------------------------------------------------- */

static void write_request(spool *s, uint64_t trace, const char *route, int64_t start,
                          int64_t dur_ms, int status_code, int http_status, const char *client)
{
    char attrs[256], name[64];
    snprintf(attrs, sizeof attrs,
             "{\"http.request.method\":\"GET\",\"http.route\":\"%s\","
             "\"http.response.status_code\":%d,\"client.address\":\"%s\"}",
             route, http_status, client);
    snprintf(name, sizeof name, "GET %s", route);
    spool_span sp[2] = {
        mk_span(trace, 1, 0, name, SPOOL_KIND_SERVER, start, dur_ms * 1000000, status_code, attrs),
        mk_span(trace, 2, 1, "db", SPOOL_KIND_CLIENT, start + 1000, 500000, 0,
                "{\"db.system.name\":\"sqlite\"}"),
    };
    ck_assert_int_eq(write_spans(s, sp, 2), SPOOL_OK);
}

START_TEST(test_views_numbers)
{
    spool *s = open_ok();
    int64_t now = wall_ns();
    /* /api/activities/home: 1..10 ms, 2 failed; one more request 2 hours ago */
    for (int i = 1; i <= 10; i++)
        write_request(s, (uint64_t)i, "/api/activities/home", now - 60000000000LL + i, i,
                      i == 3 || i == 7 ? 2 : 0, i == 3 || i == 7 ? 500 : 200, "10.0.0.1");
    write_request(s, 11, "/api/activities/home", now - 7200000000000LL, 11, 2, 500, "10.0.0.2");
    /* /api/messages: 100, 200, 300, 400 ms, one 404 */
    for (int i = 1; i <= 4; i++)
        write_request(s, (uint64_t)(20 + i), "/api/messages", now - 1000000000LL, 100 * i, 0,
                      i == 4 ? 404 : 200, "10.0.0.2");
    ck_assert_int_eq(spool_cursor_set(s, "honeycomb", SPOOL_STREAM_SPAN, 5), SPOOL_OK);
    ck_assert_int_eq(spool_cursor_set(s, "cloudwatch", SPOOL_STREAM_LOG, 0), SPOOL_OK);
    spool_close(s);

    /* route_stats: nearest-rank percentiles */
    ck_assert_int_eq(q_int("SELECT requests FROM route_stats WHERE route = '/api/activities/home'"), 11);
    ck_assert_int_eq(q_int("SELECT errors FROM route_stats WHERE route = '/api/activities/home'"), 3);
    ck_assert(q_double("SELECT p50_ms FROM route_stats WHERE route = '/api/activities/home'") == 6.0);
    ck_assert(q_double("SELECT p95_ms FROM route_stats WHERE route = '/api/activities/home'") == 11.0);
    ck_assert(q_double("SELECT p99_ms FROM route_stats WHERE route = '/api/activities/home'") == 11.0);
    ck_assert(q_double("SELECT avg_ms FROM route_stats WHERE route = '/api/activities/home'") == 6.0);
    ck_assert(q_double("SELECT p50_ms FROM route_stats WHERE route = '/api/messages'") == 200.0);
    ck_assert(q_double("SELECT p95_ms FROM route_stats WHERE route = '/api/messages'") == 400.0);
    ck_assert(q_double("SELECT max_ms FROM route_stats WHERE route = '/api/messages'") == 400.0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM route_stats"), 2);

    /* error_rate_by_route: the last hour only */
    ck_assert_int_eq(q_int("SELECT requests FROM error_rate_by_route WHERE route = '/api/activities/home'"), 10);
    ck_assert_int_eq(q_int("SELECT errors FROM error_rate_by_route WHERE route = '/api/activities/home'"), 2);
    ck_assert(q_double("SELECT error_pct FROM error_rate_by_route WHERE route = '/api/activities/home'") == 20.0);
    ck_assert_int_eq(q_int("SELECT client_errors FROM error_rate_by_route WHERE route = '/api/messages'"), 1);
    ck_assert_int_eq(q_int("SELECT errors FROM error_rate_by_route WHERE route = '/api/messages'"), 0);

    /* trace_summary */
    ck_assert_int_eq(q_int("SELECT count(*) FROM trace_summary"), 15);
    char name[64];
    q_text("SELECT root_name FROM trace_summary WHERE trace_id = '0000000065f0a1b20000000000000003'",
           name, sizeof name);
    ck_assert_str_eq(name, "GET /api/activities/home");
    ck_assert_int_eq(q_int("SELECT span_count FROM trace_summary"
                           " WHERE trace_id = '0000000065f0a1b20000000000000003'"), 2);
    ck_assert_int_eq(q_int("SELECT has_error FROM trace_summary"
                           " WHERE trace_id = '0000000065f0a1b20000000000000003'"), 1);
    ck_assert_int_eq(q_int("SELECT has_error FROM trace_summary"
                           " WHERE trace_id = '0000000065f0a1b20000000000000004'"), 0);
    ck_assert(q_double("SELECT duration_ms FROM trace_summary"
                       " WHERE trace_id = '0000000065f0a1b20000000000000016'") == 200.0);

    /* slow_requests: the slowest first, SERVER spans only */
    ck_assert_int_eq(q_int("SELECT count(*) FROM slow_requests"), 15);
    ck_assert(q_double("SELECT duration_ms FROM slow_requests LIMIT 1") == 400.0);
    q_text("SELECT client FROM slow_requests LIMIT 1", name, sizeof name);
    ck_assert_str_eq(name, "10.0.0.2");
    ck_assert_int_eq(q_int("SELECT status FROM slow_requests LIMIT 1"), 404);

    /* exporter_backlog */
    ck_assert_int_eq(q_int("SELECT max_id FROM exporter_backlog WHERE exporter = 'honeycomb'"), 30);
    ck_assert_int_eq(q_int("SELECT backlog FROM exporter_backlog WHERE exporter = 'honeycomb'"), 25);
    ck_assert_int_eq(q_int("SELECT pending_rows FROM exporter_backlog WHERE exporter = 'honeycomb'"), 25);
    ck_assert_int_eq(q_int("SELECT backlog FROM exporter_backlog WHERE exporter = 'cloudwatch'"), 0);
    sqlite3 *db = raw_open();
    raw_exec(db, "DELETE FROM span WHERE id IN (7, 8)");
    sqlite3_close(db);
    ck_assert_int_eq(q_int("SELECT pending_rows FROM exporter_backlog WHERE exporter = 'honeycomb'"), 23);

    /* spool_size */
    ck_assert_int_eq(q_int("SELECT row_count FROM spool_size WHERE table_name = 'span'"), 28);
    ck_assert_int_eq(q_int("SELECT row_count FROM spool_size WHERE table_name = 'cursor'"), 2);
    ck_assert_int_eq(q_int("SELECT row_count FROM spool_size WHERE table_name = 'resource'"), 1);
}
END_TEST

/* trace_summary's root: the earliest span whose parent is not in the spool
 * (ties: the first written), whatever else the trace holds. */
START_TEST(test_trace_summary_roots)
{
    spool *s = open_ok();
    const int64_t t0 = 1700000000000000000LL, ms = 1000000;
    spool_span sp[] = {
        /* trace 1: a remote parent (99 is not in the spool), a child, and a
         * later span whose parent is missing too */
        mk_span(1, 1, 99, "GET /remote-parent", 2, t0, 50 * ms, 0, NULL),
        mk_span(1, 2, 1, "child", 3, t0 + 1 * ms, 10 * ms, 2, NULL),
        mk_span(1, 3, 98, "orphan, later", 1, t0 + 5 * ms, 1 * ms, 0, NULL),
        /* trace 2: two roots at the same time: the first written wins */
        mk_span(2, 1, 0, "first", 2, t0, 5 * ms, 0, NULL),
        mk_span(2, 2, 0, "second", 2, t0, 5 * ms, 0, NULL),
        /* trace 3: a span id written twice (a hand-made file): counted per row
         * once, and its child is still not a root */
        mk_span(3, 1, 0, "root", 2, t0 + 10 * ms, 20 * ms, 0, NULL),
        mk_span(3, 1, 0, "root again", 2, t0 + 11 * ms, 20 * ms, 2, NULL),
        mk_span(3, 2, 1, "child", 3, t0 + 12 * ms, 2 * ms, 2, NULL),
        /* trace 4: a loop, no root */
        mk_span(4, 1, 2, "a", 1, t0, 1 * ms, 0, NULL),
        mk_span(4, 2, 1, "b", 1, t0 + 1 * ms, 1 * ms, 0, NULL),
    };
    ck_assert_int_eq(write_spans(s, sp, sizeof sp / sizeof sp[0]), SPOOL_OK);
    spool_close(s);

    char name[64];
    q_text("SELECT root_name FROM trace_summary WHERE trace_id = '0000000065f0a1b20000000000000001'",
           name, sizeof name);
    ck_assert_str_eq(name, "GET /remote-parent");
    ck_assert_int_eq(q_int("SELECT span_count || error_count FROM trace_summary"
                           " WHERE trace_id = '0000000065f0a1b20000000000000001'"), 31);
    ck_assert(q_double("SELECT duration_ms FROM trace_summary"
                       " WHERE trace_id = '0000000065f0a1b20000000000000001'") == 50.0);
    q_text("SELECT root_name FROM trace_summary WHERE trace_id = '0000000065f0a1b20000000000000002'",
           name, sizeof name);
    ck_assert_str_eq(name, "first");
    q_text("SELECT root_name FROM trace_summary WHERE trace_id = '0000000065f0a1b20000000000000003'",
           name, sizeof name);
    ck_assert_str_eq(name, "root");
    ck_assert_int_eq(q_int("SELECT span_count || error_count || has_error FROM trace_summary"
                           " WHERE trace_id = '0000000065f0a1b20000000000000003'"), 321);
    ck_assert_int_eq(q_int("SELECT root_name IS NULL AND span_count = 2 FROM trace_summary"
                           " WHERE trace_id = '0000000065f0a1b20000000000000004'"), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM trace_summary"), 4);
}
END_TEST

START_TEST(test_statuses_have_names)
{
    ck_assert_str_eq(spool_strstatus(SPOOL_OK), "ok");
    ck_assert_str_eq(spool_strstatus(SPOOL_BUSY), "busy");
    ck_assert_str_eq(spool_strstatus(SPOOL_FULL), "full");
    ck_assert_str_eq(spool_strstatus(SPOOL_READONLY), "read-only");
    ck_assert_str_eq(spool_strstatus(42), "unknown status");
    ck_assert_int_eq(spool_write(NULL, NULL, 0), SPOOL_ERROR);
    spool_close(NULL);
    spool_note_dropped(NULL, 3);
    ck_assert_int_eq(spool_pending_dropped(NULL), 0);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("spool");
    TCase *tc = tcase_create("spool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_create_schema);
    tcase_add_test(tc, test_custom_mode);
    tcase_add_test(tc, test_open_empty_existing_file);
    tcase_add_test(tc, test_missing_directory_or_file);
    tcase_add_test(tc, test_many_open_a_new_file_at_once);
    tcase_add_test(tc, test_refuses_foreign_files);
    tcase_add_test(tc, test_refuses_newer_schema);
    tcase_add_test(tc, test_migrate_previous_version_keeps_data);
    tcase_add_test(tc, test_failed_migration_changes_nothing);
    tcase_add_test(tc, test_migrate_from_version_1);
    tcase_add_test(tc, test_json_syntax_checked);
    tcase_add_test(tc, test_json_check_agrees_with_sqlite);
    tcase_add_test(tc, test_views_reinstalled_when_changed);
    tcase_add_test(tc, test_ids_never_reused);
    tcase_add_test(tc, test_write_and_read_back_every_field);
    tcase_add_test(tc, test_minimal_records_get_defaults);
    tcase_add_test(tc, test_resources_shared_and_recreated);
    tcase_add_test(tc, test_duplicate_error_uuid_keeps_first);
    tcase_add_test(tc, test_schema_checks_records);
    tcase_add_test(tc, test_batch_is_atomic);
    tcase_add_test(tc, test_busy_within_budget);
    tcase_add_test(tc, test_waits_for_a_short_lock);
    tcase_add_test(tc, test_slow_write_interrupted);
    tcase_add_test(tc, test_read_only_file);
    tcase_add_test(tc, test_read_only_directory);
    tcase_add_test(tc, test_full);
    tcase_add_test(tc, test_dropped_counted_after_outage);
    tcase_add_test(tc, test_checkpoints);
    tcase_add_test(tc, test_counters);
    tcase_add_test(tc, test_read_limit_and_stop);
    tcase_add_test(tc, test_cursor_get_set);
    tcase_add_test(tc, test_ack_and_export_state);
    tcase_add_test(tc, test_prune_respects_cursors);
    tcase_add_test(tc, test_prune_in_chunks);
    tcase_add_test(tc, test_enforce_cap);
    tcase_add_test(tc, test_views_numbers);
    tcase_add_test(tc, test_trace_summary_roots);
    tcase_add_test(tc, test_statuses_have_names);
    suite_add_tcase(s, tc);
    return s;
}
