/* Unit tests for app/db: creating and seeding, idempotent init (also two at
 * once), refusing an uninitialised file, the statement cache, the observer,
 * transactions, and a locked database reported as APP_DB_BUSY. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/db.h"
#include "check_main.h"
#include "util/tstamp.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/cruddur-test-db-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cruddur.db", dir);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static long long scalar(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static app_db *open_ok(int busy_ms)
{
    app_db *db = NULL;
    char err[256] = "";
    ck_assert_msg(app_db_open(path, busy_ms, &db, err, sizeof err) == APP_DB_OK, "%s", err);
    ck_assert_ptr_nonnull(db);
    return db;
}

static void init_ok(int64_t now)
{
    char err[256] = "";
    ck_assert_msg(app_db_init(path, now, err, sizeof err) == APP_DB_OK, "%s", err);
}

/* Row counts of every table, as one string. */
static void counts(char *out, size_t size)
{
    app_db *db = open_ok(1000);
    sqlite3 *h = app_db_handle(db);
    snprintf(out, size, "users=%lld activities=%lld groups=%lld messages=%lld fts=%lld",
             scalar(h, "SELECT count(*) FROM users"), scalar(h, "SELECT count(*) FROM activities"),
             scalar(h, "SELECT count(*) FROM message_groups"),
             scalar(h, "SELECT count(*) FROM messages"),
             scalar(h, "SELECT count(*) FROM activities_fts WHERE activities_fts MATCH 'i OR cloud OR my OR this'"));
    app_db_close(db);
}

START_TEST(test_init_creates_and_seeds)
{
    mode_t old = umask(022);
    init_ok(1700000000000000);
    umask(old);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640);

    app_db *db = open_ok(1000);
    sqlite3 *h = app_db_handle(db);
    ck_assert_int_eq(scalar(h, "PRAGMA user_version"), 1);
    ck_assert_int_eq(scalar(h, "PRAGMA foreign_keys"), 1);
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM users"), 5);
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM activities"), 5);
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM message_groups"), 2);
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM messages"), 5);
    /* Times are relative to the given now. */
    ck_assert_int_eq(scalar(h, "SELECT created_at_us FROM activities WHERE message = 'Cloud is fun!'"),
                     1700000000000000 - 48LL * 3600000000);
    ck_assert_int_eq(scalar(h, "SELECT expires_at_us FROM activities WHERE message = 'Cloud is fun!'"),
                     1700000000000000 + 120LL * 3600000000);
    /* The reply expires with its parent, and is counted on it. */
    ck_assert_int_eq(scalar(h, "SELECT r.expires_at_us = p.expires_at_us AND p.replies_count = 1"
                               " FROM activities r JOIN activities p ON p.uuid = r.reply_to_activity_uuid"),
                     1);
    ck_assert_int_eq(scalar(h, "SELECT likes_count FROM activities WHERE uuid = '68f126b0-1ceb-4a33-88be-d90fa7109eee'"), 5);
    /* The seed's temporary table is gone. */
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM temp.sqlite_schema"), 0);
    /* Nothing violates a foreign key. */
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    app_db_close(db);

    sqlite3 *raw;
    ck_assert_int_eq(sqlite3_open(path, &raw), SQLITE_OK);
    const char *mode = NULL;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    mode = (const char *)sqlite3_column_text(st, 0);
    ck_assert_str_eq(mode, "wal");
    sqlite3_finalize(st);
    sqlite3_close(raw);
}
END_TEST

START_TEST(test_init_is_idempotent)
{
    char a[256], b[256];
    init_ok(1700000000000000);
    counts(a, sizeof a);
    ck_assert_str_eq(a, "users=5 activities=5 groups=2 messages=5 fts=5");
    init_ok(1800000000000000);
    counts(b, sizeof b);
    ck_assert_str_eq(a, b);
    /* And the seed times were not touched by the second run. */
    app_db *db = open_ok(1000);
    ck_assert_int_eq(scalar(app_db_handle(db), "SELECT max(created_at_us) FROM activities"),
                     1700000000000000 - 3600000000LL);
    app_db_close(db);
}
END_TEST

/* Only an empty users table gets the seed: a database whose users were
 * all replaced is left alone. */
