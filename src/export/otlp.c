/* otlp: encodes spool spans and log records as OTLP/HTTP JSON requests and
 * reads the collector's answers. See otlp.h for the mapping. The spool's
 * JSON is translated by a small scanner rather than a DOM: a span's
 * attributes, events and links are read once and written straight into the
 * request, which keeps an exporter draining a large backlog cheap. */
#include "export/otlp.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telemetry/attrs.h"
#include "util/utf8.h"

#define MAX_DEPTH 16

/* ---- a scanner over JSON text -------------------------------------------- */

typedef struct js {
    const char *p, *end;
} js;

typedef struct tok {
    const char *s;
    size_t n;
} tok;

static void ws(js *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* A string token, quotes included. 0 or 1 (malformed). */
static int scan_string(js *j, tok *t)
{
    const char *q = j->p;
    if (q >= j->end || *q != '"')
        return 1;
    for (q++; q < j->end;) {
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            t->s = j->p;
            t->n = (size_t)(q + 1 - j->p);
            j->p = q + 1;
            return 0;
        }
        if (c < 0x20)
            return 1;
        if (c != '\\') {
            q++;
            continue;
        }
        if (++q >= j->end)
            return 1;
        if (*q == 'u') {
            if (j->end - q < 5)
                return 1;
            for (int k = 1; k <= 4; k++)
                if (!isxdigit((unsigned char)q[k]))
                    return 1;
            q += 5;
        } else if (strchr("\"\\/bfnrt", *q) != NULL && *q != '\0') {
            q++;
        } else {
            return 1;
        }
    }
    return 1;
}

/* A number token; *is_int when it has neither fraction nor exponent. */
static int scan_number(js *j, tok *t, int *is_int)
{
    const char *q = j->p;
    *is_int = 1;
    if (q < j->end && *q == '-')
        q++;
    if (q >= j->end || !isdigit((unsigned char)*q))
        return 1;
    if (*q == '0')
        q++;
    else
        while (q < j->end && isdigit((unsigned char)*q))
            q++;
    if (q < j->end && *q == '.') {
        *is_int = 0;
        if (++q >= j->end || !isdigit((unsigned char)*q))
            return 1;
        while (q < j->end && isdigit((unsigned char)*q))
            q++;
    }
    if (q < j->end && (*q == 'e' || *q == 'E')) {
        *is_int = 0;
        q++;
        if (q < j->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= j->end || !isdigit((unsigned char)*q))
            return 1;
        while (q < j->end && isdigit((unsigned char)*q))
            q++;
    }
    t->s = j->p;
    t->n = (size_t)(q - j->p);
    j->p = q;
    return 0;
}

static int literal(js *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return 1;
    j->p += n;
    return 0;
}

static int skip_value(js *j, int depth)
{
    tok t;
    int is_int;
    ws(j);
    if (j->p >= j->end || depth > MAX_DEPTH)
        return 1;
    switch (*j->p) {
    case '"':
        return scan_string(j, &t);
    case 't':
        return literal(j, "true");
    case 'f':
        return literal(j, "false");
    case 'n':
        return literal(j, "null");
    case '[':
    case '{': {
        char close = *j->p == '[' ? ']' : '}';
        int obj = close == '}';
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }
        for (;;) {
            if (obj) {
                ws(j);
                if (scan_string(j, &t) != 0)
                    return 1;
                ws(j);
                if (j->p >= j->end || *j->p++ != ':')
                    return 1;
            }
            if (skip_value(j, depth + 1) != 0)
                return 1;
            ws(j);
            if (j->p >= j->end)
                return 1;
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p++ != close)
                return 1;
            return 0;
        }
    }
    default:
        return scan_number(j, &t, &is_int);
    }
}

/* Copies a string token, replacing bytes that are not UTF-8 with U+FFFD. */
static int put_string(buf_t *out, const tok *t)
{
    const unsigned char *p = (const unsigned char *)t->s;
    size_t i = 0, run = 0;
    while (i < t->n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : p[i] >= 0xC0 ? 2 : 1;
        if (len > 1 && i + len <= t->n && utf8_valid((const char *)p + i, len)) {
            i += len;
            continue;
        }
        if (buf_append(out, t->s + run, i - run) != 0 || buf_puts(out, "\xEF\xBF\xBD") != 0)
            return -1;
        run = ++i;
    }
    return buf_append(out, t->s + run, i - run);
}

