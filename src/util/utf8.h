/* utf8: validation and code-point counting (API.md limits count code points). */
#ifndef CRUDDUR_UTIL_UTF8_H
#define CRUDDUR_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if s[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). NUL bytes are allowed here. */
bool utf8_valid(const char *s, size_t len);

/* Number of code points in s[0..len), or -1 if it is not valid UTF-8. */
long utf8_count(const char *s, size_t len);

/* Length of the well-formed sequence that starts s[0..avail) (1 for
 * ASCII), or 0 when it is ill-formed or cut short. */
size_t utf8_seq_len(const char *s, size_t avail);

/* The same, and the code point in *cp. */
size_t utf8_decode(const char *s, size_t avail, uint32_t *cp);

/* True if s[0..len) holds only Unicode white space (or is empty). */
bool utf8_is_blank(const char *s, size_t len);

#endif
