/* Unit tests for app/handlers: synthetic CGI requests through app_handle
 * against a seeded temporary database. Every route, every error answer,
 * CORS on all of them, HEAD and OPTIONS, and that refused input leaves the
 * database as it was. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/config.h"
#include "app/db.h"
#include "app/handlers.h"
#include "check_main.h"
#include "util/tstamp.h"

#define FRONT "https://front.example"
#define CLOUD "68f126b0-1ceb-4a33-88be-d90fa7109eee"

static char dir[64];
static char path[128];
static char db_setting[160];
static app_config cfg;
static app_ctx *hctx;
static http_response resp;
static json_t *answer;   /* the parsed body of the last answer, if JSON */

static void start(const char *user_handle)
{
    strcpy(dir, "/tmp/cruddur-test-hnd-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cruddur.db", dir);
    snprintf(db_setting, sizeof db_setting, "CRUDDUR_DB=%s", path);
    char err[256] = "";
    ck_assert_msg(app_db_init(path, tstamp_now_us(), err, sizeof err) == APP_DB_OK, "%s", err);
    char handle[96];
    snprintf(handle, sizeof handle, "CRUDDUR_USER_HANDLE=%s", user_handle);
    static char state_setting[600];
    snprintf(state_setting, sizeof state_setting, "CRUDDUR_STATE_DIR=%s", dir);
    char *env[] = {db_setting,
                   state_setting,
                   "FRONTEND_URL=" FRONT,
                   "BACKEND_URL=https://api.example/",
                   "CRUDDUR_HOME_LIMIT=3",
                   "CRUDDUR_DB_BUSY_TIMEOUT_MS=50",
                   "CRUDDUR_BODY_LIMIT=4096",
                   handle,
                   NULL};
    ck_assert_msg(config_load(&cfg, env, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(app_ctx_new(&cfg, &hctx, err, sizeof err) == 0, "%s", err);
    http_response_init(&resp);
    answer = NULL;
}

static void setup(void)
{
    start("andrewbrown");
}

static void teardown(void)
{
    json_decref(answer);
    http_response_free(&resp);
    app_ctx_free(hctx);
    config_free(&cfg);
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (unlink(p) != 0)
                rmdir(p);   /* the crash directory, empty once the worker is gone */
        }
        closedir(d);
    }
    rmdir(dir);
}

typedef struct req_opts {
    const char *content_type;
    const char *body;
    const char *origin;
    bool too_large;
    bool incomplete;
} req_opts;

static void request_with(const char *method, const char *uri, req_opts o)
{
    static char m[64], u[HTTP_MAX_URI + 32], ct[256], cl[64], org[256];
    char *env[8];
    int n = 0;
    snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
    env[n++] = m;
    snprintf(u, sizeof u, "REQUEST_URI=%s", uri);
    env[n++] = u;
    if (o.content_type != NULL) {
        snprintf(ct, sizeof ct, "CONTENT_TYPE=%s", o.content_type);
        env[n++] = ct;
    }
    if (o.body != NULL) {
        snprintf(cl, sizeof cl, "CONTENT_LENGTH=%zu", strlen(o.body));
        env[n++] = cl;
    }
    if (o.origin != NULL) {
        snprintf(org, sizeof org, "HTTP_ORIGIN=%s", o.origin);
        env[n++] = org;
    }
    env[n] = NULL;
    http_request req;
    ck_assert_int_eq(http_request_init(&req, env), 0);
    if (o.body != NULL && !o.too_large) {
        char *b = strdup(o.body);
        ck_assert_ptr_nonnull(b);
        http_request_set_body(&req, b, strlen(b));
    }
    req.body_too_large = o.too_large;
    req.body_incomplete = o.incomplete;
    http_response_reset(&resp);
    app_handle(hctx, &req, &resp);
    http_request_free(&req);
    json_decref(answer);
    answer = NULL;
    if (resp.body.len > 0)
        answer = json_loadb(resp.body.data, resp.body.len, JSON_DECODE_ANY, NULL);
}

static void get(const char *uri)
{
    request_with("GET", uri, (req_opts){NULL, NULL, FRONT, false, false});
}

