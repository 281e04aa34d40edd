/* Unit tests for expcfg: env files (the environment wins, quotes, comments,
 * errors with line numbers), OTLP header lists and URL joining. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "export/expcfg.h"

static char path[64];

static void write_file(const char *text)
{
    strcpy(path, "/tmp/test_expcfg.XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

START_TEST(env_file_sets_what_is_missing)
{
    unsetenv("XT_A");
    unsetenv("XT_B");
    unsetenv("XT_C");
    unsetenv("XT_D");
    setenv("XT_KEEP", "mine", 1);
    write_file("# a comment\n\nXT_A=1\nexport XT_B = \"two words\" \nXT_C='x=y,z'\n"
               "XT_KEEP=theirs\nXT_D=\n");
    char err[200] = "";
    ck_assert_int_eq(expcfg_load_env_file(path, err, sizeof err), 4);
    ck_assert_str_eq(getenv("XT_A"), "1");
    ck_assert_str_eq(getenv("XT_B"), "two words");
    ck_assert_str_eq(getenv("XT_C"), "x=y,z");
    ck_assert_str_eq(getenv("XT_D"), "");
    ck_assert_str_eq(getenv("XT_KEEP"), "mine");
    unlink(path);
}
END_TEST

START_TEST(env_file_errors)
{
    char err[200] = "";
    ck_assert_int_eq(expcfg_load_env_file("/nonexistent/env", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/env"));

    write_file("XT_OK=1\nnot a setting\n");
    ck_assert_int_eq(expcfg_load_env_file(path, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ":2: expected NAME=VALUE"));
    unlink(path);

    write_file("1X=2\n");
    ck_assert_int_eq(expcfg_load_env_file(path, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ":1: not a variable name"));
    unlink(path);

    write_file("XT_Q=\"open\n");
    ck_assert_int_eq(expcfg_load_env_file(path, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "unterminated quote"));
    unlink(path);
}
END_TEST

START_TEST(headers_parse_and_replace)
{
    expcfg_headers h = EXPCFG_HEADERS_INIT;
    char err[200] = "";
    ck_assert_int_eq(expcfg_headers_parse(&h, " x-honeycomb-team = abc%20def , x-honeycomb-dataset=ds", err,
                                          sizeof err), 0);
    ck_assert_uint_eq(h.n, 2);
    ck_assert_str_eq(h.v[0], "x-honeycomb-team: abc def");
    ck_assert_str_eq(h.v[1], "x-honeycomb-dataset: ds");
    ck_assert_ptr_null(h.v[2]);
    ck_assert_str_eq(expcfg_headers_get(&h, "X-Honeycomb-Team"), "abc def");
    ck_assert_ptr_null(expcfg_headers_get(&h, "x-honeycomb"));
    /* a signal-specific list replaces the general one's entry */
    ck_assert_int_eq(expcfg_headers_parse(&h, "X-HONEYCOMB-TEAM=other", err, sizeof err), 0);
    ck_assert_uint_eq(h.n, 2);
    ck_assert_str_eq(expcfg_headers_get(&h, "x-honeycomb-team"), "other");
    ck_assert_int_eq(expcfg_headers_set(&h, "Content-Type", "application/json"), 0);
    ck_assert_str_eq(h.v[2], "Content-Type: application/json");
    ck_assert_int_eq(expcfg_headers_parse(&h, "", err, sizeof err), 0);
    ck_assert_int_eq(expcfg_headers_parse(&h, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(h.n, 3);
    expcfg_headers_free(&h);
}
END_TEST

START_TEST(headers_refuse_bad_lists_whole)
{
    expcfg_headers h = EXPCFG_HEADERS_INIT;
    char err[200] = "";
    ck_assert_int_eq(expcfg_headers_parse(&h, "a=1,b", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "without '='"));
    ck_assert_uint_eq(h.n, 0);
    ck_assert_int_eq(expcfg_headers_parse(&h, "a=%zz", err, sizeof err), -1);
    ck_assert_int_eq(expcfg_headers_parse(&h, "a=%0d%0a", err, sizeof err), -1);
    ck_assert_int_eq(expcfg_headers_parse(&h, "bad name=1", err, sizeof err), -1);
    ck_assert_int_eq(expcfg_headers_parse(&h, "=1", err, sizeof err), -1);
    ck_assert_uint_eq(h.n, 0);
    expcfg_headers_free(&h);
}
END_TEST

START_TEST(urls_join_with_one_slash)
{
    char *u = expcfg_join_url("http://h:4318", "v1/traces");
    ck_assert_str_eq(u, "http://h:4318/v1/traces");
    free(u);
    u = expcfg_join_url("https://api.honeycomb.io/", "/v1/logs");
    ck_assert_str_eq(u, "https://api.honeycomb.io/v1/logs");
    free(u);
    u = expcfg_join_url("http://h/prefix//", "api/1/item/");
    ck_assert_str_eq(u, "http://h/prefix/api/1/item/");
    free(u);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("export_expcfg");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, env_file_sets_what_is_missing);
    tcase_add_test(tc, env_file_errors);
    tcase_add_test(tc, headers_parse_and_replace);
    tcase_add_test(tc, headers_refuse_bad_lists_whole);
    tcase_add_test(tc, urls_join_with_one_slash);
    suite_add_tcase(s, tc);
    return s;
}
