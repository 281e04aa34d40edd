/* uuid: RFC 4122 version 4 ids in their lowercase text form. */
#ifndef CRUDDUR_UTIL_UUID_H
#define CRUDDUR_UTIL_UUID_H

#include <stdbool.h>
#include "util/rng.h"

#define UUID_STR_SIZE 37   /* 36 characters and the NUL */

void uuid_v4(rng_t *r, char out[UUID_STR_SIZE]);
/* True for 8-4-4-4-12 hex digits (either case); any version. */
bool uuid_is_valid(const char *s);

#endif