/* An integer token that fits in int64. */
static int fits_int64(const tok *t)
{
    const char *d = t->s;
    size_t n = t->n;
    int neg = n > 0 && *d == '-';
    if (neg) {
        d++;
        n--;
    }
    if (n < 19)
        return 1;
    if (n > 19)
        return 0;
    return memcmp(d, neg ? "9223372036854775808" : "9223372036854775807", 19) <= 0;
}

static int any_value(buf_t *out, js *j, int depth);

static int kv_list(buf_t *out, js *j, int depth, uint32_t *dropped)
{
    /* j->p at '{'; appends [{"key":..,"value":..},...] */
    int rc = 0;
    tok key;
    j->p++;
    rc |= buf_putc(out, '[');
    ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return rc | buf_putc(out, ']');
    }
    int first = 1;
    for (;;) {
        ws(j);
        if (scan_string(j, &key) != 0)
            return 1;
        ws(j);
        if (j->p >= j->end || *j->p++ != ':')
            return 1;
        ws(j);
        if (j->p < j->end && *j->p == 'n') {
            if (literal(j, "null") != 0)
                return 1;
            if (dropped != NULL)
                (*dropped)++;
        } else {
            rc |= buf_puts(out, first ? "{\"key\":" : ",{\"key\":");
            rc |= put_string(out, &key);
            rc |= buf_puts(out, ",\"value\":");
            int r = any_value(out, j, depth + 1);
            if (r != 0)
                return r;
            rc |= buf_putc(out, '}');
            first = 0;
        }
        ws(j);
        if (j->p >= j->end)
            return 1;
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p++ != '}')
            return 1;
        break;
    }
    rc |= buf_putc(out, ']');
    return rc ? -1 : 0;
}

static int any_value(buf_t *out, js *j, int depth)
{
    tok t;
    int is_int, rc = 0;
    ws(j);
    if (j->p >= j->end || depth > MAX_DEPTH)
        return 1;
    switch (*j->p) {
    case '"':
        if (scan_string(j, &t) != 0)
            return 1;
        rc |= buf_puts(out, "{\"stringValue\":");
        rc |= put_string(out, &t);
        rc |= buf_putc(out, '}');
        break;
    case 't':
    case 'f': {
        int v = *j->p == 't';
        if (literal(j, v ? "true" : "false") != 0)
            return 1;
        rc |= buf_puts(out, v ? "{\"boolValue\":true}" : "{\"boolValue\":false}");
        break;
    }
    case 'n':
        if (literal(j, "null") != 0)
            return 1;
        rc |= buf_puts(out, "{}");
        break;
    case '[': {
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            rc |= buf_puts(out, "{\"arrayValue\":{}}");
            break;
        }
        rc |= buf_puts(out, "{\"arrayValue\":{\"values\":[");
        for (int first = 1;; first = 0) {
            if (!first)
                rc |= buf_putc(out, ',');
            int r = any_value(out, j, depth + 1);
            if (r != 0)
                return r;
            ws(j);
            if (j->p >= j->end)
                return 1;
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p++ != ']')
                return 1;
            break;
        }
        rc |= buf_puts(out, "]}}");
        break;
    }
    case '{': {
        rc |= buf_puts(out, "{\"kvlistValue\":{\"values\":");
        int r = kv_list(out, j, depth, NULL);
        if (r != 0)
            return r;
        rc |= buf_puts(out, "}}");
        break;
    }
    default:
        if (scan_number(j, &t, &is_int) != 0)
            return 1;
        if (is_int && fits_int64(&t)) {
            rc |= buf_puts(out, "{\"intValue\":\"");
            rc |= buf_append(out, t.s, t.n);
            rc |= buf_puts(out, "\"}");
        } else {
            rc |= buf_puts(out, "{\"doubleValue\":");
            rc |= buf_append(out, t.s, t.n);
            rc |= buf_putc(out, '}');
        }
        break;
    }
    return rc ? -1 : 0;
}

/* The whole text is one value and nothing else. */
static int at_end(js *j)
{
    ws(j);
    return j->p == j->end;
}

static int attributes_js(buf_t *out, js *j, uint32_t *dropped)
{
    ws(j);
    if (j->p >= j->end || *j->p != '{')
        return 1;
    return kv_list(out, j, 0, dropped);
}

