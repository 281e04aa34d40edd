/* Unit tests for util/utf8. */
#include <stdlib.h>
#include <string.h>

#include <stdint.h>

#include "check_main.h"
#include "util/utf8.h"

static const struct {
    const char *s;
    size_t len;      /* 0: strlen */
    long count;      /* -1: invalid */
} cases[] = {
    {"", 0, 0},
    {"a", 0, 1},
    {"hello", 0, 5},
    {"\0x", 2, 2},                        /* NUL is a code point */
    {"\x7f", 0, 1},
    {"\xc2\x80", 0, 1},                   /* U+0080 */
    {"\xdf\xbf", 0, 1},                   /* U+07FF */
    {"\xe0\xa0\x80", 0, 1},               /* U+0800 */
    {"\xed\x9f\xbf", 0, 1},               /* U+D7FF */
    {"\xee\x80\x80", 0, 1},               /* U+E000 */
    {"\xef\xbf\xbf", 0, 1},               /* U+FFFF */
    {"\xf0\x90\x80\x80", 0, 1},           /* U+10000 */
    {"\xf4\x8f\xbf\xbf", 0, 1},           /* U+10FFFF */
    {"caf\xc3\xa9", 0, 4},
    {"\xe2\x82\xac 5", 0, 3},
    {"\xf0\x9f\x98\x80\xf0\x9f\x91\x8d", 0, 2},
    /* ill-formed */
    {"\x80", 0, -1},                      /* lone continuation */
    {"\xbf", 0, -1},
    {"\xc0\x80", 0, -1},                  /* overlong NUL */
    {"\xc1\xbf", 0, -1},                  /* overlong */
    {"\xe0\x80\x80", 0, -1},              /* overlong */
    {"\xe0\x9f\xbf", 0, -1},              /* overlong U+07FF */
    {"\xf0\x80\x80\x80", 0, -1},          /* overlong */
    {"\xf0\x8f\xbf\xbf", 0, -1},          /* overlong U+FFFF */
    {"\xed\xa0\x80", 0, -1},              /* U+D800 */
    {"\xed\xbf\xbf", 0, -1},              /* U+DFFF */
    {"\xed\xa0\xbd\xed\xb8\x80", 0, -1},  /* CESU-8 pair */
    {"\xf4\x90\x80\x80", 0, -1},          /* U+110000 */
    {"\xf5\x80\x80\x80", 0, -1},
    {"\xf8\x88\x80\x80\x80", 0, -1},      /* 5-byte form */
    {"\xfe", 0, -1},
    {"\xff", 0, -1},
    {"\xc3", 0, -1},                      /* truncated */
    {"\xe2\x82", 0, -1},
    {"\xf0\x9f\x98", 0, -1},
    {"ab\xf0\x9f\x98", 0, -1},
    {"\xc3\x28", 0, -1},                  /* bad continuation */
    {"\xe2\x28\xa1", 0, -1},
    {"\xe2\x82\x28", 0, -1},
    {"\xf0\x28\x8c\xbc", 0, -1},
    {"\xf0\x9f\x98\x28", 0, -1},
    {"\xc3\xa9\xc3", 0, -1},
};

START_TEST(test_sequence_lengths_and_decoding)
{
    uint32_t cp = 0;
    ck_assert_uint_eq(utf8_seq_len("a", 1), 1);
    ck_assert_uint_eq(utf8_decode("\xc3\xa9x", 3, &cp), 2);
    ck_assert_uint_eq(cp, 0xe9);
    ck_assert_uint_eq(utf8_decode("\xe2\x82\xac", 3, &cp), 3);
    ck_assert_uint_eq(cp, 0x20ac);
    ck_assert_uint_eq(utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4);
    ck_assert_uint_eq(cp, 0x1f600);
    ck_assert_uint_eq(utf8_seq_len("\xe2\x82\xac", 2), 0);     /* cut short */
    ck_assert_uint_eq(utf8_seq_len("\xc0\xaf", 2), 0);         /* overlong */
    ck_assert_uint_eq(utf8_seq_len("\xed\xa0\x80", 3), 0);     /* surrogate */
    ck_assert_uint_eq(utf8_seq_len("\xf4\x90\x80\x80", 4), 0); /* above U+10FFFF */
    ck_assert_uint_eq(utf8_seq_len("\x80", 1), 0);
    ck_assert_uint_eq(utf8_seq_len("", 0), 0);
}
END_TEST