static void post(const char *uri, const char *body)
{
    request_with("POST", uri, (req_opts){"application/json", body, FRONT, false, false});
}

/* The value of a response header, or NULL (one static buffer). */
static const char *header(const char *name)
{
    static char value[512];
    const char *h = resp.headers.data;
    size_t n = strlen(name);
    while (h != NULL && *h != '\0') {
        const char *eol = strstr(h, "\r\n");
        ck_assert_ptr_nonnull(eol);
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            size_t len = (size_t)(eol - h) - n - 2;
            ck_assert_uint_lt(len, sizeof value);
            memcpy(value, h + n + 2, len);
            value[len] = '\0';
            return value;
        }
        h = eol + 2;
    }
    return NULL;
}

static const char *body_text(void)
{
    return resp.body.data != NULL ? resp.body.data : "";
}

#define ASSERT_HEADER(name, value)                                   \
    do {                                                             \
        const char *h_ = header(name);                               \
        ck_assert_msg(h_ != NULL, "no %s header", name);             \
        ck_assert_str_eq(h_, value);                                 \
    } while (0)

static void assert_json_answer(int status)
{
    ck_assert_int_eq(resp.status, status);
    ASSERT_HEADER("Content-Type", "application/json; charset=utf-8");
    ck_assert_msg(answer != NULL, "not JSON: %s", body_text());
}

/* {"error": code, "message": some text}, nothing else, and CORS. */
static void assert_error(int status, const char *code)
{
    assert_json_answer(status);
    ck_assert(json_is_object(answer));
    ck_assert_uint_eq(json_object_size(answer), 2);
    ck_assert_str_eq(json_string_value(json_object_get(answer, "error")), code);
    ck_assert(json_string_length(json_object_get(answer, "message")) > 0);
    ASSERT_HEADER("Access-Control-Allow-Origin", FRONT);
}

static void assert_body(const char *expected)
{
    ck_assert_str_eq(body_text(), expected);
}

/* Row counts and reply counters: what refused input must not change. */
static char *db_state(void)
{
    static char out[256];
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(h,
                                        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM activities),"
                                        " (SELECT sum(replies_count) FROM activities),"
                                        " (SELECT count(*) FROM message_groups), (SELECT count(*) FROM messages),"
                                        " (SELECT max(updated_at_us) FROM message_groups)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, sizeof out, "%lld %lld %lld %lld %lld %lld", sqlite3_column_int64(st, 0),
             sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
             sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
}

/* ---- reads ------------------------------------------------------------- */

START_TEST(test_home)
{
    get("/api/activities/home");
    assert_json_answer(200);
    ASSERT_HEADER("Access-Control-Allow-Origin", FRONT);
    ASSERT_HEADER("Vary", "Origin");
    /* CRUDDUR_HOME_LIMIT=3 is the default page. */
    ck_assert_uint_eq(json_array_size(answer), 3);
    json_t *first = json_array_get(answer, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "handle")), "garek");
    const char *keys[] = {"uuid", "display_name", "handle", "message", "likes_count",
                          "replies_count", "reposts_count", "created_at", "expires_at", "replies"};
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(first, k, v) {
        ck_assert_uint_lt(i, 10);
        ck_assert_str_eq(k, keys[i++]);
    }
    ck_assert_uint_eq(i, 10);
    ck_assert_int_eq(app_last_route(hctx)->id, ROUTE_HOME);
    ck_assert_str_eq(app_last_route(hctx)->template, "/api/activities/home");

    get("/api/activities/home?limit=2");
    ck_assert_uint_eq(json_array_size(answer), 2);
    get("/api/activities/home?limit=1000");
    ck_assert_uint_eq(json_array_size(answer), 4);
    get("/api/activities/home?limit=99999999999999999999999");
    ck_assert_uint_eq(json_array_size(answer), 4);
    get("/api/activities/home?limit=abc");
    ck_assert_uint_eq(json_array_size(answer), 3);
    get("/api/activities/home?limit=0");
    ck_assert_uint_eq(json_array_size(answer), 3);
    get("/api/activities/home?limit=-2");
    ck_assert_uint_eq(json_array_size(answer), 3);
    get("/api/activities/home?limit=%zz");
    assert_error(400, "bad_request");
}
END_TEST