int otlp_attributes(buf_t *out, const char *json, uint32_t *dropped)
{
    if (json == NULL)
        return buf_puts(out, "[]");
    size_t mark = out->len;
    js j = { json, json + strlen(json) };
    int rc = attributes_js(out, &j, dropped);
    if (rc == 0 && !at_end(&j))
        rc = 1;
    if (rc != 0) {
        out->len = mark;
        if (out->data != NULL)
            out->data[mark] = '\0';
    }
    return rc;
}

int otlp_any_value(buf_t *out, const char *json)
{
    size_t mark = out->len;
    js j = { json, json + strlen(json) };
    int rc = any_value(out, &j, 0);
    if (rc == 0 && !at_end(&j))
        rc = 1;
    if (rc != 0) {
        out->len = mark;
        if (out->data != NULL)
            out->data[mark] = '\0';
    }
    return rc;
}

/* ---- ids and numbers --------------------------------------------------------- */

static int is_hex_id(const char *s, size_t n)
{
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
        nonzero |= c != '0';
    }
    return s[n] == '\0' && nonzero;
}

/* Decimal digits of v, without printf (this runs several times a span). */
static int put_u64(buf_t *out, uint64_t v)
{
    char d[24];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return buf_append(out, d + i, sizeof d - i);
}

static int put_u64_str(buf_t *out, const char *name, int64_t v)
{
    return buf_puts(out, ",\"") | buf_puts(out, name) | buf_puts(out, "\":\"") |
           put_u64(out, (uint64_t)(v < 0 ? 0 : v)) | buf_putc(out, '"');
}

/* ---- events and links ----------------------------------------------------- */

/* One member of an object: its key and where its value lies. */
typedef struct member {
    tok key;
    js value;
} member;

/* Reads the members of the object at j (at '{') into m[0..max); *n = count. */
static int members(js *j, member *m, size_t max, size_t *n)
{
    *n = 0;
    ws(j);
    if (j->p >= j->end || *j->p != '{')
        return 1;
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        tok key;
        ws(j);
        if (scan_string(j, &key) != 0)
            return 1;
        ws(j);
        if (j->p >= j->end || *j->p++ != ':')
            return 1;
        ws(j);
        const char *start = j->p;
        if (skip_value(j, 1) != 0)
            return 1;
        if (*n < max)
            m[(*n)++] = (member){ key, { start, j->p } };
        ws(j);
        if (j->p >= j->end)
            return 1;
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        return *j->p++ == '}' ? 0 : 1;
    }
}

static const member *find(const member *m, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (m[i].key.n == len + 2 && memcmp(m[i].key.s + 1, name, len) == 0)
            return &m[i];
    return NULL;
}

/* A member that must be a JSON string (else *bad). */
static int put_str_member(buf_t *out, const member *m, const char *field, int *bad)
{
    if (m == NULL)
        return 0;
    js v = m->value;
    tok t;
    if (scan_string(&v, &t) != 0) {
        *bad = 1;
        return 0;
    }
    return buf_printf(out, ",\"%s\":", field) | put_string(out, &t);
}

/* A member holding a hex id of `digits` digits. */
static int put_id_member(buf_t *out, const member *m, const char *field, size_t digits, int *bad)
{
    if (m == NULL)
        return 0;
    js v = m->value;
    tok t;
    if (scan_string(&v, &t) != 0 || t.n != digits + 2) {
        *bad = 1;
        return 0;
    }
    char id[40];
    memcpy(id, t.s + 1, digits);
    id[digits] = '\0';
    if (!is_hex_id(id, digits)) {
        *bad = 1;
        return 0;
    }
    return buf_printf(out, ",\"%s\":\"%s\"", field, id);
}

/* Cuts out back to mark; returns rc. */
static int undo(buf_t *out, size_t mark, int rc)
{
    out->len = mark;
    if (out->data != NULL)
        out->data[mark] = '\0';
    return rc;
}

/* ",\"attributes\":[...]" for the object at j, which must be all of j (left
 * out when empty, as proto3 JSON does), and "droppedAttributesCount" when
 * some could not be sent. 0; 1 when j is not a JSON object, -1 out of
 * memory: out is then as it was. */
static int put_attributes(buf_t *out, js *j)
{
    size_t mark = out->len;
    uint32_t dropped = 0;
    int r = buf_puts(out, ",\"attributes\":") != 0 ? -1 : attributes_js(out, j, &dropped);
    if (r == 0 && !at_end(j))
        r = 1;
    if (r == 0 && out->len == mark + sizeof ",\"attributes\":[]" - 1)
        undo(out, mark, 0);
    if (r == 0 && dropped > 0 &&
        buf_printf(out, ",\"droppedAttributesCount\":%" PRIu32, dropped) != 0)
        r = -1;
    return r != 0 ? undo(out, mark, r) : 0;
}

