/* Unit tests for util/buf. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "util/buf.h"

START_TEST(test_empty_buffer)
{
    buf_t b = BUF_INIT;
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_append_and_terminate)
{
    buf_t b = BUF_INIT;
    ck_assert_int_eq(buf_puts(&b, "abc"), 0);
    ck_assert_int_eq(buf_putc(&b, '-'), 0);
    ck_assert_int_eq(buf_append(&b, "x\0y", 3), 0);
    ck_assert_uint_eq(b.len, 7);
    ck_assert_int_eq(memcmp(b.data, "abc-x\0y", 8), 0);
    ck_assert_int_eq(b.data[7], '\0');
    ck_assert_uint_ge(b.cap, 8);
    buf_free(&b);
}
END_TEST

START_TEST(test_append_zero_bytes)
{
    buf_t b = BUF_INIT;
    ck_assert_int_eq(buf_append(&b, "", 0), 0);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_str_eq(b.data, "");
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_printf_grows)
{
    buf_t b = BUF_INIT;
    ck_assert_int_eq(buf_printf(&b, "%d-%s", 42, "x"), 0);
    ck_assert_str_eq(b.data, "42-x");
    char big[5000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(buf_printf(&b, "[%s]", big), 0);
    ck_assert_uint_eq(b.len, 4 + 2 + 4999);
    ck_assert_int_eq(b.data[4], '[');
    ck_assert_int_eq(b.data[5], 'z');
    ck_assert_int_eq(b.data[b.len - 1], ']');
    ck_assert_int_eq(b.data[b.len], '\0');
    ck_assert_uint_eq(strlen(b.data), b.len);
    buf_free(&b);
}
END_TEST

START_TEST(test_many_appends)
{
    buf_t b = BUF_INIT;
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(buf_printf(&b, "%04d", i % 10000), 0);
    ck_assert_uint_eq(b.len, 40000);
    ck_assert_int_eq(memcmp(b.data, "000000010002", 12), 0);
    ck_assert_int_eq(memcmp(b.data + 39996, "9999", 4), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_reset_keeps_memory)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "hello world");
    size_t cap = b.cap;
    char *data = b.data;
    buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_str_eq(b.data, "");
    buf_puts(&b, "hi");
    ck_assert_str_eq(b.data, "hi");
    buf_free(&b);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(b.len, 0);
    /* Reusable after free. */
    ck_assert_int_eq(buf_puts(&b, "again"), 0);
    ck_assert_str_eq(b.data, "again");
    buf_free(&b);
}
END_TEST

START_TEST(test_steal)
{
    buf_t b = BUF_INIT;
    char *s = buf_steal(&b);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "");
    free(s);
    buf_puts(&b, "mine");
    s = buf_steal(&b);
    ck_assert_str_eq(s, "mine");
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    free(s);
}
END_TEST

START_TEST(test_reserve_overflow_leaves_buffer)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "keep");
    ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), -1);
    ck_assert_int_eq(buf_append(&b, "x", SIZE_MAX - 2), -1);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_str_eq(b.data, "keep");
    ck_assert_int_eq(buf_reserve(&b, 100), 0);
    ck_assert_uint_ge(b.cap, 105);
    ck_assert_str_eq(b.data, "keep");
    buf_free(&b);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_empty_buffer);
    tcase_add_test(tc, test_append_and_terminate);
    tcase_add_test(tc, test_append_zero_bytes);
    tcase_add_test(tc, test_printf_grows);
    tcase_add_test(tc, test_many_appends);
    tcase_add_test(tc, test_reset_keeps_memory);
    tcase_add_test(tc, test_steal);
    tcase_add_test(tc, test_reserve_overflow_leaves_buffer);
    suite_add_tcase(s, tc);
    return s;
}