START_TEST(test_head)
{
    get("/api/activities/home");
    size_t len = resp.body.len;
    request_with("HEAD", "/api/activities/home", (req_opts){NULL, NULL, FRONT, false, false});
    ck_assert_int_eq(resp.status, 200);
    ck_assert(resp.omit_body);
    ck_assert_uint_eq(resp.body.len, len);   /* for Content-Length */
    ASSERT_HEADER("Access-Control-Allow-Origin", FRONT);
    request_with("HEAD", "/nope", (req_opts){NULL, NULL, NULL, false, false});
    ck_assert_int_eq(resp.status, 404);
    ck_assert(resp.omit_body);
    /* GET leaves the body in. */
    get("/api/activities/home");
    ck_assert(!resp.omit_body);
}
END_TEST

START_TEST(test_notifications)
{
    get("/api/activities/notifications");
    assert_json_answer(200);
    ck_assert_uint_eq(json_array_size(answer), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(answer, 0), "handle")), "coco");
}
END_TEST

START_TEST(test_user_activities)
{
    get("/api/activities/@worf");
    assert_json_answer(200);
    ck_assert_uint_eq(json_array_size(answer), 1);
    ck_assert_str_eq(app_last_route(hctx)->param, "worf");
    get("/api/activities/@nobody");
    assert_error(404, "not_found");
    get("/api/activities/@");
    assert_json_answer(422);
    assert_body("[\"blank_user_handle\"]");
    ASSERT_HEADER("Access-Control-Allow-Origin", FRONT);
    get("/api/activities/@%20");
    assert_body("[\"blank_user_handle\"]");
    char uri[400] = "/api/activities/@";
    memset(uri + strlen(uri), 'w', 300);
    uri[17 + 300] = '\0';
    get(uri);
    assert_error(404, "not_found");
}
END_TEST

START_TEST(test_search)
{
    get("/api/activities/search?term=cloud");
    assert_json_answer(200);
    ck_assert_uint_eq(json_array_size(answer), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(answer, 0), "uuid")), CLOUD);
    get("/api/activities/search?term=%23cloud");
    ck_assert_uint_eq(json_array_size(answer), 1);
    get("/api/activities/search?term=prune+juice");
    ck_assert_uint_eq(json_array_size(answer), 1);
    get("/api/activities/search?term=%22");
    assert_json_answer(200);
    assert_body("[]");
    get("/api/activities/search?term=");
    assert_json_answer(422);
    assert_body("[\"search_term_blank\"]");
    get("/api/activities/search");
    assert_body("[\"search_term_blank\"]");
    get("/api/activities/search?term=+++");
    assert_body("[\"search_term_blank\"]");
    get("/api/activities/search?term=%zz");
    assert_error(400, "bad_request");
    get("/api/activities/search?term=a%00b");
    assert_error(400, "bad_request");
}
END_TEST

START_TEST(test_show)
{
    get("/api/activities/" CLOUD);
    assert_json_answer(200);
    ck_assert_str_eq(json_string_value(json_object_get(answer, "message")), "Cloud is fun!");
    ck_assert_uint_eq(json_array_size(json_object_get(answer, "replies")), 1);
    ck_assert_int_eq(app_last_route(hctx)->id, ROUTE_SHOW_ACTIVITY);
    get("/api/activities/00000000-0000-4000-8000-000000000000");
    assert_error(404, "not_found");
    get("/api/activities/not-a-uuid");
    assert_error(404, "not_found");
    char uri[400] = "/api/activities/";
    memset(uri + strlen(uri), 'a', 300);
    uri[16 + 300] = '\0';
    get(uri);
    assert_error(404, "not_found");
}
END_TEST

START_TEST(test_messages_reads)
{
    get("/api/message_groups");
    assert_json_answer(200);
    ck_assert_uint_eq(json_array_size(answer), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(answer, 0), "handle")), "bayko");
    get("/api/messages/@worf");
    assert_json_answer(200);
    ck_assert_uint_eq(json_array_size(answer), 3);
    get("/api/messages/@nobody");
    assert_error(404, "not_found");
    get("/api/messages/@");
    assert_error(404, "not_found");
}
END_TEST

