/* jsonw: writes the compact JSON form of a jansson value into a buf_t. Every
 * response body passes through here (http_response_json), so it writes in
 * place: no intermediate string, no copy, no table of visited containers
 * (a depth limit stands in for json_dumps' cycle check). Output is byte for
 * byte what json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) gives; reals are
 * formatted by jansson itself, so they follow its build (%.17g or dtoa). */
#include "util/jsonw.h"
#include "util/utf8.h"

#include <stdint.h>
#include <string.h>

/* 1 for the ASCII bytes a JSON string must escape: control characters,
 * '"' and '\\' (jansson leaves '/' and DEL alone). */
static const unsigned char must_escape[128] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* '"' */
    ['\\'] = 1,
};

static int put_string(buf_t *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Room for the quotes and the bytes as they are; an escape asks for more. */
    if (buf_reserve(b, n + 2) != 0)
        return -1;
    char *d = b->data + b->len;
    *d++ = '"';
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80 && !must_escape[c]) {
            *d++ = (char)c;
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq_len((const char *)(s + i), n - i);
            if (k == 0)
                return -1;
            memcpy(d, s + i, k);
            d += k;
            i += k;
            continue;
        }
        /* At most 6 bytes for this one, then the rest and the closing quote. */
        b->len = (size_t)(d - b->data);
        if (buf_reserve(b, 6 + (n - i - 1) + 1) != 0)
            return -1;
        d = b->data + b->len;
        *d++ = '\\';
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        default:
            /* "\u%04X", as jansson writes it */
            *d++ = 'u';
            *d++ = '0';
            *d++ = '0';
            *d++ = "0123456789ABCDEF"[c >> 4];
            *d++ = "0123456789ABCDEF"[c & 0xF];
            break;
        }
        i++;
    }
    *d++ = '"';
    b->len = (size_t)(d - b->data);
    b->data[b->len] = '\0';
    return 0;
}

static int put_integer(buf_t *b, json_int_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    /* through the unsigned magnitude, so that the most negative value works */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    return buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

static int put_real(buf_t *b, const json_t *j)
{
    char tmp[128];
    size_t n = json_dumpb(j, tmp, sizeof tmp, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n == 0 || n > sizeof tmp)
        return -1;
    return buf_append(b, tmp, n);
}

static int put_value(buf_t *b, const json_t *j, int depth);

static int put_array(buf_t *b, const json_t *j, int depth)
{
    size_t n = json_array_size(j);
    if (buf_putc(b, '[') != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && buf_putc(b, ',') != 0)
            return -1;
        if (put_value(b, json_array_get(j, i), depth + 1) != 0)
            return -1;
    }
    return buf_putc(b, ']');
}

static int put_object(buf_t *b, const json_t *j, int depth)
{
    json_t *o = (json_t *)j;        /* the iterator API takes no const */
    if (buf_putc(b, '{') != 0)
        return -1;
    int first = 1;
    for (void *it = json_object_iter(o); it != NULL; it = json_object_iter_next(o, it)) {
        if (!first && buf_putc(b, ',') != 0)
            return -1;
        first = 0;
        const char *key = json_object_iter_key(it);
#if JANSSON_VERSION_HEX >= 0x020e00
        size_t key_len = json_object_iter_key_len(it);
#else
        size_t key_len = strlen(key);
#endif
        if (put_string(b, key, key_len) != 0 || buf_putc(b, ':') != 0 ||
            put_value(b, json_object_iter_value(it), depth + 1) != 0)
            return -1;
    }
    return buf_putc(b, '}');
}

static int put_value(buf_t *b, const json_t *j, int depth)
{
    if (j == NULL)
        return -1;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return depth >= JSONW_MAX_DEPTH ? -1 : put_object(b, j, depth);
    case JSON_ARRAY:
        return depth >= JSONW_MAX_DEPTH ? -1 : put_array(b, j, depth);
    case JSON_STRING:
        return put_string(b, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return put_integer(b, json_integer_value(j));
    case JSON_REAL:
        return put_real(b, j);
    case JSON_TRUE:
        return buf_append(b, "true", 4);
    case JSON_FALSE:
        return buf_append(b, "false", 5);
    case JSON_NULL:
        return buf_append(b, "null", 4);
    default:
        return -1;
    }
}

int jsonw_append(buf_t *out, const json_t *j)
{
    size_t old = out->len;
    if (put_value(out, j, 0) != 0) {
        out->len = old;
        if (out->data != NULL)
            out->data[old] = '\0';
        return -1;
    }
    return 0;
}
