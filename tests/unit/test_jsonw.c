/* Unit tests for util/jsonw: the same bytes as json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY) for fixed values, every escape, numbers at their edges and
 * thousands of random trees; failures leave the buffer as it was. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "util/jsonw.h"

/* jsonw's text of j, appended after a prefix, must equal json_dumps'. */
static void assert_same(const json_t *j)
{
    char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_ptr_nonnull(want);
    buf_t b = BUF_INIT;
    ck_assert_int_eq(buf_puts(&b, "prefix:"), 0);
    ck_assert_int_eq(jsonw_append(&b, j), 0);
    ck_assert_uint_eq(b.len, 7 + strlen(want));
    ck_assert_int_eq(memcmp(b.data, "prefix:", 7), 0);
    ck_assert_msg(memcmp(b.data + 7, want, strlen(want)) == 0, "want %s got %s", want, b.data + 7);
    ck_assert_int_eq(b.data[b.len], '\0');
    free(want);
    buf_free(&b);
}

static void assert_refused(const json_t *j)
{
    char *dumped = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_ptr_null(dumped);
    buf_t b = BUF_INIT;
    ck_assert_int_eq(buf_puts(&b, "kept"), 0);
    ck_assert_int_eq(jsonw_append(&b, j), -1);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_str_eq(b.data, "kept");
    buf_free(&b);
}

static void assert_text(const json_t *j, const char *want)
{
    buf_t b = BUF_INIT;
    ck_assert_int_eq(jsonw_append(&b, j), 0);
    ck_assert_str_eq(b.data, want);
    buf_free(&b);
    assert_same(j);
}

START_TEST(test_scalars)
{
    json_t *v;
    assert_text(v = json_null(), "null");
    json_decref(v);
    assert_text(v = json_true(), "true");
    json_decref(v);
    assert_text(v = json_false(), "false");
    json_decref(v);
    assert_text(v = json_integer(0), "0");
    json_decref(v);
    assert_text(v = json_integer(-1), "-1");
    json_decref(v);
    assert_text(v = json_integer(INT64_MAX), "9223372036854775807");
    json_decref(v);
    assert_text(v = json_integer(INT64_MIN), "-9223372036854775808");
    json_decref(v);
    assert_text(v = json_string(""), "\"\"");
    json_decref(v);
}
END_TEST

START_TEST(test_containers_in_insertion_order)
{
    json_t *v = json_pack("{s:{}, s:[], s:[i, s, {s:n}], s:{s:b, s:b}, s:i}", "empty_object",
                          "empty_array", "array", 1, "two", "k", "object", "t", 1, "f", 0,
                          "a_last", 7);
    assert_text(v, "{\"empty_object\":{},\"empty_array\":[],\"array\":[1,\"two\",{\"k\":null}],"
                   "\"object\":{\"t\":true,\"f\":false},\"a_last\":7}");
    json_decref(v);
    v = json_array();
    assert_text(v, "[]");
    json_decref(v);
    v = json_object();
    assert_text(v, "{}");
    json_decref(v);
}
END_TEST

START_TEST(test_every_ascii_byte_in_a_string)
{
    char s[128];
    for (int c = 1; c < 128; c++)
        s[c - 1] = (char)c;
    s[127] = '\0';
    json_t *v = json_string(s);
    ck_assert_ptr_nonnull(v);
    assert_same(v);
    json_decref(v);
    /* each byte alone, as a value and as a key; NUL through json_stringn */
    for (int c = 0; c < 128; c++) {
        char one[2] = {(char)c, '\0'};
        v = json_stringn(one, 1);
        assert_same(v);
        json_t *o = json_object();
        ck_assert_int_eq(json_object_set_new(o, c == 0 ? "nul" : one, v), 0);
        assert_same(o);
        json_decref(o);
    }
    v = json_string("tab\there \"quoted\" back\\slash / \x01\x1f\x7f\n\r\b\f");
    assert_text(v, "\"tab\\there \\\"quoted\\\" back\\\\slash / \\u0001\\u001F\x7f\\n\\r\\b\\f\"");
    json_decref(v);
}
END_TEST