START_TEST(test_health)
{
    get("/api/health-check");
    assert_json_answer(200);
    assert_body("{\"success\":true}");
    ASSERT_HEADER("Access-Control-Allow-Origin", FRONT);
}
END_TEST

START_TEST(test_health_failing)
{
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, "ALTER TABLE users RENAME TO people", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    get("/api/health-check");
    assert_json_answer(503);
    assert_body("{\"success\":false,\"error\":\"unavailable\",\"failing\":\"database\"}");
    ASSERT_HEADER("Access-Control-Allow-Origin", FRONT);
}
END_TEST

START_TEST(test_rollbar_test)
{
    get("/rollbar/test");
    ck_assert_int_eq(resp.status, 200);
    ASSERT_HEADER("Content-Type", "text/plain; charset=utf-8");
    assert_body("Hello World!");
    ASSERT_HEADER("Access-Control-Allow-Origin", FRONT);
}
END_TEST

/* ---- routing, methods, CORS -------------------------------------------- */

START_TEST(test_not_found_and_method)
{
    get("/api/nothing");
    assert_error(404, "not_found");
    ck_assert_int_eq(app_last_route(hctx)->id, ROUTE_NONE);
    get("/");
    assert_error(404, "not_found");

    request_with("DELETE", "/api/activities/home", (req_opts){NULL, NULL, FRONT, false, false});
    assert_error(405, "method_not_allowed");
    ASSERT_HEADER("Allow", "GET, HEAD, OPTIONS");
    request_with("PUT", "/api/activities", (req_opts){NULL, NULL, FRONT, false, false});
    assert_error(405, "method_not_allowed");
    ASSERT_HEADER("Allow", "POST, OPTIONS");
    get("/api/activities");
    assert_error(405, "method_not_allowed");
    ASSERT_HEADER("Allow", "POST, OPTIONS");
    post("/api/activities/home", "{}");
    assert_error(405, "method_not_allowed");
    request_with("BREW", "/api/messages", (req_opts){NULL, NULL, FRONT, false, false});
    assert_error(405, "method_not_allowed");
    ASSERT_HEADER("Allow", "POST, OPTIONS");
}
END_TEST

START_TEST(test_preflight)
{
    request_with("OPTIONS", "/api/activities", (req_opts){NULL, NULL, FRONT, false, false});
    ck_assert_int_eq(resp.status, 204);
    ck_assert_uint_eq(resp.body.len, 0);
    ASSERT_HEADER("Allow", "POST, OPTIONS");
    ASSERT_HEADER("Access-Control-Allow-Origin", FRONT);
    ASSERT_HEADER("Access-Control-Allow-Methods", "OPTIONS, GET, HEAD, POST");
    ASSERT_HEADER("Access-Control-Allow-Headers",
                  "content-type, if-modified-since, traceparent, tracestate");
    ck_assert_ptr_nonnull(header("Access-Control-Max-Age"));

    /* The backend's own origin is allowed too (configured with a slash). */
    request_with("OPTIONS", "/api/activities/home", (req_opts){NULL, NULL, "https://api.example", false, false});
    ck_assert_int_eq(resp.status, 204);
    ASSERT_HEADER("Access-Control-Allow-Origin", "https://api.example");
    ASSERT_HEADER("Allow", "GET, HEAD, OPTIONS");

    /* A stranger gets an answer without the permission. */
    request_with("OPTIONS", "/api/activities", (req_opts){NULL, NULL, "https://evil.example", false, false});
    ck_assert_int_eq(resp.status, 204);
    ck_assert_ptr_null(header("Access-Control-Allow-Origin"));
    ck_assert_ptr_null(header("Access-Control-Allow-Methods"));
    request_with("OPTIONS", "/api/nothing", (req_opts){NULL, NULL, FRONT, false, false});
    assert_error(404, "not_found");
}
END_TEST

