/* Unit tests for app/config: defaults, each variable, and bad values
 * refused with a message that names the variable. */
#include <stdlib.h>
#include <string.h>

#include "app/config.h"
#include "check_main.h"

START_TEST(test_defaults)
{
    char *env[] = {"PATH=/bin", NULL};
    app_config c;
    char err[256] = "";
    ck_assert_int_eq(config_load(&c, env, err, sizeof err), 0);
    ck_assert_str_eq(c.state_dir, CRUDDUR_LOCALSTATEDIR "/lib/cruddur");
    ck_assert_str_eq(c.db_path, CRUDDUR_LOCALSTATEDIR "/lib/cruddur/cruddur.db");
    ck_assert_str_eq(c.user_handle, "andrewbrown");
    ck_assert_str_eq(c.frontend_url, "");
    ck_assert_str_eq(c.backend_url, "");
    ck_assert_uint_eq(c.body_limit, 65536);
    ck_assert_int_eq(c.busy_timeout_ms, 2000);
    ck_assert_int_eq(c.home_limit, 20);
    ck_assert_int_eq(c.spool_copy, CONFIG_COPY_THREAD);
    ck_assert_int_eq(c.spool_gather_ms, 10);
    config_free(&c);
    ck_assert_ptr_null(c.db_path);
}
END_TEST

START_TEST(test_every_variable)
{
    char *env[] = {
        "CRUDDUR_STATE_DIR=/srv/state",
        "CRUDDUR_DB=/data/app.db",
        "CRUDDUR_USER_HANDLE=worf",
        "FRONTEND_URL=https://app.example.com",
        "BACKEND_URL=https://api.example.com",
        "CRUDDUR_BODY_LIMIT=1024",
        "CRUDDUR_DB_BUSY_TIMEOUT_MS=0",
        "CRUDDUR_HOME_LIMIT=100",
        "CRUDDUR_SPOOL_COPY=inline",
        "CRUDDUR_SPOOL_GATHER_MS=0",
        NULL,
    };
    app_config c;
    char err[256];
    ck_assert_int_eq(config_load(&c, env, err, sizeof err), 0);
    ck_assert_str_eq(c.state_dir, "/srv/state");
    ck_assert_str_eq(c.db_path, "/data/app.db");
    ck_assert_str_eq(c.user_handle, "worf");
    ck_assert_str_eq(c.frontend_url, "https://app.example.com");
    ck_assert_str_eq(c.backend_url, "https://api.example.com");
    ck_assert_uint_eq(c.body_limit, 1024);
    ck_assert_int_eq(c.busy_timeout_ms, 0);
    ck_assert_int_eq(c.home_limit, 100);
    ck_assert_int_eq(c.spool_copy, CONFIG_COPY_INLINE);
    ck_assert_int_eq(c.spool_gather_ms, 0);
    config_free(&c);
}
END_TEST

START_TEST(test_spool_copy_modes)
{
    static const struct {
        const char *setting;
        int mode;
    } modes[] = {{"CRUDDUR_SPOOL_COPY=thread", CONFIG_COPY_THREAD},
                 {"CRUDDUR_SPOOL_COPY=inline", CONFIG_COPY_INLINE},
                 {"CRUDDUR_SPOOL_COPY=", CONFIG_COPY_THREAD}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char *env[] = {(char *)modes[i].setting, NULL};
        app_config c;
        char err[256] = "";
        ck_assert_msg(config_load(&c, env, err, sizeof err) == 0, "%s: %s", modes[i].setting, err);
        ck_assert_int_eq(c.spool_copy, modes[i].mode);
        config_free(&c);
    }
}
END_TEST

START_TEST(test_db_follows_state_dir)
{
    char *env[] = {"CRUDDUR_STATE_DIR=/srv/x", NULL};
    app_config c;
    char err[256];
    ck_assert_int_eq(config_load(&c, env, err, sizeof err), 0);
    ck_assert_str_eq(c.db_path, "/srv/x/cruddur.db");
    config_free(&c);
}
END_TEST

START_TEST(test_empty_means_default)
{
    char *env[] = {"CRUDDUR_HOME_LIMIT=", "CRUDDUR_USER_HANDLE=", "FRONTEND_URL=", NULL};
    app_config c;
    char err[256];
    ck_assert_int_eq(config_load(&c, env, err, sizeof err), 0);
    ck_assert_int_eq(c.home_limit, 20);
    ck_assert_str_eq(c.user_handle, "andrewbrown");
    ck_assert_str_eq(c.frontend_url, "");
    config_free(&c);
}
END_TEST

/* Names that share a prefix must not be confused. */
START_TEST(test_exact_names)
{
    char *env[] = {"CRUDDUR_DBX=/nope", "XCRUDDUR_DB=/nope", "CRUDDUR_DB=/yes.db", NULL};
    app_config c;
    char err[256];
    ck_assert_int_eq(config_load(&c, env, err, sizeof err), 0);
    ck_assert_str_eq(c.db_path, "/yes.db");
    config_free(&c);
}
END_TEST

/* where the spool is: the same rule for the API, cruddur-spool and cruddur-export */
static char *spool_path_of(char **env)
{
    char *path = NULL, err[256] = "";
    ck_assert_msg(config_spool_path(env, &path, err, sizeof err) == 0, "%s", err);
    ck_assert_ptr_nonnull(path);
    return path;
}

