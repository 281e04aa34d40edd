/* attrs: typed attribute lists and their JSON form, as stored in the spool's
 * attributes columns. Spans, events, log records and the resource all build
 * their attributes here; the JSON is written directly into a buf_t. */
#include "telemetry/attrs.h"
#include "util/utf8.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void attrs_init(attrs_t *a, size_t max_count, size_t max_value_len)
{
    memset(a, 0, sizeof *a);
    a->max_count = max_count ? max_count : ATTRS_DEFAULT_MAX_COUNT;
    a->max_value_len = max_value_len ? max_value_len : ATTRS_DEFAULT_MAX_VALUE_LEN;
}

void attrs_reset(attrs_t *a)
{
    a->n = 0;
    a->dropped = 0;
    buf_reset(&a->arena);
}

void attrs_free(attrs_t *a)
{
    free(a->e);
    buf_free(&a->arena);
    a->e = NULL;
    a->n = a->cap = 0;
    a->dropped = 0;
}

size_t attrs_count(const attrs_t *a)
{
    return a->n;
}

size_t attrs_dropped(const attrs_t *a)
{
    return a->dropped;
}

size_t attrs_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t cut = max;
    /* s[cut] is the first byte left out: if it continues a sequence, that
     * whole character goes too (a UTF-8 character is at most 4 bytes). */
    for (int k = 0; k < 3 && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80; k++)
        cut--;
    if (((unsigned char)s[cut] & 0xC0) == 0x80 && cut < max) {
        /* More than 3 continuation bytes: not UTF-8 anyway, cut at max. */
        cut = max;
    }
    return cut;
}

const attrs_entry *attrs_find(const attrs_t *a, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < a->n; i++)
        if (a->e[i].key_len == kl && memcmp(a->arena.data + a->e[i].key_off, key, kl) == 0)
            return &a->e[i];
    return NULL;
}

const char *attrs_get_str(const attrs_t *a, const attrs_entry *e, size_t *len)
{
    if (e == NULL || e->type != ATTRS_STRING)
        return NULL;
    if (len != NULL)
        *len = e->val_len;
    return a->arena.data + e->val_off;
}

/* Room in the arena for extra bytes within ATTRS_MAX_ARENA. */
static bool arena_fits(const attrs_t *a, size_t extra)
{
    return a->arena.len + extra <= ATTRS_MAX_ARENA;
}

/* Finds key or makes a new entry for it. Returns the entry, or NULL with
 * *rc set (1 dropped, -1 no memory). On a new entry the key is already in
 * the arena; the caller fills type and value. *fresh tells which. */
static attrs_entry *slot(attrs_t *a, const char *key, size_t extra, int *rc, bool *fresh)
{
    size_t kl = key ? strlen(key) : 0;
    *fresh = false;
    if (kl == 0 || kl > ATTRS_MAX_KEY) {
        a->dropped++;
        *rc = 1;
        return NULL;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->e[i].key_len == kl && memcmp(a->arena.data + a->e[i].key_off, key, kl) == 0) {
            if (!arena_fits(a, extra)) {
                a->dropped++;
                *rc = 1;
                return NULL;
            }
            return &a->e[i];
        }
    }
    if (a->n >= a->max_count || !arena_fits(a, kl + 1 + extra)) {
        a->dropped++;
        *rc = 1;
        return NULL;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        if (cap > a->max_count)
            cap = a->max_count;
        attrs_entry *e = realloc(a->e, cap * sizeof *e);
        if (e == NULL) {
            *rc = -1;
            return NULL;
        }
        a->e = e;
        a->cap = cap;
    }
    /* Reserve everything now so that the value append cannot fail halfway. */
    if (buf_reserve(&a->arena, kl + 1 + extra + 8) != 0) {
        *rc = -1;
        return NULL;
    }
    attrs_entry *e = &a->e[a->n];
    e->key_off = (uint32_t)a->arena.len;
    e->key_len = (uint32_t)kl;
    buf_append(&a->arena, key, kl + 1);   /* reserved: cannot fail */
    *fresh = true;
    return e;
}

static void commit(attrs_t *a, bool fresh)
{
    if (fresh)
        a->n++;
}

/* Takes the arena back to mark when a value could not be stored (a new key
 * goes with it; an existing entry keeps its old value). */
static void rollback(attrs_t *a, size_t mark)
{
    a->arena.len = mark;
    if (a->arena.data != NULL)
        a->arena.data[mark] = '\0';
}