static int put_attrs_member(buf_t *out, const member *m, int *bad)
{
    if (m == NULL)
        return 0;
    js v = m->value;
    int r = put_attributes(out, &v);
    if (r > 0) {
        *bad = 1;
        return 0;
    }
    return r;
}

/* Writes the events or links array `json` as OTLP; *bad when malformed. */
static int events_or_links(buf_t *out, const char *json, int links, int *bad)
{
    js j = { json, json + strlen(json) };
    ws(&j);
    if (j.p >= j.end || *j.p != '[') {
        *bad = 1;
        return 0;
    }
    j.p++;
    ws(&j);
    if (j.p < j.end && *j.p == ']')
        return 0;
    int rc = buf_puts(out, links ? ",\"links\":[" : ",\"events\":[");
    for (int first = 1;; first = 0) {
        member m[8];
        size_t n;
        if (members(&j, m, 8, &n) != 0) {
            *bad = 1;
            return 0;
        }
        /* Each object starts with a field so that the rest can begin with ','. */
        rc |= buf_puts(out, first ? "{" : ",{");
        size_t open = out->len;
        if (links) {
            rc |= put_id_member(out, find(m, n, "trace_id"), "traceId", 32, bad);
            rc |= put_id_member(out, find(m, n, "span_id"), "spanId", 16, bad);
            rc |= put_str_member(out, find(m, n, "trace_state"), "traceState", bad);
        } else {
            const member *tm = find(m, n, "time_ns");
            if (tm != NULL) {
                js v = tm->value;
                tok t;
                int is_int;
                if (scan_number(&v, &t, &is_int) != 0 || !is_int || *t.s == '-' || !fits_int64(&t)) {
                    *bad = 1;
                } else {
                    rc |= buf_puts(out, ",\"timeUnixNano\":\"");
                    rc |= buf_append(out, t.s, t.n);
                    rc |= buf_putc(out, '"');
                }
            }
            rc |= put_str_member(out, find(m, n, "name"), "name", bad);
        }
        rc |= put_attrs_member(out, find(m, n, "attributes"), bad);
        if (*bad)
            return 0;
        /* drop the leading ',' of the first field */
        if (out->len > open && out->data[open] == ',') {
            memmove(out->data + open, out->data + open + 1, out->len - open - 1);
            out->len--;
            out->data[out->len] = '\0';
        }
        rc |= buf_putc(out, '}');
        ws(&j);
        if (j.p >= j.end) {
            *bad = 1;
            return 0;
        }
        if (*j.p == ',') {
            j.p++;
            continue;
        }
        if (*j.p++ != ']') {
            *bad = 1;
            return 0;
        }
        break;
    }
    rc |= buf_putc(out, ']');
    return rc ? -1 : 0;
}

/* ---- records ----------------------------------------------------------------- */

