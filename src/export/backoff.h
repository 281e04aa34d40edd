/* backoff: how long an exporter waits before trying a backend again.
 * Exponential backoff with full jitter (a uniform draw between 0 and
 * min(cap, base * 2^failures)), and the waits a service asks for itself:
 * HTTP Retry-After (seconds or an HTTP-date) and Rollbar's
 * X-Rate-Limit-Remaining-Seconds. The delivery engine (export.c) stores the
 * resulting time in the spool's export_state, so a later run waits too. */
#ifndef CRUDDUR_EXPORT_BACKOFF_H
#define CRUDDUR_EXPORT_BACKOFF_H

#include <stdint.h>

#define BACKOFF_BASE_MS 1000         /* the first retry waits up to 1 s */
#define BACKOFF_CAP_MS 300000        /* never more than 5 minutes */
#define BACKOFF_FLOOR_MS 100         /* and never less than this: no hot loops */
#define BACKOFF_MAX_ASKED_MS 3600000 /* a service asking for more than an hour gets an hour */

/* The wait before attempt number failures + 1, after `failures` (>= 1)
 * consecutive failures: FLOOR <= result <= min(CAP, BASE * 2^(failures-1)).
 * `random` is any 64-bit random value (the jitter). */
int64_t backoff_delay_ms(int64_t failures, uint64_t random);

/* Parses a Retry-After value: delta-seconds ("120") or an IMF-fixdate
 * ("Wed, 21 Oct 2015 07:28:00 GMT", relative to now_s, Unix seconds). Returns
 * the wait in milliseconds (0 for a date in the past, at most
 * BACKOFF_MAX_ASKED_MS), or -1 when the value is neither. */
int64_t backoff_parse_retry_after(const char *value, int64_t now_s);

/* Parses a non-negative decimal integer header value (blanks around it
 * allowed). Returns it, or -1 when the value is not one. */
int64_t backoff_parse_uint(const char *value);

#endif
