/* router: the API's route table. Maps a method and a decoded path to a
 * route and its one path parameter, and knows which methods each path
 * allows (for 405 and Allow). Works in place: nothing is allocated. */
#include "http/router.h"

#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <stdio.h>
#include <string.h>

#define GET_METHODS (HTTP_GET | HTTP_HEAD | HTTP_OPTIONS)
#define POST_METHODS (HTTP_POST | HTTP_OPTIONS)

/* Order matters: the first template that matches a path owns it, so fixed
 * names come before the placeholder that would also match them. */
static const struct route_def {
    route_id id;
    unsigned allow;
    const char *template;
} routes[] = {
    {ROUTE_HOME, GET_METHODS, "/api/activities/home"},
    {ROUTE_NOTIFICATIONS, GET_METHODS, "/api/activities/notifications"},
    {ROUTE_SEARCH, GET_METHODS, "/api/activities/search"},
    {ROUTE_USER_ACTIVITIES, GET_METHODS, "/api/activities/@{handle}"},
    {ROUTE_CREATE_ACTIVITY, POST_METHODS, "/api/activities"},
    {ROUTE_SHOW_ACTIVITY, GET_METHODS, "/api/activities/{activity_uuid}"},
    {ROUTE_REPLY, POST_METHODS, "/api/activities/{activity_uuid}/reply"},
    {ROUTE_MESSAGE_GROUPS, GET_METHODS, "/api/message_groups"},
    {ROUTE_MESSAGES, GET_METHODS, "/api/messages/@{handle}"},
    {ROUTE_CREATE_MESSAGE, POST_METHODS, "/api/messages"},
    {ROUTE_HEALTH, GET_METHODS, "/api/health-check"},
    {ROUTE_ROLLBAR_TEST, GET_METHODS, "/rollbar/test"},
#ifdef CRUDDUR_TEST_ROUTES
    {ROUTE_TEST_CRASH, GET_METHODS, "/api/test/crash"},
    {ROUTE_TEST_FAIL, GET_METHODS, "/api/test/fail"},
#endif
};

/* Matches path against a template whose "{name}" stands for the rest of one
 * segment. A placeholder that is a whole segment needs at least one byte;
 * one after a prefix ("@{handle}") may be empty. On a match, *param and
 * *param_len give the parameter (NULL, 0 if the template has none). */
static bool match_template(const char *tmpl, const char *path, const char **param,
                           size_t *param_len)
{
    const char *t = tmpl, *p = path;
    *param = NULL;
    *param_len = 0;
    while (*t) {
        if (*t == '{') {
            bool whole_segment = t > tmpl && t[-1] == '/';
            size_t n = strcspn(p, "/");
            if (whole_segment && n == 0)
                return false;
            *param = p;
            *param_len = n;
            p += n;
            /* Templates are constants with balanced braces. */
            const char *close = strchr(t, '}');
            t = close != NULL ? close + 1 : t + strlen(t);
            continue;
        }
        if (*t != *p)
            return false;
        t++;
        p++;
    }
    return *p == '\0';
}

int route_match_path(http_method method, const char *path, route_match *m)
{
    m->id = ROUTE_NONE;
    m->template = NULL;
    m->allow = 0;
    m->param[0] = '\0';
    m->param_too_long = 0;
    if (path == NULL)
        return 404;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route_def *d = &routes[i];
        const char *param;
        size_t len;
        if (!match_template(d->template, path, &param, &len))
            continue;
        m->template = d->template;
        m->allow = d->allow;
        if (len > ROUTE_PARAM_MAX) {
            m->param_too_long = 1;
        } else if (len > 0) {
            memcpy(m->param, param, len);
            m->param[len] = '\0';
        }
        if (method == HTTP_OTHER || (d->allow & (unsigned)method) == 0)
            return 405;
        m->id = d->id;
        return 200;
    }
    return 404;
}

void route_allow_string(unsigned allow, char *out, size_t size)
{
    static const struct {
        unsigned bit;
        const char *name;
    } order[] = {
        {HTTP_GET, "GET"},       {HTTP_HEAD, "HEAD"},     {HTTP_POST, "POST"},
        {HTTP_PUT, "PUT"},       {HTTP_DELETE, "DELETE"}, {HTTP_PATCH, "PATCH"},
        {HTTP_OPTIONS, "OPTIONS"},
    };
    if (size == 0)
        return;
    if (allow & HTTP_GET)
        allow |= HTTP_HEAD;
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(allow & order[i].bit))
            continue;
        int n = snprintf(out + o, size - o, "%s%s", o ? ", " : "", order[i].name);
        if (n < 0 || (size_t)n >= size - o) {
            out[o] = '\0';   /* keep whole names only */
            return;
        }
        o += (size_t)n;
    }
}