START_TEST(test_non_ascii_as_is)
{
    /* 2, 3 and 4 byte sequences, at the edges of their ranges */
    const char *s = "\xc2\x80 caf\xc3\xa9 \xdf\xbf \xe0\xa0\x80 \xe2\x82\xac \xed\x9f\xbf "
                    "\xee\x80\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";
    json_t *v = json_string(s);
    ck_assert_ptr_nonnull(v);
    buf_t b = BUF_INIT;
    ck_assert_int_eq(jsonw_append(&b, v), 0);
    ck_assert_uint_eq(b.len, strlen(s) + 2);
    ck_assert_int_eq(memcmp(b.data + 1, s, strlen(s)), 0);
    buf_free(&b);
    assert_same(v);
    json_decref(v);
}
END_TEST

START_TEST(test_invalid_utf8_refused)
{
    static const char *const bad[] = {
        "\x80", "a\xc0\xaf", "\xc1\xbf", "\xc2", "\xe0\x80\x80", "\xed\xa0\x80",
        "\xf0\x80\x80\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "ok\xe2\x82",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = json_string_nocheck(bad[i]);
        ck_assert_ptr_nonnull(v);
        assert_refused(v);
        json_t *a = json_pack("[s, O]", "fine", v);
        assert_refused(a);
        json_decref(a);
        json_decref(v);
    }
}
END_TEST

START_TEST(test_reals_as_jansson_prints_them)
{
    const double values[] = {
        0.0, -0.0, 0.1, 0.3, 1.0, -1.5, 2.5, 100.0, 1234567.0, 0.001, 0.0001, 1e-5, 1e16,
        1.5e16, 1e17, 1e100, -1e-100, 123456789012345678.0, DBL_MAX, -DBL_MAX, DBL_MIN,
        5e-324, 1.0 / 3.0, 9007199254740993.0, 4.35, 1e21, 1e22, 0.5e-6,
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        json_t *v = json_real(values[i]);
        ck_assert_ptr_nonnull(v);
        assert_same(v);
        json_t *o = json_pack("{s:O, s:[O, O]}", "r", v, "a", v, v);
        assert_same(o);
        json_decref(o);
        json_decref(v);
    }
}
END_TEST