int attrs_set_strn(attrs_t *a, const char *key, const char *value, size_t len)
{
    int rc = 0;
    bool fresh;
    if (value == NULL) {
        a->dropped++;
        return 1;
    }
    len = attrs_utf8_cut(value, len, a->max_value_len);
    size_t mark = a->arena.len;
    attrs_entry *e = slot(a, key, len + 1, &rc, &fresh);
    if (e == NULL)
        return rc;
    size_t off = a->arena.len;
    if (buf_append(&a->arena, value, len) != 0 || buf_putc(&a->arena, '\0') != 0) {
        rollback(a, mark);
        return -1;
    }
    e->type = ATTRS_STRING;
    e->val_off = (uint32_t)off;
    e->val_len = (uint32_t)len;
    commit(a, fresh);
    return 0;
}

int attrs_set_str(attrs_t *a, const char *key, const char *value)
{
    return attrs_set_strn(a, key, value, value ? strlen(value) : 0);
}

static int set_scalar(attrs_t *a, const char *key, attrs_type t, int64_t i, double d, bool b)
{
    int rc = 0;
    bool fresh;
    attrs_entry *e = slot(a, key, 0, &rc, &fresh);
    if (e == NULL)
        return rc;
    e->type = t;
    e->val_off = e->val_len = 0;
    if (t == ATTRS_INT)
        e->v.i = i;
    else if (t == ATTRS_DOUBLE)
        e->v.d = d;
    else
        e->v.b = b;
    commit(a, fresh);
    return 0;
}

int attrs_set_int(attrs_t *a, const char *key, int64_t value)
{
    return set_scalar(a, key, ATTRS_INT, value, 0, false);
}

int attrs_set_double(attrs_t *a, const char *key, double value)
{
    if (isnan(value))
        return attrs_set_str(a, key, "NaN");
    if (isinf(value))
        return attrs_set_str(a, key, value > 0 ? "Infinity" : "-Infinity");
    return set_scalar(a, key, ATTRS_DOUBLE, 0, value, false);
}

int attrs_set_bool(attrs_t *a, const char *key, bool value)
{
    return set_scalar(a, key, ATTRS_BOOL, 0, 0, value);
}

/* Arrays of fixed-size elements: the raw elements go into the arena. */
static int set_fixed_array(attrs_t *a, const char *key, attrs_type t, const void *v,
                           size_t n, size_t elem)
{
    int rc = 0;
    bool fresh;
    if (v == NULL && n > 0) {
        a->dropped++;
        return 1;
    }
    if (n > ATTRS_MAX_ARRAY)
        n = ATTRS_MAX_ARRAY;
    size_t mark = a->arena.len;
    attrs_entry *e = slot(a, key, n * elem + 8, &rc, &fresh);
    if (e == NULL)
        return rc;
    /* Align the elements so they can be read back in place. */
    size_t pad = (8 - a->arena.len % 8) % 8;
    static const char zeros[8];
    if (buf_append(&a->arena, zeros, pad) != 0) {
        rollback(a, mark);
        return -1;
    }
    size_t off = a->arena.len;
    if (n > 0 && buf_append(&a->arena, v, n * elem) != 0) {
        rollback(a, mark);
        return -1;
    }
    e->type = t;
    e->val_off = (uint32_t)off;
    e->val_len = (uint32_t)n;
    commit(a, fresh);
    return 0;
}

int attrs_set_int_array(attrs_t *a, const char *key, const int64_t *values, size_t n)
{
    return set_fixed_array(a, key, ATTRS_INT_ARRAY, values, n, sizeof(int64_t));
}

int attrs_set_double_array(attrs_t *a, const char *key, const double *values, size_t n)
{
    for (size_t i = 0; i < n && i < ATTRS_MAX_ARRAY; i++) {
        if (!isfinite(values[i])) {
            a->dropped++;
            return 1;
        }
    }
    return set_fixed_array(a, key, ATTRS_DOUBLE_ARRAY, values, n, sizeof(double));
}

int attrs_set_bool_array(attrs_t *a, const char *key, const bool *values, size_t n)
{
    return set_fixed_array(a, key, ATTRS_BOOL_ARRAY, values, n, sizeof(bool));
}

/* String arrays: each element is a uint32 length, the bytes and a NUL. */
int attrs_set_str_array(attrs_t *a, const char *key, const char *const *values, size_t n)
{
    int rc = 0;
    bool fresh;
    if (values == NULL && n > 0) {
        a->dropped++;
        return 1;
    }
    if (n > ATTRS_MAX_ARRAY)
        n = ATTRS_MAX_ARRAY;
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        if (values[i] == NULL) {
            a->dropped++;
            return 1;
        }
        need += 5 + attrs_utf8_cut(values[i], strlen(values[i]), a->max_value_len);
    }
    size_t mark = a->arena.len;
    attrs_entry *e = slot(a, key, need, &rc, &fresh);
    if (e == NULL)
        return rc;
    size_t off = a->arena.len;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = (uint32_t)attrs_utf8_cut(values[i], strlen(values[i]), a->max_value_len);
        if (buf_append(&a->arena, &l, sizeof l) != 0 || buf_append(&a->arena, values[i], l) != 0 ||
            buf_putc(&a->arena, '\0') != 0) {
            rollback(a, mark);
            return -1;
        }
    }
    e->type = ATTRS_STRING_ARRAY;
    e->val_off = (uint32_t)off;
    e->val_len = (uint32_t)n;
    commit(a, fresh);
    return 0;
}

