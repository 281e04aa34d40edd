/* Unit tests for http/router: every route, 404, 405 and path parameters. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <string.h>

#include "check_main.h"
#include "http/router.h"

#define GET_ALLOW (HTTP_GET | HTTP_HEAD | HTTP_OPTIONS)
#define POST_ALLOW (HTTP_POST | HTTP_OPTIONS)

static const struct {
    http_method method;
    const char *path;
    int rc;
    route_id id;
    const char *template;
    const char *param;
} cases[] = {
    {HTTP_GET, "/api/activities/home", 200, ROUTE_HOME, "/api/activities/home", ""},
    {HTTP_HEAD, "/api/activities/home", 200, ROUTE_HOME, "/api/activities/home", ""},
    {HTTP_OPTIONS, "/api/activities/home", 200, ROUTE_HOME, "/api/activities/home", ""},
    {HTTP_GET, "/api/activities/notifications", 200, ROUTE_NOTIFICATIONS,
     "/api/activities/notifications", ""},
    {HTTP_GET, "/api/activities/search", 200, ROUTE_SEARCH, "/api/activities/search", ""},
    {HTTP_GET, "/api/activities/@andrewbrown", 200, ROUTE_USER_ACTIVITIES,
     "/api/activities/@{handle}", "andrewbrown"},
    {HTTP_HEAD, "/api/activities/@worf", 200, ROUTE_USER_ACTIVITIES,
     "/api/activities/@{handle}", "worf"},
    {HTTP_GET, "/api/activities/@", 200, ROUTE_USER_ACTIVITIES, "/api/activities/@{handle}", ""},
    {HTTP_GET, "/api/activities/@@x", 200, ROUTE_USER_ACTIVITIES, "/api/activities/@{handle}",
     "@x"},
    {HTTP_GET, "/api/activities/@caf\xc3\xa9 x", 200, ROUTE_USER_ACTIVITIES,
     "/api/activities/@{handle}", "caf\xc3\xa9 x"},
    {HTTP_POST, "/api/activities", 200, ROUTE_CREATE_ACTIVITY, "/api/activities", ""},
    {HTTP_OPTIONS, "/api/activities", 200, ROUTE_CREATE_ACTIVITY, "/api/activities", ""},
    {HTTP_GET, "/api/activities/68f126b0-1ceb-4a33-88be-d90fa7109eee", 200, ROUTE_SHOW_ACTIVITY,
     "/api/activities/{activity_uuid}", "68f126b0-1ceb-4a33-88be-d90fa7109eee"},
    {HTTP_GET, "/api/activities/not-a-uuid", 200, ROUTE_SHOW_ACTIVITY,
     "/api/activities/{activity_uuid}", "not-a-uuid"},
    {HTTP_GET, "/api/activities/homes", 200, ROUTE_SHOW_ACTIVITY,
     "/api/activities/{activity_uuid}", "homes"},
    {HTTP_GET, "/api/activities/Search", 200, ROUTE_SHOW_ACTIVITY,
     "/api/activities/{activity_uuid}", "Search"},
    {HTTP_POST, "/api/activities/68f126b0-1ceb-4a33-88be-d90fa7109eee/reply", 200, ROUTE_REPLY,
     "/api/activities/{activity_uuid}/reply", "68f126b0-1ceb-4a33-88be-d90fa7109eee"},
    {HTTP_POST, "/api/activities/home/reply", 200, ROUTE_REPLY,
     "/api/activities/{activity_uuid}/reply", "home"},
    {HTTP_GET, "/api/message_groups", 200, ROUTE_MESSAGE_GROUPS, "/api/message_groups", ""},
    {HTTP_GET, "/api/messages/@worf", 200, ROUTE_MESSAGES, "/api/messages/@{handle}", "worf"},
    {HTTP_GET, "/api/messages/@", 200, ROUTE_MESSAGES, "/api/messages/@{handle}", ""},
    {HTTP_POST, "/api/messages", 200, ROUTE_CREATE_MESSAGE, "/api/messages", ""},
    {HTTP_GET, "/api/health-check", 200, ROUTE_HEALTH, "/api/health-check", ""},
    {HTTP_HEAD, "/api/health-check", 200, ROUTE_HEALTH, "/api/health-check", ""},
    {HTTP_GET, "/rollbar/test", 200, ROUTE_ROLLBAR_TEST, "/rollbar/test", ""},

    /* 405: the path exists, the method does not */
    {HTTP_POST, "/api/activities/home", 405, ROUTE_NONE, "/api/activities/home", ""},
    {HTTP_GET, "/api/activities", 405, ROUTE_NONE, "/api/activities", ""},
    {HTTP_HEAD, "/api/activities", 405, ROUTE_NONE, "/api/activities", ""},
    {HTTP_PUT, "/api/activities/x", 405, ROUTE_NONE, "/api/activities/{activity_uuid}", "x"},
    {HTTP_DELETE, "/api/activities/@worf", 405, ROUTE_NONE, "/api/activities/@{handle}",
     "worf"},
    {HTTP_GET, "/api/activities/x/reply", 405, ROUTE_NONE,
     "/api/activities/{activity_uuid}/reply", "x"},
    {HTTP_PATCH, "/api/messages", 405, ROUTE_NONE, "/api/messages", ""},
    {HTTP_OTHER, "/api/health-check", 405, ROUTE_NONE, "/api/health-check", ""},
    {HTTP_POST, "/rollbar/test", 405, ROUTE_NONE, "/rollbar/test", ""},

    /* 404 */
    {HTTP_GET, "/", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api/", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api/activities/", 404, ROUTE_NONE, NULL, ""},        /* empty uuid segment */
    {HTTP_GET, "/api/activities/home/", 404, ROUTE_NONE, NULL, ""},   /* trailing slash */
    {HTTP_POST, "/api/activities/", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api/health-check/", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api/activities/@worf/", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api/activities/@worf/x", 404, ROUTE_NONE, NULL, ""},
    {HTTP_POST, "/api/activities//reply", 404, ROUTE_NONE, NULL, ""},
    {HTTP_POST, "/api/activities/x/reply/", 404, ROUTE_NONE, NULL, ""},
    {HTTP_POST, "/api/activities/x/replies", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api/messages/worf", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api/messages/", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api/message_groups/x", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/API/activities/home", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "//api/activities/home", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api/activitieshome", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/rollbar/test2", 404, ROUTE_NONE, NULL, ""},
    {HTTP_OPTIONS, "/nope", 404, ROUTE_NONE, NULL, ""},
#ifdef CRUDDUR_TEST_ROUTES
    {HTTP_GET, "/api/test/crash", 200, ROUTE_TEST_CRASH, "/api/test/crash", ""},
    {HTTP_GET, "/api/test/fail", 200, ROUTE_TEST_FAIL, "/api/test/fail", ""},
    {HTTP_POST, "/api/test/fail", 405, ROUTE_NONE, "/api/test/fail", ""},
#else
    {HTTP_GET, "/api/test/crash", 404, ROUTE_NONE, NULL, ""},
    {HTTP_GET, "/api/test/fail", 404, ROUTE_NONE, NULL, ""},
#endif
};

