/* Unit tests for app/validate: each code, the code-point limits at their
 * edges with multi-byte characters, blank rules, the ttl table, handles and
 * mentions. */
#include <stdlib.h>
#include <string.h>

#include "app/validate.h"
#include "check_main.h"

/* n copies of a UTF-8 character (malloc'd, NUL-terminated). */
static char *repeat(const char *ch, size_t n)
{
    size_t w = strlen(ch);
    char *s = malloc(w * n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * w, ch, w);
    s[w * n] = '\0';
    return s;
}

static validate_codes message_codes(const char *msg, long max)
{
    validate_codes v = {{NULL}, 0};
    validate_message(msg, msg ? strlen(msg) : 0, max, &v);
    return v;
}

START_TEST(test_message_blank)
{
    validate_codes v = message_codes(NULL, 280);
    ck_assert_uint_eq(v.n, 1);
    ck_assert_str_eq(v.code[0], "message_blank");
    v = message_codes("", 280);
    ck_assert_uint_eq(v.n, 1);
    ck_assert_str_eq(v.code[0], "message_blank");
    v = message_codes(" \t\r\n", 280);
    ck_assert_uint_eq(v.n, 1);
    ck_assert_str_eq(v.code[0], "message_blank");
    /* U+3000 IDEOGRAPHIC SPACE and U+00A0 NO-BREAK SPACE are white space. */
    v = message_codes("\xe3\x80\x80\xc2\xa0 ", 280);
    ck_assert_uint_eq(v.n, 1);
    ck_assert_str_eq(v.code[0], "message_blank");
    v = message_codes(" x ", 280);
    ck_assert_uint_eq(v.n, 0);
    /* Not UTF-8: never stored. */
    v = message_codes("\xff", 280);
    ck_assert_uint_eq(v.n, 1);
    ck_assert_str_eq(v.code[0], "message_blank");
}
END_TEST

/* The limit counts code points, not bytes: test at max-1, max, max+1 with
 * 1-, 2-, 3- and 4-byte characters. */