START_TEST(test_cors_only_for_allowed_origins)
{
    request_with("GET", "/api/activities/home", (req_opts){NULL, NULL, "https://evil.example", false, false});
    ck_assert_int_eq(resp.status, 200);
    ck_assert_ptr_null(header("Access-Control-Allow-Origin"));
    ASSERT_HEADER("Vary", "Origin");
    request_with("GET", "/api/activities/home", (req_opts){NULL, NULL, FRONT "/", false, false});
    ck_assert_ptr_null(header("Access-Control-Allow-Origin"));
    request_with("GET", "/api/activities/home", (req_opts){NULL, NULL, NULL, false, false});
    ck_assert_int_eq(resp.status, 200);
    ck_assert_ptr_null(header("Access-Control-Allow-Origin"));
    ck_assert_ptr_null(header("Vary"));
    get("/api/activities/home");
    ASSERT_HEADER("Access-Control-Expose-Headers", "location, link");
}
END_TEST

/* ---- writes ------------------------------------------------------------- */

START_TEST(test_create)
{
    post("/api/activities", "{\"message\": \"From the handler\", \"ttl\": \"1-hour\"}");
    assert_json_answer(200);
    ASSERT_HEADER("Access-Control-Allow-Origin", FRONT);
    ck_assert_str_eq(json_string_value(json_object_get(answer, "message")), "From the handler");
    ck_assert_uint_eq(json_array_size(json_object_get(answer, "replies")), 0);
    ck_assert(json_is_array(json_object_get(answer, "replies")));
    int64_t created, expires;
    ck_assert_int_eq(tstamp_parse_iso8601(json_string_value(json_object_get(answer, "created_at")), &created), 0);
    ck_assert_int_eq(tstamp_parse_iso8601(json_string_value(json_object_get(answer, "expires_at")), &expires), 0);
    ck_assert_int_eq(expires - created, 3600000000LL);
    char uri[128];
    snprintf(uri, sizeof uri, "/api/activities/%s", json_string_value(json_object_get(answer, "uuid")));
    get(uri);
    assert_json_answer(200);
    ck_assert_str_eq(json_string_value(json_object_get(answer, "message")), "From the handler");

    /* Content-Type parameters and +json types are JSON too. */
    request_with("POST", "/api/activities",
                 (req_opts){"Application/JSON; charset=UTF-8", "{\"message\": \"x\", \"ttl\": \"1-day\"}", NULL, false, false});
    ck_assert_int_eq(resp.status, 200);
}
END_TEST