START_TEST(test_table)
{
    size_t len = cases[_i].len ? cases[_i].len : strlen(cases[_i].s);
    long want = cases[_i].count;
    ck_assert_msg(utf8_count(cases[_i].s, len) == want, "case %d: count %ld, want %ld", _i,
                  utf8_count(cases[_i].s, len), want);
    ck_assert_int_eq(utf8_valid(cases[_i].s, len), want >= 0);
}
END_TEST

START_TEST(test_truncation_is_seen_at_the_length)
{
    /* The byte after the length must not be read as part of the sequence. */
    const char s[] = "\xe2\x82\xac";
    ck_assert_int_eq(utf8_count(s, 3), 1);
    ck_assert_int_eq(utf8_count(s, 2), -1);
    ck_assert_int_eq(utf8_count(s, 1), -1);
    ck_assert_int_eq(utf8_count(s, 0), 0);
}
END_TEST

static char *repeat(const char *unit, int n, size_t *len)
{
    size_t u = strlen(unit);
    char *s = malloc(u * (size_t)n + 1);
    for (int i = 0; i < n; i++)
        memcpy(s + u * (size_t)i, unit, u);
    s[u * (size_t)n] = '\0';
    *len = u * (size_t)n;
    return s;
}

START_TEST(test_counts_of_long_strings)
{
    size_t len;
    char *s = repeat("\xf0\x9f\x98\x80", 280, &len);   /* 280 emoji */
    ck_assert_uint_eq(len, 1120);
    ck_assert_int_eq(utf8_count(s, len), 280);
    free(s);
    s = repeat("\xf0\x9f\x98\x80", 281, &len);
    ck_assert_int_eq(utf8_count(s, len), 281);
    free(s);
    s = repeat("\xc3\xa9", 1024, &len);
    ck_assert_int_eq(utf8_count(s, len), 1024);
    free(s);
    s = repeat("\xe6\x97\xa5", 300, &len);
    ck_assert_int_eq(utf8_count(s, len), 300);
    free(s);
    s = repeat("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 70, &len);
    ck_assert_int_eq(utf8_count(s, len), 280);
    free(s);
}
END_TEST

static const char *const blanks[] = {
    "",
    " ",
    "\t\n\v\f\r ",
    "\xc2\x85",           /* U+0085 */
    "\xc2\xa0",           /* U+00A0 */
    "\xe1\x9a\x80",       /* U+1680 */
    "\xe2\x80\x80",       /* U+2000 */
    "\xe2\x80\x8a",       /* U+200A */
    "\xe2\x80\xa8",       /* U+2028 */
    "\xe2\x80\xa9",       /* U+2029 */
    "\xe2\x80\xaf",       /* U+202F */
    "\xe2\x81\x9f",       /* U+205F */
    "\xe3\x80\x80",       /* U+3000 */
    " \xe3\x80\x80\t\xc2\xa0 ",
};

static const char *const not_blanks[] = {
    "a",
    " a ",
    ".",
    "\xe2\x80\x8b",       /* U+200B ZERO WIDTH SPACE is not White_Space */
    "\xef\xbb\xbf",       /* U+FEFF */
    "\xe1\xa0\x8e",       /* U+180E */
    "\xe3\x80\x81",       /* U+3001 */
    "\xc2\xa1",
    " \xc3",              /* invalid is not blank */
    "\xc0\xa0",           /* overlong space */
    "\x01",
};

START_TEST(test_blank)
{
    ck_assert_msg(utf8_is_blank(blanks[_i], strlen(blanks[_i])), "blank case %d", _i);
}
END_TEST

START_TEST(test_not_blank)
{
    ck_assert_msg(!utf8_is_blank(not_blanks[_i], strlen(not_blanks[_i])), "case %d", _i);
}
END_TEST

START_TEST(test_nul_is_not_blank)
{
    ck_assert(!utf8_is_blank(" \0 ", 3));
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_table, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_truncation_is_seen_at_the_length);
    tcase_add_test(tc, test_counts_of_long_strings);
    tcase_add_loop_test(tc, test_blank, 0, (int)(sizeof blanks / sizeof blanks[0]));
    tcase_add_loop_test(tc, test_not_blank, 0, (int)(sizeof not_blanks / sizeof not_blanks[0]));
    tcase_add_test(tc, test_nul_is_not_blank);
    tcase_add_test(tc, test_sequence_lengths_and_decoding);
    suite_add_tcase(s, tc);
    return s;
}
