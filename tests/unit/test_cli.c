/* Unit tests for cli/cli: durations, trace ids, counts, where the spool
 * is, times, and the column output of cruddur-spool. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "cli/cli.h"

/* ---- durations -------------------------------------------------------------- */

static const struct {
    const char *text;
    int64_t seconds;
} good_durations[] = {
    {"30s", 30}, {"15m", 900}, {"1h", 3600}, {"2d", 172800}, {"1s", 1},
    {"90m", 5400}, {"0001h", 3600}, {"36600d", 36600LL * 86400},
};

START_TEST(test_duration_good)
{
    int64_t ns = -1;
    ck_assert_int_eq(cli_parse_duration(good_durations[_i].text, &ns), 0);
    ck_assert_int_eq(ns, good_durations[_i].seconds * 1000000000LL);
}
END_TEST

static const char *const bad_durations[] = {
    "", "s", "15", "m15", "0s", "00m", "-1h", "+1h", "1.5h", "1 h", " 1h", "1h ", "1H",
    "1w", "1hh", "1ms", "36601d", "999999999999d", "99999999999999s", "12345678901234567s",
};

START_TEST(test_duration_bad)
{
    int64_t ns = 42;
    ck_assert_int_eq(cli_parse_duration(bad_durations[_i], &ns), -1);
    ck_assert_int_eq(ns, 42);
}
END_TEST

START_TEST(test_duration_null)
{
    int64_t ns = 42;
    ck_assert_int_eq(cli_parse_duration(NULL, &ns), -1);
    ck_assert_int_eq(ns, 42);
}
END_TEST

/* ---- trace ids ---------------------------------------------------------------- */

static const struct {
    const char *text, *want;
} good_ids[] = {
    {"6b04bed47d0728da0cfc8bf6f2fb493a", "6b04bed47d0728da0cfc8bf6f2fb493a"},
    {"6B04BED47D0728DA0CFC8BF6F2FB493A", "6b04bed47d0728da0cfc8bf6f2fb493a"},
    {"6b04BED47d0728da0cfc8bf6f2fb493A", "6b04bed47d0728da0cfc8bf6f2fb493a"},
    {"1-6b04bed4-7d0728da0cfc8bf6f2fb493a", "6b04bed47d0728da0cfc8bf6f2fb493a"},
    {"1-6B04BED4-7D0728DA0CFC8BF6F2FB493A", "6b04bed47d0728da0cfc8bf6f2fb493a"},
    {"00000000000000000000000000000001", "00000000000000000000000000000001"},
};

START_TEST(test_trace_id_good)
{
    char out[33];
    memset(out, 'x', sizeof out);
    ck_assert_int_eq(cli_trace_id(good_ids[_i].text, out), 0);
    ck_assert_str_eq(out, good_ids[_i].want);
}
END_TEST

static const char *const bad_ids[] = {
    "",
    "6b04bed47d0728da0cfc8bf6f2fb493",                 /* 31 */
    "6b04bed47d0728da0cfc8bf6f2fb493a0",               /* 33 */
    "6b04bed47d0728da0cfc8bf6f2fb493g",
    "6b04bed47d0728da-cfc8bf6f2fb493a",
    "00000000000000000000000000000000",
    "1-00000000-000000000000000000000000",
    "2-6b04bed4-7d0728da0cfc8bf6f2fb493a",
    "1-6b04bed47d0728da0cfc8bf6f2fb493a-",
    "1_6b04bed4_7d0728da0cfc8bf6f2fb493a",
    "1-6b04bed4-7d0728da0cfc8bf6f2fb493z",
    "Root=1-6b04bed4-7d0728da0cfc8bf6f2fb493a",
    "00-6b04bed47d0728da0cfc8bf6f2fb493a-0102030405060708-01",
    " 6b04bed47d0728da0cfc8bf6f2fb493a",
    "6b04bed47d0728da0cfc8bf6f2fb493a\n",
};

START_TEST(test_trace_id_bad)
{
    char out[33] = "untouched";
    ck_assert_int_eq(cli_trace_id(bad_ids[_i], out), -1);
    ck_assert_str_eq(out, "untouched");
}
END_TEST

START_TEST(test_trace_id_long_input_is_bounded)
{
    size_t n = 1 << 20;
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, 'a', n);
    s[n] = '\0';
    char out[33] = "untouched";
    ck_assert_int_eq(cli_trace_id(s, out), -1);
    ck_assert_int_eq(cli_trace_id(NULL, out), -1);
    ck_assert_str_eq(out, "untouched");
    free(s);
}
END_TEST

/* ---- counts ----------------------------------------------------------------- */

