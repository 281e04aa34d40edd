/* db: the app database (cruddur.db). app_db_init creates, migrates and seeds
 * it (cruddur-api --init-db); app_db_open gives a worker its connection,
 * whose statements are prepared on first use and kept (a CGI process serves
 * one request, so it prepares only what that request runs). Every statement
 * runs between app_db_begin and app_db_end, where an observer (telemetry)
 * sees each one. */
#include "app/db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/sql_embed.h"
#include "app/validate.h"
#include "util/tstamp.h"

/* The schema file creates version 1; each migration below raises
 * user_version by one, in its own step of the init transaction. */
static const struct migration {
    int version;
    const char *sql;
} migrations[] = {
    /* {2, "ALTER TABLE ...;"}, */
    {0, NULL},
};

static int schema_version(void)
{
    int v = 1;
    for (const struct migration *m = migrations; m->sql != NULL; m++)
        v = m->version;
    return v;
}

/* app_db's own statements take the top slots; activities.c and messages.c
 * use the ranges they state. */
static const app_query q_begin = {APP_DB_MAX_QUERIES - 1, "BEGIN", NULL, "BEGIN IMMEDIATE"};
static const app_query q_commit = {APP_DB_MAX_QUERIES - 2, "COMMIT", NULL, "COMMIT"};
static const app_query q_rollback = {APP_DB_MAX_QUERIES - 3, "ROLLBACK", NULL, "ROLLBACK"};
static const app_query q_ping = {APP_DB_MAX_QUERIES - 4, "SELECT", "users",
                                 "SELECT 1 FROM users LIMIT 1"};

struct app_db {
    sqlite3 *h;
    sqlite3_stmt *stmt[APP_DB_MAX_QUERIES];
    const app_query *query[APP_DB_MAX_QUERIES];
    int64_t start_ns[APP_DB_MAX_QUERIES];
    const app_query *last_query;   /* the latest app_db_begin, for a failed prepare */
    int prepare_rc;                /* why the latest app_db_begin returned NULL */
    app_db_observer_fn observer;
    void *observer_arg;
};

/* cruddur_mentions(message, handle): whether message mentions @handle, with
 * the rules of validate_mentions (a whole handle, any case). */
static void sql_mentions(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *msg = (const char *)sqlite3_value_text(argv[0]);
    int msg_len = sqlite3_value_bytes(argv[0]);
    const char *handle = (const char *)sqlite3_value_text(argv[1]);
    int handle_len = sqlite3_value_bytes(argv[1]);
    if (msg == NULL || handle == NULL) {
        sqlite3_result_int(cx, 0);
        return;
    }
    sqlite3_result_int(cx, validate_mentions(msg, (size_t)msg_len, handle, (size_t)handle_len));
}

static int read_int(sqlite3 *h, const char *sql, int *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* PRAGMA journal_mode=WAL answers with the mode in force: anything but
 * "wal" means the switch did not happen (another process held the file). */
static int set_wal(sqlite3 *h)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(h, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        rc = mode != NULL && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_BUSY;
    }
    sqlite3_finalize(st);
    return rc;
}

int app_db_open(const char *path, int busy_timeout_ms, app_db **out, char *err, size_t err_size)
{
    *out = NULL;
    app_db *db = calloc(1, sizeof *db);
    if (db == NULL) {
        snprintf(err, err_size, "out of memory opening %s", path);
        return APP_DB_ERROR;
    }
    int rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "cannot open database %s: %s (create it with: cruddur-api --init-db %s)",
                 path, db->h != NULL ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc), path);
        goto fail;
    }
    sqlite3_busy_timeout(db->h, busy_timeout_ms);

    int version = 0;
    /* temp_store=MEMORY: a temporary b-tree (UNION, IN (SELECT ...), a
     * materialised CTE) otherwise gets a ~90 KB page-cache block that malloc
     * hands back to the kernel after every statement. */
    rc = sqlite3_exec(db->h, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;"
                             " PRAGMA temp_store=MEMORY", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = set_wal(db->h);
    if (rc == SQLITE_OK)
        rc = read_int(db->h, "PRAGMA user_version", &version);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "cannot use database %s: %s", path,
                 (rc & 0xff) == SQLITE_BUSY ? "it is locked" : sqlite3_errmsg(db->h));
        goto fail;
    }
    if (version == 0) {
        snprintf(err, err_size, "database %s is not initialised: run cruddur-api --init-db %s",
                 path, path);
        goto fail;
    }
    if (version != schema_version()) {
        snprintf(err, err_size,
                 "database %s has schema version %d, this program uses %d%s", path, version,
                 schema_version(),
                 version < schema_version() ? ": run cruddur-api --init-db to migrate it" : "");
        goto fail;
    }
    rc = sqlite3_create_function_v2(db->h, "cruddur_mentions", 2,
                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                    sql_mentions, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "cannot set up database %s: %s", path, sqlite3_errmsg(db->h));
        goto fail;
    }
    *out = db;
    return APP_DB_OK;

