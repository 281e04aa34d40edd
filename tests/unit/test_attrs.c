/* Unit tests for telemetry/attrs: typing, replacement, bounds, and the JSON
 * text (parsed back with jansson). */
#include "check_main.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "telemetry/attrs.h"

static json_t *parse(const buf_t *b)
{
    json_error_t err;
    json_t *j = json_loads(b->data, 0, &err);
    ck_assert_msg(j != NULL, "invalid JSON (%s): %s", err.text, b->data);
    return j;
}

START_TEST(types_round_trip)
{
    attrs_t a;
    attrs_init(&a, 0, 0);
    ck_assert_int_eq(attrs_set_str(&a, "http.route", "/api/activities/home"), 0);
    ck_assert_int_eq(attrs_set_int(&a, "http.response.status_code", 200), 0);
    ck_assert_int_eq(attrs_set_int(&a, "big", INT64_MIN), 0);
    ck_assert_int_eq(attrs_set_double(&a, "one", 1.0), 0);
    ck_assert_int_eq(attrs_set_double(&a, "tenth", 0.1), 0);
    ck_assert_int_eq(attrs_set_double(&a, "huge", 1e300), 0);
    ck_assert_int_eq(attrs_set_bool(&a, "ok", true), 0);
    const char *ids[] = {"a", "b\"c"};
    ck_assert_int_eq(attrs_set_str_array(&a, "app.user_ids", ids, 2), 0);
    const int64_t ns[] = {1, -2, 3};
    ck_assert_int_eq(attrs_set_int_array(&a, "ints", ns, 3), 0);
    const double ds[] = {2.0, 0.5};
    ck_assert_int_eq(attrs_set_double_array(&a, "doubles", ds, 2), 0);
    const bool bs[] = {true, false};
    ck_assert_int_eq(attrs_set_bool_array(&a, "bools", bs, 2), 0);
    ck_assert_int_eq(attrs_set_int_array(&a, "empty", NULL, 0), 0);
    ck_assert_uint_eq(attrs_count(&a), 12);

    buf_t b = BUF_INIT;
    ck_assert_int_eq(attrs_to_json(&a, &b), 0);
    /* Doubles keep a '.' or an exponent; integers do not get one. */
    ck_assert_ptr_nonnull(strstr(b.data, "\"one\":1.0"));
    ck_assert_ptr_nonnull(strstr(b.data, "\"tenth\":0.1,"));
    ck_assert_ptr_nonnull(strstr(b.data, "\"huge\":1e+300"));
    ck_assert_ptr_nonnull(strstr(b.data, "\"http.response.status_code\":200,"));
    ck_assert_ptr_nonnull(strstr(b.data, "\"doubles\":[2.0,0.5]"));
    ck_assert(strncmp(b.data, "{\"http.route\":", 14) == 0);   /* insertion order */

    json_t *j = parse(&b);
    ck_assert_str_eq(json_string_value(json_object_get(j, "http.route")), "/api/activities/home");
    ck_assert(json_is_integer(json_object_get(j, "http.response.status_code")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "http.response.status_code")), 200);
    ck_assert(json_integer_value(json_object_get(j, "big")) == INT64_MIN);
    ck_assert(json_is_real(json_object_get(j, "one")));
    ck_assert(json_real_value(json_object_get(j, "one")) == 1.0);
    ck_assert(json_real_value(json_object_get(j, "tenth")) == 0.1);
    ck_assert(json_real_value(json_object_get(j, "huge")) == 1e300);
    ck_assert(json_is_true(json_object_get(j, "ok")));
    json_t *arr = json_object_get(j, "app.user_ids");
    ck_assert_uint_eq(json_array_size(arr), 2);
    ck_assert_str_eq(json_string_value(json_array_get(arr, 1)), "b\"c");
    arr = json_object_get(j, "ints");
    ck_assert_int_eq(json_integer_value(json_array_get(arr, 1)), -2);
    arr = json_object_get(j, "doubles");
    ck_assert(json_is_real(json_array_get(arr, 0)));
    arr = json_object_get(j, "bools");
    ck_assert(json_is_false(json_array_get(arr, 1)));
    ck_assert_uint_eq(json_array_size(json_object_get(j, "empty")), 0);
    json_decref(j);
    buf_free(&b);
    attrs_free(&a);
}
END_TEST

