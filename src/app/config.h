/* config: the service's settings, read once from the environment at start.
 * Every variable is listed with its default in docs/configuration.md. */
#ifndef CRUDDUR_APP_CONFIG_H
#define CRUDDUR_APP_CONFIG_H

#include <stddef.h>

typedef struct app_config {
    char *state_dir;        /* CRUDDUR_STATE_DIR, default LOCALSTATEDIR/lib/cruddur */
    char *db_path;          /* CRUDDUR_DB, default STATE_DIR/cruddur.db */
    char *user_handle;      /* CRUDDUR_USER_HANDLE, default "andrewbrown" */
    char *frontend_url;     /* FRONTEND_URL, default "" (no origin allowed) */
    char *backend_url;      /* BACKEND_URL, default "" */
    size_t body_limit;      /* CRUDDUR_BODY_LIMIT bytes, default 65536 (1 .. 16 MiB) */
    int busy_timeout_ms;    /* CRUDDUR_DB_BUSY_TIMEOUT_MS, default 2000 (0 .. 60000) */
    int home_limit;         /* CRUDDUR_HOME_LIMIT, default 20 (1 .. 100): ?limit= default */
    int telemetry;          /* CRUDDUR_TELEMETRY, "on" (1, default) or "off" (0) */
    char *spool_path;       /* CRUDDUR_SPOOL, default STATE_DIR/spool.db */
    char *crash_dir;        /* CRUDDUR_CRASH_DIR, default STATE_DIR/crash */
    int spool_budget_ms;    /* CRUDDUR_SPOOL_BUDGET_MS, default 200 (1 .. 10000) */
    int spool_copy;         /* CRUDDUR_SPOOL_COPY: how a FastCGI worker copies its
                               journal into the spool, CONFIG_COPY_* */
    int spool_gather_ms;    /* CRUDDUR_SPOOL_GATHER_MS, default 10 (0 .. 1000): how
                               long an idle worker lets records gather in its
                               journal before it copies them */
} app_config;

#define CONFIG_COPY_THREAD 0    /* "thread" (default): a copier thread of the worker */
#define CONFIG_COPY_INLINE 1    /* "inline": the worker itself, between requests */

/* Reads the settings from a NULL-terminated "NAME=value" array (NULL means
 * the process environment). Returns 0, or -1 with a message in err naming
 * the variable and what is wrong with it. On success free with
 * config_free; on failure nothing is left to free. */
int config_load(app_config *c, char **env, char *err, size_t err_size);
void config_free(app_config *c);

/* The spool's path by the rule config_load uses: $CRUDDUR_SPOOL, else
 * $CRUDDUR_STATE_DIR/spool.db, else LOCALSTATEDIR/lib/cruddur/spool.db; an
 * empty variable counts as unset. Only those two variables are read, so that
 * a setting meant for the API (and wrong) cannot stop a program that only
 * wants the spool (cruddur-spool, cruddur-export). env as for config_load.
 * Returns 0 with *out the caller's to free(), or -1 with err (*out untouched). */
int config_spool_path(char **env, char **out, char *err, size_t err_size);

#endif
