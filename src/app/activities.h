/* activities: the services behind /api/activities/... (home, notifications,
 * a user's activities, search, one activity, create, reply). Each returns a
 * svc_status and, in *out, a new JSON reference the caller must json_decref:
 * the answer on SVC_OK, the array of validation codes on SVC_INVALID, NULL
 * otherwise. Shapes and rules are those of API.md. */
#ifndef CRUDDUR_APP_ACTIVITIES_H
#define CRUDDUR_APP_ACTIVITIES_H

#include <jansson.h>
#include "app/service.h"

/* Most activities one list answer holds (home's ?limit= is capped to it). */
#define ACTIVITIES_LIST_MAX 100
#define ACTIVITIES_SEARCH_MAX 50
/* Search uses the first this many words of the term. */
#define ACTIVITIES_SEARCH_MAX_WORDS 32

/* Top-level unexpired activities, newest first, at most limit (1..100). */
svc_status activities_home(svc_ctx *c, int limit, json_t **out);

/* Unexpired activities of other users that reply to one of the acting
 * user's activities or mention "@handle" of the acting user. */
svc_status activities_notifications(svc_ctx *c, json_t **out);

/* The unexpired top-level activities of handle: SVC_INVALID
 * (blank_user_handle) for a blank handle, SVC_NOT_FOUND for an unknown one. */
svc_status activities_user(svc_ctx *c, const char *handle, json_t **out);

/* Full-text search, best match first: SVC_INVALID (search_term_blank) for
 * a missing (NULL) or blank term. */
svc_status activities_search(svc_ctx *c, const char *term, json_t **out);

/* One unexpired activity with its replies; SVC_NOT_FOUND for an id that is
 * not a UUID, unknown or expired. */
svc_status activities_show(svc_ctx *c, const char *uuid, json_t **out);

/* POST /api/activities: body is the parsed request body, of any JSON type
 * (anything but an object with string fields fails validation). */
svc_status activities_create(svc_ctx *c, const json_t *body, json_t **out);

/* POST /api/activities/{uuid}/reply: validation first, then SVC_NOT_FOUND
 * for an unknown or expired parent. The reply expires with its parent. */
svc_status activities_reply(svc_ctx *c, const char *parent_uuid, const json_t *body,
                            json_t **out);

/* Turns a user's search term into a safe FTS5 query: each run of non-white
 * space becomes one quoted string (inner '"' doubled), at most
 * ACTIVITIES_SEARCH_MAX_WORDS of them, joined by spaces (all must match).
 * Returns a malloc'd string ("" for a blank term), or NULL when out of memory. */
char *activities_fts_query(const char *term);

#endif
