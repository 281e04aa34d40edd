/* utf8: strict UTF-8 decoding (RFC 3629) for input checks: message length
 * limits count code points, and blank checks see Unicode white space. */
#include "util/utf8.h"

#include <stdint.h>

/* Decodes one code point at s[*i..len). Returns it and advances *i, or
 * returns -1 for an ill-formed sequence. */
static int32_t decode(const unsigned char *s, size_t len, size_t *i)
{
    size_t p = *i;
    unsigned c = s[p];
    if (c < 0x80) {
        *i = p + 1;
        return (int32_t)c;
    }
    int n;
    unsigned lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        cp = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;       /* overlong */
        else if (c == 0xED)
            hi = 0x9F;       /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        cp = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;       /* overlong */
        else if (c == 0xF4)
            hi = 0x8F;       /* above U+10FFFF */
    } else {
        return -1;
    }
    if (len - p - 1 < (size_t)n)
        return -1;
    for (int k = 1; k <= n; k++) {
        unsigned b = s[p + (size_t)k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            return -1;
        cp = (cp << 6) | (b & 0x3F);
    }
    *i = p + (size_t)n + 1;
    return (int32_t)cp;
}

size_t utf8_decode(const char *s, size_t avail, uint32_t *cp)
{
    size_t i = 0;
    int32_t c = avail > 0 ? decode((const unsigned char *)s, avail, &i) : -1;
    if (c < 0)
        return 0;
    *cp = (uint32_t)c;
    return i;
}

size_t utf8_seq_len(const char *s, size_t avail)
{
    uint32_t cp;
    return utf8_decode(s, avail, &cp);
}

bool utf8_valid(const char *s, size_t len)
{
    return utf8_count(s, len) >= 0;
}

long utf8_count(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    long n = 0;
    while (i < len) {
        if (decode(u, len, &i) < 0)
            return -1;
        n++;
    }
    return n;
}

/* Unicode's White_Space property. */
static bool is_space(int32_t c)
{
    switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
    case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

bool utf8_is_blank(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        int32_t c = decode(u, len, &i);
        if (c < 0 || !is_space(c))
            return false;
    }
    return true;
}