int otlp_span(buf_t *out, const spool_span *sp, const char **why)
{
    size_t mark = out->len;
    int rc = 0, bad = 0;
    *why = NULL;
    if (!is_hex_id(sp->trace_id, 32)) {
        *why = "invalid trace id";
        return 1;
    }
    if (!is_hex_id(sp->span_id, 16)) {
        *why = "invalid span id";
        return 1;
    }
    if (sp->parent_span_id[0] != '\0' && !is_hex_id(sp->parent_span_id, 16)) {
        *why = "invalid parent span id";
        return 1;
    }
    rc |= buf_puts(out, "{\"traceId\":\"");
    rc |= buf_append(out, sp->trace_id, 32);
    rc |= buf_puts(out, "\",\"spanId\":\"");
    rc |= buf_append(out, sp->span_id, 16);
    rc |= buf_putc(out, '"');
    if (sp->trace_state != NULL && sp->trace_state[0] != '\0') {
        rc |= buf_puts(out, ",\"traceState\":");
        rc |= attrs_json_cstr(out, sp->trace_state);
    }
    if (sp->parent_span_id[0] != '\0') {
        rc |= buf_puts(out, ",\"parentSpanId\":\"");
        rc |= buf_append(out, sp->parent_span_id, 16);
        rc |= buf_putc(out, '"');
    }
    rc |= buf_puts(out, ",\"flags\":");
    rc |= put_u64(out, sp->flags & 0xFFu);
    rc |= buf_puts(out, ",\"name\":");
    rc |= attrs_json_cstr(out, sp->name ? sp->name : "");
    if (sp->kind < 0 || sp->kind > 5) {
        *why = "invalid span kind";
        return undo(out, mark, 1);
    }
    rc |= buf_puts(out, ",\"kind\":");
    rc |= buf_putc(out, (char)('0' + sp->kind));
    rc |= put_u64_str(out, "startTimeUnixNano", sp->start_ns);
    rc |= put_u64_str(out, "endTimeUnixNano", sp->end_ns);
    if (sp->attributes_json != NULL) {
        js j = { sp->attributes_json, sp->attributes_json + strlen(sp->attributes_json) };
        int r = rc ? -1 : put_attributes(out, &j);
        if (r > 0)
            *why = "attributes are not a JSON object";
        if (r != 0)
            return undo(out, mark, r);
    }
    if (sp->events_json != NULL) {
        rc |= events_or_links(out, sp->events_json, 0, &bad);
        if (bad) {
            *why = "events are not readable";
            return undo(out, mark, 1);
        }
    }
    if (sp->links_json != NULL) {
        rc |= events_or_links(out, sp->links_json, 1, &bad);
        if (bad) {
            *why = "links are not readable";
            return undo(out, mark, 1);
        }
    }
    if (sp->status_code < 0 || sp->status_code > 2) {
        *why = "invalid status code";
        return undo(out, mark, 1);
    }
    int has_msg = sp->status_message != NULL && sp->status_message[0] != '\0';
    if (sp->status_code != 0 || has_msg) {
        rc |= buf_puts(out, ",\"status\":{");
        if (has_msg) {
            rc |= buf_puts(out, "\"message\":");
            rc |= attrs_json_cstr(out, sp->status_message);
            if (sp->status_code != 0)
                rc |= buf_putc(out, ',');
        }
        if (sp->status_code != 0)
            rc |= buf_printf(out, "\"code\":%d", sp->status_code);
        rc |= buf_putc(out, '}');
    }
    rc |= buf_putc(out, '}');
    return rc ? undo(out, mark, -1) : 0;
}

int otlp_log(buf_t *out, const spool_log *lg, const char **why)
{
    size_t mark = out->len;
    int rc = 0;
    *why = NULL;
    if (lg->trace_id[0] != '\0' && !is_hex_id(lg->trace_id, 32)) {
        *why = "invalid trace id";
        return 1;
    }
    if (lg->span_id[0] != '\0' && !is_hex_id(lg->span_id, 16)) {
        *why = "invalid span id";
        return 1;
    }
    if (lg->severity_number < 0 || lg->severity_number > 24) {
        *why = "invalid severity number";
        return 1;
    }
    rc |= buf_printf(out, "{\"observedTimeUnixNano\":\"%" PRIu64 "\"",
                     (uint64_t)(lg->observed_ns > 0 ? lg->observed_ns : lg->time_ns));
    if (lg->time_ns > 0)
        rc |= put_u64_str(out, "timeUnixNano", lg->time_ns);
    if (lg->severity_number > 0)
        rc |= buf_printf(out, ",\"severityNumber\":%d", lg->severity_number);
    if (lg->severity_text != NULL && lg->severity_text[0] != '\0') {
        rc |= buf_puts(out, ",\"severityText\":");
        rc |= attrs_json_cstr(out, lg->severity_text);
    }
    if (lg->body != NULL) {
        rc |= buf_puts(out, ",\"body\":{\"stringValue\":");
        rc |= attrs_json_cstr(out, lg->body);
        rc |= buf_putc(out, '}');
    }
    if (lg->attributes_json != NULL) {
        js j = { lg->attributes_json, lg->attributes_json + strlen(lg->attributes_json) };
        int r = rc ? -1 : put_attributes(out, &j);
        if (r > 0)
            *why = "attributes are not a JSON object";
        if (r != 0)
            return undo(out, mark, r);
    }
    if (lg->flags != 0)
        rc |= buf_printf(out, ",\"flags\":%u", lg->flags & 0xFFu);
    if (lg->trace_id[0] != '\0')
        rc |= buf_printf(out, ",\"traceId\":\"%s\"", lg->trace_id);
    if (lg->span_id[0] != '\0')
        rc |= buf_printf(out, ",\"spanId\":\"%s\"", lg->span_id);
    rc |= buf_putc(out, '}');
    return rc ? undo(out, mark, -1) : 0;
}