START_TEST(test_seed_only_when_empty)
{
    init_ok(1700000000000000);
    app_db *db = open_ok(1000);
    sqlite3 *h = app_db_handle(db);
    ck_assert_int_eq(sqlite3_exec(h, "DELETE FROM messages; DELETE FROM message_groups;"
                                     " DELETE FROM activities WHERE reply_to_activity_uuid IS NOT NULL;"
                                     " DELETE FROM activities; DELETE FROM users WHERE handle <> 'garek'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    app_db_close(db);
    init_ok(1700000000000000);
    db = open_ok(1000);
    ck_assert_int_eq(scalar(app_db_handle(db), "SELECT count(*) FROM users"), 1);
    ck_assert_int_eq(scalar(app_db_handle(db), "SELECT count(*) FROM activities"), 0);
    app_db_close(db);
}
END_TEST

START_TEST(test_two_inits_at_once)
{
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0) {
            char err[256];
            int rc = app_db_init(path, 1700000000000000, err, sizeof err);
            if (rc != APP_DB_OK)
                fprintf(stderr, "init %d: %s\n", i, err);
            _exit(rc == APP_DB_OK ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        int status;
        ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    char a[256];
    counts(a, sizeof a);
    ck_assert_str_eq(a, "users=5 activities=5 groups=2 messages=5 fts=5");
}
END_TEST

START_TEST(test_open_refuses_uninitialised)
{
    char err[256] = "";
    app_db *db = (app_db *)1;
    /* Missing: an error, and no file is made. */
    ck_assert_int_eq(app_db_open(path, 100, &db, err, sizeof err), APP_DB_ERROR);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(err, "--init-db"));
    ck_assert_int_eq(access(path, F_OK), -1);

    /* A database that is not ours (user_version 0). */
    sqlite3 *raw;
    ck_assert_int_eq(sqlite3_open(path, &raw), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(raw, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    err[0] = '\0';
    ck_assert_int_eq(app_db_open(path, 100, &db, err, sizeof err), APP_DB_ERROR);
    ck_assert_ptr_null(db);
    ck_assert_msg(strstr(err, "not initialised") != NULL && strstr(err, "run cruddur-api --init-db") != NULL,
                  "%s", err);
}
END_TEST

START_TEST(test_open_refuses_newer_schema)
{
    init_ok(1700000000000000);
    sqlite3 *raw;
    ck_assert_int_eq(sqlite3_open(path, &raw), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    char err[256] = "";
    app_db *db = NULL;
    ck_assert_int_eq(app_db_open(path, 100, &db, err, sizeof err), APP_DB_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "99"));
    ck_assert_int_eq(app_db_init(path, 1, err, sizeof err), APP_DB_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "newer"));
}
END_TEST

START_TEST(test_open_refuses_garbage)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a database, just some text that is long enough to matter......."
          "................................................................................",
          f);
    fclose(f);
    char err[256] = "";
    app_db *db = NULL;
    ck_assert_int_eq(app_db_open(path, 100, &db, err, sizeof err), APP_DB_ERROR);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(err, path));
    ck_assert_int_eq(app_db_init(path, 1, err, sizeof err), APP_DB_ERROR);
}
END_TEST

static const app_query q_count = {0, "SELECT", "users", "SELECT count(*) FROM users WHERE handle <> ?1"};
static const app_query q_same_slot = {0, "SELECT", "users", "SELECT 2"};
static const app_query q_bad = {1, "SELECT", "nothing", "SELECT * FROM no_such_table"};
static const app_query q_insert = {2, "INSERT", "users",
                                   "INSERT INTO users (uuid, display_name, handle, created_at_us)"
                                   " VALUES (?1, 'X', ?2, 0)"};