START_TEST(test_table)
{
    route_match m;
    memset(&m, 0x5a, sizeof m);
    int rc = route_match_path(cases[_i].method, cases[_i].path, &m);
    ck_assert_msg(rc == cases[_i].rc, "%s: rc %d", cases[_i].path, rc);
    ck_assert_msg(m.id == cases[_i].id, "%s: id %d", cases[_i].path, (int)m.id);
    if (cases[_i].template)
        ck_assert_str_eq(m.template, cases[_i].template);
    else
        ck_assert_ptr_null(m.template);
    ck_assert_str_eq(m.param, cases[_i].param);
    ck_assert_int_eq(m.param_too_long, 0);
    if (rc == 404)
        ck_assert_uint_eq(m.allow, 0);
    else if (strstr(cases[_i].template, "reply") || strcmp(cases[_i].template, "/api/activities") == 0 ||
             strcmp(cases[_i].template, "/api/messages") == 0)
        ck_assert_uint_eq(m.allow, POST_ALLOW);
    else
        ck_assert_uint_eq(m.allow, GET_ALLOW);
}
END_TEST

START_TEST(test_every_route_is_reachable)
{
    /* Each id from ROUTE_HOME to ROUTE_ROLLBAR_TEST appears in the table. */
    int seen[ROUTE_COUNT] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (cases[i].rc == 200)
            seen[cases[i].id] = 1;
    for (int id = ROUTE_HOME; id <= ROUTE_ROLLBAR_TEST; id++)
        ck_assert_msg(seen[id], "route %d untested", id);
}
END_TEST

