/* handlers: the API's front door. The server loop hands each request to
 * app_handle, which routes it, checks the body of a POST, calls a service
 * (activities.c, messages.c) and turns its status into the HTTP answer of
 * API.md, with the CORS headers on every answer to an allowed origin. */
#include "app/handlers.h"

#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/activities.h"
#include "app/db.h"
#include "app/messages.h"
#include "app/service.h"
#include "app/telemetry.h"
#include "http/cors.h"
#include "util/rng.h"
#include "util/tstamp.h"

struct app_ctx {
    const app_config *cfg;   /* borrowed */
    app_db *db;
    cors_policy *cors;
    rng_t rng;
    route_match last;
    telemetry *tel;          /* NULL with CRUDDUR_TELEMETRY=off */
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
    if (telemetry_new(cfg, &ctx->rng, &ctx->tel, err, err_size) != 0) {
        app_ctx_free(ctx);
        return -1;
    }
    if (ctx->tel != NULL)
        app_db_set_observer(ctx->db, telemetry_db_observer, ctx->tel);
    *out = ctx;
    return 0;
}

void app_ctx_free(app_ctx *ctx)
{
    if (ctx == NULL)
        return;
    telemetry_free(ctx->tel);
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

static void internal_error(app_ctx *ctx, http_response *resp, const char *detail)
{
    fprintf(stderr, "cruddur-api: internal error: %s\n", detail);
    telemetry_fail(ctx->tel, "InternalError", detail);
    http_response_reset(resp);
    if (http_response_error(resp, 500, "internal_error", "something went wrong on our side") != 0)
        resp->status = 500;
}

static void answer_error(app_ctx *ctx, http_response *resp, int status, const char *code, const char *message)
{
    if (http_response_error(resp, status, code, message) != 0)
        internal_error(ctx, resp, "cannot build an error answer");
}

static void unavailable(app_ctx *ctx, http_response *resp)
{
    telemetry_fail(ctx->tel, "DatabaseBusy", "the database stayed locked past the busy timeout");
    http_response_reset(resp);
    if (http_response_error(resp, 503, "unavailable", "the database is busy, try again") != 0 ||
        http_response_header(resp, "Retry-After", "1") != 0)
        internal_error(ctx, resp, "cannot build a 503 answer");
}

/* Turns a service's status and JSON into the answer; takes j. */
static void service_answer(app_ctx *ctx, http_response *resp, svc_status s, json_t *j, const char *not_found)
{
    switch (s) {
    case SVC_OK:
    case SVC_INVALID:
        if (j == NULL)
            internal_error(ctx, resp, "service gave no answer");
        else if (http_response_json(resp, (int)s, j) != 0)
            internal_error(ctx, resp, "cannot serialise the answer");
        break;
    case SVC_NOT_FOUND:
        answer_error(ctx, resp, 404, "not_found", not_found);
        break;
    case SVC_UNAVAILABLE:
        unavailable(ctx, resp);
        break;
    case SVC_ERROR:
    default:
        /* The failing part has logged its own detail. */
        telemetry_fail(ctx->tel, "ServiceError", "a service call failed");
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
static json_t *read_body(app_ctx *ctx, const http_request *req, http_response *resp)
{
    if (req->body_too_large) {
        answer_error(ctx, resp, 413, "payload_too_large", "the request body is too large");
        return NULL;
    }
    if (!http_is_json_type(req->content_type)) {
        answer_error(ctx, resp, 415, "unsupported_media_type", "send the body as application/json");
        return NULL;
    }
    if (req->body_incomplete) {
        answer_error(ctx, resp, 400, "incomplete_body", "the request body ended before its announced length");
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(req->body != NULL ? req->body : "", req->body != NULL ? req->body_len : 0,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (j == NULL)
        answer_error(ctx, resp, 400, "invalid_json", "the request body is not valid JSON");
    return j;
}

/* ---- service spans ------------------------------------------------------ */

/* The INTERNAL span and the application log record of a service call, as
 * the original service logged and traced each one. */
static trace_span svc_begin(svc_ctx *sc, const char *span_name, const char *log_body)
{
    trace_request *tr = sc->trace;
    if (tr == NULL)
        return TRACE_SPAN_NONE;
    trace_span s = trace_span_start(tr, trace_span_current(tr), span_name, SPOOL_KIND_INTERNAL, 0);
    if (trace_request_sampled(tr)) {
        char now[TSTAMP_ISO_SIZE];
        if (tstamp_iso8601(sc->now_us, now) == 0)
            trace_span_set_str(tr, s, "app.now", now);
    }
    trace_log(tr, s, TRACE_SEV_INFO, log_body, NULL);
    return s;
}

/* Handles of the activities' authors, without repeats, for app.user_ids. */
#define USER_IDS_MAX 32

static void svc_end(svc_ctx *sc, trace_span s, svc_status st, const json_t *out)
{
    trace_request *tr = sc->trace;
    if (tr == NULL)
        return;
    if (trace_request_sampled(tr) && st == SVC_OK) {
        if (json_is_array(out)) {
            const char *ids[USER_IDS_MAX];
            size_t n = 0, i;
            json_t *item;
            trace_span_set_int(tr, s, "app.result_length", (int64_t)json_array_size(out));
            json_array_foreach(out, i, item) {
                const char *h = json_string_value(json_object_get(item, "handle"));
                size_t k = 0;
                while (h != NULL && k < n && strcmp(ids[k], h) != 0)
                    k++;
                if (h != NULL && k == n && n < USER_IDS_MAX)
                    ids[n++] = h;
            }
            trace_span_set_str_array(tr, s, "app.user_ids", ids, n);
        } else if (json_is_object(out)) {
            const char *uuid = json_string_value(json_object_get(out, "uuid"));
            if (uuid != NULL)
                trace_span_set_str(tr, s, "app.result_uuid", uuid);
        }
    }
    if (st == SVC_INVALID)
        trace_span_set_str(tr, s, "app.validation_errors", "422");
    if (st >= SVC_ERROR)
        trace_span_set_status(tr, s, SPOOL_STATUS_ERROR, st == SVC_UNAVAILABLE ? "database busy"
                                                                                : "service failed");
    trace_span_end(tr, s, 0);
}

/* ---- the routes --------------------------------------------------------- */

static void health(app_ctx *ctx, http_response *resp)
{
    int rc = app_db_ping(ctx->db);
    bool spool_ok = telemetry_spool_ok(ctx->tel);
    const char *failing = rc != APP_DB_OK ? "database" : !spool_ok ? "telemetry_spool" : NULL;
    json_t *j = failing == NULL
                    ? json_pack("{s:b}", "success", 1)
                    : json_pack("{s:b, s:s, s:s}", "success", 0, "error", "unavailable", "failing",
                                failing);
    if (j == NULL || http_response_json(resp, failing == NULL ? 200 : 503, j) != 0)
        internal_error(ctx, resp, "cannot build the health answer");
    json_decref(j);
}

static void dispatch(app_ctx *ctx, const route_match *m, http_request *req, http_response *resp)
{
    svc_ctx sc = {ctx->db, &ctx->rng, ctx->cfg->user_handle, tstamp_now_us(),
                  telemetry_trace(ctx->tel)};
    trace_span sp;
    json_t *out = NULL, *body = NULL;
    svc_status s;

    switch (m->id) {
    case ROUTE_HOME: {
        int limit = home_limit(ctx, req);
        if (limit < 0) {
            answer_error(ctx, resp, 400, "bad_request", "the query string is not well encoded");
            return;
        }
        sp = svc_begin(&sc, "home-activities-span", "HomeActivities");
        s = activities_home(&sc, limit, &out);
        svc_end(&sc, sp, s, out);
        service_answer(ctx, resp, s, out, "not found");
        return;
    }
    case ROUTE_NOTIFICATIONS:
        sp = svc_begin(&sc, "notifications-activities-span", "NotificationsActivities");
        s = activities_notifications(&sc, &out);
        svc_end(&sc, sp, s, out);
        service_answer(ctx, resp, s, out, "not found");
        return;
    case ROUTE_USER_ACTIVITIES:
        if (m->param_too_long) {
            answer_error(ctx, resp, 404, "not_found", "no such user");
            return;
        }
        sp = svc_begin(&sc, "user-activities-span", "UserActivities");
        s = activities_user(&sc, m->param, &out);
        svc_end(&sc, sp, s, out);
        service_answer(ctx, resp, s, out, "no such user");
        return;
    case ROUTE_SEARCH: {
        char *term = NULL;
        if (http_query_get(req->query, "term", &term) < 0) {
            answer_error(ctx, resp, 400, "bad_request", "the query string is not well encoded");
            return;
        }
        sp = svc_begin(&sc, "search-activities-span", "SearchActivities");
        s = activities_search(&sc, term, &out);
        svc_end(&sc, sp, s, out);
        free(term);
        service_answer(ctx, resp, s, out, "not found");
        return;
    }
    case ROUTE_SHOW_ACTIVITY:
        if (m->param_too_long) {
            answer_error(ctx, resp, 404, "not_found", "no such activity");
            return;
        }
        sp = svc_begin(&sc, "show-activity-span", "ShowActivity");
        s = activities_show(&sc, m->param, &out);
        svc_end(&sc, sp, s, out);
        service_answer(ctx, resp, s, out, "no such activity");
        return;
    case ROUTE_CREATE_ACTIVITY:
        if ((body = read_body(ctx, req, resp)) == NULL)
            return;
        sp = svc_begin(&sc, "create-activity-span", "CreateActivity");
        s = activities_create(&sc, body, &out);
        svc_end(&sc, sp, s, out);
        json_decref(body);
        service_answer(ctx, resp, s, out, "not found");
        return;
    case ROUTE_REPLY:
        if ((body = read_body(ctx, req, resp)) == NULL)
            return;
        sp = svc_begin(&sc, "create-reply-span", "CreateReply");
        s = m->param_too_long ? SVC_NOT_FOUND : activities_reply(&sc, m->param, body, &out);
        svc_end(&sc, sp, s, out);
        json_decref(body);
        service_answer(ctx, resp, s, out, "no such activity");
        return;
    case ROUTE_MESSAGE_GROUPS:
        sp = svc_begin(&sc, "message-groups-span", "MessageGroups");
        s = messages_groups(&sc, &out);
        svc_end(&sc, sp, s, out);
        service_answer(ctx, resp, s, out, "not found");
        return;
    case ROUTE_MESSAGES:
        if (m->param_too_long) {
            answer_error(ctx, resp, 404, "not_found", "no such user");
            return;
        }
        sp = svc_begin(&sc, "messages-span", "Messages");
        s = messages_with(&sc, m->param, &out);
        svc_end(&sc, sp, s, out);
        service_answer(ctx, resp, s, out, "no such user");
        return;
    case ROUTE_CREATE_MESSAGE:
        if ((body = read_body(ctx, req, resp)) == NULL)
            return;
        sp = svc_begin(&sc, "create-message-span", "CreateMessage");
        s = messages_create(&sc, body, &out);
        svc_end(&sc, sp, s, out);
        json_decref(body);
        service_answer(ctx, resp, s, out, "no such user");
        return;
    case ROUTE_HEALTH:
        health(ctx, resp);
        return;
    case ROUTE_ROLLBAR_TEST:
        /* As the original: a warning-level report, and a plain answer. */
        telemetry_report(ctx->tel, "warning", "Hello World!");
        if (http_response_text(resp, 200, "Hello World!") != 0)
            internal_error(ctx, resp, "cannot build the answer");
        return;
#ifdef CRUDDUR_TEST_ROUTES
    case ROUTE_TEST_FAIL:
        internal_error(ctx, resp, "GET /api/test/fail failed on purpose");
        return;
    case ROUTE_TEST_CRASH: {
        /* A real SIGSEGV, for the crash handler's tests. */
        /* Not NULL: UBSan would catch a null store before the kernel does. */
        volatile int *volatile p = (volatile int *)(uintptr_t)16;
        *p = 1;
        internal_error(ctx, resp, "GET /api/test/crash did not crash");
        return;
    }
#endif
    default:
        answer_error(ctx, resp, 404, "not_found", "no such route");
        return;
    }
}

void app_handle(void *arg, http_request *req, http_response *resp)
{
    app_ctx *ctx = arg;
    route_match *m = &ctx->last;
    const char *origin = http_request_header(req, "Origin");
    telemetry_begin(ctx->tel, req);
    int rc = route_match_path(req->method, req->path, m);
    telemetry_route(ctx->tel, req, m);
    bool preflight = false;

    if (rc == 404) {
        answer_error(ctx, resp, 404, "not_found", "no such route");
    } else if (rc == 405) {
        char allow[96];
        route_allow_string(m->allow, allow, sizeof allow);
        answer_error(ctx, resp, 405, "method_not_allowed", "this path does not take that method");
        if (http_response_header(resp, "Allow", allow) != 0)
            internal_error(ctx, resp, "cannot add the Allow header");
    } else if (req->method == HTTP_OPTIONS) {
        char allow[96];
        route_allow_string(m->allow, allow, sizeof allow);
        preflight = true;
        resp->status = 204;
        if (http_response_header(resp, "Allow", allow) != 0)
            internal_error(ctx, resp, "cannot add the Allow header");
    } else {
        dispatch(ctx, m, req, resp);
    }

    if (resp->status == 0)
        internal_error(ctx, resp, "no answer was made");
    if (cors_apply(ctx->cors, origin, preflight && resp->status == 204, resp) != 0) {
        internal_error(ctx, resp, "cannot add the CORS headers");
        (void)cors_apply(ctx->cors, origin, false, resp);
    }
    if (req->method == HTTP_HEAD)
        resp->omit_body = true;
    telemetry_respond(ctx->tel, req, resp);
}

void app_after(void *arg, http_request *req, http_response *resp)
{
    app_ctx *ctx = arg;
    telemetry_finish(ctx->tel, req, resp);
}

int app_idle(void *arg)
{
    app_ctx *ctx = arg;
    return telemetry_idle(ctx->tel);
}