START_TEST(test_spool_path)
{
    char *both[] = {"CRUDDUR_STATE_DIR=/srv/state", "CRUDDUR_SPOOL=/tmp/x.db", NULL};
    char *path = spool_path_of(both);
    ck_assert_str_eq(path, "/tmp/x.db");
    free(path);

    char *dir[] = {"HOME=/root", "CRUDDUR_STATE_DIR=/srv/state", NULL};
    path = spool_path_of(dir);
    ck_assert_str_eq(path, "/srv/state/spool.db");
    free(path);

    /* empty counts as unset, as for the API */
    char *empty[] = {"CRUDDUR_SPOOL=", "CRUDDUR_STATE_DIR=/srv/state", NULL};
    path = spool_path_of(empty);
    ck_assert_str_eq(path, "/srv/state/spool.db");
    free(path);

    char *none[] = {"CRUDDUR_SPOOLX=/nope", NULL};
    path = spool_path_of(none);
    ck_assert_str_eq(path, CRUDDUR_LOCALSTATEDIR "/lib/cruddur/spool.db");
    free(path);
}
END_TEST

START_TEST(test_spool_path_ignores_other_settings)
{
    /* settings the API would refuse do not stop a query of the spool */
    char *env[] = {"CRUDDUR_BODY_LIMIT=lots", "CRUDDUR_TELEMETRY=maybe",
                   "CRUDDUR_SPOOL=/tmp/y.db", NULL};
    char *path = spool_path_of(env);
    ck_assert_str_eq(path, "/tmp/y.db");
    free(path);

    /* and the API, which takes every setting, finds the same file */
    char *api[] = {"CRUDDUR_STATE_DIR=/srv/state", NULL};
    app_config c;
    char err[256];
    ck_assert_int_eq(config_load(&c, api, err, sizeof err), 0);
    path = spool_path_of(api);
    ck_assert_str_eq(c.spool_path, path);
    free(path);
    config_free(&c);
}
END_TEST

static const struct {
    const char *setting;
    const char *name;
} bad[] = {
    {"CRUDDUR_BODY_LIMIT=0", "CRUDDUR_BODY_LIMIT"},
    {"CRUDDUR_BODY_LIMIT=16777217", "CRUDDUR_BODY_LIMIT"},
    {"CRUDDUR_BODY_LIMIT=64k", "CRUDDUR_BODY_LIMIT"},
    {"CRUDDUR_BODY_LIMIT=-1", "CRUDDUR_BODY_LIMIT"},
    {"CRUDDUR_BODY_LIMIT= 100", "CRUDDUR_BODY_LIMIT"},
    {"CRUDDUR_BODY_LIMIT=99999999999999999999999", "CRUDDUR_BODY_LIMIT"},
    {"CRUDDUR_DB_BUSY_TIMEOUT_MS=60001", "CRUDDUR_DB_BUSY_TIMEOUT_MS"},
    {"CRUDDUR_DB_BUSY_TIMEOUT_MS=abc", "CRUDDUR_DB_BUSY_TIMEOUT_MS"},
    {"CRUDDUR_HOME_LIMIT=0", "CRUDDUR_HOME_LIMIT"},
    {"CRUDDUR_HOME_LIMIT=101", "CRUDDUR_HOME_LIMIT"},
    {"CRUDDUR_HOME_LIMIT=2.5", "CRUDDUR_HOME_LIMIT"},
    {"CRUDDUR_USER_HANDLE=andrew brown", "CRUDDUR_USER_HANDLE"},
    {"CRUDDUR_USER_HANDLE=@worf", "CRUDDUR_USER_HANDLE"},
    {"CRUDDUR_USER_HANDLE=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "CRUDDUR_USER_HANDLE"},
    {"CRUDDUR_SPOOL_COPY=fast", "CRUDDUR_SPOOL_COPY"},
    {"CRUDDUR_SPOOL_COPY=idle", "CRUDDUR_SPOOL_COPY"},
    {"CRUDDUR_SPOOL_COPY=THREAD", "CRUDDUR_SPOOL_COPY"},
    {"CRUDDUR_SPOOL_GATHER_MS=1001", "CRUDDUR_SPOOL_GATHER_MS"},
    {"CRUDDUR_SPOOL_GATHER_MS=-1", "CRUDDUR_SPOOL_GATHER_MS"},
    {"CRUDDUR_SPOOL_GATHER_MS=10ms", "CRUDDUR_SPOOL_GATHER_MS"},
};

START_TEST(test_bad_values)
{
    char *env[] = {(char *)bad[_i].setting, NULL};
    app_config c;
    char err[256] = "";
    ck_assert_int_eq(config_load(&c, env, err, sizeof err), -1);
    ck_assert_msg(strstr(err, bad[_i].name) != NULL, "'%s' does not name %s", err, bad[_i].name);
}
END_TEST

START_TEST(test_limits_accepted)
{
    char *env[] = {"CRUDDUR_BODY_LIMIT=16777216", "CRUDDUR_DB_BUSY_TIMEOUT_MS=60000",
                   "CRUDDUR_HOME_LIMIT=1", NULL};
    app_config c;
    char err[256];
    ck_assert_int_eq(config_load(&c, env, err, sizeof err), 0);
    ck_assert_uint_eq(c.body_limit, 16777216);
    ck_assert_int_eq(c.busy_timeout_ms, 60000);
    ck_assert_int_eq(c.home_limit, 1);
    config_free(&c);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_spool_copy_modes);
    tcase_add_test(tc, test_every_variable);
    tcase_add_test(tc, test_db_follows_state_dir);
    tcase_add_test(tc, test_empty_means_default);
    tcase_add_test(tc, test_exact_names);
    tcase_add_loop_test(tc, test_bad_values, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_limits_accepted);
    tcase_add_test(tc, test_spool_path);
    tcase_add_test(tc, test_spool_path_ignores_other_settings);
    suite_add_tcase(s, tc);
    return s;
}