static void check_limit(long max)
{
    static const char *chars[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\xa6\x84"};
    for (size_t c = 0; c < 4; c++) {
        for (long n = max - 1; n <= max + 1; n++) {
            char *s = repeat(chars[c], (size_t)n);
            validate_codes v = message_codes(s, max);
            if (n <= max) {
                ck_assert_msg(v.n == 0, "%ld x char %zu under limit %ld", n, c, max);
            } else {
                ck_assert_uint_eq(v.n, 1);
                ck_assert_str_eq(v.code[0], "message_exceed_max_chars");
            }
            free(s);
        }
    }
}

START_TEST(test_message_limits)
{
    check_limit(VALIDATE_ACTIVITY_MAX_CHARS);
    check_limit(VALIDATE_REPLY_MAX_CHARS);
    ck_assert_int_eq(VALIDATE_ACTIVITY_MAX_CHARS, 280);
    ck_assert_int_eq(VALIDATE_REPLY_MAX_CHARS, 1024);
    ck_assert_int_eq(VALIDATE_MESSAGE_MAX_CHARS, 1024);
}
END_TEST

START_TEST(test_ttl_table)
{
    static const struct {
        const char *name;
        int64_t seconds;
    } t[] = {
        {"30-days", 2592000}, {"7-days", 604800}, {"3-days", 259200}, {"1-day", 86400},
        {"12-hours", 43200},  {"3-hours", 10800}, {"1-hour", 3600},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        ck_assert_int_eq(validate_ttl_seconds(t[i].name, strlen(t[i].name)), t[i].seconds);
    static const char *bad[] = {"", "7-day", "1-days", "7-DAYS", " 7-days", "7-days ", "30",
                                "1-hour\n", "2-hours"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(validate_ttl_seconds(bad[i], strlen(bad[i])), -1);
    ck_assert_int_eq(validate_ttl_seconds(NULL, 0), -1);
    /* A prefix of a valid name is not valid. */
    ck_assert_int_eq(validate_ttl_seconds("7-days", 5), -1);
}
END_TEST

START_TEST(test_activity_codes_in_order)
{
    validate_codes v = {{NULL}, 0};
    int64_t ttl = -5;
    validate_activity(NULL, 0, NULL, 0, &v, &ttl);
    ck_assert_uint_eq(v.n, 2);
    ck_assert_str_eq(v.code[0], "message_blank");
    ck_assert_str_eq(v.code[1], "ttl_blank");
    ck_assert_int_eq(ttl, -5);

    char *long_msg = repeat("x", 281);
    v.n = 0;
    validate_activity(long_msg, 281, "forever", 7, &v, &ttl);
    ck_assert_uint_eq(v.n, 2);
    ck_assert_str_eq(v.code[0], "message_exceed_max_chars");
    ck_assert_str_eq(v.code[1], "ttl_blank");
    free(long_msg);

    v.n = 0;
    validate_activity("hi", 2, "3-hours", 7, &v, &ttl);
    ck_assert_uint_eq(v.n, 0);
    ck_assert_int_eq(ttl, 10800);

    v.n = 0;
    validate_activity("hi", 2, "soon", 4, &v, &ttl);
    ck_assert_uint_eq(v.n, 1);
    ck_assert_str_eq(v.code[0], "ttl_blank");
}
END_TEST

START_TEST(test_reply_and_message_codes)
{
    validate_codes v = {{NULL}, 0};
    char *s = repeat("\xc3\xa9", 1025);
    validate_reply(s, strlen(s), &v);
    ck_assert_uint_eq(v.n, 1);
    ck_assert_str_eq(v.code[0], "message_exceed_max_chars");

    v.n = 0;
    validate_new_message(NULL, 0, NULL, 0, &v);
    ck_assert_uint_eq(v.n, 2);
    ck_assert_str_eq(v.code[0], "user_reciever_handle_blank");
    ck_assert_str_eq(v.code[1], "message_blank");

    v.n = 0;
    validate_new_message("  ", 2, s, strlen(s), &v);
    ck_assert_uint_eq(v.n, 2);
    ck_assert_str_eq(v.code[0], "user_reciever_handle_blank");
    ck_assert_str_eq(v.code[1], "message_exceed_max_chars");

    v.n = 0;
    validate_new_message("worf", 4, "Qapla'", 6, &v);
    ck_assert_uint_eq(v.n, 0);
    free(s);
}
END_TEST

START_TEST(test_codes_json)
{
    validate_codes v = {{"message_blank", "ttl_blank"}, 2};
    json_t *j = validate_codes_json(&v);
    char *s = json_dumps(j, JSON_COMPACT);
    ck_assert_str_eq(s, "[\"message_blank\",\"ttl_blank\"]");
    free(s);
    json_decref(j);
}
END_TEST

START_TEST(test_handles)
{
    ck_assert(validate_handle("andrewbrown", 11));
    ck_assert(validate_handle("A_b9", 4));
    ck_assert(!validate_handle("", 0));
    ck_assert(!validate_handle(NULL, 0));
    ck_assert(!validate_handle("with space", 10));
    ck_assert(!validate_handle("dot.ted", 7));
    ck_assert(!validate_handle("@worf", 5));
    ck_assert(!validate_handle("caf\xc3\xa9", 5));
    char *h64 = repeat("h", 64), *h65 = repeat("h", 65);
    ck_assert(validate_handle(h64, 64));
    ck_assert(!validate_handle(h65, 65));
    free(h64);
    free(h65);
}
END_TEST

static bool mentions(const char *msg, const char *handle)
{
    return validate_mentions(msg, strlen(msg), handle, strlen(handle));
}

START_TEST(test_mentions)
{
    ck_assert(mentions("@andrewbrown I am a white unicorn", "andrewbrown"));
    ck_assert(mentions("hi @AndrewBrown!", "andrewbrown"));
    ck_assert(mentions("hi @andrewbrown", "AndrewBrown"));
    ck_assert(mentions("(@andrewbrown)", "andrewbrown"));
    ck_assert(mentions("@andrewbrown.", "andrewbrown"));
    ck_assert(mentions("@andrewbrownx and @andrewbrown", "andrewbrown"));
    ck_assert(!mentions("@andrewbrownx", "andrewbrown"));
    ck_assert(!mentions("@andrewbrown_", "andrewbrown"));
    ck_assert(!mentions("andrewbrown", "andrewbrown"));
    ck_assert(!mentions("me@andrewbrown", "andrewbrown"));
    ck_assert(!mentions("@andrewbrow", "andrewbrown"));
    ck_assert(!mentions("@", "andrewbrown"));
    ck_assert(!mentions("", "andrewbrown"));
    ck_assert(!mentions("@x", ""));
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_message_blank);
    tcase_add_test(tc, test_message_limits);
    tcase_add_test(tc, test_ttl_table);
    tcase_add_test(tc, test_activity_codes_in_order);
    tcase_add_test(tc, test_reply_and_message_codes);
    tcase_add_test(tc, test_codes_json);
    tcase_add_test(tc, test_handles);
    tcase_add_test(tc, test_mentions);
    suite_add_tcase(s, tc);
    return s;
}