START_TEST(replace_keeps_position)
{
    attrs_t a;
    attrs_init(&a, 0, 0);
    attrs_set_str(&a, "a", "1");
    attrs_set_int(&a, "b", 2);
    attrs_set_str(&a, "a", "changed");   /* replaced, type may change too */
    attrs_set_bool(&a, "b", false);
    ck_assert_uint_eq(attrs_count(&a), 2);
    buf_t b = BUF_INIT;
    attrs_to_json(&a, &b);
    ck_assert_str_eq(b.data, "{\"a\":\"changed\",\"b\":false}");
    size_t len;
    ck_assert_str_eq(attrs_get_str(&a, attrs_find(&a, "a"), &len), "changed");
    ck_assert_uint_eq(len, 7);
    ck_assert_ptr_null(attrs_find(&a, "c"));

    /* Reset empties but keeps memory; an empty list is "{}". */
    attrs_reset(&a);
    buf_reset(&b);
    attrs_to_json(&a, &b);
    ck_assert_str_eq(b.data, "{}");
    ck_assert_ptr_nonnull(a.e);
    buf_free(&b);
    attrs_free(&a);
}
END_TEST

START_TEST(bounds)
{
    attrs_t a;
    attrs_init(&a, 3, 8);
    ck_assert_int_eq(attrs_set_int(&a, "k1", 1), 0);
    ck_assert_int_eq(attrs_set_int(&a, "k2", 2), 0);
    ck_assert_int_eq(attrs_set_int(&a, "k3", 3), 0);
    ck_assert_int_eq(attrs_set_int(&a, "k4", 4), 1);        /* over the count */
    ck_assert_int_eq(attrs_set_int(&a, "k3", 33), 0);       /* replacing is fine */
    ck_assert_int_eq(attrs_set_int(&a, "", 1), 1);          /* empty key */
    ck_assert_int_eq(attrs_set_str(&a, "k1", NULL), 1);
    ck_assert_uint_eq(attrs_dropped(&a), 3);

    /* Strings are cut at max bytes, never inside a character. */
    ck_assert_int_eq(attrs_set_str(&a, "k1", "abcdefghij"), 0);
    size_t len;
    ck_assert_str_eq(attrs_get_str(&a, attrs_find(&a, "k1"), &len), "abcdefgh");
    /* "aaaaaa" + é (2 bytes) + "x": 8 bytes fit exactly. */
    attrs_set_str(&a, "k1", "aaaaaa\xc3\xa9x");
    ck_assert_str_eq(attrs_get_str(&a, attrs_find(&a, "k1"), &len), "aaaaaa\xc3\xa9");
    /* "aaaaaaa" + é: the é would straddle byte 8, so it goes. */
    attrs_set_str(&a, "k1", "aaaaaaa\xc3\xa9");
    ck_assert_str_eq(attrs_get_str(&a, attrs_find(&a, "k1"), &len), "aaaaaaa");
    /* A 4-byte character (U+1F600) starting at byte 6. */
    attrs_set_str(&a, "k1", "aaaaaa\xf0\x9f\x98\x80");
    ck_assert_str_eq(attrs_get_str(&a, attrs_find(&a, "k1"), &len), "aaaaaa");
    attrs_free(&a);

    ck_assert_uint_eq(attrs_utf8_cut("abc", 3, 10), 3);
    ck_assert_uint_eq(attrs_utf8_cut("\xe2\x82\xac\xe2\x82\xac", 6, 4), 3);   /* €€ */
    ck_assert_uint_eq(attrs_utf8_cut("\xe2\x82\xac\xe2\x82\xac", 6, 2), 0);

    /* Default limits: 128 attributes, 4096 bytes. */
    attrs_init(&a, 0, 0);
    char key[16];
    for (int i = 0; i < 130; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ck_assert_int_eq(attrs_set_int(&a, key, i), i < 128 ? 0 : 1);
    }
    ck_assert_uint_eq(attrs_count(&a), ATTRS_DEFAULT_MAX_COUNT);
    attrs_reset(&a);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    attrs_set_str(&a, "big", big);
    attrs_get_str(&a, attrs_find(&a, "big"), &len);
    ck_assert_uint_eq(len, 4096);
    attrs_free(&a);
}
END_TEST

