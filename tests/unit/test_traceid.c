/* Unit tests for telemetry/traceid: id layout, uniqueness, hex and X-Ray forms. */
#include "check_main.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "telemetry/traceid.h"

static int cmp16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static int cmp8(const void *a, const void *b)
{
    return memcmp(a, b, 8);
}

START_TEST(trace_id_has_time_prefix)
{
    rng_t r;
    rng_seed_with(&r, 42);
    uint8_t id[TRACEID_SIZE];
    traceid_new_trace(&r, 0x5759e988, id);
    ck_assert_uint_eq(id[0], 0x57);
    ck_assert_uint_eq(id[1], 0x59);
    ck_assert_uint_eq(id[2], 0xe9);
    ck_assert_uint_eq(id[3], 0x88);
    ck_assert(!traceid_is_zero(id + 4, 12));

    char x[TRACEID_XRAY_SIZE];
    traceid_to_xray(id, x);
    ck_assert_uint_eq(strlen(x), TRACEID_XRAY_LEN);
    ck_assert(strncmp(x, "1-5759e988-", 11) == 0);

    /* The current time shows up in the prefix too. */
    time_t now = time(NULL);
    traceid_new_trace(&r, (int64_t)now, id);
    uint32_t t = (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
    ck_assert_uint_eq(t, (uint32_t)now);
}
END_TEST

START_TEST(hundred_thousand_ids_are_unique)
{
    enum { N = 100000 };
    rng_t r;
    ck_assert_int_eq(rng_seed(&r), 0);
    uint8_t (*t)[16] = malloc(N * sizeof *t);
    uint8_t (*s)[8] = malloc(N * sizeof *s);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < N; i++) {
        /* Same second for all: uniqueness must come from the random part. */
        traceid_new_trace(&r, 1700000000, t[i]);
        traceid_new_span(&r, s[i]);
        ck_assert(!traceid_is_zero(t[i], 16));
        ck_assert(!traceid_is_zero(s[i], 8));
    }
    qsort(t, N, sizeof *t, cmp16);
    qsort(s, N, sizeof *s, cmp8);
    for (int i = 1; i < N; i++) {
        ck_assert(memcmp(t[i - 1], t[i], 16) != 0);
        ck_assert(memcmp(s[i - 1], s[i], 8) != 0);
    }
    free(t);
    free(s);
}
END_TEST

START_TEST(hex_round_trip)
{
    const uint8_t id[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                            0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    char hex[TRACEID_HEX_SIZE];
    traceid_to_hex(id, 16, hex);
    ck_assert_str_eq(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    uint8_t back[16];
    ck_assert_int_eq(traceid_from_hex(hex, 16, false, back), 0);
    ck_assert(memcmp(id, back, 16) == 0);

    char sh[SPANID_HEX_SIZE];
    traceid_to_hex(id, 8, sh);
    ck_assert_str_eq(sh, "4bf92f3577b34da6");

    ck_assert_int_eq(traceid_from_hex("4BF92F3577B34DA6", 8, false, back), -1);
    ck_assert_int_eq(traceid_from_hex("4BF92F3577B34DA6", 8, true, back), 0);
    ck_assert(memcmp(id, back, 8) == 0);
    ck_assert_int_eq(traceid_from_hex("4bf92f3577b34dag", 8, true, back), -1);
    ck_assert_int_eq(traceid_from_hex("4bf92f3577b34d-6", 8, true, back), -1);
}
END_TEST

START_TEST(xray_round_trip)
{
    uint8_t id[16];
    ck_assert_int_eq(traceid_from_xray("1-5759e988-bd862e3fe1be46a994272793", 35, id), 0);
    char hex[TRACEID_HEX_SIZE];
    traceid_to_hex(id, 16, hex);
    ck_assert_str_eq(hex, "5759e988bd862e3fe1be46a994272793");
    char x[TRACEID_XRAY_SIZE];
    traceid_to_xray(id, x);
    ck_assert_str_eq(x, "1-5759e988-bd862e3fe1be46a994272793");

    /* Uppercase is tolerated and comes out lowercase. */
    ck_assert_int_eq(traceid_from_xray("1-5759E988-BD862E3FE1BE46A994272793", 35, id), 0);
    traceid_to_xray(id, x);
    ck_assert_str_eq(x, "1-5759e988-bd862e3fe1be46a994272793");

    static const char *const bad[] = {
        "2-5759e988-bd862e3fe1be46a994272793",   /* version */
        "1-5759e98-bd862e3fe1be46a9942727930",   /* misplaced dash */
        "1_5759e988-bd862e3fe1be46a994272793",
        "1-5759e988_bd862e3fe1be46a994272793",
        "1-5759e988-bd862e3fe1be46a99427279z",
        "1-00000000-000000000000000000000000",   /* all zero */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(traceid_from_xray(bad[i], strlen(bad[i]), id) == -1, "%s", bad[i]);
    ck_assert_int_eq(traceid_from_xray("1-5759e988-bd862e3fe1be46a99427279", 34, id), -1);
}
END_TEST

START_TEST(zero_detection)
{
    uint8_t z[16] = {0};
    ck_assert(traceid_is_zero(z, 16));
    z[15] = 1;
    ck_assert(!traceid_is_zero(z, 16));
    ck_assert(traceid_is_zero(z, 15));
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("traceid");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, trace_id_has_time_prefix);
    tcase_add_test(tc, hundred_thousand_ids_are_unique);
    tcase_add_test(tc, hex_round_trip);
    tcase_add_test(tc, xray_round_trip);
    tcase_add_test(tc, zero_detection);
    suite_add_tcase(s, tc);
    return s;
}