/* ---- the target -------------------------------------------------------------- */

static int encode_span(void *ctx, export_batch *b, const void *record, const spool_origin *o)
{
    const spool_span *sp = record;
    const char *why;
    int64_t g = export_batch_group(b, o);
    if (g < 0)
        return -1;
    size_t start = b->arena.len;
    int rc = otlp_span(&b->arena, sp, &why);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return export_batch_add_bad(b, o->id, why);
    return export_batch_add(b, o->id, start, (uint32_t)g, sp->span_id);
}

static int encode_log(void *ctx, export_batch *b, const void *record, const spool_origin *o)
{
    const spool_log *lg = record;
    const char *why;
    int64_t g = export_batch_group(b, o);
    if (g < 0)
        return -1;
    size_t start = b->arena.len;
    int rc = otlp_log(&b->arena, lg, &why);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return export_batch_add_bad(b, o->id, why);
    return export_batch_add(b, o->id, start, (uint32_t)g, NULL);
}

/* {"resourceSpans":[{"resource":{..},"scopeSpans":[{"scope":{..},"spans":[..]}]}]},
 * one ResourceX per resource, one ScopeX per scope, in the order the records
 * first appear. */
static int build(const export_batch *b, size_t lo, size_t hi, buf_t *body, otlp_signal sig)
{
    static const char *const names[2][3] = {
        { "resourceSpans", "scopeSpans", "spans" },
        { "resourceLogs", "scopeLogs", "logRecords" },
    };
    size_t ng = b->n_groups, n = hi - lo;
    size_t *head = malloc((ng ? ng : 1) * sizeof *head);
    size_t *tail = malloc((ng ? ng : 1) * sizeof *tail);
    size_t *next = malloc((n ? n : 1) * sizeof *next);
    uint32_t *order = malloc((ng ? ng : 1) * sizeof *order);
    int rc = head && tail && next && order ? 0 : -1;
    size_t n_order = 0;
    const size_t none = (size_t)-1;
    for (size_t g = 0; rc == 0 && g < ng; g++)
        head[g] = tail[g] = none;
    for (size_t i = lo; rc == 0 && i < hi; i++) {
        const export_item *it = &b->items[i];
        next[i - lo] = none;
        if (!export_item_live(b, i))
            continue;
        if (head[it->group] == none) {
            head[it->group] = i - lo;
            order[n_order++] = it->group;
        } else {
            next[tail[it->group]] = i - lo;
        }
        tail[it->group] = i - lo;
    }
    if (rc == 0)
        rc |= buf_printf(body, "{\"%s\":[", names[sig][0]);
    int first_res = 1;
    for (size_t k = 0; rc == 0 && k < n_order; k++) {
        const export_group *g = &b->groups[order[k]];
        /* a resource already written with an earlier scope */
        int seen = 0;
        for (size_t q = 0; q < k && !seen; q++)
            seen = b->groups[order[q]].resource_id == g->resource_id;
        if (seen)
            continue;
        rc |= buf_puts(body, first_res ? "{\"resource\":{\"attributes\":" : ",{\"resource\":{\"attributes\":");
        first_res = 0;
        uint32_t dropped = 0;
        int r = otlp_attributes(body, g->resource_json, &dropped);
        if (r > 0)
            r = buf_puts(body, "[]");
        rc |= r;
        if (dropped > 0)
            rc |= buf_printf(body, ",\"droppedAttributesCount\":%" PRIu32, dropped);
        rc |= buf_printf(body, "},\"%s\":[", names[sig][1]);
        int first_scope = 1;
        for (size_t q = k; rc == 0 && q < n_order; q++) {
            const export_group *s = &b->groups[order[q]];
            if (s->resource_id != g->resource_id)
                continue;
            rc |= buf_puts(body, first_scope ? "{\"scope\":{" : ",{\"scope\":{");
            first_scope = 0;
            int sep = 0;
            if (s->scope_name != NULL && s->scope_name[0] != '\0') {
                rc |= buf_puts(body, "\"name\":");
                rc |= attrs_json_cstr(body, s->scope_name);
                sep = 1;
            }
            if (s->scope_version != NULL && s->scope_version[0] != '\0') {
                rc |= buf_puts(body, sep ? ",\"version\":" : "\"version\":");
                rc |= attrs_json_cstr(body, s->scope_version);
            }
            rc |= buf_printf(body, "},\"%s\":[", names[sig][2]);
            for (size_t i = head[order[q]], c = 0; rc == 0 && i != none; i = next[i], c++) {
                const export_item *it = &b->items[lo + i];
                if (c > 0)
                    rc |= buf_putc(body, ',');
                rc |= buf_append(body, b->arena.data + it->off, it->len);
            }
            rc |= buf_puts(body, "]}");
        }
        rc |= buf_puts(body, "]}");
    }
    if (rc == 0)
        rc |= buf_puts(body, "]}");
    free(head);
    free(tail);
    free(next);
    free(order);
    return rc ? -1 : 0;
}

