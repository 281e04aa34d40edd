/* rng: xoshiro256** (Blackman and Vigna), one per worker, seeded from the
 * kernel. It feeds uuids and trace/span ids, where only uniqueness matters. */
#include "util/rng.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* xoshiro must never run from the all-zero state. */
static void fix_zero(rng_t *r)
{
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
        r->s[0] = 0x9e3779b97f4a7c15ULL;
}

int rng_seed(rng_t *r)
{
    unsigned char *p = (unsigned char *)r->s;
    size_t need = sizeof r->s, got = 0;
    while (got < need) {
        ssize_t n = getrandom(p + got, need - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            return -1;
        got += (size_t)n;
    }
    fix_zero(r);
    return 0;
}

void rng_seed_with(rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    fix_zero(r);
}

uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void rng_fill(rng_t *r, void *out, size_t len)
{
    unsigned char *p = out;
    while (len >= 8) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        len -= 8;
    }
    if (len > 0) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, len);
    }
}
