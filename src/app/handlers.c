/* handlers: the API's front door. The server loop hands each request to
 * app_handle, which routes it, checks the body of a POST, calls a service
 * (activities.c, messages.c) and turns its status into the HTTP answer of
 * API.md, with the CORS headers on every answer to an allowed origin. */
#include "app/handlers.h"

#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/activities.h"
#include "app/db.h"
#include "app/messages.h"
#include "app/service.h"
#include "http/cors.h"
#include "util/rng.h"
#include "util/tstamp.h"

struct app_ctx {
    const app_config *cfg;   /* borrowed */
    app_db *db;
    cors_policy *cors;
    rng_t rng;
    route_match last;
};

int app_ctx_new(const app_config *cfg, app_ctx **out, char *err, size_t err_size)
{
    *out = NULL;
    app_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    ctx->cfg = cfg;
    if (rng_seed(&ctx->rng) != 0) {
        snprintf(err, err_size, "the kernel gave no random bytes");
        free(ctx);
        return -1;
    }
    /* jansson would read /dev/urandom for its hash seed on the first
     * object: three system calls a CGI request can do without. */
    json_object_seed((size_t)rng_next(&ctx->rng) | 1);
    ctx->cors = cors_policy_new(cfg->frontend_url, cfg->backend_url);
    if (ctx->cors == NULL) {
        snprintf(err, err_size, "out of memory");
        free(ctx);
        return -1;
    }
    if (app_db_open(cfg->db_path, cfg->busy_timeout_ms, &ctx->db, err, err_size) != APP_DB_OK) {
        cors_policy_free(ctx->cors);
        free(ctx);
        return -1;
    }
    *out = ctx;
    return 0;
}

void app_ctx_free(app_ctx *ctx)
{
    if (ctx == NULL)
        return;
    app_db_close(ctx->db);
    cors_policy_free(ctx->cors);
    free(ctx);
}

void app_ctx_after_fork(app_ctx *ctx)
{
    /* If the kernel gives nothing, keep the inherited stream but move it
     * on by something that differs between processes. */
    if (rng_seed(&ctx->rng) != 0)
        rng_seed_with(&ctx->rng, rng_next(&ctx->rng) ^ (uint64_t)tstamp_mono_ns());
}

const route_match *app_last_route(const app_ctx *ctx)
{
    return &ctx->last;
}

/* ---- answers ----------------------------------------------------------- */

static void internal_error(http_response *resp, const char *detail)
{
    fprintf(stderr, "cruddur-api: internal error: %s\n", detail);
    http_response_reset(resp);
    if (http_response_error(resp, 500, "internal_error", "something went wrong on our side") != 0)
        resp->status = 500;
}

static void answer_error(http_response *resp, int status, const char *code, const char *message)
{
    if (http_response_error(resp, status, code, message) != 0)
        internal_error(resp, "cannot build an error answer");
}

static void unavailable(http_response *resp)
{
    http_response_reset(resp);
    if (http_response_error(resp, 503, "unavailable", "the database is busy, try again") != 0 ||
        http_response_header(resp, "Retry-After", "1") != 0)
        internal_error(resp, "cannot build a 503 answer");
}

/* Turns a service's status and JSON into the answer; takes j. */
static void service_answer(http_response *resp, svc_status s, json_t *j, const char *not_found)
{
    switch (s) {
    case SVC_OK:
    case SVC_INVALID:
        if (j == NULL)
            internal_error(resp, "service gave no answer");
        else if (http_response_json(resp, (int)s, j) != 0)
            internal_error(resp, "cannot serialise the answer");
        break;
    case SVC_NOT_FOUND:
        answer_error(resp, 404, "not_found", not_found);
        break;
    case SVC_UNAVAILABLE:
        unavailable(resp);
        break;
    case SVC_ERROR:
    default:
        /* The failing part has logged its own detail. */
        http_response_reset(resp);
        if (http_response_error(resp, 500, "internal_error", "something went wrong on our side") != 0)
            resp->status = 500;
        break;
    }
    json_decref(j);
}

/* ---- request parts ------------------------------------------------------ */

/* ?limit= of home: a whole number, capped at the maximum; anything else
 * means the configured default. Returns -1 for a badly encoded query. */
static int home_limit(const app_ctx *ctx, const http_request *req)
{
    char *v = NULL;
    int rc = http_query_get(req->query, "limit", &v);
    if (rc < 0)
        return -1;
    int limit = ctx->cfg->home_limit;
    if (rc == 0) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (v[0] >= '0' && v[0] <= '9' && *end == '\0' && errno != ERANGE && n >= 1)
            limit = n > ACTIVITIES_LIST_MAX ? ACTIVITIES_LIST_MAX : (int)n;
        else if (errno == ERANGE && v[0] >= '0' && v[0] <= '9')
            limit = ACTIVITIES_LIST_MAX;
    }
    free(v);
    return limit;
}

/* Checks and parses a POST body. Returns the JSON (new reference, of any
 * type), or NULL with the error answer written. */
