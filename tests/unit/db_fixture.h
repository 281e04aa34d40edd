/* Fixture shared by the service suites (activities, messages): a seeded
 * database in a temporary directory per test, the service context on it
 * (user "andrewbrown", time T), the statements each test runs counted, and
 * JSON helpers. Include once per test program; its setup is
 * db_fixture_setup(name, seed), called from the program's own setup. */
#ifndef DB_FIXTURE_H
#define DB_FIXTURE_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "app/db.h"
#include "app/service.h"

#define T 1700000000000000LL   /* 2023-11-14T22:13:20+00:00, when the seed was made */

static char dir[64];
static char path[128];
static app_db *db;
static rng_t rng;
static svc_ctx ctx;
static int statements;

static void count_statement(void *arg, const app_db_exec *ex)
{
    (void)arg;
    (void)ex;
    statements++;
}

/* name: a few letters for the directory's name; seed: the ids' generator. */
static void db_fixture_setup(const char *name, uint64_t seed)
{
    snprintf(dir, sizeof dir, "/tmp/cruddur-test-%.8s-XXXXXX", name);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cruddur.db", dir);
    char err[256] = "";
    ck_assert_msg(app_db_init(path, T, err, sizeof err) == APP_DB_OK, "%s", err);
    ck_assert_msg(app_db_open(path, 50, &db, err, sizeof err) == APP_DB_OK, "%s", err);
    app_db_set_observer(db, count_statement, NULL);
    rng_seed_with(&rng, seed);
    ctx = (svc_ctx){db, &rng, "andrewbrown", T, NULL};
    statements = 0;
}

static int db_fixture_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    app_db_close(db);
    db = NULL;
    nftw(dir, db_fixture_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/* Compact JSON of j, then releases j. The caller frees the string. */
static char *dump(json_t *j)
{
    ck_assert_ptr_nonnull(j);
    char *s = json_dumps(j, JSON_COMPACT);
    ck_assert_ptr_nonnull(s);
    json_decref(j);
    return s;
}

#define ASSERT_JSON(j, expected)             \
    do {                                     \
        char *s_ = dump(j);                  \
        ck_assert_str_eq(s_, expected);      \
        free(s_);                            \
    } while (0)

/* The one integer the query answers, on the fixture's database. */
static long long scalar(const char *sql)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(app_db_handle(db), sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

#endif
