/* Unit tests for telemetry/resource: detected attributes, OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES decoding and its all-or-nothing rule. */
#include "check_main.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telemetry/resource.h"

static json_t *build(char **env, char *warn, size_t warn_size)
{
    char *js = NULL;
    ck_assert_int_eq(resource_build(env, &js, warn, warn_size), 0);
    ck_assert_ptr_nonnull(js);
    json_error_t err;
    json_t *j = json_loads(js, JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(j != NULL, "%s: %s", err.text, js);
    free(js);
    return j;
}

static const char *str(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

START_TEST(defaults)
{
    char *env[] = {NULL};
    char w[RESOURCE_WARN_SIZE];
    json_t *j = build(env, w, sizeof w);
    ck_assert_str_eq(w, "");
    ck_assert_str_eq(str(j, "service.name"), "cruddur-api");
    ck_assert_ptr_nonnull(str(j, "service.version"));
    ck_assert_str_eq(str(j, "telemetry.sdk.name"), "cruddur");
    ck_assert_str_eq(str(j, "telemetry.sdk.language"), "c");
    ck_assert_ptr_nonnull(str(j, "telemetry.sdk.version"));
    ck_assert(json_is_integer(json_object_get(j, "process.pid")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "process.pid")), getpid());
    char host[256];
    gethostname(host, sizeof host);
    ck_assert_str_eq(str(j, "host.name"), host);
    ck_assert_uint_eq(json_object_size(j), 7);
    json_decref(j);
}
END_TEST

START_TEST(service_name_and_attributes)
{
    char *env[] = {
        "OTEL_SERVICE_NAME=backend-flask",
        "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod , service.name=ignored,"
        "team=a%2Cb%3Dc,host.name=web%201,empty=",
        NULL,
    };
    char w[RESOURCE_WARN_SIZE];
    json_t *j = build(env, w, sizeof w);
    ck_assert_str_eq(w, "");
    ck_assert_str_eq(str(j, "service.name"), "backend-flask");   /* the variable wins */
    ck_assert_str_eq(str(j, "deployment.environment"), "prod");
    ck_assert_str_eq(str(j, "team"), "a,b=c");                   /* percent-decoded */
    ck_assert_str_eq(str(j, "host.name"), "web 1");              /* overrides detection */
    ck_assert_str_eq(str(j, "empty"), "");
    json_decref(j);

    /* Without OTEL_SERVICE_NAME, the attribute list may name the service. */
    char *env2[] = {"OTEL_RESOURCE_ATTRIBUTES=service.name=from-list", NULL};
    j = build(env2, w, sizeof w);
    ck_assert_str_eq(str(j, "service.name"), "from-list");
    json_decref(j);
}
END_TEST

START_TEST(malformed_list_is_ignored_whole)
{
    static char *bad[] = {
        "OTEL_RESOURCE_ATTRIBUTES=a=1,b",          /* no '=' */
        "OTEL_RESOURCE_ATTRIBUTES=a=1,=2",         /* empty key */
        "OTEL_RESOURCE_ATTRIBUTES=a=1,b=%zz",      /* bad escape */
        "OTEL_RESOURCE_ATTRIBUTES=a=1,b=%4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *env[] = {bad[i], NULL};
        char w[RESOURCE_WARN_SIZE];
        json_t *j = build(env, w, sizeof w);
        ck_assert_msg(strstr(w, "OTEL_RESOURCE_ATTRIBUTES") != NULL, "%s", bad[i]);
        ck_assert_ptr_null(json_object_get(j, "a"));   /* nothing from it kept */
        ck_assert_str_eq(str(j, "service.name"), "cruddur-api");
        json_decref(j);
    }
}
END_TEST

START_TEST(process_environment)
{
    setenv("OTEL_SERVICE_NAME", "from-env", 1);
    char w[RESOURCE_WARN_SIZE];
    json_t *j = build(NULL, w, sizeof w);
    ck_assert_str_eq(str(j, "service.name"), "from-env");
    json_decref(j);
    unsetenv("OTEL_SERVICE_NAME");
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("resource");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, service_name_and_attributes);
    tcase_add_test(tc, malformed_list_is_ignored_whole);
    tcase_add_test(tc, process_environment);
    suite_add_tcase(s, tc);
    return s;
}
