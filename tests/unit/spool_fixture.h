/* Fixture shared by the spool journal and copier suites: a temporary
 * directory per test with a spool path in it, one request's worth of
 * records (mk_req), and small queries on the spool file. Include once per
 * test program. */
#ifndef SPOOL_FIXTURE_H
#define SPOOL_FIXTURE_H

#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "spool/journal.h"
#include "spool/spool.h"

static char dir[64];
static char path[128];

static const char *RES = "{\"service.name\":\"cruddur-api\",\"host.name\":\"test\"}";

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void setup(void)
{
    strcpy(dir, "/tmp/test_spool_fixture.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/spool.db", dir);
}

static void teardown(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static spool *open_ok(unsigned flags)
{
    char err[256] = "";
    spool *s = NULL;
    int rc = spool_open(path, SPOOL_CREATE | flags, 0, &s, err, sizeof err);
    ck_assert_msg(rc == SPOOL_OK, "open: %d %s", rc, err);
    return s;
}

static spool_journal *journal_ok(void)
{
    char err[256] = "";
    spool_journal *j = NULL;
    int rc = spool_journal_open(path, 0, &j, err, sizeof err);
    ck_assert_msg(rc == SPOOL_OK, "journal: %d %s", rc, err);
    ck_assert_ptr_nonnull(j);
    return j;
}

static int64_t q_int(const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    int64_t v = -999;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Files in dir whose name starts with prefix. */
static int count_files(const char *prefix)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* One request's worth: 3 spans (SERVER, INTERNAL, CLIENT) and 2 logs in
 * trace `n`, plus an error report when `with_error`. The strings live in
 * static storage per call slot; callers append before the next call. */
typedef struct req {
    spool_span sp[3];
    spool_log lg[2];
    spool_error er;
    char attrs[128];
    spool_batch b;
} req;

static void mk_req(req *r, unsigned n, int with_error)
{
    memset(r, 0, sizeof *r);
    snprintf(r->attrs, sizeof r->attrs, "{\"http.route\":\"/api/x\",\"n\":%u,\"ratio\":0.5}", n);
    static const char *const names[3] = {"GET /api/x", "home-activities-span", "SELECT x"};
    for (int k = 0; k < 3; k++) {
        spool_span *s = &r->sp[k];
        snprintf(s->trace_id, sizeof s->trace_id, "%016x%016x", 0x65f0a1b2u, n + 1);
        snprintf(s->span_id, sizeof s->span_id, "%08x%08x", n + 1, (unsigned)k + 1);
        if (k > 0)
            snprintf(s->parent_span_id, sizeof s->parent_span_id, "%08x%08x", n + 1, 1u);
        s->name = names[k];
        s->kind = k == 0 ? SPOOL_KIND_SERVER : k == 1 ? SPOOL_KIND_INTERNAL : SPOOL_KIND_CLIENT;
        s->start_ns = 1000000000LL * (n + 1) + k;
        s->end_ns = s->start_ns + 5000 - k;
        s->status_code = k == 0 && with_error ? SPOOL_STATUS_ERROR : SPOOL_STATUS_UNSET;
        s->status_message = k == 0 && with_error ? "boom" : NULL;
        s->attributes_json = k == 0 ? r->attrs : NULL;
        s->events_json = k == 0 && with_error
            ? "[{\"name\":\"exception\",\"time_ns\":1,\"attributes\":{}}]" : NULL;
        s->trace_state = k == 0 ? "vendor=1" : NULL;
        s->flags = 1;
    }
    for (int k = 0; k < 2; k++) {
        spool_log *l = &r->lg[k];
        l->time_ns = 1000000000LL * (n + 1) + 10 + k;
        l->observed_ns = l->time_ns + 1;
        l->severity_number = 9;
        l->severity_text = "INFO";
        l->body = k == 0 ? "access" : "HomeActivities";
        l->attributes_json = k == 0 ? "{\"http.response.status_code\":200}" : NULL;
        memcpy(l->trace_id, r->sp[0].trace_id, sizeof l->trace_id);
        memcpy(l->span_id, r->sp[k].span_id, sizeof l->span_id);
        l->flags = 1;
    }
    if (with_error) {
        snprintf(r->er.uuid, sizeof r->er.uuid, "%08x-1111-4222-8333-444455556666", n);
        r->er.time_ns = 1000000000LL * (n + 1);
        r->er.class_name = "RuntimeError";
        r->er.message = "boom";
        r->er.context = "GET /api/x";
        memcpy(r->er.trace_id, r->sp[0].trace_id, sizeof r->er.trace_id);
        memcpy(r->er.span_id, r->sp[0].span_id, sizeof r->er.span_id);
    }
    r->b = (spool_batch){ .resource_json = RES, .scope_name = "cruddur", .scope_version = "0.1.0",
                          .spans = r->sp, .n_spans = 3, .logs = r->lg, .n_logs = 2,
                          .errors = with_error ? &r->er : NULL, .n_errors = with_error ? 1 : 0 };
}

static void append_n(spool_journal *j, unsigned first, unsigned n)
{
    for (unsigned i = first; i < first + n; i++) {
        req r;
        mk_req(&r, i, i % 5 == 4);
        ck_assert_int_eq(spool_journal_append(j, &r.b), SPOOL_OK);
    }
}

static int64_t server_spans(void)
{
    return q_int("SELECT count(*) FROM span WHERE kind = 2");
}

/* Another process's view: a connection holding the spool's write lock until
 * unlock_spool, as a long transaction of someone else's would. */
static sqlite3 *lock_spool(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static void unlock_spool(sqlite3 *db)
{
    ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

#endif