/* ---- JSON ----------------------------------------------------------- */

int attrs_json_string(buf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (buf_reserve(out, len + 2) != 0 || buf_putc(out, '"') != 0)
        return -1;
    size_t run = 0;   /* start of bytes to copy verbatim */
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t skip = 1;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq_len((const char *)(p + i), len - i);
            if (n > 0) {
                i += n;
                continue;
            }
            esc = "\xEF\xBF\xBD";
        } else if (c == '"') {
            esc = "\\\"";
        } else if (c == '\\') {
            esc = "\\\\";
        } else if (c == '\n') {
            esc = "\\n";
        } else if (c == '\r') {
            esc = "\\r";
        } else if (c == '\t') {
            esc = "\\t";
        } else if (c == '\b') {
            esc = "\\b";
        } else if (c == '\f') {
            esc = "\\f";
        } else if (c == 0) {
            esc = "\xEF\xBF\xBD";
        } else {
            memcpy(ubuf, "\\u00", 4);
            ubuf[4] = hex[c >> 4];
            ubuf[5] = hex[c & 0x0F];
            ubuf[6] = '\0';
            esc = ubuf;
        }
        if (buf_append(out, s + run, i - run) != 0 || buf_puts(out, esc) != 0)
            return -1;
        i += skip;
        run = i;
    }
    if (buf_append(out, s + run, i - run) != 0 || buf_putc(out, '"') != 0)
        return -1;
    return 0;
}

int attrs_json_cstr(buf_t *out, const char *s)
{
    if (s == NULL)
        return buf_puts(out, "null");
    return attrs_json_string(out, s, strlen(s));
}

int attrs_json_double(buf_t *out, double d)
{
    if (!isfinite(d))
        return buf_puts(out, "null");
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (strpbrk(tmp, ".eE") == NULL)
        strcat(tmp, ".0");
    return buf_puts(out, tmp);
}

static int json_int(buf_t *out, int64_t v)
{
    return buf_printf(out, "%" PRId64, v);
}

static int json_value(const attrs_t *a, const attrs_entry *e, buf_t *out)
{
    const char *base = a->arena.data;
    switch (e->type) {
    case ATTRS_STRING:
        return attrs_json_string(out, base + e->val_off, e->val_len);
    case ATTRS_INT:
        return json_int(out, e->v.i);
    case ATTRS_DOUBLE:
        return attrs_json_double(out, e->v.d);
    case ATTRS_BOOL:
        return buf_puts(out, e->v.b ? "true" : "false");
    default:
        break;
    }
    if (buf_putc(out, '[') != 0)
        return -1;
    size_t off = e->val_off;
    for (uint32_t i = 0; i < e->val_len; i++) {
        if (i > 0 && buf_putc(out, ',') != 0)
            return -1;
        int rc = 0;
        if (e->type == ATTRS_STRING_ARRAY) {
            uint32_t l;
            memcpy(&l, base + off, sizeof l);
            rc = attrs_json_string(out, base + off + sizeof l, l);
            off += sizeof l + l + 1;
        } else if (e->type == ATTRS_INT_ARRAY) {
            int64_t v;
            memcpy(&v, base + off + i * sizeof v, sizeof v);
            rc = json_int(out, v);
        } else if (e->type == ATTRS_DOUBLE_ARRAY) {
            double v;
            memcpy(&v, base + off + i * sizeof v, sizeof v);
            rc = attrs_json_double(out, v);
        } else {
            bool v;
            memcpy(&v, base + off + i * sizeof v, sizeof v);
            rc = buf_puts(out, v ? "true" : "false");
        }
        if (rc != 0)
            return -1;
    }
    return buf_putc(out, ']');
}

int attrs_to_json(const attrs_t *a, buf_t *out)
{
    size_t mark = out->len;
    if (buf_putc(out, '{') != 0)
        return -1;
    for (size_t i = 0; i < a->n; i++) {
        const attrs_entry *e = &a->e[i];
        if ((i > 0 && buf_putc(out, ',') != 0) ||
            attrs_json_string(out, a->arena.data + e->key_off, e->key_len) != 0 ||
            buf_putc(out, ':') != 0 || json_value(a, e, out) != 0)
            goto fail;
    }
    if (buf_putc(out, '}') != 0)
        goto fail;
    return 0;
fail:
    out->len = mark;
    if (out->data != NULL)
        out->data[mark] = '\0';
    return -1;
}