START_TEST(test_null_and_cycles_and_depth)
{
    buf_t b = BUF_INIT;
    ck_assert_int_eq(jsonw_append(&b, NULL), -1);
    ck_assert_uint_eq(b.len, 0);

    /* an object reached from itself: refused, as json_dumps refuses it */
    json_t *o = json_object(), *a = json_array();
    ck_assert_int_eq(json_object_set(o, "a", a), 0);
    ck_assert_int_eq(json_array_append(a, o), 0);
    assert_refused(o);
    ck_assert_int_eq(json_array_clear(a), 0);         /* break the cycle */
    json_decref(a);
    json_decref(o);

    /* JSONW_MAX_DEPTH containers are written; one more is refused */
    json_t *root = json_array(), *cur = root;
    for (int d = 1; d < JSONW_MAX_DEPTH; d++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    assert_same(root);
    json_array_append_new(cur, json_array());
    ck_assert_int_eq(jsonw_append(&b, root), -1);
    ck_assert_uint_eq(b.len, 0);
    json_decref(root);
    buf_free(&b);
}
END_TEST

START_TEST(test_api_shaped_answer)
{
    json_t *v = json_pack(
        "[{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:s, s:[{s:s, s:s, s:s}]}]", "uuid",
        "68f126b0-1ceb-4a33-88be-d90fa7109eee", "handle", "andrewbrown", "display_name",
        "Andrew Brown", "message", "Cloud is very fun! \xf0\x9f\x98\x80 \"quoted\"\n",
        "replies_count", 1, "reposts_count", 0, "likes_count", 0, "created_at",
        "2024-03-04T09:55:55.982931+00:00", "expires_at", "2024-03-14T09:55:55.982931+00:00",
        "replies", "uuid", "26e12864-1c26-5c3a-9658-97a10f8fea67", "handle", "worf", "message",
        "This post has no honor!");
    assert_same(v);
    json_decref(v);
}
END_TEST

/* ---- random trees ---------------------------------------------------------- */

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Appends the UTF-8 of code point cp (never a surrogate) to s. */
static size_t put_cp(char *s, uint32_t cp)
{
    if (cp < 0x80) {
        s[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        s[0] = (char)(0xC0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        s[0] = (char)(0xE0 | (cp >> 12));
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        s[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    s[0] = (char)(0xF0 | (cp >> 18));
    s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    s[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    s[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static json_t *random_string(uint64_t *r)
{
    char s[256];
    size_t len = 0, n = next_rand(r) % 40;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = next_rand(r);
        uint32_t cp;
        switch (x % 6) {
        case 0: cp = (uint32_t)(x >> 8) % 0x20; break;            /* control */
        case 1: cp = "\"\\/ aZ"[(x >> 8) % 6]; break;
        case 2: cp = 0x80 + (uint32_t)(x >> 8) % 0x780; break;     /* 2 bytes */
        case 3: cp = 0x800 + (uint32_t)(x >> 8) % 0xD000; break;   /* 3 bytes */
        case 4: cp = 0x10000 + (uint32_t)(x >> 8) % 0x100000; break;
        default: cp = 0x20 + (uint32_t)(x >> 8) % 0x60; break;     /* printable */
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = 'x';
        len += put_cp(s + len, cp);
    }
    return json_stringn(s, len);
}

static json_t *random_value(uint64_t *r, int depth)
{
    uint64_t x = next_rand(r);
    int kind = (int)(x % (depth < 5 ? 9 : 7));
    switch (kind) {
    case 0: return json_null();
    case 1: return json_boolean(x & 0x100);
    case 2: return json_integer((json_int_t)next_rand(r) >> (x >> 8) % 64);
    case 3: {
        double d;
        do {
            uint64_t bits = next_rand(r);
            memcpy(&d, &bits, sizeof d);
        } while (!isfinite(d));
        return json_real((x >> 8) % 2 ? d : (double)(int64_t)(next_rand(r) % 100000) / 64.0);
    }
    case 4: case 5: case 6: return random_string(r);
    case 7: {
        json_t *a = json_array();
        size_t n = next_rand(r) % 6;
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, random_value(r, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        size_t n = next_rand(r) % 6;
        for (size_t i = 0; i < n; i++) {
            json_t *k = random_string(r);
            json_object_set_new(o, json_string_value(k), random_value(r, depth + 1));
            json_decref(k);
        }
        return o;
    }
    }
}

START_TEST(test_random_trees)
{
    uint64_t r = 0x2545F4914F6CDD1DULL;
    for (int i = 0; i < 3000; i++) {
        json_t *v = random_value(&r, 0);
        ck_assert_ptr_nonnull(v);
        assert_same(v);
        json_decref(v);
    }
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("jsonw");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_scalars);
    tcase_add_test(tc, test_containers_in_insertion_order);
    tcase_add_test(tc, test_every_ascii_byte_in_a_string);
    tcase_add_test(tc, test_non_ascii_as_is);
    tcase_add_test(tc, test_invalid_utf8_refused);
    tcase_add_test(tc, test_reals_as_jansson_prints_them);
    tcase_add_test(tc, test_null_and_cycles_and_depth);
    tcase_add_test(tc, test_api_shaped_answer);
    tcase_add_test(tc, test_random_trees);
    suite_add_tcase(s, tc);
    return s;
}
