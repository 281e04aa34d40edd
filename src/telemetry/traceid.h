/* traceid: trace and span ids and their text forms. Every request's trace id
 * starts here (or comes in through propagation), and the hex forms are what
 * the spool stores and the exporters send.
 *
 * A trace id is 16 bytes: bytes 0-3 are the Unix time in seconds (big-endian)
 * and bytes 4-15 are random, so every id is also a valid X-Ray trace id
 * ("1-" + 8 hex of time + "-" + 24 hex of randomness). A span id is 8 random
 * bytes. Neither is ever all zeros. */
#ifndef CRUDDUR_TELEMETRY_TRACEID_H
#define CRUDDUR_TELEMETRY_TRACEID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/rng.h"

#define TRACEID_SIZE 16
#define SPANID_SIZE 8
#define TRACEID_HEX_SIZE 33   /* 32 hex digits and the NUL */
#define SPANID_HEX_SIZE 17    /* 16 hex digits and the NUL */
#define TRACEID_XRAY_LEN 35   /* "1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx" */
#define TRACEID_XRAY_SIZE 36  /* with the NUL */

/* A new trace id for a trace starting at unix_sec (pass the request's start
 * time; values outside 32 bits are truncated as X-Ray does). */
void traceid_new_trace(rng_t *r, int64_t unix_sec, uint8_t out[TRACEID_SIZE]);
/* A new span id. */
void traceid_new_span(rng_t *r, uint8_t out[SPANID_SIZE]);

/* True if all len bytes are zero (an invalid id). */
bool traceid_is_zero(const uint8_t *id, size_t len);

/* Lowercase hex of id[0..len) into out[2 * len + 1], NUL-terminated. */
void traceid_to_hex(const uint8_t *id, size_t len, char *out);

/* Decodes exactly 2 * len hex digits from hex into out[len]. Uppercase digits
 * are accepted only if allow_upper (W3C headers forbid them). Returns 0, or -1
 * on any other character (out may then be partly written). Does not check for
 * all zeros. */
int traceid_from_hex(const char *hex, size_t len, bool allow_upper, uint8_t *out);

/* The X-Ray form "1-<8 hex>-<24 hex>" of a trace id, into out[TRACEID_XRAY_SIZE]. */
void traceid_to_xray(const uint8_t id[TRACEID_SIZE], char out[TRACEID_XRAY_SIZE]);

/* Parses exactly len bytes of the X-Ray form (either hex case) into out.
 * Returns 0, or -1 if the form is wrong or the id is all zeros. */
int traceid_from_xray(const char *s, size_t len, uint8_t out[TRACEID_SIZE]);

#endif
