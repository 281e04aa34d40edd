/* Unit tests for util/rng. Reference values: splitmix64 (seed 0 gives
 * 0xe220a8397b1dcdaf first) feeding xoshiro256**, computed independently. */
#include <stdint.h>
#include <string.h>

#include "check_main.h"
#include "util/rng.h"

START_TEST(test_seed_with_reference)
{
    rng_t r;
    rng_seed_with(&r, 0);
    ck_assert_uint_eq(r.s[0], 0xe220a8397b1dcdafULL);
    ck_assert_uint_eq(r.s[1], 0x6e789e6aa1b965f4ULL);
    ck_assert_uint_eq(r.s[2], 0x06c45d188009454fULL);
    ck_assert_uint_eq(r.s[3], 0xf88bb8a8724c81ecULL);
    ck_assert_uint_eq(rng_next(&r), 0x99ec5f36cb75f2b4ULL);
    ck_assert_uint_eq(rng_next(&r), 0xbf6e1f784956452aULL);
    ck_assert_uint_eq(rng_next(&r), 0x1a5f849d4933e6e0ULL);

    rng_seed_with(&r, 42);
    ck_assert_uint_eq(rng_next(&r), 0x15780b2e0c2ec716ULL);
    ck_assert_uint_eq(rng_next(&r), 0x6104d9866d113a7eULL);
    ck_assert_uint_eq(rng_next(&r), 0xae17533239e499a1ULL);
}
END_TEST

START_TEST(test_seed_with_is_deterministic)
{
    rng_t a, b, c;
    rng_seed_with(&a, 12345);
    rng_seed_with(&b, 12345);
    rng_seed_with(&c, 12346);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a);
        ck_assert_uint_eq(x, rng_next(&b));
        differ += x != rng_next(&c);
    }
    ck_assert_int_eq(differ, 1000);
}
END_TEST

START_TEST(test_kernel_seeds_differ)
{
    rng_t a, b;
    ck_assert_int_eq(rng_seed(&a), 0);
    ck_assert_int_eq(rng_seed(&b), 0);
    ck_assert(memcmp(a.s, b.s, sizeof a.s) != 0);
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += rng_next(&a) == rng_next(&b);
    ck_assert_int_eq(same, 0);
}
END_TEST

START_TEST(test_fill_lengths)
{
    /* Each length gets exactly its bytes: the guard bytes stay untouched. */
    for (size_t len = 0; len <= 33; len++) {
        unsigned char out[48];
        memset(out, 0xAA, sizeof out);
        rng_t r;
        rng_seed_with(&r, len);
        rng_fill(&r, out + 4, len);
        for (size_t i = 0; i < 4; i++)
            ck_assert_uint_eq(out[i], 0xAA);
        for (size_t i = 4 + len; i < sizeof out; i++)
            ck_assert_uint_eq(out[i], 0xAA);
    }
}
END_TEST

START_TEST(test_fill_matches_next)
{
    rng_t a, b;
    rng_seed_with(&a, 7);
    rng_seed_with(&b, 7);
    unsigned char out[20];
    rng_fill(&a, out, sizeof out);
    uint64_t v[3] = {rng_next(&b), rng_next(&b), rng_next(&b)};
    ck_assert_int_eq(memcmp(out, v, 20), 0);
    /* A partial word consumes a whole one: the streams stay in step. */
    ck_assert_uint_eq(rng_next(&a), rng_next(&b));
}
END_TEST

START_TEST(test_fill_is_not_constant)
{
    rng_t r;
    rng_seed_with(&r, 99);
    unsigned char out[4096];
    rng_fill(&r, out, sizeof out);
    int counts[256] = {0};
    for (size_t i = 0; i < sizeof out; i++)
        counts[out[i]]++;
    /* 16 per value expected; a broken fill would pile up on a few. */
    for (int i = 0; i < 256; i++)
        ck_assert_int_lt(counts[i], 50);
}
END_TEST

START_TEST(test_bits_are_balanced)
{
    rng_t r;
    rng_seed_with(&r, 1);
    int ones[64] = {0};
    for (int i = 0; i < 10000; i++) {
        uint64_t x = rng_next(&r);
        for (int b = 0; b < 64; b++)
            ones[b] += (int)((x >> b) & 1);
    }
    for (int b = 0; b < 64; b++) {
        ck_assert_int_gt(ones[b], 4700);
        ck_assert_int_lt(ones[b], 5300);
    }
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_seed_with_reference);
    tcase_add_test(tc, test_seed_with_is_deterministic);
    tcase_add_test(tc, test_kernel_seeds_differ);
    tcase_add_test(tc, test_fill_lengths);
    tcase_add_test(tc, test_fill_matches_next);
    tcase_add_test(tc, test_fill_is_not_constant);
    tcase_add_test(tc, test_bits_are_balanced);
    suite_add_tcase(s, tc);
    return s;
}
