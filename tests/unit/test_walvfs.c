/* Unit tests for spool/walvfs: a commit reaches the -wal file in one write,
 * and is complete there before another connection can see it; large and
 * rolled-back transactions, frames rewritten within a transaction and WAL
 * recovery still give SQLite's results. A counting VFS under walvfs sees
 * the calls that reach the default VFS. */
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check_main.h"
#include "spool/walvfs.h"

static char dir[64];
static char path[128];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

/* ---- a VFS that counts the writes reaching the -wal file ----------------- */

typedef struct cfile {
    sqlite3_file base;
    sqlite3_file *real;
    int wal;
} cfile;

static sqlite3_vfs *counted_real;
static int wal_writes;                  /* xWrite calls on -wal files */
static sqlite3_int64 wal_bytes;

#define REAL(f) (((cfile *)(f))->real)
static int c_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int c_read(sqlite3_file *f, void *p, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, o);
}
static int c_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 o)
{
    if (((cfile *)f)->wal) {
        wal_writes++;
        wal_bytes += n;
    }
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, o);
}
static int c_truncate(sqlite3_file *f, sqlite3_int64 n) { return REAL(f)->pMethods->xTruncate(REAL(f), n); }
static int c_sync(sqlite3_file *f, int fl) { return REAL(f)->pMethods->xSync(REAL(f), fl); }
static int c_size(sqlite3_file *f, sqlite3_int64 *n) { return REAL(f)->pMethods->xFileSize(REAL(f), n); }
static int c_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int c_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int c_reserved(sqlite3_file *f, int *o) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), o); }
static int c_fcntl(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int c_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int c_dev(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int c_shm_map(sqlite3_file *f, int i, int sz, int ext, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, ext, p);
}
static int c_shm_lock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void c_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int c_shm_unmap(sqlite3_file *f, int d) { return REAL(f)->pMethods->xShmUnmap(REAL(f), d); }
static int c_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p) { return REAL(f)->pMethods->xFetch(REAL(f), o, n, p); }
static int c_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, p); }

static const sqlite3_io_methods counted_methods = {
    3, c_close, c_read, c_write, c_truncate, c_sync, c_size, c_lock, c_unlock, c_reserved,
    c_fcntl, c_sector, c_dev, c_shm_map, c_shm_lock, c_shm_barrier, c_shm_unmap, c_fetch, c_unfetch,
};

static int c_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)v;
    cfile *c = (cfile *)f;
    c->real = (sqlite3_file *)(c + 1);
    c->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = counted_real->xOpen(counted_real, name, c->real, flags, out);
    c->base.pMethods = c->real->pMethods != NULL ? &counted_methods : NULL;
    return rc;
}

static sqlite3_vfs counted_vfs;

/* Makes the counting VFS the default, so that walvfs_new wraps it. */
static void setup(void)
{
    strcpy(dir, "/tmp/test_walvfs.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/w.db", dir);
    if (counted_real == NULL) {
        counted_real = sqlite3_vfs_find(NULL);
        counted_vfs = *counted_real;
        counted_vfs.zName = "counted";
        counted_vfs.szOsFile = (int)sizeof(cfile) + counted_real->szOsFile;
        counted_vfs.xOpen = c_open;
        counted_vfs.pNext = NULL;
    }
    ck_assert_int_eq(sqlite3_vfs_register(&counted_vfs, 1), SQLITE_OK);
}

static void teardown(void)
{
    sqlite3_vfs_register(counted_real, 1);      /* the default again */
    sqlite3_vfs_unregister(&counted_vfs);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ------------------------------------------------------------ */

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_free(msg);
}

static sqlite3_int64 count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A connection through walvfs, WAL mode as the spool uses it. */
static sqlite3 *open_walvfs(walvfs *v)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                     walvfs_name(v)), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                " PRAGMA wal_autocheckpoint = 0");
    return db;
}

/* Another process's view: the default VFS underneath, no walvfs. */
static sqlite3 *open_plain(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, "counted"), SQLITE_OK);
    return db;
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_commit_is_one_write)
{
    walvfs *v = walvfs_new();
    ck_assert_ptr_nonnull(v);
    /* registered under its own name, not as the default */
    ck_assert_ptr_nonnull(sqlite3_vfs_find(walvfs_name(v)));
    ck_assert_ptr_eq(sqlite3_vfs_find(NULL), &counted_vfs);
    sqlite3 *db = open_walvfs(v);
    exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT);"
                " CREATE TABLE u (id INTEGER PRIMARY KEY, b TEXT);"
                " CREATE INDEX t_a ON t (a)");
    sqlite3 *other = open_plain();
    for (int i = 1; i <= 50; i++) {
        wal_writes = 0;
        wal_bytes = 0;
        char sql[512];
        /* three b-trees and page 1: several pages in one commit */
        snprintf(sql, sizeof sql,
                 "BEGIN; INSERT INTO t (a) VALUES (printf('%%0300d', %d));"
                 " INSERT INTO u (b) VALUES (randomblob(900)); COMMIT", i);
        exec_ok(db, sql);
        ck_assert_int_eq(wal_writes, 1);
        ck_assert_int_eq(wal_bytes % (24 + 4096), 0);
        ck_assert_int_ge(wal_bytes / (24 + 4096), 3);
        /* what was published is in the file for everyone */
        ck_assert_int_eq(count(other, "SELECT count(*) FROM t"), i);
        ck_assert_int_eq(count(other, "SELECT count(*) FROM u"), i);
    }
    sqlite3_close(other);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
    walvfs_free(v);
}
END_TEST

