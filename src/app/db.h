/* db: the app database (cruddur.db): opening it with the right pragmas,
 * creating and seeding it, and a cache of prepared statements so that each
 * worker prepares every statement once. Statement execution goes through
 * app_db_begin/app_db_end so an observer (telemetry) sees each one. */
#ifndef CRUDDUR_APP_DB_H
#define CRUDDUR_APP_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct app_db app_db;

/* A statement of the app: text with '?' parameters only, never literals
 * built from input, so the text is also safe to record as db.query.text. */
typedef struct app_query {
    unsigned slot;            /* unique index < APP_DB_MAX_QUERIES */
    const char *operation;    /* "SELECT", "INSERT", "UPDATE", ... */
    const char *table;        /* main table, for span names */
    const char *sql;
} app_query;

#define APP_DB_MAX_QUERIES 64

/* What the observer learns of each executed statement. */
typedef struct app_db_exec {
    const app_query *query;
    int64_t start_ns;         /* tstamp_now_ns() at app_db_begin */
    int64_t end_ns;           /* at app_db_end */
    int rc;                   /* final SQLite result (SQLITE_DONE/ROW/OK or an error) */
} app_db_exec;
typedef void (*app_db_observer_fn)(void *arg, const app_db_exec *exec);

/* Status codes of this module. */
enum {
    APP_DB_OK = 0,
    APP_DB_ERROR = -1,       /* unexpected SQLite failure */
    APP_DB_BUSY = -2,        /* locked past the busy timeout: answer 503 */
};

/* Opens an existing, initialised database read-write: foreign keys on, WAL,
 * busy timeout. Returns APP_DB_OK and *out (free with app_db_close), or an
 * error with a message in err. */
int app_db_open(const char *path, int busy_timeout_ms, app_db **out, char *err, size_t err_size);
void app_db_close(app_db *db);

/* Creates the file if needed, applies sql/app-schema.sql and, only when the
 * database holds no users yet, sql/app-seed.sql with times relative to
 * now_us. Idempotent. Returns APP_DB_OK or an error with err set. */
int app_db_init(const char *path, int64_t now_us, char *err, size_t err_size);

sqlite3 *app_db_handle(app_db *db);
void app_db_set_observer(app_db *db, app_db_observer_fn fn, void *arg);

/* Returns the statement for q, prepared on first use and cached, reset with
 * its bindings cleared; NULL on failure. Pair every call with app_db_end. */
sqlite3_stmt *app_db_begin(app_db *db, const app_query *q);
/* Resets the statement and tells the observer; rc is the last step result.
 * Returns APP_DB_OK for SQLITE_OK/ROW/DONE, APP_DB_BUSY for BUSY/LOCKED,
 * APP_DB_ERROR otherwise. */
int app_db_end(app_db *db, sqlite3_stmt *st, int rc);

/* Write transactions (BEGIN IMMEDIATE, so a busy database fails early). */
int app_db_tx_begin(app_db *db);
int app_db_tx_commit(app_db *db);
void app_db_tx_rollback(app_db *db);

/* Runs a trivial read; APP_DB_OK when the database answers. */
int app_db_ping(app_db *db);

#endif