static int build_traces(void *ctx, const export_batch *b, size_t lo, size_t hi, buf_t *body)
{
    return build(b, lo, hi, body, OTLP_TRACES);
}

static int build_logs(void *ctx, const export_batch *b, size_t lo, size_t hi, buf_t *body)
{
    return build(b, lo, hi, body, OTLP_LOGS);
}

/* An int64 field that proto3 JSON may give as a number or a decimal string. */
static int64_t json_int64(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        long long x = strtoll(s, &end, 10);
        return end != s && *end == '\0' ? (int64_t)x : 0;
    }
    return 0;
}

static void copy_body_text(const httpc_response *r, char *dst, size_t size)
{
    size_t n = r->body.len < size - 1 ? r->body.len : size - 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)r->body.data[i];
        dst[k++] = c < 0x20 ? ' ' : (char)c;
    }
    dst[k] = '\0';
}

void otlp_classify(otlp_signal sig, const httpc_response *r, size_t n, export_answer *a)
{
    long st = r->status;
    a->rejected = 0;
    a->wait_ms = -1;
    a->message[0] = '\0';
    json_t *doc = NULL;
    if (r->body.len > 0 && strncasecmp(r->content_type, "application/json", 16) == 0)
        doc = json_loadb(r->body.data, r->body.len, 0, NULL);
    if (st >= 200 && st < 300) {
        a->verdict = EXPORT_OK;
        a->wait_ms = 0;
        json_t *ps = doc ? json_object_get(doc, "partialSuccess") : NULL;
        if (json_is_object(ps)) {
            a->rejected = json_int64(json_object_get(
                ps, sig == OTLP_TRACES ? "rejectedSpans" : "rejectedLogRecords"));
            if (a->rejected < 0)
                a->rejected = 0;
            const char *m = json_string_value(json_object_get(ps, "errorMessage"));
            if (m != NULL)
                snprintf(a->message, sizeof a->message, "%s", m);
        }
        json_decref(doc);
        return;
    }
    /* Failures carry a google.rpc.Status: its message says why. */
    const char *m = doc ? json_string_value(json_object_get(doc, "message")) : NULL;
    if (m != NULL)
        snprintf(a->message, sizeof a->message, "%s", m);
    else
        copy_body_text(r, a->message, sizeof a->message);
    json_decref(doc);
    if (st == 400 || st == 413)
        a->verdict = EXPORT_REJECT;
    else if (st == 401 || st == 403)
        a->verdict = EXPORT_AUTH;
    else if (st == 408 || st == 429 || (st >= 500 && st < 600)) {
        /* OTLP names 429, 502, 503 and 504; other 5xx are retried as well:
         * a server's trouble is no reason to drop the data. */
        a->verdict = EXPORT_RETRY;
        a->wait_ms = r->retry_after_ms;
    } else
        a->verdict = EXPORT_CONFIG;
    (void)n;
}

static void classify_traces(void *ctx, const httpc_response *r, size_t n, export_answer *a)
{
    otlp_classify(OTLP_TRACES, r, n, a);
}

static void classify_logs(void *ctx, const httpc_response *r, size_t n, export_answer *a)
{
    otlp_classify(OTLP_LOGS, r, n, a);
}

void otlp_target_init(export_target *t, otlp_signal sig)
{
    t->stream = sig == OTLP_TRACES ? SPOOL_STREAM_SPAN : SPOOL_STREAM_LOG;
    t->encode = sig == OTLP_TRACES ? encode_span : encode_log;
    t->build = sig == OTLP_TRACES ? build_traces : build_logs;
    t->classify = sig == OTLP_TRACES ? classify_traces : classify_logs;
    t->per_request = 0;
}
