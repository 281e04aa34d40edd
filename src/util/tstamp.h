/* tstamp: wall-clock and monotonic time, and the ISO 8601 form API.md uses
 * (Python's datetime.isoformat(): 2023-03-06T09:55:55.982931+00:00). */
#ifndef CRUDDUR_UTIL_TSTAMP_H
#define CRUDDUR_UTIL_TSTAMP_H

#include <stddef.h>
#include <stdint.h>

/* Length of the ISO form including its NUL. */
#define TSTAMP_ISO_SIZE 33

int64_t tstamp_now_us(void);        /* Unix time, microseconds (CLOCK_REALTIME) */
int64_t tstamp_now_ns(void);        /* Unix time, nanoseconds (CLOCK_REALTIME) */
int64_t tstamp_mono_ns(void);       /* CLOCK_MONOTONIC, nanoseconds, for durations */

/* Writes "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" for a Unix time in microseconds
 * (negative values included) into out[TSTAMP_ISO_SIZE]. Returns 0, or -1 if
 * the year is outside 0001..9999. */
int tstamp_iso8601(int64_t unix_us, char out[TSTAMP_ISO_SIZE]);

/* Parses that form (offset "+00:00" or "Z"; fraction of 0 to 6 digits).
 * Returns 0 and sets *unix_us, or -1. */
int tstamp_parse_iso8601(const char *s, int64_t *unix_us);

#endif