START_TEST(test_count)
{
    long v = 7;
    ck_assert_int_eq(cli_parse_count("1", 1, 10000, &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(cli_parse_count("10000", 1, 10000, &v), 0);
    ck_assert_int_eq(v, 10000);
    ck_assert_int_eq(cli_parse_count("050", 1, 10000, &v), 0);
    ck_assert_int_eq(v, 50);
    v = 7;
    const char *bad[] = {"", "0", "10001", "-1", "+1", "1e3", " 5", "5 ", "0x10",
                         "99999999999999999999999999", NULL};
    for (int i = 0; bad[i] != NULL; i++)
        ck_assert_msg(cli_parse_count(bad[i], 1, 10000, &v) == -1, "took '%s'", bad[i]);
    ck_assert_int_eq(cli_parse_count(NULL, 1, 10000, &v), -1);
    ck_assert_int_eq(v, 7);
}
END_TEST

/* ---- times ------------------------------------------------------------------ */

START_TEST(test_time_utc)
{
    char out[CLI_TIME_SIZE];
    ck_assert_int_eq(cli_time_utc(0, out), 0);
    ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    ck_assert_int_eq(cli_time_utc(1678096555982431999LL, out), 0);
    ck_assert_str_eq(out, "2023-03-06T09:55:55.982Z");
    /* to the nearest millisecond, carrying into the second, the year */
    ck_assert_int_eq(cli_time_utc(1678096555982500000LL, out), 0);
    ck_assert_str_eq(out, "2023-03-06T09:55:55.983Z");
    ck_assert_int_eq(cli_time_utc(999499999, out), 0);
    ck_assert_str_eq(out, "1970-01-01T00:00:00.999Z");
    ck_assert_int_eq(cli_time_utc(999500000, out), 0);
    ck_assert_str_eq(out, "1970-01-01T00:00:01.000Z");
    ck_assert_int_eq(cli_time_utc(1704067199999600000LL, out), 0);
    ck_assert_str_eq(out, "2024-01-01T00:00:00.000Z");
    ck_assert_int_eq(cli_time_utc(-1, out), 0);
    ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    ck_assert_int_eq(cli_time_utc(-500001, out), 0);
    ck_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
    ck_assert_int_eq(cli_time_utc(INT64_MAX, out), 0);
    ck_assert_str_eq(out, "2262-04-11T23:47:16.855Z");
    ck_assert_int_eq(cli_time_utc(INT64_MIN, out), 0);
    ck_assert_str_eq(out, "1677-09-21T00:12:43.145Z");
    ck_assert_uint_eq(strlen(out), CLI_TIME_SIZE - 1);
}
END_TEST

/* ---- tables ------------------------------------------------------------------ */

static char *render(const cli_table *t)
{
    buf_t b = BUF_INIT;
    ck_assert_int_eq(cli_table_render(t, &b), 0);
    return buf_steal(&b);
}

START_TEST(test_table_aligns_columns)
{
    static const cli_column cols[] = {
        {"span", CLI_LEFT}, {"ms", CLI_RIGHT}, {"status", CLI_LEFT},
    };
    cli_table *t = NULL;
    ck_assert_int_eq(cli_table_new(cols, 3, &t), 0);
    ck_assert_uint_eq(cli_table_rows(t), 0);
    const char *r1[] = {"GET /api/activities/home", "16.868", "ERROR boom"};
    const char *r2[] = {"  SELECT activities", "8.2", NULL};
    ck_assert_int_eq(cli_table_add(t, r1), 0);
    ck_assert_int_eq(cli_table_add(t, r2), 0);
    ck_assert_uint_eq(cli_table_rows(t), 2);
    char *s = render(t);
    ck_assert_str_eq(s,
        "span                          ms  status\n"
        "------------------------  ------  ----------\n"
        "GET /api/activities/home  16.868  ERROR boom\n"
        "  SELECT activities          8.2\n");
    free(s);
    cli_table_free(t);
}
END_TEST

START_TEST(test_table_empty_has_a_header)
{
    static const cli_column cols[] = {{"exporter", CLI_LEFT}, {"backlog", CLI_RIGHT}};
    cli_table *t = NULL;
    ck_assert_int_eq(cli_table_new(cols, 2, &t), 0);
    char *s = render(t);
    ck_assert_str_eq(s, "exporter  backlog\n--------  -------\n");
    free(s);
    cli_table_free(t);
}
END_TEST

START_TEST(test_table_counts_characters_not_bytes)
{
    static const cli_column cols[] = {{"who", CLI_LEFT}, {"n", CLI_RIGHT}};
    cli_table *t = NULL;
    ck_assert_int_eq(cli_table_new(cols, 2, &t), 0);
    const char *r1[] = {"\xc3\xa9t\xc3\xa9", "1"};     /* "été": 3 characters, 5 bytes */
    const char *r2[] = {"abcd", "22"};
    ck_assert_int_eq(cli_table_add(t, r1), 0);
    ck_assert_int_eq(cli_table_add(t, r2), 0);
    char *s = render(t);
    ck_assert_str_eq(s,
        "who    n\n"
        "----  --\n"
        "\xc3\xa9t\xc3\xa9    1\n"
        "abcd  22\n");
    free(s);
    cli_table_free(t);
}
END_TEST

START_TEST(test_table_escapes_what_a_terminal_would_act_on)
{
    static const cli_column cols[] = {{"body", CLI_LEFT}, {"x", CLI_LEFT}};
    cli_table *t = NULL;
    ck_assert_int_eq(cli_table_new(cols, 2, &t), 0);
    const char *r1[] = {"a\nb\tc\rd\x1b[31me\x7f", "y"};
    const char *r2[] = {"bad \xff\xc3 utf8 \xc2\x9b c1", "z"};
    ck_assert_int_eq(cli_table_add(t, r1), 0);
    ck_assert_int_eq(cli_table_add(t, r2), 0);
    char *s = render(t);
    ck_assert_str_eq(s,
        "body" "                       " "  x\n"
        "---------------------------  -\n"
        "a\\nb\\tc\\rd\\x1b[31me\\x7f" "    " "  y\n"
        "bad \\xff\\xc3 utf8 \\u009b c1  z\n");
    free(s);
    cli_table_free(t);
}
END_TEST

START_TEST(test_table_cuts_long_cells)
{
    static const cli_column cols[] = {{"message", CLI_LEFT}};
    cli_table *t = NULL;
    ck_assert_int_eq(cli_table_new(cols, 1, &t), 0);
    char exact[CLI_CELL_MAX + 1], longer[CLI_CELL_MAX + 2], huge[100000];
    memset(exact, 'a', CLI_CELL_MAX);
    exact[CLI_CELL_MAX] = '\0';
    memset(longer, 'b', CLI_CELL_MAX + 1);
    longer[CLI_CELL_MAX + 1] = '\0';
    memset(huge, '\n', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    const char *r1[] = {exact}, *r2[] = {longer}, *r3[] = {huge};
    ck_assert_int_eq(cli_table_add(t, r1), 0);
    ck_assert_int_eq(cli_table_add(t, r2), 0);
    ck_assert_int_eq(cli_table_add(t, r3), 0);
    char *s = render(t);
    /* header, dashes, then the three rows, each at most CLI_CELL_MAX wide */
    char *line = strtok(s, "\n");
    ck_assert_str_eq(line, "message");
    line = strtok(NULL, "\n");
    ck_assert_uint_eq(strlen(line), CLI_CELL_MAX);
    line = strtok(NULL, "\n");
    ck_assert_str_eq(line, exact);
    line = strtok(NULL, "\n");
    ck_assert_uint_eq(strlen(line), CLI_CELL_MAX);
    ck_assert_str_eq(line + CLI_CELL_MAX - 3, "...");
    ck_assert_int_eq(line[CLI_CELL_MAX - 4], 'b');
    line = strtok(NULL, "\n");
    ck_assert_uint_eq(strlen(line), CLI_CELL_MAX - 1);   /* no half "\n" before "..." */
    ck_assert_str_eq(line + CLI_CELL_MAX - 4, "...");
    ck_assert_int_eq(strncmp(line, "\\n\\n", 4), 0);
    ck_assert_ptr_null(strtok(NULL, "\n"));
    free(s);
    cli_table_free(t);
}
END_TEST

START_TEST(test_table_bad_arguments)
{
    static const cli_column cols[CLI_TABLE_MAX_COLS + 1] = {{"a", CLI_LEFT}};
    cli_table *t = NULL;
    ck_assert_int_eq(cli_table_new(cols, 0, &t), -1);
    ck_assert_int_eq(cli_table_new(cols, CLI_TABLE_MAX_COLS + 1, &t), -1);
    ck_assert_int_eq(cli_table_new(NULL, 1, &t), -1);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(cli_table_add(NULL, NULL), -1);
    ck_assert_uint_eq(cli_table_rows(NULL), 0);
    cli_table_free(NULL);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("arguments");
    tcase_add_loop_test(tc, test_duration_good, 0,
                        (int)(sizeof good_durations / sizeof good_durations[0]));
    tcase_add_loop_test(tc, test_duration_bad, 0,
                        (int)(sizeof bad_durations / sizeof bad_durations[0]));
    tcase_add_test(tc, test_duration_null);
    tcase_add_loop_test(tc, test_trace_id_good, 0, (int)(sizeof good_ids / sizeof good_ids[0]));
    tcase_add_loop_test(tc, test_trace_id_bad, 0, (int)(sizeof bad_ids / sizeof bad_ids[0]));
    tcase_add_test(tc, test_trace_id_long_input_is_bounded);
    tcase_add_test(tc, test_count);
    suite_add_tcase(s, tc);

    tc = tcase_create("output");
    tcase_add_test(tc, test_time_utc);
    tcase_add_test(tc, test_table_aligns_columns);
    tcase_add_test(tc, test_table_empty_has_a_header);
    tcase_add_test(tc, test_table_counts_characters_not_bytes);
    tcase_add_test(tc, test_table_escapes_what_a_terminal_would_act_on);
    tcase_add_test(tc, test_table_cuts_long_cells);
    tcase_add_test(tc, test_table_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
