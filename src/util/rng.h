/* rng: a fast per-worker pseudo-random generator (xoshiro256**) seeded from
 * the kernel (getrandom). Not for secrets; for ids that must not collide. */
#ifndef CRUDDUR_UTIL_RNG_H
#define CRUDDUR_UTIL_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng_t;

/* Seeds from getrandom(). Returns 0, or -1 if the kernel gave no entropy. Call
 * again in a child after fork(): parent and child must not share a stream. */
int rng_seed(rng_t *r);
/* Seeds deterministically, for tests. */
void rng_seed_with(rng_t *r, uint64_t seed);
uint64_t rng_next(rng_t *r);
void rng_fill(rng_t *r, void *out, size_t len);

#endif