START_TEST(test_large_rolled_back_and_rewritten)
{
    walvfs *v = walvfs_new();
    ck_assert_ptr_nonnull(v);
    sqlite3 *db = open_walvfs(v);
    /* a tiny cache: the transaction spills, and pages written to the WAL
     * before the commit are written again (SQLite then rewrites checksums) */
    exec_ok(db, "PRAGMA cache_size = 10; CREATE TABLE t (id INTEGER PRIMARY KEY, a BLOB)");
    exec_ok(db, "BEGIN");
    exec_ok(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
                " INSERT INTO t (a) SELECT randomblob(300) FROM n");
    exec_ok(db, "UPDATE t SET a = randomblob(310) WHERE id % 3 = 0");
    exec_ok(db, "UPDATE t SET a = randomblob(290) WHERE id % 5 = 0");
    exec_ok(db, "COMMIT");
    exec_ok(db, "BEGIN; DELETE FROM t WHERE id > 100; INSERT INTO t (a) VALUES (x'00'); ROLLBACK");
    exec_ok(db, "BEGIN; INSERT INTO t (a) VALUES (x'01'); COMMIT");
    sqlite3 *other = open_plain();
    ck_assert_int_eq(count(other, "SELECT count(*) FROM t"), 2001);
    ck_assert_int_eq(count(other, "SELECT count(*) FROM t WHERE length(a) = 310"), 666 - 133);
    sqlite3_close(other);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
    walvfs_free(v);

    /* a fresh open rebuilds the WAL index from the file (checking every
     * frame's checksum): everything committed is there, and sound */
    other = open_plain();
    ck_assert_int_eq(count(other, "SELECT count(*) FROM t"), 2001);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(other, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(other);
}
END_TEST

START_TEST(test_wal_kept_until_checkpoint_and_recovered)
{
    walvfs *v = walvfs_new();
    ck_assert_ptr_nonnull(v);
    sqlite3 *db = open_walvfs(v);
    exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)");
    for (int i = 0; i < 300; i++)
        exec_ok(db, "INSERT INTO t (a) VALUES (hex(randomblob(200)))");
    /* a second process keeps the WAL from being checkpointed at close */
    sqlite3 *other = open_plain();
    ck_assert_int_eq(count(other, "SELECT count(*) FROM t"), 300);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
    walvfs_free(v);
    struct stat sb;
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    ck_assert_int_eq(stat(wal, &sb), 0);
    ck_assert_int_gt(sb.st_size, 300 * 24);
    ck_assert_int_eq(count(other, "SELECT count(*) FROM t"), 300);
    int log = -1, done = -1;
    ck_assert_int_eq(sqlite3_wal_checkpoint_v2(other, "main", SQLITE_CHECKPOINT_TRUNCATE, &log,
                                               &done), SQLITE_OK);
    ck_assert_int_eq(log, 0);
    sqlite3_close(other);
    other = open_plain();
    ck_assert_int_eq(count(other, "SELECT count(*) FROM t"), 300);
    sqlite3_close(other);
}
END_TEST

START_TEST(test_names_are_distinct_and_free_unregisters)
{
    walvfs *a = walvfs_new(), *b = walvfs_new();
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_ne(walvfs_name(a), walvfs_name(b));
    ck_assert_ptr_nonnull(sqlite3_vfs_find(walvfs_name(a)));
    char name[64];
    snprintf(name, sizeof name, "%s", walvfs_name(a));
    walvfs_free(a);
    ck_assert_ptr_null(sqlite3_vfs_find(name));
    ck_assert_ptr_nonnull(sqlite3_vfs_find(walvfs_name(b)));
    walvfs_free(b);
    walvfs_free(NULL);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("walvfs");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_commit_is_one_write);
    tcase_add_test(tc, test_large_rolled_back_and_rewritten);
    tcase_add_test(tc, test_wal_kept_until_checkpoint_and_recovered);
    tcase_add_test(tc, test_names_are_distinct_and_free_unregisters);
    suite_add_tcase(s, tc);
    return s;
}