static json_t *read_body(const http_request *req, http_response *resp)
{
    if (req->body_too_large) {
        answer_error(resp, 413, "payload_too_large", "the request body is too large");
        return NULL;
    }
    if (!http_is_json_type(req->content_type)) {
        answer_error(resp, 415, "unsupported_media_type", "send the body as application/json");
        return NULL;
    }
    if (req->body_incomplete) {
        answer_error(resp, 400, "incomplete_body", "the request body ended before its announced length");
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(req->body != NULL ? req->body : "", req->body != NULL ? req->body_len : 0,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (j == NULL)
        answer_error(resp, 400, "invalid_json", "the request body is not valid JSON");
    return j;
}

/* ---- the routes --------------------------------------------------------- */

static void health(app_ctx *ctx, http_response *resp)
{
    int rc = app_db_ping(ctx->db);
    json_t *j = rc == APP_DB_OK
                    ? json_pack("{s:b}", "success", 1)
                    : json_pack("{s:b, s:s, s:s}", "success", 0, "error", "unavailable", "failing",
                                "database");
    if (j == NULL || http_response_json(resp, rc == APP_DB_OK ? 200 : 503, j) != 0)
        internal_error(resp, "cannot build the health answer");
    json_decref(j);
}

static void dispatch(app_ctx *ctx, const route_match *m, http_request *req, http_response *resp)
{
    svc_ctx sc = {ctx->db, &ctx->rng, ctx->cfg->user_handle, tstamp_now_us(), NULL};
    json_t *out = NULL, *body = NULL;
    svc_status s;

    switch (m->id) {
    case ROUTE_HOME: {
        int limit = home_limit(ctx, req);
        if (limit < 0) {
            answer_error(resp, 400, "bad_request", "the query string is not well encoded");
            return;
        }
        s = activities_home(&sc, limit, &out);
        service_answer(resp, s, out, "not found");
        return;
    }
    case ROUTE_NOTIFICATIONS:
        s = activities_notifications(&sc, &out);
        service_answer(resp, s, out, "not found");
        return;
    case ROUTE_USER_ACTIVITIES:
        if (m->param_too_long) {
            answer_error(resp, 404, "not_found", "no such user");
            return;
        }
        s = activities_user(&sc, m->param, &out);
        service_answer(resp, s, out, "no such user");
        return;
    case ROUTE_SEARCH: {
        char *term = NULL;
        if (http_query_get(req->query, "term", &term) < 0) {
            answer_error(resp, 400, "bad_request", "the query string is not well encoded");
            return;
        }
        s = activities_search(&sc, term, &out);
        free(term);
        service_answer(resp, s, out, "not found");
        return;
    }
    case ROUTE_SHOW_ACTIVITY:
        if (m->param_too_long) {
            answer_error(resp, 404, "not_found", "no such activity");
            return;
        }
        s = activities_show(&sc, m->param, &out);
        service_answer(resp, s, out, "no such activity");
        return;
    case ROUTE_CREATE_ACTIVITY:
        if ((body = read_body(req, resp)) == NULL)
            return;
        s = activities_create(&sc, body, &out);
        json_decref(body);
        service_answer(resp, s, out, "not found");
        return;
    case ROUTE_REPLY:
        if ((body = read_body(req, resp)) == NULL)
            return;
        s = m->param_too_long ? SVC_NOT_FOUND : activities_reply(&sc, m->param, body, &out);
        json_decref(body);
        service_answer(resp, s, out, "no such activity");
        return;
    case ROUTE_MESSAGE_GROUPS:
        s = messages_groups(&sc, &out);
        service_answer(resp, s, out, "not found");
        return;
    case ROUTE_MESSAGES:
        if (m->param_too_long) {
            answer_error(resp, 404, "not_found", "no such user");
            return;
        }
        s = messages_with(&sc, m->param, &out);
        service_answer(resp, s, out, "no such user");
        return;
    case ROUTE_CREATE_MESSAGE:
        if ((body = read_body(req, resp)) == NULL)
            return;
        s = messages_create(&sc, body, &out);
        json_decref(body);
        service_answer(resp, s, out, "no such user");
        return;
    case ROUTE_HEALTH:
        health(ctx, resp);
        return;
    case ROUTE_ROLLBAR_TEST:
        if (http_response_text(resp, 200, "Hello World!") != 0)
            internal_error(resp, "cannot build the answer");
        return;
#ifdef CRUDDUR_TEST_ROUTES
    case ROUTE_TEST_FAIL:
        internal_error(resp, "GET /api/test/fail failed on purpose");
        return;
    case ROUTE_TEST_CRASH: {
        /* A real SIGSEGV, for the crash handler's tests. */
        volatile int *volatile p = NULL;
        *p = 1;
        internal_error(resp, "GET /api/test/crash did not crash");
        return;
    }
#endif
    default:
        answer_error(resp, 404, "not_found", "no such route");
        return;
    }
}

void app_handle(void *arg, http_request *req, http_response *resp)
{
    app_ctx *ctx = arg;
    route_match *m = &ctx->last;
    const char *origin = http_request_header(req, "Origin");
    int rc = route_match_path(req->method, req->path, m);
    bool preflight = false;

    if (rc == 404) {
        answer_error(resp, 404, "not_found", "no such route");
    } else if (rc == 405) {
        char allow[96];
        route_allow_string(m->allow, allow, sizeof allow);
        answer_error(resp, 405, "method_not_allowed", "this path does not take that method");
        if (http_response_header(resp, "Allow", allow) != 0)
            internal_error(resp, "cannot add the Allow header");
    } else if (req->method == HTTP_OPTIONS) {
        char allow[96];
        route_allow_string(m->allow, allow, sizeof allow);
        preflight = true;
        resp->status = 204;
        if (http_response_header(resp, "Allow", allow) != 0)
            internal_error(resp, "cannot add the Allow header");
    } else {
        dispatch(ctx, m, req, resp);
    }

    if (resp->status == 0)
        internal_error(resp, "no answer was made");
    if (cors_apply(ctx->cors, origin, preflight && resp->status == 204, resp) != 0) {
        internal_error(resp, "cannot add the CORS headers");
        (void)cors_apply(ctx->cors, origin, false, resp);
    }
    if (req->method == HTTP_HEAD)
        resp->omit_body = true;
}
