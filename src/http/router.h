/* router: maps a method and a decoded path to one of the API's routes, with
 * its path parameter, and says which methods a known path allows. */
#ifndef CRUDDUR_HTTP_ROUTER_H
#define CRUDDUR_HTTP_ROUTER_H

#include "http/request.h"

typedef enum route_id {
    ROUTE_NONE = 0,
    ROUTE_HOME,              /* GET  /api/activities/home */
    ROUTE_NOTIFICATIONS,     /* GET  /api/activities/notifications */
    ROUTE_SEARCH,            /* GET  /api/activities/search */
    ROUTE_USER_ACTIVITIES,   /* GET  /api/activities/@{handle} */
    ROUTE_CREATE_ACTIVITY,   /* POST /api/activities */
    ROUTE_SHOW_ACTIVITY,     /* GET  /api/activities/{activity_uuid} */
    ROUTE_REPLY,             /* POST /api/activities/{activity_uuid}/reply */
    ROUTE_MESSAGE_GROUPS,    /* GET  /api/message_groups */
    ROUTE_MESSAGES,          /* GET  /api/messages/@{handle} */
    ROUTE_CREATE_MESSAGE,    /* POST /api/messages */
    ROUTE_HEALTH,            /* GET  /api/health-check */
    ROUTE_ROLLBAR_TEST,      /* GET  /rollbar/test */
    ROUTE_TEST_CRASH,        /* GET  /api/test/crash (only with --enable-test-routes) */
    ROUTE_TEST_FAIL,         /* GET  /api/test/fail  (only with --enable-test-routes) */
    ROUTE_COUNT
} route_id;

/* Longest path parameter kept; a longer one still matches, with
 * param_too_long set, so the handler can answer 404 without copying it. */
#define ROUTE_PARAM_MAX 256

typedef struct route_match {
    route_id id;
    const char *template;      /* "/api/activities/{activity_uuid}" (http.route) */
    unsigned allow;            /* methods the path allows (http_method bits); GET implies HEAD */
    char param[ROUTE_PARAM_MAX + 1];  /* the path parameter, "" if the route has none */
    int param_too_long;
} route_match;

/* Returns 200 when method and path match a route (m filled in), 404 when no
 * route has this path (m->id = ROUTE_NONE), 405 when the path exists but
 * not for this method (m->template and m->allow filled in). OPTIONS on a
 * known path returns 200 with m->id set to the path's route. */
int route_match_path(http_method method, const char *path, route_match *m);

/* Writes the Allow header value for a method set ("GET, HEAD, OPTIONS"). */
void route_allow_string(unsigned allow, char *out, size_t size);

#endif