fail:
    sqlite3_close(db->h);
    free(db);
    return APP_DB_ERROR;
}

void app_db_close(app_db *db)
{
    if (db == NULL)
        return;
    for (size_t i = 0; i < APP_DB_MAX_QUERIES; i++)
        sqlite3_finalize(db->stmt[i]);
    sqlite3_close(db->h);
    free(db);
}

sqlite3 *app_db_handle(app_db *db)
{
    return db->h;
}

void app_db_set_observer(app_db *db, app_db_observer_fn fn, void *arg)
{
    db->observer = fn;
    db->observer_arg = arg;
}

sqlite3_stmt *app_db_begin(app_db *db, const app_query *q)
{
    db->last_query = q;
    if (q->slot >= APP_DB_MAX_QUERIES) {
        db->prepare_rc = SQLITE_MISUSE;
        fprintf(stderr, "cruddur-api: query slot %u out of range\n", q->slot);
        return NULL;
    }
    sqlite3_stmt *st = db->stmt[q->slot];
    if (st != NULL && db->query[q->slot] != q) {
        /* Two queries claim one slot: a programming error, caught by tests. */
        db->prepare_rc = SQLITE_MISUSE;
        fprintf(stderr, "cruddur-api: query slot %u used by two statements\n", q->slot);
        return NULL;
    }
    if (st == NULL) {
        int rc = sqlite3_prepare_v3(db->h, q->sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK) {
            db->prepare_rc = rc;
            if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
                fprintf(stderr, "cruddur-api: cannot prepare %s on %s: %s\n", q->operation,
                        q->table != NULL ? q->table : "-", sqlite3_errmsg(db->h));
            sqlite3_finalize(st);
            return NULL;
        }
        db->stmt[q->slot] = st;
        db->query[q->slot] = q;
    } else {
        sqlite3_clear_bindings(st);
    }
    db->start_ns[q->slot] = tstamp_now_ns();
    return st;
}

int app_db_end(app_db *db, sqlite3_stmt *st, int rc)
{
    const app_query *q = db->last_query;
    int64_t start = 0;
    if (st == NULL) {
        rc = db->prepare_rc;
        start = tstamp_now_ns();
    } else {
        if (q == NULL || q->slot >= APP_DB_MAX_QUERIES || db->stmt[q->slot] != st) {
            q = NULL;
            for (size_t i = 0; i < APP_DB_MAX_QUERIES; i++) {
                if (db->stmt[i] == st) {
                    q = db->query[i];
                    break;
                }
            }
        }
        if (q != NULL)
            start = db->start_ns[q->slot];
        sqlite3_reset(st);
    }
    int status;
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        status = APP_DB_OK;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        status = APP_DB_BUSY;
        break;
    default:
        status = APP_DB_ERROR;
        if (st != NULL)
            fprintf(stderr, "cruddur-api: %s on %s failed: %s\n",
                    q != NULL ? q->operation : "statement",
                    q != NULL && q->table != NULL ? q->table : "-", sqlite3_errmsg(db->h));
        break;
    }
    if (db->observer != NULL && q != NULL) {
        app_db_exec ex = {q, start, tstamp_now_ns(), rc};
        db->observer(db->observer_arg, &ex);
    }
    return status;
}

static int run_simple(app_db *db, const app_query *q)
{
    sqlite3_stmt *st = app_db_begin(db, q);
    int rc = st != NULL ? sqlite3_step(st) : SQLITE_ERROR;
    return app_db_end(db, st, rc);
}

int app_db_tx_begin(app_db *db)
{
    return run_simple(db, &q_begin);
}

/* A failed COMMIT leaves the transaction open: roll it back here, so the
 * caller has nothing left to undo whatever the outcome. */
int app_db_tx_commit(app_db *db)
{
    int status = run_simple(db, &q_commit);
    if (status != APP_DB_OK)
        app_db_tx_rollback(db);
    return status;
}

void app_db_tx_rollback(app_db *db)
{
    if (!sqlite3_get_autocommit(db->h))
        (void)run_simple(db, &q_rollback);
}