START_TEST(test_statement_cache)
{
    init_ok(1700000000000000);
    app_db *db = open_ok(1000);
    sqlite3_stmt *st1 = app_db_begin(db, &q_count);
    ck_assert_ptr_nonnull(st1);
    sqlite3_bind_text(st1, 1, "worf", -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st1), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st1, 0), 4);
    ck_assert_int_eq(app_db_end(db, st1, SQLITE_ROW), APP_DB_OK);

    sqlite3_stmt *st2 = app_db_begin(db, &q_count);
    ck_assert_ptr_eq(st1, st2);
    /* Bindings were cleared: NULL <> x is NULL, so nothing counts. */
    ck_assert_int_eq(sqlite3_step(st2), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st2, 0), 0);
    ck_assert_int_eq(app_db_end(db, st2, SQLITE_ROW), APP_DB_OK);

    /* A second query claiming the slot is refused. */
    ck_assert_ptr_null(app_db_begin(db, &q_same_slot));
    ck_assert_int_eq(app_db_end(db, NULL, SQLITE_ERROR), APP_DB_ERROR);
    /* A query that does not prepare. */
    ck_assert_ptr_null(app_db_begin(db, &q_bad));
    ck_assert_int_eq(app_db_end(db, NULL, SQLITE_ERROR), APP_DB_ERROR);
    /* A slot out of range. */
    app_query q_far = {APP_DB_MAX_QUERIES, "SELECT", NULL, "SELECT 1"};
    ck_assert_ptr_null(app_db_begin(db, &q_far));
    ck_assert_int_eq(app_db_end(db, NULL, SQLITE_ERROR), APP_DB_ERROR);
    app_db_close(db);
}
END_TEST

typedef struct seen {
    int calls;
    const app_query *query;
    int64_t start_ns, end_ns;
    int rc;
} seen;

static void observe(void *arg, const app_db_exec *ex)
{
    seen *s = arg;
    s->calls++;
    s->query = ex->query;
    s->start_ns = ex->start_ns;
    s->end_ns = ex->end_ns;
    s->rc = ex->rc;
}

START_TEST(test_observer)
{
    init_ok(1700000000000000);
    app_db *db = open_ok(1000);
    seen s = {0, NULL, 0, 0, 0};
    app_db_set_observer(db, observe, &s);
    int64_t before = tstamp_now_ns();
    sqlite3_stmt *st = app_db_begin(db, &q_count);
    int rc = sqlite3_step(st);
    ck_assert_int_eq(app_db_end(db, st, rc), APP_DB_OK);
    int64_t after = tstamp_now_ns();
    ck_assert_int_eq(s.calls, 1);
    ck_assert_ptr_eq(s.query, &q_count);
    ck_assert_int_le(before, s.start_ns);
    ck_assert_int_le(s.start_ns, s.end_ns);
    ck_assert_int_le(s.end_ns, after);
    ck_assert_int_eq(s.rc, SQLITE_ROW);

    /* A failed prepare is seen too, with its error. */
    ck_assert_ptr_null(app_db_begin(db, &q_bad));
    ck_assert_int_eq(app_db_end(db, NULL, SQLITE_ERROR), APP_DB_ERROR);
    ck_assert_int_eq(s.calls, 2);
    ck_assert_ptr_eq(s.query, &q_bad);
    ck_assert_int_eq(s.rc, SQLITE_ERROR);

    /* Transactions and ping go through the observer as well. */
    ck_assert_int_eq(app_db_ping(db), APP_DB_OK);
    ck_assert_int_eq(s.calls, 3);
    ck_assert_str_eq(s.query->operation, "SELECT");
    ck_assert_int_eq(app_db_tx_begin(db), APP_DB_OK);
    ck_assert_str_eq(s.query->operation, "BEGIN");
    app_db_tx_rollback(db);
    ck_assert_str_eq(s.query->operation, "ROLLBACK");
    ck_assert_int_eq(s.calls, 5);

    app_db_set_observer(db, NULL, NULL);
    ck_assert_int_eq(app_db_ping(db), APP_DB_OK);
    ck_assert_int_eq(s.calls, 5);
    app_db_close(db);
}
END_TEST

static int insert_user(app_db *db, const char *uuid, const char *handle)
{
    sqlite3_stmt *st = app_db_begin(db, &q_insert);
    int rc = SQLITE_ERROR;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, handle, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    return app_db_end(db, st, rc);
}