START_TEST(test_405_allow_string)
{
    route_match m;
    char allow[64];
    ck_assert_int_eq(route_match_path(HTTP_POST, "/api/activities/home", &m), 405);
    route_allow_string(m.allow, allow, sizeof allow);
    ck_assert_str_eq(allow, "GET, HEAD, OPTIONS");
    ck_assert_int_eq(route_match_path(HTTP_GET, "/api/messages", &m), 405);
    route_allow_string(m.allow, allow, sizeof allow);
    ck_assert_str_eq(allow, "POST, OPTIONS");
}
END_TEST

START_TEST(test_allow_string)
{
    char out[64];
    route_allow_string(HTTP_GET, out, sizeof out);
    ck_assert_str_eq(out, "GET, HEAD");                    /* GET implies HEAD */
    route_allow_string(HTTP_GET | HTTP_OPTIONS, out, sizeof out);
    ck_assert_str_eq(out, "GET, HEAD, OPTIONS");
    route_allow_string(HTTP_OPTIONS | HTTP_POST, out, sizeof out);
    ck_assert_str_eq(out, "POST, OPTIONS");
    route_allow_string(HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_PATCH |
                           HTTP_OPTIONS, out, sizeof out);
    ck_assert_str_eq(out, "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS");
    route_allow_string(0, out, sizeof out);
    ck_assert_str_eq(out, "");
    /* Too small: whole names only, always terminated. */
    route_allow_string(HTTP_GET | HTTP_OPTIONS, out, 12);
    ck_assert_str_eq(out, "GET, HEAD");
    route_allow_string(HTTP_GET, out, 3);
    ck_assert_str_eq(out, "");
    out[0] = 'x';
    route_allow_string(HTTP_GET, out, 0);
    ck_assert_int_eq(out[0], 'x');
}
END_TEST

START_TEST(test_long_param)
{
    char path[64 + ROUTE_PARAM_MAX + 2];
    route_match m;

    /* Exactly the limit is kept. */
    strcpy(path, "/api/activities/@");
    size_t n = strlen(path);
    memset(path + n, 'h', ROUTE_PARAM_MAX);
    path[n + ROUTE_PARAM_MAX] = '\0';
    ck_assert_int_eq(route_match_path(HTTP_GET, path, &m), 200);
    ck_assert_int_eq(m.id, ROUTE_USER_ACTIVITIES);
    ck_assert_int_eq(m.param_too_long, 0);
    ck_assert_uint_eq(strlen(m.param), ROUTE_PARAM_MAX);

    /* One more still matches, flagged, without the parameter. */
    path[n + ROUTE_PARAM_MAX] = 'h';
    path[n + ROUTE_PARAM_MAX + 1] = '\0';
    ck_assert_int_eq(route_match_path(HTTP_GET, path, &m), 200);
    ck_assert_int_eq(m.id, ROUTE_USER_ACTIVITIES);
    ck_assert_int_eq(m.param_too_long, 1);
    ck_assert_str_eq(m.param, "");

    char big[ROUTE_PARAM_MAX + 64];
    strcpy(big, "/api/activities/");
    n = strlen(big);
    memset(big + n, 'u', ROUTE_PARAM_MAX + 1);
    strcpy(big + n + ROUTE_PARAM_MAX + 1, "/reply");
    ck_assert_int_eq(route_match_path(HTTP_POST, big, &m), 200);
    ck_assert_int_eq(m.id, ROUTE_REPLY);
    ck_assert_int_eq(m.param_too_long, 1);
    ck_assert_str_eq(m.param, "");
}
END_TEST

START_TEST(test_null_path)
{
    route_match m;
    ck_assert_int_eq(route_match_path(HTTP_GET, NULL, &m), 404);
    ck_assert_int_eq(m.id, ROUTE_NONE);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_table, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_every_route_is_reachable);
    tcase_add_test(tc, test_405_allow_string);
    tcase_add_test(tc, test_allow_string);
    tcase_add_test(tc, test_long_param);
    tcase_add_test(tc, test_null_path);
    suite_add_tcase(s, tc);
    return s;
}
