/* config: reads the service's settings from the environment once, at start,
 * checks each one and keeps private copies, so nothing later depends on the
 * environment staying put. An empty variable counts as unset (so that
 * "FOO=" in a compose file or unit means "use the default"). */
#include "app/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/validate.h"

#ifndef CRUDDUR_LOCALSTATEDIR
#define CRUDDUR_LOCALSTATEDIR "/var"
#endif
#define DEFAULT_STATE_DIR CRUDDUR_LOCALSTATEDIR "/lib/cruddur"

#define BODY_LIMIT_MAX (16u * 1024u * 1024u)

static const char *env_get(char **env, const char *name)
{
    size_t n = strlen(name);
    for (char **e = env; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return (*e)[n + 1] != '\0' ? *e + n + 1 : NULL;
    }
    return NULL;
}

/* A decimal integer in [lo, hi]; -1 with err naming the variable otherwise. */
static int get_long(char **env, const char *name, long dflt, long lo, long hi, long *out,
                    char *err, size_t err_size)
{
    const char *s = env_get(env, name);
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        snprintf(err, err_size, "%s must be a whole number from %ld to %ld, not '%.64s'", name,
                 lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int dup_to(char **dst, const char *s, char *err, size_t err_size)
{
    *dst = strdup(s);
    if (*dst == NULL) {
        snprintf(err, err_size, "out of memory reading the configuration");
        return -1;
    }
    return 0;
}

/* *dst = value if set, else dir/name. */
static int path_in(char **dst, const char *value, const char *dir, const char *name, char *err,
                   size_t err_size)
{
    if (value != NULL)
        return dup_to(dst, value, err, err_size);
    size_t n = strlen(dir) + strlen(name) + 2;
    *dst = malloc(n);
    if (*dst == NULL) {
        snprintf(err, err_size, "out of memory reading the configuration");
        return -1;
    }
    snprintf(*dst, n, "%s/%s", dir, name);
    return 0;
}

int config_spool_path(char **env, char **out, char *err, size_t err_size)
{
    if (env == NULL)
        env = environ;
    const char *state = env_get(env, "CRUDDUR_STATE_DIR");
    char *path = NULL;
    if (path_in(&path, env_get(env, "CRUDDUR_SPOOL"), state != NULL ? state : DEFAULT_STATE_DIR,
                "spool.db", err, err_size) != 0)
        return -1;
    *out = path;
    return 0;
}

int config_load(app_config *c, char **env, char *err, size_t err_size)
{
    memset(c, 0, sizeof *c);
    if (env == NULL)
        env = environ;

    long body_limit, busy, home, budget, gather;
    if (get_long(env, "CRUDDUR_BODY_LIMIT", 65536, 1, BODY_LIMIT_MAX, &body_limit, err,
                 err_size) != 0 ||
        get_long(env, "CRUDDUR_DB_BUSY_TIMEOUT_MS", 2000, 0, 60000, &busy, err, err_size) != 0 ||
        get_long(env, "CRUDDUR_HOME_LIMIT", 20, 1, 100, &home, err, err_size) != 0 ||
        get_long(env, "CRUDDUR_SPOOL_BUDGET_MS", 200, 1, 10000, &budget, err, err_size) != 0 ||
        get_long(env, "CRUDDUR_SPOOL_GATHER_MS", 10, 0, 1000, &gather, err, err_size) != 0)
        return -1;
    c->spool_budget_ms = (int)budget;
    c->spool_gather_ms = (int)gather;
    const char *tel = env_get(env, "CRUDDUR_TELEMETRY");
    if (tel == NULL || strcmp(tel, "on") == 0 || strcmp(tel, "1") == 0) {
        c->telemetry = 1;
    } else if (strcmp(tel, "off") == 0 || strcmp(tel, "0") == 0) {
        c->telemetry = 0;
    } else {
        snprintf(err, err_size, "CRUDDUR_TELEMETRY must be on or off, not '%.80s'", tel);
        return -1;
    }
    const char *copy = env_get(env, "CRUDDUR_SPOOL_COPY");
    if (copy == NULL || strcmp(copy, "thread") == 0) {
        c->spool_copy = CONFIG_COPY_THREAD;
    } else if (strcmp(copy, "inline") == 0) {
        c->spool_copy = CONFIG_COPY_INLINE;
    } else {
        snprintf(err, err_size, "CRUDDUR_SPOOL_COPY must be thread or inline, not '%.80s'",
                 copy);
        return -1;
    }
    c->body_limit = (size_t)body_limit;
    c->busy_timeout_ms = (int)busy;
    c->home_limit = (int)home;

    const char *handle = env_get(env, "CRUDDUR_USER_HANDLE");
    if (handle == NULL)
        handle = "andrewbrown";
    if (!validate_handle(handle, strlen(handle))) {
        snprintf(err, err_size,
                 "CRUDDUR_USER_HANDLE must be 1 to %d letters, digits or '_', not '%.80s'",
                 VALIDATE_HANDLE_MAX, handle);
        return -1;
    }

    const char *state = env_get(env, "CRUDDUR_STATE_DIR");
    const char *db = env_get(env, "CRUDDUR_DB");
    const char *front = env_get(env, "FRONTEND_URL");
    const char *back = env_get(env, "BACKEND_URL");

    if ((state != NULL ? dup_to(&c->state_dir, state, err, err_size)
                       : dup_to(&c->state_dir, DEFAULT_STATE_DIR, err, err_size)) != 0)
        goto fail;
    if (db != NULL) {
        if (dup_to(&c->db_path, db, err, err_size) != 0)
            goto fail;
    } else {
        size_t n = strlen(c->state_dir) + sizeof "/cruddur.db";
        c->db_path = malloc(n);
        if (c->db_path == NULL) {
            snprintf(err, err_size, "out of memory reading the configuration");
            goto fail;
        }
        snprintf(c->db_path, n, "%s/cruddur.db", c->state_dir);
    }
    if (config_spool_path(env, &c->spool_path, err, err_size) != 0 ||
        path_in(&c->crash_dir, env_get(env, "CRUDDUR_CRASH_DIR"), c->state_dir, "crash", err,
                err_size) != 0)
        goto fail;
    if (dup_to(&c->user_handle, handle, err, err_size) != 0 ||
        dup_to(&c->frontend_url, front != NULL ? front : "", err, err_size) != 0 ||
        dup_to(&c->backend_url, back != NULL ? back : "", err, err_size) != 0)
        goto fail;
    return 0;

fail:
    config_free(c);
    return -1;
}

void config_free(app_config *c)
{
    free(c->state_dir);
    free(c->db_path);
    free(c->user_handle);
    free(c->frontend_url);
    free(c->backend_url);
    free(c->spool_path);
    free(c->crash_dir);
    memset(c, 0, sizeof *c);
}