int app_db_ping(app_db *db)
{
    return run_simple(db, &q_ping);
}

/* ---- creating the database -------------------------------------------- */

/* How long an init waits for another one (or a worker) to let go. */
#define INIT_BUSY_MS 10000

static int init_fail(sqlite3 *h, const char *path, const char *what, char *err, size_t err_size)
{
    int busy = h != NULL && (sqlite3_errcode(h) == SQLITE_BUSY || sqlite3_errcode(h) == SQLITE_LOCKED);
    snprintf(err, err_size, "cannot initialise database %s: %s: %s", path, what,
             h != NULL ? sqlite3_errmsg(h) : "out of memory");
    if (h != NULL && !sqlite3_get_autocommit(h))
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);
    return busy ? APP_DB_BUSY : APP_DB_ERROR;
}

static int seed(sqlite3 *h, int64_t now_us)
{
    int rc = sqlite3_exec(h, "CREATE TEMP TABLE seed_now(us INTEGER NOT NULL)", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(h, "INSERT INTO temp.seed_now(us) VALUES (?1)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, now_us);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return rc;
    rc = sqlite3_exec(h, app_seed_sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rc;
    return sqlite3_exec(h, "DROP TABLE temp.seed_now", NULL, NULL, NULL);
}

static int init_once(const char *path, int64_t now_us, char *err, size_t err_size)
{
    /* Create the file ourselves: SQLite would make it 0644 (under the
     * umask), and the database is nobody else's business. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, err_size, "cannot create database %s: %s", path, strerror(errno));
        return APP_DB_ERROR;
    }
    close(fd);

    sqlite3 *h = NULL;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        return init_fail(h, path, "open", err, err_size);
    /* Two inits at once wait for each other rather than fail. */
    sqlite3_busy_timeout(h, INIT_BUSY_MS);
    if (set_wal(h) != SQLITE_OK)
        return init_fail(h, path, "journal_mode=WAL", err, err_size);
    if (sqlite3_exec(h, "PRAGMA foreign_keys=ON; BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return init_fail(h, path, "begin", err, err_size);

    int version = 0;
    if (read_int(h, "PRAGMA user_version", &version) != SQLITE_OK)
        return init_fail(h, path, "user_version", err, err_size);
    if (version > schema_version()) {
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(h);
        snprintf(err, err_size, "database %s has schema version %d, newer than this program's %d",
                 path, version, schema_version());
        return APP_DB_ERROR;
    }
    if (version == 0) {
        if (sqlite3_exec(h, app_schema_sql, NULL, NULL, NULL) != SQLITE_OK)
            return init_fail(h, path, "schema", err, err_size);
        version = 1;
    }
    for (const struct migration *m = migrations; m->sql != NULL; m++) {
        if (m->version <= version)
            continue;
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version = %d", m->version);
        if (sqlite3_exec(h, m->sql, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(h, set, NULL, NULL, NULL) != SQLITE_OK)
            return init_fail(h, path, "migration", err, err_size);
        version = m->version;
    }

    int users = 0;
    if (read_int(h, "SELECT count(*) FROM users", &users) != SQLITE_OK)
        return init_fail(h, path, "count users", err, err_size);
    if (users == 0 && seed(h, now_us) != SQLITE_OK)
        return init_fail(h, path, "seed", err, err_size);
    if (sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return init_fail(h, path, "commit", err, err_size);
    if (sqlite3_close(h) != SQLITE_OK) {
        snprintf(err, err_size, "cannot close database %s", path);
        return APP_DB_ERROR;
    }
    return APP_DB_OK;
}

int app_db_init(const char *path, int64_t now_us, char *err, size_t err_size)
{
    /* The busy timeout does not cover every lock wait: two connections that
     * both hold a read lock and both want to write (switching a new file to
     * WAL is such a write) get SQLITE_BUSY at once, since waiting could
     * deadlock. The whole init is one transaction, so it is simply run
     * again, for as long as the busy timeout would have waited. */
    int64_t deadline = tstamp_mono_ns() + INIT_BUSY_MS * 1000000LL;
    unsigned pause_ms = 5;
    for (;;) {
        int rc = init_once(path, now_us, err, err_size);
        if (rc != APP_DB_BUSY || tstamp_mono_ns() >= deadline)
            return rc;
        struct timespec ts = {0, (long)pause_ms * 1000000L};
        nanosleep(&ts, NULL);
        if (pause_ms < 100)
            pause_ms *= 2;
    }
}
