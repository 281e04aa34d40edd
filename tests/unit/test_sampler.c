/* Unit tests for telemetry/sampler: configuration, the ratio rule over many
 * ids, determinism, and the parent-based rules. */
#include "check_main.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/sampler.h"

START_TEST(configuration)
{
    sampler_t s;
    char w[SAMPLER_WARN_SIZE];

    ck_assert_int_eq(sampler_configure(&s, NULL, NULL, w, sizeof w), 0);
    ck_assert_int_eq(s.kind, SAMPLER_PARENTBASED_ALWAYS_ON);
    ck_assert_str_eq(sampler_name(&s), "parentbased_always_on");
    ck_assert_str_eq(w, "");

    ck_assert_int_eq(sampler_configure(&s, "traceidratio", "0.25", w, sizeof w), 0);
    ck_assert_int_eq(s.kind, SAMPLER_TRACEIDRATIO);
    ck_assert(s.ratio == 0.25);
    ck_assert_uint_eq(s.bound, 1ULL << 62);
    ck_assert(!s.all);

    ck_assert_int_eq(sampler_configure(&s, "ParentBased_TraceIdRatio", "0", w, sizeof w), 0);
    ck_assert_int_eq(s.kind, SAMPLER_PARENTBASED_TRACEIDRATIO);
    ck_assert_uint_eq(s.bound, 0);

    ck_assert_int_eq(sampler_configure(&s, "traceidratio", NULL, w, sizeof w), 0);
    ck_assert(s.all);

    /* Invalid ratios fall back to 1.0 with a warning. */
    static const char *const bad[] = {"1.5", "-0.1", "abc", "0.5x", "nan", "inf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(sampler_configure(&s, "traceidratio", bad[i], w, sizeof w), 1);
        ck_assert_int_eq(s.kind, SAMPLER_TRACEIDRATIO);
        ck_assert(s.ratio == 1.0 && s.all);
        ck_assert_ptr_nonnull(strstr(w, "OTEL_TRACES_SAMPLER_ARG"));
    }
    /* The argument means nothing to other samplers. */
    ck_assert_int_eq(sampler_configure(&s, "always_off", "abc", w, sizeof w), 0);
    ck_assert_int_eq(s.kind, SAMPLER_ALWAYS_OFF);

    /* Unknown sampler: default, with a warning. */
    ck_assert_int_eq(sampler_configure(&s, "jaeger_remote", NULL, w, sizeof w), 1);
    ck_assert_int_eq(s.kind, SAMPLER_PARENTBASED_ALWAYS_ON);
    ck_assert_ptr_nonnull(strstr(w, "jaeger_remote"));
}
END_TEST

START_TEST(from_environment)
{
    sampler_t s;
    char w[SAMPLER_WARN_SIZE];
    setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
    setenv("OTEL_TRACES_SAMPLER_ARG", "0.5", 1);
    ck_assert_int_eq(sampler_from_env(&s, w, sizeof w), 0);
    ck_assert_int_eq(s.kind, SAMPLER_PARENTBASED_TRACEIDRATIO);
    ck_assert(s.ratio == 0.5);
    unsetenv("OTEL_TRACES_SAMPLER");
    unsetenv("OTEL_TRACES_SAMPLER_ARG");
    ck_assert_int_eq(sampler_from_env(&s, w, sizeof w), 0);
    ck_assert_int_eq(s.kind, SAMPLER_PARENTBASED_ALWAYS_ON);
}
END_TEST

START_TEST(ratio_within_bounds)
{
    enum { N = 100000 };
    sampler_t s;
    ck_assert_int_eq(sampler_configure(&s, "traceidratio", "0.25", NULL, 0), 0);
    rng_t r;
    ck_assert_int_eq(rng_seed(&r), 0);
    int hits = 0;
    for (int i = 0; i < N; i++) {
        uint8_t id[16];
        traceid_new_trace(&r, 1700000000 + i, id);
        bool a = sampler_should_sample(&s, id, false, -1);
        /* The same id always gets the same answer. */
        ck_assert(sampler_should_sample(&s, id, false, -1) == a);
        hits += a;
    }
    double mean = N * 0.25, sigma = sqrt(N * 0.25 * 0.75);   /* about 137 */
    ck_assert_msg(fabs(hits - mean) <= 4 * sigma, "%d sampled of %d", hits, N);
}
END_TEST

