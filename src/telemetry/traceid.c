/* traceid: trace and span ids (time-prefixed, X-Ray compatible) and their hex
 * and X-Ray text forms, shared by propagation, the collector and the spool. */
#include "telemetry/traceid.h"

#include <string.h>

static const char hexdig[] = "0123456789abcdef";

bool traceid_is_zero(const uint8_t *id, size_t len)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= id[i];
    return acc == 0;
}

void traceid_new_trace(rng_t *r, int64_t unix_sec, uint8_t out[TRACEID_SIZE])
{
    uint32_t t = (uint32_t)unix_sec;
    out[0] = (uint8_t)(t >> 24);
    out[1] = (uint8_t)(t >> 16);
    out[2] = (uint8_t)(t >> 8);
    out[3] = (uint8_t)t;
    /* The random part alone must be non-zero: samplers read bytes 8..15 and
     * X-Ray rejects an all-zero random part. */
    do
        rng_fill(r, out + 4, TRACEID_SIZE - 4);
    while (traceid_is_zero(out + 4, TRACEID_SIZE - 4));
}

void traceid_new_span(rng_t *r, uint8_t out[SPANID_SIZE])
{
    do
        rng_fill(r, out, SPANID_SIZE);
    while (traceid_is_zero(out, SPANID_SIZE));
}

void traceid_to_hex(const uint8_t *id, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hexdig[id[i] >> 4];
        out[2 * i + 1] = hexdig[id[i] & 0x0F];
    }
    out[2 * len] = '\0';
}

static int hexval(char c, bool allow_upper)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (allow_upper && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int traceid_from_hex(const char *hex, size_t len, bool allow_upper, uint8_t *out)
{
    for (size_t i = 0; i < len; i++) {
        int hi = hexval(hex[2 * i], allow_upper);
        if (hi < 0)
            return -1;
        int lo = hexval(hex[2 * i + 1], allow_upper);
        if (lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void traceid_to_xray(const uint8_t id[TRACEID_SIZE], char out[TRACEID_XRAY_SIZE])
{
    out[0] = '1';
    out[1] = '-';
    traceid_to_hex(id, 4, out + 2);
    out[10] = '-';
    traceid_to_hex(id + 4, TRACEID_SIZE - 4, out + 11);
}

int traceid_from_xray(const char *s, size_t len, uint8_t out[TRACEID_SIZE])
{
    uint8_t tmp[TRACEID_SIZE];
    if (len != TRACEID_XRAY_LEN || s[0] != '1' || s[1] != '-' || s[10] != '-')
        return -1;
    if (traceid_from_hex(s + 2, 4, true, tmp) != 0 ||
        traceid_from_hex(s + 11, TRACEID_SIZE - 4, true, tmp + 4) != 0)
        return -1;
    if (traceid_is_zero(tmp, TRACEID_SIZE))
        return -1;
    memcpy(out, tmp, TRACEID_SIZE);
    return 0;
}