static const struct {
    const char *uri;
    req_opts o;
    int status;
    const char *code;   /* error code, or the exact 422 body */
} refused[] = {
    {"/api/activities", {"text/plain", "{\"message\":\"a\",\"ttl\":\"1-day\"}", FRONT, false, false}, 415, "unsupported_media_type"},
    {"/api/activities", {NULL, "{\"message\":\"a\",\"ttl\":\"1-day\"}", FRONT, false, false}, 415, "unsupported_media_type"},
    {"/api/activities", {"application/x-www-form-urlencoded", "message=a&ttl=1-day", FRONT, false, false}, 415, "unsupported_media_type"},
    {"/api/activities", {"application/json", "{\"message\":\"a\",\"ttl\":\"1-day\"}", FRONT, true, false}, 413, "payload_too_large"},
    {"/api/activities", {"application/json", "{\"message\":\"a\",", FRONT, false, true}, 400, "incomplete_body"},
    {"/api/activities", {"application/json", "{\"message\":", FRONT, false, false}, 400, "invalid_json"},
    {"/api/activities", {"application/json", "", FRONT, false, false}, 400, "invalid_json"},
    {"/api/activities", {"application/json", NULL, FRONT, false, false}, 400, "invalid_json"},
    {"/api/activities", {"application/json", "{\"message\":\"a\",\"message\":\"b\",\"ttl\":\"1-day\"}", FRONT, false, false}, 400, "invalid_json"},
    {"/api/activities", {"application/json", "{\"message\":\"\\u0000\",\"ttl\":\"1-day\"}", FRONT, false, false}, 400, "invalid_json"},
    {"/api/activities", {"application/json", "{\"message\":\"\xff\",\"ttl\":\"1-day\"}", FRONT, false, false}, 400, "invalid_json"},
    {"/api/activities", {"application/json", "{\"message\":\"a\",\"ttl\":\"1-day\"} x", FRONT, false, false}, 400, "invalid_json"},
    {"/api/activities", {"application/json", "[]", FRONT, false, false}, 422, "[\"message_blank\",\"ttl_blank\"]"},
    {"/api/activities", {"application/json", "\"hi\"", FRONT, false, false}, 422, "[\"message_blank\",\"ttl_blank\"]"},
    {"/api/activities", {"application/json", "{\"message\":\" \",\"ttl\":\"2-days\"}", FRONT, false, false}, 422, "[\"message_blank\",\"ttl_blank\"]"},
    {"/api/activities/" CLOUD "/reply", {"application/json", "{}", FRONT, false, false}, 422, "[\"message_blank\"]"},
    {"/api/activities/" CLOUD "/reply", {"text/plain", "{\"message\":\"a\"}", FRONT, false, false}, 415, "unsupported_media_type"},
    {"/api/activities/" CLOUD "/reply", {"application/json", "{\"message\":", FRONT, false, false}, 400, "invalid_json"},
    {"/api/activities/00000000-0000-4000-8000-000000000000/reply", {"application/json", "{\"message\":\"a\"}", FRONT, false, false}, 404, "not_found"},
    {"/api/activities/nope/reply", {"application/json", "{\"message\":\"a\"}", FRONT, false, false}, 404, "not_found"},
    {"/api/messages", {"application/json", "[1]", FRONT, false, false}, 422, "[\"user_reciever_handle_blank\",\"message_blank\"]"},
    {"/api/messages", {"application/json", "{\"user_receiver_handle\":\"andrewbrown\",\"message\":\"me\"}", FRONT, false, false}, 422, "[\"user_reciever_handle_blank\"]"},
    {"/api/messages", {"application/json", "{\"user_receiver_handle\":\"nobody\",\"message\":\"a\"}", FRONT, false, false}, 404, "not_found"},
    {"/api/messages", {"application/json", "{\"user_receiver_handle\":\"worf\",\"message\":\"a\"}", FRONT, true, false}, 413, "payload_too_large"},
    {"/api/messages", {"text/json", "{\"user_receiver_handle\":\"worf\",\"message\":\"a\"}", FRONT, false, false}, 415, "unsupported_media_type"},
};

START_TEST(test_refused_input_changes_nothing)
{
    char before[256];
    strcpy(before, db_state());
    request_with("POST", refused[_i].uri, refused[_i].o);
    if (refused[_i].status == 422) {
        assert_json_answer(422);
        assert_body(refused[_i].code);
        ASSERT_HEADER("Access-Control-Allow-Origin", FRONT);
    } else {
        assert_error(refused[_i].status, refused[_i].code);
    }
    ck_assert_str_eq(db_state(), before);
}
END_TEST

START_TEST(test_reply)
{
    char before[256];
    strcpy(before, db_state());
    post("/api/activities/" CLOUD "/reply", "{\"message\": \"Agreed\"}");
    assert_json_answer(200);
    ck_assert_str_eq(json_string_value(json_object_get(answer, "reply_to_activity_uuid")), CLOUD);
    ck_assert_ptr_null(json_object_get(answer, "expires_at"));
    ck_assert_ptr_null(json_object_get(answer, "replies"));
    ck_assert_str_ne(db_state(), before);
    get("/api/activities/" CLOUD);
    ck_assert_int_eq(json_integer_value(json_object_get(answer, "replies_count")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(answer, "replies")), 2);
}
END_TEST

START_TEST(test_send_message)
{
    post("/api/messages", "{\"user_receiver_handle\": \"worf\", \"message\": \"Hello\"}");
    assert_json_answer(200);
    ck_assert_str_eq(json_string_value(json_object_get(answer, "handle")), "andrewbrown");
    ck_assert_str_eq(json_string_value(json_object_get(answer, "message")), "Hello");
    get("/api/messages/@worf");
    ck_assert_uint_eq(json_array_size(answer), 4);
}
END_TEST