START_TEST(decision_depends_on_random_tail_only)
{
    sampler_t s;
    sampler_configure(&s, "traceidratio", "0.5", NULL, 0);
    uint8_t id[16] = {0};
    /* Bytes 8..15 = 0x7fff...: below 2^63, sampled; whatever the time. */
    memset(id + 8, 0xFF, 8);
    id[8] = 0x7F;
    for (int t = 0; t < 8; t++) {
        id[t] = (uint8_t)(t * 37);
        ck_assert(sampler_ratio_decides(&s, id));
    }
    id[8] = 0x80;   /* exactly 2^63 + ...: not sampled */
    memset(id + 9, 0, 7);
    ck_assert(!sampler_ratio_decides(&s, id));
    id[8] = 0;
    ck_assert(sampler_ratio_decides(&s, id));

    sampler_configure(&s, "traceidratio", "0", NULL, 0);
    ck_assert(!sampler_ratio_decides(&s, id));   /* even the smallest tail */
    sampler_configure(&s, "traceidratio", "1", NULL, 0);
    memset(id + 8, 0xFF, 8);
    ck_assert(sampler_ratio_decides(&s, id));    /* even the largest */
}
END_TEST

START_TEST(modes_and_parents)
{
    sampler_t s;
    uint8_t lo[16] = {0}, hi[16] = {0};
    lo[15] = 1;                  /* tail 1: sampled by any ratio > 0 */
    memset(hi + 8, 0xFF, 8);     /* tail max: sampled only at ratio 1 */

    sampler_configure(&s, "always_on", NULL, NULL, 0);
    ck_assert(sampler_should_sample(&s, hi, false, -1));
    ck_assert(sampler_should_sample(&s, hi, true, 0));     /* ignores the parent */

    sampler_configure(&s, "always_off", NULL, NULL, 0);
    ck_assert(!sampler_should_sample(&s, lo, false, -1));
    ck_assert(!sampler_should_sample(&s, lo, true, 1));

    sampler_configure(&s, "traceidratio", "0.5", NULL, 0);
    ck_assert(sampler_should_sample(&s, lo, true, 0));     /* ignores the parent */
    ck_assert(!sampler_should_sample(&s, hi, true, 1));

    sampler_configure(&s, "parentbased_always_on", NULL, NULL, 0);
    ck_assert(sampler_should_sample(&s, hi, false, -1));   /* root: on */
    ck_assert(sampler_should_sample(&s, hi, true, 1));
    ck_assert(!sampler_should_sample(&s, hi, true, 0));    /* parent said no */
    ck_assert(sampler_should_sample(&s, hi, true, -1));    /* parent did not decide */

    sampler_configure(&s, "parentbased_always_off", NULL, NULL, 0);
    ck_assert(!sampler_should_sample(&s, lo, false, -1));
    ck_assert(sampler_should_sample(&s, lo, true, 1));     /* parent said yes */
    ck_assert(!sampler_should_sample(&s, lo, true, 0));

    sampler_configure(&s, "parentbased_traceidratio", "0.5", NULL, 0);
    ck_assert(sampler_should_sample(&s, lo, false, -1));   /* root: by ratio */
    ck_assert(!sampler_should_sample(&s, hi, false, -1));
    ck_assert(sampler_should_sample(&s, hi, true, 1));     /* parent wins */
    ck_assert(!sampler_should_sample(&s, lo, true, 0));
    ck_assert(!sampler_should_sample(&s, hi, true, -1));   /* undecided parent: ratio */
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, configuration);
    tcase_add_test(tc, from_environment);
    tcase_add_test(tc, ratio_within_bounds);
    tcase_add_test(tc, decision_depends_on_random_tail_only);
    tcase_add_test(tc, modes_and_parents);
    suite_add_tcase(s, tc);
    return s;
}