START_TEST(escaping_is_valid_json)
{
    attrs_t a;
    attrs_init(&a, 0, 0);
    attrs_set_str(&a, "ctl", "tab\tnl\ncr\rbs\\q\"bell\x07" "del\x7f");
    attrs_set_str(&a, "utf8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    attrs_set_str(&a, "bad", "a\xff" "b\xc3" "c\xed\xa0\x80" "d\xc0\xaf" "e\xf4\x90\x80\x80");
    attrs_set_strn(&a, "nul", "x\0y", 3);
    attrs_set_str(&a, "k\"ey\n", "v");
    buf_t b = BUF_INIT;
    ck_assert_int_eq(attrs_to_json(&a, &b), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "\"tab\\tnl\\ncr\\rbs\\\\q\\\"bell\\u0007del"));
    json_t *j = parse(&b);
    ck_assert_str_eq(json_string_value(json_object_get(j, "ctl")), "tab\tnl\ncr\rbs\\q\"bell\x07" "del\x7f");
    ck_assert_str_eq(json_string_value(json_object_get(j, "utf8")), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* Each bad byte became U+FFFD (EF BF BD); good ASCII kept. */
    const char *bad = json_string_value(json_object_get(j, "bad"));
    ck_assert_str_eq(bad, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                          "d\xef\xbf\xbd\xef\xbf\xbd" "e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    ck_assert_str_eq(json_string_value(json_object_get(j, "nul")), "x\xef\xbf\xbdy");
    ck_assert_str_eq(json_string_value(json_object_get(j, "k\"ey\n")), "v");
    json_decref(j);
    buf_free(&b);
    attrs_free(&a);
}
END_TEST

START_TEST(doubles)
{
    static const struct {
        double d;
        const char *text;
    } cases[] = {
        {1.0, "1.0"}, {-0.0, "-0.0"}, {0.25, "0.25"}, {0.1, "0.1"}, {123456789.0, "123456789.0"},
        {1e21, "1e+21"}, {1.5e-7, "1.5e-07"}, {-2.5, "-2.5"}, {1.0 / 3.0, "0.3333333333333333"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_t b = BUF_INIT;
        ck_assert_int_eq(attrs_json_double(&b, cases[i].d), 0);
        ck_assert_str_eq(b.data, cases[i].text);
        ck_assert(strtod(b.data, NULL) == cases[i].d);
        buf_free(&b);
    }
    buf_t b = BUF_INIT;
    attrs_json_double(&b, NAN);
    ck_assert_str_eq(b.data, "null");
    buf_free(&b);

    /* Non-finite attribute values become strings; arrays with them are refused. */
    attrs_t a;
    attrs_init(&a, 0, 0);
    attrs_set_double(&a, "n", NAN);
    attrs_set_double(&a, "i", -INFINITY);
    const double bad[] = {1.0, INFINITY};
    ck_assert_int_eq(attrs_set_double_array(&a, "arr", bad, 2), 1);
    attrs_to_json(&a, &b);
    ck_assert_str_eq(b.data, "{\"n\":\"NaN\",\"i\":\"-Infinity\"}");
    buf_free(&b);
    attrs_free(&a);
}
END_TEST

START_TEST(many_lists_reuse_memory)
{
    /* The collector's pattern: fill, serialize, reset, many times. */
    attrs_t a;
    attrs_init(&a, 0, 0);
    buf_t b = BUF_INIT;
    for (int round = 0; round < 1000; round++) {
        attrs_reset(&a);
        buf_reset(&b);
        attrs_set_str(&a, "http.request.method", "GET");
        attrs_set_int(&a, "round", round);
        ck_assert_int_eq(attrs_to_json(&a, &b), 0);
    }
    ck_assert_str_eq(b.data, "{\"http.request.method\":\"GET\",\"round\":999}");
    buf_free(&b);
    attrs_free(&a);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("attrs");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, types_round_trip);
    tcase_add_test(tc, replace_keeps_position);
    tcase_add_test(tc, bounds);
    tcase_add_test(tc, escaping_is_valid_json);
    tcase_add_test(tc, doubles);
    tcase_add_test(tc, many_lists_reuse_memory);
    suite_add_tcase(s, tc);
    return s;
}