START_TEST(test_transactions)
{
    init_ok(1700000000000000);
    app_db *db = open_ok(1000);
    sqlite3 *h = app_db_handle(db);
    ck_assert_int_eq(app_db_tx_begin(db), APP_DB_OK);
    ck_assert_int_eq(insert_user(db, "00000000-0000-4000-8000-000000000001", "kira"), APP_DB_OK);
    app_db_tx_rollback(db);
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM users"), 5);
    /* Rolling back with no transaction open is harmless. */
    app_db_tx_rollback(db);

    ck_assert_int_eq(app_db_tx_begin(db), APP_DB_OK);
    ck_assert_int_eq(insert_user(db, "00000000-0000-4000-8000-000000000001", "kira"), APP_DB_OK);
    ck_assert_int_eq(app_db_tx_commit(db), APP_DB_OK);
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM users"), 6);
    /* Handles are unique whatever their case. */
    ck_assert_int_eq(insert_user(db, "00000000-0000-4000-8000-000000000002", "KIRA"), APP_DB_ERROR);
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM users"), 6);
    app_db_close(db);
}
END_TEST

START_TEST(test_busy)
{
    init_ok(1700000000000000);
    app_db *db = open_ok(50);
    sqlite3 *other;
    ck_assert_int_eq(sqlite3_open(path, &other), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    int64_t t0 = tstamp_mono_ns();
    ck_assert_int_eq(app_db_tx_begin(db), APP_DB_BUSY);
    int64_t waited = tstamp_mono_ns() - t0;
    ck_assert_int_ge(waited, 40000000);
    ck_assert_int_lt(waited, 2000000000);
    ck_assert_int_eq(insert_user(db, "00000000-0000-4000-8000-000000000003", "odo"), APP_DB_BUSY);
    /* Readers still read under WAL. */
    ck_assert_int_eq(app_db_ping(db), APP_DB_OK);

    ck_assert_int_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    ck_assert_int_eq(insert_user(db, "00000000-0000-4000-8000-000000000003", "odo"), APP_DB_OK);
    app_db_close(db);
}
END_TEST

START_TEST(test_fts_follows_activities)
{
    init_ok(1700000000000000);
    app_db *db = open_ok(1000);
    sqlite3 *h = app_db_handle(db);
    const char *hits = "SELECT count(*) FROM activities_fts WHERE activities_fts MATCH 'juice'";
    ck_assert_int_eq(scalar(h, hits), 1);
    ck_assert_int_eq(sqlite3_exec(h, "UPDATE activities SET message = 'I am out of tea'"
                                     " WHERE message LIKE '%prune juice%'", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(scalar(h, hits), 0);
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM activities_fts WHERE activities_fts MATCH 'tea'"), 1);
    /* Counters do not touch the index. */
    ck_assert_int_eq(sqlite3_exec(h, "UPDATE activities SET likes_count = likes_count + 1", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, "DELETE FROM activities WHERE message = 'I am out of tea'", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM activities_fts WHERE activities_fts MATCH 'tea'"), 0);
    ck_assert_int_eq(sqlite3_exec(h, "INSERT INTO activities_fts(activities_fts, rank) VALUES('integrity-check', 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    app_db_close(db);
}
END_TEST

START_TEST(test_mentions_function)
{
    init_ok(1700000000000000);
    app_db *db = open_ok(1000);
    sqlite3 *h = app_db_handle(db);
    ck_assert_int_eq(scalar(h, "SELECT cruddur_mentions('hi @Worf!', 'worf')"), 1);
    ck_assert_int_eq(scalar(h, "SELECT cruddur_mentions('hi @worfx', 'worf')"), 0);
    ck_assert_int_eq(scalar(h, "SELECT cruddur_mentions(NULL, 'worf')"), 0);
    app_db_close(db);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("db");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_init_creates_and_seeds);
    tcase_add_test(tc, test_init_is_idempotent);
    tcase_add_test(tc, test_seed_only_when_empty);
    tcase_add_test(tc, test_two_inits_at_once);
    tcase_add_test(tc, test_open_refuses_uninitialised);
    tcase_add_test(tc, test_open_refuses_newer_schema);
    tcase_add_test(tc, test_open_refuses_garbage);
    tcase_add_test(tc, test_statement_cache);
    tcase_add_test(tc, test_observer);
    tcase_add_test(tc, test_transactions);
    tcase_add_test(tc, test_busy);
    tcase_add_test(tc, test_fts_follows_activities);
    tcase_add_test(tc, test_mentions_function);
    suite_add_tcase(s, tc);
    return s;
}
