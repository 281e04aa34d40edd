/* Unit tests for util/uuid. */
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "util/uuid.h"

START_TEST(test_v4_format)
{
    rng_t r;
    rng_seed_with(&r, 3);
    for (int n = 0; n < 1000; n++) {
        char u[UUID_STR_SIZE];
        memset(u, 'x', sizeof u);
        uuid_v4(&r, u);
        ck_assert_uint_eq(strlen(u), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                ck_assert_int_eq(u[i], '-');
            else
                ck_assert_msg((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f'),
                              "not lowercase hex: %s", u);
        }
        ck_assert_int_eq(u[14], '4');
        ck_assert_msg(strchr("89ab", u[19]) != NULL, "variant nibble: %s", u);
        ck_assert(uuid_is_valid(u));
    }
}
END_TEST

START_TEST(test_v4_known_bytes)
{
    /* Seed 0's first word is 0x99ec5f36cb75f2b4, stored little-endian. */
    rng_t r;
    rng_seed_with(&r, 0);
    char u[UUID_STR_SIZE];
    uuid_v4(&r, u);
    ck_assert_int_eq(strncmp(u, "b4f275cb-365f-4c99-", 19), 0);
}
END_TEST

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

START_TEST(test_ten_thousand_unique)
{
    enum { N = 10000 };
    char (*ids)[UUID_STR_SIZE] = malloc(sizeof *ids * N);
    rng_t r;
    ck_assert_int_eq(rng_seed(&r), 0);
    for (int i = 0; i < N; i++)
        uuid_v4(&r, ids[i]);
    qsort(ids, N, sizeof *ids, cmp);
    for (int i = 1; i < N; i++)
        ck_assert_str_ne(ids[i - 1], ids[i]);
    free(ids);
}
END_TEST

static const struct {
    const char *s;
    bool valid;
} table[] = {
    {"68f126b0-1ceb-4a33-88be-d90fa7109eee", true},
    {"68F126B0-1CEB-4A33-88BE-D90FA7109EEE", true},
    {"00000000-0000-0000-0000-000000000000", true},
    {"68f126b0-1ceb-1a33-08be-d90fa7109eee", true},   /* any version */
    {"", false},
    {"68f126b0-1ceb-4a33-88be-d90fa7109ee", false},
    {"68f126b0-1ceb-4a33-88be-d90fa7109eeee", false},
    {"68f126b01ceb-4a33-88be-d90fa7109eeee", false},
    {"68f126b0-1ceb-4a33-88be_d90fa7109eee", false},
    {"68f126b0-1ceb-4a33-88be-d90fa7109eeg", false},
    {"{68f126b0-1ceb-4a33-88be-d90fa7109eee}", false},
    {" 68f126b0-1ceb-4a33-88be-d90fa7109eee", false},
    {"68f126b0-1ceb-4a33-88be-d90fa7109eee ", false},
    {"68f126b0c1ceb-4a33-88be-d90fa7109eee", false},
    {"home", false},
    {"@andrewbrown", false},
};

START_TEST(test_validator)
{
    ck_assert_msg(uuid_is_valid(table[_i].s) == table[_i].valid, "\"%s\"", table[_i].s);
}
END_TEST

START_TEST(test_validator_null)
{
    ck_assert(!uuid_is_valid(NULL));
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("uuid");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_v4_format);
    tcase_add_test(tc, test_v4_known_bytes);
    tcase_add_test(tc, test_ten_thousand_unique);
    tcase_add_loop_test(tc, test_validator, 0, (int)(sizeof table / sizeof table[0]));
    tcase_add_test(tc, test_validator_null);
    suite_add_tcase(s, tc);
    return s;
}