START_TEST(test_busy_is_503)
{
    char before[256];
    strcpy(before, db_state());
    sqlite3 *other;
    ck_assert_int_eq(sqlite3_open(path, &other), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    post("/api/activities", "{\"message\": \"hi\", \"ttl\": \"1-day\"}");
    assert_error(503, "unavailable");
    assert_body("{\"error\":\"unavailable\",\"message\":\"the database is busy, try again\"}");
    ASSERT_HEADER("Retry-After", "1");
    post("/api/messages", "{\"user_receiver_handle\": \"worf\", \"message\": \"Hello\"}");
    assert_error(503, "unavailable");
    post("/api/activities/" CLOUD "/reply", "{\"message\": \"hi\"}");
    assert_error(503, "unavailable");
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    ck_assert_str_eq(db_state(), before);
}
END_TEST

/* A failure inside a service is a bare 500: no detail reaches the client. */
START_TEST(test_internal_error)
{
    teardown();
    start("nobody");
    char before[256];
    strcpy(before, db_state());
    post("/api/activities", "{\"message\": \"hi\", \"ttl\": \"1-day\"}");
    assert_error(500, "internal_error");
    ck_assert_ptr_null(strstr(body_text(), "nobody"));
    ck_assert_ptr_null(strstr(body_text(), "CRUDDUR"));
    post("/api/messages", "{\"user_receiver_handle\": \"worf\", \"message\": \"Hello\"}");
    assert_error(500, "internal_error");
    ck_assert_str_eq(db_state(), before);
    /* Reads still work for an unknown acting user. */
    get("/api/activities/notifications");
    assert_json_answer(200);
    assert_body("[]");
}
END_TEST

START_TEST(test_after_fork_reseeds)
{
    post("/api/activities", "{\"message\": \"one\", \"ttl\": \"1-day\"}");
    char a[64];
    strcpy(a, json_string_value(json_object_get(answer, "uuid")));
    app_ctx_after_fork(hctx);
    post("/api/activities", "{\"message\": \"two\", \"ttl\": \"1-day\"}");
    ck_assert_int_eq(resp.status, 200);
    ck_assert_str_ne(json_string_value(json_object_get(answer, "uuid")), a);
}
END_TEST

#ifdef CRUDDUR_TEST_ROUTES
START_TEST(test_fail_route)
{
    get("/api/test/fail");
    assert_error(500, "internal_error");
    ck_assert_int_eq(app_last_route(hctx)->id, ROUTE_TEST_FAIL);
}
END_TEST

START_TEST(test_crash_route)
{
    get("/api/test/crash");
}
END_TEST
#endif

Suite *make_suite(void)
{
    Suite *s = suite_create("handlers");
    TCase *tc = tcase_create("routes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_home);
    tcase_add_test(tc, test_head);
    tcase_add_test(tc, test_notifications);
    tcase_add_test(tc, test_user_activities);
    tcase_add_test(tc, test_search);
    tcase_add_test(tc, test_show);
    tcase_add_test(tc, test_messages_reads);
    tcase_add_test(tc, test_health);
    tcase_add_test(tc, test_health_failing);
    tcase_add_test(tc, test_rollbar_test);
    tcase_add_test(tc, test_not_found_and_method);
    tcase_add_test(tc, test_preflight);
    tcase_add_test(tc, test_cors_only_for_allowed_origins);
    tcase_add_test(tc, test_create);
    tcase_add_loop_test(tc, test_refused_input_changes_nothing, 0,
                        (int)(sizeof refused / sizeof refused[0]));
    tcase_add_test(tc, test_reply);
    tcase_add_test(tc, test_send_message);
    tcase_add_test(tc, test_busy_is_503);
    tcase_add_test(tc, test_internal_error);
    tcase_add_test(tc, test_after_fork_reseeds);
#ifdef CRUDDUR_TEST_ROUTES
    tcase_add_test(tc, test_fail_route);
#endif
    suite_add_tcase(s, tc);
#ifdef CRUDDUR_TEST_ROUTES
    /* The crash never reaches a checked teardown: set up and clean up
     * around it, in the parent. */
    TCase *crash = tcase_create("crash");
    tcase_add_unchecked_fixture(crash, setup, teardown);
    /* The crash recorder takes the signal before the sanitizers do, writes
     * its record and lets the worker die of it. */
    tcase_add_test_raise_signal(crash, test_crash_route, SIGSEGV);
    suite_add_tcase(s, crash);
#endif
    return s;
}
